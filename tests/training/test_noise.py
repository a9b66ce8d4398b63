import io
import struct

import numpy as np
import pytest
import soundfile as sf

from frcrn.training import recorded_noise
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
    for a, b in zip(edges[:-1], edges[1:]):
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


def _wav_bytes(x, sr):
    buf = io.BytesIO()
    sf.write(buf, x, sr, format="WAV", subtype="PCM_16")
    return buf.getvalue()


def _write_opensfx_bank(root, entries):
    """An OpenTTD-style .cat bank under ``root``: (offset, size) table, then name + WAV per entry."""
    table = 8 * len(entries)
    blobs, offset, header = [], table, b""
    for name, wav in entries:
        blob = bytes([len(name)]) + name + wav
        header += struct.pack("<II", offset | (0x80000000 if not blobs else 0), len(blob))
        blobs.append(blob)
        offset += len(blob)
    bank = root / recorded_noise.OPENSFX_BANK
    bank.parent.mkdir(parents=True)
    bank.write_bytes(header + b"".join(blobs))
    return bank


def test_opensfx_bank_parser_and_listing(tmp_path):
    entries = [
        (b'"Wind". License: Creative Commons Zero 1.0.\x00', _wav_bytes(np.zeros(441), 44100)),
        (b'"Saw". License: Creative Commons Attribution 3.0 Unported.\x00', _wav_bytes(np.ones(800) * 0.1, 8000)),
    ]
    bank = _write_opensfx_bank(tmp_path, entries)
    parsed = recorded_noise.read_opensfx_bank(str(bank))
    assert [p[0] for p in parsed] == ['"Wind". License: Creative Commons Zero 1.0.',
                                      '"Saw". License: Creative Commons Attribution 3.0 Unported.']
    sounds = recorded_noise.list_recorded_sounds(str(tmp_path))
    assert [s.licence for s in sounds] == ["CC0-1.0", "CC-BY-3.0"]
    assert sounds[0].duration == pytest.approx(0.01)
    y = recorded_noise.load_recorded_sound(sounds[1], 16000)
    assert y.dtype == np.float32 and abs(y.size - 1600) <= 2
    assert recorded_noise.summarize(sounds)["openttd-opensfx"]["sounds"] == 2
    assert recorded_noise.list_recorded_sounds(str(tmp_path / "empty")) == []


def test_training_noise_sources_keep_permissive_sounds_with_their_credits(tmp_path):
    from frcrn.training.trainer import recorded_noise_sources

    rng = np.random.default_rng(0)
    _write_opensfx_bank(tmp_path, [
        (b'"Horn". License: Creative Commons Attribution 3.0 Unported.\x00', _wav_bytes(rng.uniform(-.5, .5, 8000), 16000)),
        (b'"Mill". License: Creative Commons Attribution-ShareAlike 3.0.\x00', _wav_bytes(rng.uniform(-.5, .5, 8000), 16000)),
        (b'"Tick". License: Creative Commons Zero 1.0.\x00', _wav_bytes(rng.uniform(-.5, .5, 800), 16000)),
    ])
    arrays, records = recorded_noise_sources(str(tmp_path))
    # share-alike dropped by licence, the 0.05 s tick dropped as too short: one sound, one record
    assert len(arrays) == len(records) == 1
    assert arrays[0].shape == (8000,)
    assert records == [{"package": "openttd-opensfx", "file": recorded_noise.OPENSFX_BANK, "member": 0,
                        "licence": "CC-BY-3.0",
                        "credit": '"Horn". License: Creative Commons Attribution 3.0 Unported.'}]
