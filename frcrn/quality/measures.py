"""Per-file speech measures for corpus curation: speech ratio, blind SNR, loudness, bandwidth.

Cleaning a corpus for TTS or ASR ends in a decision per file: keep the enhanced audio, keep the
original, or drop the file. The decision needs a few cheap numbers about each version, measured
the same way on input and output:

* ``speech_ratio``: share of the duration that is speech (Silero VAD, :mod:`.vad`);
* ``snr_db``: blind SNR estimate (WADA-SNR, :mod:`.snr`);
* ``loudness_lufs``: integrated loudness per ITU-R BS.1770-4 (pyloudnorm), the level people hear,
  unlike the plain RMS of :func:`frcrn.audio.level_dbfs`;
* ``bandwidth_hz``: highest frequency with real content (:mod:`.bandwidth`): shows 4 kHz
  telephone audio hiding in 48 kHz files, and that FRCRN's output stops at 8 kHz.

:func:`measure_all` computes all four (:func:`measure_many` for several waveforms, sharing the VAD
runs), each in isolation: a measure that fails gives None and a logged warning, never an
exception, so one odd file cannot fail a batch. Every measure returns a
Python float, or None where it is undefined (too short, digital silence); none returns NaN.
All run on CPU in one thread; importing this module needs only numpy (onnxruntime, soxr and
pyloudnorm are imported on first use, torch never).
"""

from __future__ import annotations

import functools
import logging
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from frcrn.quality._input import as_mono
from frcrn.quality.bandwidth import bandwidth_hz
from frcrn.quality.snr import wada_snr
from frcrn.quality.vad import speech_ratio, speech_ratios

__all__ = ["MEASURES", "bandwidth_hz", "loudness_lufs", "measure_all", "measure_many", "speech_ratio", "wada_snr"]

log = logging.getLogger(__name__)

#: BS.1770 gating block: shorter clips have no loudness.
GATE_SECONDS = 0.400


@functools.lru_cache(maxsize=8)
def _meter(rate: int) -> Any:
    import pyloudnorm

    return pyloudnorm.Meter(rate)  # K-weighting, 400 ms blocks, 75 % overlap (BS.1770-4)


def loudness_lufs(x: np.ndarray, rate: int) -> float | None:
    """Integrated loudness (LUFS) of a mono waveform per ITU-R BS.1770-4 (pyloudnorm).

    A 997 Hz sine at -23 dBFS RMS (mono) reads -23 LUFS. Returns None for clips shorter than the
    400 ms gating block and for audio below BS.1770's absolute gate of -70 LUFS in every block
    (digital silence included), for which pyloudnorm returns -inf.
    """
    x = as_mono(x)
    if x.size < GATE_SECONDS * rate:
        return None
    value = float(_meter(int(rate)).integrated_loudness(x))
    return value if math.isfinite(value) else None


def _snr(x: np.ndarray, rate: int) -> float | None:
    return wada_snr(x)


#: Result column -> measure(x, rate), in column order.
MEASURES: dict[str, Callable[[np.ndarray, int], float | None]] = {
    "speech_ratio": speech_ratio,
    "snr_db": _snr,
    "loudness_lufs": loudness_lufs,
    "bandwidth_hz": bandwidth_hz,
}


def measure_all(x: np.ndarray, rate: int, suffix: str = "", *,
                known: Mapping[str, float | None] | None = None) -> dict[str, float | None]:
    """All measures of one mono waveform: ``{"speech_ratio" + suffix: ..., "snr_db" + suffix: ...,
    "loudness_lufs" + suffix: ..., "bandwidth_hz" + suffix: ...}`` (the job passes "_in"/"_out").
    ``known``: values already measured (by name, without the suffix), taken as they are.

    Never raises: a measure that fails (bad input, a missing package) is None, with a warning
    logged that names it.
    """
    out: dict[str, float | None] = {}
    for name, measure in MEASURES.items():
        if known is not None and name in known:
            out[name + suffix] = known[name]
            continue
        try:
            value = measure(x, rate)
            out[name + suffix] = None if value is None else float(value)
        except Exception as err:
            log.warning("measure %s failed (%s: %s); recorded as None", name, type(err).__name__, err)
            out[name + suffix] = None
    return out


def measure_many(items: Sequence[tuple[np.ndarray, int]], suffix: str = "") -> list[dict[str, float | None]]:
    """:func:`measure_all` of several ``(waveform, rate)`` pairs, with the same values: the speech
    ratio's VAD runs over all of them at once (:func:`frcrn.quality.vad.speech_ratios`; about half
    the CPU for short files), the other measures one by one. If the shared VAD run fails, each
    waveform is measured alone, so one odd file still cannot fail the others."""
    try:
        ratios = speech_ratios(items)
    except Exception:
        return [measure_all(x, rate, suffix) for x, rate in items]
    return [measure_all(x, rate, suffix, known={"speech_ratio": r}) for (x, rate), r in zip(items, ratios)]
