"""frcrn.quality.metrics: SI-SDR, PESQ, STOI."""

from __future__ import annotations

import math
import warnings
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from frcrn.quality import metrics

ROOT = Path(__file__).resolve().parents[2]
SHARED = ROOT.parent / "shared"
SPEECH = sorted((SHARED / "data" / "dns_no_reverb_frcrn_enhanced").glob("*.wav"))

needs_speech = pytest.mark.skipif(not SPEECH, reason="../shared/data not present")


@pytest.fixture(scope="module")
def speech() -> np.ndarray:
    if not SPEECH:
        pytest.skip("../shared/data not present")
    x, rate = sf.read(SPEECH[0], dtype="float32")
    assert rate == 16000
    return x[: 4 * 16000]


def _noise_at_snr(clean: np.ndarray, snr_db: float, seed: int = 0) -> np.ndarray:
    noise = np.random.default_rng(seed).standard_normal(clean.size)
    noise -= noise.mean()
    c = clean.astype(np.float64) - clean.mean()
    noise *= math.sqrt(np.mean(c**2) / (np.mean(noise**2) * 10 ** (snr_db / 10)))
    return noise


# ----------------------------------------------------------------------------- SI-SDR


def test_si_sdr_of_a_signal_with_itself_is_large():
    x = np.random.default_rng(1).standard_normal(16000)
    assert metrics.si_sdr(x, x) >= 100.0
    assert metrics.si_sdr(x, x) == metrics.SI_SDR_MAX_DB


def test_si_sdr_is_scale_invariant():
    rng = np.random.default_rng(2)
    ref = rng.standard_normal(16000)
    est = ref + 0.3 * rng.standard_normal(16000)
    base = metrics.si_sdr(est, ref)
    for scale in (1e-3, 0.5, 7.0):
        assert metrics.si_sdr(scale * est, ref) == pytest.approx(base, abs=1e-9)
        assert metrics.si_sdr(est, scale * ref) == pytest.approx(base, abs=1e-9)
    assert metrics.si_sdr(0.25 * ref, ref) == metrics.si_sdr(ref, ref)


def test_si_sdr_removes_the_mean():
    x = np.random.default_rng(3).standard_normal(16000)
    assert metrics.si_sdr(x + 0.5, x) >= 100.0


@pytest.mark.parametrize("snr", [-5.0, 0.0, 10.0, 20.0])
def test_si_sdr_with_noise_at_known_snr(snr):
    rng = np.random.default_rng(4)
    clean = rng.standard_normal(5 * 16000) * np.hanning(5 * 16000)  # not stationary, like speech
    noisy = clean + _noise_at_snr(clean, snr)
    assert metrics.si_sdr(noisy, clean) == pytest.approx(snr, abs=0.15)


@needs_speech
def test_si_sdr_on_speech_matches_snr(speech):
    noisy = speech + _noise_at_snr(speech, 5.0, seed=5)
    assert metrics.si_sdr(noisy, speech) == pytest.approx(5.0, abs=0.15)


def test_si_sdr_undefined_cases():
    x = np.random.default_rng(6).standard_normal(1000)
    with pytest.warns(metrics.MetricWarning, match="reference is silent"):
        assert math.isnan(metrics.si_sdr(x, np.zeros(1000)))
    with pytest.raises(ValueError, match="same length"):
        metrics.si_sdr(x, x[:-1])
    with pytest.raises(ValueError, match="1-D"):
        metrics.si_sdr(x.reshape(2, -1), x.reshape(2, -1))


# ----------------------------------------------------------------------------- PESQ / STOI


@needs_speech
def test_pesq_and_stoi_of_identical_signals_are_near_max(speech):
    assert metrics.pesq_wb(speech, speech) > 4.5
    assert metrics.pesq_nb(speech, speech) > 4.4
    assert metrics.stoi(speech, speech) > 0.99
    assert metrics.estoi(speech, speech) > 0.99


@needs_speech
def test_noise_lowers_pesq_and_stoi(speech):
    noisy = (speech + _noise_at_snr(speech, 0.0, seed=7)).astype(np.float32)
    assert 1.0 <= metrics.pesq_wb(noisy, speech) < 2.5
    assert 1.0 <= metrics.pesq_nb(noisy, speech) < 3.0
    assert 0.3 < metrics.stoi(noisy, speech) < 0.95
    assert 0.1 < metrics.estoi(noisy, speech) < metrics.stoi(noisy, speech)


@needs_speech
def test_pesq_at_other_rates_is_resampled(speech):
    from frcrn.audio import resample

    x8 = resample(speech, 16000, 8000)
    assert metrics.pesq_nb(x8, x8, sample_rate=8000) > 4.4
    x48 = resample(speech, 16000, 48000)
    assert metrics.pesq_wb(x48, x48, sample_rate=48000) > 4.5


def test_undefined_pesq_and_stoi_are_nan_with_a_note():
    silent = np.zeros(3 * 16000)
    for fn in (metrics.pesq_wb, metrics.pesq_nb, metrics.stoi, metrics.estoi):
        with pytest.warns(metrics.MetricWarning, match="silent"):
            assert math.isnan(fn(silent, silent))
    tiny = np.zeros(3 * 16000)
    tiny[100] = 1e-3  # not silent, but no utterance PESQ can find and no STOI frames
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert math.isnan(metrics.stoi(tiny, tiny))
    assert any("non-silent frames" in str(w.message) for w in caught)
    short = np.random.default_rng(8).standard_normal(800)
    with pytest.warns(metrics.MetricWarning, match="too short"):
        assert math.isnan(metrics.pesq_wb(short, short))
