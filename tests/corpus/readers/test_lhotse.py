"""lhotse manifests, written by lhotse itself: recordings with their supervisions (found beside
either one), recordings alone, and cuts; sources lhotse can name but frcrn does not read are
error rows of their own kind."""

from __future__ import annotations

import gzip
import json
import math

import pandas as pd
import pytest
from lhotse import CutSet, Recording, RecordingSet, SupervisionSegment, SupervisionSet
from lhotse.audio import AudioSource

from frcrn.corpus.readers import read_manifest
from frcrn.corpus.rows import MALFORMED_LINE, UNSUPPORTED_PIPE, UNSUPPORTED_SOURCE, ManifestFormatError

from .conftest import write_wav


@pytest.fixture
def corpus(tmp_path, monkeypatch):
    """Recordings a, b, c (audio/*.wav, written relative to the manifests' folder) and supervisions
    of a (two) and b (one); c has none."""
    monkeypatch.chdir(tmp_path)
    for i, name in enumerate("abc"):
        write_wav(tmp_path / "audio" / f"{name}.wav", seed=i)
    recordings = RecordingSet.from_recordings(Recording.from_file(f"audio/{n}.wav", recording_id=n) for n in "abc")
    supervisions = SupervisionSet.from_segments([
        SupervisionSegment(id="a-1", recording_id="a", start=0.0, duration=0.1, channel=0, text="hello",
                           speaker="spk1", language="en", gender="f", custom={"snr": 12}),
        SupervisionSegment(id="a-2", recording_id="a", start=0.1, duration=0.1, channel=0, text='say "hi"',
                           speaker="spk2"),
        SupervisionSegment(id="b-1", recording_id="b", start=0.05, duration=0.15, channel=0, text="bye"),
    ])
    return recordings, supervisions


def _write(tmp_path, recordings=None, supervisions=None, prefix="demo_"):
    paths = {}
    for kind, manifest in (("recordings", recordings), ("supervisions", supervisions)):
        if manifest is not None:
            paths[kind] = tmp_path / f"{prefix}{kind}_train.jsonl.gz"
            manifest.to_file(paths[kind])
    return paths


@pytest.mark.parametrize("given", ["recordings", "supervisions"])
def test_supervisions_with_their_recordings_found_from_either(fs, tmp_path, corpus, given):
    paths = _write(tmp_path, *corpus)
    read = read_manifest(fs, str(paths[given]))
    rows = read.rows
    assert read.format == "lhotse" and read.note == "lhotse supervisions + recordings"
    assert rows["supervision_id"].tolist()[:3] == ["a-1", "a-2", "b-1"]
    assert rows["__entry"].tolist() == ["audio/a.wav", "audio/a.wav", "audio/b.wav", "audio/c.wav"]
    assert rows["__base"].tolist() == [str(tmp_path)] * 4  # relative sources: against the manifests' folder
    assert rows["__offset"].tolist()[:3] == [0.0, 0.1, 0.05] and rows["__duration"].tolist()[:3] == [0.1, 0.1, 0.15]
    whole = rows.iloc[3]  # c: no supervision names it, so the whole recording
    assert whole["recording_id"] == "c" and math.isnan(whole["__offset"]) and math.isnan(whole["__duration"])
    assert pd.isna(whole["supervision_id"]) and pd.isna(whole["text"])
    first = rows.iloc[0]
    assert (first["text"], first["speaker"], first["language"], first["gender"], first["channel"]) == \
        ("hello", "spk1", "en", "f", 0)
    assert json.loads(first["custom"]) == {"snr": 12} and first["sampling_rate"] == 16000
    assert rows.iloc[1]["text"] == 'say "hi"' and (rows["__error_type"] == "").all()


def test_recordings_alone_are_whole_rows(fs, tmp_path, corpus):
    rows = read_manifest(fs, str(_write(tmp_path, corpus[0])["recordings"])).rows
    assert rows["recording_id"].tolist() == ["a", "b", "c"] and rows["__line"].tolist() == [1, 2, 3]
    assert rows["__offset"].isna().all() and rows["__duration"].isna().all()


def test_supervisions_alone_are_not_usable(fs, tmp_path, corpus):
    paths = _write(tmp_path, supervisions=corpus[1])
    with pytest.raises(ManifestFormatError, match=r"demo_recordings_train\.jsonl\.gz does not exist"):
        read_manifest(fs, str(paths["supervisions"]))


def test_cuts_are_segments_with_their_supervisions_text(fs, tmp_path, corpus):
    cuts = CutSet.from_manifests(*corpus)
    cuts = CutSet.from_cuts([cuts[0].truncate(offset=0.05, duration=0.15, keep_excessive_supervisions=True),
                             cuts[1], cuts[2], cuts[2].pad(duration=0.5)])
    cuts.to_file(tmp_path / "cuts.jsonl.gz")
    read = read_manifest(fs, str(tmp_path / "cuts.jsonl.gz"))
    rows = read.rows
    assert read.format == "lhotse" and read.note == "lhotse cuts"
    assert rows["recording_id"].tolist()[:3] == ["a", "b", "c"] and rows["cut_id"].tolist() == [c.id for c in cuts]
    assert rows["__entry"].tolist() == ["audio/a.wav", "audio/b.wav", "audio/c.wav", None]
    assert rows["__offset"].tolist()[:3] == [0.05, 0.0, 0.0]
    assert rows["__duration"].tolist()[:3] == pytest.approx([0.15, 0.2, 0.2])
    assert rows.iloc[3]["__error_type"] == UNSUPPORTED_SOURCE  # a MixedCut (padding) is no single recording
    assert "lhotse MixedCut has no single recording" in rows.iloc[3]["__error"]
    assert rows.iloc[0]["text"] == 'hello say "hi"' and rows.iloc[0]["speaker"] == "spk1"
    assert pd.isna(rows.iloc[2]["text"])


def test_sources_frcrn_does_not_read_are_their_own_errors(fs, tmp_path, corpus):
    def recording(rid, *sources):
        return Recording(id=rid, sources=list(sources), sampling_rate=16000, num_samples=3200, duration=0.2)

    odd = RecordingSet.from_recordings([
        corpus[0]["a"],
        recording("cmd", AudioSource(type="command", channels=[0], source="sox in.sph -t wav - |")),
        recording("web", AudioSource(type="url", channels=[0], source="https://example.com/web.wav")),
        recording("two", AudioSource(type="file", channels=[0], source="l.wav"),
                  AudioSource(type="file", channels=[1], source="r.wav")),
        recording("shar", AudioSource(type="shar", channels=[0], source="")),
        corpus[0]["b"].perturb_speed(1.1),
        corpus[0]["c"].resample(8000),
    ])
    rows = read_manifest(fs, str(_write(tmp_path, odd)["recordings"])).rows
    assert rows["__error_type"].tolist() == ["", UNSUPPORTED_PIPE, "", UNSUPPORTED_SOURCE, UNSUPPORTED_SOURCE,
                                             UNSUPPORTED_SOURCE, ""]
    assert rows.iloc[2]["__entry"] == "https://example.com/web.wav"
    assert rows.iloc[6]["__entry"] == "audio/c.wav"  # resampling changes no times: read the file
    errors = rows["__error"].tolist()
    assert "lhotse command sources are not run; convert the audio to files" in errors[1]
    assert "2 audio sources (one file per channel)" in errors[3]
    assert "'shar' audio sources are not read" in errors[4]
    assert "transforms (Speed)" in errors[5]
    assert errors[1].startswith(f"line 2 of {tmp_path}/demo_recordings_train.jsonl.gz: recording 'cmd'")


def test_bad_lines_and_unknown_recordings_are_error_rows(fs, tmp_path, corpus):
    paths = _write(tmp_path, *corpus)
    with gzip.open(paths["supervisions"], "rt") as f:
        lines = f.read().splitlines()
    broken = json.loads(lines[1]) | {"recording_id": "nope"}
    negative = json.loads(lines[2]) | {"start": -0.5}
    with gzip.open(paths["supervisions"], "wt") as f:
        f.write("\n".join([lines[0], "{not json", json.dumps(broken), json.dumps(negative)]) + "\n")
    rows = read_manifest(fs, str(paths["supervisions"])).rows
    # b is named only by a bad line: that line's error row stands for it (no whole-recording row)
    assert rows["__error_type"].tolist() == ["", MALFORMED_LINE, MALFORMED_LINE, MALFORMED_LINE, ""]
    source = paths["supervisions"]
    assert rows.iloc[1]["__error"].startswith(f"line 2 of {source}: not valid JSON")
    assert rows.iloc[2]["__error"] == f"line 3 of {source}: recording_id 'nope' is not in {paths['recordings']}"
    assert rows.iloc[3]["__error"] == f"line 4 of {source}: start -0.5 is not a number of seconds >= 0"
    assert rows.iloc[3]["recording_id"] == "b" and rows.iloc[4]["recording_id"] == "c"


def test_declared_lhotse_that_is_not_says_what_it_found(fs, tmp_path):
    (tmp_path / "m.jsonl").write_text('{"audio_filepath": "a.wav", "duration": 1.0}\n')
    with pytest.raises(ManifestFormatError, match=r"declared lhotse, but none of its 1 lines is a lhotse recording, "
                                                  r"supervision or cut; keys found: audio_filepath, duration"):
        read_manifest(fs, str(tmp_path / "m.jsonl"), fmt="lhotse")
