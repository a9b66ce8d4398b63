import numpy as np
import pytest
import soundfile as sf
import torch

from frcrn.training import mixtures
from frcrn.training.mixtures import (
    MixtureConfig,
    MixtureDataset,
    make_validation_set,
    mix_at_snr,
    mix_clean_noise,
    split_speech_files,
)

SR = 16000


def _snr(clean, noisy):
    clean = np.asarray(clean, dtype=np.float64)
    noise = np.asarray(noisy, dtype=np.float64) - clean
    return 10 * np.log10(np.mean(clean**2) / np.mean(noise**2))


def _fake_speech(count=6, seconds=2.0, seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * SR)) / SR
    clips = []
    for k in range(count):
        f0 = 100 + 25 * k
        env = np.clip(np.sin(2 * np.pi * (2 + k * 0.3) * t), 0, None)
        x = env * (np.sin(2 * np.pi * f0 * t) + 0.3 * np.sin(2 * np.pi * 3 * f0 * t))
        clips.append((0.1 * x + 0.001 * rng.standard_normal(t.size)).astype(np.float32)[: int(SR * (1.0 + 0.2 * k))])
    return clips


@pytest.mark.parametrize("snr", [-5.0, 0.0, 7.3, 20.0])
@pytest.mark.parametrize("level", [None, -35.0, -15.0])
def test_mix_hits_snr_and_level(snr, level):
    rng = np.random.default_rng(0)
    clean = (0.1 * rng.standard_normal(SR)).astype(np.float32)
    noise = rng.standard_normal(SR).astype(np.float32) * 3.0
    noisy, clean_out, _info = mix_clean_noise(clean, noise, snr, level)
    assert noisy.dtype == np.float32 and clean_out.dtype == np.float32
    assert _snr(clean_out, noisy) == pytest.approx(snr, abs=0.01)
    if level is not None:
        assert 10 * np.log10(np.mean(noisy.astype(np.float64) ** 2)) == pytest.approx(level, abs=0.01)
    np.testing.assert_array_equal(mix_at_snr(clean, noise, snr, level), noisy)


def test_mix_without_level_keeps_clean():
    rng = np.random.default_rng(1)
    clean = (0.05 * rng.standard_normal(SR)).astype(np.float32)
    noisy = mix_at_snr(clean, rng.standard_normal(2 * SR), 10.0)  # longer noise is cut
    assert noisy.shape == clean.shape
    assert _snr(clean, noisy) == pytest.approx(10.0, abs=0.01)


def test_mix_avoids_clipping_and_keeps_snr():
    rng = np.random.default_rng(2)
    clean = (0.1 * rng.standard_normal(SR)).astype(np.float32)
    noise = np.zeros(SR, dtype=np.float32)
    noise[::1000] = 50.0  # very peaky clicks
    noisy, clean_out, info = mix_clean_noise(clean, noise, 0.0, -10.0)
    assert np.max(np.abs(noisy)) <= 0.99 + 1e-6
    assert np.max(np.abs(clean_out)) <= 0.99 + 1e-6
    assert info["level_dbfs"] < -10.0  # scaled down below the asked level
    assert _snr(clean_out, noisy) == pytest.approx(0.0, abs=0.01)
    np.testing.assert_allclose(clean_out, clean * info["gain"], rtol=1e-5, atol=1e-7)


def test_mix_errors():
    with pytest.raises(ValueError):
        mix_at_snr(np.ones(10), np.ones(5), 0.0)
    with pytest.raises(ValueError):
        mix_at_snr(np.ones(10), np.zeros(10), 0.0)


def test_split_by_file_is_disjoint_and_deterministic():
    paths = [f"/data/spk{i % 7}/utt{i:03d}.wav" for i in range(50)]
    train, val = split_speech_files(paths, 0.1, seed=0)
    assert len(val) == 5 and len(train) == 45
    assert not set(train) & set(val)
    assert set(train) | set(val) == set(paths)
    assert split_speech_files(list(reversed(paths)) + paths[:3], 0.1, seed=0) == (train, val)
    assert split_speech_files(paths, 0.1, seed=1)[1] != val
    assert train == sorted(train) and val == sorted(val)
    tr, va = split_speech_files(paths[:2], 0.1)
    assert len(tr) == 1 and len(va) == 1
    assert split_speech_files(paths, 0.0) == (sorted(paths), [])


def test_dataset_from_files(tmp_path):
    paths = []
    for i, clip in enumerate(_fake_speech(3)):
        paths.append(str(tmp_path / f"{i}.wav"))
        sf.write(paths[-1], clip, SR)
    ds = MixtureDataset(paths, MixtureConfig(crop_seconds=0.5), seed=0)
    assert len(ds.speech) == 3
    noisy, clean = next(iter(ds))
    assert noisy.shape == clean.shape == (SR // 2,)


def test_dataset_shapes_and_distinct_items():
    cfg = MixtureConfig(crop_seconds=1.5)  # longer than some clips: those get zero-padded
    ds = MixtureDataset(_fake_speech(), cfg, seed=3)
    it = iter(ds)
    items = [next(it) for _ in range(12)]
    for noisy, clean in items:
        assert isinstance(noisy, torch.Tensor) and noisy.dtype == torch.float32
        assert noisy.shape == clean.shape == (cfg.crop_samples,)
        assert torch.isfinite(noisy).all() and noisy.abs().max() <= 0.99 + 1e-6
        assert clean.abs().max() <= 0.99 + 1e-6
    for i in range(len(items)):
        for j in range(i + 1, len(items)):
            assert not torch.equal(items[i][0], items[j][0])
    # the same seed restarts the same stream; another seed or epoch gives another one
    again = next(iter(MixtureDataset(_fake_speech(), cfg, seed=3)))
    assert torch.equal(again[0], items[0][0])
    other = next(iter(MixtureDataset(_fake_speech(), cfg, seed=4)))
    assert not torch.equal(other[0], items[0][0])
    ds.set_epoch(1)
    assert not torch.equal(next(iter(ds))[0], items[0][0])


def test_dataset_workers_draw_different_streams():
    ds = MixtureDataset(_fake_speech(3), MixtureConfig(crop_seconds=0.25), seed=0)
    loader = torch.utils.data.DataLoader(ds, batch_size=None, num_workers=2)
    it = iter(loader)
    a, b = next(it), next(it)  # round robin: worker 0, then worker 1
    assert a[0].shape == (SR // 4,)
    assert not torch.equal(a[0], b[0])


def test_noise_only_items():
    ds = MixtureDataset(_fake_speech(3), MixtureConfig(crop_seconds=0.5, noise_only_prob=1.0), seed=0)
    noisy, clean = next(iter(ds))
    assert torch.count_nonzero(clean) == 0 and noisy.abs().sum() > 0


def test_babble_never_uses_target(monkeypatch):
    speech = _fake_speech(4)
    seen = []
    real = mixtures.random_noise

    def spy(n, rng, *, sample_rate, babble_sources):
        seen.append(babble_sources)
        return real(n, rng, sample_rate=sample_rate, babble_sources=babble_sources)

    monkeypatch.setattr(mixtures, "random_noise", spy)
    rng = np.random.default_rng(0)
    for _ in range(20):
        _, _, meta = mixtures.make_mixture(speech, MixtureConfig(crop_seconds=0.25), rng)
        sources = seen[-1]
        assert len(sources) == len(speech) - 1
        assert all(s is not speech[meta["clip"]] for s in sources)


def test_validation_set_is_reproducible():
    speech = _fake_speech(4)
    cfg = MixtureConfig(crop_seconds=0.5, snr_db=(0.0, 10.0))
    a = make_validation_set(speech, 8, seed=11, config=cfg)
    b = make_validation_set(speech, 8, seed=11, config=cfg)
    c = make_validation_set(speech, 8, seed=12, config=cfg)
    assert len(a) == 8
    for (n1, c1, m1), (n2, c2, m2) in zip(a, b):
        np.testing.assert_array_equal(n1, n2)
        np.testing.assert_array_equal(c1, c2)
        assert m1 == m2
    assert not all(np.array_equal(x[0], y[0]) for x, y in zip(a, c))
    for noisy, clean, meta in a:
        assert noisy.shape == clean.shape == (cfg.crop_samples,)
        assert {"family", "snr_db", "level_dbfs"} <= set(meta)
        assert 0.0 <= meta["snr_db"] <= 10.0
        assert _snr(clean, noisy) == pytest.approx(meta["snr_db"], abs=0.01)
        assert -35.0 <= meta["level_dbfs"] <= -15.0


# ----------------------------------------------------------------------------- pauses


def test_a_pause_item_has_a_silent_target_over_continuing_noise():
    cfg = MixtureConfig(crop_seconds=1.0, snr_db=(5.0, 5.0), pause_prob=1.0, pause_seconds=(0.4, 0.4))
    noisy, clean, meta = mixtures.make_mixture(_fake_speech(4), cfg, np.random.default_rng(3))
    start, seconds = meta["pause"]
    stop = start + round(seconds * SR)
    assert seconds == 0.4 and np.all(clean[start:stop] == 0.0)
    assert np.sqrt(np.mean(noisy[start:stop] ** 2)) > 1e-4  # the noise goes on through the pause
    assert abs(_snr(clean, noisy) - 5.0) < 0.01  # the SNR is of the paused speech, as mixed


def test_pauses_off_draw_nothing_so_seeds_keep_their_items():
    speech = _fake_speech(4)
    plain = mixtures.make_mixture(speech, MixtureConfig(crop_seconds=0.5), np.random.default_rng(7))
    off = mixtures.make_mixture(speech, MixtureConfig(crop_seconds=0.5, pause_prob=0.0), np.random.default_rng(7))
    assert np.array_equal(plain[0], off[0]) and off[2]["pause"] is None


def test_pauses_are_for_training_only_and_bad_values_are_refused():
    from frcrn.training.config import DataConfig

    data = DataConfig(pause_prob=0.5, pause_seconds=(0.2, 0.6))
    assert data.training_mixture_config().pause_prob == 0.5
    assert data.training_mixture_config().pause_seconds == (0.2, 0.6)
    assert data.mixture_config().pause_prob == 0.0 and data.validation_mixture_config().pause_prob == 0.0
    with pytest.raises(ValueError, match="pause_prob"):
        DataConfig(pause_prob=1.5)
    with pytest.raises(ValueError, match="pause_seconds"):
        DataConfig(pause_seconds=(0.5, 0.1))


# ----------------------------------------------------------------------------- spectral tilt


def test_a_tilted_item_has_the_tilted_speech_as_its_target_and_tilts_off_draw_nothing():
    speech = _fake_speech(4)
    cfg = MixtureConfig(crop_seconds=1.0, snr_db=(5.0, 5.0), tilt_prob=1.0, tilt_db_per_octave=(4.0, 4.0))
    noisy, clean, meta = mixtures.make_mixture(speech, cfg, np.random.default_rng(3))
    assert meta["tilt_db_per_octave"] == 4.0
    assert abs(_snr(clean, noisy) - 5.0) < 0.01  # the SNR is of the tilted speech, as mixed

    plain = mixtures.make_mixture(speech, MixtureConfig(crop_seconds=0.5), np.random.default_rng(7))
    off = mixtures.make_mixture(speech, MixtureConfig(crop_seconds=0.5, tilt_prob=0.0), np.random.default_rng(7))
    assert np.array_equal(plain[0], off[0]) and off[2]["tilt_db_per_octave"] is None


def test_tilts_are_for_training_only_and_bad_values_are_refused():
    from frcrn.training.config import DataConfig

    data = DataConfig(tilt_prob=0.5, tilt_db_per_octave=(-2.0, 5.0))
    assert data.training_mixture_config().tilt_prob == 0.5
    assert data.training_mixture_config().tilt_db_per_octave == (-2.0, 5.0)
    assert data.mixture_config().tilt_prob == 0.0 and data.validation_mixture_config().tilt_prob == 0.0
    with pytest.raises(ValueError, match="tilt_prob"):
        DataConfig(tilt_prob=-0.1)
    with pytest.raises(ValueError, match="tilt_db_per_octave"):
        DataConfig(tilt_db_per_octave=(5.0, 1.0))
