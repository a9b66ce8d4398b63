#!/usr/bin/env python3
"""Submit the frcrn corpus-cleaning job to a running Ray cluster with ``ray job submit``.

The job that runs is exactly the local one (``frcrn-job run CONFIG key=value ...``); this helper
only packages what the cluster needs and hands it to ``ray job submit``::

    export RAY_ADDRESS=http://127.0.0.1:8265          # the cluster's dashboard (Jobs API)
    export RAY_AUTH_TOKEN_PATH=~/.ray/prod_token      # if the cluster uses token auth
    deploy/submit.sh configs/s3_cluster.yaml \\
        input.uri='s3://corpus/manifests/*.parquet' output.uri=s3://corpus-clean/v1/

Modes (``--mode``):

``workdir`` (default)
    ``runtime_env.working_dir`` = this repository (code + configs + demo corpus, without .git,
    runs/, out/, tests/, deploy/, build artefacts, checkpoints); entrypoint
    ``python -m jobs run CONFIG ...``. The cluster image must already have the dependencies
    (the project's image, deploy/Dockerfile), or add ``--with-deps`` to let Ray pip-install the
    light ones (everything but torch and ray) into a per-job virtualenv.
``image``
    The cluster image has the project installed (deploy/Dockerfile); only the config file is
    shipped (``working_dir`` = a folder holding it); entrypoint ``frcrn-job run CONFIG ...``.
``wheel``
    Like ``image``, plus ``runtime_env.pip`` = the project wheel (built from this repo with
    ``--build-wheel``, or given with ``--wheel PATH``), shipped inside the working dir and
    installed by Ray into a per-job virtualenv on top of the image's packages (needs the
    ``virtualenv`` package on the cluster, as Ray's pip plugin does).

Secrets never go on a command line: storage options come from ``FRCRN_STORAGE_OPTIONS`` in this
process's environment and are forwarded through ``runtime_env.env_vars``, which is written to a
private temporary file handed to ``ray job submit --runtime-env``. Note that the runtime_env is
stored with the job on the cluster and is readable by anyone who may use the cluster's Jobs API:
prefer credentials that live on the nodes (IAM roles / workload identity, or the Kubernetes
Secret of deploy/kuberay/) and forward only non-secret options (endpoint, region).

Token authentication (Ray >= 2.52): if the cluster was started with ``RAY_AUTH_MODE=token``, the
client must send the same token. ``ray job submit`` reads it from ``RAY_AUTH_TOKEN``, else the file
named by ``RAY_AUTH_TOKEN_PATH``, else ``~/.ray/auth_token`` -- but only when ``RAY_AUTH_MODE=token``
is set in the client's environment too. This helper sets ``RAY_AUTH_MODE=token`` for the
``ray job submit`` it runs when ``RAY_AUTH_TOKEN`` or ``RAY_AUTH_TOKEN_PATH`` is set; with only
the default file, export ``RAY_AUTH_MODE=token`` yourself. Auth variables are never forwarded to
the job.

Exit status: that of ``ray job submit`` (0 = job succeeded; 1 = job failed; with ``--no-wait``,
0 = submitted), 2 for a problem found before submitting. Ctrl-C stops following the log, not the
job: ``ray job stop <submission id>`` stops it (the next run resumes).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import secrets
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]

# Shipped in workdir mode: everything else in the repository. Patterns are gitignore-style,
# relative to the working dir (Ray also applies the repository's .gitignore files).
WORKDIR_EXCLUDES = [
    ".git",
    ".ci/",
    ".benchmarks/",
    ".pytest_cache/",
    ".venv/",
    "__pycache__/",
    "*.pyc",
    "*.egg-info/",
    "build/",
    "dist/",
    "runs/",
    "out/",
    "tests/",
    "benchmarks/",
    "deploy/",
    # Checkpoints and other large binaries are read from storage (model.checkpoint=s3://...),
    # never shipped with the code. The default weights (frcrn/weights/*.safetensors) ARE shipped.
    "*.bin",
    "*.pt",
    "*.pth",
    "*.ckpt",
    "*.onnx",
    # Anything that looks like a credential.
    ".env",
    "*.pem",
    "*.key",
    ".aws/",
]

# Forwarded to the job from this environment when set: storage options and non-secret S3 settings.
DEFAULT_FORWARD_ENV = [
    "FRCRN_STORAGE_OPTIONS",
    "AWS_DEFAULT_REGION",
    "AWS_REGION",
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_S3",
]
# Never forwarded: the cluster's own auth token, and Ray's client-side settings.
NEVER_FORWARD = re.compile(r"^(RAY_AUTH_.*|RAY_ADDRESS|RAY_API_SERVER_ADDRESS)$")

# Dependencies that --with-deps leaves to the image (heavy, or the cluster's own Ray).
IMAGE_PROVIDED = {"torch", "ray"}


class SubmitError(Exception):
    """A problem found before anything was submitted."""


# --------------------------------------------------------------------------- helpers


def project_metadata() -> dict[str, Any]:
    import tomllib

    with open(ROOT / "pyproject.toml", "rb") as f:
        return tomllib.load(f)["project"]


def _requirement_name(spec: str) -> str:
    return re.split(r"[\s\[<>=!~;@]", spec.strip(), maxsplit=1)[0].lower().replace("_", "-")


def light_dependencies(extras: Sequence[str] = ("job", "eval")) -> list[str]:
    """The project's runtime requirements (with the given extras) minus torch and ray."""
    project = project_metadata()
    specs = list(project["dependencies"])
    for extra in extras:
        specs += project.get("optional-dependencies", {}).get(extra, [])
    out = []
    for spec in specs:
        name = _requirement_name(spec)
        if name in IMAGE_PROVIDED or name == project["name"]:
            continue
        out.append(spec)
    return out


def resolve_address(explicit: str | None) -> str:
    address = explicit or os.environ.get("RAY_API_SERVER_ADDRESS") or os.environ.get("RAY_ADDRESS")
    if not address:
        raise SubmitError(
            "no cluster address: pass --address or set RAY_ADDRESS to the cluster's dashboard URL, "
            "e.g. http://127.0.0.1:8265 (kubectl port-forward svc/<cluster>-head-svc 8265:8265). "
            "This helper never starts a local Ray: run `frcrn-job run` for a local job.")
    if address == "auto" or address.startswith("ray://"):
        raise SubmitError(f"RAY_ADDRESS={address!r} is not a Jobs API address; use the dashboard URL "
                          "http(s)://<head>:8265")
    if "://" not in address:
        address = "http://" + address
    return address


def check_overrides(overrides: Sequence[str]) -> None:
    for item in overrides:
        key = item.partition("=")[0]
        if "storage_options" in key:
            raise SubmitError(
                f"refusing override {key}=...: storage options (credentials, endpoints) must not be "
                "put on a command line; export FRCRN_STORAGE_OPTIONS='{...}' (JSON) instead, "
                "it is forwarded to the job through a private runtime_env file")


def validate_locally(config: Path, overrides: Sequence[str]) -> Any:
    """Load the config with the project's own loader, so mistakes fail here, not on the cluster.
    Returns the JobConfig, or None when the project cannot be imported on this machine."""
    sys.path.insert(0, str(ROOT))
    try:
        from jobs.config import ConfigError, load_config
    except ImportError as err:  # pragma: no cover - submitting from a machine without the deps
        print(f"submit: not validating the config locally ({err})", file=sys.stderr)
        return None
    try:
        return load_config(str(config), list(overrides))
    except ConfigError as err:
        raise SubmitError(f"config error: {err}") from None


def forwarded_env(names: Sequence[str]) -> dict[str, str]:
    env: dict[str, str] = {}
    for name in names:
        if NEVER_FORWARD.match(name):
            raise SubmitError(f"{name} is never forwarded to the job")
        if name in os.environ:
            env[name] = os.environ[name]
    if "FRCRN_STORAGE_OPTIONS" in env:
        try:
            if not isinstance(json.loads(env["FRCRN_STORAGE_OPTIONS"]), dict):
                raise ValueError("not an object")
        except ValueError as err:
            raise SubmitError(f"FRCRN_STORAGE_OPTIONS must hold a JSON object: {err}") from None
    return env


def build_wheel(dest: Path) -> Path:
    """Build the project wheel from a clean copy of the sources (keeps build/ out of the tree)."""
    with tempfile.TemporaryDirectory(prefix="frcrn-wheel-") as tmp:
        src = Path(tmp) / "src"
        src.mkdir()
        for name in ("pyproject.toml", "README.md"):
            shutil.copy2(ROOT / name, src / name)
        ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")
        for pkg in ("frcrn", "jobs"):
            shutil.copytree(ROOT / pkg, src / pkg, ignore=ignore)
        cmd = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-cache-dir", "-w", str(dest), str(src)]
        try:
            import setuptools  # noqa: F401 - build offline with the local setuptools when there is one
            cmd.insert(4, "--no-build-isolation")
        except ImportError:
            pass
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    version = project_metadata()["version"]
    wheel = dest / f"frcrn-{version}-py3-none-any.whl"
    if not wheel.exists():
        raise SubmitError(f"wheel build did not produce {wheel.name}")
    return wheel


def default_submission_id(config: Path) -> str:
    stem = re.sub(r"[^a-z0-9-]+", "-", config.stem.lower()).strip("-") or "job"
    return f"frcrn-{stem}-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}-{secrets.token_hex(3)}"


# --------------------------------------------------------------------------- plan


def plan(args: argparse.Namespace, staging: Path) -> tuple[dict[str, Any], list[str]]:
    """(runtime_env, entrypoint argv) for the requested mode. ``staging`` is a private folder
    that lives until the submission is done (image/wheel modes ship it as the working dir)."""
    config = Path(args.config).expanduser().resolve()
    if not config.is_file():
        raise SubmitError(f"config file not found: {args.config}")
    overrides = list(args.overrides)
    check_overrides(overrides)
    if not re.fullmatch(r"[A-Za-z][A-Za-z0-9._-]{0,127}", args.submission_id):
        raise SubmitError(f"--submission-id {args.submission_id!r}: use letters, digits, '.', '_', '-' "
                          "and start with a letter")
    if not any(item.partition("=")[0].strip() == "job.id" for item in overrides):
        # The submission id becomes the job id recorded in every manifest row (Ray does not
        # export it to the driver's environment, so it is passed explicitly).
        overrides.append(f"job.id={args.submission_id}")
    cfg = None if args.no_validate else validate_locally(config, overrides)

    if args.with_deps and args.mode != "workdir":
        raise SubmitError("--with-deps is for --mode workdir (the image/wheel modes run the installed project)")
    if (args.wheel or args.build_wheel) and args.mode != "wheel":
        raise SubmitError("--wheel/--build-wheel need --mode wheel")
    env_vars = forwarded_env(DEFAULT_FORWARD_ENV + list(args.forward_env))
    runtime_env: dict[str, Any] = {}
    if args.mode == "workdir":
        try:
            rel = config.relative_to(ROOT)
        except ValueError:
            raise SubmitError(
                f"{config} is outside the repository, so `--mode workdir` cannot ship it; copy it "
                f"under {ROOT / 'configs'} or use --mode image") from None
        if any(part in {"tests", "deploy", "runs", "out"} for part in rel.parts[:-1]):
            raise SubmitError(f"{rel} lies in a folder that is not shipped; put configs under configs/")
        runtime_env["working_dir"] = str(ROOT)
        runtime_env["excludes"] = list(WORKDIR_EXCLUDES)
        if args.with_deps:
            runtime_env["pip"] = {"packages": light_dependencies(), "pip_check": False}
        entrypoint = ["python", "-m", "jobs", "run", rel.as_posix(), *overrides]
        if cfg is not None:
            original = _raw_value(config, overrides, "output.uri")
            if original and "://" not in original and not os.path.isabs(os.path.expanduser(original)):
                print(f"submit: warning: output.uri={original} is relative: on the cluster it is written inside "
                      "the job's temporary working dir and lost with it; give an absolute path on shared "
                      "storage or a URL (output.uri=s3://...)", file=sys.stderr)
    else:
        shutil.copy2(config, staging / config.name)
        runtime_env["working_dir"] = str(staging)
        entrypoint = ["frcrn-job", "run", config.name, *overrides]
        if args.mode == "wheel":
            if args.wheel and args.build_wheel:
                raise SubmitError("give --wheel or --build-wheel, not both")
            if args.build_wheel:
                wheel = build_wheel(staging)
            elif args.wheel:
                src = Path(args.wheel).expanduser()
                if not src.is_file() or src.suffix != ".whl":
                    raise SubmitError(f"--wheel {args.wheel}: not a wheel file")
                wheel = staging / src.name
                shutil.copy2(src, wheel)
            else:
                raise SubmitError("--mode wheel needs --build-wheel or --wheel PATH")
            runtime_env["pip"] = {
                "packages": ["${RAY_RUNTIME_ENV_CREATE_WORKING_DIR}/" + wheel.name],
                "pip_check": False,
            }
    if env_vars:
        runtime_env["env_vars"] = env_vars
    return runtime_env, entrypoint


def _raw_value(config: Path, overrides: Sequence[str], dotted: str) -> str | None:
    """The value of ``section.key`` as written (override, else config file), before resolution."""
    for item in reversed(overrides):
        key, _, value = item.partition("=")
        if key.strip() == dotted:
            return value
    import yaml

    data = yaml.safe_load(config.read_text()) or {}
    section, _, key = dotted.partition(".")
    value = (data.get(section) or {}).get(key)
    return None if value is None else str(value)


def redacted_runtime_env(runtime_env: dict[str, Any]) -> dict[str, Any]:
    shown = dict(runtime_env)
    if "env_vars" in shown:
        shown["env_vars"] = {k: "***" for k in shown["env_vars"]}
    return shown


def ray_command() -> list[str]:
    """`ray` of this interpreter (the Jobs client must be the same Ray version as the cluster)."""
    return [sys.executable, "-m", "ray.scripts.scripts"]


def client_env() -> dict[str, str]:
    env = dict(os.environ)
    if env.get("RAY_AUTH_MODE") is None and (env.get("RAY_AUTH_TOKEN") or env.get("RAY_AUTH_TOKEN_PATH")):
        env["RAY_AUTH_MODE"] = "token"
    return env


# --------------------------------------------------------------------------- main


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="deploy/submit.sh", description="Submit `frcrn-job run CONFIG ...` to a Ray cluster via `ray job submit`.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Environment: RAY_ADDRESS (cluster dashboard URL), RAY_AUTH_TOKEN / RAY_AUTH_TOKEN_PATH "
               "(token auth), FRCRN_STORAGE_OPTIONS (JSON storage options, forwarded to the job).")
    p.add_argument("config", help="job config (YAML), e.g. configs/s3_cluster.yaml")
    p.add_argument("overrides", nargs="*", help="section.key=value overrides, as for frcrn-job run")
    p.add_argument("--address", help="Jobs API address (default: $RAY_API_SERVER_ADDRESS, then $RAY_ADDRESS)")
    p.add_argument("--mode", choices=("workdir", "image", "wheel"), default="workdir",
                   help="what to ship (default: workdir, the repository)")
    p.add_argument("--with-deps", action="store_true",
                   help="workdir mode: let Ray pip-install the light dependencies (not torch/ray) per job")
    p.add_argument("--wheel", help="wheel mode: a built frcrn wheel to ship")
    p.add_argument("--build-wheel", action="store_true", help="wheel mode: build the wheel from this repo")
    p.add_argument("--forward-env", action="append", default=[], metavar="NAME",
                   help="also forward this environment variable (its value is read from the environment)")
    p.add_argument("--submission-id", help="job id (default: frcrn-<config>-<UTC time>-<random>); "
                   "it is recorded in every manifest row as job_id")
    p.add_argument("--entrypoint-num-cpus", type=float, default=None,
                   help="CPUs reserved for the driver (default: none reserved)")
    p.add_argument("--no-wait", action="store_true", help="return once submitted instead of tailing the logs")
    p.add_argument("--no-validate", action="store_true", help="skip validating the config locally")
    p.add_argument("--dry-run", action="store_true",
                   help="print the runtime_env (env values hidden) and the command, submit nothing")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    args.submission_id = args.submission_id or default_submission_id(Path(args.config))
    submission_id = args.submission_id
    staging = Path(tempfile.mkdtemp(prefix="frcrn-submit-"))
    os.chmod(staging, 0o700)
    try:
        try:
            if args.dry_run:
                address = (args.address or os.environ.get("RAY_API_SERVER_ADDRESS")
                           or os.environ.get("RAY_ADDRESS") or "<RAY_ADDRESS>")
            else:
                address = resolve_address(args.address)
            runtime_env, entrypoint = plan(args, staging)
        except SubmitError as err:
            print(f"submit: {err}", file=sys.stderr)
            return 2
        # Beside the staging folder, not in it: in image/wheel modes that folder is uploaded as the
        # working dir, and the runtime_env (forwarded variables) must not travel inside it.
        env_file = staging.parent / (staging.name + ".runtime_env.json")
        cmd = [*ray_command(), "job", "submit", "--address", address, "--submission-id", submission_id,
               "--runtime-env", str(env_file)]
        if args.entrypoint_num_cpus is not None:
            cmd += ["--entrypoint-num-cpus", str(args.entrypoint_num_cpus)]
        if args.no_wait:
            cmd.append("--no-wait")
        cmd += ["--", *entrypoint]
        if args.dry_run:
            print(json.dumps({"address": address, "submission_id": submission_id,
                              "runtime_env": redacted_runtime_env(runtime_env),
                              "entrypoint": shlex.join(entrypoint),
                              "command": shlex.join(["ray", *cmd[len(ray_command()):]])}, indent=2))
            return 0
        # The runtime_env (it may hold forwarded storage options) goes through a private file,
        # never through argv, where every local user could read it.
        fd = os.open(env_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "w") as f:
                json.dump(runtime_env, f)
            print(f"submit: {submission_id} -> {address}: {shlex.join(entrypoint)}", file=sys.stderr)
            return subprocess.run(cmd, env=client_env()).returncode
        finally:
            env_file.unlink(missing_ok=True)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
