"""A second run on an output location is refused while another run there is alive."""

from __future__ import annotations

import json
import time

import fsspec
import pytest

from jobs.config import load_config
from jobs.pipeline import JobFailed, run_job
from jobs.run_lease import Heartbeat, find_live_run

from .conftest import ROOT

LOCAL = str(ROOT / "configs" / "local.yaml")


def _record(folder, job_id, state="running", age=0.0):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{job_id}.json").write_text(json.dumps(
        {"job_id": job_id, "state": state, "started_at": "2026-01-01T00:00:00+00:00",
         "heartbeat_at": time.time() - age}))


def test_a_running_run_with_a_fresh_heartbeat_holds_the_lease(tmp_path):
    fs = fsspec.filesystem("file")
    _record(tmp_path, "other", age=10)
    assert find_live_run(fs, str(tmp_path), "me", 300, retries=0)["job_id"] == "other"


@pytest.mark.parametrize("state, age, me, lease", [
    ("running", 400, "me", 300),    # heartbeat stale: its driver died
    ("finished", 0, "me", 300),     # done
    ("failed", 0, "me", 300),
    ("running", 0, "other", 300),   # our own record (same job id)
    ("running", 0, "me", 0),        # check turned off
])
def test_no_lease_from_stale_finished_own_or_disabled(tmp_path, state, age, me, lease):
    _record(tmp_path, "other", state=state, age=age)
    assert find_live_run(fsspec.filesystem("file"), str(tmp_path), me, lease, retries=0) is None


def test_heartbeat_refreshes_until_stopped(tmp_path):
    written = []
    hb = Heartbeat({"job_id": "me", "state": "running"}, lambda r: written.append(r["heartbeat_at"]), interval=1.0)
    hb.start()
    time.sleep(2.5)
    hb.stop()
    n = len(written)
    time.sleep(1.2)
    assert n >= 2 and len(written) == n and written == sorted(written)


def test_job_refuses_an_output_another_live_run_is_writing(tmp_path):
    out = tmp_path / "out"
    _record(out / "_manifest" / "runs", "first-run", age=5)
    cfg = load_config(LOCAL, [f"output.uri={out}", "job.id=second-run"])
    with pytest.raises(JobFailed, match=r"another run \(first-run.*is writing to"):
        run_job(cfg, echo=lambda *_: None)
    assert not (out / "_manifest" / "runs" / "second-run.json").exists()  # refused before writing anything


def test_a_dead_driver_on_this_host_frees_the_lease_at_once(tmp_path):
    import subprocess
    import sys

    from jobs.run_lease import driver_identity

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    _record(tmp_path, "other", age=1)
    rec = json.loads((tmp_path / "other.json").read_text())
    rec.update(driver_identity(), driver_pid=int(dead.stdout))
    (tmp_path / "other.json").write_text(json.dumps(rec))
    assert find_live_run(fsspec.filesystem("file"), str(tmp_path), "me", 300, retries=0) is None
    rec["driver_pid"] = __import__("os").getpid()  # alive
    (tmp_path / "other.json").write_text(json.dumps(rec))
    assert find_live_run(fsspec.filesystem("file"), str(tmp_path), "me", 300, retries=0) is not None
