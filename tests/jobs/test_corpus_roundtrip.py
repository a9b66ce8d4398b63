"""Round trip through the job: a corpus in each ecosystem's format (written by that ecosystem's own
library where one exists) is read, enhanced and exported back to the same format, and the fields
the corpus carried come back equal, now pointing at the enhanced audio."""

from __future__ import annotations

import gzip
import json

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from jobs.config import load_config
from jobs.export import export
from jobs.pipeline import run_job

from .conftest import ROOT, model_overrides, tone

LOCAL = str(ROOT / "configs" / "local.yaml")
TEXTS = {"a-1": "hello there", "a-2": 'she said "hi"', "b-1": "goodbye"}


def _audio(folder):
    folder.mkdir(parents=True, exist_ok=True)
    for i, name in enumerate("ab"):
        sf.write(folder / f"{name}.wav", tone(3.0, 16000, seed=i), 16000)


def _run_and_export(tmp_path, manifest, to, ray_local, checkpoint, *extra):
    out = tmp_path / "out"
    result = run_job(load_config(LOCAL, [f"input.uri={manifest}", f"output.uri={out}",
                                         *model_overrides(checkpoint), *extra]))
    assert result.exit_code == 0, result.message
    export(str(out), to, dest=str(tmp_path / "export"))
    return out, pd.read_parquet(out / "_manifest" / "results.parquet")


def test_nemo(tmp_path, ray_local, tiny_checkpoint):
    _audio(tmp_path / "corpus" / "wavs")
    lines = [
        {"audio_filepath": "wavs/a.wav", "offset": 0.0, "duration": 1.2, "text": TEXTS["a-1"], "speaker": 3},
        {"audio_filepath": "wavs/a.wav", "offset": 1.5, "duration": 1.0, "text": TEXTS["a-2"], "speaker": 4},
        {"audio_filepath": "wavs/b.wav", "duration": 3.0, "text": TEXTS["b-1"], "speaker": 3},
    ]
    manifest = tmp_path / "corpus" / "train_manifest.json"
    manifest.write_text("".join(json.dumps(line) + "\n" for line in lines))
    out, df = _run_and_export(tmp_path, manifest, "nemo", ray_local, tiny_checkpoint)
    assert (df["manifest_format"] == "nemo").all() and df["output_uri"].nunique() == 2
    exported = [json.loads(line) for line in (tmp_path / "export" / "manifest.jsonl").read_text().splitlines()]
    for before, after in zip(lines, exported):
        assert after["audio_filepath"].startswith(str(out)) and after["audio_filepath"].endswith(".wav")
        assert {k: v for k, v in after.items() if k != "audio_filepath"} == {
            k: v for k, v in before.items() if k != "audio_filepath"}


def test_lhotse(tmp_path, ray_local, tiny_checkpoint, monkeypatch):
    from lhotse import Recording, RecordingSet, SupervisionSegment, SupervisionSet, load_manifest
    from lhotse.qa import validate_recordings_and_supervisions

    monkeypatch.chdir(tmp_path)
    _audio(tmp_path / "corpus" / "wavs")
    recordings = RecordingSet.from_recordings(
        Recording.from_file(tmp_path / "corpus" / "wavs" / f"{n}.wav", recording_id=n) for n in "ab")
    supervisions = SupervisionSet.from_segments([
        SupervisionSegment(id=i, recording_id=i[0], start=s, duration=d, channel=0, text=TEXTS[i], speaker=spk,
                           language="en")
        for i, s, d, spk in (("a-1", 0.0, 1.2, "s1"), ("a-2", 1.5, 1.0, "s2"), ("b-1", 0.5, 2.0, "s1"))])
    recordings.to_file(tmp_path / "corpus" / "demo_recordings_train.jsonl.gz")
    supervisions.to_file(tmp_path / "corpus" / "demo_supervisions_train.jsonl.gz")
    manifest = tmp_path / "corpus" / "demo_supervisions_train.jsonl.gz"
    _, df = _run_and_export(tmp_path, manifest, "lhotse", ray_local, tiny_checkpoint,
                            f"input.root={tmp_path / 'corpus'}")
    assert (df["manifest_format"] == "lhotse").all() and len(df) == 3
    recs = load_manifest(tmp_path / "export" / "recordings.jsonl.gz")
    sups = load_manifest(tmp_path / "export" / "supervisions.jsonl.gz")
    validate_recordings_and_supervisions(recs, sups)
    assert sorted(recs.ids) == ["a", "b"]
    for before in supervisions:
        after = sups[before.id]
        assert (after.recording_id, after.start, after.duration, after.text, after.speaker, after.language) == (
            before.recording_id, before.start, before.duration, before.text, before.speaker, before.language)
        audio = recs[after.recording_id].load_audio(offset=after.start, duration=after.duration)
        assert audio.shape == (1, round(after.duration * 16000))  # the enhanced audio, loaded by lhotse


def test_kaldi(tmp_path, ray_local, tiny_checkpoint):
    from lhotse.kaldi import load_kaldi_data_dir

    _audio(tmp_path / "corpus" / "wavs")
    data = tmp_path / "corpus" / "data" / "train"
    data.mkdir(parents=True)
    wavs = tmp_path / "corpus" / "wavs"
    (data / "wav.scp").write_text(f"a {wavs / 'a.wav'}\nb {wavs / 'b.wav'}\nc sph2pipe -f wav c.sph |\n")
    (data / "segments").write_text("a-1 a 0.00 1.20\na-2 a 1.50 2.50\nb-1 b 0.50 2.50\n")
    (data / "text").write_text("".join(f"{k} {v}\n" for k, v in TEXTS.items()))
    (data / "utt2spk").write_text("a-1 s1\na-2 s2\nb-1 s1\n")
    out = tmp_path / "out"
    result = run_job(load_config(LOCAL, [f"input.uri={data}", f"output.uri={out}", f"input.root={wavs}",
                                         *model_overrides(tiny_checkpoint)]))
    df = pd.read_parquet(out / "_manifest" / "results.parquet")
    assert result.exit_code == 3  # the pipe entry is an error row of its own
    pipe = df[df["error_type"] == "unsupported_pipe"]
    assert len(pipe) == 1 and "sph2pipe" in pipe.iloc[0]["error_message"]
    export(str(out), "kaldi", dest=str(tmp_path / "export"))
    recs, sups, _ = load_kaldi_data_dir(tmp_path / "export", sampling_rate=16000)
    assert sorted(recs.ids) == ["a", "b"]
    for utt, rec, start, end, spk in (("a-1", "a", 0.0, 1.2, "s1"), ("a-2", "a", 1.5, 2.5, "s2"),
                                      ("b-1", "b", 0.5, 2.5, "s1")):
        s = sups[utt]
        assert (s.recording_id, s.text, s.speaker) == (rec, TEXTS[utt], spk)
        assert s.start == pytest.approx(start) and s.end == pytest.approx(end)


def test_hugging_face_parquet_with_embedded_audio(tmp_path, ray_local, tiny_checkpoint):
    from datasets import Audio, Dataset, load_dataset

    rng = np.random.default_rng(0)
    clips = [tone(1.0 + i * 0.5, 16000, seed=i) + 0.01 * rng.standard_normal(16000 + i * 8000).astype("float32")
             for i in range(3)]
    encoded = []
    for i, clip in enumerate(clips):
        path = tmp_path / f"clip{i}.wav"
        sf.write(path, clip, 16000)
        encoded.append({"bytes": path.read_bytes(), "path": f"clip{i}.wav"})
    ds = Dataset.from_dict({"audio": encoded, "sentence": ["one", "two", "three"], "id": [10, 11, 12]})
    ds = ds.cast_column("audio", Audio(decode=False))
    shard = tmp_path / "corpus" / "data" / "train-00000-of-00001.parquet"
    shard.parent.mkdir(parents=True)
    ds.to_parquet(str(shard))
    out, df = _run_and_export(tmp_path, shard, "hf", ray_local, tiny_checkpoint)
    assert (df["manifest_format"] == "hf").all() and df["input_uri"].str.contains("#row=").all()
    assert df["output_uri"].tolist() == [str(out / "train-00000-of-00001" / f"clip{i}.wav")
                                         for i in range(3)]
    loaded = load_dataset("parquet", data_files=str(tmp_path / "export" / "data" / "*.parquet"), split="train",
                          cache_dir=str(tmp_path / "cache"))
    assert isinstance(loaded.features["audio"], Audio)
    assert loaded["sentence"] == ["one", "two", "three"] and loaded["id"] == [10, 11, 12]
    raw = loaded.cast_column("audio", Audio(decode=False))
    for item, clip in zip(raw["audio"], clips):
        samples, rate = sf.read(__import__("io").BytesIO(item["bytes"]))
        assert rate == 16000 and samples.shape == clip.shape  # the enhanced audio, one clip per row


def test_common_voice_tsv_exported_as_nemo(tmp_path, ray_local, tiny_checkpoint):
    clips = tmp_path / "cv" / "clips"
    clips.mkdir(parents=True)
    for i in range(2):
        sf.write(clips / f"common_voice_en_{i}.wav", tone(1.5, 16000, seed=i), 16000)
    header = "client_id\tpath\tsentence\tup_votes\tdown_votes\tage\tgender\taccents\tvariant\tlocale\tsegment\n"
    rows = [f"c{i}\tcommon_voice_en_{i}.wav\tSentence \"{i}\".\t2\t0\tthirties\t\t\t\ten\t\n" for i in range(2)]
    (tmp_path / "cv" / "validated.tsv").write_text(header + "".join(rows))
    _, df = _run_and_export(tmp_path, tmp_path / "cv" / "validated.tsv", "nemo", ray_local, tiny_checkpoint)
    assert (df["manifest_format"] == "tsv").all()
    exported = [json.loads(line) for line in (tmp_path / "export" / "manifest.jsonl").read_text().splitlines()]
    assert [e["sentence"] for e in exported] == ['Sentence "0".', 'Sentence "1".']
    assert [e["client_id"] for e in exported] == ["c0", "c1"] and all(e["duration"] == 1.5 for e in exported)


def test_gzip_is_read_by_name(tmp_path, ray_local, tiny_checkpoint):
    _audio(tmp_path / "corpus")
    manifest = tmp_path / "corpus" / "m.jsonl.gz"
    with gzip.open(manifest, "wt") as f:
        f.write(json.dumps({"audio_filepath": "a.wav", "text": "x"}) + "\n")
    _, df = _run_and_export(tmp_path, manifest, "nemo", ray_local, tiny_checkpoint)
    assert df["text"].tolist() == ["x"] and df["manifest_format"].tolist() == ["nemo"]
