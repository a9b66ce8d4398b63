"""`train(config)`: what `frcrn train` runs, in this process or under Ray Train.

The choice (`distributed.backend`) lives here, apart from both ways of running: the Ray wrapper
(:mod:`frcrn.training.ray_train`) builds on the plain loop (:mod:`frcrn.training.trainer`), so the
dispatcher that picks between them can import neither module from the other.
"""

from __future__ import annotations

from pathlib import Path

from .config import TrainConfig
from .trainer import Trainer

__all__ = ["train"]


def train(config: TrainConfig) -> Path:
    """Train as `config.distributed.backend` says; returns the path of best.safetensors."""
    if config.distributed.backend == "ray":
        from .ray_train import train_ray

        return train_ray(config)
    trainer = Trainer(config)
    trainer.run()
    return trainer.out / "best.safetensors"
