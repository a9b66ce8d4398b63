"""Run summary: counts by status, hours in/out, throughput, wall time -- printed and saved as JSON."""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from jobs.tables import release_memory, text_array

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
    release_memory(len(final))  # what turning the manifest into pandas left behind
    processed = processed.to_numpy(dtype=bool)
    status = final["status"]
    is_ok, is_error = (status == "ok").to_numpy(dtype=bool), (status == "error").to_numpy(dtype=bool)
    # counted column by column in Arrow: never a copy of the manifest or a Python object per row
    number = _number(final["input_uri"])  # one number per recording (-1: none)
    ok_now = _first_of_each(number, np.flatnonzero(processed & is_ok))  # a recording's first ok row
    hours_in, hours_out = (final[c].iloc[ok_now] for c in ("input_duration_s", "output_duration_s"))
    audio_s = float(pd.to_numeric(hours_in, errors="coerce").fillna(0).sum())
    return {
        "job_id": job_id,
        "state": "failed" if failure else "finished",
        "failure": failure,
        "started_at": started_at,
        "finished_at": finished_at,
        "wall_seconds": round(wall_seconds, 3),
        "input": {"uri": input_uri, "sources": len(sources), "formats": sorted(set(formats)),
                  "rows": len(final), "recordings": int(number.max(initial=-1)) + 1,
                  "repeated_lines": duplicates},
        "output": {"uri": output_uri, "manifest": manifest_uri},
        "counts": {
            "ok": int((processed & is_ok).sum()),
            "error": int((processed & is_error).sum()),
            "skipped": int((~processed).sum()),
            "recordings_processed": len(np.unique(number[processed & (number >= 0)])),
        },
        "manifest_counts": _counts(status),
        "errors_by_type": dict(sorted(_counts(final.loc[is_error, "error_type"]).items(), key=lambda kv: -kv[1])),
        "hours_in": round(_hours(hours_in), 6),
        "hours_out": round(_hours(hours_out), 6),
        "throughput_x_realtime": round(audio_s / wall_seconds, 3) if wall_seconds > 0 else None,
        "files_per_second": round(len(ok_now) / wall_seconds, 3) if wall_seconds > 0 else None,
        "config": config,
    }


def _number(values: pd.Series) -> np.ndarray:
    """A number per distinct value, 0, 1, ... in sorted order; -1 for a missing value. By sorting,
    not hashing: a hash table of a million URIs costs the driver several times their size."""
    if values.empty:
        return np.zeros(0, dtype="int64")
    array = pa.array(values, from_pandas=True)  # pandas' own Arrow data where it has some, not a copy
    array = array if isinstance(array, pa.ChunkedArray) else pa.chunked_array([array])
    order = pc.sort_indices(array).to_numpy()  # nulls last
    ordered = array.take(order)
    present = int(len(values) - array.null_count)
    new = np.ones(present, dtype=bool)  # where a new value starts, in sorted order
    new[1:] = pc.not_equal(ordered.slice(1, present - 1), ordered.slice(0, present - 1)).to_numpy(
        zero_copy_only=False)
    number = np.full(len(values), -1, dtype="int64")
    number[order[:present]] = np.cumsum(new) - 1
    return number


def _first_of_each(number: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Of ``rows``, the first row of each recording (``number``: one per recording)."""
    return rows[np.unique(number[rows], return_index=True)[1]]


def _counts(values: pd.Series) -> dict[str, int]:
    """How often each value occurs, in order of first appearance (what ``collections.Counter``
    gives), counted in Arrow: no Python object per row."""
    if values.isna().any():  # a missing value is a key of its own: leave that to Counter
        return {str(k): int(v) for k, v in Counter(values).items()}
    counted = pc.value_counts(text_array(values))  # in order of first appearance
    return {str(k): int(n) for k, n in zip(counted.field("values").to_pylist(), counted.field("counts").to_pylist())}


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
