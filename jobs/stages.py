"""The three Ray Data stages: read+decode (CPU tasks), enhance (model actors), encode+write (CPU tasks).

One concept: the per-batch work of the job's three Ray Data stages.

Each stage takes and returns Arrow tables (``batch_format="pyarrow"``) of
:data:`jobs.results.PIPELINE_SCHEMA`: the result row plus ``audio``, the 16 kHz float32 waveform
as raw bytes. A stage turns its batch into row dicts once (the waveform stays a zero-copy view
of the block's buffer) and builds its output with the schema once (``jobs.results.rows_to_table``),
so types never drift between stages, whatever the mix of ok and error rows. Audio travels as
float32 *bytes* rather than as a tensor column because lengths differ per file (a ragged tensor
column would need Arrow's variable-shape extension type for no gain).

The last stage writes each batch's rows durably (a result part, the source of truth for resume
and consolidation) and hands Ray only one tiny row per batch (how many recordings, how many ok, their audio seconds):
the driver counts progress from those and never pulls result rows through the object store.

Failure isolation: every per-file step runs inside ``try``; a file that fails becomes a row
with ``status="error"``, an ``error_type`` to count by and an ``error_message`` a person can act
on, and travels on through the later stages untouched. Only faults that say nothing about the
file itself escape the UDFs, and those are retried by Ray (see ``jobs.pipeline``).
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa

from frcrn.integrations.core import BatchEnhancer, RowError
from frcrn.quality.dnsmos import get_scorer
from jobs.paths import parse_location
from jobs.results import PIPELINE_SCHEMA, ROW_ERRORS, new_row, rows_to_table, write_part
from jobs.storage import atomic_write, describe_io_error, fetch_many, filesystem

__all__ = [
    "PROGRESS_SCHEMA",
    "Enhance",
    "Measures",
    "ModelSettings",
    "ResultRecordError",
    "StageSettings",
    "dnsmos_scorer",
    "encode_write",
    "fetch_recordings",
    "load_enhancer",
    "progress_row",
    "read_decode",
    "record_rows",
    "score_into",
    "segment_bounds",
    "write_outputs",
]

log = logging.getLogger(__name__)

PROGRESS_SCHEMA = pa.schema([("inputs", pa.int64()), ("ok", pa.int64()), ("audio_s", pa.float64())])
"""What the last stage returns to the driver: one row per write batch: its recordings, how many
of them ok, and their audio seconds (``input_duration_s``, each recording once; 0 when unknown,
e.g. an undecodable file)."""


class ResultRecordError(RuntimeError):
    """The rows of a batch could not be recorded durably; Ray retries the whole write task."""


@dataclass(frozen=True)
class StageSettings:
    """Everything the stages need, shipped once per task/actor (storage options included:
    they travel inside Ray's object store, never into logs)."""

    job_id: str
    input_protocol: str
    output_protocol: str
    output_parts_dir: str  # fsspec path of <output>/_manifest/_parts
    input_storage_options: dict[str, Any] = field(repr=False)
    output_storage_options: dict[str, Any] = field(repr=False)
    output_format: str = "wav"
    output_rate: str | int = "model"
    max_seconds: float | None = None
    max_bytes: int | None = None
    io_retries: int = 3
    dnsmos_model: str | None = None
    dnsmos_storage_options: dict[str, Any] = field(default_factory=dict, repr=False)
    dnsmos_score: tuple[str, ...] = ("in", "out")
    dnsmos_fraction: float = 1.0
    measures: bool = True

    def scores(self, uri: str, side: str) -> bool:
        """Whether DNSMOS scores this recording's ``side`` ("in"/"out"): the configured sides, on
        the share ``dnsmos_fraction`` of recordings picked by a hash of the URI (stable across runs)."""
        if not self.dnsmos_model or side not in self.dnsmos_score:
            return False
        if self.dnsmos_fraction >= 1.0:
            return True
        import hashlib

        digest = hashlib.sha1(uri.encode("utf-8")).digest()
        return int.from_bytes(digest[:8], "big") / 2**64 < self.dnsmos_fraction


# --------------------------------------------------------------------------- batch <-> rows


def _rows(batch: pa.Table) -> list[dict[str, Any]]:
    """The batch's rows as dicts, once; ``audio`` is a zero-copy view (pa.Buffer) of the block."""
    names = [n for n in batch.column_names if n != "audio"]
    rows = batch.select(names).to_pylist()
    if "audio" in batch.column_names:
        for row, audio in zip(rows, _buffers(batch.column("audio"))):
            row["audio"] = audio
    return rows


def _buffers(column: pa.ChunkedArray) -> Iterator[pa.Buffer | None]:
    for chunk in column.chunks:
        for value in chunk:
            yield value.as_buffer() if value.is_valid else None


def _waveform(audio: Any) -> np.ndarray:
    return np.frombuffer(audio if audio is not None else b"", dtype=np.float32)


def _fail(row: dict[str, Any], kind: str, message: str) -> None:
    row.update(status="error", error_type=kind, error_message=message, audio=b"")


# --------------------------------------------------------------------------- stage 1: read + decode


SOURCE_SEGMENTS = pa.list_(pa.struct([("offset", pa.float64()), ("duration", pa.float64())]))
"""The slices of a recording the manifest lines ask for, as the job's source gives them."""
SEGMENT_TOLERANCE_S = 0.1
"""A segment may end this far past the end of its recording (manifests round durations); it is
then cut at the end. Further is an error of that line."""


def read_decode(batch: pa.Table, settings: StageSettings) -> pa.Table:
    """Fetch the batch's objects concurrently, decode to 16 kHz mono float32, measure the input
    (the whole recording, and each segment a manifest line asks for)."""
    t_batch = time.perf_counter()
    uris = batch.column("input_uri").to_pylist()
    rows = [new_row(u, o, settings.job_id) for u, o in zip(uris, batch.column("output_uri").to_pylist())]
    members = batch.column("member").to_pylist() if "member" in batch.column_names else [""] * len(rows)
    segments = (batch.column("segments").to_pylist() if "segments" in batch.column_names
                else [None] * len(rows))
    for row, segs in zip(rows, segments):
        row["segments"] = [dict(s) for s in segs] if segs else [{"offset": None, "duration": None}]
    # Bounded read: at most max_bytes + 1 bytes per object (see fetch_many).
    datas = fetch_recordings(uris, members, settings)
    fetch_share = (time.perf_counter() - t_batch) / max(1, len(rows))
    scorer = dnsmos_scorer(settings)
    measures = Measures(settings.measures, "_in")
    for row, data in zip(rows, datas):
        t0 = time.perf_counter()
        try:
            _decode_into(row, data, settings, scorer, measures)
        except Exception as err:  # one bad file must not stop the batch
            log.exception("unexpected error reading %s", row["input_uri"])
            _fail(row, "read_error", f"{row['input_uri']}: unexpected {type(err).__name__} while reading: {err}")
        finally:
            row["processing_s"] = fetch_share + (time.perf_counter() - t0)
        measures.flush_if_full()
    measures.flush()
    return rows_to_table(rows, PIPELINE_SCHEMA)


def fetch_recordings(uris: list[str], members: list[str], settings: StageSettings) -> list[bytes | BaseException]:
    """Each input's bytes: plain objects concurrently (``fetch_many``); audio embedded in a
    Parquet shard (member ``row=N``) by reading only the row groups that hold it."""
    fs = filesystem(settings.input_protocol, settings.input_storage_options)
    plain = [i for i, m in enumerate(members) if not m]
    out: list[bytes | BaseException] = [b""] * len(uris)
    found = fetch_many(fs, [parse_location(uris[i]).path for i in plain], retries=settings.io_retries,
                       max_bytes=settings.max_bytes)
    for i, data in zip(plain, found):
        out[i] = data
    by_shard: dict[str, list[int]] = {}
    for i, m in enumerate(members):
        if m:
            by_shard.setdefault(uris[i][: -len(m) - 1], []).append(i)
    for shard, idx in by_shard.items():
        out_rows = [int(members[i].removeprefix("row=")) for i in idx]
        try:
            from frcrn.corpus.readers.hf import read_embedded

            got = read_embedded(fs, parse_location(shard).path, out_rows)
        except Exception as err:  # the whole shard is unreadable: every row of it says so
            got = [err] * len(idx)
        for i, data in zip(idx, got):
            out[i] = data
    return out


def _decode_into(row: dict[str, Any], data: bytes | BaseException, settings: StageSettings, scorer,
                 measures: Measures) -> None:
    """One fetched object -> the row's input measurements and its 16 kHz waveform, or an error."""
    from frcrn.audio import AudioError, decode_audio

    uri = row["input_uri"]
    if isinstance(data, BaseException):
        _fail(row, *describe_io_error(data, uri, "read"))
        return
    if settings.max_bytes is not None and len(data) > settings.max_bytes:
        # The read stopped at max_bytes + 1, so the true size is only known to be larger.
        _fail(row, "too_large", f"{uri}: too large: more than {settings.max_bytes} bytes, "
              f"the limit is {settings.max_bytes} bytes (limits.max_bytes)")
        return
    try:
        decoded = decode_audio(data, max_seconds=settings.max_seconds)
    except AudioError as err:
        _fail(row, err.kind, f"{uri}: {err}")
        return
    del data
    src = decoded.source
    row.update(
        input_format=f"{src.format}/{src.subtype}",
        input_sample_rate=src.sample_rate,
        input_channels=src.channels,
        input_duration_s=src.duration_seconds,
        audio=decoded.samples.astype(np.float32, copy=False).tobytes(),
    )
    del decoded
    x = _waveform(row["audio"])  # a view of the row's bytes: measurements waiting for their run cost no copy
    scorer = scorer if settings.scores(uri, "in") else None
    for seg in row["segments"]:
        _measure_input(seg, x, uri, scorer, measures, row)


def segment_bounds(seg: dict[str, Any], n: int, rate: int) -> tuple[int, int] | str:
    """Sample bounds of a segment in a signal of ``n`` samples at ``rate``, or why it has none."""
    total = n / rate
    offset, duration = seg.get("offset"), seg.get("duration")
    start = float(offset or 0.0)
    end = total if duration is None else start + float(duration)
    if start >= total:
        return f"the segment starts at {start:.3f} s, past the end of the recording ({total:.3f} s)"
    if end > total + SEGMENT_TOLERANCE_S:
        return (f"the segment {start:.3f}..{end:.3f} s ends past the end of the recording ({total:.3f} s; "
                f"{SEGMENT_TOLERANCE_S} s of slack is allowed)")
    return round(start * rate), min(n, round(end * rate))


def _measure_input(seg: dict[str, Any], x: np.ndarray, uri: str, scorer, measures: Measures,
                   row: dict[str, Any]) -> None:
    """The input measurements of one segment (the whole recording for a whole-file line), on
    the 16 kHz signal the model sees (so ``bandwidth_hz_in`` is at most 8 kHz: what the model
    gets, not what the file had); the curation measures join the task's shared run."""
    from frcrn.audio import SAMPLE_RATE, clipping_fraction, level_dbfs

    bounds = segment_bounds(seg, x.size, SAMPLE_RATE)
    if isinstance(bounds, str):
        seg.update(error_type="segment_out_of_range", error_message=f"{uri}: {bounds}")
        return
    part = x[bounds[0]:bounds[1]]
    seg.update(level_in_dbfs=level_dbfs(part), clip_fraction_in=clipping_fraction(part))
    if scorer is not None:
        score_into(scorer, part, seg, "in", uri)
    measures.add(seg, part, SAMPLE_RATE, row)


def dnsmos_scorer(settings: StageSettings):
    if not settings.dnsmos_model:
        return None
    return get_scorer(settings.dnsmos_model, settings.dnsmos_storage_options)


def score_into(scorer, samples: np.ndarray, row: dict[str, Any], which: str, uri: str) -> None:
    try:
        s = scorer.score(samples)
        row[f"dnsmos_sig_{which}"] = s["sig"]
        row[f"dnsmos_bak_{which}"] = s["bak"]
        row[f"dnsmos_ovrl_{which}"] = s["ovrl"]
    except Exception as err:  # quality columns are optional, the audio is not
        log.warning("DNSMOS failed for %s: %s", uri, err)


MEASURE_RUN_FILES = 16
"""Waveforms measured in one shared run (``frcrn.quality.measures.measure_many``: one VAD pass
for all of them, about half the CPU of one per file for short files)."""
MEASURE_RUN_MAX_SECONDS = 30.0
"""Longer waveforms are measured alone, at once: a shared run pads every waveform to the longest."""


class Measures:
    """The curation measures (``measures.enabled``) of one task's segments, run together.

    ``add`` queues a waveform and the dict its values go to (``<measure><suffix>``); ``flush``
    measures what is queued, ``flush_if_full`` when MEASURE_RUN_FILES are (the stages call it
    between rows, outside a row's own timing). The time taken is added to the ``processing_s``
    of each waveform's row, shared by length."""

    def __init__(self, enabled: bool, suffix: str) -> None:
        self.enabled, self.suffix = enabled, suffix
        self.queued: list[tuple[dict[str, Any], np.ndarray, int, dict[str, Any]]] = []

    def add(self, target: dict[str, Any], x: np.ndarray, rate: int, row: dict[str, Any]) -> None:
        if not self.enabled:
            return
        self.queued.append((target, x, rate, row))

    def flush_if_full(self) -> None:
        if len(self.queued) >= MEASURE_RUN_FILES or any(
                x.size > MEASURE_RUN_MAX_SECONDS * rate for _, x, rate, _ in self.queued):
            self.flush()

    def flush(self) -> None:
        from frcrn.quality.measures import measure_many

        queued, self.queued = self.queued, []
        is_long = [x.size > MEASURE_RUN_MAX_SECONDS * rate for _, x, rate, _ in queued]
        runs = [[q for q, lg in zip(queued, is_long) if not lg]] + [[q] for q, lg in zip(queued, is_long) if lg]
        for run in (r for r in runs if r):
            t0 = time.perf_counter()
            values = measure_many([(x, rate) for _, x, rate, _ in run], self.suffix)
            share = (time.perf_counter() - t0) / (sum(x.size / rate for _, x, rate, _ in run) or 1.0)
            for (target, x, rate, row), v in zip(run, values):
                target.update(v)
                row["processing_s"] = float(row.get("processing_s") or 0.0) + share * x.size / rate


# --------------------------------------------------------------------------- stage 2: enhance


@dataclass(frozen=True)
class ModelSettings:
    checkpoint: str | None
    enhance: Any
    """The job's ``model.enhance`` (a frcrn.enhance.EnhanceConfig), threads set for a CPU replica."""
    storage_options: dict[str, Any] = field(default_factory=dict, repr=False)
    factory: str | None = None


def load_enhancer(ms: ModelSettings):
    """The FRCRN enhancer for one replica (or whatever ``factory`` "module:callable" builds)."""
    if ms.factory:
        module, _, name = ms.factory.partition(":")
        return getattr(importlib.import_module(module), name)(ms)
    from frcrn.enhance import Enhancer

    return Enhancer.from_checkpoint(ms.checkpoint, config=ms.enhance, storage_options=ms.storage_options or None)


class Enhance(BatchEnhancer):
    """The job's model stage: the public replica (``frcrn.integrations.core.BatchEnhancer``,
    which the Ray Data integration's ``EnhanceAudio`` is built on too) applied to the job's rows.

    Loaded once per actor (``model``: the job's settings, or a ready ``enhancer``); per batch,
    the windows of all pending files are packed into model batches, and a failing group is
    re-run file by file so only the culprit becomes an error row (both in ``enhance_group``).
    The job-specific parts are here: row bookkeeping and the crash quarantine below.
    """

    def __init__(self, model: ModelSettings | None = None, *, enhancer: Any = None) -> None:
        super().__init__(enhancer=enhancer if enhancer is not None else load_enhancer(model))

    def __call__(self, batch: pa.Table) -> pa.Table:
        rows = _rows(batch)
        todo = [r for r in rows if r["status"] == "pending"]
        if todo:
            marks = _CrashMarks(str(todo[0]["job_id"]))
            for group in self._groups(self._quarantine(todo, marks), marks):
                uris = [r["input_uri"] for r in group]
                marks.add(uris)
                results, times = self.enhance_group([_waveform(r["audio"]) for r in group])
                marks.clear(uris)
                for row, out, dt in zip(group, results, times):
                    self._take_result(row, out, dt)
        return rows_to_table(rows, PIPELINE_SCHEMA)

    # Poison-file quarantine. A file that kills its replica process (OOM kill, segfault in native
    # code) cannot be caught by try/except: Ray restarts the replica and re-submits the batch,
    # which died again, until the retries ran out and the WHOLE job failed -- and every re-run
    # failed the same way. So each file is marked as "in flight" (a node-local counter, see
    # _CrashMarks) while the model works on it; a batch containing marked files is re-run one
    # file at a time, and a file that was in flight during CRASH_LIMIT deaths becomes a
    # `worker_crash` error row instead.
    @staticmethod
    def _quarantine(todo: list[dict[str, Any]], marks: _CrashMarks) -> list[dict[str, Any]]:
        for r in todo:
            if marks.count(r["input_uri"]) >= CRASH_LIMIT:
                _fail(r, "worker_crash", f"{r['input_uri']}: the model replica's process died "
                      f"{CRASH_LIMIT} times while enhancing this file (killed for using too much "
                      "memory, or a crash in native code); skipped so the rest of the job could finish")
        return [r for r in todo if r["status"] == "pending"]

    @staticmethod
    def _groups(todo: list[dict[str, Any]], marks: _CrashMarks) -> list[list[dict[str, Any]]]:
        """One packed group, or one file per group when any file was in flight during a death."""
        if not todo:
            return []
        suspect = any(marks.count(r["input_uri"]) for r in todo)
        return [[r] for r in todo] if suspect else [todo]

    def _take_result(self, row: dict[str, Any], out: np.ndarray | RowError, dt: float) -> None:
        row["processing_s"] = float(row["processing_s"] or 0.0) + dt
        row["model_id"], row["checkpoint_sha256"] = self.model_id, self.checkpoint_sha256
        row["atten_lim_db"], row["dry"] = self.strength
        if isinstance(out, RowError):
            _fail(row, out.kind, f"{row['input_uri']}: {out.message}")
        else:
            row["audio"] = out.tobytes()


CRASH_LIMIT = 2
"""A file in flight during this many replica deaths is given up as `worker_crash`. Needs
compute.replica_restarts and compute.replica_task_retries >= CRASH_LIMIT (defaults: 3)."""


class _CrashMarks:
    """Node-local "in flight" counters, one small file per input under the temp folder.

    Files survive the death of the process that wrote them (page cache), and Ray restarts a
    replica on the same node unless the node itself died -- then the counters are lost with it
    and the batch is simply retried normally. Cleared when the file's enhancement returns.
    Best effort: any OS error disables the mark (the job then behaves as without quarantine).
    """

    def __init__(self, job_id: str) -> None:
        import hashlib
        import tempfile

        self._hash = lambda s: hashlib.sha1(s.encode("utf-8")).hexdigest()
        self.dir = os.path.join(tempfile.gettempdir(), "frcrn-job-inflight", self._hash(job_id)[:16])

    def _path(self, uri: str) -> str:
        return os.path.join(self.dir, self._hash(uri))

    def count(self, uri: str) -> int:
        try:
            with open(self._path(uri)) as f:
                return int(f.read().strip() or 0)
        except (OSError, ValueError):
            return 0

    def add(self, uris: list[str]) -> None:
        try:
            os.makedirs(self.dir, exist_ok=True)
            for u in uris:
                n = self.count(u) + 1
                with open(self._path(u), "w") as f:
                    f.write(str(n))
        except OSError:
            pass

    def clear(self, uris: list[str]) -> None:
        for u in uris:
            with contextlib.suppress(OSError):
                os.unlink(self._path(u))


# --------------------------------------------------------------------------- stage 3: encode + write


def encode_write(batch: pa.Table, settings: StageSettings) -> pa.Table:
    """Encode, write each output atomically, measure it, then record the batch's rows durably.

    Returns one PROGRESS_SCHEMA row for the whole batch: the rows themselves are in the part
    just written, which is what resume and consolidation read."""
    rows = write_outputs(batch, settings)
    if rows:
        record_rows(rows, filesystem(settings.output_protocol, settings.output_storage_options), settings)
    return progress_row(rows)


def progress_row(rows: list[dict[str, Any]]) -> pa.Table:
    """The PROGRESS_SCHEMA row of a batch's records (one per segment, several per recording):
    recordings, ok ones (a segment out of range is an error of its line, not of the recording),
    and their audio seconds, each recording counted once."""
    ok: dict[str, bool] = {}
    seconds: dict[str, float] = {}
    for r in rows:
        ok[r["input_uri"]] = r["status"] == "ok" or r["error_type"] in ROW_ERRORS
        duration = r.get("input_duration_s")
        seconds[r["input_uri"]] = float(duration) if duration is not None and np.isfinite(duration) else 0.0
    return pa.Table.from_pydict({"inputs": [len(ok)], "ok": [sum(ok.values())], "audio_s": [sum(seconds.values())]},
                                schema=PROGRESS_SCHEMA)


def write_outputs(batch: pa.Table, settings: StageSettings) -> list[dict[str, Any]]:
    """The per-file part of :func:`encode_write` (also ``frcrn enhance``'s last step): encode and
    write each pending recording's output atomically, measure each of its segments; returns one
    record per segment (a whole-file line is one segment), each ``ok`` or an error."""
    rows = _rows(batch)
    fs = filesystem(settings.output_protocol, settings.output_storage_options)
    scorer = dnsmos_scorer(settings)
    measures = Measures(settings.measures, "_out")
    records: list[dict[str, Any]] = []
    for row in rows:
        audio = row.pop("audio", None)
        written: _Written | None = None
        if row["status"] == "pending":
            t0 = time.perf_counter()
            try:
                written = _write_output(row, _waveform(audio), fs, settings)
            except Exception as err:
                log.exception("unexpected error writing %s", row["output_uri"])
                _fail(row, "write_error", f"{row['output_uri']}: unexpected {type(err).__name__} while writing: {err}")
            finally:
                row.pop("audio", None)
                row["processing_s"] = float(row["processing_s"] or 0.0) + (time.perf_counter() - t0)
        scores_out = scorer if settings.scores(row["input_uri"], "out") else None
        records += _segment_records(row, written, scores_out, measures)
        measures.flush_if_full()
    measures.flush()
    return records


_Written = tuple[np.ndarray, np.ndarray, int]
"""An enhanced recording as written: (16 kHz waveform, written waveform, its rate)."""


def _write_output(row: dict[str, Any], y: np.ndarray, fs, settings: StageSettings) -> _Written | None:
    """Encode one enhanced waveform and write it atomically (or record why not); returns the
    16 kHz waveform, the written one and its rate, for the measurements."""
    from frcrn.audio import SAMPLE_RATE, AudioError, encode_audio, resample
    from frcrn.formats import content_type

    uri = row["output_uri"]
    rate, out = SAMPLE_RATE, y
    try:
        wanted = int(row["input_sample_rate"]) if settings.output_rate == "input" else settings.output_rate
        if wanted != "model" and int(wanted) != SAMPLE_RATE:
            rate = int(wanted)
            out = resample(y, SAMPLE_RATE, rate)
        data = encode_audio(out, rate, settings.output_format)
    except AudioError as err:
        _fail(row, err.kind, f"{row['input_uri']}: cannot encode the enhanced audio: {err}")
        return None
    try:
        atomic_write(fs, parse_location(uri).path, data, retries=settings.io_retries,
                     content_type=content_type("." + settings.output_format))
    except Exception as err:
        _fail(row, *describe_io_error(err, uri, "write"))
        return None
    row.update(status="ok", output_sample_rate=rate, output_duration_s=out.size / rate, output_bytes=len(data))
    return y, out, rate


def _segment_records(row: dict[str, Any], written: _Written | None, scorer,
                     measures: Measures) -> list[dict[str, Any]]:
    """One record per segment of the recording: its slice, the input measurements the read
    stage made on it and the output ones made here (levels on the written signal, DNSMOS on the
    16 kHz one); a segment outside the recording is an error of that line only."""
    from frcrn.audio import SAMPLE_RATE, clipping_fraction, level_dbfs

    segments = row.pop("segments", None) or [{"offset": None, "duration": None}]
    records = []
    for seg in segments:
        rec = dict(row, segment_offset_s=seg.get("offset"), segment_duration_s=seg.get("duration"))
        for name in _SEGMENT_INPUT_FIELDS:
            rec[name] = seg.get(name)
        if row["status"] == "ok" and seg.get("error_type"):
            rec.update(status="error", error_type=seg["error_type"], error_message=seg["error_message"])
        elif written is not None:
            y, out, rate = written
            lo, hi = segment_bounds(seg, out.size, rate)
            rec.update(level_out_dbfs=level_dbfs(out[lo:hi]), clip_fraction_out=clipping_fraction(out[lo:hi]))
            # on the written signal: at the input's rate, bandwidth_hz_out shows 8 kHz
            measures.add(rec, out[lo:hi], rate, rec)
            if scorer is not None:
                a, b = segment_bounds(seg, y.size, SAMPLE_RATE)
                score_into(scorer, y[a:b], rec, "out", row["input_uri"])
        records.append(rec)
    return records


_SEGMENT_INPUT_FIELDS = ("level_in_dbfs", "clip_fraction_in", "dnsmos_sig_in", "dnsmos_bak_in", "dnsmos_ovrl_in",
                         "speech_ratio_in", "snr_db_in", "loudness_lufs_in", "bandwidth_hz_in")


def record_rows(rows: list[dict[str, Any]], fs, settings: StageSettings) -> None:
    """The batch's rows as one result part (see jobs.results); Ray re-runs the task if it fails."""
    now = time.time()
    for row in rows:
        row["finished_at"] = now
    try:
        write_part(fs, settings.output_parts_dir, settings.job_id, rows, retries=settings.io_retries)
    except Exception as err:  # let Ray retry the task (outputs are idempotent)
        raise ResultRecordError(f"cannot record results under {settings.output_parts_dir}: {err}") from err
