"""Wire the job: inputs -> resume plan -> Ray Data stages -> consolidated manifest + summary.

One concept: the job's driver, from the resume plan through execution, re-planning and
consolidation.

Why the audio is read by our own tasks and not by ``ray.data.read_binary_files``: the job's
input is a *manifest of URIs* (resolved, checked and de-duplicated on the driver), not a folder;
``read_binary_files`` lists and reads through pyarrow's filesystem layer, whose S3 reads have
known parallelism problems (few concurrent requests per task, slow on prefixes with many small
objects), uses different credential handling than the rest of the job (fsspec/s3fs storage
options), and turns an unreadable object into a failed read task instead of an error row. Our
read stage takes a batch of URIs and fetches them concurrently with ``fs.cat`` (s3fs/gcsfs run
the requests in parallel on their event loop), with per-object retries and per-object errors.

A run, in order (``run_job``):

1. the output location is checked (an object store's bucket must exist), the inputs resolved,
   the model checked on the driver and the output location's lease taken (``jobs.run_lease``):
   each can stop the job at once with one line and its own exit status (``jobs.errors``);
2. the resume plan: earlier records decide what is skipped;
3. execution (``jobs.execution``): the stages run; every finished batch is recorded durably by
   the workers themselves, and the driver only counts progress (``jobs.progress``: a line every
   ``job.progress_every_s``, the numbers in the run's heartbeat record for ``frcrn job status``);
4. consolidation LAST: the earlier manifest plus every record -> one row per input, written
   atomically; inputs without a record get an error row (``job_failed`` when the execution
   failed, retried by the next run); then the summary and the exit status (``_outcome``).
"""

from __future__ import annotations

import importlib
import json
import logging
import os
import signal
import threading
import time
import uuid
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from jobs.config import JobConfig, redacted
from jobs.errors import (
    EXIT_ERROR_ROWS,
    EXIT_INTERNAL,
    EXIT_NOTHING_PROCESSED,
    EXIT_OK,
    JobFailed,
    LeaseHeld,
    SpecError,
    first_line,
    storage_step,
)
from jobs.execution import execute_with_replans, init_ray
from jobs.execution import is_system_fault as _is_system_fault  # noqa: F401 - kept importable from here (tests/jobs/test_replan.py)
from jobs.inputs import InputSet, resolve_inputs
from jobs.paths import Location, parse_location
from jobs.progress import Progress, ProgressTicker, known_seconds
from jobs.remeasure import needs_measures, run_remeasure
from jobs.results import (
    ROW_ERRORS,
    SCHEMA,
    consolidate,
    delete_parts,
    load_state,
    row_keys,
    write_json,
    write_manifest,
)
from jobs.run_lease import Heartbeat, driver_identity, find_live_run
from jobs.stages import StageSettings
from jobs.storage import check_output_bucket, filesystem
from jobs.summary import build_summary, format_summary
from jobs.tables import is_in, release_memory, text_array

__all__ = ["JobFailed", "JobInterrupted", "RunResult", "make_job_id", "plan_resume", "run_job"]

log = logging.getLogger("frcrn.job")

ALWAYS_RETRY = {"result_missing", "job_failed"}
"""Error types that describe the job, not the file: retried on resume even with retry_errors=false."""


class JobInterrupted(KeyboardInterrupt):
    """The driver got SIGINT/SIGTERM (``jobs.cli`` turns SIGTERM into this). run_job stops the
    execution, still writes a manifest listing every input, and exits with 128 + signal."""

    def __init__(self, signum: int = signal.SIGINT) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = int(signum)


@dataclass
class RunResult:
    summary: dict[str, Any]
    manifest: pd.DataFrame
    manifest_uri: str
    exit_code: int
    message: str = ""
    """The run's last line: its outcome, the error rows by type, where the manifest is."""


def _ray_submission_id() -> str | None:
    """`ray job submit` passes the submission id to the driver only in its job-config env var."""
    try:
        meta = json.loads(os.environ.get("RAY_JOB_CONFIG_JSON_ENV_VAR") or "{}").get("metadata") or {}
    except ValueError:
        return None
    return meta.get("job_submission_id") or None


def make_job_id(cfg: JobConfig) -> str:
    if cfg.job.id:
        return cfg.job.id
    sub = os.environ.get("RAY_JOB_SUBMISSION_ID") or _ray_submission_id()
    if sub:
        return sub
    return datetime.now(timezone.utc).strftime("run-%Y%m%dT%H%M%SZ-") + uuid.uuid4().hex[:6]


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


@dataclass
class _Run:
    """What every step of one run needs."""

    cfg: JobConfig
    job_id: str
    echo: Callable[[str], Any]
    log_path: str | None
    started_at: str
    t_start: float
    out_loc: Location
    out_fs: Any

    @classmethod
    def start(cls, cfg: JobConfig, job_id: str, echo, log_path: str | None) -> _Run:
        out_loc = parse_location(cfg.output.uri)
        return cls(cfg=cfg, job_id=job_id, echo=echo, log_path=log_path, started_at=_now(),
                   t_start=time.perf_counter(), out_loc=out_loc,
                   out_fs=filesystem(out_loc.protocol, cfg.output.storage_options))

    @property
    def retries(self) -> int:
        return self.cfg.compute.io_retries

    @property
    def manifest_dir(self) -> str:
        return f"{self.out_loc.path}/{self.cfg.output.manifest_dir.strip('/')}"

    @property
    def manifest_uri(self) -> str:
        return self.out_loc.child(f"{self.cfg.output.manifest_dir.strip('/')}/results.parquet").uri

    def output_step(self, doing: str) -> AbstractContextManager:
        return storage_step("output.uri", self.out_loc.uri, self.cfg.output.storage_options, doing)


def plan_resume(
    inputs: InputSet, state: pa.Table, existing: dict[str, int], cfg: JobConfig, checkpoint_sha256: str = ""
) -> tuple[pd.DataFrame, pa.Table]:
    """Split the valid recordings into (to do, skipped); the rows of a skipped one keep their
    earlier records. Resume works per recording: it is skipped when every line naming it has a
    record worth keeping, and redone (once, for all its lines) otherwise.

    An ``ok`` record (or a line-level error of a processed recording, ``ROW_ERRORS``) is kept
    when its output still exists under the same key (with the recorded size,
    ``resume.check_output_size``) and, with ``resume.same_checkpoint``, was made by the
    checkpoint this run uses (``checkpoint_sha256``; "" = unknown, e.g. a factory model), at this
    run's strength (``model.enhance.atten_lim_db``/``dry``). An
    ``error`` record is kept only with ``resume.retry_errors: false`` and never for job-level
    error types (ALWAYS_RETRY)."""
    if not cfg.resume.enabled or state.num_rows == 0:
        return inputs.recordings, state.slice(0, 0)
    release_memory(state.num_rows)  # what reading the state and listing the outputs freed
    valid = np.array(inputs.table["error_type"] == "", dtype=bool)
    rows = _valid_rows(inputs, valid)
    keys, state_keys = row_keys(rows), row_keys(state)
    position = pc.index_in(keys, value_set=state_keys)  # of each row's earlier record; null: none
    keep = _worth_keeping(rows, state, position, existing, cfg, checkpoint_sha256)
    recording = pc.dictionary_encode(rows.column("input_uri").combine_chunks()).indices.to_numpy()
    del rows, position  # each intermediate goes as soon as it is used: a million rows of each
    redo = (np.bincount(recording, weights=~keep) > 0)[recording]  # per row: its recording is redone
    kept_keys = keys.filter(pa.array(~redo))
    del keys, recording
    skipped = state.filter(pc.is_in(state_keys, value_set=kept_keys))
    del state_keys, kept_keys
    release_memory(state.num_rows)
    valid[valid] = redo  # the lines of the recordings to redo, grouped alone: not every recording
    return inputs.recordings_of(valid), skipped


def _valid_rows(inputs: InputSet, valid: np.ndarray) -> pa.Table:
    """The valid input rows' URIs and slices, as Arrow (what keys and comparisons need)."""
    table = inputs.table
    columns = ("input_uri", "output_uri", "segment_offset_s", "segment_duration_s")
    rows = pa.table({c: pa.array(table[c], type=SCHEMA.field(c).type, from_pandas=True) for c in columns})
    return rows.filter(pa.array(valid))


def _worth_keeping(rows: pa.Table, state: pa.Table, position: pa.ChunkedArray, existing: dict[str, int],
                   cfg: JobConfig, checkpoint_sha256: str) -> np.ndarray:
    """Per input row, whether its earlier record (``state`` row ``position``; null: none) is
    kept (see plan_resume). The records' columns are taken one at a time, as needed."""
    def prior(name: str) -> pa.ChunkedArray:
        return state.column(name).take(position)

    def true(condition) -> np.ndarray:  # null (no record) is False
        return pc.fill_null(condition, False).to_numpy(zero_copy_only=False)

    status, error_type = prior("status"), prior("error_type")
    same_output = true(pc.equal(prior("output_uri"), rows.column("output_uri")))
    size = _listed_sizes(rows.column("output_uri"), existing)
    keep_ok = ((true(pc.equal(status, "ok")) | true(pc.is_in(error_type, value_set=pa.array(sorted(ROW_ERRORS)))))
               & same_output & ~np.isnan(size))
    if cfg.resume.check_output_size:
        recorded = prior("output_bytes").to_numpy(zero_copy_only=False).astype("float64")
        keep_ok &= np.isnan(recorded) | (recorded == size)
    if cfg.resume.same_checkpoint and checkpoint_sha256:
        keep_ok &= true(pc.equal(prior("checkpoint_sha256"), checkpoint_sha256))
    strength = pd.DataFrame({c: prior(c).to_numpy(zero_copy_only=False) for c in ("atten_lim_db", "dry")})
    keep_ok &= _same_strength(strength, cfg).to_numpy(dtype=bool)
    keep_error = (true(pc.equal(status, "error")) & (not cfg.resume.retry_errors)
                  & ~true(pc.is_in(error_type, value_set=pa.array(sorted(ALWAYS_RETRY)))) & same_output)
    return keep_ok | keep_error


def _listed_sizes(outputs: pa.ChunkedArray, existing: dict[str, int]) -> np.ndarray:
    """The listed size of each output (NaN: not listed). ``existing`` is keyed by filesystem path;
    output URIs are canonical (``Location.uri``), so their path (``parse_location(uri).path``)
    is what follows the first ``://``, or the URI itself for a local file."""
    if not existing:
        return np.full(len(outputs), np.nan)
    paths = pc.replace_substring_regex(outputs, pattern="^.*?://", replacement="", max_replacements=1)
    found = pc.index_in(paths, value_set=pa.array(list(existing), type=pa.string()))
    sizes = np.fromiter(existing.values(), dtype="float64", count=len(existing))
    index = found.to_numpy(zero_copy_only=False)  # float, NaN where not listed
    listed = ~np.isnan(index)
    out = np.full(len(outputs), np.nan)
    out[listed] = sizes[index[listed].astype("int64")]
    return out


def _same_strength(m: pd.DataFrame, cfg: JobConfig) -> pd.Series:
    """Made with this run's strength settings (``model.enhance.atten_lim_db``/``dry``): an output
    made at another strength is redone, as one made by another checkpoint is."""
    limit, dry = cfg.model.enhance.atten_lim_db, cfg.model.enhance.dry
    same_limit = m["atten_lim_db"].isna() if limit is None else m["atten_lim_db"].astype("float64") == limit
    return same_limit & (m["dry"].astype("float64").fillna(0.0) == dry)


def _list_outputs(fs, root: str, manifest_dir: str) -> dict[str, int]:
    fs.invalidate_cache()
    if not fs.exists(root):
        return {}
    out = {}
    for path, info in fs.find(root, detail=True).items():
        if path.startswith(manifest_dir + "/") or path.endswith(".partial"):
            continue
        out[path] = int(info.get("size") or 0)
    return out


# --------------------------------------------------------------------------- before any work


def _check_output_location(run: _Run) -> None:
    """An object store's bucket must exist: said at once, before inputs are resolved."""
    check_output_bucket(run.out_loc, run.out_fs, run.cfg.output.storage_options)


def _resolve(run: _Run) -> InputSet:
    cfg = run.cfg
    with storage_step("input.uri", cfg.input.uri, cfg.input.storage_options, "reading the inputs"):
        inputs = resolve_inputs(cfg.input, cfg.output)
    n_invalid = int((inputs.table["error_type"] != "").sum())
    formats = ", ".join(dict.fromkeys(inputs.formats))
    source = inputs.sources[0] if len(inputs.sources) == 1 else f"{len(inputs.sources)} sources"
    run.echo(f"frcrn-job {run.job_id}: {formats} input {source}: {len(inputs.table)} rows, "
             f"{inputs.n_recordings} recordings"
             + (f", {inputs.duplicates} repeated lines (each keeps its row)" if inputs.duplicates else "")
             + (f", {n_invalid} refused" if n_invalid else ""))
    return inputs


def _check_model_source(cfg: JobConfig) -> str:
    """Load the checkpoint once on the driver, before any cluster work or output write.

    Loading is safe on the driver: frcrn.model.checkpoint accepts safetensors, and pickles only via
    ``torch.load(weights_only=True)``, which refuses (never runs) code in the file. Found only
    in the replicas, an unusable checkpoint (malicious pickle, wrong file, wrong shapes) would
    kill each of them ``ray.max_consecutive_replica_init_deaths`` times and fail the job with
    exit 1 after minutes, every input a job_failed row; found here, it is exit 2 at once with
    the loader's message. A ``model.factory`` is imported here for the same reason. Returns the
    checkpoint's sha256 ("" for a factory model).
    """
    if cfg.model.factory:
        _check_factory(cfg.model.factory)
        return ""
    ckpt = cfg.model.checkpoint
    with storage_step("model.checkpoint", ckpt or "", cfg.model.storage_options, "reading the checkpoint"):
        if ckpt:
            loc = parse_location(ckpt)
            if not filesystem(loc.protocol, cfg.model.storage_options).exists(loc.path):
                raise SpecError(f"model.checkpoint not found: {ckpt}")
        from frcrn.model.checkpoint import CheckpointError, load_checkpoint

        try:
            _, info = load_checkpoint(ckpt, storage_options=cfg.model.storage_options or None)
        except CheckpointError as err:
            raise SpecError(f"model.checkpoint is unusable: {err}") from None
    return info.sha256


def _check_factory(factory: str) -> None:
    module, _, name = factory.partition(":")
    try:
        target = getattr(importlib.import_module(module), name) if module and name else None
    except (ImportError, AttributeError) as err:
        raise SpecError(f"model.factory {factory!r}: cannot import it ({type(err).__name__}: {err})") from None
    if not callable(target):
        raise SpecError(f"model.factory {factory!r}: must name a callable as 'module:callable'")


def _take_lease(run: _Run) -> Heartbeat:
    """Refuse while another live run writes here; else start this run's heartbeat record (the
    first write to the output location: early proof that it is writable)."""
    cfg, runs_dir = run.cfg, f"{run.manifest_dir}/runs"
    with run.output_step("checking for another run on the output location"):
        live = find_live_run(run.out_fs, runs_dir, run.job_id, cfg.job.lease_seconds, retries=run.retries)
    if live is not None:
        age = time.time() - float(live["heartbeat_at"])
        raise LeaseHeld(
            f"another run ({live.get('job_id')}, started {live.get('started_at')}) is writing to {run.out_loc.uri}: "
            f"its last heartbeat was {age:.0f} s ago. Wait for it to finish or stop it; if its driver died, "
            f"the location is free {cfg.job.lease_seconds:.0f} s after that heartbeat (job.lease_seconds)"
        )
    heartbeat = Heartbeat(
        {"job_id": run.job_id, "state": "running", "started_at": run.started_at, **driver_identity(),
         "config": redacted(cfg)},
        lambda record: write_json(run.out_fs, f"{runs_dir}/{run.job_id}.json", record, retries=run.retries),
        interval=min(cfg.job.lease_seconds / 5 if cfg.job.lease_seconds > 0 else 3600.0, cfg.job.progress_every_s),
    )
    with run.output_step("writing this run's record (the first write to the output location)"):
        heartbeat.start()
    return heartbeat


def _record_failure(run: _Run, heartbeat: Heartbeat, err: BaseException) -> None:
    """Best effort, one attempt: the run's record says "failed" instead of a stale "running"."""
    heartbeat.stop()
    record = {**heartbeat.record, "state": "failed", "failure": f"{type(err).__name__}: {first_line(err)}"}
    try:
        write_json(run.out_fs, f"{run.manifest_dir}/runs/{run.job_id}.json", record, retries=0)
    except Exception as write_err:  # the failure itself is what gets reported
        log.info("could not mark the run record as failed: %s", write_err)  # the log only


def run_job(cfg: JobConfig, *, echo=print, job_id: str | None = None, log_path: str | None = None) -> RunResult:
    """Run the whole job once; returns the summary, the final manifest, an exit code and the
    run's last line. Job-level failures raise ``jobs.errors.JobFailed`` subclasses, each with
    its exit status; ``log_path`` (where the command line keeps tracebacks) is named in messages."""
    run = _Run.start(cfg, job_id or make_job_id(cfg), echo, log_path)
    _check_output_location(run)
    inputs = _resolve(run)
    checkpoint_sha256 = _check_model_source(cfg)
    heartbeat = _take_lease(run)
    try:
        return _run_leased(run, inputs, checkpoint_sha256, heartbeat)
    except BaseException as err:
        _record_failure(run, heartbeat, err)
        raise
    finally:
        heartbeat.stop()


# --------------------------------------------------------------------------- under the lease


def _run_leased(run: _Run, inputs: InputSet, checkpoint_sha256: str, heartbeat: Heartbeat) -> RunResult:
    """The part of run_job that runs under the output location's lease (see jobs.run_lease)."""
    todo, skipped = _plan(run, inputs, checkpoint_sha256)
    remeasure = needs_measures(skipped, _stage_settings(run))
    if remeasure.num_rows:
        run.echo(f"  measuring again (no enhancement): {len(set(remeasure.column('input_uri').to_pylist()))} "
                 "recordings lack columns this run fills (measures, dnsmos)")
    progress = Progress(len(todo), known_seconds(inputs.table, todo["input_uri"]))
    heartbeat.live = lambda: {"progress": progress.snapshot()}  # for `frcrn job status`
    busy = len(todo) or remeasure.num_rows
    failure, attempts, interrupted = _execute(run, todo, remeasure, inputs, progress) if busy else (None, 0, None)
    final = _consolidate(run, inputs, todo, skipped, failure, remeasure)
    final_df = final.to_pandas()
    summary = build_summary(
        job_id=run.job_id, final=final_df, processed=_processed_mask(inputs, todo),
        started_at=run.started_at, finished_at=_now(), wall_seconds=time.perf_counter() - run.t_start,
        duplicates=inputs.duplicates, input_uri=run.cfg.input.uri, sources=inputs.sources,
        formats=inputs.formats, output_uri=run.out_loc.uri, manifest_uri=run.manifest_uri, failure=failure,
        config=redacted(run.cfg),
    )
    summary["execution_attempts"] = attempts
    summary["remeasured_recordings"] = len(set(remeasure.column("input_uri").to_pylist()))
    summary["progress"] = progress.snapshot()
    code, message = _outcome(run, summary, failure, interrupted)
    summary.update(exit_code=code, outcome=message)
    heartbeat.stop()  # no beat may overwrite the final record below with "running"
    with run.output_step("writing the run summary"):
        write_json(run.out_fs, f"{run.manifest_dir}/summary.json", summary, retries=run.retries)
        write_json(run.out_fs, f"{run.manifest_dir}/runs/{run.job_id}.json", summary, retries=run.retries)
    run.echo(format_summary(summary))
    return RunResult(summary=summary, manifest=final_df, manifest_uri=run.manifest_uri, exit_code=code,
                     message=message)


def _processed_mask(inputs: InputSet, todo: pd.DataFrame) -> pd.Series:
    """Per input row: handled by this run (its recording processed now, or refused now), as
    opposed to skipped because an earlier run did it."""
    table = inputs.table
    return (table["error_type"] != "") | is_in(table["input_uri"], todo["input_uri"])


def _plan(run: _Run, inputs: InputSet, checkpoint_sha256: str) -> tuple[pd.DataFrame, pa.Table]:
    cfg = run.cfg
    with run.output_step("reading the results of earlier runs"):
        state, _ = load_state(run.out_fs, run.manifest_dir, retries=run.retries)
        existing = (_list_outputs(run.out_fs, run.out_loc.path, run.manifest_dir)
                    if cfg.resume.enabled and state.num_rows else {})
    todo, skipped = plan_resume(inputs, state, existing, cfg, checkpoint_sha256)
    done = inputs.n_recordings - len(todo)
    run.echo(f"  recordings to process: {len(todo)}   already done (skipped): {done}")
    return todo, skipped


def _stage_settings(run: _Run) -> StageSettings:
    cfg = run.cfg
    return StageSettings(
        job_id=run.job_id, input_protocol=parse_location(cfg.input.uri).protocol,
        output_protocol=run.out_loc.protocol, output_parts_dir=f"{run.manifest_dir}/_parts",
        input_storage_options=cfg.input.storage_options, output_storage_options=cfg.output.storage_options,
        output_format=cfg.output.format, output_rate=cfg.output.sample_rate, max_seconds=cfg.limits.max_seconds,
        max_bytes=cfg.limits.max_bytes, io_retries=run.retries, dnsmos_model=cfg.dnsmos.model,
        dnsmos_storage_options=cfg.dnsmos.storage_options, dnsmos_score=tuple(cfg.dnsmos.score),
        dnsmos_fraction=cfg.dnsmos.fraction, measures=cfg.measures.enabled,
    )


def _recorded_this_run(run: _Run) -> set[str]:
    with run.output_step("reading this run's result records"):
        state, _ = load_state(run.out_fs, run.manifest_dir, retries=run.retries)
    return set(state.filter(pc.equal(state.column("job_id"), run.job_id)).column("input_uri").to_pylist())


def _execute(run: _Run, todo: pd.DataFrame, remeasure: pa.Table, inputs: InputSet,
             progress: Progress) -> tuple[str | None, int, int | None]:
    """Run the stages (a progress line every ``job.progress_every_s``, and a last one at the end),
    then fill the measurements kept recordings lack (``jobs.remeasure``); returns (one-line
    failure or None, attempts used, signal number if stopped)."""
    started_ray = init_ray(run.cfg)
    # After ray.init, which installs its own SIGTERM handler (sys.exit mid-execution, which
    # ended in an abort, exit -6, with nothing recorded): SIGTERM now stops the run the
    # same way as Ctrl-C (see the KeyboardInterrupt branch below).
    previous_sigterm = catch_sigterm()
    try:
        failure, attempts = None, 0
        if len(todo):
            with ProgressTicker(progress, run.echo, run.cfg.job.progress_every_s):
                failure, attempts = execute_with_replans(todo, run.cfg, _stage_settings(run),
                                                         lambda: _recorded_this_run(run), run.echo, progress)
        if remeasure.num_rows and failure is None:
            recordings = inputs.recordings
            run_remeasure(remeasure, dict(zip(recordings["input_uri"], recordings["member"])),
                          _stage_settings(run), run.cfg)
        return failure, attempts, None
    except KeyboardInterrupt as err:
        # Ctrl-C or SIGTERM (k8s/Slurm/`ray job stop`): without this the driver died with a
        # traceback, left runs/<job_id>.json saying "running" and no manifest at all. Now
        # the execution stops (ray.shutdown below ends this job's tasks and actors), what
        # finished is consolidated, every other input gets a job_failed row (retried by the
        # next run), and the exit status is 128 + signal like any interrupted Unix tool.
        signum = getattr(err, "signum", int(signal.SIGINT))
        failure = f"interrupted by {signal.Signals(signum).name}"
        log.warning("%s: recording what finished; run the job again to resume", failure)
        return failure, 0, signum
    finally:
        if previous_sigterm is not None:
            signal.signal(signal.SIGTERM, previous_sigterm)
        if started_ray:
            import ray

            ray.shutdown()


def _consolidate(run: _Run, inputs: InputSet, todo: pd.DataFrame, skipped: pa.Table,
                 failure: str | None, remeasured: pa.Table) -> pa.Table:
    """Consolidate LAST: earlier manifest + every part (this run's included) -> one row per line."""
    todo_uris = pa.concat_arrays([text_array(todo["input_uri"]),
                                  remeasured.column("input_uri").combine_chunks().cast(pa.string())])
    with run.output_step("reading this run's result records"):
        fresh, parts = load_state(run.out_fs, run.manifest_dir, retries=run.retries, only=todo_uris,
                                  job_id=run.job_id)
    candidates = pa.concat_tables([skipped, fresh])
    del fresh
    final = consolidate(inputs.table, inputs.carried_columns, candidates, run.job_id, failure)
    del candidates
    release_memory(final.num_rows)
    with run.output_step("writing the results manifest (the per-batch records stay for the next run)"):
        write_manifest(run.out_fs, run.manifest_dir, final, retries=run.retries)
    delete_parts(run.out_fs, parts)
    release_memory(final.num_rows)
    return final


def _outcome(run: _Run, summary: dict[str, Any], failure: str | None, interrupted: int | None) -> tuple[int, str]:
    """The exit status (the table is in jobs.cli) and the run's last line."""
    where = f"manifest: {run.manifest_uri}"
    n = summary["input"]["rows"]
    n_error = summary["manifest_counts"].get("error", 0)
    by_type = ", ".join(f"{k} {v}" for k, v in summary["errors_by_type"].items())
    if interrupted is not None:
        return 128 + interrupted, (
            f"frcrn-job: {failure}: what finished is recorded, the other inputs are job_failed rows; "
            f"run the same command again to resume; {where}")
    if failure:
        log_hint = f"; traceback in {run.log_path}" if run.log_path else ""
        return EXIT_INTERNAL, (
            f"frcrn-job: the run failed ({failure}); every input has a row, the unfinished ones job_failed "
            f"(retried by the next run); {where}{log_hint}")
    if n and n_error == n:
        return EXIT_NOTHING_PROCESSED, (
            f"frcrn-job: no input could be processed: all {n} inputs are error rows ({by_type}); {where}")
    if n_error:
        code = EXIT_ERROR_ROWS if run.cfg.job.fail_on_error_rows else EXIT_OK
        note = "" if code else " (job.fail_on_error_rows is false: exit status 0)"
        return code, f"frcrn-job: finished with {n_error} error rows of {n} inputs ({by_type}); {where}{note}"
    skipped = summary["counts"]["skipped"]
    return EXIT_OK, (f"frcrn-job: finished: all {n} inputs ok"
                     + (f" ({skipped} done by an earlier run)" if skipped else "") + f"; {where}")


def catch_sigterm():
    """Make SIGTERM raise JobInterrupted in the main thread; returns the previous handler
    (None when not on the main thread, where Python cannot install handlers)."""
    if threading.current_thread() is not threading.main_thread():
        return None

    def on_sigterm(signum, _frame):
        signal.signal(signal.SIGTERM, signal.SIG_DFL)  # a second SIGTERM kills at once
        raise JobInterrupted(signum)

    return signal.signal(signal.SIGTERM, on_sigterm)
