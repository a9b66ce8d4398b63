"""Hugging Face export: ``datasets`` loads the Parquet shards with an Audio feature and the exact
enhanced audio inside (a segment row: exactly its slice); the audiofolder's metadata.csv pairs
files with rows.

Decoding note: ``datasets`` 5 decodes Audio only through ``torchcodec``, which is not installed
here, so the tests load the column with ``Audio(decode=False)`` and decode its bytes with
soundfile; the feature itself is checked to be ``Audio``. The audiofolder builder even *encodes*
each file path through ``torchcodec``'s import, so that one test replaces ``Audio.encode_example``
by its path-only branch (``{"bytes": None, "path": path}``, what datasets does for a path).
"""

from __future__ import annotations

import io
import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import soundfile as sf
from datasets import Audio, Features, load_dataset

from frcrn.corpus.writers import ExportError, write_corpus
from frcrn.corpus.writers.hf import features, plan

from .support import FILES, RATE, job_row, nemo_rows, outputs, read_pcm, results


@pytest.fixture
def root(tmp_path):
    return outputs(tmp_path / "out")


def _load(dest, cache):
    ds = load_dataset("parquet", data_files=str(dest / "data" / "*.parquet"), split="train", cache_dir=str(cache))
    assert isinstance(ds.features["audio"], Audio)
    return ds, ds.cast_column("audio", Audio(decode=False))


def test_datasets_loads_an_audio_column_holding_the_enhanced_audio(root, tmp_path):
    rows = nemo_rows(root)
    dest = tmp_path / "hf"
    summary = write_corpus(results(rows), "hf", str(dest))
    assert summary.files == (f"{dest}/data/train-00000-of-00001.parquet",)
    ds, raw = _load(dest, tmp_path / "cache")
    assert ds.num_rows == 4
    assert list(ds.features) == ["audio", "duration", "text", "lang", "speaker_id", "tags", "offset"]
    assert ds.features["speaker_id"].dtype == "int64" and ds["speaker_id"] == [7, None, 9, 7]
    assert ds["text"] == ["hello world", "first part", "second part", "third"]
    assert [a["path"] for a in raw["audio"]] == ["a.wav", "b-00000250-00000750.flac", "b-00001000-00001750.flac",
                                                 "c.wav"]
    assert raw[0]["audio"]["bytes"] == (root / "a.wav").read_bytes()  # a whole file: its bytes as they are
    for item, row in zip(raw, rows):
        samples, rate = sf.read(io.BytesIO(item["audio"]["bytes"]), dtype="int16")
        expected = read_pcm(row["output_uri"], row["segment_offset_s"] or 0.0, row["segment_duration_s"])
        assert rate == RATE and np.array_equal(samples, expected)  # exactly the row's slice, bit for bit


def test_a_segment_is_encoded_like_its_output_file(root, tmp_path):
    dest = tmp_path / "hf"
    write_corpus(results([job_row(root, "spk2/b.flac", segment=(0.5, 0.25))]), "hf", str(dest))
    (item,) = _load(dest, tmp_path / "cache")[1]
    info = sf.info(io.BytesIO(item["audio"]["bytes"]))
    assert (info.format, info.subtype, info.frames) == ("FLAC", "PCM_16", 4000)


def test_the_schema_metadata_declares_features_as_datasets_writes_them():
    table = pa.table({
        "audio": pa.array([{"bytes": b"x", "path": "a.wav"}], type=pa.struct([("bytes", pa.binary()),
                                                                            ("path", pa.string())])),
        "text": ["t"], "big": pa.array(["t"], pa.large_string()), "n": [1], "f": pa.array([0.5], pa.float32()),
        "ok": [True], "tags": [["a"]], "pair": pa.array([[1, 2]], pa.list_(pa.int64(), 2)),
        "meta": [{"k": 1, "v": "x"}], "when": pa.array([0], pa.timestamp("ms", tz="UTC")),
    })
    expected = Features({"audio": Audio(), **{k: v for k, v in Features.from_arrow_schema(table.schema).items()
                                              if k != "audio"}})
    assert features(table.schema) == {"info": {"features": expected.to_dict()}}


def test_the_written_metadata_is_the_form_datasets_to_parquet_writes(root, tmp_path):
    dest = tmp_path / "hf"
    write_corpus(results([job_row(root, "a.wav", text="hi", n=3)]), "hf", str(dest))
    metadata = pq.read_schema(dest / "data" / "train-00000-of-00001.parquet").metadata
    assert set(metadata) == {b"huggingface"}  # no pandas metadata
    assert json.loads(metadata[b"huggingface"]) == {"info": {"features": {
        "audio": {"_type": "Audio"}, "text": {"dtype": "string", "_type": "Value"},
        "n": {"dtype": "int64", "_type": "Value"}}}}


def test_a_column_of_mixed_values_is_kept_as_text_and_a_carried_audio_column_is_refused(root, tmp_path):
    frame = results([job_row(root, "a.wav", note="x"), job_row(root, "sub dir/c.wav", note="y")])
    frame["note"] = frame["note"].astype(object)
    frame.loc[1, "note"] = 5  # what a JSON-lines manifest with mixed values gives
    write_corpus(frame, "hf", str(tmp_path / "hf"))
    assert _load(tmp_path / "hf", tmp_path / "cache")[0]["note"] == ["x", "5"]
    with pytest.raises(ExportError, match="column is named 'audio'"):
        write_corpus(results([job_row(root, "a.wav", audio="original.wav")]), "hf", str(tmp_path / "hf2"))


def test_shards_are_bounded_and_an_earlier_exports_extra_shards_are_removed(root, tmp_path):
    dest = tmp_path / "hf"
    frame = results(nemo_rows(root))
    summary = write_corpus(frame, "hf", str(dest), shard_rows=3)
    assert [f.rsplit("/", 1)[1] for f in summary.files] == ["train-00000-of-00002.parquet",
                                                            "train-00001-of-00002.parquet"]
    assert [pq.read_metadata(f).num_rows for f in summary.files] == [3, 1]
    assert _load(dest, tmp_path / "c1")[0]["text"] == ["hello world", "first part", "second part", "third"]
    write_corpus(frame, "hf", str(dest))
    assert sorted(p.name for p in (dest / "data").iterdir()) == ["train-00000-of-00001.parquet"]


def test_a_shard_closes_before_it_passes_either_bound():
    assert plan([10, 10, 10, 10], shard_bytes=25, shard_rows=100) == [2, 2]
    assert plan([10, 100, 10], shard_bytes=25, shard_rows=100) == [1, 1, 1]  # a large row is a shard of its own
    assert plan([1] * 5, shard_bytes=1e9, shard_rows=2) == [2, 2, 1]


def test_outputs_and_destination_in_object_storage(s3, tmp_path):
    local = outputs(tmp_path / "out")
    client, bucket = s3["client"], s3["bucket"]
    for rel in FILES:
        client.put_object(Bucket=bucket, Key=f"clean/{rel}", Body=(local / rel).read_bytes())
    frame = results(nemo_rows(f"s3://{bucket}/clean"))
    summary = write_corpus(frame, "hf", f"s3://{bucket}/export/hf/", storage_options=s3["options"])
    assert summary.files == (f"s3://{bucket}/export/hf/data/train-00000-of-00001.parquet",)
    obj = client.get_object(Bucket=bucket, Key="export/hf/data/train-00000-of-00001.parquet")
    assert obj["ContentType"] == "application/vnd.apache.parquet"
    table = pq.read_table(io.BytesIO(obj["Body"].read()))
    assert table.column("audio")[0].as_py()["bytes"] == (local / "a.wav").read_bytes()
    samples, _ = sf.read(io.BytesIO(table.column("audio")[2].as_py()["bytes"]), dtype="int16")
    assert np.array_equal(samples, read_pcm(local / "spk2/b.flac", 1.0, 0.75))


# --------------------------------------------------------------------------- audiofolder


def _encode_path_without_torchcodec(self, value):
    """``Audio.encode_example`` for what the audiofolder builder passes (a file path), minus the
    ``torchcodec`` import datasets 5 makes first even though this case never uses it."""
    assert isinstance(value, str), value
    return {"bytes": None, "path": value}


def test_audiofolder_metadata_pairs_each_file_with_its_row(root, tmp_path, monkeypatch):
    monkeypatch.setattr(Audio, "encode_example", _encode_path_without_torchcodec)
    frame = results([job_row(root, "a.wav", text="one", speaker_id=3, tags=["x"]),
                     job_row(root, "sub dir/c.wav", text="two", speaker_id=None, tags=[])])
    summary = write_corpus(frame, "hf-audiofolder", str(root))
    assert summary.files == (f"{root}/metadata.csv",)
    assert (root / "metadata.csv").read_text().splitlines()[0] == "file_name,text,speaker_id,tags"
    ds = load_dataset("audiofolder", data_dir=str(root), split="train", cache_dir=str(tmp_path / "cache"))
    assert isinstance(ds.features["audio"], Audio)
    ds = ds.cast_column("audio", Audio(decode=False))
    assert [(a["path"], t, s) for a, t, s in zip(ds["audio"], ds["text"], ds["speaker_id"])] == [
        (str(root / "a.wav"), "one", 3), (str(root / "sub dir" / "c.wav"), "two", None)]
    assert ds["tags"] == ['["x"]', "[]"]  # lists as JSON text in a CSV


def test_audiofolder_refuses_segments_and_points_to_hf(root):
    frame = results([job_row(root, "a.wav"), job_row(root, "spk2/b.flac", segment=(0.25, 0.5))])
    with pytest.raises(ExportError, match=r"1 of the 2 rows are segments.*--to hf"):
        write_corpus(frame, "hf-audiofolder", str(root))
    assert not (root / "metadata.csv").exists()


def test_audiofolder_must_sit_above_every_file(root):
    with pytest.raises(ExportError, match=r"a.wav is not below .*/spk2"):
        write_corpus(results([job_row(root, "a.wav")]), "hf-audiofolder", str(root / "spk2"))
