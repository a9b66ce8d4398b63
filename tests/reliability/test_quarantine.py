"""The poison-file quarantine of the enhancement replicas, without Ray (milliseconds).

A replica death cannot be simulated in-process, so the test replays what Ray does after one:
the same batch is handed to a fresh replica while the node-local "in flight" marks written by
the dead one are still there (the cluster test proves the whole loop with real process deaths).
"""

from __future__ import annotations

import numpy as np

from jobs.results import PIPELINE_SCHEMA, new_row, rows_to_table
from jobs.stages import CRASH_LIMIT, Enhance, _CrashMarks


class _Identity:
    model_id, checkpoint_sha256 = "identity", ""

    def __init__(self):
        self.calls = []

    def enhance_many(self, waves):
        self.calls.append(len(waves))
        return [w.copy() for w in waves]

    def enhance(self, w):
        return w.copy()


def _replica():
    return Enhance(enhancer=_Identity())  # a ready enhancer instead of ModelSettings: no model to load


def _batch_of(uris, job_id):
    rows = []
    for u in uris:
        row = new_row(u, u + ".out", job_id)
        row["audio"] = np.full(160, 0.1, np.float32).tobytes()
        row["processing_s"] = 0.0
        rows.append(row)
    return rows_to_table(rows, PIPELINE_SCHEMA)


def test_marked_batch_runs_file_by_file_and_poison_is_quarantined(tmp_path, monkeypatch):
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    job = "quarantine-test"
    uris = [f"s3://b/in/{i}.wav" for i in range(4)]
    marks = _CrashMarks(job)
    # First attempt died with the whole batch in flight.
    marks.add(uris)
    r = _replica()
    out = r(_batch_of(uris, job)).to_pydict()
    assert list(out["status"]) == ["pending"] * 4 and r.enhancer.calls == [1, 1, 1, 1]  # one at a time
    assert all(marks.count(u) == 0 for u in uris)  # cleared after success
    # uris[2] was in flight during CRASH_LIMIT deaths: it becomes an error row, the rest run.
    for _ in range(CRASH_LIMIT):
        marks.add([uris[2]])
    r = _replica()
    out = r(_batch_of(uris, job)).to_pydict()
    status = dict(zip(out["input_uri"], out["status"]))
    assert status[uris[2]] == "error" and out["error_type"][2] == "worker_crash"
    assert "died 2 times" in out["error_message"][2]
    assert [status[u] for u in uris if u != uris[2]] == ["pending"] * 3
    # A clean batch is enhanced in one packed call, as before.
    r = _replica()
    r(_batch_of([f"s3://b/in/x{i}.wav" for i in range(3)], job))
    assert r.enhancer.calls == [3]
