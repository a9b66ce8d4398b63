"""DNSMOS P.835: non-intrusive SIG (speech), BAK (background) and OVRL (overall) quality, 1-5.

Method (Reddy et al., "DNSMOS P.835", ICASSP 2022), exactly as Microsoft's reference script
``DNSMOS/dnsmos_local.py`` (DNS-Challenge @ 591184a9) computes it, so scores are comparable with
published numbers:

1. 16 kHz mono audio as float32 (callers resample first; :meth:`Dnsmos.score` does not).
2. A clip shorter than 9.01 s (144,160 samples) is repeated by *doubling* it
   (``x = concat(x, x)``) until it is at least that long.
3. Windows of 144,160 samples start every 1 s (16,000 samples); which windows are scored follows
   the reference to the letter, quirks included (see :func:`window_starts`): it leaves out a
   last window that would still fit, and, through floating-point rounding, the windows starting
   at 7-23 s, 119-122 s and 16375-16768 s. Kept so that numbers match published ones.
4. The model (input ``input_1`` [N, 144160], output [N, 3]) gives raw SIG, BAK, OVRL per window;
   each is mapped through the non-personalised polynomials in :data:`POLYNOMIALS`, and the mapped
   scores are averaged over the windows.

The model file is read through fsspec (local path or URL) and handed to onnxruntime as bytes.
Windows of one or many clips are batched (``batch_size``); on CPU batching brings nothing
(measured: a batch of 8 costs 8x one window), on CUDA it does, so the default is 1 on CPU, 16 on
CUDA. A doubled short clip is periodic, so its repeated windows are scored once (exactly the
same average; a 2 s clip costs 2 model runs instead of 7). Importing this module needs only
numpy; onnxruntime and fsspec are imported on first use.
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

__all__ = [
    "DEFAULT_MODEL",
    "HOP",
    "KEYS",
    "POLYNOMIALS",
    "SAMPLE_RATE",
    "WINDOW",
    "Dnsmos",
    "get_scorer",
    "make_windows",
    "map_raw",
    "window_starts",
]

SAMPLE_RATE = 16000
INPUT_SECONDS = 9.01
WINDOW = int(INPUT_SECONDS * SAMPLE_RATE)  # 144,160 samples
HOP = SAMPLE_RATE
KEYS = ("sig", "bak", "ovrl")
#: Non-personalised P.835 mapping, highest power first (numpy.polyval order).
POLYNOMIALS = {
    "sig": (-0.08397278, 1.22083953, 0.0052439),
    "bak": (-0.13166888, 1.60915514, -0.39604546),
    "ovrl": (-0.06766283, 1.11546468, 0.04602535),
}
#: Where the model is looked for by default, relative to the working directory (the project root).
DEFAULT_MODEL = "../shared/dnsmos/sig_bak_ovr.onnx"


def _extend(x: np.ndarray) -> np.ndarray:
    while x.size < WINDOW:  # the reference doubles; it does not tile to the minimum length
        x = np.concatenate([x, x])
    return x


def window_starts(num_samples: int) -> list[int]:
    """Start samples of the windows scored for a clip of ``num_samples`` (after doubling).

    The reference's selection, reproduced operation for operation: ``int(floor(n / 16000) - 9.01)
    + 1`` candidate starts ``k * 16000``, of which it keeps those whose segment
    ``x[int(k * 16000) : int((k + 9.01) * 16000)]`` has the full 144,160 samples. In floating
    point, ``(k + 9.01) * 16000`` falls just below the integer for k = 7-23, 119-122 and
    16375-16768, so the reference (and torchmetrics' port of it) silently skips those windows;
    published DNSMOS numbers include that, so these are skipped here too.
    """
    if num_samples <= 0:
        raise ValueError("cannot score empty audio")
    n = num_samples
    while n < WINDOW:
        n *= 2
    count = int(np.floor(n / SAMPLE_RATE) - INPUT_SECONDS) + 1
    return [k * HOP for k in range(count)
            if min(int((k + INPUT_SECONDS) * HOP), n) - int(k * HOP) >= WINDOW]


def make_windows(samples: np.ndarray) -> np.ndarray:
    """The [windows, 144160] float32 model inputs for one 16 kHz mono clip (all of them)."""
    unique, inverse = _unique_windows(samples)
    return np.stack([unique[i] for i in inverse])


def _unique_windows(samples: np.ndarray) -> tuple[list[np.ndarray], np.ndarray]:
    """Distinct windows and, per window of the method, the index of its distinct copy.

    A doubled clip is periodic with its original length L, so windows whose starts differ by a
    multiple of L are the same samples and need scoring only once (a 2 s clip is doubled to 16 s:
    7 windows, 2 distinct). The average over all windows is unchanged.
    """
    x = np.asarray(samples, dtype=np.float32).reshape(-1)
    if x.size == 0:
        raise ValueError("cannot score empty audio")
    if not np.isfinite(x).all():
        raise ValueError("cannot score audio containing NaN or Inf samples")
    starts = window_starts(x.size)
    period = x.size
    x = _extend(x)
    keys = [s % period if x.size > period else s for s in starts]
    first: dict[int, int] = {}
    inverse = np.array([first.setdefault(k, len(first)) for k in keys])
    unique: list[np.ndarray] = [np.empty(0, np.float32)] * len(first)
    for s, k in zip(starts, keys):
        unique[first[k]] = x[s:s + WINDOW]
    return unique, inverse


def map_raw(raw: np.ndarray) -> dict[str, float]:
    """Map raw [windows, 3] model outputs to P.835 scores and average over windows."""
    raw = np.asarray(raw, dtype=np.float64).reshape(-1, 3)
    return {k: float(np.mean(np.polyval(POLYNOMIALS[k], raw[:, i]))) for i, k in enumerate(KEYS)}


def _providers(device: str, available: Sequence[str]) -> list[str]:
    if device == "cpu":
        return ["CPUExecutionProvider"]
    if device in ("cuda", "auto"):
        if "CUDAExecutionProvider" in available:
            return ["CUDAExecutionProvider", "CPUExecutionProvider"]
        if device == "cuda":
            raise RuntimeError("DNSMOS device 'cuda' requested but onnxruntime has no CUDAExecutionProvider "
                               f"(available: {', '.join(available)}); install onnxruntime-gpu or use 'auto'")
        return ["CPUExecutionProvider"]
    raise ValueError(f"DNSMOS device must be 'auto', 'cpu' or 'cuda', got {device!r}")


class Dnsmos:
    """A loaded DNSMOS P.835 model.

    ``model``: path or fsspec URL of ``sig_bak_ovr.onnx``. ``threads``: onnxruntime intra-op
    threads (None = onnxruntime's default, one per physical core). ``device``: "auto" (CUDA when
    onnxruntime offers it, else CPU), "cpu" or "cuda". ``batch_size``: windows per model call
    (None = 1 on CPU, 16 on CUDA).
    """

    def __init__(self, model: str = DEFAULT_MODEL, *, storage_options: Mapping[str, Any] | None = None,
                 threads: int | None = None, device: str = "auto", batch_size: int | None = None) -> None:
        import fsspec
        import onnxruntime as ort

        if threads is not None and threads < 1:
            raise ValueError(f"threads must be at least 1, got {threads}")
        try:
            with fsspec.open(str(model), "rb", **dict(storage_options or {})) as f:
                data = f.read()
        except FileNotFoundError:
            raise FileNotFoundError(f"DNSMOS model not found: {model} (the P.835 model is sig_bak_ovr.onnx "
                                    "from microsoft/DNS-Challenge, DNSMOS/)") from None
        self.source = str(model)
        self.sha256 = hashlib.sha256(data).hexdigest()
        opts = ort.SessionOptions()
        if threads is not None:
            opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        opts.log_severity_level = 3
        # idle worker threads sleep instead of spinning: cores here are shared (training, Ray tasks)
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.providers = _providers(device, ort.get_available_providers())
        self.session = ort.InferenceSession(data, sess_options=opts, providers=self.providers)
        inputs, outputs = self.session.get_inputs(), self.session.get_outputs()
        if len(inputs) != 1 or inputs[0].shape[-1] != WINDOW or outputs[0].shape[-1] != 3:
            raise ValueError(f"{model} is not the DNSMOS P.835 model: expected input [N, {WINDOW}] and output "
                             f"[N, 3], got {[i.shape for i in inputs]} -> {[o.shape for o in outputs]}")
        self.input_name = inputs[0].name
        batch_dim = inputs[0].shape[0]
        on_gpu = self.providers[0] == "CUDAExecutionProvider"
        self.batch_size = batch_size or (16 if on_gpu else 1)
        if isinstance(batch_dim, int):  # a model exported with a fixed batch of 1
            self.batch_size = batch_dim
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")

    def _raw(self, windows: Sequence[np.ndarray]) -> np.ndarray:
        """Raw [len(windows), 3] model outputs; only one batch of windows is copied at a time."""
        out = [self.session.run(None, {self.input_name: np.stack(windows[i:i + self.batch_size])})[0]
               for i in range(0, len(windows), self.batch_size)]
        return np.concatenate(out).astype(np.float64).reshape(-1, 3)

    def score(self, samples_16k: np.ndarray) -> dict[str, float]:
        """``{"sig", "bak", "ovrl"}`` of one 16 kHz mono waveform (any length > 0)."""
        return self.score_many([samples_16k])[0]

    def score_many(self, clips: Sequence[np.ndarray]) -> list[dict[str, float]]:
        """Scores of several clips; their windows share model batches (same results as :meth:`score`)."""
        plans = [_unique_windows(c) for c in clips]
        if not plans:
            return []
        raw = self._raw([w for unique, _ in plans for w in unique])
        out, offset = [], 0
        for unique, inverse in plans:
            out.append(map_raw(raw[offset + inverse]))
            offset += len(unique)
        return out

    __call__ = score


@functools.lru_cache(maxsize=2)
def _cached(model: str, options_json: str, threads: int | None) -> Dnsmos:
    return Dnsmos(model, storage_options=json.loads(options_json), threads=threads)


def get_scorer(model: str | None, storage_options: Mapping[str, Any] | None = None,
               threads: int | None = 1) -> Dnsmos | None:
    """A per-process cached :class:`Dnsmos` (None when ``model`` is empty).

    For worker processes (e.g. Ray tasks) that score many batches: the model is read once per
    process. ``threads`` defaults to 1 because such workers each own one CPU.
    """
    if not model:
        return None
    return _cached(str(model), json.dumps(dict(storage_options or {}), sort_keys=True, default=str), threads)
