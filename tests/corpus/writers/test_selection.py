"""Rows of a selection (``selected.parquet``): each row exports the file its ``choice`` names.

An ``original`` row's audio is its input recording (``chosen_uri``) at that file's own rate,
length and channels, a segment row its slice of it; every format takes that from ``rows``, and
the ids stay unique and stable when two lines of one recording choose differently.
"""

from __future__ import annotations

import io
import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import soundfile as sf
from lhotse import load_manifest
from lhotse.qa import validate_recordings_and_supervisions

from frcrn.corpus.writers import ExportError, write_corpus
from frcrn.corpus.writers.rows import ExportRows

from .support import INPUT_RATE, RATE, STEREO, chose, job_row, originals, outputs, read_pcm, results


@pytest.fixture
def root(tmp_path):
    return outputs(tmp_path / "out")


@pytest.fixture
def inputs(tmp_path):
    return originals(tmp_path / "corpus")


def _selection(root, inputs):
    """a: enhanced; b: one line enhanced, one original (two files of one recording); c: original (stereo)."""
    return results([
        chose(job_row(root, "a.wav", inputs=inputs, text="one"), "enhanced"),
        chose(job_row(root, "spk2/b.flac", inputs=inputs, segment=(0.25, 0.5), text="two"), "original"),
        chose(job_row(root, "spk2/b.flac", inputs=inputs, segment=(1.0, 0.75), text="three"), "enhanced"),
        chose(job_row(root, STEREO, inputs=inputs, text="four"), "original"),
    ])


def test_an_original_row_exports_its_input_recording_at_its_own_rate_length_and_channels(root, inputs):
    rows = ExportRows(_selection(root, inputs), root=str(root), selected=True)
    assert [(r.audio_uri, r.sample_rate, r.original, r.channels) for r in rows] == [
        (f"{root}/a.wav", RATE, False, 1), (f"{inputs}/spk2/b.flac", INPUT_RATE, True, 1),
        (f"{root}/spk2/b.flac", RATE, False, 1), (f"{inputs}/{STEREO}", INPUT_RATE, True, 2)]
    assert [(r.start, r.duration, r.is_segment) for r in rows] == [
        (0.0, 1.0, False), (0.25, 0.5, True), (1.0, 0.75, True), (0.0, 0.5, False)]
    original = rows.recordings[f"{inputs}/{STEREO}"]
    assert (original.sample_rate, original.num_samples, original.channels) == (INPUT_RATE, 24000, 2)
    assert "choice" not in rows.carried and "chosen_uri" not in rows.carried  # the selection's, not the manifest's


def test_ids_stay_unique_and_stable_when_two_lines_of_a_recording_choose_differently(root, inputs):
    frame = _selection(root, inputs)
    rows = list(ExportRows(frame, root=str(root), selected=True))
    assert [r.recording_id for r in rows] == ["a", "spk2_b-original", "spk2_b", "sub_dir_c-original"]
    assert [r.utterance_id for r in rows] == ["a", "spk2_b-original-00000250-00000750", "spk2_b-00001000-00001750",
                                              "sub_dir_c-original"]
    alone = next(iter(ExportRows(frame.iloc[1:2], root=str(root), selected=True)))  # the same id in any subset
    assert (alone.recording_id, alone.utterance_id) == ("spk2_b-original", "spk2_b-original-00000250-00000750")
    carried = results([chose(job_row(root, "spk2/b.flac", inputs=inputs, segment=seg, recording_id="rec b",
                                     supervision_id=f"sup-{i}"), choice)
                       for i, (seg, choice) in enumerate((((0.25, 0.5), "original"), ((1.0, 0.75), "enhanced")))])
    assert [(r.recording_id, r.utterance_id) for r in ExportRows(carried, selected=True)] == [
        ("rec_b-original", "sup-0"), ("rec_b", "sup-1")]


def test_dropped_rows_and_originals_without_a_rate_are_refused(root, inputs):
    frame = results([chose(job_row(root, "a.wav", inputs=inputs), "enhanced"),
                     chose(job_row(root, STEREO, inputs=inputs), "dropped")])
    with pytest.raises(ExportError, match=r"1 of the 2 rows are dropped by the selection .*choice != 'dropped'"):
        ExportRows(frame, selected=True)
    frame = results([chose(job_row(root, "a.wav", inputs=inputs, input_sample_rate=None), "original")])
    with pytest.raises(ExportError, match=r"1 original row\(s\) have no input_sample_rate"):
        ExportRows(frame, selected=True)
    with pytest.raises(ExportError, match=r"no choice, chosen_uri column\(s\).*frcrn job select"):
        ExportRows(results([job_row(root, "a.wav")]), selected=True)


def test_nemo_and_kaldi_name_the_original_files(root, inputs, tmp_path):
    frame = _selection(root, inputs)
    write_corpus(frame, "nemo", str(tmp_path / "nemo"), root=str(root), selected=True)
    lines = [json.loads(x) for x in (tmp_path / "nemo" / "manifest.jsonl").read_text().splitlines()]
    assert [(x["audio_filepath"], x["duration"], x.get("offset")) for x in lines] == [
        (f"{root}/a.wav", 1.0, None), (f"{inputs}/spk2/b.flac", 0.5, 0.25), (f"{root}/spk2/b.flac", 0.75, 1.0),
        (f"{inputs}/{STEREO}", 0.5, None)]
    assert not {"choice", "chosen_uri", "reason", "rule"} & set().union(*lines)
    write_corpus(frame, "kaldi", str(tmp_path / "kaldi"), root=str(root), selected=True)
    assert (tmp_path / "kaldi" / "wav.scp").read_text().splitlines() == [
        f"a {root}/a.wav", f"spk2_b {root}/spk2/b.flac", f"spk2_b-original {inputs}/spk2/b.flac",
        f"sub_dir_c-original {inputs}/{STEREO}"]
    assert "sub_dir_c-original 0.5" in (tmp_path / "kaldi" / "reco2dur").read_text().splitlines()


def test_lhotse_loads_each_rows_audio_from_the_chosen_file(root, inputs, tmp_path):
    frame = _selection(root, inputs)
    write_corpus(frame, "lhotse", str(tmp_path / "lhotse"), root=str(root), selected=True)
    recordings = load_manifest(tmp_path / "lhotse" / "recordings.jsonl.gz")
    supervisions = load_manifest(tmp_path / "lhotse" / "supervisions.jsonl.gz")
    validate_recordings_and_supervisions(recordings, supervisions)
    assert len(recordings) == 4 and len(supervisions) == 4
    for sup, row in zip(supervisions, frame.to_dict("records")):
        rec = recordings[sup.recording_id]
        assert rec.sources[0].source == row["chosen_uri"]
        expected = read_pcm(row["chosen_uri"], sup.start, sup.duration) / 32768.0
        audio = rec.load_audio(offset=sup.start, duration=sup.duration)
        np.testing.assert_allclose(audio, np.atleast_2d(expected.T), atol=1e-6)
    stereo = recordings["sub_dir_c-original"]
    assert (stereo.sampling_rate, stereo.num_channels, stereo.num_samples) == (INPUT_RATE, 2, 24000)


def test_hf_embeds_the_original_bytes(root, inputs, tmp_path):
    frame = _selection(root, inputs)
    write_corpus(frame, "hf", str(tmp_path / "hf"), root=str(root), selected=True)
    table = pq.read_table(tmp_path / "hf" / "data" / "train-00000-of-00001.parquet")
    audio = table.column("audio").to_pylist()
    assert audio[3] == {"bytes": (inputs / STEREO).read_bytes(), "path": "c.wav"}  # a whole original, as it is
    samples, rate = sf.read(io.BytesIO(audio[1]["bytes"]), dtype="int16")  # a segment: its slice of the original
    assert rate == INPUT_RATE and np.array_equal(samples, read_pcm(inputs / "spk2/b.flac", 0.25, 0.5))
    assert audio[2]["path"] == "b-00001000-00001750.flac"
    assert "choice" not in table.column_names


def _shard(path, items):
    """An HF input shard: audio embedded in row i."""
    table = pa.table({"audio": [{"bytes": data, "path": name} for name, data in items]})
    pq.write_table(table, path)
    return path


def test_an_original_embedded_in_an_input_shard_is_read_from_its_row(root, inputs, tmp_path):
    shard = _shard(tmp_path / "train-0.parquet", [("x.wav", b"not this one"),
                                                 ("c.wav", (inputs / STEREO).read_bytes())])
    row = job_row(root, STEREO, manifest_format="hf", text="embedded")
    row["input_uri"] = f"{shard}#row=1"
    frame = results([chose(row, "original")])
    write_corpus(frame, "hf", str(tmp_path / "hf"), root=str(root), selected=True)
    (item,) = pq.read_table(tmp_path / "hf" / "data" / "train-00000-of-00001.parquet").column("audio").to_pylist()
    assert item == {"bytes": (inputs / STEREO).read_bytes(), "path": "c.wav"}  # the output's stem, WAV's extension
    for to in ("nemo", "lhotse", "kaldi", "hf-audiofolder"):
        with pytest.raises(ExportError, match=rf"embedded in a Parquet shard.*{shard}#row=1.*{to} can only name "
                                              "files: export with --to hf"):
            write_corpus(frame, to, str(tmp_path / to), root=str(root), selected=True)


def test_an_audiofolder_names_an_original_only_below_its_folder(root, inputs, tmp_path):
    frame = results([chose(job_row(root, "a.wav", inputs=inputs, text="one"), "enhanced"),
                     chose(job_row(root, STEREO, inputs=inputs, text="two"), "original")])
    with pytest.raises(ExportError, match=r"1 row\(s\) choose the original recording.*not below .*--to hf"):
        write_corpus(frame, "hf-audiofolder", str(root), root=str(root), selected=True)
    write_corpus(frame, "hf-audiofolder", str(tmp_path), root=str(root), selected=True)  # above both: it works
    assert (tmp_path / "metadata.csv").read_text().splitlines() == [
        "file_name,text", "out/a.wav,one", f"corpus/{STEREO},two"]
