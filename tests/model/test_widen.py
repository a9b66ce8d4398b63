"""Widening: a trained network grows into a wider one that computes the same function, and then learns.

Random small networks (width 16 -> 24) stand in for trained ones: every old weight matters, so any
misplaced index changes the output. The shipped default is widened once, as the real use is.
"""

from __future__ import annotations

import dataclasses

import pytest
import torch

from frcrn.model.checkpoint import load_checkpoint
from frcrn.model.config import ModelConfig
from frcrn.model.network import FRCRN
from frcrn.model.widen import CannotWiden, widen
from tests.conftest import randomize_batch_norm

NARROW = ModelConfig(width=16, fsmn_hidden=16, depth=6)


@pytest.fixture(scope="module")
def narrow() -> FRCRN:
    """A random network with non-trivial batch-norm statistics (so that misplaced channels show)."""
    torch.manual_seed(5)
    return randomize_batch_norm(FRCRN(NARROW)).eval()


@pytest.fixture(scope="module")
def audio() -> torch.Tensor:
    return 0.1 * torch.randn(2, 8000, generator=torch.Generator().manual_seed(2))


def _inference(model: FRCRN, wav: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return model.eval()(wav).wav


@pytest.mark.parametrize("width, hidden", [(24, 16), (16, 40), (24, 24), (32, 8 + 16)])
def test_the_wider_network_computes_the_same_output(narrow, audio, width, hidden):
    wide = widen(narrow, dataclasses.replace(NARROW, width=width, fsmn_hidden=hidden))
    assert (wide.config.width, wide.config.fsmn_hidden) == (width, hidden)
    assert sum(p.numel() for p in wide.parameters()) > sum(p.numel() for p in narrow.parameters())
    expected = _inference(narrow, audio)
    assert torch.allclose(_inference(wide, audio), expected, atol=1e-5 * expected.abs().max().item())


def test_the_same_output_in_training_mode_where_batch_norm_uses_batch_statistics(narrow, audio):
    wide = widen(narrow, dataclasses.replace(NARROW, width=24))
    with torch.no_grad():
        expected = FRCRN(NARROW).train()
        expected.load_state_dict(narrow.state_dict())
        want = expected(audio).wav
        assert torch.allclose(wide.train()(audio).wav, want, atol=1e-5 * want.abs().max().item())


def test_the_new_channels_learn_from_the_first_step(narrow, audio):
    """Weights carrying new channels into old units start at zero but get gradients at once."""
    wide = widen(narrow, dataclasses.replace(NARROW, width=24)).train()
    wide(audio).wav.pow(2).mean().backward()
    encoder = wide.unet1.encoders[1].weight  # [2, out, in, kf, kt]
    assert torch.all(encoder[:, :16, 16:] == 0)
    assert encoder.grad[:, :16, 16:].abs().max() > 0
    assert torch.equal(encoder[:, :16, :16], narrow.unet1.encoders[1].weight)


def test_widening_is_reproducible_by_seed(narrow):
    target = dataclasses.replace(NARROW, width=24)
    one, two, other = widen(narrow, target, seed=1), widen(narrow, target, seed=1), widen(narrow, target, seed=2)
    assert all(torch.equal(a, b) for a, b in zip(one.state_dict().values(), two.state_dict().values()))
    assert not torch.equal(one.unet2.encoders[2].weight, other.unet2.encoders[2].weight)


@pytest.mark.parametrize("change, message", [
    ({"width": 8}, "cannot narrow a network: width 16 -> 8"),
    ({"depth": 8}, "only width and fsmn_hidden can grow; depth differ"),
    ({"fsmn_order": 10, "width": 24}, "fsmn_order differ"),
])
def test_only_growing_width_and_hidden_size_is_a_widening(narrow, change, message):
    with pytest.raises(CannotWiden, match=message):
        widen(narrow, dataclasses.replace(NARROW, **change))


def test_the_shipped_default_widens_to_width_48_unchanged(audio):
    """The real use: the width-32 default grown to 48, which still fits the speed floor and 15 MB."""
    default, _ = load_checkpoint(None)
    wide = widen(default, dataclasses.replace(default.config, width=48, fsmn_hidden=48))
    expected = _inference(default, audio)
    assert torch.allclose(_inference(wide, audio), expected, atol=1e-5 * expected.abs().max().item())
