"""`frcrn eval [CONFIG] [key.sub=value ...]`: evaluate a checkpoint (:mod:`frcrn.evaluation`)."""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

USAGE = """usage: frcrn eval [CONFIG] [key.sub=value ...]

Enhance evaluation sets with a checkpoint and report PESQ-WB/NB, STOI, ESTOI, SI-SDR and DNSMOS
SIG/BAK/OVRL before and after. CONFIG is a YAML file (see configs/eval_default.yaml); without it,
the built-in defaults are used (the training run's validation set plus the model card's examples).
Examples:
  frcrn eval configs/eval_default.yaml checkpoint=runs/default/best.safetensors
  frcrn eval synthetic.enabled=false paired.noisy='noisy/**/*.wav' paired.clean='clean/**/*.wav'
"""


def eval_main(argv: list[str]) -> int:
    """``frcrn eval``: ``[CONFIG] [key=value ...]``. Returns the exit status (0 ok, 2 config error, 1 failure)."""
    from ..config import ConfigError
    from ..evaluation.config import load_config
    from ..evaluation.run import run_eval

    args = list(argv)
    if any(a in ("-h", "--help") for a in args):
        print(USAGE)
        return 0
    path = None
    if args and ("=" not in args[0] or os.path.exists(args[0])):
        path, args = args[0], args[1:]
    try:
        config = load_config(path, args)
        run_eval(config)
    except ConfigError as err:
        print(f"frcrn eval: error: {err}", file=sys.stderr)
        return 2
    except (FileNotFoundError, RuntimeError, ValueError) as err:
        print(f"frcrn eval: error: {type(err).__name__}: {err}", file=sys.stderr)
        return 1
    return 0


def _eval(args: argparse.Namespace) -> int:
    config = args.config
    if config and "=" in config and not os.path.exists(config):  # `frcrn eval key=value` without a file
        return eval_main([config] + list(args.overrides))
    return eval_main(([config] if config else []) + list(args.overrides))


def add_parser(sub: Any) -> None:
    command = sub.add_parser("eval", help="evaluate a checkpoint (PESQ, STOI, SI-SDR, DNSMOS)")
    command.add_argument("config", nargs="?", help="YAML config")
    command.add_argument("overrides", nargs="*", help="key.sub=value overrides (values are YAML)")
    command.set_defaults(run=_eval)
