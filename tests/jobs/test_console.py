"""The job's console and its local log files."""

from __future__ import annotations

import os
import time

from jobs import console


def test_a_new_run_deletes_default_logs_older_than_the_limit_and_keeps_the_rest(tmp_path, monkeypatch):
    monkeypatch.setattr(console.tempfile, "gettempdir", lambda: str(tmp_path))
    folder = os.path.dirname(console.default_log_path("first"))
    old, recent = os.path.join(folder, "old.log"), os.path.join(folder, "recent.log")
    for path in (old, recent):
        with open(path, "w") as f:
            f.write("a run\n")
    stale = time.time() - (console.LOG_MAX_AGE_DAYS + 1) * 86400
    os.utime(old, (stale, stale))

    path = console.default_log_path("second")

    assert path == os.path.join(folder, "second.log")
    assert not os.path.exists(old) and os.path.exists(recent)
