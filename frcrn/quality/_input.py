"""Input check shared by the per-file measures."""

from __future__ import annotations

import numpy as np


def as_mono(x: np.ndarray, dtype: type = np.float64) -> np.ndarray:
    """``x`` as a 1-D array of ``dtype``; ValueError for anything but one channel."""
    a = np.asarray(x, dtype=dtype)
    if a.ndim != 1:
        raise ValueError(f"expected a 1-D (mono) waveform, got shape {a.shape}")
    return a
