"""Audio bandwidth: the highest frequency that carries real energy.

A file's sample rate says nothing about its content: 48 kHz files are often upsampled telephone
(4 kHz) or 16 kHz audio, and FRCRN's output holds nothing above 8 kHz whatever rate it is written
at. Curators need the real bandwidth to keep full-band originals, to flag narrow-band ones and to
see what enhancement took away.

Rule (:func:`bandwidth_hz`): the long-term average spectrum (Welch: 2048-point Hann frames, 50 %
overlap, mean power per bin) is median-filtered over ±4 bins (so a lone spike or dip does not
count, while a steep edge stays where it is) and put in dB; the reference is its peak.
The bandwidth is the highest bin frequency whose level is within :data:`DROP_DB` (50 dB) of the
peak and above :data:`FLOOR_DB` (-115 dB re a full-scale sine's bin power: about 10 dB above the
per-bin level of 16-bit quantisation noise, -126 dB with these frames, so a file holding nothing
but dither has no bandwidth). A band-limited signal (low-passed, or upsampled from a lower rate)
has a steep edge where its level falls by far more than 50 dB, so the rule finds the edge to
within the Hann window's leakage (+25 Hz at 16 kHz, +70 Hz at 44.1 kHz for a brick-wall edge).
Speech whose own spectrum slopes down by more than 50 dB before the edge reads lower than the
edge; that is a limit of the measure, not of the rule (no spectral rule can tell a 50 dB quieter
band from none).
"""

from __future__ import annotations

import numpy as np

from frcrn.quality._input import as_mono

__all__ = ["DROP_DB", "FLOOR_DB", "NPERSEG", "average_spectrum", "bandwidth_hz"]

NPERSEG = 2048
#: How far below the peak band the spectrum must stay above the bandwidth.
DROP_DB = 50.0
#: Bins below this level (dB re the bin power of a full-scale sine) never count as content.
FLOOR_DB = -115.0
SMOOTH_BINS = 4


def average_spectrum(x: np.ndarray, rate: int, nperseg: int = NPERSEG) -> tuple[np.ndarray, np.ndarray]:
    """(frequencies in Hz, mean power per bin) of ``x``: Welch with Hann frames, 50 % overlap.

    Power is scaled so that a full-scale sine's bin reads 1 (0 dB). ``x`` must have at least
    ``nperseg`` samples.
    """
    x = np.asarray(x, dtype=np.float64).reshape(-1)
    if x.size < nperseg:
        raise ValueError(f"need at least {nperseg} samples, got {x.size}")
    hop = nperseg // 2
    count = 1 + (x.size - nperseg) // hop
    window = np.hanning(nperseg + 1)[:-1]  # periodic Hann
    frames = np.lib.stride_tricks.sliding_window_view(x, nperseg)[::hop][:count]
    power = np.zeros(nperseg // 2 + 1)
    for start in range(0, count, 64):  # bounded memory for long files
        block = frames[start:start + 64]
        spec = np.fft.rfft((block - block.mean(axis=1, keepdims=True)) * window, axis=1)
        power += np.sum(spec.real ** 2 + spec.imag ** 2, axis=0)
    power /= count * (window.sum() / 2) ** 2  # a full-scale sine peaks at 1
    return np.fft.rfftfreq(nperseg, 1.0 / rate), power


def bandwidth_hz(x: np.ndarray, rate: int, drop_db: float = DROP_DB) -> float | None:
    """Highest frequency (Hz) whose smoothed long-term level is within ``drop_db`` of the peak.

    See the module docstring for the rule. Returns None for clips shorter than one 2048-sample
    analysis frame (43 ms at 48 kHz, 128 ms at 16 kHz) and for signals with no bin above the
    -115 dB floor (digital silence, dither only). Measured: white noise low-passed at 4 kHz reads
    4.02 kHz at 16 kHz and 4.07 kHz at 44.1 kHz; full-band white noise at 44.1 kHz 22.05 kHz;
    16 kHz LibriSpeech 8.0 kHz (7.84 for one of 18 clips), the same resampled to 48 kHz with soxr
    7.64-7.83 kHz (soxr's transition band), white noise resampled 16 -> 48 kHz 7.90 kHz. Cost:
    about 5 ms per 10 s at 16 kHz, 10-15 ms at 44.1/48 kHz.
    """
    x = as_mono(x)
    if x.size < NPERSEG:
        return None
    freqs, power = average_spectrum(x, rate)
    padded = np.pad(power, SMOOTH_BINS, mode="edge")
    smooth = np.median(np.lib.stride_tricks.sliding_window_view(padded, 2 * SMOOTH_BINS + 1), axis=1)
    with np.errstate(divide="ignore"):
        level = 10 * np.log10(smooth)
    peak = float(level.max())
    if not np.isfinite(peak) or peak < FLOOR_DB:
        return None
    content = np.flatnonzero((level >= peak - drop_db) & (level >= FLOOR_DB))
    return float(freqs[content[-1]])
