"""Where the time goes in one FRCRN forward pass: torch.profiler's top operators by self CPU time.

    python benchmarks/profile_model.py [--config official|default] [--seconds 10] [--batch 1]
        [--threads N] [--plain]

``--plain`` profiles the previous NCHW layout (``model.channels_last = False``) for a before/after
comparison. Percentages are shares of self CPU time, which is what stays comparable on a machine
with other load.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch
from torch.profiler import ProfilerActivity, profile

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from frcrn.model.config import ModelConfig
from frcrn.model.network import FRCRN

CONFIGS = {"official": ModelConfig(), "default": ModelConfig(width=32, fsmn_hidden=32)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--config", choices=sorted(CONFIGS), default="official")
    p.add_argument("--seconds", type=float, default=10.0)
    p.add_argument("--batch", type=int, default=1)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--plain", action="store_true")
    p.add_argument("--top", type=int, default=12)
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.set_flush_denormal(True)
    torch.manual_seed(0)
    model = FRCRN(CONFIGS[args.config]).eval()
    model.channels_last = not args.plain
    x = torch.randn(args.batch, int(args.seconds * 16000)) * 0.05
    with torch.inference_mode():
        model(x)  # warm-up: weight caches, oneDNN primitives
        with profile(activities=[ProfilerActivity.CPU]) as prof:
            model(x)
    events = prof.key_averages()
    total = sum(e.self_cpu_time_total for e in events) or 1
    print(f"# {args.config}, {'plain' if args.plain else 'channels-last'} layout, batch {args.batch}, "
          f"{args.seconds:g} s, {torch.get_num_threads()} threads; self CPU total {total / 1e6:.2f} s")
    print(f"{'operator':32s} {'self %':>7s} {'self s':>8s} {'calls':>6s}")
    for e in sorted(events, key=lambda e: e.self_cpu_time_total, reverse=True)[: args.top]:
        print(f"{e.key:32s} {100 * e.self_cpu_time_total / total:6.1f}% {e.self_cpu_time_total / 1e6:8.3f} "
              f"{e.count:6d}")


if __name__ == "__main__":
    main()
