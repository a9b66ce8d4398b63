"""Fixtures for the Ray job tests: a real moto S3 server, one real local Ray, a tiny real model.

Nothing is mocked: s3fs talks HTTP to ``moto_server`` on a loopback port, Ray Data runs real
tasks and actors on a local Ray instance (2 CPUs), and the model is the real FRCRN network
loaded by the real ``Enhancer`` from a checkpoint written by ``frcrn.checkpoint.save_checkpoint``
-- only made narrow (width 8) with random weights, so plumbing tests run in seconds.
"""

from __future__ import annotations

import io
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def moto_endpoint():
    """A moto S3 server on a free loopback port for the whole session; stopped afterwards."""
    port = _free_port()
    exe = shutil.which("moto_server")
    cmd = [exe] if exe else [sys.executable, "-m", "moto.server"]
    proc = subprocess.Popen(cmd + ["-H", "127.0.0.1", "-p", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 30
    while time.time() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                break
        except OSError:
            if proc.poll() is not None:
                raise RuntimeError("moto_server exited at start")
            time.sleep(0.1)
    else:
        proc.kill()
        raise RuntimeError("moto_server did not start within 30 s")
    yield url
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()


@pytest.fixture
def s3(moto_endpoint, request):
    """A fresh bucket (created with boto3: s3fs's mkdir sends a region constraint moto rejects)
    plus the s3fs storage options and a boto3 client to inspect it."""
    import boto3

    options = {"endpoint_url": moto_endpoint, "key": "testing", "secret": "testing",
               "client_kwargs": {"region_name": "us-east-1"}}
    client = boto3.client("s3", endpoint_url=moto_endpoint, aws_access_key_id="testing",
                          aws_secret_access_key="testing", region_name="us-east-1")
    name = "b-" + request.node.name.lower().replace("_", "-")[:40] + f"-{os.getpid() % 10000}"
    client.create_bucket(Bucket=name)
    yield {"bucket": name, "options": options, "client": client, "endpoint": moto_endpoint}


def list_keys(client, bucket: str) -> list[str]:
    keys, token = [], None
    while True:
        kw = {"Bucket": bucket, **({"ContinuationToken": token} if token else {})}
        resp = client.list_objects_v2(**kw)
        keys += [o["Key"] for o in resp.get("Contents", [])]
        if not resp.get("IsTruncated"):
            return keys
        token = resp["NextContinuationToken"]


@pytest.fixture(scope="session")
def ray_session():
    """One real local Ray instance for the whole test session."""
    import ray

    paths = [str(ROOT)] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    os.environ["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(paths))  # workers import jobs/frcrn
    ray.init(num_cpus=2, include_dashboard=False, logging_level="WARNING", log_to_driver=False)
    yield ray
    ray.shutdown()


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory) -> str:
    """A real FRCRN checkpoint (project format), narrow and random: fast on CPU."""
    import torch

    from frcrn.checkpoint import save_checkpoint
    from frcrn.model import FRCRN
    from frcrn.model_config import ModelConfig

    torch.manual_seed(0)
    model = FRCRN(ModelConfig(width=8, fsmn_hidden=8))
    path = tmp_path_factory.mktemp("ckpt") / "tiny.safetensors"
    save_checkpoint(model, path, model_id="frcrn-tiny-random-test")
    return str(path)


def model_overrides(checkpoint: str) -> list[str]:
    return [f"model.checkpoint={checkpoint}", "model.enhance.device=cpu", "model.enhance.window_seconds=4.0",
            "model.enhance.overlap_seconds=1.0", "model.enhance.batch_size=2", "model.enhance.num_threads=1",
            "compute.files_per_model_batch=4", "compute.files_per_read_task=4",
            "compute.files_per_write_task=4", "ray.progress_bars=false"]


# --------------------------------------------------------------------------- audio corpus


def tone(seconds: float, rate: int, channels: int = 1, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    n = int(round(seconds * rate))
    t = np.arange(n) / rate
    x = 0.3 * np.sin(2 * np.pi * 220 * t) + 0.05 * rng.standard_normal(n)
    x = x.astype(np.float32)
    return np.stack([x, 0.8 * x], axis=1) if channels == 2 else x


def encode(x: np.ndarray, rate: int, fmt: str = "WAV", subtype: str = "PCM_16") -> bytes:
    buf = io.BytesIO()
    sf.write(buf, x, rate, format=fmt, subtype=subtype)
    return buf.getvalue()


def nan_wav() -> bytes:
    x = tone(0.5, 16000)
    x[100:200] = np.nan
    return encode(x, 16000, "WAV", "FLOAT")


def corpus(long_seconds: float | None = 180.0, n_short: int = 16) -> tuple[dict[str, bytes], dict[str, dict]]:
    """(relative path -> bytes, relative path -> expectations) of a mixed corpus."""
    files: dict[str, bytes] = {}
    expect: dict[str, dict] = {}
    rates = [8000, 16000, 44100, 48000, 22050, 32000]
    for i in range(n_short):
        rate = rates[i % len(rates)]
        ch = 2 if i % 3 == 0 else 1
        fmt = "flac" if i % 4 == 1 else "wav"
        secs = 0.5 + (i % 4) * 0.5  # 0.5 .. 2.0 s
        sub = "spk_a" if i % 2 else "spk_b/deeper"
        rel = f"{sub}/clip_{i:02d}_{rate}_{ch}ch.{fmt}"
        files[rel] = encode(tone(secs, rate, ch, seed=i), rate, fmt.upper())
        expect[rel] = {"status": "ok", "rate": rate, "channels": ch, "seconds": int(round(secs * rate)) / rate}
    if long_seconds:
        rel = "long/long_3min_16k.wav"
        files[rel] = encode(tone(long_seconds, 16000, 1, seed=99), 16000)
        expect[rel] = {"status": "ok", "rate": 16000, "channels": 1, "seconds": long_seconds}
    files["broken/empty.wav"] = b""
    expect["broken/empty.wav"] = {"status": "error", "error_type": "empty"}
    files["broken/random.wav"] = np.random.default_rng(1).bytes(5000)
    expect["broken/random.wav"] = {"status": "error", "error_type": "undecodable"}
    files["broken/notes.wav"] = b"this is a text file, not audio\n" * 20
    expect["broken/notes.wav"] = {"status": "error", "error_type": "undecodable"}
    files["broken/nan_float.wav"] = nan_wav()
    expect["broken/nan_float.wav"] = {"status": "error", "error_type": "non_finite"}
    return files, expect
