"""frcrn.training.noise: the synthetic noise families."""

import itertools

import numpy as np
import pytest

from frcrn.training.noise import FAMILY_WEIGHTS, NOISE_FAMILIES, make_noise, random_noise, usable_families

SR = 16000
N = SR  # 1 s keeps the suite fast


@pytest.fixture(scope="module")
def babble_sources():
    rng = np.random.default_rng(99)
    t = np.arange(2 * SR) / SR
    # speech-like stand-ins: modulated harmonic tones of different pitch and length
    return [
        (np.sin(2 * np.pi * f0 * t) * (0.5 + 0.5 * np.sin(2 * np.pi * 3 * t)) + 0.1 * rng.standard_normal(t.size))
        .astype(np.float32)[: int(SR * (0.5 + k * 0.3))]
        for k, f0 in enumerate([110, 140, 190, 220, 260])
    ]


def _rms(x):
    return float(np.sqrt(np.mean(np.asarray(x, dtype=np.float64) ** 2)))


def test_family_list():
    assert len(NOISE_FAMILIES) == len(set(NOISE_FAMILIES)) >= 14
    for name in ("white", "pink", "brown", "band", "pink_am", "hum", "babble", "clicks",
                 "machine", "bursts", "crackle"):
        assert name in NOISE_FAMILIES
    assert set(FAMILY_WEIGHTS) == set(NOISE_FAMILIES)
    assert "babble" not in usable_families(None)


@pytest.mark.parametrize("family", NOISE_FAMILIES)
def test_family_basic_properties(family, babble_sources):
    a = make_noise(family, N, np.random.default_rng(1), babble_sources=babble_sources)
    b = make_noise(family, N, np.random.default_rng(1), babble_sources=babble_sources)
    c = make_noise(family, N, np.random.default_rng(2), babble_sources=babble_sources)
    assert a.dtype == np.float32 and a.shape == (N,)
    assert np.all(np.isfinite(a))
    assert _rms(a) == pytest.approx(1.0, abs=1e-3)
    np.testing.assert_array_equal(a, b)  # deterministic for a seed
    assert not np.allclose(a, c)  # different across seeds


@pytest.mark.parametrize("family", NOISE_FAMILIES)
@pytest.mark.parametrize("n", [1, 7, 1000])
def test_odd_lengths_and_rates(family, n, babble_sources):
    for sr in (8000, 44100):
        x = make_noise(family, n, np.random.default_rng(3), sample_rate=sr, babble_sources=babble_sources)
        assert x.shape == (n,) and np.all(np.isfinite(x))
        assert _rms(x) == pytest.approx(1.0, abs=1e-3)
    assert make_noise(family, 0, np.random.default_rng(0), babble_sources=babble_sources).shape == (0,)


def _loglog_slope(x, sr=SR, lo=100.0, hi=4000.0):
    f = np.fft.rfftfreq(x.size, 1.0 / sr)
    p = np.abs(np.fft.rfft(x)) ** 2
    edges = np.logspace(np.log10(lo), np.log10(hi), 16)
    centres, powers = [], []
    for a, b in itertools.pairwise(edges):
        m = (f >= a) & (f < b)
        centres.append(np.sqrt(a * b))
        powers.append(p[m].mean())
    return np.polyfit(np.log10(centres), np.log10(powers), 1)[0]


@pytest.mark.parametrize("family,expected", [("white", 0.0), ("pink", -1.0), ("brown", -2.0)])
def test_spectral_slope(family, expected):
    x = make_noise(family, 4 * SR, np.random.default_rng(5)).astype(np.float64)
    assert _loglog_slope(x) == pytest.approx(expected, abs=0.15)


def test_hum_is_at_mains_harmonics():
    x = make_noise("hum", 4 * SR, np.random.default_rng(0)).astype(np.float64)
    spec = np.abs(np.fft.rfft(x * np.hanning(x.size)))
    f = np.fft.rfftfreq(x.size, 1.0 / SR)
    peak = f[np.argmax(spec)]
    assert min(abs(peak / 50 - round(peak / 50)), abs(peak / 60 - round(peak / 60))) < 0.02


def test_am_and_bursts_are_non_stationary():
    for family in ("pink_am", "bursts"):
        x = make_noise(family, 4 * SR, np.random.default_rng(4)).astype(np.float64)
        frames = np.sqrt(np.mean(x.reshape(-1, 320) ** 2, axis=1))
        assert 20 * np.log10(frames.max() / max(frames.min(), 1e-12)) > 6.0
    x = make_noise("pink", 4 * SR, np.random.default_rng(4)).astype(np.float64)
    frames = np.sqrt(np.mean(x.reshape(-1, 320) ** 2, axis=1))
    assert 20 * np.log10(frames.max() / frames.min()) < 6.0


def test_babble_needs_sources():
    with pytest.raises(ValueError):
        make_noise("babble", N, np.random.default_rng(0))
    with pytest.raises(ValueError):
        make_noise("nope", N, np.random.default_rng(0))


def test_random_noise(babble_sources):
    names = set()
    for seed in range(40):
        name, x = random_noise(N, np.random.default_rng(seed))
        assert x.shape == (N,) and x.dtype == np.float32
        assert _rms(x) == pytest.approx(1.0, abs=1e-3)
        assert "babble" not in name  # no sources given
        assert all(part in NOISE_FAMILIES for part in name.split("+"))
        names.add(name)
    assert len(names) > 10
    assert any("+" in n for n in names)
    n1, x1 = random_noise(N, np.random.default_rng(7), babble_sources=babble_sources)
    n2, x2 = random_noise(N, np.random.default_rng(7), babble_sources=babble_sources)
    assert n1 == n2 and np.array_equal(x1, x2)
