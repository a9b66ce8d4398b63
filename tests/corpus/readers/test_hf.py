"""Hugging Face Parquet shards written by ``datasets``: embedded audio is addressed by row and read
back byte for byte, one row group at a time; path-only audio is a plain entry."""

from __future__ import annotations

import json

import fsspec
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from datasets import Audio, Dataset

from frcrn.corpus.readers import read_embedded, read_manifest
from frcrn.corpus.rows import MALFORMED_LINE, ManifestFormatError

from .conftest import wav_bytes

CLIPS = [wav_bytes(seed=i) for i in range(5)]


def _shard(path, audio, **columns):
    """A shard as ``datasets`` writes it: an Audio column (not decoded) and two rows per row group."""
    dataset = Dataset.from_dict({"audio": audio, **columns}).cast_column("audio", Audio(decode=False))
    dataset.to_parquet(str(path), batch_size=2)  # batch_size: rows per row group
    return path


@pytest.fixture
def shard(tmp_path):
    audio = [
        {"bytes": CLIPS[0], "path": "spk1_utt1.wav"},
        {"bytes": CLIPS[1], "path": "nested/dir/utt2.flac"},
        {"bytes": None, "path": "clips/utt3.wav"},
        {"bytes": CLIPS[3], "path": None},
        {"bytes": None, "path": None},
        {"bytes": CLIPS[4], "path": "C:\\corpus\\utt6.wav"},  # a Windows path: no plain file name
    ]
    texts = ["one", "two", "three", "four", "five", "six"]
    return _shard(tmp_path / "data" / "train-00000-of-00001.parquet", audio, text=texts, speaker_id=list(range(6)))


def test_datasets_marks_the_audio_column_in_the_schema_metadata(shard):
    """What detection relies on: the struct<bytes, path> column and the `huggingface` metadata key."""
    schema = pq.ParquetFile(shard).schema_arrow
    assert schema.field("audio").type == pa.struct([("bytes", pa.binary()), ("path", pa.string())])
    assert json.loads(schema.metadata[b"huggingface"])["info"]["features"]["audio"]["_type"] == "Audio"
    assert pq.ParquetFile(shard).num_row_groups == 3


def test_rows_address_embedded_audio_by_row(fs, shard):
    read = read_manifest(fs, str(shard))
    rows = read.rows
    assert read.format == "hf" and read.note == "Hugging Face Parquet shard, audio column 'audio'"
    name = shard.name
    assert rows["__entry"].tolist() == [name, name, "clips/utt3.wav", name, None, name]
    assert rows["__member"].tolist() == ["row=0", "row=1", "", "row=3", "", "row=5"]
    # the basename of the struct's path when it is a plain file name, else the row index
    assert rows["__name"].tolist() == ["spk1_utt1.wav", "utt2.flac", "", "00000003.wav", "", "00000005.wav"]
    assert rows["__base"].tolist() == [str(shard.parent)] * 6 and rows["__line"].tolist() == [1, 2, 3, 4, 5, 6]
    assert rows["__error_type"].tolist() == ["", "", "", "", MALFORMED_LINE, ""]
    assert rows.iloc[4]["__error"] == f"row 4 of {shard}: audio has neither bytes nor path"
    assert rows["text"].tolist() == ["one", "two", "three", "four", "five", "six"]
    assert rows["speaker_id"].tolist() == list(range(6)) and "audio" not in rows.columns
    assert rows["audio_path"].tolist()[:3] == ["spk1_utt1.wav", "nested/dir/utt2.flac", "clips/utt3.wav"]


def test_read_embedded_returns_the_exact_bytes_reading_only_the_row_groups_needed(fs, shard, monkeypatch):
    groups_read = []
    original = pq.ParquetFile.read_row_group

    def spy(self, i, columns=None, **kwargs):
        groups_read.append((i, tuple(columns or ())))
        return original(self, i, columns=columns, **kwargs)

    monkeypatch.setattr(pq.ParquetFile, "read_row_group", spy)
    got = read_embedded(fs, str(shard), [3, 0, 1])
    assert got == [CLIPS[3], CLIPS[0], CLIPS[1]]
    assert groups_read == [(0, ("audio",)), (1, ("audio",))]  # row group 2 (rows 4-5) is never read

    groups_read.clear()
    read_manifest(fs, str(shard))
    assert [g for g, _ in groups_read] == [0, 1, 2]  # the reader, too, goes one row group at a time


def test_read_embedded_puts_an_error_in_place_of_a_row_it_cannot_give(fs, shard):
    got = read_embedded(fs, str(shard), [2, 9, 5])
    assert isinstance(got[0], ValueError) and str(got[0]) == f"row 2 of {shard} has no embedded audio bytes"
    assert isinstance(got[1], ValueError) and str(got[1]) == f"row 9 of {shard} is out of range (it has 6 rows)"
    assert got[2] == CLIPS[4]


def test_a_bytes_path_struct_without_metadata_is_audio_too_preferring_audio(fs, tmp_path):
    kind = pa.struct([("bytes", pa.binary()), ("path", pa.string())])
    table = pa.table({
        "clean": pa.array([{"bytes": CLIPS[0], "path": "c.wav"}], type=kind),
        "audio": pa.array([{"bytes": CLIPS[1], "path": "n.wav"}], type=kind),
        "note": ["x"],
    })
    pq.write_table(table, tmp_path / "pairs.parquet")
    rows = read_manifest(fs, str(tmp_path / "pairs.parquet")).rows
    assert rows["__name"].tolist() == ["n.wav"] and "clean" not in rows.columns  # no audio bytes carried
    assert read_embedded(fs, str(tmp_path / "pairs.parquet"), [0]) == [CLIPS[1]]


def test_declared_hf_on_a_plain_table_says_what_it_found(fs, tmp_path):
    pd.DataFrame({"audio_uri": ["a.wav"], "text": ["x"]}).to_parquet(tmp_path / "m.parquet")
    with pytest.raises(ManifestFormatError, match=r"declared hf, but it has no Audio column \(struct<bytes, path>\); "
                                                  r"columns: audio_uri, text"):
        read_manifest(fs, str(tmp_path / "m.parquet"), fmt="hf")


def test_shard_read_from_s3_through_s3fs(s3, tmp_path):
    local = _shard(tmp_path / "s.parquet", [{"bytes": CLIPS[0], "path": "a.wav"}, {"bytes": CLIPS[2], "path": "b.wav"},
                                             {"bytes": CLIPS[1], "path": "c.wav"}], text=["a", "b", "c"])
    key = "hf/data/train-00000.parquet"
    s3["client"].put_object(Bucket=s3["bucket"], Key=key, Body=local.read_bytes())
    fs = fsspec.filesystem("s3", **s3["options"])
    read = read_manifest(fs, f"{s3['bucket']}/{key}")
    assert read.format == "hf" and read.source == f"s3://{s3['bucket']}/{key}"
    assert read.rows["__entry"].tolist() == ["train-00000.parquet"] * 3
    assert read.rows["__base"].tolist() == [f"{s3['bucket']}/hf/data"] * 3
    assert read_embedded(fs, f"{s3['bucket']}/{key}", [2, 0]) == [CLIPS[1], CLIPS[0]]
