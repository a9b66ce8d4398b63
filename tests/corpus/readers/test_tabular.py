"""Plain tables (CSV, Parquet, JSON lines): the entry in ``column``, every other column carried as
pandas types it, and one bad line is one error row, never a failed manifest."""

from __future__ import annotations

import gzip
import json
import math

import pandas as pd
import pytest

from frcrn.corpus.readers import read_manifest
from frcrn.corpus.rows import MALFORMED_LINE, ManifestFormatError

from .conftest import write_lines


def test_csv_entries_carried_columns_and_lines(fs, tmp_path):
    path = tmp_path / "m" / "train.csv"
    path.parent.mkdir()
    pd.DataFrame({"audio_uri": ["a.wav", "sub/b.wav", None], "speaker": ["s1", "s2", "s3"],
                  "score": [1, 2, 3]}).to_csv(path, index=False)
    read = read_manifest(fs, str(path))
    rows = read.rows
    assert read.format == "csv" and read.source == str(path)
    assert rows["__entry"].tolist() == ["a.wav", "sub/b.wav", None]  # an empty cell: no entry, no error here
    assert set(rows["__base"]) == {str(tmp_path / "m")}
    assert rows["__line"].tolist() == [2, 3, 4]  # the header is line 1
    assert rows["score"].tolist() == [1, 2, 3] and rows["score"].dtype == "int64"  # types as pandas gives them
    assert (rows["__error_type"] == "").all() and rows["__offset"].isna().all()


def test_csv_record_longer_than_the_header_is_one_error_row(fs, tmp_path):
    path = tmp_path / "m.csv"
    path.write_text("audio_uri,speaker,score\na.wav,s1,1\nb.wav,s2,2,extra\nc.wav,\"s3, jr\",3\n")
    rows = read_manifest(fs, str(path)).rows
    assert rows["__entry"].tolist() == ["a.wav", None, "c.wav"]
    bad = rows.iloc[1]
    assert bad["__error_type"] == MALFORMED_LINE and bad["__line"] == 3
    assert bad["__error"] == f"line 3 of {path}: 4 fields, the header has 3"
    assert rows.iloc[2]["speaker"] == "s3, jr" and rows.iloc[2]["score"] == 3  # the good rows keep their types


def test_missing_entry_column_names_the_columns_and_the_likely_one(fs, tmp_path):
    path = tmp_path / "m.csv"
    path.write_text("audio_url,speaker\na.wav,s1\n")
    with pytest.raises(ManifestFormatError, match=r"has no column 'audio_uri'; did you mean 'audio_url' "
                                                  r"\(set input.column\)\? \(columns: audio_url, speaker\)"):
        read_manifest(fs, str(path))
    assert read_manifest(fs, str(path), column="audio_url").rows["__entry"].tolist() == ["a.wav"]


@pytest.mark.parametrize("name, body, needle", [
    ("latin1.csv", "audio_uri,speaker\na.wav,Ren\xe9e\n".encode("latin-1"), "utf-8"),
    ("empty.csv", b"", "cannot read manifest"),
    ("not.parquet", b"PAR1 this is not parquet", "cannot read manifest"),
])
def test_unreadable_tables_fail_as_a_whole(fs, tmp_path, name, body, needle):
    (tmp_path / name).write_bytes(body)
    with pytest.raises(ManifestFormatError) as err:
        read_manifest(fs, str(tmp_path / name))
    assert needle in str(err.value).lower() and name in str(err.value)


def test_parquet_rows_are_numbered_by_row(fs, tmp_path):
    path = tmp_path / "m.parquet"
    pd.DataFrame({"audio_uri": ["a.wav", "b.wav"], "dur": [1.5, 2.5]}).to_parquet(path)
    rows = read_manifest(fs, str(path)).rows
    assert rows["__entry"].tolist() == ["a.wav", "b.wav"] and rows["__line"].tolist() == [1, 2]
    assert rows["dur"].tolist() == [1.5, 2.5]


def test_jsonl_bad_lines_are_error_rows_and_blank_lines_are_skipped(fs, tmp_path):
    path = write_lines(tmp_path / "m.jsonl", [
        {"audio_uri": "a.wav", "text": "one"},
        "",
        '{"audio_uri": "b.wav", "text": }',
        "[1, 2]",
        {"text": "no entry"},
        {"audio_uri": "c.wav", "text": "three", "extra": {"k": 1}},
    ])
    with path.open("ab") as f:
        f.write(b'{"audio_uri": "d.wav", "text": "Ren\xe9e"}\n')
    rows = read_manifest(fs, str(path)).rows
    assert rows["__line"].tolist() == [1, 3, 4, 5, 6, 7]  # line 2 was blank
    assert rows["__entry"].tolist() == ["a.wav", None, None, None, "c.wav", None]
    assert rows["__error_type"].tolist() == ["", MALFORMED_LINE, MALFORMED_LINE, "", "", MALFORMED_LINE]
    assert rows.iloc[1]["__error"].startswith(f"line 3 of {path}: not valid JSON (Expecting value")
    assert rows.iloc[2]["__error"] == f"line 4 of {path}: a JSON list, not an object"
    assert "line 7" in rows.iloc[5]["__error"] and "not UTF-8" in rows.iloc[5]["__error"]
    assert rows.iloc[4]["extra"] == {"k": 1} and rows.iloc[3]["text"] == "no entry"


def test_jsonl_gzipped_and_json_arrays_read_the_same(fs, tmp_path):
    records = [{"audio_uri": "a.wav", "n": 1}, {"audio_uri": "b.wav", "n": 2}]
    with gzip.open(tmp_path / "m.jsonl.gz", "wt") as f:
        f.write("\n".join(json.dumps(r) for r in records))
    (tmp_path / "m.json").write_text(json.dumps(records, indent=2))
    for name in ("m.jsonl.gz", "m.json"):
        read = read_manifest(fs, str(tmp_path / name))
        assert read.format == "jsonl"
        assert read.rows["__entry"].tolist() == ["a.wav", "b.wav"] and read.rows["n"].tolist() == [1, 2]
        assert read.rows["__line"].tolist() == [1, 2]


def test_jsonl_where_nothing_parses_is_not_a_manifest(fs, tmp_path):
    (tmp_path / "m.jsonl").write_bytes(b"\x00\x01garbage\nmore garbage\n")
    with pytest.raises(ManifestFormatError, match=r"none of its 2 lines is a JSON object"):
        read_manifest(fs, str(tmp_path / "m.jsonl"))


def test_declared_csv_reads_any_name(fs, tmp_path):
    path = tmp_path / "list.txt"
    path.write_text("audio_uri\na.wav\n")
    rows = read_manifest(fs, str(path), fmt="csv").rows
    assert rows["__entry"].tolist() == ["a.wav"] and math.isnan(rows.iloc[0]["__duration"])
