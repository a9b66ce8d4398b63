"""Command line: ``frcrn job run [CONFIG] [key.sub=value ...]`` (also ``frcrn-job ...`` and
``python -m jobs ...``, the same command).

Works the same on a laptop (starts a local Ray) and under ``ray job submit`` (connects to the
cluster it was submitted to), e.g.::

    frcrn job run configs/local.yaml
    frcrn job run configs/local.yaml input.uri=/data/corpus/ output.uri=/data/clean/
    ray job submit --working-dir . -- python -m jobs run configs/s3_cluster.yaml compute.max_replicas=16
    frcrn job check configs/s3_cluster.yaml          # validate and print the resolved config

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
      ``model.factory``. Nothing was written; fix it and run again
3     the run finished but error rows exist (``job.fail_on_error_rows``, default true; false
      makes it 0). The last line says how many, of which types, and where the manifest is
4     no input could be processed: every input is an error row (e.g. all refused as
      ``unsafe_path`` or all undecodable), whatever ``job.fail_on_error_rows`` says
5     storage or network failure at the job level (unreachable endpoint, missing bucket,
      access denied): one line naming the config key, the URI or endpoint and what to check
75    EX_TEMPFAIL: another live run holds the lease on this output location; retry later
130   stopped by SIGINT (Ctrl-C); 143: stopped by SIGTERM. What finished is recorded, the other
      inputs are ``job_failed`` rows; run the same command again to resume
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

from jobs import curation
from jobs.config import ConfigError, JobConfig, load_config, redacted
from jobs.errors import EXIT_CONFIG, EXIT_INTERNAL, JobFailed, LeaseHeld, SpecError, StorageFailure, first_line

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
    curation.add_parsers(sub)
    return p


def main(argv: list[str] | None = None, prog: str = "frcrn-job") -> int:
    """``frcrn-job`` / ``python -m jobs`` / ``frcrn job``: returns the exit status (table above)."""
    args = _parser(prog).parse_args(argv)
    if args.command in curation.COMMANDS:
        return curation.main(args)
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
          (JobFailed, "failed"))


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
