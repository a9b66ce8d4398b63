"""Refuse a second run on an output location while another run is alive there.

Two runs on one ``output.uri`` would consolidate each other's result parts and process the same
inputs twice. Object stores offer no portable create-if-absent, so this is a heartbeat *lease*,
not a mutex: every run's record ``<manifest_dir>/runs/<job_id>.json`` carries ``state`` and
``heartbeat_at`` (seconds since the epoch), refreshed by a daemon thread while the run works. A
new run refuses to start (exit 75, EX_TEMPFAIL) when another record says ``running`` with a heartbeat younger
than ``job.lease_seconds``. A driver that died (OOM, node lost) leaves a heartbeat that goes
stale, so the output location is free again after ``lease_seconds`` without manual cleanup (at
once for a run on the same host whose driver process is gone).

What it catches: the same job submitted twice, a retry started while the first attempt still
runs, two pipelines pointed at one prefix. What it cannot: two runs started within the same
second or two (both see no live record). ``job.lease_seconds: 0`` turns the check off.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
from collections.abc import Callable
from typing import Any

from jobs.storage import fetch_many

__all__ = ["Heartbeat", "driver_identity", "find_live_run"]

log = logging.getLogger("frcrn.job")


def find_live_run(fs, runs_dir: str, job_id: str, lease_seconds: float, *, retries: int,
                  now: float | None = None) -> dict[str, Any] | None:
    """The record of another run whose heartbeat is younger than ``lease_seconds``, if any."""
    if lease_seconds <= 0:
        return None
    fs.invalidate_cache()
    if not fs.exists(runs_dir):
        return None
    paths = sorted(p for p in fs.find(runs_dir) if p.endswith(".json"))
    now = time.time() if now is None else now
    for _path, data in zip(paths, fetch_many(fs, paths, retries=retries)):
        if isinstance(data, BaseException):
            continue
        try:
            record = json.loads(data)
        except ValueError:
            continue
        if not isinstance(record, dict) or record.get("job_id") == job_id or record.get("state") != "running":
            continue
        beat = record.get("heartbeat_at")
        if isinstance(beat, (int, float)) and now - beat < lease_seconds and not _died_here(record):
            return record
    return None


def driver_identity() -> dict[str, Any]:
    """Where this driver runs; lets a run on the same host see at once that a holder is dead."""
    return {"driver_host": socket.gethostname(), "driver_pid": os.getpid()}


def _died_here(record: dict[str, Any]) -> bool:
    """True when the holder ran on this host and its process is gone (Ctrl-C twice, kill -9)."""
    if record.get("driver_host") != socket.gethostname() or not isinstance(record.get("driver_pid"), int):
        return False
    try:
        os.kill(record["driver_pid"], 0)
    except ProcessLookupError:
        return True
    except OSError:
        return False
    return False


class Heartbeat:
    """Rewrites this run's record with a fresh ``heartbeat_at`` every ``interval`` seconds.

    ``write(record)`` is the caller's atomic JSON writer. A failed write is logged and retried at
    the next beat: losing the lease for a while only weakens the check, it never stops the run.
    ``live``, when set, gives fields to refresh at every beat too (the driver's progress numbers,
    read back by ``frcrn job status``).
    """

    def __init__(self, record: dict[str, Any], write: Callable[[dict[str, Any]], None], interval: float) -> None:
        self.record, self._write, self.interval = dict(record), write, max(1.0, interval)
        self.live: Callable[[], dict[str, Any]] | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="frcrn-job-heartbeat", daemon=True)

    def beat(self) -> None:
        if self.live is not None:
            self.record.update(self.live())
        self.record["heartbeat_at"] = time.time()
        self._write(self.record)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.beat()
            except Exception as err:  # see the class docstring
                log.warning("could not refresh the run's heartbeat: %s", err)

    def start(self) -> None:
        self.beat()
        self._thread.start()

    def stop(self) -> None:
        """Idempotent; after it returns no beat can overwrite the run's final record."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=60)
