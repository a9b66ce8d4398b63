"""Seconds per training step (forward, loss, backward, Adam), activation layouts side by side.

    python benchmarks/training_step.py                          # widths 32 and 48, batch 4 x 3 s, 2 threads
    python benchmarks/training_step.py --widths 48 --repeats 5 --threads 2

What it measures: the step `frcrn train` takes (frcrn.training.losses.frcrn_loss with the configured
compressed weight, then backward and Adam), on random audio and random weights: timing does not depend
on the values. For each width the layouts ``channels_last`` (FRCRN.channels_last = True, the default)
and ``plain`` (NCHW) alternate within each repetition, so background load hits them alike; the last
column is plain / channels_last of the medians. On a shared machine only ratios within one run mean
anything. Also printed: the largest relative difference of the two layouts' losses on the first step
(they compute the same function; float32 summation order differs).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from frcrn.model.config import ModelConfig
from frcrn.model.network import FRCRN
from frcrn.training.config import LossConfig
from frcrn.training.losses import frcrn_loss

SAMPLE_RATE = 16000
LAYOUTS = ("channels_last", "plain")


def _stepper(width: int, hidden: int, layout: str, noisy: torch.Tensor, clean: torch.Tensor, loss: LossConfig):
    """A closure doing one training step of a fresh model in `layout`; returns the loss value."""
    torch.manual_seed(0)
    model = FRCRN(ModelConfig(width=width, fsmn_hidden=hidden)).train()
    model.channels_last = layout == "channels_last"
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-6)

    def step() -> float:
        parts = frcrn_loss(model, noisy, clean, model(noisy), loss)
        optimizer.zero_grad(set_to_none=True)
        parts.total.backward()
        optimizer.step()
        return float(parts.total.detach())

    return step


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--widths", default="32,48", help="comma-separated widths (fsmn_hidden = width)")
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=3.0, help="crop length of each batch item")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3, help="timed steps per layout after one warm-up")
    parser.add_argument("--compressed-weight", type=float, default=3000.0)
    args = parser.parse_args(argv)

    torch.set_num_threads(args.threads)
    torch.set_flush_denormal(True)
    print(f"# {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, torch {torch.__version__}, "
          f"{args.threads} threads; batch {args.batch} x {args.seconds:g} s")
    generator = torch.Generator().manual_seed(0)
    samples = round(args.seconds * SAMPLE_RATE)
    clean = 0.05 * torch.randn(args.batch, samples, generator=generator)
    noisy = clean + 0.05 * torch.randn(args.batch, samples, generator=generator)
    loss = LossConfig(compressed_weight=args.compressed_weight)
    print(f"{'width':>5}  {'channels_last s/step':>20}  {'plain s/step':>12}  {'plain/cl':>8}  {'loss rel diff':>13}")
    for width in (int(w) for w in args.widths.split(",")):
        steps = {layout: _stepper(width, width, layout, noisy, clean, loss) for layout in LAYOUTS}
        first = {layout: step() for layout, step in steps.items()}  # warm-up, same weights: same loss
        times: dict[str, list[float]] = {layout: [] for layout in LAYOUTS}
        for _ in range(args.repeats):
            for layout, step in steps.items():
                start = time.perf_counter()
                step()
                times[layout].append(time.perf_counter() - start)
        median = {layout: statistics.median(values) for layout, values in times.items()}
        diff = abs(first["channels_last"] - first["plain"]) / abs(first["plain"])
        print(f"{width:>5}  {median['channels_last']:>20.2f}  {median['plain']:>12.2f}  "
              f"{median['plain'] / median['channels_last']:>8.2f}  {diff:>13.1e}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
