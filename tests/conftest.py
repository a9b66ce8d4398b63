"""Shared fixtures: the parity fixture in ../shared, the parity model, and small random models.

`../shared` (beside the project root) holds data that must not be committed. Tests that need it
FAIL, never skip, when it is missing: a green run must mean the parity checks actually ran.

Models: the parity model is full size (58 MB, ~1 s of CPU per second of audio or worse on a busy
machine), so it is loaded once per session and fed short signals. Tests that only need *a* model
(lengths, gain, batching) use `small_model`, a narrow random FRCRN, which is ~20x faster.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from frcrn.model.checkpoint import load_checkpoint
from frcrn.model.config import ModelConfig
from frcrn.model.network import FRCRN
from frcrn.model.official_layout import canonical_key
from frcrn.model.stft import stft_kernels

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
