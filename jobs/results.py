"""Result rows: schema, durable per-batch records, resume state and the final manifest.

Layout under ``output.uri``::

    <mirrored outputs ...>
    _manifest/results.parquet              the consolidated manifest: exactly one row per input line
    _manifest/summary.json                 the last run's summary
    _manifest/runs/<job_id>.json           every run's summary (history)
    _manifest/_parts/<job_id>/<sha1>.arrow     rows of one write batch, written as it finishes

Parts are Arrow IPC files (a million inputs leave tens of thousands; one reads in ~0.1 ms, a
Parquet part in ~1.5 ms); ``.parquet`` parts of earlier versions are still read.

Why not ``Dataset.write_parquet``: its ``mode="overwrite"`` deletes what is there first, which
has lost whole manifests when a job died mid-write, and a row written only at the very end is
lost with the driver. Instead each write task records its rows in a part object whose key is
the sha1 of the batch's input URIs, so a retried task overwrites its own part instead of adding
a second copy. A record is one *row*: a recording (``input_uri``) and the slice of it a manifest
line asks for (``segment_offset_s``/``segment_duration_s``, null for the whole file); a
recording with three segment lines is enhanced once and leaves three records.

Parts are the durable memory of a run; ``results.parquet`` is consolidated from the previous
manifest plus all parts LAST, written atomically, and only then are the parts it
absorbed deleted. A crash at any point leaves either the old manifest plus parts, or the new
manifest: the next run reads both, so nothing is lost, and duplicates across them collapse to
the newest record per row, so no line ever gets two rows.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import logging
import math
import os
import time
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from fsspec.implementations.local import LocalFileSystem

from frcrn.corpus.results import RESULT_COLUMNS, SCHEMA
from jobs.storage import atomic_write, fetch_many
from jobs.tables import release_memory

__all__ = [
    "PART_SUFFIX",
    "PIPELINE_SCHEMA",
    "RESULT_COLUMNS",
    "SCHEMA",
    "conform",
    "consolidate",
    "delete_parts",
    "empty_table",
    "latest_per_row",
    "load_state",
    "new_row",
    "part_key",
    "row_keys",
    "rows_to_table",
    "write_json",
    "write_manifest",
    "write_part",
]

log = logging.getLogger(__name__)

SEGMENT = pa.struct([
    ("offset", pa.float64()), ("duration", pa.float64()),
    ("error_type", pa.string()), ("error_message", pa.string()),
    ("level_in_dbfs", pa.float64()), ("clip_fraction_in", pa.float64()),
    ("dnsmos_sig_in", pa.float64()), ("dnsmos_bak_in", pa.float64()), ("dnsmos_ovrl_in", pa.float64()),
    ("speech_ratio_in", pa.float64()), ("snr_db_in", pa.float64()), ("loudness_lufs_in", pa.float64()),
    ("bandwidth_hz_in", pa.float64()),
])
"""One slice of a recording asked for by manifest lines, with what the read stage measured on it."""
PIPELINE_SCHEMA = SCHEMA.append(pa.field("segments", pa.list_(SEGMENT))).append(pa.field("audio", pa.large_binary()))
"""What travels between the Ray Data stages: one row per *recording* (its result fields, its
``segments`` and ``audio``, the 16 kHz float32 waveform as raw bytes; large_binary: a batch of
long files can exceed 2 GB). The write stage turns it into one record per segment."""
ROW_ERRORS = frozenset({"segment_out_of_range"})
"""Error types of one line whose recording was processed fine: resume keeps them like ``ok``
rows (processing the recording again would give the same answer)."""
_STRINGS = {f.name for f in SCHEMA if pa.types.is_string(f.type)}
_EMPTY_ROW = {f.name: ("" if f.name in _STRINGS else None) for f in SCHEMA}
PART_SUFFIX = ".arrow"
_PART_SUFFIXES = (PART_SUFFIX, ".parquet")
_PART_BATCH = 256
"""Result parts fetched and parsed at a time by ``load_state`` (their bytes are never all held at once)."""
_READ_BATCH = 65536
"""Manifest rows decoded at a time when only some of them are kept."""


def new_row(input_uri: str, output_uri: str, job_id: str) -> dict[str, Any]:
    """A row with every field present: strings "", everything else None (null in the manifest)."""
    row: dict[str, Any] = dict(_EMPTY_ROW)
    row.update(input_uri=input_uri, output_uri=output_uri, status="pending", job_id=job_id)
    return row


def rows_to_table(rows: Sequence[Mapping[str, Any]], schema: pa.Schema = SCHEMA) -> pa.Table:
    """Rows (dicts) -> a table of ``schema``: the one place result rows become typed data, so the
    manifest's types never depend on the mix of ok and error rows (integers stay integers, a
    missing value is null, NaN measurements are null too)."""
    return pa.Table.from_arrays([_array([r.get(f.name) for r in rows], f) for f in schema], schema=schema)


def _array(values: list[Any], f: pa.Field) -> pa.Array:
    if pa.types.is_timestamp(f.type):
        return _timestamps(values, f.type)
    if pa.types.is_large_binary(f.type):
        return pa.array([v.to_pybytes() if isinstance(v, pa.Buffer) else v for v in values], type=f.type)
    if pa.types.is_integer(f.type):
        values = [None if v is None or (isinstance(v, float) and math.isnan(v)) else int(v) for v in values]
    return pa.array(values, type=f.type, from_pandas=True)


def _timestamps(values: Iterable[Any], typ: pa.DataType) -> pa.Array:
    """Unix seconds (float) or datetimes, possibly mixed, -> UTC millisecond timestamps."""
    millis = []
    for v in values:
        if v is None or (isinstance(v, float) and math.isnan(v)) or v is pd.NaT:
            millis.append(None)
        elif isinstance(v, (int, float, np.integer, np.floating)):
            millis.append(round(float(v) * 1000))
        elif isinstance(v, datetime):
            t = pd.Timestamp(v)
            t = t.tz_localize("UTC") if t.tzinfo is None else t
            millis.append(int(t.value // 1_000_000))
        else:
            raise TypeError(f"not a time: {v!r}")
    return pa.array(millis, type=pa.int64()).cast(typ)


def empty_table() -> pa.Table:
    return SCHEMA.empty_table()


def conform(table: pa.Table) -> pa.Table:
    """Any table of result rows (a part, a manifest written by an older version with float
    integers or nanosecond times) -> exactly SCHEMA; columns it lacks are null."""
    if table.schema.equals(SCHEMA):
        return table
    arrays = []
    for f in SCHEMA:
        if f.name not in table.column_names:
            arrays.append(pa.nulls(table.num_rows, f.type))
            continue
        col = table.column(f.name)
        if not col.type.equals(f.type):
            try:
                col = col.cast(f.type)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError):
                col = _array(col.to_pylist(), f)
        arrays.append(col)
    return pa.Table.from_arrays(arrays, schema=SCHEMA)


def row_keys(table: pa.Table) -> pa.Array:
    """One string per row naming the recording and its slice: the key records are matched by."""
    parts = [pc.cast(table.column("input_uri"), pa.string())]
    for name in ("segment_offset_s", "segment_duration_s"):
        parts.append(pc.fill_null(pc.cast(table.column(name), pa.string()), ""))
    return pc.binary_join_element_wise(*parts, "\x1f")


def latest_per_row(table: pa.Table, *, job_id: str | None = None) -> pa.Table:
    """The newest record (by ``finished_at``, then position) of each row key (``row_keys``), in
    table order (records are matched by key; the order carries no meaning); with ``job_id``,
    only those of that run. A table whose keys are all distinct (a manifest without repeated
    lines) is returned as it is."""
    n = table.num_rows
    if n == 0:
        return table
    of_job = None if job_id is None else pc.fill_null(pc.equal(table.column("job_id"), job_id), False)
    keys = pc.dictionary_encode(row_keys(table).combine_chunks())
    if len(keys.dictionary) == n:
        return table if of_job is None else table.filter(of_job)
    group = keys.indices.to_numpy().astype("int64")
    del keys
    finished = pc.fill_null(table.column("finished_at").cast(pa.int64()), np.iinfo(np.int64).min).to_numpy()
    order = np.lexsort((np.arange(n), finished, group))  # by key, then time (null first), then position
    last = np.sort(order[np.r_[np.flatnonzero(np.diff(group[order])), n - 1]])
    if of_job is not None:
        last = last[of_job.to_numpy(zero_copy_only=False)[last]]
    return table.take(last)


def _parquet_bytes(table: pa.Table) -> bytes:
    buf = io.BytesIO()
    pq.write_table(table, buf, compression="zstd")
    return buf.getvalue()


def part_key(input_uris: Iterable[str]) -> str:
    return hashlib.sha1("\n".join(sorted(input_uris)).encode("utf-8")).hexdigest() + PART_SUFFIX


def write_part(fs, parts_dir: str, job_id: str, rows: list[dict[str, Any]], *, retries: int) -> str:
    path = f"{parts_dir}/{job_id}/{part_key(r['input_uri'] for r in rows)}"
    atomic_write(fs, path, _ipc_bytes(rows_to_table(rows)), retries=retries)
    return path


def _ipc_bytes(table: pa.Table) -> bytes:
    sink = pa.BufferOutputStream()
    with pa.ipc.new_file(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue().to_pybytes()


def _read_results(data: bytes, *, use_threads: bool = False, only: pa.Array | None = None) -> pa.Table:
    """The SCHEMA columns of a Parquet object (a manifest's carried columns are not read);
    ``only``: just the rows of these input URIs, read a batch at a time (never the whole)."""
    source = pq.ParquetFile(pa.BufferReader(data))
    names = set(source.schema_arrow.names)
    columns = [c for c in SCHEMA.names if c in names]
    if only is None:
        return conform(source.read(columns=columns, use_threads=use_threads))
    wanted = pc.is_in(source.read(columns=["input_uri"]).column("input_uri"), value_set=only)  # one lookup
    kept, start = [], 0
    for batch in source.iter_batches(batch_size=_READ_BATCH, columns=columns, use_threads=use_threads):
        kept.append(conform(pa.Table.from_batches([batch])).filter(wanted.slice(start, batch.num_rows)))
        start += batch.num_rows
    return pa.concat_tables(kept) if kept else empty_table()


def load_state(fs, manifest_dir: str, *, retries: int, only: pa.Array | None = None,
               job_id: str | None = None) -> tuple[pa.Table, list[str]]:
    """Everything earlier runs recorded: the last manifest plus parts not yet consolidated.

    Returns (newest row per input, as a SCHEMA table; part paths read). An unreadable part is
    logged and ignored: its inputs are then simply processed again. Parts are fetched and parsed
    (on threads) a batch at a time. ``only``: just the records of these input URIs, without
    holding the others on the way; ``job_id``: of the newest records, those that run made."""
    fs.invalidate_cache()  # s3fs/gcsfs cache listings: workers have written parts since
    release_memory(len(only) if only is not None else 0)  # what the last step (this run's work) freed,
    # before the largest read of the run (the planning read follows inputs.resolve, which released its own)
    tables, from_parts = [], []
    manifest = f"{manifest_dir}/results.parquet"
    if fs.exists(manifest):
        tables.append(_read_results(fs.cat_file(manifest), use_threads=True, only=only))
    parts_dir = f"{manifest_dir}/_parts"
    parts = sorted(p for p in (fs.find(parts_dir) if fs.exists(parts_dir) else []) if p.endswith(_PART_SUFFIXES))
    with ThreadPoolExecutor(max_workers=min(4, os.cpu_count() or 1)) as pool:
        for start in range(0, len(parts), _PART_BATCH):
            batch = parts[start:start + _PART_BATCH]
            read = [t for t in pool.map(_read_part, batch, fetch_many(fs, batch, retries=retries)) if t is not None]
            if read:  # one chunk per batch, not one per part: later steps slow down with many chunks
                from_parts.append(pa.concat_tables(read).combine_chunks())
    if from_parts:
        tables.append(_records_of(pa.concat_tables(from_parts), only))
    del from_parts
    if not tables:
        return empty_table(), parts
    state = latest_per_row(pa.concat_tables(tables), job_id=job_id)
    del tables
    release_memory(state.num_rows)
    return state, parts


def _records_of(table: pa.Table, only: pa.Array | None) -> pa.Table:
    """The records of ``table`` of the input URIs ``only`` (None: all); no copy if that is all."""
    if only is None:
        return table
    kept = pc.is_in(table.column("input_uri"), value_set=only)
    return table if pc.all(kept).as_py() else table.filter(kept)


def _read_part(path: str, data: bytes | BaseException) -> pa.Table | None:
    if isinstance(data, BaseException):
        log.warning("cannot read result part %s (%s); its inputs will be processed again", path, data)
        return None
    try:
        if path.endswith(PART_SUFFIX):
            return conform(pa.ipc.open_file(pa.BufferReader(data)).read_all())
        return _read_results(data)
    except Exception as err:  # a torn or foreign object: ignore it
        log.warning("result part %s is unreadable (%s); its inputs will be processed again", path, err)
        return None


def consolidate(inputs: pd.DataFrame, carried: list[str], candidates: pa.Table, job_id: str,
                failure: str | None = None) -> pa.Table:
    """Exactly one row per input line, in input order: for a line refused on the driver, its
    error; for the others, the newest candidate record of its row key, or an error row saying
    its result went missing (so a lost record is visible, never a missing row) -- ``job_failed``
    instead when the run failed (``failure``) before the line was done. Then
    ``manifest_format`` and the manifest's carried columns."""
    best = latest_per_row(candidates)
    keyed = pa.table({c: pa.array(inputs[c], type=SCHEMA.field(c).type, from_pandas=True)
                      for c in ("input_uri", "segment_offset_s", "segment_duration_s")})
    refused = (inputs["error_type"] != "").to_numpy()
    found = pc.index_in(row_keys(keyed), value_set=row_keys(best)).to_numpy(zero_copy_only=False)
    index = np.where(refused, best.num_rows + np.cumsum(refused) - 1, np.nan_to_num(found, nan=-1)).astype("int64")
    missing = ~refused & np.isnan(found.astype("float64"))
    combined = pa.concat_tables([best, _refused_rows(inputs[refused], job_id)])
    rows = combined.take(pa.array(index, mask=missing))
    rows = _fill_missing(rows, pa.array(missing), keyed.column("input_uri"), inputs["output_uri"], job_id)
    if failure:
        rows = _mark_job_failed(rows, failure)
    for name in ("segment_offset_s", "segment_duration_s"):
        rows = rows.set_column(rows.schema.get_field_index(name), name, keyed.column(name))
    rows = rows.append_column("manifest_format", pa.array(inputs["manifest_format"], type=pa.string(),
                                                          from_pandas=True))
    for name, column in zip(carried, _carried_arrays(inputs, carried)):
        rows = rows.append_column(name, column)
    return rows


def _refused_rows(refused: pd.DataFrame, job_id: str) -> pa.Table:
    """Rows for the lines refused before any I/O (malformed lines, unsafe paths, collisions)."""
    now = time.time()
    rows = []
    for uri, out, kind, msg in zip(refused["input_uri"], refused["output_uri"], refused["error_type"],
                                   refused["error_message"]):
        r = new_row(uri, out, job_id)
        r.update(status="error", error_type=kind, error_message=msg, finished_at=now, processing_s=0.0)
        rows.append(r)
    return rows_to_table(rows)


def _fill_missing(rows: pa.Table, missing: pa.Array, uris: pa.Array, outputs: pd.Series, job_id: str) -> pa.Table:
    if not pc.any(missing).as_py():
        return rows
    message = ("the job lost this input's result record (a worker or the storage failed after "
               "processing); it will be processed again on the next run")
    now = pa.scalar(int(time.time() * 1000), type=pa.int64()).cast(SCHEMA.field("finished_at").type)
    fill = {
        "input_uri": uris,
        "output_uri": pa.array(outputs, type=pa.string(), from_pandas=True),
        "status": pa.scalar("error"), "error_type": pa.scalar("result_missing"),
        "error_message": pa.scalar(message), "job_id": pa.scalar(job_id), "finished_at": now,
    }
    for name, value in fill.items():
        i = rows.schema.get_field_index(name)
        rows = rows.set_column(i, name, pc.if_else(missing, value, rows.column(name)))
    return rows


def _mark_job_failed(rows: pa.Table, failure: str) -> pa.Table:
    lost = pc.fill_null(pc.equal(rows.column("error_type"), "result_missing"), False)
    message = (f"not processed: the job failed before this input was done ({failure}); "
               "it will be processed on the next run")
    for name, value in (("error_type", "job_failed"), ("error_message", message)):
        i = rows.schema.get_field_index(name)
        rows = rows.set_column(i, name, pc.if_else(lost, pa.scalar(value), rows.column(name)))
    return rows


def _carried_arrays(inputs: pd.DataFrame, carried: list[str]) -> list[pa.ChunkedArray]:
    """The manifest's own columns, types kept; a column of mixed types (e.g. ints and strings in
    JSON lines) is stored as text rather than losing the whole manifest."""
    out = []
    for c in carried:
        try:
            out.append(pa.chunked_array([pa.array(inputs[c], from_pandas=True)]))
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            log.warning("manifest column %r has mixed types; it is stored as text", c)
            text = [None if v is None or (isinstance(v, float) and math.isnan(v)) else str(v) for v in inputs[c]]
            out.append(pa.chunked_array([pa.array(text, type=pa.string())]))
    return out


def write_manifest(fs, manifest_dir: str, final: pa.Table, *, retries: int) -> str:
    path = f"{manifest_dir}/results.parquet"
    atomic_write(fs, path, _parquet_bytes(final), retries=retries)
    return path


def write_json(fs, path: str, obj: Any, *, retries: int) -> None:
    data = json.dumps(obj, indent=2, sort_keys=False, default=_json_default).encode("utf-8")
    atomic_write(fs, path, data + b"\n", retries=retries)


def _json_default(obj: Any) -> Any:
    return int(obj) if isinstance(obj, np.integer) else float(obj) if isinstance(obj, np.floating) else str(obj)


def delete_parts(fs, parts: list[str]) -> None:
    """Remove parts that a durable results.parquet now contains (best effort)."""
    if not parts:
        return
    try:
        fs.rm(parts)
    except Exception as err:  # leftovers are harmless: the next run dedups them
        log.warning("could not delete %d consolidated result parts: %s", len(parts), err)
    if isinstance(fs, LocalFileSystem):  # object stores have no folders to leave behind
        for folder in sorted({os.path.dirname(p) for p in parts}, reverse=True):
            with contextlib.suppress(OSError):
                os.rmdir(folder)
