"""Run `frcrn.training.trainer.Trainer` under Ray Train (TorchTrainer): multi-GPU / multi-node,
same config.

    frcrn train configs/train_default.yaml distributed.backend=ray distributed.num_workers=4 \\
        distributed.use_gpu=true

(`frcrn.training.run.train` dispatches here when `distributed.backend` is `ray`.)

Written for Ray Train V2, the default in Ray 2.60 (`RAY_TRAIN_V2_ENABLED` unset or 1); the calls
used (TorchTrainer, ScalingConfig, RunConfig, FailureConfig, get_context, report, prepare_model,
get_device) exist with the same meaning in V1 too. Needs the `train` extra: `pip install frcrn[train]`.

What each worker does (`_train_loop_per_worker`): builds the same `Trainer` as a plain process,
with

* the device Ray assigns (`ray.train.torch.get_device()`: its GPU, or CPU) and the model wrapped in
  DistributedDataParallel by `ray.train.torch.prepare_model` (gloo on CPU, NCCL on GPU), so
  gradients are averaged every step and all replicas stay identical;
* its own data stream, seed = `seed + world_rank`: workers draw different mixtures, the global
  batch is `num_workers x optim.batch_size` (scale `optim.lr` yourself if you want to);
* BatchNorm statistics kept per worker (each worker normalises its own batch, as with DDP's
  default; the running statistics saved are rank 0's). `distributed.sync_batchnorm=true` switches
  to SyncBatchNorm on GPU workers.

Rank 0 alone validates, writes `out_dir` (best.safetensors + .json, last.pt, log.jsonl, all in the
same formats as a plain run) and logs; the validation metrics are broadcast so every rank steps its
LR scheduler identically, and every rank calls `ray.train.report` with them after each evaluation.
Every worker resumes from `out_dir/last.pt`, so a run can switch between plain and Ray (with the
same model config) and a worker restart (`distributed.max_failures`) continues from the last eval.

Ray's processes (the Train controller too) unpickle the config, so they must be able to import
frcrn: install it (`pip install -e .`) or, for a Ray you start yourself, put the checkout on
PYTHONPATH before `ray.init`; a local Ray started here does that itself.

Multi-node: `out_dir` and `data.speech` must be paths every node sees at the same place (a shared
filesystem such as NFS), frcrn must be installed on every node, and `distributed.storage_path` must
be shared storage (NFS path or s3://...) for Ray Train's own run state. Workers check at start that
they resumed at the same step and stop with a clear error when out_dir is not shared. Relative
paths in the config are made absolute on the driver (Ray workers run in other directories).

Counters: `step` counts optimiser steps (each of `num_workers x batch_size` items); `seconds` in
provenance is rank 0's compute time (wall time, not summed over workers).
"""

from __future__ import annotations

import dataclasses
import os
import re
from pathlib import Path
from typing import Any

from ..storage import is_url
from .config import TrainConfig
from .trainer import Trainer, Worker


def absolute_paths(config: TrainConfig) -> TrainConfig:
    """Local paths made absolute on the driver: Ray workers run in other working directories.
    Every path setting is fixed here (speech, noise and impulse responses may be lists)."""

    def fix(path: str | None) -> str | None:
        return path if path is None or is_url(path) else os.path.abspath(os.path.expanduser(path))

    def fix_spec(spec: str | tuple[str, ...] | None) -> str | tuple[str, ...] | None:
        return tuple(fix(p) for p in spec) if isinstance(spec, (list, tuple)) else fix(spec)  # type: ignore[misc]

    data = config.data
    return dataclasses.replace(
        config, out_dir=fix(config.out_dir), init_from=fix(config.init_from),
        validation_dnsmos=fix(config.validation_dnsmos), validation_unpaired=fix_spec(config.validation_unpaired),
        data=dataclasses.replace(data, speech=fix_spec(data.speech), noise=fix_spec(data.noise),
                                 rir=fix_spec(data.rir)),
        distributed=dataclasses.replace(config.distributed, storage_path=fix(config.distributed.storage_path)))


def _train_loop_per_worker(loop_config: dict[str, Any]) -> dict[str, Any]:
    import ray.train
    import ray.train.torch
    import torch

    config: TrainConfig = loop_config["config"]
    context = ray.train.get_context()
    rank, world_size = context.get_world_rank(), context.get_world_size()
    device = ray.train.torch.get_device()
    if isinstance(device, list):  # several GPUs per worker: train on the first
        device = device[0]

    def wrap(model: torch.nn.Module) -> torch.nn.Module:
        if config.distributed.sync_batchnorm and device.type == "cuda" and world_size > 1:
            model = torch.nn.SyncBatchNorm.convert_sync_batchnorm(model)
        return ray.train.torch.prepare_model(model, move_to_device=device)

    trainer = Trainer(config, Worker(rank=rank, world_size=world_size, device=device, wrap=wrap,
                                     report=ray.train.report))
    trainer.run()
    return {"rank": rank, "world_size": world_size, "step": trainer.step, "epoch": trainer.epoch,
            "best": trainer.best, "best_metrics": trainer.best_metrics,
            "best_checkpoint": str(trainer.out / "best.safetensors")}


def _package_root() -> str:
    return str(Path(__file__).resolve().parents[2])


def train_ray(config: TrainConfig) -> Path:
    """Train with `config.distributed.num_workers` Ray Train workers; returns best.safetensors's path.

    Joins the running Ray if `ray.init` was already called, else `distributed.address` (or
    RAY_ADDRESS), else starts a local Ray for this call only.
    """
    import ray
    from ray.train import FailureConfig, RunConfig, ScalingConfig
    from ray.train.torch import TorchTrainer

    config = absolute_paths(config)
    dist = config.distributed
    if dist.num_workers < 1:
        raise ValueError(f"distributed.num_workers must be at least 1, got {dist.num_workers}")
    out = Path(config.out_dir)
    out.mkdir(parents=True, exist_ok=True)

    started_ray = False
    if not ray.is_initialized():
        address = dist.address or os.environ.get("RAY_ADDRESS")
        init_args: dict[str, Any] = {"address": address, "log_to_driver": True}
        if not address:  # a local Ray: let its workers import this (possibly uninstalled) checkout
            paths = [_package_root()] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
            init_args["runtime_env"] = {"env_vars": {"PYTHONPATH": os.pathsep.join(dict.fromkeys(paths))}}
            init_args["include_dashboard"] = False
        ray.init(**init_args)
        started_ray = True

    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", out.name) or "frcrn-train"
    scaling: dict[str, Any] = {"num_workers": dist.num_workers, "use_gpu": dist.use_gpu,
                               "resources_per_worker": {"CPU": dist.cpus_per_worker}}
    if ".v2." not in TorchTrainer.__module__:
        scaling["trainer_resources"] = {"CPU": 0}  # Ray Train V1: its trainer actor would take a CPU
    trainer = TorchTrainer(
        _train_loop_per_worker,
        train_loop_config={"config": config},
        scaling_config=ScalingConfig(**scaling),
        run_config=RunConfig(name=name, storage_path=dist.storage_path or str(out / "ray"),
                             failure_config=FailureConfig(max_failures=dist.max_failures)),
    )
    try:
        result = trainer.fit()  # raises ray.train.TrainingFailedError when a worker fails for good
    finally:
        if started_ray:
            ray.shutdown()
    summary = getattr(result, "return_value", None)  # rank 0's summary (Ray Train V2)
    if summary:
        print(f"ray train: {summary['world_size']} workers, step {summary['step']}, "
              f"best si_snr_enhanced {summary['best']:.3f} dB", flush=True)
    return out / "best.safetensors"
