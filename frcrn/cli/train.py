"""`frcrn train CONFIG [key.sub=value ...]`: train FRCRN (:mod:`frcrn.training`)."""

from __future__ import annotations

import argparse
import sys
from typing import Any


def _train(args: argparse.Namespace) -> int:
    from ..config import ConfigError, load_typed
    from ..model.checkpoint import CheckpointError
    from ..training.config import TrainConfig
    from ..training.run import train

    try:
        config = load_typed(TrainConfig, args.config, args.overrides)
    except ConfigError as error:
        print(f"frcrn: config error: {error}", file=sys.stderr)
        return 2
    try:
        best = train(config)
    except (FileNotFoundError, CheckpointError) as error:  # a path in the config that does not hold what it should
        print(f"frcrn: train: {error}", file=sys.stderr)
        return 2
    print(f"best checkpoint: {best}")
    return 0


def add_parser(sub: Any) -> None:
    command = sub.add_parser("train", help="train FRCRN on on-the-fly mixtures")
    command.add_argument("config", help="YAML config")
    command.add_argument("overrides", nargs="*", help="key.sub=value overrides (values are YAML)")
    command.set_defaults(run=_train)
