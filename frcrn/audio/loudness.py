"""Levels: the reference pipeline's loudness normalisation as a gain, and the level measurements
reported for every file (RMS level in dBFS, clipped fraction).

ModelScope's ANS pipeline scales every input to -25 dBFS RMS and then to -25 dBFS "active level"
(the RMS of samples louder than the mean power) before the model: FRCRN was trained at that level,
so the model sees what it expects. Returning the gain instead of the scaled signal lets the enhancer
undo it on output, so enhanced files keep their original loudness.
"""

from __future__ import annotations

import math

import numpy as np

TARGET_DBFS = -25.0
SILENCE_DBFS = -90.0
"""Below this RMS level a file is treated as silent and passed through unchanged: 16-bit
quantisation noise sits near -101 dBFS, and lifting such input by 65+ dB only amplifies noise."""

LEVEL_FLOOR_DBFS: float = -120.0
"""Level reported for silence. Far below any real recording (16-bit quantisation noise sits
near -100 dBFS), so it never masks signal, yet finite, so averages, sorting and JSON work."""


def normalisation_gain(samples: np.ndarray) -> float | None:
    """Gain the reference's `audio_norm` applies, or None for (near-)silent input."""
    x = np.asarray(samples, dtype=np.float64)
    if x.size == 0:
        return None
    power = float(np.mean(x * x))
    if not np.isfinite(power) or power <= 10 ** (SILENCE_DBFS / 10):
        return None
    target = 10 ** (TARGET_DBFS / 20)
    first = target / np.sqrt(power)
    scaled_power = x * x * (first * first)
    active = scaled_power[scaled_power > scaled_power.mean()]
    if active.size == 0:  # constant signal: every sample equals the mean power
        return float(first)
    return float(first * target / np.sqrt(active.mean()))


# --------------------------------------------------------------------------- measurements


def level_dbfs(samples: np.ndarray) -> float:
    """RMS level as plain 20*log10(rms): a full-scale square wave is 0 dBFS, a full-scale
    sine -3.01 dBFS. The AES17 convention (full-scale sine = 0 dBFS) is not used, so the
    number is the textbook RMS that anyone can recompute with numpy.

    Silence and empty input return LEVEL_FLOOR_DBFS (-120) instead of -inf, so levels can be
    averaged, compared and serialised to JSON. NaN input gives NaN.
    """
    x = np.asarray(samples)
    if x.size == 0:
        return LEVEL_FLOOR_DBFS
    rms = math.sqrt(float(np.mean(np.square(x, dtype=np.float64))))
    if rms <= 10.0 ** (LEVEL_FLOOR_DBFS / 20.0):
        return LEVEL_FLOOR_DBFS
    return 20.0 * math.log10(rms)


def clipping_fraction(samples: np.ndarray, threshold: float = 0.999) -> float:
    """Fraction of samples with ``|x| >= threshold``: flags clipped recordings, which the
    model cannot repair and which a curator may want to drop. Empty input gives 0.0."""
    x = np.asarray(samples)
    if x.size == 0:
        return 0.0
    return float(np.count_nonzero(np.abs(x) >= threshold)) / x.size
