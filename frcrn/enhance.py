"""Enhance waveforms of any length, alone or many at once, with memory flat in file length.

How a file goes through the model:
1. loudness: scaled by the reference pipeline's gain (-25 dBFS active level), which is undone on
   output by default (`restore_gain`), so outputs keep the input's loudness. Near-silent input
   (below -90 dBFS RMS) is returned unchanged.
2. padding: 2 frames (640 samples) of zeros before and at least 2 frames after. The model's first
   and last 320 output samples are divided by one window's power (sample 0 is 0/1e-8), so real
   samples must not sit there.
3. windows: a padded file no longer than `window_seconds` is ONE window, its length rounded up to
   `length_quantum_seconds`, so the whole file is seen at once, like the reference. Longer files
   are cut into windows of exactly `window_seconds` overlapping by `overlap_seconds`; the last
   window is aligned to the file's end. Each window's outer `edge_margin_seconds` of the overlap is
   discarded (its edge lacks context: the time FSMN remembers 20 frames, decoders look 7 ahead) and
   the rest of the overlap is cross-faded with complementary raised-cosine weights.
4. batching: windows of equal length, from any files, share model batches of `batch_size`. Every
   window's length depends only on its own file, so batch composition never changes a result.

Defaults: 10 s windows keep activations at ~0.5 GB per batch item (fp32) however long the file;
1 s overlap with 0.25 s margins leaves a 0.5 s cross-fade, where both windows have full context.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from .audio.loudness import normalisation_gain
from .enhance_config import EnhanceConfig, InvalidEnhanceConfig  # noqa: F401 - re-exported (torch-free home)
from .model.checkpoint import CheckpointInfo, load_checkpoint
from .model.network import FRCRN

# keys: enhance_config.PRECISION_NAMES
PRECISIONS = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(f"device {name!r} requested but no CUDA GPU is available; use device 'cpu' or 'auto'")
    return device


@dataclass
class _Window:
    item: int
    start: int
    length: int
    weight: np.ndarray | None  # None: the whole window counts fully


@dataclass
class _Plan:
    """Where one file's windows go and how they are weighted."""
    gain: float | None
    left_pad: int
    output: np.ndarray | None = None
    weight_sum: np.ndarray | None = None
    windows: list[_Window] = field(default_factory=list)


def _fade_in(length: int) -> np.ndarray:
    j = np.arange(length, dtype=np.float64) + 0.5
    return (0.5 - 0.5 * np.cos(np.pi * j / length)).astype(np.float32)


class Enhancer:
    """Holds one FRCRN replica on one device and enhances 16 kHz mono float32 waveforms."""

    sample_rate = 16000

    def __init__(self, model: FRCRN, config: EnhanceConfig = EnhanceConfig(),
                 checkpoint: CheckpointInfo | None = None):
        self.config = config
        self.checkpoint = checkpoint
        if config.num_threads:
            torch.set_num_threads(config.num_threads)
        self.device = resolve_device(config.device)
        self.model = model.eval().to(self.device)
        self._autocast_dtype = PRECISIONS[config.precision] if config.precision != "fp32" else None
        stft = model.stft
        self._grid = stft.hop  # window lengths are whole frames: output length == input length
        self._edge = 2 * stft.hop
        sr = self.sample_rate
        self._window = self._on_grid(config.window_seconds * sr)
        self._overlap = self._on_grid(config.overlap_seconds * sr)
        self._margin = round(config.edge_margin_seconds * sr)
        self._quantum = self._on_grid(config.length_quantum_seconds * sr)
        self._tapers: dict[tuple[bool, bool], np.ndarray] = {}
        self._batch_size = config.batch_size or None  # None: auto, resolved on first use

    @property
    def batch_size(self) -> int:
        """Windows per model call (config.batch_size, or the auto size once measured)."""
        if self._batch_size is None:
            self._batch_size = self._auto_batch_size()
        return self._batch_size

    def _auto_batch_size(self) -> int:
        """1 on CPU (bigger batches are slower there). On CUDA: peak memory of one full window
        (probe run) against the free memory, so replicas sharing a GPU (fractional num_gpus)
        size themselves to what is left."""
        if self.device.type != "cuda":
            return 1
        torch.cuda.synchronize(self.device)
        torch.cuda.reset_peak_memory_stats(self.device)
        base = torch.cuda.memory_allocated(self.device)
        self._run(np.zeros((1, self._window), dtype=np.float32))
        per_window = max(1, torch.cuda.max_memory_allocated(self.device) - base)
        free, _total = torch.cuda.mem_get_info(self.device)
        fits = int(self.config.auto_memory_fraction * (free + torch.cuda.memory_reserved(self.device) - base)
                   // per_window)
        return max(1, min(self.config.max_auto_batch_size, fits))

    @classmethod
    def from_checkpoint(cls, source: str | None = None, config: EnhanceConfig = EnhanceConfig(),
                        storage_options: Mapping[str, Any] | None = None) -> Enhancer:
        """Load `source` (path or fsspec URL; None = the project's shipped default)."""
        model, info = load_checkpoint(source, storage_options=storage_options)
        return cls(model, config, info)

    @property
    def model_id(self) -> str:
        return self.checkpoint.model_id if self.checkpoint else "frcrn"

    @property
    def checkpoint_sha256(self) -> str:
        return self.checkpoint.sha256 if self.checkpoint else ""

    def _on_grid(self, samples: float) -> int:
        return max(1, math.ceil(round(samples) / self._grid)) * self._grid

    # -- planning ---------------------------------------------------------------------------
    def _plan(self, item: int, samples: np.ndarray) -> _Plan:
        gain = normalisation_gain(samples)
        plan = _Plan(gain=gain, left_pad=self._edge)
        if gain is None:
            return plan
        n = samples.shape[0]
        needed = n + 2 * self._edge
        if needed <= self._window:
            total = min(self._window, -(-needed // self._quantum) * self._quantum)
            starts = [0]
            length = total
        else:
            total = -(-needed // self._grid) * self._grid
            length = self._window
            hop = self._window - self._overlap
            starts = list(range(0, total - self._window, hop)) + [total - self._window]
        plan.output = np.zeros(total, dtype=np.float32)  # the padded input is never built whole
        if len(starts) > 1:
            plan.weight_sum = np.zeros(total, dtype=np.float32)
        for k, start in enumerate(starts):
            weight = None if len(starts) == 1 else self._taper(left=k > 0, right=k < len(starts) - 1)
            plan.windows.append(_Window(item, start, length, weight))
        return plan

    @staticmethod
    def _window_input(samples: np.ndarray, plan: _Plan, window: _Window) -> np.ndarray:
        """The window's slice of the gain-normalised, zero-padded file, cut straight from the
        input: a whole padded copy would cost another 230 MB per hour of audio."""
        x = np.zeros(window.length, dtype=np.float32)
        lo = window.start - plan.left_pad
        a, b = max(lo, 0), min(lo + window.length, samples.shape[0])
        if b > a:
            np.multiply(samples[a:b], np.float32(plan.gain), out=x[a - lo:b - lo])
        return x

    def _taper(self, left: bool, right: bool) -> np.ndarray:
        """Window weight: zero over the edge margins that face a neighbour, raised-cosine ramps over
        the rest of the overlap, one elsewhere. Outputs are divided by the summed weights, so a last
        window aligned to the file end (overlapping its neighbour by more) still blends correctly;
        with the regular hop the ramps are complementary and the division changes nothing."""
        key = (left, right)
        cached = self._tapers.get(key)
        if cached is None:
            cached = np.ones(self._window, dtype=np.float32)
            fade = _fade_in(self._overlap - 2 * self._margin)
            if left:
                cached[:self._margin] = 0.0
                cached[self._margin:self._margin + fade.size] = fade
            if right:
                cached[self._window - self._margin:] = 0.0
                cached[self._window - self._margin - fade.size:self._window - self._margin] *= fade[::-1]
            self._tapers[key] = cached
        return cached

    def _batches(self, plans: Sequence[_Plan]) -> Iterator[list[_Window]]:
        by_length: dict[int, list[_Window]] = {}
        for plan in plans:
            for window in plan.windows:
                group = by_length.setdefault(window.length, [])
                group.append(window)
                if len(group) == self.batch_size:
                    yield group
                    by_length[window.length] = []
        for group in by_length.values():
            if group:
                yield group

    # -- running ----------------------------------------------------------------------------
    def _run(self, batch: np.ndarray) -> np.ndarray:
        x = torch.from_numpy(batch)
        if self.device.type == "cuda":
            x = x.pin_memory().to(self.device, non_blocking=True)
        with torch.inference_mode():
            if self._autocast_dtype is not None:
                with torch.autocast(self.device.type, dtype=self._autocast_dtype):
                    wav = self.model(x).wav
            else:
                wav = self.model(x).wav
        return wav.float().cpu().numpy()

    def enhance_many(self, waveforms: Sequence[np.ndarray]) -> list[np.ndarray]:
        """Enhance several 16 kHz mono waveforms; each output has exactly its input's length."""
        arrays = [self._check(i, w) for i, w in enumerate(waveforms)]
        plans = [self._plan(i, w) for i, w in enumerate(arrays)]
        for batch in self._batches(plans):
            inputs = np.stack([self._window_input(arrays[w.item], plans[w.item], w) for w in batch])
            for window, out in zip(batch, self._run(inputs)):
                plan, span = plans[window.item], slice(window.start, window.start + window.length)
                if window.weight is None:
                    plan.output[span] += out
                else:
                    plan.output[span] += out * window.weight
                    plan.weight_sum[span] += window.weight
        results = []
        for samples, plan in zip(arrays, plans):
            if plan.gain is None:
                results.append(samples.copy())
                continue
            span = slice(plan.left_pad, plan.left_pad + samples.shape[0])
            out = plan.output[span]  # in place from here: a 1 h file's buffers are 230 MB each
            if plan.weight_sum is not None:
                weights = plan.weight_sum[span]
                np.divide(out, weights, out=out, where=weights > 0)  # where 0, out is 0 already
            self._mix_original(out, samples, plan.gain)
            if self.config.restore_gain:
                out /= np.float32(plan.gain)
            results.append(out)
            plan.output = plan.weight_sum = None
        return results

    def enhance(self, waveform: np.ndarray) -> np.ndarray:
        return self.enhance_many([waveform])[0]

    def _mix_original(self, out: np.ndarray, samples: np.ndarray, gain: float) -> None:
        """The strength settings (``atten_lim_db``, ``dry``), in place, at the model's working
        level: ``out = (1 - share) * out + share * gain * samples``. FRCRN's output is
        sample-aligned with its input, so the mix adds no comb filtering; in a noise-only stretch
        (mask near 0) the noise is lowered by exactly ``atten_lim_db``."""
        share = self.config.original_share
        if share <= 0.0:
            return
        out *= np.float32(1.0 - share)
        out += samples * np.float32(share * gain)

    @staticmethod
    def _check(index: int, waveform: np.ndarray) -> np.ndarray:
        samples = np.asarray(waveform, dtype=np.float32)
        if samples.ndim != 1:
            raise ValueError(f"waveform {index}: expected a 1-D mono array, got shape {samples.shape}")
        if samples.size == 0:
            raise ValueError(f"waveform {index}: empty")
        if not np.isfinite(samples).all():
            raise ValueError(f"waveform {index}: contains NaN or Inf samples")
        return samples
