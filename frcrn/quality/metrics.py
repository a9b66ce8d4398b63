"""Intrusive speech-quality metrics: SI-SDR, PESQ (wide/narrow band), STOI and extended STOI.

Every function takes ``(est, ref, sample_rate=16000)``: ``est`` is the signal under test (noisy
or enhanced), ``ref`` the clean reference, both 1-D and of the same length. Note the order: the
``pesq`` and ``pystoi`` packages take the reference first; these wrappers take it second, like
:func:`si_sdr`. The functions are pure (no state, inputs untouched) and return a float.

When a metric is undefined for an input (PESQ finds no utterance, STOI has fewer than 30
non-silent frames, the reference is silent) the result is NaN and a :class:`MetricWarning` says
why, so averages can skip the item and a report can name it. Programming errors (wrong shapes,
unsupported rates) raise ``ValueError``.
"""

from __future__ import annotations

import math
import warnings

import numpy as np

__all__ = ["SI_SDR_MAX_DB", "MetricWarning", "estoi", "pesq_nb", "pesq_wb", "si_sdr", "stoi"]

#: SI-SDR is capped here: an estimate equal to the reference would otherwise score +inf,
#: which no average survives.
SI_SDR_MAX_DB = 150.0


class MetricWarning(UserWarning):
    """A metric could not be computed for this input and is NaN; the message says why."""


def _pair(est: np.ndarray, ref: np.ndarray, dtype=np.float64) -> tuple[np.ndarray, np.ndarray]:
    e = np.asarray(est, dtype=dtype)
    r = np.asarray(ref, dtype=dtype)
    if e.ndim != 1 or r.ndim != 1:
        raise ValueError(f"expected 1-D signals, got shapes {e.shape} and {r.shape}")
    if e.shape != r.shape:
        raise ValueError(f"est and ref must have the same length, got {e.size} and {r.size} samples")
    if e.size == 0:
        raise ValueError("empty signals")
    if not (np.isfinite(e).all() and np.isfinite(r).all()):
        raise ValueError("signals contain NaN or Inf")
    return e, r


def _nan(metric: str, why: str) -> float:
    warnings.warn(f"{metric}: {why}; result is NaN", MetricWarning, stacklevel=3)
    return math.nan


def si_sdr(est: np.ndarray, ref: np.ndarray) -> float:
    """Scale-invariant signal-to-distortion ratio in dB (Le Roux et al., ICASSP 2019).

    Both signals have their mean removed; then ``target = (<est, ref> / ||ref||^2) * ref``,
    ``residual = est - target`` and SI-SDR = ``10 log10(||target||^2 / ||residual||^2)``, computed
    in float64 without epsilons, so it is exactly invariant to the scale of ``est`` (and of
    ``ref``). Capped at :data:`SI_SDR_MAX_DB`. NaN (with a warning) when ``ref`` is constant.
    """
    e, r = _pair(est, ref)
    e = e - e.mean()
    r = r - r.mean()
    ref_energy = float(np.dot(r, r))
    if ref_energy == 0.0:
        return _nan("SI-SDR", "the reference is silent (constant)")
    target = (float(np.dot(e, r)) / ref_energy) * r
    residual = e - target
    t, n = float(np.dot(target, target)), float(np.dot(residual, residual))
    if t == 0.0:
        return -SI_SDR_MAX_DB if n > 0.0 else _nan("SI-SDR", "the estimate is silent (constant)")
    if n <= t * 10.0 ** (-SI_SDR_MAX_DB / 10.0):
        return SI_SDR_MAX_DB
    return max(-SI_SDR_MAX_DB, 10.0 * math.log10(t / n))


def _resample(x: np.ndarray, from_rate: int, to_rate: int) -> np.ndarray:
    from ..audio.codec import resample

    return resample(x, from_rate, to_rate).astype(np.float64)


def _pesq(est: np.ndarray, ref: np.ndarray, sample_rate: int, rate: int, mode: str, name: str) -> float:
    import pesq as pesq_lib

    e, r = _pair(est, ref)
    if not np.any(r):
        return _nan(name, "the reference is silent")
    if sample_rate != rate:
        e, r = _resample(e, sample_rate, rate), _resample(r, sample_rate, rate)
    try:
        with np.errstate(all="ignore"):  # the wrapper's level normalisation divides by zero on silence
            return float(pesq_lib.pesq(rate, r, e, mode))
    except pesq_lib.NoUtterancesError:
        return _nan(name, "no utterance detected in the reference (silence or too quiet)")
    except pesq_lib.BufferTooShortError:
        return _nan(name, f"signal too short ({e.size / rate:.2f} s)")
    except pesq_lib.PesqError as err:
        return _nan(name, f"{type(err).__name__}: {err}")


def pesq_wb(est: np.ndarray, ref: np.ndarray, sample_rate: int = 16000) -> float:
    """Wide-band PESQ (ITU-T P.862.2), MOS-LQO about 1.04-4.64; signals resampled to 16 kHz if needed."""
    return _pesq(est, ref, sample_rate, 16000, "wb", "PESQ-WB")


def pesq_nb(est: np.ndarray, ref: np.ndarray, sample_rate: int = 16000) -> float:
    """Narrow-band PESQ (ITU-T P.862 with the P.862.1 MOS-LQO mapping), about 1.02-4.55.

    Scored at 8 kHz: 16 kHz input is resampled with :func:`frcrn.audio.codec.resample` (soxr HQ).
    """
    return _pesq(est, ref, sample_rate, 8000, "nb", "PESQ-NB")


def _stoi(est: np.ndarray, ref: np.ndarray, sample_rate: int, extended: bool) -> float:
    from pystoi import stoi as stoi_lib

    name = "ESTOI" if extended else "STOI"
    e, r = _pair(est, ref)
    if not np.any(r):
        return _nan(name, "the reference is silent")
    with warnings.catch_warnings(record=True) as caught, np.errstate(all="ignore"):
        warnings.simplefilter("always")
        value = float(stoi_lib(r, e, sample_rate, extended=extended))
    if any("Not enough STFT frames" in str(w.message) for w in caught):
        # pystoi returns 1e-5 here, which would drag averages down as if it were a score
        return _nan(name, "fewer than 30 non-silent frames in the reference (under about 0.4 s of speech)")
    if not math.isfinite(value):
        return _nan(name, "undefined for this input")
    return value


def stoi(est: np.ndarray, ref: np.ndarray, sample_rate: int = 16000) -> float:
    """Short-time objective intelligibility (Taal et al., 2011), 0-1 (pystoi; resampled to 10 kHz inside)."""
    return _stoi(est, ref, sample_rate, extended=False)


def estoi(est: np.ndarray, ref: np.ndarray, sample_rate: int = 16000) -> float:
    """Extended STOI (Jensen & Taal, 2016), suited to modulated noise; about 0-1 (pystoi)."""
    return _stoi(est, ref, sample_rate, extended=True)
