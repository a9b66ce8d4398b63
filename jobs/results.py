"""Result rows: schema, durable per-batch records, resume state and the final manifest.

Layout under ``output.uri``::

    <mirrored outputs ...>
    _manifest/results.parquet              the consolidated manifest: exactly one row per input
    _manifest/summary.json                 the last run's summary
    _manifest/runs/<job_id>.json           every run's summary (history)
    _manifest/_parts/<job_id>/<sha1>.parquet   rows of one write batch, written as it finishes

Why not ``Dataset.write_parquet``: its ``mode="overwrite"`` deletes what is there first, which
has lost whole manifests when a job died mid-write, and a row written only at the very end is
lost with the driver. Instead each write task records its rows in a part object whose key is
the sha1 of the batch's input URIs, so a retried task overwrites its own part instead of adding
a second copy. Parts are the durable memory of a run; ``results.parquet`` is consolidated from
the previous manifest plus all parts LAST, written atomically, and only then are the parts it
absorbed deleted. A crash at any point leaves either the old manifest plus parts, or the new
manifest: the next run reads both, so nothing is lost, and duplicates across them collapse to
the newest row per input, so no input ever gets two rows.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import math
import os
import time
from typing import Any, Iterable

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from fsspec.implementations.local import LocalFileSystem

from jobs.storage import atomic_write, fetch_many

__all__ = [
    "SCHEMA",
    "RESULT_COLUMNS",
    "new_row",
    "rows_to_table",
    "part_key",
    "write_part",
    "load_state",
    "consolidate",
    "write_manifest",
    "delete_parts",
]

log = logging.getLogger(__name__)

SCHEMA = pa.schema(
    [
        ("input_uri", pa.string()),
        ("output_uri", pa.string()),
        ("status", pa.string()),  # "ok" | "error"
        ("error_type", pa.string()),
        ("error_message", pa.string()),
        ("input_format", pa.string()),
        ("input_sample_rate", pa.int32()),
        ("input_channels", pa.int32()),
        ("input_duration_s", pa.float64()),
        ("output_sample_rate", pa.int32()),
        ("output_duration_s", pa.float64()),
        ("output_bytes", pa.int64()),
        ("processing_s", pa.float64()),
        ("level_in_dbfs", pa.float64()),
        ("level_out_dbfs", pa.float64()),
        ("clip_fraction_in", pa.float64()),
        ("clip_fraction_out", pa.float64()),
        ("dnsmos_sig_in", pa.float64()),
        ("dnsmos_bak_in", pa.float64()),
        ("dnsmos_ovrl_in", pa.float64()),
        ("dnsmos_sig_out", pa.float64()),
        ("dnsmos_bak_out", pa.float64()),
        ("dnsmos_ovrl_out", pa.float64()),
        ("model_id", pa.string()),
        ("checkpoint_sha256", pa.string()),
        ("job_id", pa.string()),
        ("finished_at", pa.timestamp("ms", tz="UTC")),
    ]
)
RESULT_COLUMNS = [f.name for f in SCHEMA] + ["occurrences"]
_STRINGS = {f.name for f in SCHEMA if pa.types.is_string(f.type)}
_INTS = {f.name: f.type for f in SCHEMA if pa.types.is_integer(f.type)}


def new_row(input_uri: str, output_uri: str, job_id: str) -> dict[str, Any]:
    """A row with every field present: strings "", numbers NaN (null in the manifest)."""
    row: dict[str, Any] = {}
    for f in SCHEMA:
        row[f.name] = "" if f.name in _STRINGS else math.nan
    row.update(input_uri=input_uri, output_uri=output_uri, status="pending", job_id=job_id)
    return row


def rows_to_table(rows: pd.DataFrame | Iterable[dict[str, Any]]) -> pa.Table:
    """Rows (dicts or a frame with at least the schema's columns) -> table with SCHEMA."""
    df = rows if isinstance(rows, pd.DataFrame) else pd.DataFrame(list(rows))
    arrays = []
    for f in SCHEMA:
        col = df[f.name] if f.name in df.columns else pd.Series([None] * len(df), dtype=object)
        if f.name in _STRINGS:
            arr = pa.array([None if v is None or (isinstance(v, float) and math.isnan(v)) else str(v)
                            for v in col], type=pa.string())
        elif f.name in _INTS:
            vals = pd.to_numeric(col, errors="coerce")
            arr = pa.array([None if pd.isna(v) else int(v) for v in vals], type=f.type)
        elif pa.types.is_timestamp(f.type):
            arr = _timestamps(col, f.type)
        else:
            vals = pd.to_numeric(col, errors="coerce").astype("float64")
            arr = pa.array(vals.to_numpy(), type=f.type, from_pandas=True)
        arrays.append(arr)
    return pa.Table.from_arrays(arrays, schema=SCHEMA)


def _timestamps(col: pd.Series, typ: pa.DataType) -> pa.Array:
    """Unix seconds (float) or datetimes, possibly mixed, -> UTC millisecond timestamps."""
    millis = []
    for v in col:
        if v is None or (isinstance(v, float) and math.isnan(v)) or v is pd.NaT:
            millis.append(None)
        elif isinstance(v, (int, float, np.integer, np.floating)):
            millis.append(int(round(float(v) * 1000)))
        else:
            t = pd.Timestamp(v)
            if pd.isna(t):
                millis.append(None)
                continue
            t = t.tz_localize("UTC") if t.tzinfo is None else t
            millis.append(int(t.value // 1_000_000))
    return pa.array(millis, type=pa.int64()).cast(typ)


def _parquet_bytes(table: pa.Table) -> bytes:
    buf = io.BytesIO()
    pq.write_table(table, buf, compression="zstd")
    return buf.getvalue()


def part_key(input_uris: Iterable[str]) -> str:
    return hashlib.sha1("\n".join(sorted(input_uris)).encode("utf-8")).hexdigest() + ".parquet"


def write_part(fs, parts_dir: str, job_id: str, rows: list[dict[str, Any]], *, retries: int) -> str:
    path = f"{parts_dir}/{job_id}/{part_key(r['input_uri'] for r in rows)}"
    atomic_write(fs, path, _parquet_bytes(rows_to_table(rows)), retries=retries)
    return path


def _latest_per_input(df: pd.DataFrame) -> pd.DataFrame:
    if df.empty:
        return df
    df = df.sort_values("finished_at", kind="stable", na_position="first")
    return df.drop_duplicates("input_uri", keep="last").reset_index(drop=True)


def load_state(fs, manifest_dir: str, *, retries: int) -> tuple[pd.DataFrame, list[str]]:
    """Everything earlier runs recorded: the last manifest plus parts not yet consolidated.

    Returns (newest row per input with the schema's columns, part paths read). An unreadable
    part is logged and ignored: its inputs are then simply processed again.
    """
    fs.invalidate_cache()  # s3fs/gcsfs cache listings: workers have written parts since
    frames = []
    manifest = f"{manifest_dir}/results.parquet"
    if fs.exists(manifest):
        table = pq.read_table(io.BytesIO(fs.cat_file(manifest)))
        frames.append(table.select([c for c in SCHEMA.names if c in table.column_names]).to_pandas())
    parts_dir = f"{manifest_dir}/_parts"
    parts = sorted(p for p in (fs.find(parts_dir) if fs.exists(parts_dir) else []) if p.endswith(".parquet"))
    for path, data in zip(parts, fetch_many(fs, parts, retries=retries)):
        if isinstance(data, BaseException):
            log.warning("cannot read result part %s (%s); its inputs will be processed again", path, data)
            continue
        try:
            frames.append(pq.read_table(io.BytesIO(data)).to_pandas())
        except Exception as err:  # noqa: BLE001 - a torn or foreign object: ignore it
            log.warning("result part %s is unreadable (%s); its inputs will be processed again", path, err)
    if not frames:
        return rows_to_table([]).to_pandas(), parts
    state = pd.concat([rows_to_table(f).to_pandas() for f in frames], ignore_index=True)
    return _latest_per_input(state), parts


def consolidate(inputs: pd.DataFrame, carried: list[str], candidates: pd.DataFrame, job_id: str) -> pd.DataFrame:
    """Exactly one row per input, in input order: the newest candidate row for it, or an error
    row saying its result went missing (so a lost record is visible, never a missing row)."""
    best = _latest_per_input(rows_to_table(candidates).to_pandas()) if len(candidates) else None
    base = inputs[["input_uri", "output_uri"]].copy()
    if best is not None and len(best):
        merged = base[["input_uri"]].merge(best, on="input_uri", how="left", validate="one_to_one")
    else:
        merged = rows_to_table([]).to_pandas()
        merged = base[["input_uri"]].merge(merged, on="input_uri", how="left")
    missing = merged["status"].isna().to_numpy()
    if missing.any():
        now = time.time()
        merged["finished_at"] = merged["finished_at"].astype(object)
        merged.loc[missing, "output_uri"] = base.loc[missing, "output_uri"].to_numpy()
        merged.loc[missing, "status"] = "error"
        merged.loc[missing, "error_type"] = "result_missing"
        merged.loc[missing, "error_message"] = (
            "the job lost this input's result record (a worker or the storage failed after "
            "processing); it will be processed again on the next run"
        )
        merged.loc[missing, "job_id"] = job_id
        merged.loc[missing, "finished_at"] = now
    table = rows_to_table(merged).to_pandas()
    table["occurrences"] = inputs["occurrences"].to_numpy()
    for c in carried:
        table[c] = inputs[c].to_numpy()
    return table


def write_manifest(fs, manifest_dir: str, final: pd.DataFrame, *, retries: int) -> str:
    path = f"{manifest_dir}/results.parquet"
    try:
        table = pa.Table.from_pandas(final, preserve_index=False)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        # A carried-through column with mixed types (e.g. ints and strings in JSON lines):
        # store the offending columns as text rather than lose the whole manifest.
        final = final.copy()
        for c in final.columns:
            try:
                pa.array(final[c], from_pandas=True)
            except (pa.ArrowInvalid, pa.ArrowTypeError):
                log.warning("manifest column %r has mixed types; it is stored as text", c)
                final[c] = [None if v is None or (isinstance(v, float) and math.isnan(v)) else str(v)
                            for v in final[c]]
        table = pa.Table.from_pandas(final, preserve_index=False)
    atomic_write(fs, path, _parquet_bytes(table), retries=retries)
    return path


def write_json(fs, path: str, obj: Any, *, retries: int) -> None:
    data = json.dumps(obj, indent=2, sort_keys=False, default=_json_default).encode("utf-8")
    atomic_write(fs, path, data + b"\n", retries=retries)


def _json_default(obj: Any) -> Any:
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (np.floating,)):
        return float(obj)
    return str(obj)


def delete_parts(fs, parts: list[str]) -> None:
    """Remove parts that a durable results.parquet now contains (best effort)."""
    if not parts:
        return
    try:
        fs.rm(parts)
    except Exception as err:  # noqa: BLE001 - leftovers are harmless: the next run dedups them
        log.warning("could not delete %d consolidated result parts: %s", len(parts), err)
    if isinstance(fs, LocalFileSystem):  # object stores have no folders to leave behind
        for folder in sorted({os.path.dirname(p) for p in parts}, reverse=True):
            try:
                os.rmdir(folder)
            except OSError:
                pass
