"""The Ray side of a run: start/connect Ray, build the three stages, run them to the end
(re-planning after cluster faults) while the driver only counts progress.

Stages (kept apart so the model actors never block on storage or codecs):

1. ``from_arrow`` of the to-do URIs, ``files_per_read_task`` rows per block
2. ``read_decode``  CPU tasks:  fetch, decode, resample to 16 kHz mono, input measurements
3. ``Enhance``      actor pool: ``ActorPoolStrategy(min_size, max_size)``, one FRCRN replica each
4. ``encode_write`` CPU tasks:  encode, atomic write, output measurements, durable row records;
   returns one tiny row per batch (recordings, ok, audio seconds), which is all the driver ever
   fetches: ``jobs.progress`` counts them

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
  making progress, it is re-planned from the per-row records and the inputs without a result run
  again (``compute.execution_attempts``), see :func:`execute_with_replans`.
* ``max_errored_blocks`` is left at 0: with dying actors a non-zero value can hang the job.

Console: ``ray.init`` keeps Ray's Python logging on whatever handlers the "ray" logger has and
leaves ``log_to_driver`` to Ray (``RAY_LOG_TO_DRIVER``, on by default); the command line sends
all of that to the job's log file (``jobs.console``). The driver prints its own progress line
every ``job.progress_every_s`` seconds (``jobs.progress``); Ray Data's own progress reporting is on
only with ``ray.progress_bars`` true, or "auto" (the default) on a terminal, and goes to its log.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import os
import warnings
from collections.abc import Callable
from typing import Any

import pandas as pd
import pyarrow as pa

from jobs.config import JobConfig
from jobs.console import stdout_is_terminal
from jobs.errors import first_line
from jobs.progress import Progress
from jobs.stages import (
    SOURCE_SEGMENTS,
    Enhance,
    ModelSettings,
    ResultRecordError,
    StageSettings,
    encode_write,
    read_decode,
)

__all__ = ["build_dataset", "execute_with_replans", "init_ray", "is_system_fault", "progress_bars_on"]

log = logging.getLogger("frcrn.job")


def init_ray(cfg: JobConfig) -> bool:
    """Connect to (or start) Ray unless this process already did; True when this call did."""
    import ray

    if ray.is_initialized():
        return False
    kwargs: dict[str, Any] = dict(
        address=cfg.ray.address or None,
        logging_level=getattr(logging, cfg.ray.log_level.upper(), logging.WARNING),
    )  # log_to_driver: Ray's default (RAY_LOG_TO_DRIVER, on); the command line sends it to the log
    if not cfg.ray.address and not os.environ.get("RAY_ADDRESS"):
        kwargs["include_dashboard"] = cfg.ray.dashboard  # used only if this starts Ray (ignored on connect)
        if cfg.ray.num_cpus:
            kwargs["num_cpus"] = cfg.ray.num_cpus
    ray.init(**kwargs)
    return True


def replica_enhance_config(cfg: JobConfig):
    """model.enhance as each replica uses it: ``num_threads: null`` on CPU replicas means
    ``compute.cpus_per_replica`` threads. The device itself ("auto" included) is resolved inside
    the replica by frcrn.enhance.resolve_device, the one place that does it."""
    enhance, c = cfg.model.enhance, cfg.compute
    if enhance.num_threads is None and c.gpus_per_replica == 0:
        enhance = dataclasses.replace(enhance, num_threads=max(1, int(c.cpus_per_replica)))
    return enhance


def _configure_data_context(cfg: JobConfig) -> None:
    from ray.data import DataContext

    ctx = DataContext.get_current()
    ctx.target_max_block_size = cfg.compute.target_max_block_mb * 2**20
    ctx.enable_progress_bars = progress_bars_on(cfg.ray.progress_bars)
    ctx.max_consecutive_actor_init_deaths = cfg.ray.max_consecutive_replica_init_deaths
    ctx.max_errored_blocks = 0


def progress_bars_on(setting: bool | str) -> bool:
    """``ray.progress_bars``: true/false as given; "auto" on only when the job's stdout is a
    terminal (``jobs.console.stdout_is_terminal``)."""
    return stdout_is_terminal() if setting == "auto" else bool(setting)


def _source(todo: pd.DataFrame, files_per_read_task: int):
    """The to-do recordings (URI, output, member, segments) as Arrow blocks: small (one read
    task each) so reads spread over the cluster from the start, but at most ~4096 of them
    (millions of tiny blocks would cost the driver more than they save)."""
    import ray

    table = pa.table({c: pa.array(todo[c].to_numpy(dtype=object), type=pa.string())
                      for c in ("input_uri", "output_uri", "member")})
    table = table.append_column("segments", segments_array(todo["segments"]))
    step = max(files_per_read_task, math.ceil(table.num_rows / 4096))
    return ray.data.from_arrow([table.slice(i, step) for i in range(0, table.num_rows, step)])


def segments_array(segments: pd.Series) -> pa.Array:
    """Each recording's (offset, duration) slices as Arrow (None: from the start / to the end)."""
    return pa.array([[{"offset": o, "duration": d} for o, d in segs] for segs in segments], type=SOURCE_SEGMENTS)


def build_dataset(todo: pd.DataFrame, cfg: JobConfig, settings: StageSettings, *, shrunk: bool = False):
    """``shrunk``: a re-run after a cluster fault starts with one replica (the pool grows to
    ``max_replicas`` as resources allow) so a cluster that lost a node and was not replaced still fits it."""
    from ray.data import ActorPoolStrategy

    c, m = cfg.compute, cfg.model
    _configure_data_context(cfg)
    model = ModelSettings(checkpoint=m.checkpoint, enhance=replica_enhance_config(cfg),
                          storage_options=m.storage_options, factory=m.factory)
    enhance_resources: dict[str, Any] = dict(num_cpus=c.cpus_per_replica)
    if c.gpus_per_replica > 0:
        enhance_resources["num_gpus"] = c.gpus_per_replica
    with warnings.catch_warnings():
        # max_retries / max_restarts / max_task_retries / retry_exceptions have no named
        # map_batches parameter in Ray 2.60; ray_remote_args is the documented way to pass them.
        warnings.filterwarnings("ignore", message=r".*ray_remote_args.*deprecated.*")
        ds = _source(todo, c.files_per_read_task).map_batches(
            read_decode, fn_kwargs={"settings": settings}, batch_size=c.files_per_read_task,
            batch_format="pyarrow", num_cpus=c.read_cpus, udf_modifying_row_count=False,
            max_retries=c.task_retries,
        )
        ds = ds.map_batches(
            Enhance, fn_constructor_kwargs={"model": model}, batch_size=c.files_per_model_batch,
            batch_format="pyarrow", udf_modifying_row_count=False,
            compute=ActorPoolStrategy(
                min_size=1 if shrunk else c.min_replicas, max_size=c.max_replicas,
                max_tasks_in_flight_per_actor=c.max_tasks_in_flight_per_replica,
            ),
            max_restarts=c.replica_restarts, max_task_retries=c.replica_task_retries, **enhance_resources,
        )
        return ds.map_batches(  # one PROGRESS_SCHEMA row per write batch
            encode_write, fn_kwargs={"settings": settings}, batch_size=c.files_per_write_task,
            batch_format="pyarrow", num_cpus=c.write_cpus, udf_modifying_row_count=True,
            max_retries=c.task_retries, retry_exceptions=[ResultRecordError],
        )


_SYSTEM_FAULTS = frozenset({
    "ObjectLostError", "ObjectReconstructionFailedError", "ObjectReconstructionFailedMaxAttemptsExceededError",
    "ObjectReconstructionFailedLineageEvictedError", "OwnerDiedError", "NodeDiedError", "ActorDiedError",
    "ActorUnavailableError", "ActorUnschedulableError", "WorkerCrashedError", "RaySystemError",
    "LocalRayletDiedError", "ObjectFetchTimedOutError", "GetTimeoutError",
})
"""Ray exceptions that describe the cluster (a node or process gone, an object lost), not the
data or the code: an execution that failed with one of them is re-planned and run again."""


def is_system_fault(err: BaseException) -> bool:
    seen: set[int] = set()
    e: BaseException | None = err
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        if any(c.__name__ in _SYSTEM_FAULTS for c in type(e).__mro__):
            return True
        e = e.__cause__ or e.__context__
    return False


def _run_once(remaining: pd.DataFrame, cfg: JobConfig, settings: StageSettings, progress: Progress,
              shrunk: bool) -> None:
    """One streaming execution; the driver fetches only the write stage's per-batch counts."""
    ds = build_dataset(remaining, cfg, settings, shrunk=shrunk)
    for batch in ds.iter_batches(batch_size=None, batch_format="pyarrow"):
        progress.add(batch)


def execute_with_replans(todo: pd.DataFrame, cfg: JobConfig, settings: StageSettings,
                         recorded: Callable[[], set[str]], echo,
                         progress: Progress | None = None) -> tuple[str | None, int]:
    """Run the stages over ``todo``; returns (None on success else a one-line failure, attempts used).
    ``recorded()`` gives the inputs this run has a durable record for; ``progress`` counts what
    the write stage reports (the caller prints it, see ``jobs.progress.ProgressTicker``).

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
    progress = progress if progress is not None else Progress(len(todo))
    attempts = max(1, cfg.compute.execution_attempts)
    for attempt in range(1, attempts + 1):
        try:
            _run_once(remaining, cfg, settings, progress, shrunk=attempt > 1)
            return None, attempt
        except Exception as err:  # record every input, then report
            failure = f"{type(err).__name__}: {first_line(err)}"
            log.error("execution attempt %d/%d failed: %s", attempt, attempts, err, exc_info=True)
            left = remaining[~remaining["input_uri"].isin(recorded())].reset_index(drop=True)
            if left.empty:
                progress.at_least(len(todo))
                return None, attempt  # the fault came after the last record: nothing is missing
            progress.at_least(len(todo) - len(left))
            progressed = len(left) < len(remaining)
            if attempt == attempts or not (progressed or is_system_fault(err)):
                return failure, attempt
            echo(f"  execution failed ({failure}); {len(remaining) - len(left)} inputs finished in that "
                 f"attempt, re-running the {len(left)} without a result (attempt {attempt + 1}/{attempts})")
            remaining = left
    return None, attempts  # unreachable
