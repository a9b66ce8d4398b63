"""The reference pipeline's loudness normalisation, as a gain.

ModelScope's ANS pipeline scales every input to -25 dBFS RMS and then to -25 dBFS "active level"
(the RMS of samples louder than the mean power) before the model: FRCRN was trained at that level,
so the model sees what it expects. Returning the gain instead of the scaled signal lets the enhancer
undo it on output, so enhanced files keep their original loudness.
"""

from __future__ import annotations

import numpy as np

TARGET_DBFS = -25.0
SILENCE_DBFS = -90.0
"""Below this RMS level a file is treated as silent and passed through unchanged: 16-bit
quantisation noise sits near -101 dBFS, and lifting such input by 65+ dB only amplifies noise."""


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
