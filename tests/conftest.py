"""Shared fixtures: the parity fixture in ../shared, the parity model, and small random models; and
the real services several test folders use: a moto S3 server with a fresh bucket per test, one
local Ray, and a tiny real checkpoint.

`../shared` (beside the project root) holds data that must not be committed. Tests that need it
FAIL, never skip, when it is missing: a green run must mean the parity checks actually ran.

Models: the parity model is full size (58 MB, ~1 s of CPU per second of audio or worse on a busy
machine), so it is loaded once per session and fed short signals. Tests that only need *a* model
(lengths, gain, batching) use `small_model`, a narrow random FRCRN, which is ~20x faster.

Services: nothing is mocked. s3fs talks HTTP to ``moto_server`` on a loopback port, Ray runs real
tasks and actors on one local instance (2 CPUs) for the whole session, and ``tiny_checkpoint`` is
the real FRCRN network (width 8, random weights) saved by
``frcrn.model.checkpoint.save_checkpoint``, so plumbing tests run in seconds.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from frcrn.model.checkpoint import load_checkpoint, save_checkpoint
from frcrn.model.config import ModelConfig
from frcrn.model.network import FRCRN
from frcrn.model.official_layout import canonical_key
from frcrn.model.stft import stft_kernels
from tests.support.net import free_port

PROJECT_ROOT = Path(__file__).resolve().parents[1]
SHARED = PROJECT_ROOT.parent / "shared"
PARITY = SHARED / "parity"
EXAMPLES = SHARED / "examples"
PARITY_CHECKPOINT = PARITY / "frcrn_random_official_layout.bin"
SMALL_CONFIG = ModelConfig(width=16, fsmn_hidden=16)


def shared_file(path: Path) -> Path:
    """`path` inside ../shared, or a test FAILURE (not a skip) that says how to fix it."""
    if not path.exists():
        pytest.fail(f"missing shared test data {path}: the parity fixture and example clips live in "
                    f"{SHARED} (a sibling of the project root, never committed); restore it to run these tests",
                    pytrace=False)
    return path


def snr_db(reference: np.ndarray, estimate: np.ndarray) -> float:
    """10 log10(|reference|^2 / |reference - estimate|^2); inf when they are equal."""
    reference = np.asarray(reference, dtype=np.float64)
    error = float(np.sum((reference - np.asarray(estimate, dtype=np.float64)) ** 2))
    return float("inf") if error == 0 else 10 * np.log10(float(np.sum(reference ** 2)) / error)


@pytest.fixture(scope="session")
def parity_loaded():
    """(model, CheckpointInfo) of the parity checkpoint, loaded through the public API."""
    return load_checkpoint(shared_file(PARITY_CHECKPOINT))


@pytest.fixture(scope="session")
def parity_model(parity_loaded) -> FRCRN:
    return parity_loaded[0]


@pytest.fixture(scope="session")
def parity_input() -> np.ndarray:
    return np.load(shared_file(PARITY / "input.npy"))


@pytest.fixture(scope="session")
def parity_expected() -> dict[str, np.ndarray]:
    with np.load(shared_file(PARITY / "expected.npz")) as data:
        return {k: data[k] for k in data.files}


@pytest.fixture(scope="session")
def parity_outputs(parity_model, parity_input):
    """The parity model's forward pass on input.npy (computed once: it is the slowest thing here)."""
    with torch.inference_mode():
        return parity_model(torch.from_numpy(parity_input)[None])


def randomize_batch_norm(model: FRCRN) -> FRCRN:
    """Give every batch norm non-trivial statistics and affine weights (fresh ones are the identity in
    eval mode, which would hide a misplaced or unfolded channel). Returns the model."""
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.running_mean.uniform_(-0.5, 0.5)
                module.running_var.uniform_(0.5, 2.0)
                module.weight.uniform_(0.5, 1.5)
                module.bias.uniform_(-0.5, 0.5)
    return model


@pytest.fixture(scope="session")
def small_model() -> FRCRN:
    """A narrow random FRCRN (width 16): the real network, ~20x cheaper than the official size."""
    torch.manual_seed(1234)
    return FRCRN(SMALL_CONFIG).eval()


def narrow_official_state(seed: int = 0) -> dict[str, torch.Tensor]:
    """A random state_dict in the OFFICIAL layout (all 1,692 keys, aliases sharing one tensor) for a
    width-16 network, built from the parity fixture's key list: every 128 -> 16, 256 -> 32 and the SE
    squeeze 16 -> 2. Loads as ModelConfig(width=16, fsmn_hidden=16); ~100x smaller than the parity
    file, so checkpoint-format and error tests are fast."""
    shapes = json.loads(shared_file(PARITY / "state_dict_keys.json").read_text())
    narrow = {128: 16, 256: 32, 16: 2}
    generator = torch.Generator().manual_seed(seed)
    analysis, synthesis, window = stft_kernels(640, 640)
    fixed = {"stft.weight": analysis, "istft.weight": synthesis, "istft.window": window,
             "istft.enframe": torch.eye(640).reshape(640, 1, 640)}
    by_canonical: dict[str, torch.Tensor] = {}
    state = {}
    for key, shape in shapes.items():
        canonical = canonical_key(key)
        if canonical not in by_canonical:
            size = [narrow.get(d, d) for d in shape]
            if key in fixed:
                tensor = fixed[key]
            elif key.endswith("num_batches_tracked"):
                tensor = torch.tensor(1000)
            elif key.endswith("running_var"):
                tensor = torch.rand(size, generator=generator) + 0.5
            else:
                tensor = torch.randn(size, generator=generator) * 0.2
            by_canonical[canonical] = tensor
        state[key] = by_canonical[canonical]
    return state


# --------------------------------------------------------------------------- services


@pytest.fixture(scope="session")
def moto_endpoint():
    """A moto S3 server on a free loopback port for the whole session; stopped afterwards."""
    port = free_port()
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
                raise RuntimeError("moto_server exited at start") from None
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
    """A fresh bucket on the moto server (created with boto3: s3fs's mkdir sends a region
    constraint moto rejects), its s3fs storage options and a boto3 client to inspect it."""
    import boto3

    options = {"endpoint_url": moto_endpoint, "key": "testing", "secret": "testing",
               "client_kwargs": {"region_name": "us-east-1"}}
    client = boto3.client("s3", endpoint_url=moto_endpoint, aws_access_key_id="testing",
                          aws_secret_access_key="testing", region_name="us-east-1")
    slug = re.sub(r"[^a-z0-9]+", "-", request.node.name.lower()).strip("-")[:40].strip("-")
    name = f"t-{slug}-{os.getpid() % 10000}"
    client.create_bucket(Bucket=name)
    return {"bucket": name, "options": options, "client": client, "endpoint": moto_endpoint}


@pytest.fixture(scope="session")
def ray_local():
    """One local Ray (2 CPUs) for the session, its GCS address as the value; reuses one already
    initialised in this process (Ray allows one ``ray.init`` per process)."""
    import ray

    paths = [str(PROJECT_ROOT)] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    os.environ["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(paths))  # workers import jobs/frcrn
    started = False
    if not ray.is_initialized():
        for attempt in range(3):
            # Ray waits a hard-coded 30 s for its raylet to register; on a heavily loaded machine
            # that can run out, so start-up (only start-up) is retried.
            try:
                ray.init(num_cpus=2, include_dashboard=False, logging_level="WARNING", log_to_driver=False)
                break
            except Exception:
                ray.shutdown()
                if attempt == 2:
                    raise
        started = True
    yield ray.get_runtime_context().gcs_address
    if started:
        ray.shutdown()


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory) -> str:
    """A real FRCRN checkpoint (project format), narrow and random: fast on CPU."""
    torch.manual_seed(0)
    model = FRCRN(ModelConfig(width=8, fsmn_hidden=8))
    path = tmp_path_factory.mktemp("ckpt") / "tiny.safetensors"
    save_checkpoint(model, path, model_id="frcrn-tiny-random-test")
    return str(path)
