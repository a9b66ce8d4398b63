"""Kaldi data dirs, as ``lhotse.kaldi.export_to_kaldi`` writes them and as recipes hand-write them:
one row per segment (or per wav.scp line), text and speaker carried, and pipes never run."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
from lhotse import Recording, RecordingSet, SupervisionSegment, SupervisionSet
from lhotse.kaldi import export_to_kaldi

from frcrn.corpus.readers import read_manifest
from frcrn.corpus.rows import MALFORMED_LINE, UNSUPPORTED_PIPE, UNSUPPORTED_SOURCE, ManifestFormatError

from .conftest import write_wav


def _data_dir(path, files):
    path.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (path / name).write_text(text)
    return path


@pytest.fixture
def exported(tmp_path):
    """A data dir exported by lhotse: a.wav with two supervisions, b.wav with none, c.flac (a pipe)."""
    wavs = {n: write_wav(tmp_path / "audio" / f"{n}.wav", seed=i) for i, n in enumerate("ab")}
    sf.write(tmp_path / "audio" / "c.flac", np.zeros(3200, dtype=np.float32), 16000)  # not .wav: lhotse pipes it
    recordings = RecordingSet.from_recordings(
        [Recording.from_file(wavs[n], recording_id=n) for n in "ab"]
        + [Recording.from_file(tmp_path / "audio" / "c.flac", recording_id="c")])
    supervisions = SupervisionSet.from_segments([
        SupervisionSegment(id="a-1", recording_id="a", start=0.0, duration=0.1, text="hello world", speaker="spk1"),
        SupervisionSegment(id="a-2", recording_id="a", start=0.1, duration=0.1, text='say "hi"', speaker="spk2"),
        SupervisionSegment(id="c-1", recording_id="c", start=0.0, duration=0.2, text="piped", speaker="spk3"),
    ])
    export_to_kaldi(recordings, supervisions, tmp_path / "data")
    return tmp_path / "data"


@pytest.mark.parametrize("given", ["dir", "wav.scp"])
def test_lhotse_export_reads_back_as_segments(fs, exported, given):
    read = read_manifest(fs, str(exported if given == "dir" else exported / "wav.scp"))
    rows = read.rows
    assert read.format == "kaldi" and read.source == str(exported)
    assert read.note == "Kaldi data dir: wav.scp + segments + text + utt2spk"
    assert rows["utt_id"].tolist() == ["a-1", "a-2", "c-1", "b"]  # segments, then recordings none names
    assert rows["recording_id"].tolist() == ["a", "a", "c", "b"]
    assert rows["text"].tolist()[:3] == ["hello world", 'say "hi"', "piped"]
    assert rows["speaker"].tolist()[:3] == ["spk1", "spk2", "spk3"]
    assert rows.iloc[0]["__entry"] == str(exported.parent / "audio" / "a.wav")
    assert rows["__offset"].tolist()[:2] == [0.0, 0.1] and rows["__duration"].tolist()[:2] == pytest.approx([0.1, 0.1])
    assert math.isnan(rows.iloc[3]["__offset"]) and rows.iloc[3]["__entry"].endswith("b.wav")
    assert rows["__base"].tolist() == [str(exported)] * 4
    piped = rows.iloc[2]
    assert piped["__error_type"] == UNSUPPORTED_PIPE and piped["__entry"] is None
    assert "frcrn does not run commands from a manifest: convert the audio to files first" in piped["__error"]
    assert piped["__error"].startswith(f"line 3 of {exported}/segments: recording 'c': line 3 of {exported}/wav.scp")


def test_without_segments_each_wav_scp_line_is_a_whole_recording(fs, tmp_path):
    data = _data_dir(tmp_path / "data", {
        "wav.scp": "u1 clips/u1.wav\nu2 /abs/u2.flac\n\nu3 sph2pipe -f wav -p -c 1 u3.sph |\nu4 raw.ark:1234\n"
                   "u5\nu1 again.wav\n",
        "text": "u1 the first\nu2\tthe second\n",
        "utt2spk": "u1 s1\nu2 s2\n",
    })
    rows = read_manifest(fs, str(data)).rows
    assert rows["__line"].tolist() == [1, 2, 4, 5, 6, 7]
    assert rows["utt_id"].tolist()[:4] == ["u1", "u2", "u3", "u4"] and rows["recording_id"].tolist()[0] == "u1"
    assert rows["__entry"].tolist() == ["clips/u1.wav", "/abs/u2.flac", None, None, None, None]
    assert rows["__base"].tolist()[0] == str(data)  # relative paths: against the data dir
    assert rows["text"].tolist()[:2] == ["the first", "the second"] and rows["speaker"].tolist()[:2] == ["s1", "s2"]
    assert rows["__error_type"].tolist() == ["", "", UNSUPPORTED_PIPE, UNSUPPORTED_SOURCE, MALFORMED_LINE,
                                             MALFORMED_LINE]
    assert rows.iloc[3]["__error"] == (f"line 5 of {data}/wav.scp: 'raw.ark:1234' is an offset into a Kaldi archive "
                                       "or stdin, not an audio file; extract the audio to files first (e.g. with "
                                       "wav-copy) and list them")
    assert rows.iloc[4]["__error"] == f"line 6 of {data}/wav.scp: expected 'recording-id path', got 'u5'"
    assert rows.iloc[5]["__error"] == f"line 7 of {data}/wav.scp: recording id 'u1' again (first on line 1)"
    assert rows["__offset"].isna().all()


def test_bad_segments_lines_are_error_rows_naming_the_line(fs, tmp_path):
    data = _data_dir(tmp_path / "data", {
        "wav.scp": "r1 r1.wav\nr2 r2.wav\n",
        "segments": "s1 r1 0.0 1.5\ns2 r1 1.5 -1\ns3 rX 0 1\ns4 r1 zero 1\ns5 r1 2.0 1.0\ns6 r1 0\n",
    })
    rows = read_manifest(fs, str(data)).rows
    assert rows["__error_type"].tolist() == ["", "", *[MALFORMED_LINE] * 4, ""]
    assert rows.iloc[1]["__offset"] == 1.5 and math.isnan(rows.iloc[1]["__duration"])  # end -1: to the end
    errors = rows["__error"].tolist()
    at = f"{data}/segments"
    assert errors[2] == f"line 3 of {at}: recording id 'rX' is not in wav.scp"
    assert errors[3] == f"line 4 of {at}: start 'zero' and end '1' must be numbers of seconds"
    assert errors[4] == f"line 5 of {at}: end '1.0' is not after start '2.0' (nor -1, to the end)"
    assert errors[5] == f"line 6 of {at}: expected 'utterance-id recording-id start end', got 's6 r1 0'"
    assert rows.iloc[6]["utt_id"] == "r2" and rows.iloc[6]["__entry"] == "r2.wav"  # no segment names r2
    assert pd.isna(rows.iloc[6]["text"])


def test_not_a_data_dir(fs, tmp_path):
    (tmp_path / "data").mkdir()
    with pytest.raises(ManifestFormatError, match=r"declared kaldi, but there is no wav\.scp in it"):
        read_manifest(fs, str(tmp_path / "data"), fmt="kaldi")
