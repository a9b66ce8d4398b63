"""Training sources: speakers and noise families are held out whole, pools draw fairly, and the
validation set of a v2-style recipe is fixed, held out and of the asked lengths."""

from __future__ import annotations

import collections
from pathlib import Path

import numpy as np
import pytest

from frcrn.training.data import SpeechMixtures
from frcrn.training.sources import NoisePool, RirPool, early_part, family_of, speaker_of, split_by_family, split_groups

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "data"


@pytest.mark.parametrize("path, speaker", [
    ("corpus/train-clean-100/1688__1688-142285-0000.flac", "librispeech:1688"),
    ("s3://b/ls/19-198-0001.flac", "librispeech:19"),
    ("x/cmu_arctic_us_aew_a0001.flac", "arctic:aew"),
    ("x/sense_and_sensibility_01_austen_64kb-0870.flac", "sense_and_sensibility_01_austen_64kb"),
    ("x/clnsp102_traffic_248091_3_snr0_tl-21_fileid_268.wav",
     "x/clnsp102_traffic_248091_3_snr0_tl-21_fileid_268.wav"),
])
def test_speaker_comes_from_the_file_name_or_is_the_file(path, speaker):
    assert speaker_of(path) == speaker


def test_a_speaker_is_never_on_both_sides_of_the_split():
    paths = [f"ls/{spk}-{ch}-{u:04d}.flac" for spk in range(100, 130) for ch in (1, 2) for u in range(3)]
    train, val = split_groups(paths, 0.2, seed=0, key=speaker_of)
    assert set(train) | set(val) == set(paths) and not set(train) & set(val)
    assert not {speaker_of(p) for p in train} & {speaker_of(p) for p in val}
    assert len({speaker_of(p) for p in val}) == 6
    assert split_groups(list(reversed(paths)), 0.2, seed=0, key=speaker_of) == (train, val)


def test_by_file_grouping_is_the_old_file_split():
    from frcrn.training.mixtures import split_speech_files

    paths = [f"d/{i:03d}.wav" for i in range(37)]
    assert split_groups(paths, 0.1, seed=3) == split_speech_files(paths, 0.1, seed=3)


def test_noise_is_split_by_file_within_every_family():
    paths = [f"noise/{fam}/{i}.flac" for fam, n in (("rain", 10), ("keys", 40), ("cat", 2)) for i in range(n)]
    train, val = split_by_family(paths, 0.15, seed=0)
    assert not set(train) & set(val) and len(train) + len(val) == len(paths)
    assert {family_of(p) for p in val} == {family_of(p) for p in train} == {"rain", "keys", "cat"}
    assert collections.Counter(family_of(p) for p in val) == {"rain": 2, "keys": 6, "cat": 1}


def test_noise_pool_draws_families_evenly_whatever_their_file_counts():
    pool = NoisePool([np.ones(2000, np.float32)] * 11, ["keys"] * 10 + ["rain"])
    rng = np.random.default_rng(0)
    counts = collections.Counter(pool.pick(rng)[0] for _ in range(4000))
    assert abs(counts["rain"] / 4000 - 0.5) < 0.03


def test_noise_pool_drops_short_and_silent_recordings():
    pool = NoisePool.of(["a/x.wav", "a/y.wav", "b/z.wav"],
                        [np.ones(100, np.float32), np.zeros(5000, np.float32), np.ones(5000, np.float32)])
    assert pool.families == ["b"] and pool.seconds_by_family() == {"b": 0.3}


def test_reverberation_keeps_length_and_a_unit_impulse_changes_nothing():
    rng = np.random.default_rng(0)
    clean = rng.normal(size=8000).astype(np.float32)
    identity = RirPool.of([np.r_[2.0, np.zeros(99)].astype(np.float32)])
    np.testing.assert_allclose(identity.reverberate(clean, rng), clean, atol=1e-5)
    echo = RirPool.of([np.r_[1.0, np.zeros(9), 0.5].astype(np.float32)])
    out = echo.reverberate(clean, rng)
    assert out.shape == clean.shape
    np.testing.assert_allclose(out[10:], clean[10:] + 0.5 * clean[:-10], atol=1e-4)


def test_early_part_keeps_the_direct_sound_and_the_first_reflections_only():
    rir = np.zeros(2000, np.float32)
    rir[[100, 300, 1500]] = [1.0, 0.5, 0.25]  # direct sound, an early and a late reflection
    early = early_part(rir, 0.05, 16000)  # 800 samples after the direct sound
    assert early[100] == 1.0 and early[300] == 0.5 and not early[900:].any()
    assert rir[1500] == 0.25  # the input is not changed


def test_reverberate_with_early_draws_the_room_reverberate_would():
    rng_a, rng_b = np.random.default_rng(4), np.random.default_rng(4)
    clean = np.random.default_rng(0).normal(size=4000).astype(np.float32)
    rooms = RirPool.of([np.r_[1.0, np.zeros(1599), 0.5].astype(np.float32), np.r_[1.0, 0.3].astype(np.float32)])
    full, early = rooms.reverberate_with_early(clean, rng_a, 0.05)
    np.testing.assert_array_equal(full, rooms.reverberate(clean, rng_b))
    assert rng_a.random() == rng_b.random()  # the same draws were used
    assert early.shape == clean.shape and np.isfinite(early).all()


def _tree(root: Path) -> SpeechMixtures:
    import soundfile as sf

    rng = np.random.default_rng(1)
    for spk in range(12):
        (root / "speech").mkdir(parents=True, exist_ok=True)
        sf.write(root / "speech" / f"{spk + 10}-1-0001.flac", rng.normal(0, 0.1, 16000 * 3), 16000)
    for fam in ("rain", "keys"):
        (root / "noise" / fam).mkdir(parents=True, exist_ok=True)
        for i in range(4):
            sf.write(root / "noise" / fam / f"{i}.flac", rng.normal(0, 0.1, 16000 * 2), 16000)
    (root / "rir").mkdir()
    for i in range(5):
        sf.write(root / "rir" / f"r{i}.flac", np.r_[1.0, rng.normal(0, 0.05, 800)], 16000)
    return SpeechMixtures(speech=(str(root / "speech"),), split_by="speaker", validation_fraction=0.25,
                          noise=str(root / "noise"), noise_validation_fraction=0.25, validation_noise_prob=1.0,
                          rir=str(root / "rir"), rir_prob=1.0, rir_validation_fraction=0.2,
                          validation_seconds=(0.5, 1.5), validation_snr_db=(0.0, 5.0))


def test_validation_set_uses_only_held_out_speech_noise_and_rooms(tmp_path):
    recipe = _tree(tmp_path)
    files, items = recipe.validation_set(12, seed=7)
    assert files == recipe.split()[1] and len(files) == 3
    assert {m["family"] for *_, m in items} <= {"rain", "keys"}
    assert all(m["reverb"] for *_, m in items)
    assert all(0.0 <= m["snr_db"] <= 5.0 for *_, m in items)
    lengths = {noisy.size for noisy, *_ in items}
    assert len(lengths) > 1 and all(8000 <= n <= 24000 and n % 320 == 0 for n in lengths)
    again = recipe.validation_set(12, seed=7)[1]
    assert all(np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1]) for a, b in zip(items, again))


def test_noisy_minus_target_is_the_noise_with_reverberant_targets(tmp_path):
    recipe = _tree(tmp_path)
    noisy, clean, meta = recipe.validation_set(1, seed=3)[1][0]

    def p(x) -> float:
        return float(np.mean(np.asarray(x, np.float64) ** 2))

    assert 10 * np.log10(p(clean) / p(noisy - clean)) == pytest.approx(meta["snr_db"], abs=0.01)


@pytest.mark.skipif(not SHARED.is_dir(), reason="needs ../shared")
def test_v2_recipe_holds_out_librispeech_speakers_and_every_noise_family():
    from frcrn.config import load_typed
    from frcrn.training.config import TrainConfig

    root = Path(__file__).resolve().parents[2]
    import os

    cwd = os.getcwd()
    os.chdir(root)
    try:
        data = load_typed(TrainConfig, "configs/train_default_v2.yaml").data
        train, val = data.split()
        noise_train, noise_val = data.noise_split()
    finally:
        os.chdir(cwd)
    spk_val = {speaker_of(p) for p in val if speaker_of(p).startswith("librispeech:")}
    assert len(spk_val) >= 20 and not spk_val & {speaker_of(p) for p in train}
    assert {family_of(p) for p in noise_val} == {family_of(p) for p in noise_train}


def test_eval_v2_synthetic_set_is_the_v2_training_validation_set():
    """configs/eval_v2.yaml copies the v2 training recipe; every shared setting must agree."""
    import dataclasses

    from frcrn.config import load_typed
    from frcrn.evaluation.config import load_config
    from frcrn.training.config import TrainConfig

    root = Path(__file__).resolve().parents[2]
    data = load_typed(TrainConfig, str(root / "configs/train_default_v2.yaml")).data
    synthetic = load_config(str(root / "configs/eval_v2.yaml")).synthetic
    for f in dataclasses.fields(SpeechMixtures):
        assert getattr(synthetic, f.name) == getattr(data, f.name), f.name
    assert (synthetic.count, synthetic.seed) == (data.validation_items, data.validation_seed)


def test_an_early_target_keeps_the_whole_room_in_the_mixture_and_its_early_part_in_the_target(tmp_path):
    """With rir_early_seconds the noisy item is the same as without (same seed), and the target is
    the speech through the first part of the room only, at the mixture's gain: quieter, since the
    test rooms' tail (taps 160-800) holds most of their energy."""
    import dataclasses

    recipe = _tree(tmp_path)
    (noisy, clean, _), = recipe.validation_set(1, seed=3)[1]
    (noisy_e, clean_e, meta_e), = dataclasses.replace(recipe, rir_early_seconds=0.01).validation_set(1, seed=3)[1]
    np.testing.assert_array_equal(noisy, noisy_e)
    assert meta_e["reverb"]
    assert np.mean(clean_e.astype(np.float64) ** 2) < 0.7 * np.mean(clean.astype(np.float64) ** 2)
    with pytest.raises(ValueError, match="rir_early_seconds"):
        dataclasses.replace(recipe, rir_early_seconds=-1.0)
