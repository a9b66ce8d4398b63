"""Command line: ``frcrn job run [CONFIG] [key.sub=value ...]`` and ``frcrn job export OUTPUT_URI
--to FORMAT [--selection]`` (also ``frcrn-job ...`` and ``python -m jobs ...``, the same command).

Works the same on a laptop (starts a local Ray) and under ``ray job submit`` (connects to the
cluster it was submitted to), e.g.::

    frcrn job run configs/local.yaml
    frcrn job run configs/local.yaml input.uri=/data/corpus/ output.uri=/data/clean/
    ray job submit --working-dir . -- python -m jobs run configs/s3_cluster.yaml compute.max_replicas=16
    frcrn job check configs/s3_cluster.yaml          # validate and print the resolved config
    frcrn job status s3://corpus-clean/v1/           # the run there: progress and ETA, or how it ended
    frcrn job export /data/clean/ --to lhotse        # -> /data/clean/_manifest/export/lhotse/
    frcrn job export s3://corpus-clean/v1/ --to hf --where "status == 'ok' and dnsmos_ovrl_out >= 3" \
        --config configs/s3_cluster.yaml -o s3://corpus-clean/v1-hf/
    frcrn job select /data/clean/ --policy configs/select_default.yaml
    frcrn job export /data/clean/ --to lhotse --selection  # the curated corpus: originals where chosen

``export`` (``jobs.export``) writes a finished job's results as a NeMo, lhotse, Kaldi or Hugging
Face manifest of the enhanced audio (formats: ``frcrn.corpus.writers``). Its storage options are
``--config``'s ``output.storage_options``, else ``$FRCRN_STORAGE_OPTIONS`` (JSON), else the
storage's own credential chain (AWS_* variables, the node's role); it prints one line,
``exported N rows (M recordings, H h) as FORMAT to DEST``.

``export --selection`` exports the curated corpus instead: the rows of ``frcrn job select``'s
``_manifest/selected.parquet`` that are not ``dropped`` (``--where`` applies on top and may test
``choice``), an ``original`` row pointing at its input recording (``chosen_uri``, at its own
rate and length; recording id ``<id>-original``) in every format. ``hf`` reads the originals it
embeds with ``--config``'s ``input.storage_options`` (else ``$FRCRN_STORAGE_OPTIONS``). A switch,
not ``--from FILE``: the selection has one place beside the results, and what matters is the
check that it was made from them. ``select`` and ``report`` are in ``jobs.curation``.

``status`` (``jobs.status``) reads the run records under ``OUTPUT_URI/_manifest/runs/`` (no Ray
needed) and prints the newest run: its state, heartbeat age, progress line and ETA, or its
summary; storage options from ``$FRCRN_STORAGE_OPTIONS``.

Exit status (what a scheduler can act on; the last line printed always says which and why):

====  ==========================================================================================
code  meaning
====  ==========================================================================================
0     every input is ``ok``, or skipped because an earlier run did it (resume)
1     unexpected internal failure, or the execution failed: the last line says so and names the
      log file with the traceback; when the run got as far as the manifest, every input has a
      row (the unfinished ones ``job_failed``, retried by the next run)
2     bad config or input spec: a config value (one line naming the dotted key), a config file
      that is not YAML, a manifest unreadable, malformed or empty as a whole, an unusable checkpoint or
      ``model.factory``. Nothing was written; fix it and run again. ``export``: a ``--where``
      that is not a condition on the results' columns (the line names it and the columns), no
      results manifest at OUTPUT_URI, ``--selection`` without a selection or with a stale one
      (not made from the current results: the line says to run ``frcrn job select`` again),
      or selected rows the format cannot describe (``error`` rows, segments or originals outside
      DEST for ``hf-audiofolder``, originals embedded in a Parquet shard for a format that names
      files, two rows with one utterance id). ``status``:
      nothing at OUTPUT_URI, no run recorded there, or an unknown ``--job-id``
3     the run finished but error rows exist (``job.fail_on_error_rows``, default true; false
      makes it 0). The last line says how many, of which types, and where the manifest is
4     no input could be processed: every input is an error row (e.g. all refused as
      ``unsafe_path`` or all undecodable), whatever ``job.fail_on_error_rows`` says.
      ``export``: ``--where`` selects no row (or the selection drops every row); nothing is
      written (an empty corpus would replace the last export, and a training run would find
      nothing)
5     storage or network failure at the job level (unreachable endpoint, missing bucket,
      access denied): one line naming the config key, the URI or endpoint and what to check
75    EX_TEMPFAIL: another live run holds the lease on this output location; retry later
130   stopped by SIGINT (Ctrl-C); 143: stopped by SIGTERM. What finished is recorded, the other
      inputs are ``job_failed`` rows; run the same command again to resume
141   stdout was closed by its reader before the command finished writing (``... | head``):
      the printed output is cut short; nothing else is affected (as with ``cat``, 128 + SIGPIPE)
====  ==========================================================================================

The console shows the job's own lines only; Ray's logs, native log lines and tracebacks go to a
local log file whose path is printed first (``--log-file`` to choose it; ``--debug`` puts
everything, tracebacks included, on the console instead). See ``jobs.console``.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import traceback

from jobs import curation, status
from jobs.config import ConfigError, JobConfig, env_storage_options, load_config, redacted
from jobs.errors import (
    EXIT_CONFIG,
    EXIT_INTERNAL,
    JobFailed,
    LeaseHeld,
    NothingToExport,
    SpecError,
    StorageFailure,
    first_line,
    quiet_when_reader_goes,
)

DEFAULT_CONFIG = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "configs", "local.yaml")

log = logging.getLogger("frcrn.job")


def _parser(prog: str = "frcrn-job") -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=prog, description="Enhance speech corpora with FRCRN on Ray.")
    sub = p.add_subparsers(dest="command", required=True)
    for name, help_ in (("run", "run the job"), ("check", "validate the config and print it (secrets hidden)")):
        s = sub.add_parser(name, help=help_)
        s.add_argument("config", nargs="?", help="YAML config (default: configs/local.yaml, else built-in defaults)")
        s.add_argument("overrides", nargs="*", help="key.sub=value overrides (values are YAML)")
        if name == "run":
            s.add_argument("--debug", action="store_true",
                           help="show Ray's logs and tracebacks on the console instead of the log file")
            s.add_argument("--log-file", help="where to write the log (default: a file per run in the temp dir)")
    _export_parser(sub)
    curation.add_parsers(sub)
    status.add_parser(sub)
    return p


def _export_parser(sub) -> None:
    from frcrn.corpus.writers import EXPORT_FORMATS

    s = sub.add_parser("export", help="write a finished job's results as a NeMo, lhotse, Kaldi or Hugging Face "
                       "corpus manifest of the enhanced audio")
    s.add_argument("output_uri", nargs="?", metavar="OUTPUT_URI",
                   help="the job's output.uri, holding _manifest/results.parquet (default: --config's output.uri)")
    s.add_argument("--to", required=True, choices=EXPORT_FORMATS, help="the corpus format")
    s.add_argument("--selection", action="store_true",
                   help="export the curated corpus: read _manifest/selected.parquet (`frcrn job select`) instead, "
                        "leave out its dropped rows and export the original recording of its original rows")
    s.add_argument("--where", default="status == 'ok'", metavar="EXPR",
                   help="rows to export, pandas DataFrame.query syntax on the results' columns, e.g. "
                        "\"status == 'ok' and dnsmos_ovrl_out >= 3\" (default: \"status == 'ok'\"); with "
                        "--selection, applied to the rows it keeps (choice and rule are columns too)")
    s.add_argument("-o", "--dest", metavar="DEST",
                   help="destination folder (default: OUTPUT_URI/_manifest/export/FORMAT/; "
                        "hf-audiofolder: OUTPUT_URI)")
    s.add_argument("--config", help="a job config: its output.storage_options (else $FRCRN_STORAGE_OPTIONS, "
                   "else the storage's own credential chain), output.uri, and input.storage_options for reading "
                   "original recordings (--selection --to hf)")
    s.add_argument("--debug", action="store_true", help="print the traceback of an internal error")


def main(argv: list[str] | None = None, prog: str = "frcrn-job") -> int:
    """``frcrn-job`` / ``python -m jobs`` / ``frcrn job``: returns the exit status (table above)."""
    return quiet_when_reader_goes(lambda: _main(argv, prog))


def _main(argv: list[str] | None, prog: str) -> int:
    args = _parser(prog).parse_args(argv)
    if args.command == "export":
        return _export(args)
    if args.command in curation.COMMANDS:
        return curation.main(args)
    if args.command == "status":
        return status.main(args)
    config = args.config
    overrides = list(args.overrides)
    if config is not None and "=" in config and not os.path.exists(config):
        overrides.insert(0, config)  # `frcrn-job run key=value` without a config file
        config = None
    if config is None and os.path.exists(DEFAULT_CONFIG):
        config = DEFAULT_CONFIG
    try:
        cfg = load_config(config, overrides)
    except ConfigError as err:
        print(f"frcrn-job: config error: {err}", file=sys.stderr)
        return EXIT_CONFIG
    if args.command == "check":
        print(json.dumps(redacted(cfg), indent=2))
        return 0
    return _run(cfg, debug=args.debug, log_file=args.log_file)


_KINDS = ((SpecError, "input error"), (StorageFailure, "storage error"), (LeaseHeld, "output location busy"),
          (NothingToExport, "nothing to export"), (JobFailed, "failed"))


def _export(args: argparse.Namespace) -> int:
    """``export``: one line on stdout when it worked, else one line on stderr and the exit status."""
    from jobs.export import export

    try:
        if args.config:
            cfg = load_config(args.config)
            output_uri, options = args.output_uri or cfg.output.uri, cfg.output.storage_options
            input_options = cfg.input.storage_options
        else:
            output_uri, options = args.output_uri, env_storage_options()
            input_options = options
    except ConfigError as err:
        print(f"frcrn-job: config error: {err}", file=sys.stderr)
        return EXIT_CONFIG
    if not output_uri:
        print("frcrn-job: config error: export needs OUTPUT_URI (or --config with output.uri)", file=sys.stderr)
        return EXIT_CONFIG
    try:
        print(export(output_uri, args.to, where=args.where, dest=args.dest, storage_options=options,
                     selection=args.selection, input_storage_options=input_options), flush=True)
    except JobFailed as err:
        kind = next(label for cls, label in _KINDS if isinstance(err, cls))
        print(f"frcrn-job: {kind}: {err}", file=sys.stderr)
        return err.exit_code
    except Exception as err:  # one line; the traceback only with --debug
        if args.debug:
            traceback.print_exception(err, file=sys.stderr)
        print(f"frcrn-job: internal error: {type(err).__name__}: {first_line(err)}"
              + ("" if args.debug else " (--debug shows the traceback)"), file=sys.stderr)
        return EXIT_INTERNAL
    return 0


def _run(cfg: JobConfig, *, debug: bool, log_file: str | None) -> int:
    from jobs.console import JobConsole, default_log_path
    from jobs.pipeline import catch_sigterm, make_job_id, run_job

    job_id = make_job_id(cfg)
    log_path = log_file or default_log_path(job_id)
    with JobConsole(log_path, debug=debug) as console:
        console.echo(f"frcrn-job {job_id}: log file {log_path}")
        previous_sigterm = catch_sigterm()  # SIGTERM before the execution starts: exit 143 too
        try:
            result = run_job(cfg, echo=console.echo, job_id=job_id, log_path=log_path)
        except JobFailed as err:
            kind = next(label for cls, label in _KINDS if isinstance(err, cls))
            _log_failure(err, debug)
            console.error(f"frcrn-job: {kind}: {err}" + ("" if debug else f" (details: {log_path})"))
            return err.exit_code
        except KeyboardInterrupt as err:
            signum = getattr(err, "signum", int(signal.SIGINT))
            console.error(f"frcrn-job: interrupted by {signal.Signals(signum).name} before the run finished; "
                          "what finished is recorded: run the same command again to resume")
            return 128 + signum
        except Exception as err:  # one line on the console, the traceback in the log
            _log_failure(err, debug)
            console.error(f"frcrn-job: internal error: {type(err).__name__}: {first_line(err)}"
                          + ("" if debug else f"; traceback in {log_path}"))
            return EXIT_INTERNAL
        finally:
            if previous_sigterm is not None:
                signal.signal(signal.SIGTERM, previous_sigterm)
        console.echo(result.message)
        return result.exit_code


def _log_failure(err: BaseException, debug: bool) -> None:
    """The traceback: into the log file (the console handler shows only a first line), or
    printed on the console with --debug."""
    if debug:
        traceback.print_exception(err, file=sys.stderr)
    else:
        logging.getLogger("frcrn.job.failure").log(logging.INFO, "job-level failure", exc_info=err)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
