"""Command line: ``frcrn-job run [CONFIG] [key.sub=value ...]`` (also ``python -m jobs ...``).

Works the same on a laptop (starts a local Ray) and under ``ray job submit`` (connects to the
cluster it was submitted to), e.g.::

    frcrn-job run configs/local.yaml
    frcrn-job run configs/local.yaml input.uri=/data/corpus/ output.uri=/data/clean/
    ray job submit --working-dir . -- python -m jobs run configs/s3_cluster.yaml compute.max_replicas=16
    frcrn-job check configs/s3_cluster.yaml          # validate and print the resolved config

Exit status: 0 done; 1 the run failed (the manifest still records every input); 2 bad config or
input; 3 done, but error rows exist and ``job.fail_on_error_rows`` is set; 130 / 143 stopped by
SIGINT / SIGTERM (what finished is recorded, the rest has job_failed rows; run again to resume).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys

from jobs.config import ConfigError, load_config, redacted

DEFAULT_CONFIG = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "configs", "local.yaml")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="frcrn-job", description="Enhance speech corpora with FRCRN on Ray.")
    sub = p.add_subparsers(dest="command", required=True)
    for name, help_ in (("run", "run the job"), ("check", "validate the config and print it (secrets hidden)")):
        s = sub.add_parser(name, help=help_)
        s.add_argument("config", nargs="?", help="YAML config (default: configs/local.yaml, else built-in defaults)")
        s.add_argument("overrides", nargs="*", help="key.sub=value overrides (values are YAML)")
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    config = args.config
    overrides = list(args.overrides)
    if config is not None and "=" in config and not os.path.exists(config):
        overrides.insert(0, config)  # `frcrn-job run key=value` without a config file
        config = None
    if config is None and os.path.exists(DEFAULT_CONFIG):
        config = DEFAULT_CONFIG
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        cfg = load_config(config, overrides)
    except ConfigError as err:
        print(f"frcrn-job: config error: {err}", file=sys.stderr)
        return 2
    if args.command == "check":
        print(json.dumps(redacted(cfg), indent=2))
        return 0

    from jobs.inputs import InputError
    from jobs.pipeline import JobFailed, run_job

    try:
        result = run_job(cfg)
    except (InputError, JobFailed) as err:
        print(f"frcrn-job: {err}", file=sys.stderr)
        return 2
    return result.exit_code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
