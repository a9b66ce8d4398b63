"""frcrn.evaluation: `frcrn eval` on synthetic, paired and unpaired sets."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
import soundfile as sf
import torch

from frcrn import evaluation as ev
from frcrn.cli.eval import eval_main
from frcrn.config import ConfigError
from frcrn.enhance import EnhanceConfig
from frcrn.evaluation.sets import pair_files, synthetic_items

ROOT = Path(__file__).resolve().parents[2]
SHARED = ROOT.parent / "shared"
SPEECH_GLOB = str(SHARED / "data" / "dns_no_reverb_frcrn_enhanced" / "*.wav")
DNSMOS_MODEL = SHARED / "dnsmos" / "sig_bak_ovr.onnx"
EXAMPLES = str(SHARED / "examples" / "*.wav")
LABELS = ["PESQ-WB", "PESQ-NB", "STOI", "ESTOI", "SI-SDR", "DNSMOS SIG", "DNSMOS BAK", "DNSMOS OVRL"]

needs_shared = pytest.mark.skipif(not DNSMOS_MODEL.exists() or not list((SHARED / "data").glob("*/*.wav")),
                                  reason="../shared not present")


@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory) -> str:
    from frcrn.model.checkpoint import save_checkpoint
    from frcrn.model.config import ModelConfig
    from frcrn.model.network import FRCRN

    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("ckpt") / "tiny.safetensors"
    save_checkpoint(FRCRN(ModelConfig(width=16, fsmn_hidden=16)).eval(), path, model_id="tiny-random")
    return str(path)


@pytest.fixture(autouse=True)
def _restore_torch_threads():
    """The evaluations below run torch single-threaded (fast on a busy machine); undo that after."""
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


def _config(tmp_path: Path, checkpoint: str, **changes) -> ev.EvalConfig:
    base = ev.EvalConfig(checkpoint=checkpoint, output=str(tmp_path / "out" / "items.parquet"),
                         enhance=EnhanceConfig(device="cpu", num_threads=1), progress=False, dnsmos_threads=1)
    return dataclasses.replace(base, **changes)


def test_default_config_file_matches_the_built_in_defaults():
    assert ev.load_config(str(ROOT / "configs" / "eval_default.yaml")) == ev.EvalConfig()


def test_synthetic_defaults_are_the_default_training_runs_validation_set():
    import yaml

    from frcrn.training.config import DataConfig

    train = yaml.safe_load((ROOT / "configs" / "train_default.yaml").read_text())["data"]
    data = dataclasses.replace(DataConfig(), **{k: (tuple(v) if isinstance(v, list) else v) for k, v in train.items()})
    s = ev.SyntheticSet()
    assert (s.speech, s.validation_fraction, s.split_seed, s.count, s.seed, s.crop_seconds, s.snr_db, s.level_dbfs) == (
        data.speech, data.validation_fraction, data.split_seed, data.validation_items, data.validation_seed,
        data.crop_seconds, tuple(data.snr_db), tuple(data.level_dbfs))


def test_config_errors_name_the_key():
    with pytest.raises(ConfigError, match=r"did you mean 'synthetic.count'"):
        ev.load_config(None, ["synthetic.cout=3"])
    with pytest.raises(ConfigError, match="pair_by"):
        ev.load_config(None, ["paired.pair_by=stem"])
    with pytest.raises(ConfigError, match="snr_db"):
        ev.load_config(None, ["synthetic.snr_db=[5, 1]"])
    with pytest.raises(ConfigError, match="batch_size"):
        ev.load_config(None, ["enhance.batch_size=-1"])


@needs_shared
def test_synthetic_items_are_the_training_validation_mixtures():
    from frcrn.audio.files import audio_files, load_clips
    from frcrn.training.config import DataConfig
    from frcrn.training.mixtures import make_validation_set, split_speech_files

    items = synthetic_items(ev.SyntheticSet(count=2))
    data = DataConfig(crop_seconds=2.0)
    _, val = split_speech_files(audio_files(data.speech), data.validation_fraction, data.split_seed)
    want = make_validation_set(load_clips(val), 2, data.validation_seed, data.mixture_config())
    for item, (noisy, clean, meta) in zip(items, want):
        got_noisy, got_clean = item.load()
        assert np.array_equal(got_noisy, noisy) and np.array_equal(got_clean, clean)
        assert got_noisy.size == 32000 and item.info["snr_db"] == meta["snr_db"]


@needs_shared
def test_run_eval_synthetic_and_unpaired(tmp_path, tiny_checkpoint, capsys):
    config = _config(tmp_path, tiny_checkpoint, dnsmos_model=str(DNSMOS_MODEL), unpaired=EXAMPLES,
                     synthetic=ev.SyntheticSet(speech=SPEECH_GLOB, count=2, crop_seconds=2.0))
    summary = ev.run_eval(config)

    assert list(summary.index) == LABELS and list(summary.columns) == ["noisy", "enhanced", "improvement"]
    assert summary.notna().all().all()
    assert np.allclose(summary["improvement"], summary["enhanced"] - summary["noisy"])
    assert summary.attrs["count"]["PESQ-WB"] == 2 and summary.attrs["count"]["DNSMOS OVRL"] == 4
    # the unpaired examples' noisy DNSMOS is the README's 2.32 / 1.49 / 1.51
    items = pd.read_parquet(config.output)
    examples = items[items["set"] == "unpaired"]
    assert examples["dnsmos_sig_noisy"].mean() == pytest.approx(2.32, abs=0.01)
    assert examples["dnsmos_bak_noisy"].mean() == pytest.approx(1.49, abs=0.01)
    assert examples["dnsmos_ovrl_noisy"].mean() == pytest.approx(1.51, abs=0.01)
    assert examples["pesq_wb_noisy"].isna().all()

    assert list(items["set"]) == ["synthetic", "synthetic", "unpaired", "unpaired"]
    for stem, _ in ev.METRICS:
        assert f"{stem}_noisy" in items and f"{stem}_enhanced" in items
    synthetic = items[items["set"] == "synthetic"]
    assert synthetic[["pesq_wb_enhanced", "stoi_noisy", "si_sdr_noisy", "dnsmos_ovrl_enhanced"]].notna().all().all()
    # noisy SI-SDR of a synthetic mixture is about its mixing SNR (noise may correlate with the speech)
    assert np.allclose(synthetic["si_sdr_noisy"], synthetic["snr_db"], atol=1.0)
    assert (synthetic["duration_s"] == 2.0).all() and (items["error"] == "").all()

    meta = pq.read_schema(config.output).metadata[b"frcrn_eval"]
    assert b"tiny-random" in meta and b"sha256" in meta

    out = capsys.readouterr().out
    assert "metric" in out and "improvement" in out and "DNSMOS OVRL" in out and "unpaired (2 items)" in out


@needs_shared
def test_model_path_reproduces_the_training_validation_numbers(tmp_path, tiny_checkpoint):
    from frcrn.model.checkpoint import load_checkpoint
    from frcrn.training.validation import validate

    synthetic = ev.SyntheticSet(speech=SPEECH_GLOB, count=3, crop_seconds=2.0)
    config = _config(tmp_path, tiny_checkpoint, path="model", metrics=("si_sdr",), dnsmos_model=None,
                     unpaired=None, output=None, synthetic=synthetic)
    _, summary, _ = ev.evaluate(config, log=lambda _: None)
    model, _ = load_checkpoint(tiny_checkpoint)
    want = validate(model, [(*item.load(), {}) for item in synthetic_items(synthetic)])
    # SI-SDR removes the mean, training's SI-SNR does not: equal to ~0.01 dB on these mixtures
    assert summary.loc["SI-SDR", "noisy"] == pytest.approx(want["si_snr_noisy"], abs=0.02)
    assert summary.loc["SI-SDR", "enhanced"] == pytest.approx(want["si_snr_enhanced"], abs=0.02)


def _write_pairs(root: Path, names: list[str], seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    t = np.arange(int(1.5 * 16000)) / 16000
    for i, name in enumerate(names):
        # a voiced-like tone burst pattern that PESQ/STOI accept as speech
        clean = 0.1 * np.sin(2 * np.pi * (150 + 20 * i) * t) * (1 + np.sin(2 * np.pi * 3 * t)) / 2
        clean += 0.05 * np.sin(2 * np.pi * 900 * t) * (np.sin(2 * np.pi * 2 * t) > 0)
        noisy = clean + 0.02 * rng.standard_normal(t.size)
        for kind, signal in (("clean", clean), ("noisy", noisy)):
            path = root / kind / name
            path.parent.mkdir(parents=True, exist_ok=True)
            sf.write(path, signal.astype(np.float32), 16000, subtype="PCM_16")


def test_paired_globs_match_by_relative_path(tmp_path, tiny_checkpoint):
    _write_pairs(tmp_path, ["a.wav", "sub/b.wav", "sub/c.flac"])
    config = _config(tmp_path, tiny_checkpoint, synthetic=ev.SyntheticSet(enabled=False), unpaired=None,
                     dnsmos_model=None,
                     paired=ev.PairedSet(noisy=str(tmp_path / "noisy" / "**" / "*.*"),
                                         clean=str(tmp_path / "clean")))
    summary = ev.run_eval(config)
    items = pd.read_parquet(config.output)
    assert sorted(items["item"]) == ["a.wav", "sub/b.wav", "sub/c.flac"]
    assert (items["pairing"] == "relative_path").all()
    assert all(Path(c).name == Path(n).name for c, n in zip(items["clean_source"], items["noisy_source"]))
    assert items[["pesq_wb_noisy", "stoi_enhanced", "si_sdr_noisy"]].notna().all().all()
    assert summary.loc["SI-SDR"].notna().all() and summary.loc["DNSMOS SIG"].isna().all()
    assert "dnsmos_sig_noisy" not in items


def test_paired_table_manifest_and_length_mismatch(tmp_path, tiny_checkpoint):
    _write_pairs(tmp_path, ["x.wav", "y.wav"])
    clean_y = tmp_path / "clean" / "y.wav"
    audio, rate = sf.read(clean_y)
    sf.write(clean_y, audio[:-160], rate, subtype="PCM_16")
    pd.DataFrame({"noisy": ["noisy/x.wav", "noisy/y.wav"],
                  "clean": ["clean/x.wav", str(clean_y)]}).to_csv(tmp_path / "pairs.csv", index=False)
    config = _config(tmp_path, tiny_checkpoint, synthetic=ev.SyntheticSet(enabled=False), unpaired=None,
                     dnsmos_model=None, paired=ev.PairedSet(manifest=str(tmp_path / "pairs.csv")))
    ev.run_eval(config)
    items = pd.read_parquet(config.output).set_index("item")
    assert list(items.index) == ["noisy/x.wav", "noisy/y.wav"]
    assert items.loc["noisy/y.wav", "duration_s"] == pytest.approx((1.5 * 16000 - 160) / 16000)
    assert "cut to the shorter" in items.loc["noisy/y.wav", "notes"]
    assert items["si_sdr_enhanced"].notna().all()


def test_pairing_by_name_and_fileid():
    noisy = [("a/one.wav", "n/a/one.wav"), ("b/two.wav", "n/b/two.wav")]
    clean = [("one.wav", "c/one.wav"), ("two.wav", "c/two.wav")]
    pairs, missing, how = pair_files(noisy, clean)
    assert how == "name" and not missing and [p[2] for p in pairs] == ["c/one.wav", "c/two.wav"]
    noisy = [("book_07_snr5_fileid_12.wav", "n/12"), ("door_snr0_fileid_3.wav", "n/3"), ("other.wav", "n/x")]
    clean = [("clean_fileid_3.wav", "c/3"), ("clean_fileid_12.wav", "c/12")]
    pairs, missing, how = pair_files(noisy, clean)
    assert how == "fileid" and missing == ["other.wav"] and [(p[1], p[2]) for p in pairs] == [
        ("n/12", "c/12"), ("n/3", "c/3")]


def test_unmatched_files_fail_unless_allowed(tmp_path, tiny_checkpoint, capsys):
    _write_pairs(tmp_path, ["a.wav", "b.wav"])
    (tmp_path / "clean" / "b.wav").unlink()
    overrides = ["synthetic.enabled=false", "unpaired=null", "dnsmos_model=null", "progress=false",
                 f"checkpoint={tiny_checkpoint}", f"output={tmp_path / 'o.parquet'}",
                 f"paired.noisy={tmp_path / 'noisy'}", f"paired.clean={tmp_path / 'clean'}"]
    assert eval_main(overrides) == 2
    assert "1 of 2 noisy files have no clean match" in capsys.readouterr().err
    config_file = tmp_path / "eval.yaml"
    config_file.write_text("paired:\n  allow_unmatched: true\nenhance:\n  device: cpu\n  num_threads: 1\n")
    assert eval_main([str(config_file)] + overrides) == 0
    captured = capsys.readouterr()
    assert "skipped" in captured.err and "PESQ-WB" in captured.out
    assert list(pd.read_parquet(tmp_path / "o.parquet")["item"]) == ["a.wav"]


def test_eval_main_reports_a_missing_checkpoint(tmp_path, capsys):
    code = eval_main([f"checkpoint={tmp_path / 'nope.safetensors'}", "synthetic.enabled=false",
                         f"unpaired={EXAMPLES}", "dnsmos_model=null"])
    assert code == 2 and "checkpoint not found" in capsys.readouterr().err


def test_summary_skips_undefined_values():
    items = pd.DataFrame({"si_sdr_noisy": [1.0, 3.0, math.nan], "si_sdr_enhanced": [5.0, math.nan, 9.0],
                          "stoi_noisy": [0.5, 0.7, 0.9], "stoi_enhanced": [0.6, 0.8, 1.0]})
    s = ev.summarize(items)
    assert s.loc["SI-SDR"].tolist() == [1.0, 5.0, 4.0] and s.attrs["count"]["SI-SDR"] == 1
    assert s.loc["STOI"].tolist() == pytest.approx([0.7, 0.8, 0.1])
    assert s.loc["PESQ-WB"].isna().all()
    text = ev.format_summary(s)
    assert "SI-SDR" in text and "+4.000" in text and "PESQ-WB" not in text


def test_room_summaries_split_the_synthetic_items_into_dry_and_reverberant():
    """Reverberant items are scored against reverberant speech, so they are summarised apart;
    unpaired recordings and failed items are in neither."""
    items = pd.DataFrame({"set": ["synthetic", "synthetic", "synthetic", "synthetic", "unpaired"],
                          "reverb": [False, False, True, True, None], "error": ["", "", "", "boom", ""],
                          "si_sdr_noisy": [0.0, 2.0, 4.0, 9.0, math.nan],
                          "si_sdr_enhanced": [10.0, 12.0, 7.0, 9.0, math.nan]})
    rooms = ev.room_summaries(items)
    assert list(rooms) == ["dry", "reverberant"]
    assert rooms["dry"].loc["SI-SDR"].tolist() == [1.0, 11.0, 10.0] and rooms["dry"].attrs["count"]["SI-SDR"] == 2
    assert rooms["reverberant"].loc["SI-SDR"].tolist() == [4.0, 7.0, 3.0]
    assert ev.room_summaries(items[items["reverb"] != True]) == {}  # noqa: E712 - one kind only: no split
