"""A run's progress: counted on the driver from the write stage's per-batch rows, printed as one
plain line at a fixed interval, and kept in the run's record for ``frcrn job status``.

The write stage returns one tiny row per batch (``jobs.stages.PROGRESS_SCHEMA``: recordings, ok
ones, their audio seconds); :class:`Progress` adds them up. While the stages run,
:class:`ProgressTicker` prints ``progress.line()`` every ``job.progress_every_s`` seconds from a
thread of its own (a line comes at the interval even when no batch finished in it) and one
final line when the execution ends, however it ends::

      progress    1,234/10,000 recordings (12.3 %), 3.42/27.80 h audio, 41.2x real time, 2 errors, ETA 12 min

Plain text, one line each, written through the job's console (``jobs.console``, flushed), so it
reads the same on a terminal, in ``ray job logs`` and in a pod's log. The numbers:

* recordings done of this run's to-do recordings (a recording named by several manifest lines
  counts once); errors: recordings that ended as error rows;
* audio hours: the input duration of every recording done (ok or not, when it could be decoded),
  of the to-do total when the manifest gives every to-do recording's duration (a numeric
  ``duration`` on a whole-file line, as NeMo manifests have; see :func:`known_seconds`);
* x real time: audio seconds done per second since the execution started (Ray start-up and
  model loading included);
* ETA: the rest at the rate so far, by audio when the total is known, else by recordings.

:meth:`Progress.snapshot` gives the same numbers as plain data: the driver's heartbeat writes it
into ``_manifest/runs/<job_id>.json`` as ``progress``, and the summary keeps the final one.
Nothing here imports Ray (nor pandas, but for :func:`known_seconds`): ``jobs.status`` formats a
snapshot read back from storage.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

__all__ = ["Progress", "ProgressTicker", "format_duration", "format_progress", "known_seconds"]

LABEL = "  progress    "
"""The line's label, aligned with the summary's (``jobs.summary.format_summary``)."""


class Progress:
    """What the write stage reported so far, for ``total`` to-do recordings (``total_audio_s``:
    their input seconds when known). Thread-safe: the driver adds, the ticker and the heartbeat read."""

    def __init__(self, total: int, total_audio_s: float | None = None) -> None:
        self.total, self.total_audio_s = int(total), total_audio_s
        self.done = self.errors = 0
        self.audio_s = 0.0
        self._t0: float | None = None
        self._t1: float | None = None
        self._lock = threading.Lock()

    def start(self) -> None:
        """The execution starts now: the clock of the rate and the ETA."""
        with self._lock:
            self._t0, self._t1 = time.monotonic(), None

    def stop(self) -> None:
        with self._lock:
            self._t1 = time.monotonic() if self._t0 is not None else None

    def add(self, batch: pa.Table) -> None:
        """One or more PROGRESS_SCHEMA rows."""
        inputs = sum(batch.column("inputs").to_pylist())
        ok = sum(batch.column("ok").to_pylist())
        seconds = sum(batch.column("audio_s").to_pylist()) if "audio_s" in batch.column_names else 0.0
        with self._lock:
            self.done += inputs
            self.errors += inputs - ok
            self.audio_s += float(seconds)

    def at_least(self, done: int) -> None:
        """After a re-planned execution: ``done`` recordings have a durable record, some of them
        perhaps never reported (their batch was lost with the failed execution)."""
        with self._lock:
            self.done = max(self.done, min(int(done), self.total))

    def snapshot(self) -> dict[str, Any]:
        """The numbers as plain data (JSON-ready), as of now."""
        with self._lock:
            now = time.monotonic()
            elapsed = 0.0 if self._t0 is None else (self._t1 or now) - self._t0
            p: dict[str, Any] = {
                "recordings_total": self.total, "recordings_done": self.done, "errors": self.errors,
                "audio_s_done": round(self.audio_s, 3),
                "audio_s_total": None if self.total_audio_s is None else round(self.total_audio_s, 3),
                "elapsed_s": round(elapsed, 3), "finished": self._t1 is not None, "at": time.time(),
            }
        p["x_realtime"] = round(self.audio_s / elapsed, 3) if elapsed > 0 else None
        p["eta_s"] = _eta(p)
        return p

    def line(self) -> str:
        return format_progress(self.snapshot())


def _eta(p: Mapping[str, Any]) -> float | None:
    """Seconds left at the rate so far; None before anything is done."""
    total, done, elapsed = p["recordings_total"], p["recordings_done"], p["elapsed_s"]
    if done >= total:
        return 0.0
    known, seconds = p.get("audio_s_total"), p["audio_s_done"]
    if known and 0 < seconds < known:  # (past the stated total, e.g. rounded durations: by recordings)
        return round((known - seconds) * elapsed / seconds, 1)
    if done > 0:
        return round((total - done) * elapsed / done, 1)
    return None


def format_duration(seconds: float) -> str:
    """``45 s``, ``12 min``, ``3 h 20 min``, ``2.5 days``."""
    seconds = max(0.0, float(seconds))
    if seconds < 60:
        return f"{seconds:.0f} s"
    if seconds < 3600:
        return f"{seconds / 60:.0f} min"
    if seconds < 48 * 3600:
        hours, minutes = divmod(round(seconds / 60), 60)
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    return f"{seconds / 86400:.1f} days"


def format_progress(p: Mapping[str, Any], *, age_s: float = 0.0) -> str:
    """One progress line from a :meth:`Progress.snapshot` taken ``age_s`` seconds ago (its ETA
    is that much shorter now). A finished snapshot ends with the time the execution took."""
    total, done, errors = p["recordings_total"], p["recordings_done"], p["errors"]
    share = 100.0 * done / total if total else 100.0
    hours = p["audio_s_done"] / 3600
    known = p.get("audio_s_total")
    audio = f"{hours:.2f}/{known / 3600:.2f} h audio" if known else f"{hours:.2f} h audio"
    rate = p.get("x_realtime")
    parts = [f"{done:,d}/{total:,d} recordings ({share:.1f} %)", audio,
             f"{rate:.1f}x real time" if rate is not None else "- x real time",
             f"{errors:,d} error" + ("" if errors == 1 else "s")]
    eta = p.get("eta_s")
    if p.get("finished"):
        parts.append(f"took {format_duration(p['elapsed_s'])}")
    else:
        parts.append("ETA unknown" if eta is None else f"ETA {format_duration(float(eta) - age_s)}")
    return LABEL + ", ".join(parts)


def known_seconds(table: pd.DataFrame, uris: Any) -> float | None:
    """The total input seconds of the recordings ``uris`` as the manifest states them, or None
    unless every one of them has a whole-file line with a numeric ``duration`` >= 0 (NeMo writes
    one on every line; a segment line's ``duration`` is the segment's, so it does not count)."""
    import numpy as np
    import pandas as pd

    wanted = pd.Index(pd.unique(pd.Series(list(uris), dtype=object)))
    if wanted.empty:
        return 0.0
    if "duration" not in table.columns:
        return None
    whole = table["segment_offset_s"].isna() & table["segment_duration_s"].isna() & (table["error_type"] == "")
    durations = pd.to_numeric(table.loc[whole, "duration"], errors="coerce")
    per_recording = (pd.DataFrame({"uri": table.loc[whole, "input_uri"], "s": durations})
                     .dropna().query("s >= 0").groupby("uri")["s"].first())
    per_recording = per_recording[np.isfinite(per_recording.to_numpy(dtype="float64"))]
    if not wanted.isin(per_recording.index).all():
        return None
    return float(per_recording.loc[wanted].sum())


class ProgressTicker:
    """``with ProgressTicker(progress, echo, every):`` around the execution: starts the clock,
    prints ``progress.line()`` every ``every`` seconds from a daemon thread, and the final line
    on the way out (success, failure or interrupt alike)."""

    def __init__(self, progress: Progress, echo: Callable[[str], Any], every: float) -> None:
        self.progress, self.echo, self.every = progress, echo, max(0.1, float(every))
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="frcrn-job-progress", daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            self.echo(self.progress.line())

    def __enter__(self) -> ProgressTicker:
        self.progress.start()
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        self._thread.join(timeout=max(5.0, self.every))
        self.progress.stop()
        self.echo(self.progress.line())
