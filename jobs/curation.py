"""``frcrn job select`` and ``frcrn job report``: curation of a job's output location, on top of
:mod:`frcrn.curation` (this module only parses arguments, prints and maps failures to exit codes)::

    frcrn job select OUTPUT_URI --policy configs/select_default.yaml [key.sub=value ...]
    frcrn job select OUTPUT_URI --policy drop.min_duration_s=1 fallback_if_ovrl_drop=0.3
    frcrn job report OUTPUT_URI -o report.html [--png DIR] [--players N]

``select`` reads ``OUTPUT_URI/_manifest/results.parquet``, writes ``_manifest/selected.parquet``
beside it and prints counts and hours per choice and rule; ``frcrn job export OUTPUT_URI --to
FORMAT --selection`` (``jobs.export``) then writes the curated corpus. ``report`` writes one self-contained
HTML page (and each plot as a PNG with ``--png``). Storage options come from
``$FRCRN_STORAGE_OPTIONS`` (JSON), as for the job.

Exit status: 0 done; 2 a bad policy (one line naming the dotted key), no results manifest at
OUTPUT_URI, or a policy this manifest cannot be judged by (a threshold on an all-null column, an
expression that does not evaluate); 5 storage or network failure; 1 anything else.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from jobs.config import ConfigError, env_storage_options
from jobs.errors import (
    EXIT_CONFIG,
    EXIT_INTERNAL,
    EXIT_OK,
    EXIT_STORAGE,
    JobFailed,
    first_line,
    storage_failure_message,
    storage_step,
)

__all__ = ["COMMANDS", "add_parsers", "main"]

COMMANDS = ("select", "report")


def add_parsers(sub: Any) -> None:
    """Register ``select`` and ``report`` on the job command's subparsers."""
    s = sub.add_parser("select", help="choose enhanced, original or dropped per results row (selected.parquet)")
    s.add_argument("output_uri", metavar="OUTPUT_URI", help="the job's output.uri (holds _manifest/results.parquet)")
    s.add_argument("--policy", nargs="+", default=[], metavar="FILE|key=value",
                   help="a policy YAML file (e.g. configs/select_default.yaml) and/or key.sub=value overrides")
    r = sub.add_parser("report", help="a self-contained HTML report of the results (and of the selection)")
    r.add_argument("output_uri", metavar="OUTPUT_URI", help="the job's output.uri (holds _manifest/results.parquet)")
    r.add_argument("-o", "--output", required=True, metavar="HTML", help="where to write the page (path or URL)")
    r.add_argument("--png", metavar="DIR", help="also write each plot as DIR/<name>.png")
    r.add_argument("--players", type=int, default=10, metavar="N", help="before/after players (default 10)")


def _policy_source(items: list[str]) -> tuple[str | None, list[str]]:
    """(the policy file or None, the key=value overrides) of ``--policy`` items."""
    files = [i for i in items if "=" not in i or os.path.exists(i)]
    if len(files) > 1:
        raise ConfigError(f"--policy takes one policy file, got {len(files)}: {', '.join(files)}")
    return (files[0] if files else None), [i for i in items if i not in files]


def _select(args: argparse.Namespace, options: dict[str, Any]) -> int:
    from frcrn.curation import load_policy, select_output

    path, overrides = _policy_source(args.policy)
    policy = load_policy(path, overrides)
    with storage_step("OUTPUT_URI", args.output_uri, options, "selecting from the results manifest"):
        selection = select_output(args.output_uri, policy, options)
    print(selection.text)
    print(f"frcrn job select: wrote {selection.uri} ({selection.table.num_rows:,d} rows)")
    return EXIT_OK


def _report(args: argparse.Namespace, options: dict[str, Any]) -> int:
    from frcrn.curation import build_report, write_report

    if args.players < 0:
        raise ConfigError(f"--players must be 0 or more, got {args.players}")
    with storage_step("OUTPUT_URI", args.output_uri, options, "reading the results"):
        report = build_report(args.output_uri, options, players=args.players)
    with storage_step("-o/--png", args.output, options, "writing the report"):
        written = write_report(report, args.output, args.png, options)
    size = len(report.html.encode("utf-8")) / 1e6
    print(f"frcrn job report: wrote {written[0]} ({size:.1f} MB)"
          + (f" and {len(written) - 1} PNG file(s) in {args.png}" if args.png else ""))
    return EXIT_OK


def main(args: argparse.Namespace) -> int:
    """Run ``args.command`` (select or report); returns the exit status (module doc)."""
    from frcrn.curation import CurationError

    prog = f"frcrn job {args.command}"
    options: dict[str, Any] = {}
    try:
        options = env_storage_options()
        return (_select if args.command == "select" else _report)(args, options)
    except (ConfigError, CurationError) as err:
        print(f"{prog}: {first_line(err)}", file=sys.stderr)
        return EXIT_CONFIG
    except JobFailed as err:  # a storage failure, already one line naming where
        print(f"{prog}: storage error: {first_line(err)}", file=sys.stderr)
        return err.exit_code
    except Exception as err:  # storage failures are one line and 5; anything else one line and 1
        message = storage_failure_message(err, key="OUTPUT_URI", uri=args.output_uri, storage_options=options,
                                          doing=f"running {prog}")
        if message is not None:
            print(f"{prog}: storage error: {message}", file=sys.stderr)
            return EXIT_STORAGE
        print(f"{prog}: internal error: {type(err).__name__}: {first_line(err)}", file=sys.stderr)
        return EXIT_INTERNAL
