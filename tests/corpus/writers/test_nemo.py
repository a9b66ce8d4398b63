"""NeMo export: one JSON object per line, pointing at the enhanced audio; a row read from NeMo
comes back with its own keys."""

from __future__ import annotations

import json

import pytest

from frcrn.corpus.writers import write_corpus

from .support import job_row, nemo_lines, nemo_rows, outputs, results


@pytest.fixture
def root(tmp_path):
    return outputs(tmp_path / "out")


def _export(frame, dest):
    summary = write_corpus(frame, "nemo", str(dest))
    assert summary.files == (f"{dest}/manifest.jsonl",)
    return [json.loads(line) for line in (dest / "manifest.jsonl").read_text(encoding="utf-8").splitlines()]


def test_one_object_per_row_with_path_duration_offset_and_text(root, tmp_path):
    lines = _export(results(nemo_rows(root)), tmp_path / "nemo")
    assert [(x["audio_filepath"], x["duration"], x.get("offset"), x["text"]) for x in lines] == [
        (f"{root}/a.wav", 1.0, None, "hello world"),
        (f"{root}/spk2/b.flac", 0.5, 0.25, "first part"),
        (f"{root}/spk2/b.flac", 0.75, 1.0, "second part"),
        (f"{root}/sub dir/c.wav", 0.5, None, "third"),
    ]
    assert "offset" not in lines[0] and "offset" not in lines[3]  # whole files: no offset key


def test_a_row_read_from_nemo_re_exports_with_its_own_keys(root, tmp_path):
    rows = nemo_rows(root)
    lines = _export(results(rows), tmp_path / "nemo")
    for line, original in zip(lines, nemo_lines(rows)):
        assert {k: v for k, v in line.items() if k not in ("audio_filepath", "duration")} == \
            {k: v for k, v in original.items() if k != "duration"}
    assert type(lines[0]["speaker_id"]) is int  # an integer field with a gap stays an integer
    assert "speaker_id" not in lines[1]  # the line without the key has none (not null)
    assert lines[0]["duration"] == 1.0  # measured, not the input line's 1.02


def test_other_manifests_fields_are_carried_under_their_names(root, tmp_path):
    frame = results([job_row(root, "a.wav", manifest_format="tsv", client_id="c9", sentence="Grüße", up_votes=2,
                             score=float("nan"), nested={"k": [1.5, None]})])
    (line,) = _export(frame, tmp_path / "nemo")
    assert line == {"audio_filepath": f"{root}/a.wav", "duration": 1.0, "client_id": "c9", "sentence": "Grüße",
                    "up_votes": 2, "nested": {"k": [1.5, None]}}
    assert "Grüße" in (tmp_path / "nemo" / "manifest.jsonl").read_text(encoding="utf-8")  # UTF-8, not escaped
