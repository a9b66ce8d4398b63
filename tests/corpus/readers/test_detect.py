"""Auto-detection: the extension narrows the format down, the content decides; an unknown name, a
plain folder, a missing file or a declared format the file is not are errors that say what was found."""

from __future__ import annotations

import gzip
import json
import re

import pandas as pd
import pytest
from datasets import Audio, Dataset
from lhotse import CutSet, Recording, RecordingSet

from frcrn.corpus.readers import detect_format, read_manifest
from frcrn.corpus.rows import FORMATS, ManifestFormatError

from .conftest import wav_bytes, write_lines, write_wav


def _lhotse(tmp_path, monkeypatch, name):
    monkeypatch.chdir(tmp_path)
    write_wav(tmp_path / "a.wav")
    recordings = RecordingSet.from_recordings([Recording.from_file("a.wav")])
    manifest = CutSet.from_manifests(recordings=recordings) if name.startswith("cuts") else recordings
    manifest.to_file(tmp_path / name)
    return tmp_path / name


def _nemo_gz(tmp_path):
    with gzip.open(tmp_path / "m.ndjson.gz", "wt") as f:
        f.write(json.dumps({"audio_filepath": "a.wav", "duration": 1.0}) + "\n")
    return tmp_path / "m.ndjson.gz"


def _hf(tmp_path):
    dataset = Dataset.from_dict({"audio": [{"bytes": wav_bytes(), "path": "a.wav"}]})
    dataset.cast_column("audio", Audio(decode=False)).to_parquet(str(tmp_path / "train-0.parquet"))
    return tmp_path / "train-0.parquet"


def _text(path, body):
    path.write_text(body, encoding="utf-8")
    return path


def _parquet(path):
    pd.DataFrame({"audio_uri": ["a.wav"]}).to_parquet(path)
    return path


def _kaldi(tmp_path, *, name=""):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "wav.scp").write_text("r1 /a.wav\n")
    return tmp_path / "data" / name


MAKERS = {
    "nemo .json": ("nemo", lambda t, m: write_lines(t / "train_manifest.json", [{"audio_filepath": "a.wav"}])),
    "nemo .ndjson.gz": ("nemo", lambda t, m: _nemo_gz(t)),
    "lhotse recordings": ("lhotse", lambda t, m: _lhotse(t, m, "recordings.jsonl.gz")),
    "lhotse cuts": ("lhotse", lambda t, m: _lhotse(t, m, "cuts.jsonl")),
    "lhotse .json array": ("lhotse", lambda t, m: _lhotse(t, m, "recordings.json")),
    "jsonl": ("jsonl", lambda t, m: write_lines(t / "m.jsonl", ["not json", {"audio_uri": "a.wav"}])),
    "hf": ("hf", lambda t, m: _hf(t)),
    "parquet": ("parquet", lambda t, m: _parquet(t / "m.pq")),
    "csv": ("csv", lambda t, m: _text(t / "m.csv", "audio_uri\na.wav\n")),
    "tsv": ("tsv", lambda t, m: _text(t / "train.tsv", "client_id\tpath\tsentence\nc\ta.mp3\thi\n")),
    "kaldi dir": ("kaldi", lambda t, m: _kaldi(t)),
    "kaldi wav.scp": ("kaldi", lambda t, m: _kaldi(t, name="wav.scp")),
}


@pytest.mark.parametrize("case", list(MAKERS))
def test_each_format_is_detected_and_read_as_itself(fs, tmp_path, monkeypatch, case):
    expected, make = MAKERS[case]
    path = str(make(tmp_path, monkeypatch))
    assert detect_format(fs, path) == expected
    read = read_manifest(fs, path)
    assert read.format == expected and len(read.rows) >= 1
    assert (read.rows["__entry"].notna() | (read.rows["__error_type"] != "")).all()


def test_a_folder_without_wav_scp_is_listed_by_the_job_not_read(fs, tmp_path):
    write_wav(tmp_path / "a.wav")
    assert detect_format(fs, str(tmp_path)) == "folder"
    with pytest.raises(ManifestFormatError, match=r"is a folder without wav\.scp, not a manifest"):
        read_manifest(fs, str(tmp_path))


def test_an_unknown_name_lists_what_is_understood(fs, tmp_path):
    (tmp_path / "list.txt").write_text("a.wav\n")
    with pytest.raises(ManifestFormatError) as err:
        read_manifest(fs, str(tmp_path / "list.txt"))
    message = str(err.value)
    assert "list.txt" in message and "input.format" in message
    assert all(ext in message for ext in (".csv", ".tsv", ".parquet", ".jsonl", "wav.scp"))
    assert all(fmt in message for fmt in FORMATS)


def test_missing_manifest_and_unknown_declared_format(fs, tmp_path):
    with pytest.raises(ManifestFormatError, match=re.escape(f"manifest not found: {tmp_path}/nope.csv")):
        read_manifest(fs, str(tmp_path / "nope.csv"))
    (tmp_path / "m.csv").write_text("audio_uri\na.wav\n")
    with pytest.raises(ManifestFormatError, match="unknown manifest format 'yaml'"):
        read_manifest(fs, str(tmp_path / "m.csv"), fmt="yaml")


def test_a_declared_format_skips_detection(fs, tmp_path):
    """A NeMo-looking file declared jsonl is a plain table: ``audio_filepath`` is just a column."""
    path = write_lines(tmp_path / "m.jsonl", [{"audio_filepath": "a.wav", "offset": 1.0, "duration": 2.0}])
    read = read_manifest(fs, str(path), fmt="jsonl", column="audio_filepath")
    assert read.format == "jsonl" and read.rows["__offset"].isna().all() and read.rows["offset"].tolist() == [1.0]
