"""lhotse export: lhotse itself loads it, validates it and reads the enhanced audio through it."""

from __future__ import annotations

import gzip
import json

import numpy as np
import pytest
from lhotse import RecordingSet, SupervisionSet, load_manifest
from lhotse.qa import validate_recordings_and_supervisions

from frcrn.corpus.writers import write_corpus

from .support import RATE, job_row, nemo_rows, outputs, read_pcm, results


@pytest.fixture
def root(tmp_path):
    return outputs(tmp_path / "out")


def _export(frame, dest, **kw):
    summary = write_corpus(frame, "lhotse", str(dest), **kw)
    assert summary.files == (f"{dest}/recordings.jsonl.gz", f"{dest}/supervisions.jsonl.gz")
    recordings = load_manifest(dest / "recordings.jsonl.gz")
    supervisions = load_manifest(dest / "supervisions.jsonl.gz")
    assert isinstance(recordings, RecordingSet) and isinstance(supervisions, SupervisionSet)
    validate_recordings_and_supervisions(recordings, supervisions)
    return recordings, supervisions


def test_lhotse_loads_validates_and_reads_each_rows_audio(root, tmp_path):
    rows = nemo_rows(root)
    recordings, supervisions = _export(results(rows), tmp_path / "lhotse")
    assert len(recordings) == 3 and len(supervisions) == 4  # one recording per output file, one supervision per row
    for sup, row in zip(supervisions, rows):
        rec = recordings[sup.recording_id]
        assert rec.sources[0].type == "file" and rec.sources[0].source == row["output_uri"]
        assert (rec.sampling_rate, rec.num_channels) == (RATE, 1)
        offset, duration = (row["segment_offset_s"] or 0.0), row["segment_duration_s"]
        expected = read_pcm(row["output_uri"], offset, duration) / 32768.0
        audio = rec.load_audio(offset=sup.start, duration=sup.duration)
        assert audio.shape == (1, len(expected))
        np.testing.assert_allclose(audio[0], expected, atol=1e-6)
        assert (sup.text, sup.language) == (row["text"], row["lang"])
    whole = supervisions[0]  # a whole-file row: the whole recording
    assert (whole.start, whole.duration) == (0, recordings[whole.recording_id].duration)
    assert supervisions[1].custom == {"tags": ["z"]}


def test_rows_read_from_lhotse_keep_their_ids_and_fields(root, tmp_path):
    common = {"manifest_format": "lhotse", "recording_id": "rec b", "speaker": "spk 1", "language": "English",
              "gender": "F", "channel": 0, "sampling_rate": 48000}
    frame = results([
        job_row(root, "spk2/b.flac", segment=(0.25, 0.5), supervision_id="sup-1", text="one",
                custom=json.dumps({"emotion": "calm", "score": [1, 2]}), **common),
        job_row(root, "spk2/b.flac", segment=(1.0, 0.75), supervision_id="sup-2", text="two", custom=None, **common),
    ])
    recordings, supervisions = _export(frame, tmp_path / "lhotse")
    assert list(recordings.ids) == ["rec_b"]  # whitespace in ids becomes _
    first, second = supervisions
    assert (first.id, first.recording_id, first.start, first.duration) == ("sup-1", "rec_b", 0.25, 0.5)
    assert (first.speaker, first.language, first.gender, first.channel) == ("spk_1", "English", "F", 0)
    assert first.custom == {"emotion": "calm", "score": [1, 2]}
    assert second.custom is None


def test_fields_no_other_key_takes_are_kept_in_custom(root, tmp_path):
    frame = results([job_row(root, "a.wav", manifest_format="tsv", client_id="c9", sentence="hi there",
                             up_votes=2, down_votes=0, age="twenties", accents=None, locale="en")])
    _, (sup,) = _export(frame, tmp_path / "lhotse")
    assert (sup.text, sup.speaker, sup.language) == ("hi there", "c9", "en")
    assert sup.custom == {"up_votes": 2, "down_votes": 0, "age": "twenties"}


def test_output_files_in_object_storage_are_url_sources_lhotse_can_read(s3, tmp_path, monkeypatch):
    local = outputs(tmp_path / "out")
    bucket = s3["bucket"]
    s3["client"].put_object(Bucket=bucket, Key="clean/a.wav", Body=(local / "a.wav").read_bytes())
    frame = results([job_row(f"s3://{bucket}/clean", "a.wav", text="hi")])
    dest = tmp_path / "lhotse"
    write_corpus(frame, "lhotse", str(dest))
    (line,) = gzip.decompress((dest / "recordings.jsonl.gz").read_bytes()).decode().splitlines()
    assert json.loads(line)["sources"] == [{"type": "url", "channels": [0], "source": f"s3://{bucket}/clean/a.wav"}]
    # lhotse opens "url" sources with smart_open, which finds credentials as boto3 does
    for name, value in (("AWS_ENDPOINT_URL", s3["endpoint"]), ("AWS_ACCESS_KEY_ID", "testing"),
                        ("AWS_SECRET_ACCESS_KEY", "testing"), ("AWS_DEFAULT_REGION", "us-east-1")):
        monkeypatch.setenv(name, value)
    (rec,) = load_manifest(dest / "recordings.jsonl.gz")
    np.testing.assert_allclose(rec.load_audio()[0], read_pcm(local / "a.wav") / 32768.0, atol=1e-6)
