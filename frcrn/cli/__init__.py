"""`frcrn` command line: enhance files, inspect and convert checkpoints, train, evaluate.

    frcrn enhance IN... -o OUTDIR [--checkpoint URL] [--device auto|cpu|cuda]
    frcrn info CHECKPOINT
    frcrn convert OFFICIAL.bin OUT.safetensors
    frcrn train CONFIG [key.sub=value ...]
    frcrn eval [CONFIG] [key.sub=value ...]
    frcrn job run|check [CONFIG] [key.sub=value ...]
    frcrn job export OUTPUT_URI --to nemo|lhotse|kaldi|hf|hf-audiofolder [--where EXPR] [-o DEST]
    frcrn job status OUTPUT_URI [--job-id ID]

Inputs and outputs are local paths or fsspec URLs (s3://..., with credentials from the
environment). For large corpora on clusters use the Ray job: `frcrn job run CONFIG` (the same
command as `frcrn-job run` and `python -m jobs run`: jobs.cli, its arguments and exit statuses).

One module per command group: `enhance`, `checkpoint` (info, convert), `train` and `eval`; `job`
delegates to `jobs.cli`.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from . import checkpoint, enhance, train
from . import eval as evaluate  # the command module, not the builtin


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="frcrn", description="FRCRN speech enhancement.")
    sub = parser.add_subparsers(dest="command", required=True)
    enhance.add_parser(sub)
    checkpoint.add_parsers(sub)
    train.add_parser(sub)
    evaluate.add_parser(sub)
    job = sub.add_parser("job", help="the bulk Ray job: `frcrn job run|check [CONFIG] [key=value ...]`, "
                         "`frcrn job export OUTPUT_URI --to FORMAT` (same as frcrn-job)", add_help=False)
    job.add_argument("arguments", nargs=argparse.REMAINDER, help="run, check or export, then its arguments")
    job.set_defaults(run=lambda args: _job(args.arguments))
    return parser


def _job(argv: Sequence[str]) -> int:
    from jobs.cli import main as job_main

    return job_main(list(argv), prog="frcrn job")


def main(argv: Sequence[str] | None = None) -> int:
    """The ``frcrn`` command; returns its exit status (``frcrn job``: the job's table in
    ``jobs.cli``). Output cut short by its reader (``frcrn info X | head``) ends quietly with 141."""
    from jobs.errors import quiet_when_reader_goes

    return quiet_when_reader_goes(lambda: _main(argv))


def _main(argv: Sequence[str] | None) -> int:
    arguments = list(sys.argv[1:] if argv is None else argv)
    if arguments[:1] == ["job"]:  # everything after `job` is the job command's own (--help included)
        return _job(arguments[1:])
    args = _parser().parse_args(arguments)
    return args.run(args)
