"""FRCRN as a stage of a user's Ray Data pipeline vs the bulk job, on the same files, in one run.

    python benchmarks/pipeline_stage.py [--files 16] [--replicas 1] [--threads 1] [--repeats 1]
                                        [--checkpoint PATH]

1. Files: made as ``benchmarks/job_throughput.py`` makes them (the demo corpus's clips when
   ``jobs/demo/audio`` exists, else synthetic 4-5 s files at 8-48 kHz, mono/stereo, wav/flac).
2. Job: ``jobs.pipeline.run_job`` (read+decode tasks, ``--replicas`` model actors with
   ``--threads`` torch threads, encode+write tasks, results manifest, summary) with the per-file
   measures off (the user pipeline does not measure); throughput = audio seconds / the job's
   wall time (input resolution, model loading and consolidation included).
3. Pipeline: ``ray.data.read_binary_files`` -> ``frcrn.integrations.ray_data.enhance_dataset``
   (decode tasks, the same replicas and threads, encode tasks, 16-bit WAV) -> ``write_parquet``;
   the same rows per model batch / per task and CPUs per task as the job; throughput = audio
   seconds / wall time from building the dataset to the written Parquet (actor start and model
   loading included, as in the job's figure).
4. Both on one Ray started beforehand, ``--repeats`` times in ABBA order (pipeline, job, job,
   pipeline, ...: a warm-up advantage or a load trend falls on both alike). Prints
   every run, the medians, ratio = pipeline / job (goal: within 5 %), the machine and its load
   average before and after (other work on the machine moves both figures).

The default checkpoint is the project's shipped weights (else the parity fixture, see
job_throughput.py). On 2 CPU cores keep --replicas 1: the other core serves the CPU tasks.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from job_throughput import default_checkpoint, make_files  # noqa: E402  (a sibling script)

BATCH = 2  # files per model batch, per read/decode task and per write/encode task, in both paths
TASK_CPUS = 0.5


def machine() -> str:
    cpu = platform.processor() or "?"
    try:
        names = [line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                 if line.startswith("model name")]
        cpu = names[0] if names else cpu
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} CPUs, Python {platform.python_version()}"


def load() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "?"


def audio_seconds(folder: Path, names: list[str]) -> float:
    from frcrn.audio import probe_audio

    return sum(probe_audio((folder / n).read_bytes()).duration_seconds for n in names)


def run_job_once(folder: Path, out: Path, checkpoint: str | None, replicas: int, threads: int, tag: str) -> float:
    from jobs.config import load_config
    from jobs.pipeline import run_job

    overrides = [f"input.uri={folder}/manifest.csv", f"output.uri={out}", "model.enhance.device=cpu",
                 "model.enhance.batch_size=1", f"model.enhance.num_threads={threads}",
                 f"compute.min_replicas={replicas}", f"compute.max_replicas={replicas}",
                 f"compute.cpus_per_replica={threads}", f"compute.files_per_model_batch={BATCH}",
                 f"compute.files_per_read_task={BATCH}", f"compute.files_per_write_task={BATCH}",
                 f"compute.read_cpus={TASK_CPUS}", f"compute.write_cpus={TASK_CPUS}", "measures.enabled=false",
                 "ray.progress_bars=false", f"job.id=benchmark-{tag}"]
    if checkpoint:
        overrides.append(f"model.checkpoint={checkpoint}")
    result = run_job(load_config(str(ROOT / "configs" / "local.yaml"), overrides), echo=lambda *_: None)
    s = result.summary
    assert s["counts"]["error"] == 0, s["errors_by_type"]
    return float(s["wall_seconds"])


def run_pipeline_once(folder: Path, out: Path, checkpoint: str | None, replicas: int, threads: int,
                      n_files: int) -> float:
    import pyarrow.parquet as pq
    import ray

    from frcrn.enhance_config import EnhanceConfig
    from frcrn.integrations.ray_data import enhance_dataset

    t0 = time.perf_counter()
    ds = ray.data.read_binary_files(str(folder), include_paths=True, file_extensions=["wav", "flac"])
    ds = enhance_dataset(ds, audio_column="bytes", output_format="wav", keep_audio=False, checkpoint=checkpoint,
                         config=EnhanceConfig(device="cpu", batch_size=1, num_threads=threads), replicas=replicas,
                         num_cpus=threads, rows_per_model_batch=BATCH, rows_per_task=BATCH, task_cpus=TASK_CPUS)
    ds.write_parquet(str(out))
    wall = time.perf_counter() - t0
    table = pq.read_table(str(out), columns=["enhanced_error"])
    assert table.num_rows == n_files and table.column("enhanced_error").null_count == n_files
    return wall


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--files", type=int, default=16)
    p.add_argument("--replicas", type=int, default=1)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--repeats", type=int, default=1)
    p.add_argument("--checkpoint", default=None, help="default: shipped weights, else the parity fixture")
    args = p.parse_args()
    import ray
    from ray.data import DataContext

    checkpoint = args.checkpoint or default_checkpoint()
    load_before = load()
    ray.init(num_cpus=os.cpu_count(), include_dashboard=False, logging_level="WARNING", log_to_driver=False)
    DataContext.get_current().enable_progress_bars = False
    runs: dict[str, list[float]] = {"pipeline": [], "job": []}
    try:
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp) / "in"
            folder.mkdir()
            names = make_files(folder, args.files)
            audio_s = audio_seconds(folder, names)
            for k in range(args.repeats):
                for name in ("pipeline", "job") if k % 2 == 0 else ("job", "pipeline"):  # ABBA order
                    if name == "pipeline":
                        wall = run_pipeline_once(folder, Path(tmp) / f"pipe{k}", checkpoint, args.replicas,
                                                 args.threads, len(names))
                    else:
                        wall = run_job_once(folder, Path(tmp) / f"job{k}", checkpoint, args.replicas, args.threads,
                                            str(k))
                    runs[name].append(wall)
    finally:
        ray.shutdown()
    report(args, checkpoint, audio_s, runs, load_before)
    return 0


def report(args, checkpoint, audio_s: float, runs: dict[str, list[float]], load_before: str) -> None:
    after = load()
    print(f"\nmachine: {machine()}; load average before {load_before}, after {after}")
    busiest = max(float(x) for x in (load_before.split() + after.split()) if x.replace(".", "", 1).isdigit())
    if busiest > (os.cpu_count() or 1):
        print(f"NOTE: the machine was busy (load average up to {busiest:g} on {os.cpu_count()} CPUs: other work "
              "ran beside this benchmark); absolute figures swing, compare the two paths within this run only")
    print(f"{args.files} files, {audio_s:.1f} s of audio, {args.replicas} replica(s) x {args.threads} thread(s), "
          f"checkpoint {checkpoint or 'shipped default'}")
    print(f"\n{'':12}{'runs: wall s':>28}{'median s':>10}{'x realtime':>12}")
    medians = {}
    for name in ("pipeline", "job"):
        walls = runs[name]
        medians[name] = statistics.median(walls)
        shown = " ".join(f"{w:.1f}" for w in walls)
        print(f"{name:12}{shown:>28}{medians[name]:10.1f}{audio_s / medians[name]:12.3f}")
    ratio = medians["job"] / medians["pipeline"]  # throughput ratio: pipeline / job
    print(f"{'ratio':12}{'':38}{ratio:12.3f}   (pipeline / job throughput; goal within 5 %)")
    print(json.dumps({"files": args.files, "audio_seconds": round(audio_s, 2), "replicas": args.replicas,
                      "threads": args.threads, "checkpoint": checkpoint or "default", "wall_seconds": runs,
                      "ratio": round(ratio, 4), "load_before": load_before, "load_after": after}))


if __name__ == "__main__":
    sys.exit(main())
