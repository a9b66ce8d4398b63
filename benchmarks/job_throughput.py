"""End-to-end Ray job throughput vs bare-model throughput on the same files, in one run.

    python benchmarks/job_throughput.py [--files 8] [--replicas 1] [--threads 1] [--checkpoint PATH]

1. Makes N demo-like files (4-5 s of speech-like audio at 8/16/22.05/44.1/48 kHz, mono/stereo,
   wav/flac) in a temporary folder, plus a manifest -- or copies the demo corpus's clips when
   ``jobs/demo/audio`` exists.
2. Bare model: decodes the same files to 16 kHz up front (not timed), then ``--replicas``
   processes, each holding one Enhancer with ``--threads`` torch threads, enhance their share;
   throughput = audio seconds / wall time of the enhancement alone.
3. Job: the real Ray Data job (read+decode tasks, ``--replicas`` model actors with the same
   thread count, encode+write tasks, manifest, summary) on a Ray started beforehand; throughput =
   audio seconds / job wall time (resolution, model loading and consolidation included).
4. Prints a table and a JSON line; ratio = job / bare (goal >= 0.85).

The default checkpoint is the project's shipped weights when present, else the full-size random
official-layout fixture in ../shared/parity (same compute as the real model). On 2 CPU cores
keep --replicas 1: the second core then serves the job's read/write tasks.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
PARITY = ROOT.parent / "shared" / "parity" / "frcrn_random_official_layout.bin"


def default_checkpoint() -> str | None:
    try:
        from frcrn.model.checkpoint import DEFAULT_CHECKPOINT

        if DEFAULT_CHECKPOINT.exists():
            return None
    except ImportError:
        pass
    return str(PARITY)


def make_files(folder: Path, n: int) -> list[str]:
    demo = ROOT / "jobs" / "demo" / "audio"
    clips = sorted(p for p in demo.glob("*") if p.suffix in (".wav", ".flac")) if demo.exists() else []
    names = []
    rng = np.random.default_rng(0)
    specs = [(16000, 1, "wav"), (44100, 2, "wav"), (8000, 1, "wav"), (16000, 1, "flac"), (22050, 1, "wav"),
             (48000, 1, "flac")]
    for i in range(n):
        if clips:
            src = clips[i % len(clips)]
            name = f"f{i:04d}_{src.name}"
            shutil.copy(src, folder / name)
        else:
            rate, ch, fmt = specs[i % len(specs)]
            secs = 4.0 + (i % 3) * 0.5
            t = np.arange(int(secs * rate)) / rate
            x = (0.2 * np.sin(2 * np.pi * 180 * t) * (1 + np.sin(2 * np.pi * 3 * t))
                 + 0.03 * rng.standard_normal(t.size))
            x = np.stack([x, x], 1) if ch == 2 else x
            name = f"f{i:04d}.{fmt}"
            sf.write(folder / name, x.astype(np.float32), rate, format=fmt.upper(), subtype="PCM_16")
        names.append(name)
    (folder / "manifest.csv").write_text("audio_uri\n" + "\n".join(names) + "\n")
    return names


def _bare_worker(args):
    checkpoint, threads, waves, start_at = args
    import torch

    from frcrn.enhance import EnhanceConfig, Enhancer

    torch.set_num_threads(threads)
    enh = Enhancer.from_checkpoint(checkpoint, EnhanceConfig(device="cpu", batch_size=1, num_threads=threads))
    enh.enhance(waves[0][: 16000])  # warm-up, like a job actor's first batch
    while time.time() < start_at:
        time.sleep(0.01)
    t0 = time.time()
    enh.enhance_many(waves)
    return t0, time.time()


def bare_throughput(files: list[Path], checkpoint: str | None, replicas: int, threads: int) -> dict:
    from frcrn.audio import decode_audio

    waves = [decode_audio(p.read_bytes()).samples for p in files]
    audio_s = sum(w.size for w in waves) / 16000
    shares = [waves[i::replicas] for i in range(replicas)]
    start_at = time.time() + 20.0  # every process has loaded its model by then
    ctx = mp.get_context("spawn")
    with ctx.Pool(replicas) as pool:
        spans = pool.map(_bare_worker, [(checkpoint, threads, s, start_at) for s in shares if s])
    wall = max(e for _, e in spans) - min(s for s, _ in spans)
    return {"audio_seconds": audio_s, "wall_seconds": wall, "x_realtime": audio_s / wall}


def job_throughput(folder: Path, out: Path, checkpoint: str | None, replicas: int, threads: int) -> dict:
    import ray

    from jobs.config import load_config
    from jobs.pipeline import run_job

    ray.init(num_cpus=os.cpu_count(), include_dashboard=False, logging_level="WARNING", log_to_driver=False)
    try:
        overrides = [f"input.uri={folder}/manifest.csv", f"output.uri={out}", "model.enhance.device=cpu",
                     "model.enhance.batch_size=1", f"model.enhance.num_threads={threads}",
                     f"compute.min_replicas={replicas}", f"compute.max_replicas={replicas}",
                     f"compute.cpus_per_replica={threads}",
                     "compute.files_per_model_batch=2", "compute.files_per_read_task=2",
                     "compute.files_per_write_task=2", "compute.read_cpus=0.5", "compute.write_cpus=0.5",
                     "ray.progress_bars=false", "job.id=benchmark"]
        if checkpoint:
            overrides.append(f"model.checkpoint={checkpoint}")
        cfg = load_config(str(ROOT / "configs" / "local.yaml"), overrides)
        result = run_job(cfg, echo=lambda *_: None)
    finally:
        ray.shutdown()
    s = result.summary
    audio_s = s["hours_in"] * 3600
    assert s["counts"]["error"] == 0, s["errors_by_type"]
    return {"audio_seconds": audio_s, "wall_seconds": s["wall_seconds"], "x_realtime": audio_s / s["wall_seconds"]}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--files", type=int, default=8)
    p.add_argument("--replicas", type=int, default=1)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--checkpoint", default=None, help="default: shipped weights, else the parity fixture")
    args = p.parse_args()
    checkpoint = args.checkpoint or default_checkpoint()
    with tempfile.TemporaryDirectory() as tmp:
        folder, out = Path(tmp) / "in", Path(tmp) / "out"
        folder.mkdir()
        names = make_files(folder, args.files)
        bare = bare_throughput([folder / n for n in names], checkpoint, args.replicas, args.threads)
        job = job_throughput(folder, out, checkpoint, args.replicas, args.threads)
    ratio = job["x_realtime"] / bare["x_realtime"]
    print(f"\n{'':12}{'audio s':>10}{'wall s':>10}{'x realtime':>12}")
    for name, r in (("bare model", bare), ("ray job", job)):
        print(f"{name:12}{r['audio_seconds']:10.1f}{r['wall_seconds']:10.1f}{r['x_realtime']:12.3f}")
    print(f"{'ratio':12}{'':20}{ratio:12.3f}   (goal >= 0.85)")
    print(json.dumps({"files": args.files, "replicas": args.replicas, "threads": args.threads,
                      "checkpoint": checkpoint or "default", "bare": bare, "job": job, "ratio": round(ratio, 4)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
