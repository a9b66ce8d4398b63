"""Wire the job: inputs -> resume plan -> Ray Data stages -> consolidated manifest + summary.

Why the audio is read by our own tasks and not by ``ray.data.read_binary_files``: the job's
input is a *manifest of URIs* (resolved, checked and de-duplicated on the driver), not a folder;
``read_binary_files`` lists and reads through pyarrow's filesystem layer, whose S3 reads have
known parallelism problems (few concurrent requests per task, slow on prefixes with many small
objects), uses different credential handling than the rest of the job (fsspec/s3fs storage
options), and turns an unreadable object into a failed read task instead of an error row. Our
read stage takes a batch of URIs and fetches them concurrently with ``fs.cat`` (s3fs/gcsfs run
the requests in parallel on their event loop), with per-object retries and per-object errors.

Stages (kept apart so the model actors never block on storage or codecs):

1. ``from_pandas`` of the to-do URIs, ``files_per_read_task`` rows per block
2. ``read_decode``  CPU tasks:  fetch, decode, resample to 16 kHz mono, input measurements
3. ``Enhance``      actor pool: ``ActorPoolStrategy(min_size, max_size)``, one FRCRN replica each
4. ``encode_write`` CPU tasks:  encode, atomic write, output measurements, durable row records

Retries (faults that say nothing about a file; per-file problems are error rows instead):

* storage: transient errors (throttling, 5xx, timeouts, resets) retried per object with backoff
  (``compute.io_retries``);
* read/write tasks: re-run by Ray when their worker process dies or its node is lost
  (``max_retries=compute.task_retries``); the write task is also re-run when its result record
  cannot be stored (``retry_exceptions=[ResultRecordError]``) -- safe, since outputs and record
  keys are deterministic;
* model replicas: restarted by Ray when they die (OOM kill, segfault, node loss;
  ``max_restarts=compute.replica_restarts``) and the batch in flight re-submitted
  (``max_task_retries=compute.replica_task_retries``); a replica that keeps dying while loading
  the model fails the job after ``ray.max_consecutive_replica_init_deaths`` attempts with the
  loader's error. Ray's own defaults are unbounded restarts/retries, which would loop forever on
  a file that reliably kills its worker; bounded values turn that into a clear failure.
* the execution as a whole: when it fails on a cluster fault (a lost node takes the blocks in
  its object store with it, and Ray 2.60 cannot rebuild blocks made by actor tasks) or after
  making progress, the driver re-plans from the per-row records and runs the inputs without a
  result again (``compute.execution_attempts``), see ``_execute_with_replans``.
* ``max_errored_blocks`` is left at 0: with dying actors a non-zero value can hang the job.

If execution fails anyway, the driver still consolidates what was recorded: inputs without a
result get an error row (``job_failed``), which the next run always retries.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import json
import os
import signal
import threading
import time
import uuid
import warnings
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import pandas as pd

from jobs.config import JobConfig, redacted
from jobs.inputs import InputSet, resolve_inputs
from jobs.paths import parse_location
from jobs.results import (
    SCHEMA,
    consolidate,
    delete_parts,
    load_state,
    new_row,
    rows_to_table,
    write_json,
    write_manifest,
)
from jobs.run_lease import Heartbeat, driver_identity, find_live_run
from jobs.stages import Enhance, ModelSettings, ResultRecordError, StageSettings, encode_write, read_decode
from jobs.storage import filesystem
from jobs.summary import build_summary, format_summary

__all__ = ["JobFailed", "JobInterrupted", "RunResult", "run_job", "make_job_id", "plan_resume"]

log = logging.getLogger("frcrn.job")

ALWAYS_RETRY = {"result_missing", "job_failed"}
"""Error types that describe the job, not the file: retried on resume even with retry_errors=false."""


class JobFailed(RuntimeError):
    """The run could not complete (the manifest still records every input)."""


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


def plan_resume(
    inputs: InputSet, state: pd.DataFrame, existing: dict[str, int], cfg: JobConfig, checkpoint_sha256: str = ""
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split the valid inputs into (to do, skipped); skipped keep their earlier row.

    ``checkpoint_sha256``: the model this run uses ("" = unknown, e.g. a test factory); with
    ``resume.same_checkpoint`` an ``ok`` row made by another checkpoint is redone."""
    valid = inputs.valid[["input_uri", "output_uri"]]
    if not cfg.resume.enabled or state.empty:
        return valid.reset_index(drop=True), state.iloc[0:0]
    prior = state.set_index("input_uri")
    skip_mask = []
    for uri, out in zip(valid["input_uri"], valid["output_uri"]):
        if uri not in prior.index:
            skip_mask.append(False)
            continue
        row = prior.loc[uri]
        if row["status"] == "ok":
            path = parse_location(out).path
            ok = row["output_uri"] == out and path in existing
            if ok and cfg.resume.check_output_size and not pd.isna(row["output_bytes"]):
                ok = int(row["output_bytes"]) == existing[path]
            if ok and cfg.resume.same_checkpoint and checkpoint_sha256:
                ok = row["checkpoint_sha256"] == checkpoint_sha256
            skip_mask.append(bool(ok))
        else:
            skip_mask.append(
                not cfg.resume.retry_errors and row["error_type"] not in ALWAYS_RETRY
                and row["output_uri"] == out
            )
    mask = pd.Series(skip_mask, index=valid.index, dtype=bool)
    skipped_uris = set(valid.loc[mask, "input_uri"])
    return valid[~mask].reset_index(drop=True), state[state["input_uri"].isin(skipped_uris)]


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


def _init_ray(cfg: JobConfig) -> bool:
    import ray

    if ray.is_initialized():
        return False
    kwargs: dict[str, Any] = dict(
        address=cfg.ray.address or None,
        logging_level=getattr(logging, cfg.ray.log_level.upper(), logging.WARNING),
        log_to_driver=True,
    )
    if not cfg.ray.address and not os.environ.get("RAY_ADDRESS") and cfg.ray.num_cpus:
        kwargs["num_cpus"] = cfg.ray.num_cpus
    ray.init(**kwargs)
    return True


def _replica_enhance_config(cfg: JobConfig):
    """model.enhance as each replica uses it: ``num_threads: null`` on CPU replicas means
    ``compute.cpus_per_replica`` threads (the device itself, "auto" included, is resolved inside
    the replica by frcrn.enhance.resolve_device, the one place that does it)."""
    enhance, c = cfg.model.enhance, cfg.compute
    if enhance.num_threads is None and c.gpus_per_replica == 0:
        enhance = dataclasses.replace(enhance, num_threads=max(1, int(c.cpus_per_replica)))
    return enhance


def _build_dataset(todo: pd.DataFrame, cfg: JobConfig, settings: StageSettings, *, shrunk: bool = False):
    """``shrunk``: a re-run after a cluster fault starts with one replica (the pool grows to
    ``max_replicas`` as resources allow) so a cluster that lost a node and was not replaced still fits it."""
    import ray
    from ray.data import ActorPoolStrategy, DataContext

    c, m = cfg.compute, cfg.model
    ctx = DataContext.get_current()
    ctx.target_max_block_size = c.target_max_block_mb * 2**20
    ctx.enable_progress_bars = cfg.ray.progress_bars
    ctx.max_consecutive_actor_init_deaths = cfg.ray.max_consecutive_replica_init_deaths
    ctx.max_errored_blocks = 0

    model = ModelSettings(checkpoint=m.checkpoint, enhance=_replica_enhance_config(cfg),
                          storage_options=m.storage_options, factory=m.factory)
    # Small blocks (one read task each) so reads spread over the cluster from the start, but at
    # most ~4096 of them: millions of tiny blocks would cost the driver more than they save.
    uris = todo[["input_uri", "output_uri"]].reset_index(drop=True)
    step = max(c.files_per_read_task, math.ceil(len(uris) / 4096))
    ds = ray.data.from_pandas([uris.iloc[i : i + step] for i in range(0, len(uris), step)])
    with warnings.catch_warnings():
        # max_retries / max_restarts / max_task_retries / retry_exceptions have no named
        # map_batches parameter in Ray 2.60; ray_remote_args is the documented way to pass them.
        warnings.filterwarnings("ignore", message=r".*ray_remote_args.*deprecated.*")
        ds = ds.map_batches(
            read_decode, fn_kwargs={"settings": settings}, batch_size=c.files_per_read_task,
            batch_format="numpy", num_cpus=c.read_cpus, udf_modifying_row_count=False,
            max_retries=c.task_retries,
        )
        enhance_kwargs: dict[str, Any] = dict(num_cpus=c.cpus_per_replica)
        if c.gpus_per_replica > 0:
            enhance_kwargs["num_gpus"] = c.gpus_per_replica
        ds = ds.map_batches(
            Enhance, fn_constructor_kwargs={"model": model}, batch_size=c.files_per_model_batch,
            batch_format="numpy", udf_modifying_row_count=False,
            compute=ActorPoolStrategy(
                min_size=1 if shrunk else c.min_replicas, max_size=c.max_replicas,
                max_tasks_in_flight_per_actor=c.max_tasks_in_flight_per_replica,
            ),
            max_restarts=c.replica_restarts, max_task_retries=c.replica_task_retries,
            **enhance_kwargs,
        )
        ds = ds.map_batches(
            encode_write, fn_kwargs={"settings": settings}, batch_size=c.files_per_write_task,
            batch_format="numpy", num_cpus=c.write_cpus, udf_modifying_row_count=False,
            max_retries=c.task_retries, retry_exceptions=[ResultRecordError],
        )
    return ds


def _driver_error_rows(inputs: InputSet, job_id: str) -> pd.DataFrame:
    bad = inputs.table[inputs.table["error_type"] != ""]
    now = time.time()
    rows = []
    for uri, out, kind, msg in zip(bad["input_uri"], bad["output_uri"], bad["error_type"], bad["error_message"]):
        r = new_row(uri, out, job_id)
        r.update(status="error", error_type=kind, error_message=msg, finished_at=now, processing_s=0.0)
        rows.append(r)
    return pd.DataFrame(rows, columns=[f.name for f in SCHEMA])


def _check_model_source(cfg: JobConfig) -> str:
    """Load the checkpoint once on the driver, before any cluster work or output write.

    Loading is safe on the driver: frcrn.checkpoint accepts safetensors, and pickles only via
    ``torch.load(weights_only=True)``, which refuses (never runs) code in the file. Before,
    an unusable checkpoint (malicious pickle, wrong file, wrong shapes) was only found in the
    replicas: each died ``ray.max_consecutive_replica_init_deaths`` times, the job failed with
    exit 1 after minutes and every input got a job_failed row; now it is exit 2 at once with
    the loader's message. Returns the checkpoint's sha256 ("" for a factory model).
    """
    ckpt = cfg.model.checkpoint
    if cfg.model.factory:
        return ""
    if ckpt:
        loc = parse_location(ckpt)
        fs = filesystem(loc.protocol, cfg.model.storage_options)
        if not fs.exists(loc.path):
            raise JobFailed(f"model.checkpoint not found: {ckpt}")
    from frcrn.checkpoint import CheckpointError, load_checkpoint

    try:
        _, info = load_checkpoint(ckpt, storage_options=cfg.model.storage_options or None)
    except CheckpointError as err:
        raise JobFailed(f"model.checkpoint is unusable: {err}") from None
    return info.sha256


def _catch_sigterm():
    """Make SIGTERM raise JobInterrupted in the main thread; returns the previous handler
    (None when not on the main thread, where Python cannot install handlers)."""
    if threading.current_thread() is not threading.main_thread():
        return None

    def on_sigterm(signum, _frame):
        signal.signal(signal.SIGTERM, signal.SIG_DFL)  # a second SIGTERM kills at once
        raise JobInterrupted(signum)

    return signal.signal(signal.SIGTERM, on_sigterm)


_SYSTEM_FAULTS = frozenset({
    "ObjectLostError", "ObjectReconstructionFailedError", "ObjectReconstructionFailedMaxAttemptsExceededError",
    "ObjectReconstructionFailedLineageEvictedError", "OwnerDiedError", "NodeDiedError", "ActorDiedError",
    "ActorUnavailableError", "ActorUnschedulableError", "WorkerCrashedError", "RaySystemError",
    "LocalRayletDiedError", "ObjectFetchTimedOutError", "GetTimeoutError",
})
"""Ray exceptions that describe the cluster (a node or process gone, an object lost), not the
data or the code: an execution that failed with one of them is re-planned and run again."""


def _is_system_fault(err: BaseException) -> bool:
    seen: set[int] = set()
    e: BaseException | None = err
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        if any(c.__name__ in _SYSTEM_FAULTS for c in type(e).__mro__):
            return True
        e = e.__cause__ or e.__context__
    return False


def _recorded_this_run(out_fs, manifest_dir: str, job_id: str, retries: int) -> set[str]:
    state, _ = load_state(out_fs, manifest_dir, retries=retries)
    return set(state.loc[state["job_id"] == job_id, "input_uri"])


def _execute_with_replans(todo: pd.DataFrame, cfg: JobConfig, settings: StageSettings, out_fs,
                          manifest_dir: str, job_id: str, echo) -> tuple[str | None, int]:
    """Run the stages over ``todo``; returns (None on success else a one-line failure, attempts used).

    Why re-plan here rather than rely on Ray alone: Ray 2.60 recovers a dead *process* (task
    retries, actor restarts), but losing a *node* also loses the blocks in its object store, and
    blocks made by actor tasks cannot be rebuilt by lineage reconstruction -- the streaming
    execution then fails as a whole, with most inputs already done. Every finished input has a
    durable per-row record, so an execution that failed on a cluster fault (or after making
    progress) is simply started again on the inputs that have no record yet, at most
    ``compute.execution_attempts`` times. Nothing done is redone; outputs and record keys are
    deterministic, so an input that was in flight is just written again.
    """
    remaining = todo
    attempts = max(1, cfg.compute.execution_attempts)
    for attempt in range(1, attempts + 1):
        try:
            ds = _build_dataset(remaining, cfg, settings, shrunk=attempt > 1)
            for _ in ds.iter_batches(batch_size=None, batch_format="pyarrow"):
                pass
            return None, attempt
        except Exception as err:  # noqa: BLE001 - record every input, then report
            text = str(err).strip()
            failure = f"{type(err).__name__}: {text.splitlines()[0] if text else ''}"
            log.error("execution attempt %d/%d failed: %s", attempt, attempts, err, exc_info=True)
            done = _recorded_this_run(out_fs, manifest_dir, job_id, cfg.compute.io_retries)
            left = remaining[~remaining["input_uri"].isin(done)].reset_index(drop=True)
            if left.empty:
                return None, attempt  # the fault came after the last record: nothing is missing
            progressed = len(left) < len(remaining)
            if attempt == attempts or not (progressed or _is_system_fault(err)):
                return failure, attempt
            echo(f"  execution failed ({failure}); {len(remaining) - len(left)} inputs finished in that "
                 f"attempt, re-running the {len(left)} without a result (attempt {attempt + 1}/{attempts})")
            remaining = left
    return None, attempts  # unreachable


def run_job(cfg: JobConfig, *, echo=print) -> RunResult:
    """Run the whole job once; returns the summary, the final manifest and an exit code."""
    t_start = time.perf_counter()
    started_at = _now()
    job_id = make_job_id(cfg)
    out_loc = parse_location(cfg.output.uri)
    out_fs = filesystem(out_loc.protocol, cfg.output.storage_options)
    manifest_dir = f"{out_loc.path}/{cfg.output.manifest_dir.strip('/')}"
    retries = cfg.compute.io_retries

    inputs = resolve_inputs(cfg.input, cfg.output)
    n_invalid = int((inputs.table["error_type"] != "").sum())
    echo(f"frcrn-job {job_id}: {len(inputs.table)} unique inputs from {len(inputs.sources)} source(s)"
         + (f", {inputs.duplicates} duplicate entries ignored" if inputs.duplicates else "")
         + (f", {n_invalid} refused" if n_invalid else ""))
    if inputs.duplicates:
        echo("  duplicates (first few): " + ", ".join(inputs.duplicate_examples[:5]))
    checkpoint_sha256 = _check_model_source(cfg)
    runs_dir = f"{manifest_dir}/runs"
    live = find_live_run(out_fs, runs_dir, job_id, cfg.job.lease_seconds, retries=retries)
    if live is not None:
        age = time.time() - float(live["heartbeat_at"])
        raise JobFailed(
            f"another run ({live.get('job_id')}, started {live.get('started_at')}) is writing to {out_loc.uri}: "
            f"its last heartbeat was {age:.0f} s ago. Wait for it to finish or stop it; if its driver died, "
            f"the location is free {cfg.job.lease_seconds:.0f} s after that heartbeat (job.lease_seconds)"
        )
    # Early proof that the output is writable, and a record (with a heartbeat) that this run is alive.
    heartbeat = Heartbeat(
        {"job_id": job_id, "state": "running", "started_at": started_at, **driver_identity(), "config": redacted(cfg)},
        lambda record: write_json(out_fs, f"{runs_dir}/{job_id}.json", record, retries=retries),
        interval=cfg.job.lease_seconds / 5 if cfg.job.lease_seconds > 0 else 3600.0,
    )
    heartbeat.start()
    try:
        return _run_leased(cfg, job_id, inputs, checkpoint_sha256, heartbeat, out_fs, manifest_dir,
                           t_start, started_at, echo)
    finally:
        heartbeat.stop()


def _run_leased(cfg: JobConfig, job_id: str, inputs: InputSet, checkpoint_sha256: str, heartbeat: Heartbeat,
                out_fs, manifest_dir: str, t_start: float, started_at: str, echo) -> RunResult:
    """The part of run_job that runs under the output location's lease (see jobs.run_lease)."""
    out_loc = parse_location(cfg.output.uri)
    manifest_uri = out_loc.child(f"{cfg.output.manifest_dir.strip('/')}/results.parquet").uri
    retries = cfg.compute.io_retries

    state, _ = load_state(out_fs, manifest_dir, retries=retries)
    existing = _list_outputs(out_fs, out_loc.path, manifest_dir) if cfg.resume.enabled and len(state) else {}
    todo, skipped_rows = plan_resume(inputs, state, existing, cfg, checkpoint_sha256)
    echo(f"  to process: {len(todo)}   already done (skipped): {len(skipped_rows)}")

    failure: str | None = None
    attempts_used = 0
    interrupted: int | None = None  # signal number when stopped by SIGINT/SIGTERM
    if len(todo):
        in_loc = parse_location(cfg.input.uri)
        settings = StageSettings(
            job_id=job_id, input_protocol=in_loc.protocol, output_protocol=out_loc.protocol,
            output_parts_dir=f"{manifest_dir}/_parts", input_storage_options=cfg.input.storage_options,
            output_storage_options=cfg.output.storage_options, output_format=cfg.output.format,
            output_rate=cfg.output.sample_rate, max_seconds=cfg.limits.max_seconds,
            max_bytes=cfg.limits.max_bytes, io_retries=retries, dnsmos_model=cfg.dnsmos.model,
            dnsmos_storage_options=cfg.dnsmos.storage_options,
        )
        started_ray = _init_ray(cfg)
        # After ray.init, which installs its own SIGTERM handler (sys.exit mid-execution, which
        # ended in an abort, exit -6, with nothing recorded): SIGTERM now stops the run the
        # same way as Ctrl-C (see the KeyboardInterrupt branch below).
        previous_sigterm = _catch_sigterm()
        try:
            failure, attempts_used = _execute_with_replans(todo, cfg, settings, out_fs, manifest_dir, job_id, echo)
        except KeyboardInterrupt as err:
            # Ctrl-C or SIGTERM (k8s/Slurm/`ray job stop`): without this the driver died with a
            # traceback, left runs/<job_id>.json saying "running" and no manifest at all. Now
            # the execution stops (ray.shutdown below ends this job's tasks and actors), what
            # finished is consolidated, every other input gets a job_failed row (retried by the
            # next run), and the exit status is 128 + signal like any interrupted Unix tool.
            interrupted = getattr(err, "signum", int(signal.SIGINT))
            failure = f"interrupted by {signal.Signals(interrupted).name}"
            log.warning("%s: recording what finished; run the job again to resume", failure)
        finally:
            if previous_sigterm is not None:
                signal.signal(signal.SIGTERM, previous_sigterm)
            if started_ray:
                import ray

                ray.shutdown()

    # Consolidate LAST: earlier manifest + every part (this run's included) -> one row per input.
    after, parts = load_state(out_fs, manifest_dir, retries=retries)
    todo_set = set(todo["input_uri"])
    fresh = after[after["input_uri"].isin(todo_set) & (after["job_id"] == job_id)]
    candidates = pd.concat(
        [rows_to_table(df).to_pandas() for df in (skipped_rows, fresh, _driver_error_rows(inputs, job_id))],
        ignore_index=True,
    )
    final = consolidate(inputs.table, inputs.carried_columns, candidates, job_id)
    if failure:
        lost = final["error_type"] == "result_missing"
        final.loc[lost, "error_type"] = "job_failed"
        final.loc[lost, "error_message"] = (
            f"not processed: the job failed before this input was done ({failure}); "
            "it will be processed on the next run"
        )
    write_manifest(out_fs, manifest_dir, final, retries=retries)
    delete_parts(out_fs, parts)

    wall = time.perf_counter() - t_start
    summary = build_summary(
        job_id=job_id, final=final, processed=todo_set | set(inputs.table.loc[inputs.table["error_type"] != "", "input_uri"]),
        skipped=set(skipped_rows["input_uri"]), started_at=started_at, finished_at=_now(),
        wall_seconds=wall, duplicates=inputs.duplicates, duplicate_examples=inputs.duplicate_examples,
        input_uri=cfg.input.uri, sources=inputs.sources, output_uri=out_loc.uri,
        manifest_uri=manifest_uri, failure=failure, config=redacted(cfg),
    )
    summary["execution_attempts"] = attempts_used
    heartbeat.stop()  # no beat may overwrite the final record below with "running"
    write_json(out_fs, f"{manifest_dir}/summary.json", summary, retries=retries)
    write_json(out_fs, f"{manifest_dir}/runs/{job_id}.json", summary, retries=retries)
    echo(format_summary(summary))
    if interrupted is not None:
        code = 128 + interrupted
    elif failure:
        code = 1
    elif cfg.job.fail_on_error_rows and summary["manifest_counts"].get("error", 0):
        code = 3
    else:
        code = 0
    return RunResult(summary=summary, manifest=final, manifest_uri=manifest_uri, exit_code=code)

