"""`frcrn` command line: enhance files, inspect and convert checkpoints, train, evaluate.

    frcrn enhance IN... -o OUTDIR [--checkpoint URL] [--device auto|cpu|cuda]
    frcrn info CHECKPOINT
    frcrn convert OFFICIAL.bin OUT.safetensors
    frcrn train CONFIG [key.sub=value ...]
    frcrn eval [CONFIG] [key.sub=value ...]

Inputs and outputs are local paths or fsspec URLs (s3://..., with credentials from the
environment). For large corpora on clusters use the Ray job instead: `frcrn-job run CONFIG`.

One module per command group: `enhance`, `checkpoint` (info, convert), `train` and `eval`.
"""

from __future__ import annotations

import argparse
from typing import Sequence

from . import checkpoint, enhance, train
from . import eval as evaluate  # the command module, not the builtin


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="frcrn", description="FRCRN speech enhancement.")
    sub = parser.add_subparsers(dest="command", required=True)
    enhance.add_parser(sub)
    checkpoint.add_parsers(sub)
    train.add_parser(sub)
    evaluate.add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    return args.run(args)
