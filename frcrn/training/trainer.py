"""The training loop of `frcrn train CONFIG [key=value ...]`: FRCRN on on-the-fly mixtures.

Resumable: `out_dir/last.pt` holds model, optimiser, scheduler and counters (plain tensors and
numbers, loadable with weights_only=True); `out_dir/best.safetensors` (+ .json) is the best model so
far by validation SI-SNR, in the project checkpoint format with provenance; `out_dir/log.jsonl` has
one line per log/eval event. Re-running the same command continues.

Two ways to run the same config (:func:`frcrn.training.run.train` picks by `distributed.backend`):

* `distributed.backend: none` (default): one plain process on `device` (auto = CUDA when present).
* `distributed.backend: ray`: `frcrn.training.ray_train` runs `distributed.num_workers` copies of
  this same `Trainer` loop under Ray Train (TorchTrainer, DistributedDataParallel; gloo on CPU,
  NCCL on GPU). Each worker draws its own mixtures (data seed = seed + rank), so the global batch
  is `num_workers x optim.batch_size`; rank 0 alone validates and writes out_dir (see
  ray_train.py).
"""

from __future__ import annotations

import io
import json
import math
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..audio.files import list_audio_files, load_clips
from ..model.checkpoint import load_checkpoint, save_checkpoint
from ..model.network import FRCRN
from ..model.widen import WIDENABLE, CannotWiden, widen
from ..quality.dnsmos import get_scorer
from ..storage import atomic_write
from .config import DataConfig, TrainConfig
from .losses import LossParts, frcrn_loss
from .mixtures import MixtureDataset
from .sources import NoisePool, RirPool
from .validation import validate

BATCHES_PER_EPOCH = 1000
"""The mixture stream is endless; an epoch is a reseeding point of it (the data RNG is
``[seed + rank, epoch]``), and with the index inside it, the position a resumed run continues from."""


def recorded_noise_sources(root: str = "/") -> tuple[list[np.ndarray], list[dict[str, Any]]]:
    """The installed CC0/CC-BY recorded sounds (arrays at 16 kHz) and one provenance record per
    array, in the same order: package, file (relative to ``root``), bank member, licence and the
    credit line CC-BY asks to keep. Sounds shorter than 0.1 s are dropped from both lists."""
    from .recorded_noise import PERMISSIVE_LICENCES, list_recorded_sounds, load_recorded_sound

    arrays, records = [], []
    for sound in list_recorded_sounds(root, licences=PERMISSIVE_LICENCES):
        audio = load_recorded_sound(sound)
        if audio.size <= 1600:
            continue
        arrays.append(audio)
        records.append({"package": sound.package, "file": os.path.relpath(sound.path, root),
                        "member": sound.member, "licence": sound.licence, "credit": sound.description})
    return arrays, records


def _shareable(config: TrainConfig) -> dict[str, Any]:
    """The config as recorded in checkpoints and logs: storage options (credentials) reduced to
    their key names."""
    record = asdict(config)
    record["data"]["storage_options"] = sorted(config.data.storage_options)
    return record


@dataclass
class Worker:
    """Where one copy of the training loop runs. The default is a plain single process; the Ray
    Train wrapper (`frcrn.training.ray_train`) makes one per rank, with `torch.distributed`
    initialised."""

    rank: int = 0
    world_size: int = 1
    device: torch.device | None = None
    """None: from `TrainConfig.device`."""
    wrap: Callable[[torch.nn.Module], torch.nn.Module] | None = None
    """Wraps the model for training, e.g. in DistributedDataParallel (after resuming, before step 1)."""
    report: Callable[[dict[str, Any]], None] | None = None
    """Called on EVERY rank after each evaluation with the (rank 0) metrics, e.g. ray.train.report."""

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


class Trainer:
    def __init__(self, config: TrainConfig, worker: Worker | None = None):
        from ..enhance import resolve_device

        self.config = config
        self.worker = worker or Worker()
        self.main = self.worker.is_main
        self.device = self.worker.device or resolve_device(config.device)
        self.out = Path(config.out_dir)
        self.out.mkdir(parents=True, exist_ok=True)
        if config.num_threads:
            torch.set_num_threads(config.num_threads)
        torch.manual_seed(config.seed)
        # Denormal floats can make CPU steps many times slower (measured here: >10x slower steps
        # without flushing, identical losses with it).
        torch.set_flush_denormal(True)
        data, options = config.data, config.data.storage_options
        self.train_files = data.split(options)[0]
        self.mix = data.training_mixture_config()
        noise, self.noise_records = self._recorded_noise()
        rirs = RirPool.of(load_clips(data.rir_split(options)[0] if data.rir_prob else [], storage_options=options))
        # Every rank draws different mixtures; rank 0 (and a plain process) uses `seed` itself.
        self.dataset = MixtureDataset(load_clips(self.train_files, storage_options=options), self.mix,
                                      seed=config.seed + self.worker.rank, recorded_noise=noise or None,
                                      recorded_noise_prob=data.recorded_noise_prob if noise else 0.0,
                                      rirs=rirs, rir_prob=data.rir_prob)
        self.val_files, self.validation = (data.validation_set(data.validation_items, data.validation_seed, options)
                                           if self.main else ([], []))
        # self.model is the bare network: validated, checkpointed, resumed (no `module.` prefixes);
        # self.net is what the training step calls: the model or its DistributedDataParallel wrapper.
        self.model = FRCRN(config.model).to(self.device)
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=config.optim.lr)
        self.scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(
            self.optimizer, mode="max", factor=config.optim.plateau_factor,
            patience=config.optim.plateau_patience, min_lr=config.optim.min_lr)
        self.step, self.seconds, self.best, self.epoch = 0, 0.0, -math.inf, 0
        self.batch_in_epoch = 0  # batches of `epoch` already trained on
        self.best_metrics: dict[str, float] = {}
        self.best_dnsmos = -math.inf  # highest validation DNSMOS OVRL (with `validation_dnsmos`)
        # The stages this run continues (oldest first), each the `training` provenance of the
        # checkpoint it started from: a chain of init_from runs keeps every stage's settings.
        self.lineage: list[dict[str, Any]] = []
        self.dnsmos = (get_scorer(config.validation_dnsmos, options, threads=config.num_threads)
                       if self.main and config.validation_dnsmos else None)
        self.unpaired = (load_clips(list_audio_files(config.validation_unpaired, options), storage_options=options)
                         if self.dnsmos is not None and config.validation_unpaired else [])
        self._evaluated_at: int | None = None
        self._resume()
        self.net: torch.nn.Module = self.model
        if self.worker.wrap is not None:
            self.net = self.worker.wrap(self.model)
            self.model = getattr(self.net, "module", self.net)
        if self.worker.distributed:
            self._check_ranks_agree()

    # -- state ------------------------------------------------------------------------------
    def _resume(self) -> None:
        last = self.out / "last.pt"
        if last.exists():
            state = torch.load(last, map_location="cpu", weights_only=True)
            self.model.load_state_dict(state["model"])
            self.optimizer.load_state_dict(state["optimizer"])
            self.scheduler.load_state_dict(state["scheduler"])
            self.step, self.seconds, self.best = state["step"], state["seconds"], state["best"]
            if "batch_in_epoch" in state:  # continue the epoch's mixture stream where it stopped
                self.epoch, self.batch_in_epoch = state["epoch"], state["batch_in_epoch"]
            else:  # a last.pt from before positions were saved: start a fresh epoch
                self.epoch, self.batch_in_epoch = state.get("epoch", 0) + 1, 0
            self.best_metrics = state.get("best_metrics", {})
            self.best_dnsmos = state.get("best_dnsmos", -math.inf)
            self.lineage = state.get("lineage", [])
            self._log({"event": "resume", "step": self.step})
        elif self.config.init_from:
            model, info = load_checkpoint(self.config.init_from)
            widened: dict[str, Any] = {}
            if model.config != self.config.model:
                source = model.config
                try:  # a narrower trained network grows into this run's, computing the same function
                    model = widen(model, self.config.model, seed=self.config.seed)
                except CannotWiden as error:
                    raise ValueError(f"init_from {self.config.init_from} has model config {model.config}, "
                                     f"but this run trains {self.config.model}: {error}") from None
                widened = {"widened_from": {name: getattr(source, name) for name in WIDENABLE}}
            self.model.load_state_dict(model.state_dict())
            previous = info.provenance.get("training", {})
            self.step, self.seconds = int(previous.get("steps", 0)), float(previous.get("seconds", 0.0))
            stage = {"checkpoint": str(self.config.init_from), "sha256": info.sha256, **widened,
                     **{key: value for key, value in previous.items() if key != "lineage"}}
            self.lineage = [*previous.get("lineage", []), stage]
            self._log({"event": "init", "from": str(self.config.init_from), "sha256": info.sha256, "step": self.step,
                       **widened})

    def _recorded_noise(self) -> tuple[NoisePool, list[dict[str, Any]]]:
        """The training recorded-noise pool (the training split of ``noise``, then the Debian
        sounds, one family per package) and its provenance records."""
        data, options = self.config.data, self.config.data.storage_options
        files = data.noise_split(options)[0]
        pool = NoisePool.of(files, load_clips(files, storage_options=options))
        records: list[dict[str, Any]] = []
        if data.noise:
            records.append({"source": data.noise, "files": len(files), "usable": len(pool),
                            "validation_files": len(data.noise_split(options)[1]),
                            "seconds_by_family": pool.seconds_by_family(),
                            "licence": data.noise_licence or "not stated"})
        if data.recorded_noise:
            debian, debian_records = recorded_noise_sources()
            pool.arrays += debian
            pool.families += [f"debian:{r['package']}" for r in debian_records]
            pool.__post_init__()
            records += debian_records
        return pool, records

    def _save_last(self) -> None:
        state = {"model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
                 "scheduler": self.scheduler.state_dict(), "step": self.step, "seconds": self.seconds,
                 "best": self.best, "epoch": self.epoch, "batch_in_epoch": self.batch_in_epoch,
                 "best_metrics": self.best_metrics, "best_dnsmos": self.best_dnsmos,
                 "lineage": self.lineage}
        buffer = io.BytesIO()
        torch.save(state, buffer)
        atomic_write(str(self.out / "last.pt"), buffer.getvalue())

    def provenance(self, metrics: dict[str, float]) -> dict[str, Any]:
        cfg = self.config
        return {
            "training": {"steps": self.step, "seconds": round(self.seconds, 1), "batch_size": cfg.optim.batch_size,
                         "workers": self.worker.world_size, "device": self.device.type,
                         "crop_seconds": self.mix.crop_seconds, "config": _shareable(cfg),
                         "lineage": self.lineage},
            "metrics": {"validation": metrics},
            "data": {
                "speech": {**self._speech_source(),
                           "train_files": len(self.train_files), "split_by": cfg.data.split_by,
                           "validation_files": [os.path.basename(f) for f in self.val_files]},
                "noise": {"generator": "frcrn.training.noise (synthetic families, made by this project)",
                          "recorded": self.noise_records},
                "rir": ({"source": cfg.data.rir, "prob": cfg.data.rir_prob,
                         "licence": cfg.data.rir_licence or "not stated"} if cfg.data.rir else None),
            },
        }

    def _speech_source(self) -> dict[str, str]:
        data = self.config.data
        if data.speech == DataConfig.speech:
            return {"source": "DNS Challenge 2020 synthetic no_reverb test set, enhanced by the official "
                              "FRCRN (GitHub alibabasglab/FRCRN, FRCRN_enh_DNS_no_reverb)",
                    "licence": data.speech_licence or "CC BY 4.0 (Microsoft DNS Challenge; Zhao et al. 2022)"}
        return {"source": data.speech, "licence": data.speech_licence or "not stated"}

    def _log(self, record: dict[str, Any]) -> None:
        if not self.main:
            return
        record = {"time": time.strftime("%Y-%m-%dT%H:%M:%S"), **record}
        with open(self.out / "log.jsonl", "a", encoding="utf-8") as f:
            f.write(json.dumps(record) + "\n")
        print(json.dumps(record), flush=True)

    # -- collectives (no-ops in a single process) --------------------------------------------
    def _check_ranks_agree(self) -> None:
        import torch.distributed as dist

        mine = torch.tensor([float(self.step), float(self.epoch)], dtype=torch.float64, device=self.device)
        everyone = [torch.zeros_like(mine) for _ in range(self.worker.world_size)]
        dist.all_gather(everyone, mine)
        if any(not torch.equal(t, everyone[0]) for t in everyone):
            raise RuntimeError(
                f"training workers resumed at different (step, epoch): {[t.tolist() for t in everyone]}; "
                f"out_dir {self.out} must be one filesystem all workers see (NFS, a shared mount)")

    def _any_rank(self, flag: bool) -> bool:
        if not self.worker.distributed:
            return flag
        import torch.distributed as dist

        t = torch.tensor([1.0 if flag else 0.0], device=self.device)
        dist.all_reduce(t, op=dist.ReduceOp.MAX)
        return bool(t.item() > 0)

    def _mean_over_ranks(self, values: np.ndarray) -> np.ndarray:
        if not self.worker.distributed:
            return values
        import torch.distributed as dist

        t = torch.as_tensor(values, dtype=torch.float64, device=self.device)
        dist.all_reduce(t, op=dist.ReduceOp.SUM)  # gloo has no AVG
        return (t / self.worker.world_size).cpu().numpy()

    def _from_main(self, obj: Any) -> Any:
        if not self.worker.distributed:
            return obj
        import torch.distributed as dist

        box = [obj]
        dist.broadcast_object_list(box, src=0, device=self.device if self.device.type == "cuda" else None)
        return box[0]

    # -- loop -------------------------------------------------------------------------------
    def _batches(self) -> Iterator[tuple[int, int, tuple[torch.Tensor, torch.Tensor]]]:
        """Endless ``(epoch, index, batch)`` from the saved position on.

        Why the position: mixtures are a pure function of (seed, rank, epoch, index), so a resumed
        run that skips the batches it already trained on sees exactly the batches an uninterrupted
        run would have: resuming gives the same weights, not merely similar ones. Skipping costs
        the mixing alone (a few ms per item), never a training step.
        """
        epoch, skip = self.epoch, self.batch_in_epoch
        while True:
            self.dataset.set_epoch(epoch)
            loader = torch.utils.data.DataLoader(self.dataset, batch_size=self.config.optim.batch_size,
                                                 pin_memory=self.device.type == "cuda")
            for i, batch in enumerate(loader):
                if i >= skip:
                    yield epoch, i, batch
                if i + 1 >= BATCHES_PER_EPOCH:
                    break
            epoch, skip = epoch + 1, 0

    def evaluate_and_save(self) -> dict[str, float]:
        """Rank 0 validates and writes; every rank applies the same metrics to its scheduler (so
        learning rates stay identical) and calls `worker.report`."""
        metrics = self._from_main(
            validate(self.model, self.validation, self.dnsmos, self.unpaired) if self.main else None)
        self.scheduler.step(metrics["si_snr_enhanced"])
        if metrics["si_snr_enhanced"] > self.best:
            self.best, self.best_metrics = metrics["si_snr_enhanced"], metrics
            if self.main:
                save_checkpoint(self.model, self.out / "best.safetensors", model_id="frcrn-default",
                                provenance=self.provenance(metrics))
        if metrics.get("dnsmos_ovrl_enhanced", -math.inf) > self.best_dnsmos:
            self.best_dnsmos = metrics["dnsmos_ovrl_enhanced"]
            if self.main:
                save_checkpoint(self.model, self.out / "best_dnsmos.safetensors", model_id="frcrn-default",
                                provenance=self.provenance(metrics))
        if self.main:
            self._save_last()
        self._evaluated_at = self.step
        lr = self.optimizer.param_groups[0]["lr"]
        self._log({"event": "eval", "step": self.step, "lr": lr, **metrics})
        if self.worker.report is not None:
            self.worker.report({"step": self.step, "lr": lr, "best_si_snr_enhanced": self.best, **metrics})
        return metrics

    def train_step(self, noisy: torch.Tensor, clean: torch.Tensor) -> LossParts:
        """One optimiser update on one batch; returns the loss measured before the update."""
        noisy = noisy.to(self.device, non_blocking=True)
        clean = clean.to(self.device, non_blocking=True)
        loss = frcrn_loss(self.model, noisy, clean, self.net(noisy), self.config.loss)
        self.optimizer.zero_grad(set_to_none=True)
        loss.total.backward()
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.config.optim.grad_clip)
        self.optimizer.step()
        self.step += 1
        return loss

    def run(self) -> None:
        cfg = self.config
        self.net.train()
        deadline = time.monotonic() + cfg.max_hours * 3600 if cfg.max_hours else math.inf
        window_loss, window_start, window_items = [], time.monotonic(), 0
        for epoch, index, (noisy, clean) in self._batches():
            out_of_time = time.monotonic() >= deadline
            if math.isfinite(deadline):  # clocks differ between ranks: stop together
                out_of_time = self._any_rank(out_of_time)
            if self.step >= cfg.steps or out_of_time:
                break
            started = time.monotonic()
            loss = self.train_step(noisy, clean)
            self.epoch, self.batch_in_epoch = epoch, index + 1
            compressed = loss.compressed if loss.compressed is not None else torch.zeros_like(loss.total)
            window_loss.append(torch.stack([loss.total, loss.amp, loss.phase, loss.si_snr, compressed])
                               .detach().cpu().tolist())
            self.seconds += time.monotonic() - started
            window_items += noisy.shape[0]
            if self.step % cfg.log_every == 0:
                mean = self._mean_over_ranks(np.mean(window_loss, axis=0))
                elapsed = time.monotonic() - window_start
                items = window_items * self.worker.world_size
                record = {"event": "train", "step": self.step, "loss": round(mean[0], 4), "amp": round(mean[1], 4),
                          "phase": round(mean[2], 4), "si_snr": round(mean[3], 3),
                          "audio_x_realtime": round(items * self.mix.crop_seconds / elapsed, 3)}
                if cfg.loss.compressed_weight > 0:
                    record["compressed"] = round(mean[4], 5)
                if self.worker.distributed:
                    record["workers"] = self.worker.world_size
                self._log(record)
                window_loss, window_start, window_items = [], time.monotonic(), 0
            if self.step % cfg.eval_every == 0:
                self.evaluate_and_save()
        if self._evaluated_at != self.step:
            self.evaluate_and_save()
