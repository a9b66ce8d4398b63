"""FRCRN's convolutional STFT and its inverse, exactly as the reference computes them.

The reference STFT is a strided conv1d with a fixed kernel (no centring, no padding) and the inverse
is a transposed conv1d with the pseudo-inverse kernel followed by division by the overlap-added
squared window (+1e-8). `torch.stft` agrees only to ~4e-5, so the kernels are kept as buffers and
loaded from the checkpoint: parity with official outputs depends on these exact numbers.
"""

from __future__ import annotations

import functools

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn


def sqrt_hann(win_len: int) -> np.ndarray:
    """Square root of the periodic Hann window (scipy's `get_window('hann', n) ** 0.5`)."""
    n = np.arange(win_len)
    return np.sqrt(0.5 - 0.5 * np.cos(2.0 * np.pi * n / win_len))


def stft_kernels(win_len: int, fft_len: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(analysis kernel, synthesis kernel, window) built the reference's way, in float64 then float32.

    Fresh tensors on every call (modules own their buffers); the pseudo-inverse behind them is
    computed once per process, as it costs about a second of CPU."""
    return tuple(t.clone() for t in _stft_kernels(win_len, fft_len))


@functools.lru_cache(maxsize=4)
def _stft_kernels(win_len: int, fft_len: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    window = sqrt_hann(win_len)
    basis = np.fft.rfft(np.eye(fft_len))[:win_len]
    forward = np.concatenate([basis.real, basis.imag], 1).T
    inverse = np.linalg.pinv(forward).T
    def as_kernel(k: np.ndarray) -> torch.Tensor:
        return torch.from_numpy((k * window)[:, None, :].astype(np.float32))
    return as_kernel(forward), as_kernel(inverse), torch.from_numpy(window[None, :, None].astype(np.float32))


class ConvSTFTPair(nn.Module):
    """Analysis and synthesis transforms sharing one set of fixed buffers.

    Buffers (persistent, so every checkpoint format carries the exact official numbers):
    `analysis` [fft+2, 1, win], `synthesis` [fft+2, 1, win], `window` [1, win, 1].
    """

    def __init__(self, win_len: int = 640, hop: int = 320, fft_len: int = 640) -> None:
        super().__init__()
        self.win_len, self.hop, self.fft_len = win_len, hop, fft_len
        if torch.get_default_device().type == "meta":
            # shapes only, no pseudo-inverse: `frcrn.model.checkpoint` builds on the meta device and
            # then loads every buffer from the checkpoint
            kernel = (fft_len + 2, 1, win_len)
            analysis, synthesis, window = torch.empty(kernel), torch.empty(kernel), torch.empty(1, win_len, 1)
        else:
            analysis, synthesis, window = stft_kernels(win_len, fft_len)
        self.register_buffer("analysis", analysis)
        self.register_buffer("synthesis", synthesis)
        self.register_buffer("window", window)
        self._norm_cache: dict[tuple[int, torch.device, torch.dtype], torch.Tensor] = {}

    def frames(self, num_samples: int) -> int:
        return (num_samples - self.win_len) // self.hop + 1

    def output_samples(self, num_frames: int) -> int:
        return (num_frames - 1) * self.hop + self.win_len

    def forward(self, wav: torch.Tensor) -> torch.Tensor:
        """[B, L] waveform -> [B, fft+2, T] spectrum (real bins then imaginary bins)."""
        return F.conv1d(wav.unsqueeze(1), self.analysis, stride=self.hop)

    def inverse(self, spec: torch.Tensor) -> torch.Tensor:
        """[B, fft+2, T] spectrum -> [B, (T-1)*hop + win] waveform."""
        wav = F.conv_transpose1d(spec, self.synthesis.to(spec.dtype), stride=self.hop)
        return (wav / self._window_norm(spec.shape[-1], wav)).squeeze(1)

    def _window_norm(self, num_frames: int, like: torch.Tensor) -> torch.Tensor:
        """Overlap-added squared window + 1e-8, cached per frame count.

        Computed by folding the squared window; every output sample sums at most two non-zero
        terms, so this equals the reference's conv_transpose1d with an identity kernel bit for bit.
        """
        key = (num_frames, like.device, like.dtype)
        norm = self._norm_cache.get(key)
        if norm is None:
            if len(self._norm_cache) > 64:
                self._norm_cache.clear()
            squared = (self.window.to(like.device, torch.float32) ** 2).reshape(1, self.win_len, 1)
            columns = squared.expand(1, self.win_len, num_frames)
            length = self.output_samples(num_frames)
            norm = F.fold(columns, (1, length), (1, self.win_len), stride=(1, self.hop))
            norm = (norm.reshape(1, 1, length) + 1e-8).to(like.dtype)
            self._norm_cache[key] = norm
        return norm

    def _apply(self, fn, recurse: bool = True):  # device/dtype moves invalidate the cache
        self._norm_cache = {}
        return super()._apply(fn, recurse)
