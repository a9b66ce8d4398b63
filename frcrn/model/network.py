"""FRCRN (Zhao et al., ICASSP 2022) as published in ModelScope's `speech_frcrn_ans_cirm_16k`.

STFT -> UNet 1 -> mask 1 = tanh(u1); UNet 2 on the PRE-tanh u1 -> mask 2 = tanh(u2) + mask 1;
enhanced spectrum = spectrum x mask 2 (complex product) -> inverse STFT. Written for the stacked
real/imaginary channel layout of `frcrn.model.layers`; `frcrn.model.checkpoint` maps official
weights onto it.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import nn

from .config import ModelConfig
from .layers import ComplexConv, ComplexFsmn, ComplexSE
from .stft import ConvSTFTPair

# The official encoder (frequency kernel, time kernel); strides are (2, 1), paddings (0, 1).
# The decoders' kernels follow from it (`unet_kernels`).
ENCODER_KERNELS = ((5, 2), (5, 2), (5, 2), (5, 2), (5, 2), (5, 2), (2, 2))


def unet_kernels(config: ModelConfig) -> tuple[tuple[tuple[int, int], ...], tuple[tuple[int, int], ...]]:
    """(encoder, decoder) kernels for ``config.depth``: the first depth/2 levels of the official
    encoder, and decoders whose frequency kernels give each skip connection its encoder's size back.

    Why derive the decoders: a transposed stride-2 convolution maps n bins to 2(n - 1) + k, so the
    kernel that restores an encoder's input size is fixed by the sizes; at depth 14 this yields the
    official decoder kernels exactly (321 -> 159 -> 78 -> 37 -> 17 -> 7 -> 2 -> 1 and back).
    """
    levels = config.depth // 2
    encoders = ENCODER_KERNELS[:levels]
    sizes = [config.freq_bins]
    for kernel, _ in encoders:
        sizes.append((sizes[-1] - kernel) // 2 + 1)
    decoders = tuple((sizes[levels - 1 - i] - 2 * (sizes[levels - i] - 1), 2) for i in range(levels))
    return encoders, decoders


class UNet(nn.Module):
    """Complex UNet with FSMN blocks along frequency, a time FSMN in the middle and SE'd skips.

    Module names follow the reference's canonical names (encoders, fsmn_enc, se_layers_enc, fsmn,
    decoders, fsmn_dec, se_layers_dec, linear). Layers the reference builds but never runs
    (fsmn_enc0, se_layer_enc6, fsmn_dec6, se_layer_dec5) are not built.
    """

    def __init__(self, config: ModelConfig):
        super().__init__()
        w, h, k, r = config.width, config.fsmn_hidden, config.fsmn_order, config.se_reduction
        encoder_kernels, decoder_kernels = unet_kernels(config)
        n = len(encoder_kernels)
        self.num_layers = n
        self.encoders = nn.ModuleList(
            ComplexConv(1 if i == 0 else w, w, encoder_kernels[i], (2, 1), (0, 1)) for i in range(n))
        self.fsmn_enc = nn.ModuleDict({str(i): ComplexFsmn(w, h, k, axis=2, num_layers=1) for i in range(1, n)})
        self.se_layers_enc = nn.ModuleList(ComplexSE(w, r) for _ in range(n - 1))
        self.fsmn = ComplexFsmn(w, h, k, axis=3, num_layers=2)
        self.decoders = nn.ModuleList(
            ComplexConv(w if i == 0 else 2 * w, w if i < n - 1 else 1, decoder_kernels[i], (2, 1), (0, 1),
                        transposed=True, input_groups=1 if i == 0 else 2)
            for i in range(n))
        self.fsmn_dec = nn.ModuleList(ComplexFsmn(w, h, k, axis=2, num_layers=1) for _ in range(n - 1))
        self.se_layers_dec = nn.ModuleList(ComplexSE(w, r) for _ in range(n - 2))
        self.linear = ComplexConv(1, 1, (1, 1), norm_act=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n = self.num_layers
        skips = []
        for i, encoder in enumerate(self.encoders):
            if i > 0:
                x = self.fsmn_enc[str(i)](x)
            x = encoder(x)
            if i < n - 1:
                skips.append(self.se_layers_enc[i](x))
        x = self.fsmn(x)
        for i, decoder in enumerate(self.decoders):
            x = decoder(x)
            if i == n - 1:
                break
            x = self.fsmn_dec[i](x)
            if i < n - 2:
                x = self.se_layers_dec[i](x)
            x = torch.cat([x, skips[n - 2 - i]], 1)
        return self.linear(x)


class FRCRNOutput(NamedTuple):
    wav: torch.Tensor
    """[B, (T-1)*hop + win] enhanced waveform (the reference's wav_l2)."""
    mask: torch.Tensor
    """[B, 2F, T] final complex mask, real bins then imaginary bins (the reference's mask_l2)."""
    mask_l1: torch.Tensor
    """[B, 2F, T] first-stage mask (the reference's mask_l1)."""
    spec: torch.Tensor
    """[B, 2F, T] enhanced spectrum (the reference's spec_l2)."""


class FRCRN(nn.Module):
    def __init__(self, config: ModelConfig | None = None):
        super().__init__()
        self.config = config or ModelConfig()
        self.channels_last = True
        """Activations in the channels-last layout, in inference and training (measured faster on CPU:
        benchmarks/model_throughput.py, benchmarks/training_step.py); False = the plain NCHW layout."""
        c = self.config
        self.stft = ConvSTFTPair(c.win_len, c.hop, c.fft_len)
        self.unet1 = UNet(self.config)
        self.unet2 = UNet(self.config)

    def forward(self, wav: torch.Tensor) -> FRCRNOutput:
        """[B, L] waveform (L >= win_len) -> enhanced waveform and masks; see `FRCRNOutput`."""
        spec = self.stft(wav)
        b, _, t = spec.shape
        x = spec.view(b, 2, self.config.freq_bins, t)
        # channels-last activations: oneDNN's native convolution layout (forward and backward), and in
        # inference the FSMN's matrix-product layout; every layer keeps it, outputs are the same
        # numbers up to float summation order.
        u1 = self.unet1(x.contiguous(memory_format=torch.channels_last) if self.channels_last else x)
        mask1 = torch.tanh(u1)
        mask2 = (torch.tanh(self.unet2(u1)) + mask1).contiguous()
        mask1 = mask1.contiguous()
        s_r, s_i, m_r, m_i = x[:, 0], x[:, 1], mask2[:, 0], mask2[:, 1]
        est = torch.cat([s_r * m_r - s_i * m_i, s_r * m_i + s_i * m_r], 1)  # [B, 2F, T]
        return FRCRNOutput(self.stft.inverse(est), mask2.reshape(b, -1, t), mask1.reshape(b, -1, t), est)

    def output_samples(self, num_samples: int) -> int:
        """Length of the model's output for an input of `num_samples` (it drops a partial last frame)."""
        return self.stft.output_samples(self.stft.frames(num_samples))


def compile_for_inference(model: FRCRN, **options) -> nn.Module:
    """`torch.compile` an eval-mode model (opt-in; see benchmarks/README.md for measured effect).

    Inductor on CPU needs a C++ compiler. Shapes are fixed per window length, so each distinct
    (batch, length) compiles once; under compilation the FSMN runs unchunked so inductor can fuse
    its memory taps and the real/imaginary recombination. Same numbers as eager within float32
    reordering (tests/model/test_fast_paths.py).
    """
    model.eval()
    options.setdefault("dynamic", False)
    return torch.compile(model, **options)
