"""Run summary: counts by status, hours in/out, throughput, wall time -- printed and saved as JSON."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pandas as pd

__all__ = ["build_summary", "format_summary"]


def _hours(series: pd.Series) -> float:
    return float(pd.to_numeric(series, errors="coerce").fillna(0).sum()) / 3600.0


def build_summary(
    *,
    job_id: str,
    final: pd.DataFrame,
    processed: pd.Series,
    started_at: str,
    finished_at: str,
    wall_seconds: float,
    duplicates: int,
    input_uri: str,
    sources: list[str],
    formats: list[str],
    output_uri: str,
    manifest_uri: str,
    failure: str | None,
    config: dict[str, Any],
) -> dict[str, Any]:
    """``processed``: per row of ``final``, whether this run handled it (else an earlier run did).

    Rows and recordings are counted apart: three segment lines of one long file are three rows
    and one recording; audio hours count each recording once."""
    processed = pd.Series(processed.to_numpy(dtype=bool), index=final.index)
    this_run = final[processed]
    ok_now = this_run[this_run["status"] == "ok"].drop_duplicates("input_uri")
    audio_s = float(pd.to_numeric(ok_now["input_duration_s"], errors="coerce").fillna(0).sum())
    errors = final[final["status"] == "error"]
    return {
        "job_id": job_id,
        "state": "failed" if failure else "finished",
        "failure": failure,
        "started_at": started_at,
        "finished_at": finished_at,
        "wall_seconds": round(wall_seconds, 3),
        "input": {"uri": input_uri, "sources": len(sources), "formats": sorted(set(formats)),
                  "rows": len(final), "recordings": int(final["input_uri"].nunique()),
                  "repeated_lines": duplicates},
        "output": {"uri": output_uri, "manifest": manifest_uri},
        "counts": {
            "ok": int((this_run["status"] == "ok").sum()),
            "error": int((this_run["status"] == "error").sum()),
            "skipped": int((~processed).sum()),
            "recordings_processed": int(this_run["input_uri"].nunique()),
        },
        "manifest_counts": {str(k): int(v) for k, v in Counter(final["status"]).items()},
        "errors_by_type": {str(k): int(v) for k, v in Counter(errors["error_type"]).most_common()},
        "hours_in": round(_hours(ok_now["input_duration_s"]), 6),
        "hours_out": round(_hours(ok_now["output_duration_s"]), 6),
        "throughput_x_realtime": round(audio_s / wall_seconds, 3) if wall_seconds > 0 else None,
        "files_per_second": round(len(ok_now) / wall_seconds, 3) if wall_seconds > 0 else None,
        "config": config,
    }


def format_summary(s: dict[str, Any]) -> str:
    c, i = s["counts"], s["input"]
    lines = [
        f"frcrn-job {s['job_id']}: {s['state']}" + (f" ({s['failure']})" if s["failure"] else ""),
        f"  inputs      {i['rows']} rows, {i['recordings']} recordings ({', '.join(i['formats'])})",
        f"  this run    ok {c['ok']}   error {c['error']}   skipped {c['skipped']} (done earlier)   "
        f"recordings processed {c['recordings_processed']}",
        "  manifest    " + "   ".join(f"{k} {v}" for k, v in sorted(s["manifest_counts"].items())),
        f"  audio       {s['hours_in']:.3f} h in -> {s['hours_out']:.3f} h out",
        f"  wall time   {s['wall_seconds']:.1f} s   throughput {s['throughput_x_realtime']} x real time",
        f"  results     {s['output']['manifest']}",
    ]
    if s["errors_by_type"]:
        lines.append("  errors      " + ", ".join(f"{k} {v}" for k, v in s["errors_by_type"].items()))
    return "\n".join(lines)
