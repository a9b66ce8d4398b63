"""Block-weight (4-multiplication) vs Gauss (3-multiplication) complex convolutions, per layer.

    python benchmarks/complex_conv_forms.py [--threads 2] [--seconds 10] [--repeats 3]

The model runs each complex conv as ONE real conv with block weight [[Wr, -Wi], [Wi, Wr]] on the
stacked [re, im] channels (channels-last). The Gauss form needs three real convs of half the
channels: t1 = Wr*(xr + xi), t2 = (Wr + Wi)*xi, t3 = (Wi - Wr)*xr; re = t1 - t2, im = t1 + t3:
25 % fewer multiply-adds, paid for with one extra pass over the input (xr + xi), slices of the
channels-last input and two extra passes over the output. Which wins is a memory-bandwidth
question, so this measures it on the official model's real layer shapes (collected with forward
hooks on a ``--seconds`` clip), both forms interleaved in each repetition, and prints a table and a
JSON line.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from frcrn.model.config import ModelConfig
from frcrn.model.layers import ComplexConv
from frcrn.model.network import FRCRN


def layer_shapes(seconds: float) -> list[dict]:
    """Input shape and conv geometry of every UNet complex conv of the official model."""
    torch.manual_seed(0)
    model = FRCRN(ModelConfig()).eval()
    found: list[dict] = []

    def hook(name):
        def record(module: ComplexConv, args, _out):
            x = args[0]
            if module.weight.shape[-2:] == (1, 1):
                return  # the final 1x1 "linear" conv: negligible
            found.append({"name": name, "input": tuple(x.shape), "transposed": module.transposed,
                          "weight": tuple(module.weight.shape), "stride": module.stride, "padding": module.padding,
                          "input_groups": getattr(module, "input_groups", 1)})
        return record

    for name, mod in model.named_modules():
        if isinstance(mod, ComplexConv):
            mod.register_forward_hook(hook(name))
    with torch.inference_mode():
        model(torch.randn(1, int(seconds * 16000)) * 0.05)
    return found


def forms(spec: dict):
    """(block, gauss) callables on a channels-last input of the layer's real shape."""
    w = torch.randn(spec["weight"]) * 0.05  # [2, O, I, kh, kw] or [2, I, O, kh, kw]
    wr, wi = w[0], w[1]
    conv = F.conv_transpose2d if spec["transposed"] else F.conv2d
    if not spec["transposed"]:
        block = torch.cat([torch.cat([wr, -wi], 1), torch.cat([wi, wr], 1)], 0)
    else:
        block = torch.cat([torch.cat([wr, wi], 1), torch.cat([-wi, wr], 1)], 0)
    block = block.contiguous(memory_format=torch.channels_last)
    g1 = wr.contiguous(memory_format=torch.channels_last)
    g2 = (wr + wi).contiguous(memory_format=torch.channels_last)
    g3 = (wi - wr).contiguous(memory_format=torch.channels_last)
    stride, padding = spec["stride"], spec["padding"]
    x = (torch.randn(spec["input"]) * 0.1).contiguous(memory_format=torch.channels_last)
    c = x.shape[1] // 2

    def run_block():
        return conv(x, block, None, stride, padding)

    def run_gauss():
        xr, xi = x[:, :c], x[:, c:]
        t1 = conv(xr + xi, g1, None, stride, padding)
        t2 = conv(xi, g2, None, stride, padding)
        t3 = conv(xr, g3, None, stride, padding)
        return torch.cat([t1 - t2, t1 + t3], 1)

    if spec["input_groups"] == 1:  # check the algebra once per layer
        a, b = run_block(), run_gauss()
        assert torch.allclose(a, b, atol=1e-3 * a.abs().max().item()), spec["name"]
    return run_block, run_gauss


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--seconds", type=float, default=10.0)
    p.add_argument("--repeats", type=int, default=3)
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.set_flush_denormal(True)
    rows = []
    total = {"block": 0.0, "gauss": 0.0}
    print(f"# torch {torch.__version__}, {torch.get_num_threads()} threads, {args.seconds:g} s clip, batch 1")
    print(f"{'layer':24s} {'input':>22s} {'block s':>9s} {'gauss s':>9s} {'gauss/block':>11s}")
    for spec in layer_shapes(args.seconds):
        with torch.inference_mode():
            run_block, run_gauss = forms(spec)
            run_block(), run_gauss()  # warm-up
            times = {"block": [], "gauss": []}
            for _ in range(args.repeats):
                for name, fn in (("block", run_block), ("gauss", run_gauss)):
                    t0 = time.perf_counter()
                    fn()
                    times[name].append(time.perf_counter() - t0)
        b, g = min(times["block"]), min(times["gauss"])
        total["block"] += b
        total["gauss"] += g
        rows.append({"layer": spec["name"], "input": spec["input"], "block_s": b, "gauss_s": g,
                     "block_median_s": statistics.median(times["block"]),
                     "gauss_median_s": statistics.median(times["gauss"])})
        print(f"{spec['name']:24s} {spec['input']!s:>22s} {b:9.4f} {g:9.4f} {g / b:11.2f}", flush=True)
    print(f"{'all UNet convs':24s} {'':>22s} {total['block']:9.4f} {total['gauss']:9.4f} "
          f"{total['gauss'] / total['block']:11.2f}")
    print(json.dumps({"threads": torch.get_num_threads(), "seconds": args.seconds, "layers": rows,
                      "total_block_s": total["block"], "total_gauss_s": total["gauss"]}))


if __name__ == "__main__":
    main()
