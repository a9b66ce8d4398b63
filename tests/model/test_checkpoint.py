"""Checkpoints: every supported format gives the same network, and every bad file is ONE clear error.

Most tests use a random width-16 network in the OFFICIAL layout (all 1,692 keys, built from the
parity fixture's key list; see `narrow_official_state`): it goes through exactly the same mapping
code as the official release but loads ~100x faster. The full-size parity file is used where size
matters (it is loaded once per session).
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import uuid
from pathlib import Path

import fsspec
import numpy as np
import pytest
import torch
from safetensors.torch import save as save_safetensors

from frcrn.model.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from frcrn.model.config import ModelConfig
from frcrn.model.network import FRCRN
from tests.conftest import SMALL_CONFIG, narrow_official_state


@pytest.fixture(scope="module")
def official_state() -> dict[str, torch.Tensor]:
    return narrow_official_state(seed=7)


@pytest.fixture(scope="module")
def official_file(official_state, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("official") / "pytorch_model.bin"
    torch.save(official_state, path)
    return path


@pytest.fixture(scope="module")
def official_loaded(official_file):
    """(model, info) of `official_file`, loaded once for the tests that compare against it."""
    return load_checkpoint(official_file)


@pytest.fixture(scope="module")
def probe() -> torch.Tensor:
    """0.3 s of noise: enough frames for every layer, cheap for the full-size model."""
    return torch.from_numpy(np.random.default_rng(3).standard_normal((1, 4800)).astype(np.float32) * 0.05)


def _run(model: FRCRN, wav: torch.Tensor) -> torch.Tensor:
    with torch.inference_mode():
        return model(wav).wav


def _error(path, match: str | None = None) -> str:
    """Load `path`, expecting a CheckpointError that names the file; returns the message."""
    with pytest.raises(CheckpointError) as caught:
        load_checkpoint(path)
    message = str(caught.value)
    assert str(path) in message, f"the error does not name the file: {message}"
    if match is not None:
        assert match in message, f"expected {match!r} in: {message}"
    return message


# -- formats ----------------------------------------------------------------------------------

def test_all_formats_load_to_identical_outputs(official_state, official_loaded, tmp_path, probe):
    trainer = tmp_path / "modelscope_trainer.pth"
    torch.save({"state_dict": {"model." + k: v for k, v in official_state.items()}}, trainer)
    clearervoice = tmp_path / "clearervoice.pt"
    torch.save({"model": {"module." + k: v for k, v in official_state.items()}, "optimizer": {}, "epoch": 1},
               clearervoice)
    official, official_info = official_loaded
    project = tmp_path / "converted.safetensors"
    save_checkpoint(official, project, model_id="test-model")

    reference = _run(official, probe)
    formats = {"official": official_info.format}
    for path in (trainer, clearervoice, project):
        model, info = load_checkpoint(path)
        formats[path.name] = info.format
        assert info.config == official_info.config == SMALL_CONFIG
        assert torch.equal(_run(model, probe), reference), f"{path.name} ({info.format}) gives different output"
    assert formats == {"official": "official", "modelscope_trainer.pth": "modelscope-trainer",
                       "clearervoice.pt": "clearervoice", "converted.safetensors": "frcrn"}


def test_frcrn_convert_writes_a_project_file_with_identical_outputs(official_file, official_loaded, tmp_path, probe,
                                                                    capsys):
    from frcrn.cli import main

    destination = tmp_path / "converted.safetensors"
    assert main(["convert", str(official_file), str(destination)]) == 0
    official, official_info = official_loaded
    converted, info = load_checkpoint(destination)
    assert info.format == "frcrn" and info.config == official_info.config
    assert info.provenance["converted_from"]["sha256"] == official_info.sha256
    assert torch.equal(_run(converted, probe), _run(official, probe))
    assert json.loads(capsys.readouterr().out)["sha256"] == info.sha256


def test_frcrn_convert_reports_a_bad_checkpoint_and_exits_2(tmp_path, capsys):
    from frcrn.cli import main

    source = tmp_path / "notes.txt"
    source.write_text("not weights")
    assert main(["convert", str(source), str(tmp_path / "out.safetensors")]) == 2
    assert f"{source} is not a checkpoint" in capsys.readouterr().err
    assert not (tmp_path / "out.safetensors").exists()


def test_full_size_parity_checkpoint_survives_conversion_to_project_format(parity_loaded, tmp_path, probe):
    model, info = parity_loaded
    path = tmp_path / "parity.safetensors"
    saved = save_checkpoint(model, path, model_id="parity", provenance={"from": info.sha256})
    loaded, loaded_info = load_checkpoint(path)
    assert loaded_info.config.is_official
    assert loaded_info.model_id == "parity" and loaded_info.provenance == {"from": info.sha256}
    assert loaded_info.sha256 == saved.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert torch.equal(_run(loaded, probe), _run(model, probe))
    sidecar = json.loads(path.with_suffix(".json").read_text())
    assert sidecar["config"] == ModelConfig().to_dict() and sidecar["sha256"] == saved.sha256


def test_narrow_model_round_trips_with_its_config(tmp_path, probe):
    torch.manual_seed(5)
    config = ModelConfig(width=16, fsmn_hidden=16)
    model = FRCRN(config).eval()
    path = tmp_path / "narrow.safetensors"
    save_checkpoint(model, path, model_id="narrow", provenance={"run": "test"})
    loaded, info = load_checkpoint(path)
    assert info.config == config and loaded.config == config
    assert (info.model_id, info.format, dict(info.provenance)) == ("narrow", "frcrn", {"run": "test"})
    assert info.num_keys == len(model.state_dict())
    assert all(torch.equal(v, loaded.state_dict()[k]) for k, v in model.state_dict().items())
    assert torch.equal(_run(loaded, probe), _run(model, probe))


def test_a_project_file_whose_header_length_starts_with_the_pickle_marker_loads(tmp_path, probe):
    """A safetensors header of 128 + 256k bytes begins the file with 0x80, the byte pickles begin
    with. Such a file (one in 256 saved checkpoints) must still load as the project format."""
    model = FRCRN(SMALL_CONFIG).eval()
    path = tmp_path / "marker.safetensors"
    for padding in range(256):
        save_checkpoint(model, path, provenance={"note": "x" * padding})
        if path.read_bytes()[:1] == b"\x80":
            break
    assert path.read_bytes()[:1] == b"\x80", "no padding gave a header length starting with 0x80"
    loaded, info = load_checkpoint(path)
    assert info.format == "frcrn" and info.provenance["note"] == "x" * padding
    assert torch.equal(_run(loaded, probe), _run(model, probe))


def test_loading_builds_without_init_yet_equals_a_model_built_and_loaded_the_plain_way(tmp_path, probe):
    """load_checkpoint builds on the meta device (no random init, no STFT pseudo-inverse) and fills
    everything from the file: the same tensors, trainable parameters and outputs as FRCRN(config) +
    load_state_dict, and no parameter or buffer outside the state_dict that could stay uninitialised."""
    torch.manual_seed(6)
    model = FRCRN(SMALL_CONFIG).eval()
    path = tmp_path / "small.safetensors"
    save_checkpoint(model, path)
    loaded, _ = load_checkpoint(path)
    plain = FRCRN(SMALL_CONFIG)
    plain.load_state_dict(model.state_dict())
    plain.eval()
    state = loaded.state_dict()
    names = {n for n, _ in loaded.named_parameters()} | {n for n, _ in loaded.named_buffers()}
    assert names == set(state) == set(plain.state_dict())
    assert all(p.device.type == "cpu" and p.requires_grad for p in loaded.parameters())
    assert all(torch.equal(v, state[k]) for k, v in plain.state_dict().items())
    assert torch.equal(_run(loaded, probe), _run(plain, probe)) and torch.equal(_run(loaded, probe), _run(model, probe))
    with torch.device("meta"):
        shapes = {k: v.shape for k, v in FRCRN(SMALL_CONFIG).state_dict().items()}
    assert shapes == {k: v.shape for k, v in model.state_dict().items()}


def test_depth_14_is_the_official_unet_geometry():
    from frcrn.model.network import unet_kernels

    official_encoders = ((5, 2), (5, 2), (5, 2), (5, 2), (5, 2), (5, 2), (2, 2))
    official_decoders = ((2, 2), (5, 2), (5, 2), (5, 2), (6, 2), (5, 2), (5, 2))  # the reference's set_size
    assert unet_kernels(ModelConfig()) == (official_encoders, official_decoders)


@pytest.mark.parametrize("depth", [4, 6, 8, 10, 12])
def test_shallower_unets_enhance_to_the_same_length_and_round_trip_with_their_depth(depth, tmp_path, probe):
    torch.manual_seed(depth)
    config = ModelConfig(width=8, fsmn_hidden=8, depth=depth)
    model = FRCRN(config).eval()
    assert len(model.unet1.encoders) == len(model.unet1.decoders) == depth // 2
    out = _run(model, probe)
    assert out.shape == _run(FRCRN(ModelConfig(width=8, fsmn_hidden=8)).eval(), probe).shape
    assert torch.isfinite(out).all()
    model.channels_last = False  # the training layout gives the same numbers
    assert torch.allclose(_run(model, probe), out, atol=1e-5)
    model.channels_last = True
    path = tmp_path / f"depth{depth}.safetensors"
    save_checkpoint(model.eval(), path, model_id=f"depth-{depth}")
    loaded, info = load_checkpoint(path)
    assert info.config.depth == depth and torch.equal(_run(loaded, probe), out)


@pytest.mark.parametrize("depth", [2, 7, 16])
def test_unsupported_depths_are_refused_with_the_allowed_range(depth):
    with pytest.raises(ValueError, match=f"depth must be even, from 4 to 14 .*got {depth}"):
        ModelConfig(depth=depth)


def test_loads_from_an_fsspec_memory_url(official_file, probe):
    base = f"memory://frcrn-tests-{uuid.uuid4().hex}"
    fs = fsspec.filesystem("memory")
    try:
        with fsspec.open(f"{base}/pytorch_model.bin", "wb") as f:
            f.write(official_file.read_bytes())
        model, info = load_checkpoint(f"{base}/pytorch_model.bin")
        assert info.source == f"{base}/pytorch_model.bin" and info.format == "official"
        save_checkpoint(model, f"{base}/model.safetensors")
        assert fs.exists(f"{base}/model.json")
        again, again_info = load_checkpoint(f"{base}/model.safetensors")
        assert again_info.format == "frcrn"
        assert torch.equal(_run(again, probe), _run(model, probe))
    finally:
        fs.rm(base, recursive=True)


def test_info_sha256_is_the_file_digest(official_file, official_loaded):
    _, info = official_loaded
    assert info.sha256 == hashlib.sha256(official_file.read_bytes()).hexdigest()
    assert info.model_id == "frcrn-official-layout"  # not the released file, so not called official


# -- untrusted files ----------------------------------------------------------------------------

class _RunsShell:
    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


class _WritesFile:
    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return open, (str(self.marker), "w")


def _torch_zip(payload, path, state):
    torch.save({"state_dict": {**state, "evil": payload}}, path)


def _torch_legacy(payload, path, state):
    torch.save({"state_dict": {**state, "evil": payload}}, path, _use_new_zipfile_serialization=False)


def _plain_pickle(payload, path, state):
    # no tensors: plain pickle stores them via a torch helper that the loader refuses first
    path.write_bytes(pickle.dumps({"state_dict": {"evil": payload}}, protocol=2))


@pytest.mark.parametrize("payload, write", [(_RunsShell, _torch_zip), (_WritesFile, _torch_zip),
                                            (_RunsShell, _torch_legacy), (_WritesFile, _plain_pickle)],
                         ids=["os.system-torch-zip", "open-torch-zip", "os.system-torch-legacy", "open-plain-pickle"])
def test_malicious_pickle_is_refused_without_running_it(tmp_path, official_state, payload, write):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.bin"
    write(payload(marker), path, official_state)
    message = _error(path, "refused")
    assert "run code" in message and ("system" in message or "open" in message)
    assert "weights_only` set to `False`" not in message  # never pass on torch's advice to disable the guard
    assert not marker.exists(), "loading the checkpoint executed its payload"


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
@pytest.mark.parametrize("content", [b"this is a text file, not weights\n", b"", b"\x00" * 64, b"\x80random",
                                     np.random.default_rng(1).bytes(4096), b"PK\x03\x04 truncated zip"],
                         ids=["text", "empty", "zeros", "pickle-like-garbage", "random-bytes", "truncated-zip"])
def test_non_checkpoint_files_raise_checkpoint_error_naming_the_file(tmp_path, content):
    path = tmp_path / "not_a_checkpoint.bin"
    path.write_bytes(content)
    message = _error(path)
    assert "refused" not in message  # garbage is not reported as an attack


def test_truncated_checkpoint_raises_checkpoint_error(tmp_path, official_file):
    path = tmp_path / "truncated.bin"
    path.write_bytes(official_file.read_bytes()[:20000])
    _error(path, "not a readable PyTorch checkpoint")


def test_missing_file_raises_checkpoint_error(tmp_path):
    _error(tmp_path / "nowhere.bin", "not found")


def test_a_foreign_state_dict_is_not_mistaken_for_frcrn(tmp_path):
    path = tmp_path / "resnet.pth"
    torch.save({"conv1.weight": torch.zeros(8, 3, 3, 3), "fc.bias": torch.zeros(10)}, path)
    _error(path, "not FRCRN's official layout")


# -- official layout that does not fit ----------------------------------------------------------

def _both(key: str) -> list[str]:
    """The two registrations of an official layer key: 'unet.encoder3.x' and 'unet.encoders.3.x'."""
    import re
    return [key, re.sub(r"\.(encoder|decoder|se_layer_enc|se_layer_dec)(\d+)\.",
                        lambda m: {"encoder": ".encoders.", "decoder": ".decoders.", "se_layer_enc": ".se_layers_enc.",
                                   "se_layer_dec": ".se_layers_dec."}[m.group(1)] + m.group(2) + ".", key)]


def _save(tmp_path: Path, state: dict, name: str = "broken.bin") -> Path:
    path = tmp_path / name
    torch.save(state, path)
    return path


def test_missing_keys_are_named(tmp_path, official_state):
    state = {k: v for k, v in official_state.items() if ".encoder3.conv." not in k and ".encoders.3.conv." not in k}
    message = _error(_save(tmp_path, state), "missing keys")
    assert "encoders.3.weight" in message


def test_a_missing_imaginary_part_is_named(tmp_path, official_state):
    state = dict(official_state)
    for key in _both("unet2.decoder2.bn.bn_im.running_mean"):
        del state[key]
    message = _error(_save(tmp_path, state), "imaginary part is missing")
    assert "unet2.decoders.2.bn.bn_re.running_mean" in message


def test_unexpected_keys_are_named(tmp_path, official_state):
    state = {**official_state, "unet.encoder9.conv.conv_re.weight": torch.zeros(1), "extra.head.bias": torch.zeros(3)}
    message = _error(_save(tmp_path, state), "unexpected keys")
    assert "'extra.head.bias'" in message and "'unet.encoders.9.conv.conv_re.weight'" in message


def test_wrong_shapes_are_named(tmp_path, official_state):
    state = dict(official_state)
    for key in _both("unet.se_layer_enc1.fc_r.0.weight"):
        state[key] = torch.zeros(3, 16)
    message = _error(_save(tmp_path, state), "wrong shapes")
    assert "se_layers_enc.1.fc_r.0.weight (3, 16) != (2, 16)" in message


def test_real_and_imaginary_parts_of_different_shapes_are_one_clear_error(tmp_path, official_state):
    state = dict(official_state)
    for key in _both("unet.encoder3.conv.conv_re.weight"):
        state[key] = torch.zeros(16, 16, 5, 3)
    message = _error(_save(tmp_path, state), "differ in shape")
    assert "unet.encoders.3.conv.conv_re.weight" in message


def test_a_kernel_with_the_right_size_but_wrong_shape_is_refused(tmp_path, official_state):
    """A [5, 2] kernel stored as [2, 5] has the right element count; loading it would scramble it."""
    state = dict(official_state)
    for part in ("re", "im"):
        for key in _both(f"unet.encoder3.conv.conv_{part}.weight"):
            state[key] = official_state[key].reshape(16, 16, 2, 5)
    _error(_save(tmp_path, state), "does not fit (2, 16, 16, 5, 2)")


def test_aliases_that_disagree_are_refused(tmp_path, official_state):
    state = dict(official_state)
    state["unet.encoders.3.conv.conv_re.weight"] = state["unet.encoder3.conv.conv_re.weight"] + 1
    message = _error(_save(tmp_path, state), "hold different tensors")
    assert "unet.encoder3.conv.conv_re.weight" in message and "unet.encoders.3.conv.conv_re.weight" in message


def test_istft_enframe_must_be_the_identity(tmp_path, official_state):
    state = {**official_state, "istft.enframe": official_state["istft.enframe"] * 2}
    _error(_save(tmp_path, state), "'istft.enframe' is not the identity")


# -- project format that does not fit -------------------------------------------------------------

def _small_state(small_model) -> dict[str, torch.Tensor]:
    return {k: v.contiguous() for k, v in small_model.state_dict().items()}


def test_safetensors_without_frcrn_metadata_is_refused(tmp_path, small_model):
    path = tmp_path / "plain.safetensors"
    path.write_bytes(save_safetensors(_small_state(small_model)))
    _error(path, "not an frcrn checkpoint (no 'frcrn' metadata)")


def test_project_file_missing_keys_or_from_a_newer_version_is_refused(tmp_path, small_model):
    header = {"format_version": 1, "model_id": "x", "config": SMALL_CONFIG.to_dict(), "provenance": {}}
    state = _small_state(small_model)
    del state["unet1.linear.weight"]
    missing = tmp_path / "missing.safetensors"
    missing.write_bytes(save_safetensors(state, metadata={"frcrn": json.dumps(header)}))
    _error(missing, "missing keys: 'unet1.linear.weight'")
    newer = tmp_path / "newer.safetensors"
    newer.write_bytes(save_safetensors(_small_state(small_model),
                                       metadata={"frcrn": json.dumps({**header, "format_version": 99})}))
    _error(newer, "newer frcrn")
