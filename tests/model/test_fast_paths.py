"""The fast paths (channels-last layout; in inference also folded batch norm, chunked FSMN and the
optional torch.compile) give the same numbers as the plain layout, in inference and in training."""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch

from frcrn.model import layers
from frcrn.model.config import ModelConfig
from frcrn.model.network import FRCRN, compile_for_inference
from tests.conftest import randomize_batch_norm, snr_db

CONFIG = ModelConfig(width=16, fsmn_hidden=8)


def _models() -> tuple[FRCRN, FRCRN]:
    torch.manual_seed(0)
    fast = randomize_batch_norm(FRCRN(CONFIG))  # so the folding is exercised
    plain = FRCRN(CONFIG)
    plain.load_state_dict(fast.state_dict())
    plain.channels_last = False
    return fast.eval(), plain.eval()


def _close(a, b, tol=1e-4):
    for x, y in zip(a, b):
        assert x.shape == y.shape
        assert (x - y).abs().max().item() <= tol


@pytest.mark.parametrize("batch,samples", [(1, 16000), (3, 12800)])
def test_channels_last_matches_plain(batch, samples):
    fast, plain = _models()
    x = torch.randn(batch, samples) * 0.1
    with torch.inference_mode():
        _close(fast(x), plain(x))


def test_chunking_does_not_change_results(monkeypatch):
    fast, _ = _models()
    x = torch.randn(2, 16000) * 0.1
    with torch.inference_mode():
        reference = fast(x)
        monkeypatch.setattr(layers, "FSMN_CHUNK_ROWS", 64)  # many small chunks
        _close(fast(x), reference, 1e-5)


def test_training_in_channels_last_gives_the_plain_layouts_outputs_and_gradients():
    """Training runs channels-last too (faster on CPU; benchmarks/training_step.py) but not the
    inference-only fast paths (folded batch norm, chunked FSMN): same outputs, same gradients."""
    fast, plain = _models()
    fast.train()
    plain.train()
    x = torch.randn(2, 12800, generator=torch.Generator().manual_seed(0)) * 0.1
    outputs = []
    for model in (fast, plain):
        out = model(x)
        out.wav.square().mean().backward()
        outputs.append(out)
    # float32 summation order differs between the layouts (oneDNN's channels-last backward sums in
    # another order, and kernels differ by CPU), and a random network amplifies it: compared by SNR
    # (measured here: outputs ~100 dB, gradients 47-92 dB over four inputs; a layout mix-up gives
    # ~0 dB). Convolution biases that feed batch norm are left out: their true gradient is zero, so
    # both layouts hold only rounding noise there.
    for got, want in zip(*outputs):
        assert snr_db(want.detach(), got.detach()) > 60
    before_bn = [name for name, module in fast.named_modules()
                 if isinstance(module, layers.ComplexConv) and module.bn is not None]
    grads = [(p.grad, q.grad) for (name, p), q in zip(fast.named_parameters(), plain.parameters())
             if name.rsplit(".", 1)[0] not in before_bn or not name.endswith(".bias")]
    assert all(got is not None for got, _ in grads)
    assert snr_db(torch.cat([want.flatten() for _, want in grads]), torch.cat([got.flatten() for got, _ in grads])) > 30


BF16_SNR_DB = 30.0
"""bf16 autocast vs the fp32 output, both layouts (see test_bf16_autocast_stays_close_to_fp32)."""


def test_bf16_autocast_stays_close_to_fp32():
    """bf16 autocast through the fast (channels-last, folded batch norm) and the plain layout, each
    compared with the fp32 output by SNR. Not with each other, nor by an absolute bound: bf16 results
    depend on the CPU (oneDNN picks AMX, AVX512-BF16 or emulated kernels, each rounding and
    accumulating differently), and these random-weight outputs reach |48|, where one bf16 step is
    0.25: on an AVX512-BF16 CPU without AMX the two layouts differ by 0.25, with PyTorch's own
    kernels by 0.75.

    Measured on an Intel Xeon with AMX, other CPUs emulated with ONEDNN_MAX_CPU_ISA (fast / plain
    layout, dB): AVX512_CORE_AMX 42.5 / 42.5, AVX512_CORE_BF16 (no AMX) 44.7 / 44.9, AVX512_CORE
    (no bf16 hardware) 47.2 / 47.2, AVX2 (no oneDNN bf16: PyTorch's own kernels) 40.5 / 42.5, the
    same with ATEN_CPU_CAPABILITY=avx2, 47.2 / 44.0 with ATEN_CPU_CAPABILITY=default. Three other
    random inputs gave 34.1-44.1 dB (fast layout, every setting above). Bound: >= 30 dB.
    """
    fast, plain = _models()
    x = torch.randn(1, 16000) * 0.1
    with torch.inference_mode():
        reference = plain(x).wav.numpy()
        with torch.autocast("cpu", dtype=torch.bfloat16):
            outputs = {"fast": fast(x).wav, "plain": plain(x).wav}
    for layout, out in outputs.items():
        out = out.float().numpy()
        assert out.shape == reference.shape and np.isfinite(out).all(), layout
        assert snr_db(reference, out) >= BF16_SNR_DB, layout


@pytest.mark.skipif(not os.environ.get("FRCRN_TEST_COMPILE"), reason="slow: set FRCRN_TEST_COMPILE=1")
def test_compile_for_inference_matches_eager():
    fast, plain = _models()
    compiled = compile_for_inference(fast)
    x = torch.randn(1, 16000) * 0.1
    with torch.inference_mode():
        _close(compiled(x), plain(x))
