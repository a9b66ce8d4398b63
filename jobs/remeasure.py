"""Fill measurements a finished output lacks, without enhancing again.

A corpus enhanced months ago, then ``dnsmos.model`` set (or ``measures.enabled`` turned on, or a
larger ``dnsmos.fraction``): resume keeps every recording, but its rows lack the new columns.
Re-enhancing millions of files to fill them would waste the model's time and rewrite outputs
nobody asked to change. Instead each such recording's input and existing output are read back,
only the missing groups of columns are computed on each row's slice, and the rows are recorded
again (a newer record of the same row key wins at consolidation). The output files are never
written: their bytes and modification times stay as they were.

Groups: ``measures`` (the curation measures, in and out), ``dnsmos_in``, ``dnsmos_out``; a group
is missing from an ``ok`` row when all its columns are null and the run asks for it.
"""

from __future__ import annotations

import io
import logging
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from jobs.paths import parse_location
from jobs.results import rows_to_table
from jobs.stages import (
    Measures,
    StageSettings,
    dnsmos_scorer,
    fetch_recordings,
    progress_row,
    record_rows,
    score_into,
    segment_bounds,
)
from jobs.storage import fetch_many, filesystem

__all__ = ["needs_measures", "remeasure", "run_remeasure"]

log = logging.getLogger(__name__)

_MEASURES_IN = ("speech_ratio_in", "snr_db_in", "loudness_lufs_in", "bandwidth_hz_in")
_MEASURES_OUT = ("speech_ratio_out", "snr_db_out", "loudness_lufs_out", "bandwidth_hz_out")
_DNSMOS = {side: tuple(f"dnsmos_{k}_{side}" for k in ("sig", "bak", "ovrl")) for side in ("in", "out")}


def _all_null(table: pa.Table, columns: tuple[str, ...]) -> np.ndarray:
    mask = np.ones(table.num_rows, dtype=bool)
    for c in columns:
        mask &= pc.is_null(table.column(c), nan_is_null=True).to_numpy(zero_copy_only=False)
    return mask


def needs_measures(records: pa.Table, settings: StageSettings) -> pa.Table:
    """The ``ok`` records (kept by resume) that lack a group of columns this run asks for."""
    if records.num_rows == 0:
        return records
    ok = pc.equal(records.column("status"), "ok").to_numpy(zero_copy_only=False)
    missing = np.zeros(records.num_rows, dtype=bool)
    if settings.measures:
        missing |= _all_null(records, _MEASURES_IN + _MEASURES_OUT)
    uris = records.column("input_uri").to_pylist()
    for side, columns in _DNSMOS.items():
        wanted = np.array([settings.scores(u, side) for u in uris], dtype=bool)
        missing |= wanted & _all_null(records, columns)
    return records.filter(pa.array(ok & missing))


def remeasure(batch: pa.Table, settings: StageSettings) -> pa.Table:
    """Ray UDF over records of whole recordings: read input and output once per recording, fill
    the missing groups of each record, record the rows again; returns one PROGRESS_SCHEMA row
    (``jobs.stages.progress_row``)."""
    rows = batch.select([c for c in batch.column_names if c != "member"]).to_pylist()
    members = batch.column("member").to_pylist() if "member" in batch.column_names else [""] * len(rows)
    by_uri: dict[str, list[int]] = {}
    for i, row in enumerate(rows):
        by_uri.setdefault(row["input_uri"], []).append(i)
    firsts = [idx[0] for idx in by_uri.values()]
    inputs = fetch_recordings([rows[i]["input_uri"] for i in firsts], [members[i] for i in firsts], settings)
    out_fs = filesystem(settings.output_protocol, settings.output_storage_options)
    outputs = fetch_many(out_fs, [parse_location(rows[i]["output_uri"]).path for i in firsts],
                         retries=settings.io_retries)
    scorer = dnsmos_scorer(settings)
    measures = (Measures(settings.measures, "_in"), Measures(settings.measures, "_out"))
    for idx, data_in, data_out in zip(by_uri.values(), inputs, outputs):
        try:
            _fill_recording([rows[i] for i in idx], data_in, data_out, settings, scorer, measures)
        except Exception as err:  # the rows keep what they had; the next run tries again
            log.warning("cannot measure %s again: %s", rows[idx[0]]["input_uri"], err)
        _measure_queued(measures, only_if_full=True)
    _measure_queued(measures, only_if_full=False)
    record_rows(rows, out_fs, settings)
    return progress_row(rows)


def _measure_queued(measures: tuple[Measures, Measures], only_if_full: bool) -> None:
    """Run the queued measures; when that fails, the rows queued keep their empty columns (the
    next run tries again) and the task goes on, as for a recording that cannot be read back."""
    for m in measures:
        try:
            m.flush_if_full() if only_if_full else m.flush()
        except Exception as err:  # flush has emptied the queue: those rows stay unmeasured
            log.warning("curation measures (%s side) failed; their rows stay unmeasured until the next run: %s",
                        m.suffix.strip("_"), err)


def _fill_recording(rows: list[dict[str, Any]], data_in: Any, data_out: Any, settings: StageSettings,
                    scorer, measures: tuple[Measures, Measures]) -> None:
    """Queue the missing curation measures of each row's slice (in, out: measured together with
    the task's other recordings, as the stages do) and score the missing DNSMOS sides."""
    from frcrn.audio import SAMPLE_RATE, decode_audio, resample

    for data in (data_in, data_out):
        if isinstance(data, BaseException):
            raise data
    x = decode_audio(data_in, max_seconds=settings.max_seconds).samples
    import soundfile as sf

    out, rate = sf.read(io.BytesIO(data_out), dtype="float32", always_2d=False)
    y = out if rate == SAMPLE_RATE else resample(out, rate, SAMPLE_RATE)
    for row in rows:
        seg = {"offset": row["segment_offset_s"], "duration": row["segment_duration_s"]}
        a, b = segment_bounds(seg, x.size, SAMPLE_RATE)
        lo, hi = segment_bounds(seg, out.size, rate)
        ya, yb = segment_bounds(seg, y.size, SAMPLE_RATE)
        if settings.measures and all(row.get(c) is None for c in _MEASURES_IN + _MEASURES_OUT):
            untimed: dict[str, Any] = {}  # re-measuring is not the row's processing time
            measures[0].add(row, x[a:b], SAMPLE_RATE, untimed)
            measures[1].add(row, out[lo:hi], rate, untimed)
        for side, part in (("in", x[a:b]), ("out", y[ya:yb])):
            if scorer is not None and settings.scores(row["input_uri"], side) and all(
                    row.get(c) is None for c in _DNSMOS[side]):
                score_into(scorer, part, row, side, row["input_uri"])
        row["job_id"] = settings.job_id


def run_remeasure(records: pa.Table, members: pd.Series, settings: StageSettings, cfg) -> None:
    """Run :func:`remeasure` over ``records`` on Ray CPU tasks, a recording's rows in one block."""
    import ray
    from ray.data import DataContext

    from jobs.execution import progress_bars_on

    DataContext.get_current().enable_progress_bars = progress_bars_on(cfg.ray.progress_bars)
    records = rows_to_table(records.to_pylist())  # exactly the result schema
    member = [members.get(u, "") for u in records.column("input_uri").to_pylist()]
    table = records.append_column("member", pa.array(member, type=pa.string()))
    table = table.take(pc.sort_indices(table, sort_keys=[("input_uri", "ascending")]))
    blocks, start, uris = [], 0, table.column("input_uri").to_pylist()
    step = max(1, cfg.compute.files_per_read_task)
    while start < len(uris):
        end = min(len(uris), start + step)
        while end < len(uris) and uris[end] == uris[end - 1]:
            end += 1  # never split a recording's rows across blocks
        blocks.append(table.slice(start, end - start))
        start = end
    ds = ray.data.from_arrow(blocks).map_batches(
        remeasure, fn_kwargs={"settings": settings}, batch_size=None, batch_format="pyarrow",
        num_cpus=cfg.compute.read_cpus, udf_modifying_row_count=True, max_retries=cfg.compute.task_retries)
    for _ in ds.iter_batches(batch_size=None, batch_format="pyarrow"):
        pass
