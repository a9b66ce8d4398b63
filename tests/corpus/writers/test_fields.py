"""Which carried column is the text, the speaker, the language and the ids, for every format alike;
how ids are derived when the manifest has none; JSON-safe values."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from frcrn.corpus.writers import ExportError
from frcrn.corpus.writers.fields import carried_columns, plain
from frcrn.corpus.writers.rows import ExportRows

from .support import job_row, outputs, results


@pytest.fixture
def root(tmp_path):
    return outputs(tmp_path / "out")


def _one(root, **carried):
    return next(iter(ExportRows(results([job_row(root, "a.wav", **carried)]))))


def test_the_first_present_column_is_the_field(root):
    row = _one(root, sentence="from common voice", normalized_text="normalised", client_id="c1",
               locale="cy", gender="female")
    assert (row.text, row.speaker, row.language, row.gender) == ("from common voice", "c1", "cy", "female")
    assert _one(root, client_id="c1", speaker_id=12).speaker == "12"
    row = _one(root, text="t", sentence="s", speaker="spk", client_id="c1", language="en", lang="de")
    assert (row.text, row.speaker, row.language) == ("t", "spk", "en")


def test_a_blank_or_missing_value_falls_through_to_the_next_column(root):
    rows = list(ExportRows(results([job_row(root, "a.wav", text="", transcript="spoken", speaker=None, speaker_id=4),
                                    job_row(root, "sub dir/c.wav", text="own", transcript=None, speaker="x",
                                            speaker_id=None)])))
    assert [(r.text, r.speaker) for r in rows] == [("spoken", "4"), ("own", "x")]


def test_nothing_known_is_none(root):
    row = _one(root, other="value")
    assert (row.text, row.speaker, row.language, row.gender) == (None, None, None, None)
    assert row.carried == {"other": "value"}


def test_carried_columns_are_everything_but_the_jobs_own(root):
    frame = results([job_row(root, "a.wav", text="t", input_extra="kept")])
    assert carried_columns(list(frame.columns)) == ["text", "input_extra"]


def test_ids_come_from_the_manifest_in_order_of_preference(root):
    row = _one(root, supervision_id="sup-1", utt_id="u", cut_id="c", id="i", recording_id="rec-1")
    assert (row.utterance_id, row.recording_id) == ("sup-1", "rec-1")
    row = _one(root, cut_id="c", id="i")
    assert row.utterance_id == "c"


def test_derived_ids_are_the_output_path_below_the_root_and_the_segment_times(root):
    frame = results([job_row(root, "sub dir/c.wav"), job_row(root, "spk2/b.flac", segment=(0.25, 0.5)),
                     job_row(root, "spk2/b.flac", segment=(1.0, 0.75))])
    rows = list(ExportRows(frame, root=str(root)))
    assert [r.recording_id for r in rows] == ["sub_dir_c", "spk2_b", "spk2_b"]
    assert [r.utterance_id for r in rows] == ["sub_dir_c", "spk2_b-00000250-00000750", "spk2_b-00001000-00001750"]
    # stable: the same file has the same id in an export of a subset
    alone = next(iter(ExportRows(frame.iloc[1:2], root=str(root))))
    assert alone.recording_id == "spk2_b"


def test_ids_never_hold_whitespace(root):
    row = _one(root, utt_id="speaker one  utt\t1", recording_id="rec one", speaker="Ann Lee")
    assert (row.utterance_id, row.recording_id, row.speaker) == ("speaker_one_utt_1", "rec_one", "Ann_Lee")


def test_two_rows_with_one_utterance_id_are_refused(root):
    frame = results([job_row(root, "a.wav", utt_id="u 1"), job_row(root, "sub dir/c.wav", utt_id="u_1")])
    with pytest.raises(ExportError, match=r"utterance id.*'u_1': 2 rows"):
        ExportRows(frame)


def test_carried_recording_ids_that_do_not_name_one_file_each_are_replaced(root):
    frame = results([job_row(root, "a.wav", recording_id="session"),
                     job_row(root, "sub dir/c.wav", recording_id="session")])
    assert [r.recording_id for r in ExportRows(frame, root=str(root))] == ["a", "sub_dir_c"]


def test_rows_that_are_not_ok_are_refused(root):
    frame = results([job_row(root, "a.wav"), job_row(root, "sub dir/c.wav", status="error")])
    with pytest.raises(ExportError, match=r"1 of the 2 rows are not ok \(error: 1\).*status == 'ok'"):
        ExportRows(frame)


def test_plain_values_are_json_safe():
    assert plain(np.int64(3)) == 3 and type(plain(np.int64(3))) is int
    assert plain(np.float32(0.5)) == 0.5
    assert plain(float("nan")) is None and plain(pd.NA) is None and plain(math.inf) is None
    assert plain(np.array([1.0, np.nan])) == [1.0, None]
    assert plain({"a": np.bool_(True), "b": [np.int8(1)]}) == {"a": True, "b": [1]}
    assert plain(pd.Timestamp("2026-01-02T03:04:05Z")) == "2026-01-02T03:04:05+00:00"
    assert plain(b"\x00\x01") == "AAE="
