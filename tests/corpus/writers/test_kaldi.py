"""Kaldi export: lhotse's Kaldi importer loads it back with the same segments, texts and speakers;
every file sorted by key, ids without whitespace."""

from __future__ import annotations

import pytest
from lhotse.kaldi import load_kaldi_data_dir

from frcrn.corpus.writers import write_corpus

from .support import RATE, job_row, nemo_rows, outputs, results


@pytest.fixture
def root(tmp_path):
    return outputs(tmp_path / "out")


def _lines(path):
    return path.read_text(encoding="utf-8").splitlines()


def _assert_kaldi_files_are_sorted_and_safe(dest):
    for name in ("wav.scp", "segments", "text", "utt2spk", "spk2utt", "reco2dur"):
        if not (dest / name).exists():
            continue
        keys = [line.split(" ", 1)[0] for line in _lines(dest / name)]
        assert keys == sorted(keys, key=lambda k: k.encode()), name  # LC_ALL=C order
        assert len(set(keys)) == len(keys), name
    for name in ("segments", "utt2spk", "spk2utt"):
        if (dest / name).exists():
            assert all(len(line.split()) >= 2 for line in _lines(dest / name)), name


def test_segments_texts_and_speakers_load_back_through_lhotse(root, tmp_path):
    rows = nemo_rows(root)
    dest = tmp_path / "kaldi"
    summary = write_corpus(results(rows), "kaldi", str(dest))
    assert [f.rsplit("/", 1)[1] for f in summary.files] == ["wav.scp", "segments", "text", "utt2spk", "spk2utt",
                                                             "reco2dur"]
    _assert_kaldi_files_are_sorted_and_safe(dest)
    recordings, supervisions, _ = load_kaldi_data_dir(dest, sampling_rate=RATE)
    assert sorted(r.sources[0].source for r in recordings) == sorted({r["output_uri"] for r in rows})
    assert {r.id: r.duration for r in recordings} == {"a": 1.0, "spk2_b": 2.0, "sub_dir_c": 0.5}
    got = sorted((s.recording_id, s.start, round(s.duration, 6), s.text, s.speaker) for s in supervisions)
    assert got == [
        ("a", 0.0, 1.0, "hello world", "7"),
        ("spk2_b", 0.25, 0.5, "first part", "spk2_b-00000250-00000750"),  # no speaker: the utterance
        ("spk2_b", 1.0, 0.75, "second part", "9"),
        ("sub_dir_c", 0.0, 0.5, "third", "7"),
    ]
    assert _lines(dest / "spk2utt") == ["7 a sub_dir_c", "9 spk2_b-00001000-00001750",
                                        "spk2_b-00000250-00000750 spk2_b-00000250-00000750"]


def test_transcribed_whole_files_without_their_own_ids_need_no_segments_file(root, tmp_path):
    dest = tmp_path / "kaldi"
    dest.mkdir()
    (dest / "segments").write_text("stale x 0 1\n")  # left by an earlier export with segments
    frame = results([job_row(root, "sub dir/c.wav", text="two  words\nand a line", speaker="Ann Lee"),
                     job_row(root, "a.wav", text="one")])
    write_corpus(frame, "kaldi", str(dest))
    assert not (dest / "segments").exists()
    _assert_kaldi_files_are_sorted_and_safe(dest)
    assert _lines(dest / "wav.scp") == [f"a {root}/a.wav", f"sub_dir_c {root}/sub dir/c.wav"]
    assert _lines(dest / "text") == ["a one", "sub_dir_c two words and a line"]
    assert _lines(dest / "utt2spk") == ["a a", "sub_dir_c Ann_Lee"]
    _, supervisions, _ = load_kaldi_data_dir(dest, sampling_rate=RATE)
    assert sorted((s.id, s.recording_id, s.duration, s.text, s.speaker) for s in supervisions) == [
        ("a", "a", 1.0, "one", "a"), ("sub_dir_c", "sub_dir_c", 0.5, "two words and a line", "Ann_Lee")]


def test_an_utterance_without_transcript_has_an_empty_one(root, tmp_path):
    dest = tmp_path / "kaldi"
    write_corpus(results([job_row(root, "a.wav"), job_row(root, "sub dir/c.wav", text="words")]), "kaldi", str(dest))
    assert _lines(dest / "text") == ["a", "sub_dir_c words"]
    assert _lines(dest / "segments") == ["a a 0 1", "sub_dir_c sub_dir_c 0 0.5"]  # the layout lhotse reads it in
    _, supervisions, _ = load_kaldi_data_dir(dest, sampling_rate=RATE)
    assert sorted((s.id, s.text) for s in supervisions) == [("a", ""), ("sub_dir_c", "words")]


def test_utterance_ids_other_than_the_recordings_are_kept_with_a_segments_file(root, tmp_path):
    frame = results([job_row(root, "a.wav", manifest_format="kaldi", utt_id="spk1-utt 1", recording_id="rec1",
                             text="hello", speaker="spk1")])
    dest = tmp_path / "kaldi"
    write_corpus(frame, "kaldi", str(dest))
    assert _lines(dest / "segments") == ["spk1-utt_1 rec1 0 1"]
    _, (sup,), _ = load_kaldi_data_dir(dest, sampling_rate=RATE)
    assert (sup.id, sup.recording_id, sup.text, sup.speaker) == ("spk1-utt_1", "rec1", "hello", "spk1")
