"""Bare-model throughput (x real time, effective GFLOP/s) and Enhancer peak RSS, in one script.

    python benchmarks/model_throughput.py                 # full matrix (slow on 2 CPU cores)
    python benchmarks/model_throughput.py --quick         # 10 s clips, batch 1 and 4, both configs
    python benchmarks/model_throughput.py --configs official --batches 1,4 --seconds 10 \\
        --compare channels_last --json out.json           # layouts side by side, interleaved

Configs: ``official`` = ModelConfig() (width 128, 75.4 GFLOP per audio second) and ``default`` =
ModelConfig(width=32, fsmn_hidden=32) (FLOPs measured once with torch.utils.flop_counter). Random
weights: timing does not depend on the values (denormals aside: ``--flush-denormal`` sets
torch.set_flush_denormal, ``--compare flush_denormal`` measures whether it matters).

Timing: every cell runs ``--repeats`` forward passes after one warm-up; with ``--compare`` the
variants of a cell alternate within each repetition, so background load hits them alike. Reported:
min and median seconds, x real time = batch * clip seconds / min time, GFLOP/s = FLOPs / min time.
On a shared machine only ratios within one run mean anything.

CPU: fp32. CUDA (when present, or ``--device cuda``): fp32, TF32, bf16 and fp16 autocast, with
torch.cuda.synchronize() around every timed call.

Peak RSS: ONE frcrn.enhance.Enhancer (default EnhanceConfig: 10 s windows, batch 1) enhancing a
synthetic file, each in a fresh subprocess (resource.getrusage ru_maxrss). Defaults: the official
size model on a 1-minute file, the width-32 model on 1-minute and 60-minute files (activations scale
with the window, not the file: the long file only adds its own input/output arrays, 230 MB per hour
at fp32 x 4 buffers). ``--rss-official-long`` also runs the official model on the 60-minute file
(about an hour at ~1x real time). ``--no-rss`` skips all of it.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from frcrn.model.config import ModelConfig
from frcrn.model.network import FRCRN, compile_for_inference

CONFIGS = {"official": ModelConfig(), "default": ModelConfig(width=32, fsmn_hidden=32)}
OFFICIAL_GFLOP_PER_SECOND = 75.4
SAMPLE_RATE = 16000


def machine() -> dict:
    info = {"platform": platform.platform(), "python": platform.python_version(), "torch": torch.__version__,
            "torch_threads": torch.get_num_threads(), "cpu_count": os.cpu_count()}
    try:
        lscpu = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
        for line in lscpu.splitlines():
            key, _, value = line.partition(":")
            if key.strip() in ("Model name", "CPU(s)", "Core(s) per socket", "Socket(s)", "L2 cache", "L3 cache"):
                info[key.strip()] = value.strip()
    except (OSError, subprocess.CalledProcessError):
        pass
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
    with contextlib.suppress(OSError):
        info["loadavg"] = os.getloadavg()
    return info


def gflop_per_audio_second(name: str, config: ModelConfig) -> float:
    """75.4 for the official config; otherwise counted once with FlopCounterMode on a 4 s clip."""
    if config.is_official:
        return OFFICIAL_GFLOP_PER_SECOND
    from torch.utils.flop_counter import FlopCounterMode

    model = FRCRN(config).eval()
    model.channels_last = False  # count the plain layout: exactly the model's arithmetic
    seconds = 4.0
    x = torch.zeros(1, int(seconds * SAMPLE_RATE))
    counter = FlopCounterMode(display=False)
    with torch.inference_mode(), counter:
        model(x)
    return counter.get_total_flops() / 1e9 / seconds


def precisions(device: torch.device) -> list[str]:
    return ["fp32", "tf32", "bf16", "fp16"] if device.type == "cuda" else ["fp32"]


class Runner:
    """One model call under one precision, synchronised on CUDA."""

    def __init__(self, model: torch.nn.Module, device: torch.device, precision: str):
        self.model, self.device, self.precision = model, device, precision

    def __call__(self, x: torch.Tensor) -> float:
        dev = self.device.type
        if dev == "cuda":
            torch.backends.cuda.matmul.allow_tf32 = self.precision == "tf32"
            torch.backends.cudnn.allow_tf32 = self.precision == "tf32"
            torch.cuda.synchronize()
        dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(self.precision)
        start = time.perf_counter()
        with torch.inference_mode(), torch.autocast(dev, dtype=dtype or torch.float32, enabled=dtype is not None):
            self.model(x)
        if dev == "cuda":
            torch.cuda.synchronize()
        return time.perf_counter() - start


def make_variants(config: ModelConfig, device: torch.device, compare: str | None) -> dict[str, tuple]:
    """name -> (model, setup callable run before each timed call)."""
    torch.manual_seed(0)
    model = FRCRN(config).eval().to(device)
    variants: dict[str, tuple] = {}
    if compare == "channels_last":
        plain = FRCRN(config).eval().to(device)
        plain.load_state_dict(model.state_dict())
        plain.channels_last = False
        variants = {"channels_last": (model, None), "plain": (plain, None)}
    elif compare == "flush_denormal":
        variants = {"flush_on": (model, lambda: torch.set_flush_denormal(True)),
                    "flush_off": (model, lambda: torch.set_flush_denormal(False))}
    elif compare == "compile":
        start = time.perf_counter()
        twin = FRCRN(config).eval().to(device)
        twin.load_state_dict(model.state_dict())  # before compiling: the wrapper prefixes its keys
        compiled = compile_for_inference(twin)
        variants = {"eager": (model, None), "compiled": (compiled, None)}
        print(f"# compile_for_inference wrapper built in {time.perf_counter() - start:.1f} s "
              "(the compilation itself happens during the warm-up call)")
    else:
        variants = {"eager": (model, None)}
    return variants


def bench(args, device: torch.device) -> list[dict]:
    rows = []
    for name in args.configs:
        config = CONFIGS[name]
        gflop = gflop_per_audio_second(name, config)
        variants = make_variants(config, device, args.compare)
        for precision in precisions(device):
            for seconds in args.seconds:
                for batch in args.batches:
                    x = (torch.randn(batch, int(seconds * SAMPLE_RATE)) * 0.05).to(device)
                    times: dict[str, list[float]] = {v: [] for v in variants}
                    for v, (model, setup) in variants.items():  # warm-up (and compilation)
                        if setup:
                            setup()
                        warm = Runner(model, device, precision)(x)
                        if args.compare == "compile":
                            print(f"# {v} {name} b{batch} {seconds}s first call (incl. compile): {warm:.1f} s")
                    for _ in range(args.repeats):
                        for v, (model, setup) in variants.items():
                            if setup:
                                setup()
                            times[v].append(Runner(model, device, precision)(x))
                    for v, ts in times.items():
                        best, med = min(ts), statistics.median(ts)
                        audio = batch * seconds
                        row = {"config": name, "width": config.width, "variant": v, "device": device.type,
                               "precision": precision, "batch": batch, "clip_s": seconds, "repeats": len(ts),
                               "min_s": best, "median_s": med, "x_realtime": audio / best,
                               "x_realtime_median": audio / med, "gflop_per_audio_s": gflop,
                               "gflops": gflop * audio / best}
                        rows.append(row)
                        print(f"{name:9s} {v:14s} {precision:5s} b{batch:<3d} {seconds:5.0f}s  "
                              f"min {best:8.3f}s  med {med:8.3f}s  {row['x_realtime']:6.2f}x RT  "
                              f"{row['gflops']:6.1f} GFLOP/s", flush=True)
    return rows


def rss_child(width: int, hidden: int, minutes: float) -> None:
    """Runs in a fresh process: one Enhancer, one synthetic file; prints JSON."""
    from frcrn.enhance import EnhanceConfig, Enhancer

    torch.manual_seed(0)
    model = FRCRN(ModelConfig(width=width, fsmn_hidden=hidden))
    enhancer = Enhancer(model, EnhanceConfig())
    rng = np.random.default_rng(0)
    samples = rng.standard_normal(int(minutes * 60 * SAMPLE_RATE), dtype=np.float32)
    samples *= 0.05  # in place: no float64 temporary inflating the high-water mark
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.perf_counter()
    out = enhancer.enhance(samples)
    elapsed = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"width": width, "minutes": minutes, "peak_rss_mb": peak / 1024,
                      "rss_before_enhance_mb": before / 1024, "seconds": elapsed,
                      "x_realtime": minutes * 60 / elapsed, "output_samples": int(out.shape[0])}))


def rss_checks(args) -> list[dict]:
    jobs = [(128, 128, 1.0), (32, 32, 1.0), (32, 32, args.rss_long_minutes)]
    if args.rss_official_long:
        jobs.append((128, 128, args.rss_long_minutes))
    results = []
    for width, hidden, minutes in jobs:
        cmd = [sys.executable, __file__, "--_rss-child", f"{width},{hidden},{minutes}"]
        env = dict(os.environ)
        if args.threads:
            env["OMP_NUM_THREADS"] = str(args.threads)
        done = subprocess.run(cmd, capture_output=True, text=True, env=env)
        if done.returncode != 0:
            print(f"rss check width {width} {minutes} min failed:\n{done.stderr[-2000:]}")
            continue
        result = json.loads(done.stdout.strip().splitlines()[-1])
        results.append(result)
        print(f"peak RSS  width {width:3d}  {minutes:5.1f} min file: {result['peak_rss_mb']:7.0f} MB "
              f"(before enhance {result['rss_before_enhance_mb']:.0f} MB; {result['x_realtime']:.2f}x RT)", flush=True)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--configs", default="official,default", type=lambda s: s.split(","))
    parser.add_argument("--batches", default="1,4,16", type=lambda s: [int(v) for v in s.split(",")])
    parser.add_argument("--seconds", default="4,10,60", type=lambda s: [float(v) for v in s.split(",")])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="10 s clips, batch 1 and 4, 2 repeats, short RSS")
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's)")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--compare", choices=["channels_last", "flush_denormal", "compile"], default=None)
    parser.add_argument("--flush-denormal", dest="flush_denormal", action="store_true")
    parser.add_argument("--no-rss", dest="rss", action="store_false")
    parser.add_argument("--rss-long-minutes", type=float, default=60.0)
    parser.add_argument("--rss-official-long", action="store_true")
    parser.add_argument("--json", default=None)
    parser.add_argument("--_rss-child", dest="rss_child", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.rss_child:
        width, hidden, minutes = args.rss_child.split(",")
        rss_child(int(width), int(hidden), float(minutes))
        return
    if args.quick:
        args.batches, args.seconds, args.repeats = [1, 4], [10.0], min(args.repeats, 2)
        args.rss_long_minutes = min(args.rss_long_minutes, 10.0)
    if args.flush_denormal:
        torch.set_flush_denormal(True)
    device = torch.device("cuda" if args.device == "auto" and torch.cuda.is_available()
                          else ("cpu" if args.device == "auto" else args.device))
    info = machine()
    print("# machine: " + ", ".join(f"{k}={v}" for k, v in info.items()), flush=True)
    rows = bench(args, device)
    rss = rss_checks(args) if args.rss else []
    if args.json:
        Path(args.json).write_text(json.dumps({"machine": info, "throughput": rows, "peak_rss": rss,
                                               "args": {k: v for k, v in vars(args).items() if k != "rss_child"}},
                                              indent=2))


if __name__ == "__main__":
    main()
