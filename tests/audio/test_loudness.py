"""frcrn.audio.loudness: the reference pipeline's `audio_norm` expressed as a gain, and the level
measurements (RMS level, clipped fraction)."""

from __future__ import annotations

import numpy as np
import pytest

from frcrn.audio.loudness import clipping_fraction, level_dbfs, normalisation_gain
from tests.support.modelscope_reference import audio_norm

from .conftest import sine


def _at_dbfs(x: np.ndarray, dbfs: float) -> np.ndarray:
    return x * (10 ** (dbfs / 20) / np.sqrt(np.mean(x.astype(np.float64) ** 2)))


def _signals():
    rng = np.random.default_rng(11)
    speechy = rng.laplace(size=32000) * np.repeat(rng.uniform(0, 1, 40) ** 3, 800)  # bursts and pauses
    yield "gaussian", rng.standard_normal(16000)
    yield "laplace-bursts", speechy
    yield "quiet-float32", (speechy * 1e-3).astype(np.float32)
    yield "loud", rng.standard_normal(5000) * 8.0
    yield "one-click", np.r_[np.zeros(999), 0.5]
    yield "two-samples", np.array([0.25, -0.5])


@pytest.mark.parametrize("name, x", list(_signals()), ids=[n for n, _ in _signals()])
def test_gain_reproduces_reference_audio_norm(name, x):
    gain = normalisation_gain(x)
    expected = audio_norm(x)
    np.testing.assert_allclose(np.asarray(x, np.float64) * gain, expected, rtol=1e-9, atol=1e-12)


def test_normalised_active_level_is_minus_25_dbfs():
    x = _at_dbfs(np.random.default_rng(2).laplace(size=16000), -40)
    y = x * normalisation_gain(x)
    power = y ** 2
    active = power[power > power.mean()]
    assert 10 * np.log10(active.mean()) == pytest.approx(-25.0, abs=1e-9)


def test_gain_scales_inversely_with_input_level():
    x = np.random.default_rng(4).standard_normal(8000)
    assert normalisation_gain(0.1 * x) == pytest.approx(10 * normalisation_gain(x), rel=1e-12)


@pytest.mark.parametrize("x", [np.zeros(16000), np.zeros(1), np.array([]),
                               _at_dbfs(np.random.default_rng(5).standard_normal(16000), -100.0),
                               _at_dbfs(np.random.default_rng(6).standard_normal(16000), -90.5)],
                         ids=["zeros", "one-zero", "empty", "-100dBFS", "-90.5dBFS"])
def test_silent_or_near_silent_input_has_no_gain(x):
    assert normalisation_gain(x) is None


def test_quiet_but_audible_input_is_normalised():
    x = _at_dbfs(np.random.default_rng(7).standard_normal(16000), -85.0)
    gain = normalisation_gain(x)
    assert gain is not None and np.isfinite(gain) and gain > 10 ** (50 / 20)


@pytest.mark.parametrize("value", [0.3, -0.01, np.float32(0.1)])
def test_constant_dc_signal_gives_a_finite_gain(value):
    x = np.full(16000, value, dtype=np.asarray(value).dtype)
    gain = normalisation_gain(x)
    assert gain is not None and np.isfinite(gain)
    assert 20 * np.log10(abs(float(value)) * gain) == pytest.approx(-25.0, abs=1e-6)
    # (the reference's own formula can give NaN here: when no sample's power exceeds the mean power,
    # it takes the mean of an empty selection; the gain keeps the first-stage -25 dBFS RMS scaling)


# --------------------------------------------------------------------------- measurements


def test_level_of_a_full_scale_square_wave_is_0_dbfs() -> None:
    square = np.where(np.arange(1600) % 40 < 20, 1.0, -1.0).astype(np.float32)

    assert level_dbfs(square) == pytest.approx(0.0, abs=1e-9)


def test_level_of_a_full_scale_sine_is_minus_3_dbfs() -> None:
    assert level_dbfs(sine(amp=1.0)) == pytest.approx(-3.0103, abs=1e-3)


def test_level_of_silence_and_of_nothing_is_the_floor() -> None:
    assert level_dbfs(np.zeros(1600, np.float32)) == -120.0
    assert level_dbfs(np.zeros(0, np.float32)) == -120.0


def test_clipping_fraction_counts_samples_at_or_above_the_threshold() -> None:
    x = np.array([0.0, 0.5, 0.999, -1.0, 1.0, -0.2, 0.9989, 0.3], np.float32)

    assert clipping_fraction(x) == 3 / 8
    assert clipping_fraction(x, threshold=0.5) == 5 / 8
    assert clipping_fraction(np.zeros(0, np.float32)) == 0.0
