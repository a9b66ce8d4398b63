"""Speech activity: Silero VAD run through onnxruntime, without torch.

Curation needs the share of a file that is speech (a clip that is 90 % silence or music is a bad
TTS/ASR example whatever its SNR). Silero VAD is the usual detector; its wheel ships the ONNX model
(``silero_vad/data/silero_vad.onnx``), but its Python wrappers import torch. The job's CPU tasks
should not load torch (seconds and hundreds of MB per process) for a 2 MB model, so this module
drives the ONNX model directly, reproducing silero-vad 6.2's ``OnnxWrapper`` at 16 kHz exactly:

* audio at 16 kHz (other rates are resampled with soxr; silero itself decimates multiples of
  16 kHz without a filter, which aliases, and rejects other rates);
* frames of 512 samples (32 ms), the last one zero-padded; each model call gets the frame
  prefixed with the previous frame's last 64 samples (zeros before the first), the recurrent
  state ``[2, 1, 128]`` carried from call to call (zeros at the start), and ``sr = 16000``;
* the per-frame speech probabilities are turned into speech segments by silero's
  ``get_speech_timestamps`` rules with its defaults (see :func:`speech_segments`).

The model file is located with ``importlib.util.find_spec``, which finds the installed package
without executing it: ``importlib.resources.files("silero_vad.data")`` would import
``silero_vad/__init__.py`` and with it torch. One InferenceSession is kept per process (one
intra-op thread: a worker owns one CPU).
"""

from __future__ import annotations

import functools
import importlib.util
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from frcrn.quality._input import as_mono

__all__ = [
    "CONTEXT",
    "FRAME",
    "MIN_SPEECH_SECONDS",
    "SAMPLE_RATE",
    "model_path",
    "speech_probabilities",
    "speech_probabilities_many",
    "speech_ratio",
    "speech_ratios",
    "speech_segments",
]

SAMPLE_RATE = 16000
FRAME = 512  # samples per model call at 16 kHz (32 ms)
CONTEXT = 64  # samples of the previous frame prepended to each call at 16 kHz
STATE_SHAPE = (2, 1, 128)
MODEL_FILE = "silero_vad.onnx"

# silero-vad's get_speech_timestamps defaults (max_speech_duration_s = inf, so no forced cuts)
MIN_SPEECH_SECONDS = 0.250
MIN_SILENCE_SECONDS = 0.100
SPEECH_PAD_SECONDS = 0.030


def model_path() -> Path:
    """The ONNX model shipped in the installed silero-vad wheel (the package is not imported)."""
    spec = importlib.util.find_spec("silero_vad")
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError("silero-vad is not installed: `pip install frcrn[job]` (speech_ratio uses "
                                  f"the {MODEL_FILE} its wheel ships)")
    path = Path(next(iter(spec.submodule_search_locations))) / "data" / MODEL_FILE
    if not path.is_file():
        raise FileNotFoundError(f"silero-vad is installed but has no {path}")
    return path


@functools.lru_cache(maxsize=1)
def _session() -> Any:
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    opts.log_severity_level = 3
    return ort.InferenceSession(str(model_path()), sess_options=opts, providers=["CPUExecutionProvider"])


def to_16k(x: np.ndarray, rate: int) -> np.ndarray:
    """``x`` as float32 at 16 kHz (soxr, high quality) if it is not already."""
    x = as_mono(x, np.float32)
    if rate == SAMPLE_RATE:
        return x
    import soxr

    return np.asarray(soxr.resample(x, rate, SAMPLE_RATE), dtype=np.float32)


def speech_probabilities(x: np.ndarray, rate: int) -> np.ndarray:
    """Silero's speech probability for each 32 ms frame of ``x`` (float32, one per started frame)."""
    return speech_probabilities_many([to_16k(x, rate)])[0]


def speech_probabilities_many(signals: Sequence[np.ndarray]) -> list[np.ndarray]:
    """:func:`speech_probabilities` of several 16 kHz signals, one model call per 32 ms frame for
    all of them (the model's batch dimension): a task's short files cost about half the CPU of a
    call per file and frame (measured: 8 files of 2 s, 67 -> 32 ms). Every signal has its own
    recurrent state and context, and leaves the batch when it ends, so its probabilities are
    those it gets alone (a test checks it)."""
    audios = [as_mono(s, np.float32) for s in signals]
    counts = [-(-a.size // FRAME) for a in audios]
    out = [np.zeros(0, dtype=np.float32) for _ in audios]
    rows = sorted((k for k, c in enumerate(counts) if c), key=lambda k: -counts[k])  # longest first
    if not rows:
        return out
    longest = counts[rows[0]]
    # per row: zeros for the first frame's context, the audio, zeros to fill the last frame; model
    # input i is then padded[:, i * FRAME : i * FRAME + CONTEXT + FRAME], the previous frame's
    # last CONTEXT samples and frame i
    padded = np.zeros((len(rows), CONTEXT + longest * FRAME), dtype=np.float32)
    for r, k in enumerate(rows):
        padded[r, CONTEXT:CONTEXT + audios[k].size] = audios[k]
    session = _session()
    state = np.zeros((STATE_SHAPE[0], len(rows), STATE_SHAPE[2]), dtype=np.float32)
    sr = np.array(SAMPLE_RATE, dtype=np.int64)
    probs = np.empty((len(rows), longest), dtype=np.float32)
    live = len(rows)
    for i in range(longest):
        while counts[rows[live - 1]] <= i:  # rows are longest first: the ended ones are last
            live -= 1
        window = np.ascontiguousarray(padded[:live, i * FRAME:i * FRAME + CONTEXT + FRAME])
        prob, new_state = session.run(None, {"input": window, "state": np.ascontiguousarray(state[:, :live]),
                                             "sr": sr})
        state[:, :live] = new_state
        probs[:live, i] = prob.reshape(-1)
    for r, k in enumerate(rows):
        out[k] = probs[r, :counts[k]].copy()
    return out


def speech_segments(probs: np.ndarray, num_samples: int, threshold: float = 0.5) -> list[tuple[int, int]]:
    """Speech segments ``[(start, end), ...]`` in 16 kHz samples, by silero's rules.

    A port of silero-vad 6.2's ``get_speech_timestamps_from_probs`` with its defaults
    (``min_speech_duration_ms=250, min_silence_duration_ms=100, speech_pad_ms=30``, no maximum
    segment length): speech starts at the first frame with probability >= ``threshold``; it ends
    where the probability has stayed below ``threshold - 0.15`` for 100 ms (pauses shorter than
    that are bridged); segments of 250 ms or less are dropped; each segment is then padded by
    30 ms (or by half the gap, if the gap to the next is shorter than 60 ms). Silero's own
    function needs torch, so it is reproduced here (a test checks the two agree).
    """
    neg_threshold = max(threshold - 0.15, 0.01)
    min_speech = SAMPLE_RATE * MIN_SPEECH_SECONDS
    min_silence = SAMPLE_RATE * MIN_SILENCE_SECONDS
    pad = SAMPLE_RATE * SPEECH_PAD_SECONDS
    segments: list[list[int]] = []
    start: int | None = None
    temp_end = 0
    for i, p in enumerate(np.asarray(probs, dtype=np.float64)):
        sample = FRAME * i
        if p >= threshold:
            temp_end = 0
            if start is None:
                start = sample
                continue
        if start is not None and p < neg_threshold:
            if not temp_end:
                temp_end = sample
            if sample - temp_end >= min_silence:
                if temp_end - start > min_speech:
                    segments.append([start, temp_end])
                start, temp_end = None, 0
    if start is not None and num_samples - start > min_speech:
        segments.append([start, num_samples])
    for i, seg in enumerate(segments):
        if i == 0:
            seg[0] = int(max(0, seg[0] - pad))
        if i != len(segments) - 1:
            gap = segments[i + 1][0] - seg[1]
            if gap < 2 * pad:
                seg[1] += int(gap // 2)
                segments[i + 1][0] = int(max(0, segments[i + 1][0] - gap // 2))
            else:
                seg[1] = int(min(num_samples, seg[1] + pad))
                segments[i + 1][0] = int(max(0, segments[i + 1][0] - pad))
        else:
            seg[1] = int(min(num_samples, seg[1] + pad))
    return [(s, e) for s, e in segments]


def speech_ratio(x: np.ndarray, rate: int, threshold: float = 0.5) -> float | None:
    """Fraction (0-1) of the duration of ``x`` that Silero VAD marks as speech.

    ``x``: 1-D waveform at ``rate`` Hz (any rate; resampled to 16 kHz). ``threshold``: speech
    probability at which a segment starts (silero's default 0.5). The ratio is the total length of
    the segments of :func:`speech_segments` over the length of the clip.

    Returns None for clips of 250 ms or less: silero keeps no segment that short, so the ratio
    would be 0 whatever the clip holds. Cost: one model call per 32 ms, 50-130 ms of one CPU per
    10 s of audio (measured on a shared 2-core machine), plus the resampling for rates other than
    16 kHz.
    """
    return speech_ratios([(x, rate)], threshold)[0]


def speech_ratios(items: Sequence[tuple[np.ndarray, int]], threshold: float = 0.5) -> list[float | None]:
    """:func:`speech_ratio` of several ``(waveform, rate)`` pairs, the VAD run over all of them at
    once (:func:`speech_probabilities_many`); the same values as one by one."""
    if not 0.0 < threshold < 1.0:
        raise ValueError(f"threshold must be between 0 and 1, got {threshold}")
    audios: list[np.ndarray | None] = []
    for x, rate in items:
        x = as_mono(x, np.float32)
        audios.append(None if x.size <= MIN_SPEECH_SECONDS * rate else to_16k(x, rate))
    probs = iter(speech_probabilities_many([a for a in audios if a is not None]))
    ratios: list[float | None] = []
    for audio in audios:
        if audio is None:
            ratios.append(None)
            continue
        segments = speech_segments(next(probs), audio.size, threshold)
        ratios.append(float(sum(e - s for s, e in segments)) / audio.size)
    return ratios
