"""Common Voice TSVs as Common Voice writes them (tabs, no quoting, a ``"`` in a sentence is just a
character): entries are clip names under ``clips/``, every other column is carried as text."""

from __future__ import annotations

import pytest

from frcrn.corpus.readers import read_manifest
from frcrn.corpus.rows import MALFORMED_LINE, ManifestFormatError

HEADER = "client_id\tpath\tsentence\tup_votes\tdown_votes\tage\tgender\taccents\tvariant\tlocale\tsegment"
LINES = [
    "c1ab\tcommon_voice_en_1.mp3\tShe said \"hello\" twice.\t2\t0\ttwenties\tfemale_feminine\t\t\ten\t",
    "c2cd\tcommon_voice_en_2.mp3\tA second sentence.\t3\t1\t\t\tUnited States English\t\ten\tBenchmark",
]


def _tsv(path, lines):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join([HEADER, *lines]) + "\n", encoding="utf-8")
    return path


def test_common_voice_clips_and_text_columns(fs, tmp_path):
    path = _tsv(tmp_path / "cv-corpus" / "en" / "train.tsv", LINES)
    (path.parent / "clips").mkdir()
    read = read_manifest(fs, str(path))
    rows = read.rows
    assert read.format == "tsv" and read.note == f"Common Voice TSV, clips in {path.parent / 'clips'}"
    assert rows["__entry"].tolist() == ["common_voice_en_1.mp3", "common_voice_en_2.mp3"]
    assert rows["__base"].tolist() == [str(path.parent / "clips")] * 2
    assert rows["__line"].tolist() == [2, 3]
    assert rows.iloc[0]["sentence"] == 'She said "hello" twice.'  # no quoting: the quotes are text
    assert rows["up_votes"].tolist() == ["2", "3"]  # every column as text
    assert rows.iloc[0]["accents"] == "" and rows.iloc[1]["segment"] == "Benchmark"  # empty stays ""
    assert "path" not in rows.columns and rows.iloc[1]["client_id"] == "c2cd"


def test_without_a_clips_folder_entries_resolve_beside_the_tsv(fs, tmp_path):
    path = _tsv(tmp_path / "validated.tsv", LINES)
    assert read_manifest(fs, str(path)).rows["__base"].tolist() == [str(tmp_path)] * 2


def test_a_line_with_the_wrong_number_of_fields_is_an_error_row(fs, tmp_path):
    path = _tsv(tmp_path / "dev.tsv", [LINES[0], "c3\tcommon_voice_en_3.mp3\tshort line", "", LINES[1]])
    rows = read_manifest(fs, str(path)).rows
    assert rows["__line"].tolist() == [2, 3, 5]  # the blank line 4 is no row
    assert rows["__error_type"].tolist() == ["", MALFORMED_LINE, ""]
    assert rows.iloc[1]["__error"] == f"line 3 of {path}: 3 tab-separated fields, the header has 11"
    assert rows.iloc[2]["__entry"] == "common_voice_en_2.mp3"


def test_a_plain_tsv_uses_the_entry_column(fs, tmp_path):
    path = tmp_path / "list.tsv"
    path.write_text("audio_uri\tspeaker\nsub/a.wav\ts1\n", encoding="utf-8")
    read = read_manifest(fs, str(path))
    assert read.format == "tsv" and read.note == "TSV table, entries in 'audio_uri'"
    assert read.rows["__entry"].tolist() == ["sub/a.wav"] and read.rows["speaker"].tolist() == ["s1"]
    with pytest.raises(ManifestFormatError, match=r"has no column 'wav'.*\(columns: audio_uri, speaker\)"):
        read_manifest(fs, str(path), column="wav")
