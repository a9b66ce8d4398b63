"""NeMo manifests: ``audio_filepath`` is the entry; a line with ``offset`` is a segment, a line
without it the whole file (NeMo writes ``duration`` on every line); all other keys are carried."""

from __future__ import annotations

import json
import math

import fsspec
import pytest

from frcrn.corpus.readers import read_manifest
from frcrn.corpus.rows import MALFORMED_LINE, ManifestFormatError

from .conftest import write_lines

WHOLE = {"audio_filepath": "clips/a.wav", "duration": 3.2, "text": "hello there", "lang": "en"}
SEGMENT = {"audio_filepath": "/data/long.flac", "offset": 12.5, "duration": 4.0, "text": "a part"}


def test_whole_files_and_segments(fs, tmp_path):
    path = write_lines(tmp_path / "train_manifest.json", [WHOLE, SEGMENT, {"audio_filepath": "b.wav", "offset": 2}])
    read = read_manifest(fs, str(path))
    rows = read.rows
    assert read.format == "nemo" and read.note == "NeMo manifest"
    assert rows["__entry"].tolist() == ["clips/a.wav", "/data/long.flac", "b.wav"]
    assert math.isnan(rows.iloc[0]["__offset"]) and math.isnan(rows.iloc[0]["__duration"])  # duration alone: whole
    assert (rows.iloc[1]["__offset"], rows.iloc[1]["__duration"]) == (12.5, 4.0)
    assert rows.iloc[2]["__offset"] == 2.0 and math.isnan(rows.iloc[2]["__duration"])  # offset alone: to the end
    assert rows["__base"].tolist() == [str(tmp_path)] * 3


def test_every_key_but_the_audio_is_carried_under_its_own_name(fs, tmp_path):
    rows = read_manifest(fs, str(write_lines(tmp_path / "m.jsonl", [WHOLE, SEGMENT]))).rows
    assert "audio_filepath" not in rows.columns
    assert rows["duration"].tolist() == [3.2, 4.0] and rows["text"].tolist() == ["hello there", "a part"]
    assert rows.iloc[0]["lang"] == "en" and math.isnan(rows.iloc[0]["offset"]) and rows.iloc[1]["offset"] == 12.5


def test_each_kind_of_bad_line_is_its_own_error_row(fs, tmp_path):
    path = write_lines(tmp_path / "m.jsonl", [
        WHOLE,
        {"path": "x.wav", "text": "wrong key"},
        {"audio_filepath": "c.wav", "offset": -1.0, "duration": 2.0},
        {"audio_filepath": "d.wav", "offset": 0.5, "duration": "2.0"},
        '{"audio_filepath": "e.wav", "duration": 1.0',
        {"audio_filepath": "", "duration": 1.0},
        SEGMENT,
    ])
    rows = read_manifest(fs, str(path)).rows
    assert rows["__error_type"].tolist() == ["", *[MALFORMED_LINE] * 5, ""]
    errors = rows["__error"].tolist()
    assert errors[1] == f"line 2 of {path}: no 'audio_filepath'"
    assert errors[2] == f"line 3 of {path}: offset -1.0 is not a number of seconds >= 0"
    assert errors[3] == f"line 4 of {path}: duration '2.0' is not a number of seconds >= 0"
    assert errors[4].startswith(f"line 5 of {path}: not valid JSON (")
    assert errors[5] == f"line 6 of {path}: no 'audio_filepath' (got '')"
    assert rows.iloc[2]["__entry"] == "c.wav" and rows.iloc[1]["__entry"] is None  # what was there, if anything
    assert rows.iloc[1]["text"] == "wrong key"  # a bad line keeps its fields, for the results table


def test_declared_nemo_that_is_not_says_what_it_found(fs, tmp_path):
    path = write_lines(tmp_path / "m.jsonl", [{"path": "a.wav", "text": "x"}] * 12)
    with pytest.raises(ManifestFormatError, match=r"declared nemo, but none of its 12 lines has 'audio_filepath'; "
                                                  r"keys found: path, text"):
        read_manifest(fs, str(path), fmt="nemo")


def test_read_from_s3_through_s3fs(s3):
    body = "\n".join(json.dumps(x) for x in (WHOLE, SEGMENT)).encode()
    s3["client"].put_object(Bucket=s3["bucket"], Key="corpus/nemo/train.json", Body=body)
    fs = fsspec.filesystem("s3", **s3["options"])
    read = read_manifest(fs, f"{s3['bucket']}/corpus/nemo/train.json")
    assert read.format == "nemo" and read.source == f"s3://{s3['bucket']}/corpus/nemo/train.json"
    assert read.rows["__entry"].tolist() == ["clips/a.wav", "/data/long.flac"]
    assert read.rows["__base"].tolist() == [f"{s3['bucket']}/corpus/nemo"] * 2  # an fs path, as fs takes it
    assert read.rows.iloc[1]["__offset"] == 12.5
