"""Load and save FRCRN checkpoints from any fsspec URL, treating every file as untrusted input.

Formats understood:
- `official`: the ModelScope release `pytorch_model.bin` (plain state_dict, 1,692 aliased keys);
- `modelscope-trainer`: `{'state_dict': ...}` with `model.` key prefixes;
- `clearervoice`: `{'model': state_dict, 'optimizer', ...}`, keys possibly prefixed `module.`;
- `frcrn`: this project's format, safetensors whose metadata carries a JSON header (model config and
  provenance); `save_checkpoint` also writes the same JSON beside the file for people to read.

Pickles are opened with `torch.load(weights_only=True)` only: a file that needs to run code to load
is refused. Any mismatch is ONE error naming the first offending keys.
"""

from __future__ import annotations

import hashlib
import io
import json
import pickle
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import fsspec
import torch

from .config import ModelConfig
from .network import FRCRN
from .official_layout import LayoutError, _first, dealias, infer_config, looks_official, official_to_native

OFFICIAL_RELEASE_SHA256 = "477a2f82019b0a2b5bdd51541405d7e585a1f0355e162f3b46bf5c20d79fd612"
OFFICIAL_MODEL_ID = "damo/speech_frcrn_ans_cirm_16k"
FORMAT_KEY = "frcrn"  # safetensors metadata key holding the JSON header
FORMAT_VERSION = 1
DEFAULT_CHECKPOINT = Path(__file__).parents[1] / "weights" / "default.safetensors"


class CheckpointError(ValueError):
    """A checkpoint that cannot be used; the message says why and what to do."""


@dataclass(frozen=True)
class CheckpointInfo:
    source: str
    sha256: str
    format: str
    config: ModelConfig
    model_id: str
    num_keys: int
    provenance: Mapping[str, Any] = field(default_factory=dict)

    def describe(self) -> dict[str, Any]:
        return {"source": self.source, "model_id": self.model_id, "format": self.format, "sha256": self.sha256,
                "num_keys": self.num_keys, "config": self.config.to_dict(), "provenance": dict(self.provenance)}


def default_checkpoint() -> Path:
    if not DEFAULT_CHECKPOINT.exists():
        raise CheckpointError(
            "no default checkpoint ships with this installation yet; pass one explicitly, e.g. "
            "`--checkpoint /path/to/pytorch_model.bin` (the official ModelScope damo/speech_frcrn_ans_cirm_16k "
            "file) or a file made by `frcrn convert`")
    return DEFAULT_CHECKPOINT


def read_bytes(source: str | Path, storage_options: Mapping[str, Any] | None = None) -> bytes:
    try:
        with fsspec.open(str(source), "rb", **dict(storage_options or {})) as f:
            return f.read()
    except FileNotFoundError:
        raise CheckpointError(f"checkpoint not found: {source}") from None
    except Exception as error:  # network, permissions, bad URL: say which file
        raise CheckpointError(f"cannot read checkpoint {source}: {type(error).__name__}: {error}") from None


def _sniff(data: bytes) -> str:
    """The container format by its first bytes. Safetensors is tested before the legacy pickle:
    its 8-byte header length can itself start with 0x80 (any header of 128 + 256k bytes), the
    pickle protocol marker, but a pickle never has ``{`` at byte 8 after a length that fits."""
    if data[:4] == b"PK\x03\x04":
        return "torch-zip"
    if len(data) > 8 and int.from_bytes(data[:8], "little") < len(data) and data[8:9] == b"{":
        return "safetensors"
    if data[:1] == b"\x80":
        return "torch-legacy"
    return "unknown"


def _torch_load(data: bytes, source: str) -> Any:
    try:
        return torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        # torch's message opens with advice to retry with weights_only=False (never do that here); the
        # useful part is the global it refused. Without one, the pickle is corrupt, not malicious.
        text = str(error)
        refused = re.search(r"GLOBAL ([\w.]+)", text)
        if refused is None:
            detail = next((line.strip() for line in text.splitlines() if "Unsupported" in line), type(error).__name__)
            raise CheckpointError(f"{source} is not a readable PyTorch checkpoint (corrupt pickle: {detail})") from None
        raise CheckpointError(
            f"refused {source}: loading it would run code it contains (it pickles Python objects other than "
            f"tensors, which is how malicious checkpoints work; this one calls {refused.group(1)}). "
            f"Only plain state_dicts are accepted.") from None
    except Exception as error:
        raise CheckpointError(
            f"{source} is not a readable PyTorch checkpoint: {type(error).__name__}: {error}") from None


def _strip_prefixes(state: Mapping[str, Any]) -> dict[str, Any]:
    state = dict(state)
    for prefix in ("module.", "model."):
        while state and all(k.startswith(prefix) for k in state):
            state = {k[len(prefix):]: v for k, v in state.items()}
    return state


def _unwrap(obj: Any, source: str) -> tuple[dict[str, torch.Tensor], str]:
    """Find the state_dict inside a pickled checkpoint and name the wrapper it came in."""
    if not isinstance(obj, Mapping):
        raise CheckpointError(f"{source} holds a {type(obj).__name__}, not a state_dict")
    fmt = "official"
    for wrapper, name in (("state_dict", "modelscope-trainer"), ("model", "clearervoice")):
        if isinstance(obj.get(wrapper), Mapping):
            obj, fmt = obj[wrapper], name
            break
    state = _strip_prefixes(obj)
    not_tensors = [k for k, v in state.items() if not isinstance(v, torch.Tensor)]
    if not_tensors:
        raise CheckpointError(
            f"{source} is not an FRCRN state_dict: entries that are not tensors: {_first(not_tensors)}")
    return state, fmt


def _check_native(state: Mapping[str, torch.Tensor], model: FRCRN, source: str) -> None:
    expected = model.state_dict()
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    wrong = [f"{k} {tuple(state[k].shape)} != {tuple(v.shape)}" for k, v in expected.items()
             if k in state and state[k].shape != v.shape]
    problems = []
    if missing:
        problems.append(f"missing keys: {_first(missing)}")
    if unexpected:
        problems.append(f"unexpected keys: {_first(unexpected)}")
    if wrong:
        problems.append(f"wrong shapes: {_first(wrong, 3)}")
    if problems:
        raise CheckpointError(f"{source} does not fit FRCRN {model.config.to_dict()}: " + "; ".join(problems))


def _unloaded_model(config: ModelConfig) -> FRCRN:
    """FRCRN of this shape on the CPU with uninitialised weights, for a checkpoint to fill.

    Built on the meta device, so neither the random initialisation nor the STFT kernels' pseudo-inverse
    (about a second of CPU, more with busy cores) is computed only to be overwritten; then every
    parameter and buffer gets uninitialised CPU storage. Every one of them is in the state_dict, which
    `load_checkpoint` loads with strict=True after `_check_native`, so nothing stays uninitialised.
    (`Module.to_empty` does the same with `torch.empty_like`, whose meta-tensor path imports sympy:
    ~0.8 s of the start-up here.)"""
    with torch.device("meta"):
        model = FRCRN(config)
    return model._apply(lambda t: torch.empty(t.shape, dtype=t.dtype, device="cpu"))


def load_checkpoint(source: str | Path | None = None, *,
                    storage_options: Mapping[str, Any] | None = None) -> tuple[FRCRN, CheckpointInfo]:
    """Build the network a checkpoint describes and load its weights (eval mode, CPU, float32).

    `source` is a local path or fsspec URL; None means the project's shipped default.
    """
    source = str(source if source is not None else default_checkpoint())
    data = read_bytes(source, storage_options)
    digest = hashlib.sha256(data).hexdigest()
    kind = _sniff(data)
    provenance: dict[str, Any] = {}
    if kind == "safetensors":
        state, header = _load_safetensors(data, source)
        config = ModelConfig.from_dict(header.get("config", {}))
        provenance = header.get("provenance", {})
        fmt, model_id = "frcrn", header.get("model_id", "frcrn")
        model = _unloaded_model(config)
    elif kind in ("torch-zip", "torch-legacy"):
        raw, fmt = _unwrap(_torch_load(data, source), source)
        if not looks_official(raw):
            raise CheckpointError(f"{source} is a PyTorch state_dict but not FRCRN's official layout "
                                  f"(first keys: {_first(list(raw)[:5])})")
        try:
            canonical = dealias(raw)
            config = infer_config(canonical)
            model = _unloaded_model(config)
            state = official_to_native(canonical, config, {k: v.shape for k, v in model.state_dict().items()})
        except (LayoutError, ValueError) as error:
            raise CheckpointError(f"{source}: {error}") from None
        model_id = "frcrn-official-layout"
        if digest == OFFICIAL_RELEASE_SHA256:
            model_id, provenance = OFFICIAL_MODEL_ID, {"release": "official FRCRN release (ModelScope)"}
    else:
        raise CheckpointError(f"{source} is not a checkpoint: it is neither safetensors nor a PyTorch file "
                              f"(first bytes {data[:8]!r})")
    _check_native(state, model, source)
    model.load_state_dict(state, strict=True)
    model.eval()
    info = CheckpointInfo(source=source, sha256=digest, format=fmt, config=config, model_id=model_id,
                          num_keys=len(state), provenance=provenance)
    return model, info


def _load_safetensors(data: bytes, source: str) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    from safetensors.torch import load as load_tensors

    try:
        state = load_tensors(data)
        header_len = int.from_bytes(data[:8], "little")
        metadata = json.loads(data[8:8 + header_len]).get("__metadata__") or {}
    except Exception as error:
        raise CheckpointError(f"{source} is not a valid safetensors file: {error}") from None
    if FORMAT_KEY not in metadata:
        raise CheckpointError(f"{source} is safetensors but not an frcrn checkpoint (no '{FORMAT_KEY}' metadata); "
                              "make one with `frcrn convert`")
    header = json.loads(metadata[FORMAT_KEY])
    if header.get("format_version", 0) > FORMAT_VERSION:
        raise CheckpointError(
            f"{source} was written by a newer frcrn (format {header['format_version']}); upgrade frcrn")
    return state, header


def save_checkpoint(model: FRCRN, destination: str | Path, *, model_id: str = "frcrn",
                    provenance: Mapping[str, Any] | None = None,
                    storage_options: Mapping[str, Any] | None = None) -> CheckpointInfo:
    """Write the project format: `<name>.safetensors` (weights + JSON header) and `<name>.json` beside it,
    each atomically (:func:`frcrn.storage.atomic_write`)."""
    from safetensors.torch import save as save_tensors

    destination = str(destination)
    header = {"format_version": FORMAT_VERSION, "model_id": model_id, "config": model.config.to_dict(),
              "provenance": dict(provenance or {})}
    state = {k: v.detach().to("cpu").contiguous() for k, v in model.state_dict().items()}
    data = save_tensors(state, metadata={FORMAT_KEY: json.dumps(header, sort_keys=True)})
    digest = hashlib.sha256(data).hexdigest()
    from ..storage import atomic_write

    options = dict(storage_options or {})
    sidecar = destination[: -len(".safetensors")] if destination.endswith(".safetensors") else destination
    # Both files atomically (never a torn checkpoint); the weights first, so a sidecar always
    # describes weights that exist.
    atomic_write(destination, data, "application/octet-stream", storage_options=options)
    described = json.dumps({**header, "sha256": digest, "num_keys": len(state)}, indent=2, sort_keys=True) + "\n"
    atomic_write(sidecar + ".json", described.encode("utf-8"), "application/json", storage_options=options)
    return CheckpointInfo(source=destination, sha256=digest, format="frcrn", config=model.config,
                          model_id=model_id, num_keys=len(state), provenance=header["provenance"])
