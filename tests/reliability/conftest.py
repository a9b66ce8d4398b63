"""Helpers for the reliability suite: the same real pieces as tests/jobs (moto_server over HTTP,
real Ray, the real FRCRN network at width 8 with random weights), plus helpers to run the job
in-process or as a ``python -m jobs`` subprocess and to inspect what it left in the bucket.

The moto server, the ``s3`` bucket fixture, Ray (``ray_local``) and ``tiny_checkpoint`` are
tests/conftest.py's. Ray: one local instance per pytest process, shared by every folder (Ray
allows one ``ray.init`` per process, so an instance already started is reused, not replaced).
Subprocess drivers connect to that same instance (``ray.address=...``) instead of starting
their own, which saves ~15 s per run on a busy machine; cluster tests start their own.
"""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import soundfile as sf

from tests.support.s3 import list_keys

ROOT = Path(__file__).resolve().parents[2]
LOCAL = str(ROOT / "configs" / "local.yaml")


def job_overrides(s3, checkpoint: str, in_key: str, out_prefix: str, *extra: str,
                  endpoint: str | None = None) -> list[str]:
    """Overrides for a job on the moto bucket (optionally through a proxy endpoint)."""
    options = dict(s3["options"])
    if endpoint:
        options["endpoint_url"] = endpoint
    so = json.dumps(options)
    return [
        f"input.uri=s3://{s3['bucket']}/{in_key}", f"output.uri=s3://{s3['bucket']}/{out_prefix}",
        f"input.storage_options={so}", f"output.storage_options={so}",
        f"model.checkpoint={checkpoint}", "model.enhance.device=cpu", "model.enhance.window_seconds=4.0",
        "model.enhance.overlap_seconds=1.0", "model.enhance.batch_size=1", "model.enhance.num_threads=1",
        "compute.files_per_model_batch=4", "compute.files_per_read_task=4",
        "compute.files_per_write_task=4", "ray.progress_bars=false", *extra,
    ]


def run_inprocess(overrides: list[str]):
    from jobs.config import load_config
    from jobs.pipeline import run_job

    return run_job(load_config(LOCAL, overrides), echo=lambda *_: None)


def start_cli(overrides: list[str], *, env: dict | None = None, log_path: Path | None = None) -> subprocess.Popen:
    """``python -m jobs run configs/local.yaml <overrides>`` in a new process (own process group)."""
    full_env = {**os.environ, **(env or {})}
    inherited = [p for p in full_env.get("PYTHONPATH", "").split(os.pathsep) if p]
    full_env["PYTHONPATH"] = os.pathsep.join(dict.fromkeys([str(ROOT)] + inherited))
    out = open(log_path, "wb") if log_path else subprocess.DEVNULL  # noqa: SIM115 - the child writes to it for its life
    return subprocess.Popen([sys.executable, "-m", "jobs", "run", LOCAL, *overrides], cwd=str(ROOT),
                            env=full_env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
                            preexec_fn=_default_sigint)


def _default_sigint() -> None:
    """A test run started in the background (``cmd &`` in a script, nohup) inherits SIGINT
    *ignored*, and Python then installs no KeyboardInterrupt handler: the Ctrl-C test's signal
    would be dropped. The job's child gets the disposition an interactive user's job has."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def wait(proc: subprocess.Popen, timeout: float) -> int:
    try:
        return proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=30)
        raise AssertionError(f"job subprocess did not finish within {timeout} s") from None


def read_manifest(client, bucket: str, prefix: str) -> pd.DataFrame:
    body = client.get_object(Bucket=bucket, Key=f"{prefix}/_manifest/results.parquet")["Body"].read()
    return pd.read_parquet(io.BytesIO(body))


def read_summary(client, bucket: str, prefix: str) -> dict:
    return json.loads(client.get_object(Bucket=bucket, Key=f"{prefix}/_manifest/summary.json")["Body"].read())


def audio_keys(client, bucket: str, prefix: str) -> list[str]:
    return sorted(k for k in list_keys(client, bucket)
                  if k.startswith(prefix + "/") and not k.startswith(f"{prefix}/_manifest/"))


def assert_outputs_decode(client, bucket: str, prefix: str, manifest: pd.DataFrame) -> dict[str, bytes]:
    """Every object under the output prefix decodes completely, and every ok row's output is
    one of them with the recorded size and the input's duration. Returns key -> bytes."""
    blobs = {}
    for key in audio_keys(client, bucket, prefix):
        data = client.get_object(Bucket=bucket, Key=key)["Body"].read()
        audio, rate = sf.read(io.BytesIO(data), dtype="float32")
        info = sf.info(io.BytesIO(data))
        assert rate == 16000 and info.frames == len(audio) > 0, key  # header and data agree: not torn
        blobs[key] = data
    ok = manifest[manifest["status"] == "ok"]
    for _, row in ok.iterrows():
        key = row["output_uri"].split(f"s3://{bucket}/", 1)[1]
        assert key in blobs, f"ok row without its output: {row['input_uri']}"
        assert len(blobs[key]) == row["output_bytes"], key
        frames = sf.info(io.BytesIO(blobs[key])).frames
        assert abs(frames - row["input_duration_s"] * 16000) <= 1.0, (key, frames, row["input_duration_s"])
    return blobs


def wait_for(predicate, timeout: float, interval: float = 0.2, what: str = "condition"):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")
