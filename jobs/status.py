"""``frcrn job status OUTPUT_URI [--job-id ID]``: how the run on an output location is doing, or
how it ended, read from storage alone (no Ray, no cluster address)::

    frcrn job status s3://corpus-clean/v1/
    frcrn job status /data/clean --job-id run-20260101T000000Z-1a2b3c

Every run keeps a record at ``<OUTPUT_URI>/_manifest/runs/<job_id>.json``: while it runs, the
driver's heartbeat rewrites it every ``job.progress_every_s`` (at most ``job.lease_seconds``/5)
with ``state: running``, ``heartbeat_at`` and the progress numbers (``jobs.progress``); at the
end the run's summary replaces it (``state: finished``, or ``failed``). This command reads those
records, picks the newest run (by ``started_at``; ``--job-id`` picks another) and prints:

* the run: job id, state, when it started, the age of its last heartbeat (a ``running`` record
  without a heartbeat for longer than its lease is marked stale: its driver is gone, and the next
  run on the location resumes it);
* its progress line, as of that heartbeat (the ETA less the heartbeat's age);
* for a run that is not finished, the result parts it has written so far under
  ``_manifest/_parts/<job_id>/`` (one per write batch, the durable records; consolidation
  deletes them at the end) and how long ago the last one was written;
* for a finished run, its summary counts (``jobs.summary.format_summary``) and outcome.

Storage options come from ``$FRCRN_STORAGE_OPTIONS`` (JSON), as for ``export``/``select``.
Exit status: 0 a run was shown; 2 nothing at OUTPUT_URI, no run recorded there, an unknown
``--job-id`` or a bad ``$FRCRN_STORAGE_OPTIONS`` (one line each); 5 storage or network failure;
1 anything else.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import datetime
from typing import Any

from jobs.config import ConfigError, env_storage_options
from jobs.errors import EXIT_CONFIG, EXIT_INTERNAL, EXIT_OK, JobFailed, SpecError, first_line, storage_step
from jobs.progress import LABEL, format_duration, format_progress

__all__ = ["add_parser", "main", "status"]

RUNS = "_manifest/runs"
PARTS = "_manifest/_parts"
PROG = "frcrn job status"


def add_parser(sub: Any) -> None:
    """Register ``status`` on the job command's subparsers."""
    s = sub.add_parser("status", help="how the run on an output location is doing, or how it ended (no Ray needed)")
    s.add_argument("output_uri", metavar="OUTPUT_URI", help="the job's output.uri (holds _manifest/runs/)")
    s.add_argument("--job-id", metavar="ID", help="show this run (default: the newest one)")


def main(args: argparse.Namespace) -> int:
    """Print the status; returns the exit status (module doc)."""
    try:
        print(status(args.output_uri, job_id=args.job_id, storage_options=env_storage_options()), flush=True)
    except ConfigError as err:
        print(f"{PROG}: config error: {first_line(err)}", file=sys.stderr)
        return EXIT_CONFIG
    except JobFailed as err:  # SpecError (2) or StorageFailure (5), one line each
        print(f"{PROG}: {first_line(err)}", file=sys.stderr)
        return err.exit_code
    except Exception as err:  # one line
        print(f"{PROG}: internal error: {type(err).__name__}: {first_line(err)}", file=sys.stderr)
        return EXIT_INTERNAL
    return EXIT_OK


def status(output_uri: str, *, job_id: str | None = None, storage_options: dict[str, Any] | None = None,
           now: float | None = None) -> str:
    """The lines to print for the newest run (or ``job_id``) on ``output_uri``. Raises SpecError
    (nothing there, no run, unknown id) or StorageFailure, each one line."""
    from jobs.paths import parse_location
    from jobs.storage import filesystem

    loc = parse_location(output_uri)
    options = dict(storage_options or {}) if loc.protocol != "file" else {}
    now = time.time() if now is None else now
    with storage_step("OUTPUT_URI", loc.uri, options, "reading the run records"):
        fs = filesystem(loc.protocol, options)
        fs.invalidate_cache()
        if not fs.exists(loc.path):
            raise SpecError(f"nothing at {loc.uri}: OUTPUT_URI must be a job's output.uri")
        records = _read_runs(fs, f"{loc.path}/{RUNS}")
        if not records:
            raise SpecError(f"no run recorded under {loc.child(RUNS).uri}: `frcrn job run` has not "
                            "started on this output location (or it is another job's output.uri)")
        record = _choose(records, job_id)
        parts = None if record.get("state") == "finished" else _parts(fs, f"{loc.path}/{PARTS}/{record['job_id']}")
    lines = _describe(record, now, parts, f"{PARTS}/{record['job_id']}/")
    if len(records) > 1:
        others = ", ".join(f"{r['job_id']} {r.get('state', '?')}" for r in reversed(records) if r is not record)
        lines.append(f"  other runs  {len(records) - 1} recorded ({_clip(others, 160)}); --job-id ID shows one")
    return "\n".join(lines)


def _read_runs(fs, runs_dir: str) -> list[dict[str, Any]]:
    """The readable run records, oldest first (by ``started_at``, then the heartbeat)."""
    from jobs.storage import fetch_many

    if not fs.exists(runs_dir):
        return []
    paths = sorted(p for p in fs.find(runs_dir) if p.endswith(".json"))
    records = []
    for data in fetch_many(fs, paths, retries=2):
        if isinstance(data, FileNotFoundError):
            continue  # replaced between the listing and the read
        if isinstance(data, BaseException):
            raise data
        try:
            record = json.loads(data)
        except ValueError:
            continue  # not a run record: left out
        if isinstance(record, dict) and isinstance(record.get("job_id"), str):
            records.append(record)
    return sorted(records, key=lambda r: (str(r.get("started_at") or ""), _number(r.get("heartbeat_at")) or 0.0))


def _choose(records: list[dict[str, Any]], job_id: str | None) -> dict[str, Any]:
    if job_id is None:
        return records[-1]
    for record in records:
        if record["job_id"] == job_id:
            return record
    known = ", ".join(r["job_id"] for r in reversed(records))
    raise SpecError(f"no run {job_id!r} recorded here; runs: {_clip(known, 300)}")


def _parts(fs, parts_dir: str) -> tuple[int, float | None]:
    """(result parts written under ``parts_dir``, when the newest was written or None)."""
    if not fs.exists(parts_dir):
        return 0, None
    found = {p: info for p, info in fs.find(parts_dir, detail=True).items() if p.endswith(".parquet")}
    times = [t for t in (_modified(info) for info in found.values()) if t is not None]
    return len(found), (max(times) if times else None)


def _modified(info: dict[str, Any]) -> float | None:
    """An fsspec listing entry's modification time (local ``mtime``, S3 ``LastModified``, GCS ``updated``)."""
    for key in ("mtime", "LastModified", "last_modified", "updated", "created"):
        value = info.get(key)
        if isinstance(value, (int, float)):
            return float(value)
        if isinstance(value, datetime):
            return value.timestamp()
        if isinstance(value, str) and _timestamp(value) is not None:
            return _timestamp(value)
    return None


def _describe(record: dict[str, Any], now: float, parts: tuple[int, float | None] | None, where: str) -> list[str]:
    state = str(record.get("state") or "unknown")
    beat = _number(record.get("heartbeat_at"))
    age = None if beat is None else max(0.0, now - beat)
    stale = state == "running" and (age is None or age > _lease(record))
    head = f"{PROG}: {record['job_id']} {state}" + (" (stale)" if stale else "")
    if record.get("failure"):
        head += f" ({record['failure']})"
    head += f", started {record.get('started_at') or '?'}"
    if record.get("finished_at"):
        ended = _timestamp(record["finished_at"])
        head += f", finished {record['finished_at']}" + (
            f" ({format_duration(now - ended)} ago)" if ended is not None else "")
    if age is not None and "counts" not in record:
        head += f", last heartbeat {format_duration(age)} ago"
    if stale:
        head += (f": no heartbeat for longer than its lease ({_lease(record):.0f} s), so its driver has stopped; "
                 "the next run on this output location resumes it")
    lines = [head, _progress_line(record, state == "running" and not stale, age or 0.0)]
    if parts is not None and (parts[0] or state == "running"):
        last = f", the last {format_duration(now - parts[1])} ago" if parts[1] is not None and parts[0] else ""
        lines.append(f"  records     {parts[0]:,d} result parts written so far{last} ({where})")
    if "counts" in record:
        lines += _summary_lines(record)
    return [line for line in lines if line]


def _progress_line(record: dict[str, Any], running: bool, age: float) -> str:
    p = record.get("progress")
    if not isinstance(p, dict):
        return (LABEL + "none yet: the run is still reading its inputs and planning") if running else ""
    try:
        if running:
            return format_progress(p, age_s=age)
        if p.get("finished"):
            return format_progress(p)
        # a run that is not going on has no ETA: how long it ran instead, as of its last beat
        return format_progress({**p, "finished": True}) + " (at its last heartbeat)"
    except (KeyError, TypeError, ValueError):  # a record written by another version: left out
        return ""


def _summary_lines(record: dict[str, Any]) -> list[str]:
    from jobs.summary import format_summary

    try:
        lines = format_summary(record).splitlines()[1:]  # the first says what the head line says
    except (KeyError, TypeError, ValueError):
        lines = [f"  counts      {record.get('counts')}"]
    if record.get("outcome"):
        lines.append(f"  outcome     {record['outcome']}")
    return lines


def _lease(record: dict[str, Any]) -> float:
    """How long the run's heartbeat may be silent before its record is stale: its lease
    (``job.lease_seconds``), or without one ten beats (``job.progress_every_s``)."""
    job = (record.get("config") or {}).get("job") or {}
    lease, every = _number(job.get("lease_seconds")), _number(job.get("progress_every_s"))
    lease = 300.0 if lease is None else lease
    return lease if lease > 0 else 10 * (every or 300.0)


def _timestamp(text: Any) -> float | None:
    try:
        return datetime.fromisoformat(str(text).replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."
