"""End-to-end Ray job throughput vs bare-model throughput on the same files, in one run.

    python benchmarks/job_throughput.py [--files 8] [--replicas 1] [--threads 1] [--checkpoint PATH]
    python benchmarks/job_throughput.py --set short        # 2,000 files of ~2 s
    python benchmarks/job_throughput.py --set long         # 500 files of ~15 s
    python benchmarks/job_throughput.py --files 200 --seconds 2 --bare-batches 1,4

1. Makes the input files in a temporary folder, plus a manifest:
   * without ``--seconds``: copies of the demo corpus's clips (``jobs/demo/audio``; 4-5 s at
     8/16/22.05/44.1/48 kHz, mono/stereo, wav/flac), or synthetic tones when it is missing;
   * with ``--seconds S`` (or ``--set``): files of S s +- 10 % (uniform; a seeded draw), each a
     cut of real read speech (the LibriSpeech clips in ``../shared/data/speech_librispeech_samples``,
     else the demo clips; consecutive clips joined when one is too short) mixed with a real noise
     recording (``../shared/data/noise_recorded``) at 0-20 dB SNR. The mixtures themselves are
     synthetic (speech and noise recorded apart, summed here). 85 % are 16 kHz mono 16-bit WAV;
     the rest are 8 kHz WAV, 44.1 kHz stereo WAV and 48 kHz FLAC, so the job resamples some.
2. Bare model: decodes the same files to 16 kHz up front (not timed), then ``--replicas``
   processes, each holding one Enhancer with ``--threads`` torch threads, enhance their share with
   one ``enhance_many`` call; throughput = audio seconds / wall time of the enhancement alone. The
   batch size is the best of ``--bare-batches`` for this audio (each tried on the first files,
   interleaved, twice; the fastest wins), so the bare side is the model's honest best. It runs on
   every other file before the job and on the rest after it (the halves add up), so a drift of
   the machine's load hits both sides alike.
3. Job: the real ``run_job`` (read+decode tasks, ``--replicas`` model actors with the same
   thread count, encode+write tasks, curation measures, result parts, manifest, summary) on a Ray
   started beforehand, with the job's default settings (``configs/local.yaml``) except for the
   input, the output, the checkpoint and ``--replicas`` replicas of ``--threads`` CPUs and threads
   each; throughput = audio seconds / job wall time (resolution, model loading and consolidation
   included). Time to first output: from ``run_job``'s start to the first enhanced file on disk.
4. Prints a table, the per-file overhead ((job wall - bare wall) / files, in ms) and a JSON line;
   ratio = job / bare. Also CPU seconds: the bare enhancement's, and the job's summed over this
   process and every process it started (Ray's own and its workers, read from /proc and split by
   the task a worker ran): on a shared machine CPU time is steadier than wall time, and
   (job CPU - bare CPU) / files is what the job costs per file beyond the model.

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
import threading
import time
from pathlib import Path
from typing import Any

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


SETS = {"short": (2000, 2.0), "long": (500, 15.0)}
"""--set NAME: (files, seconds per file)."""
DATA = ROOT.parent / "shared" / "data"
OTHER_FORMATS = {7: (8000, 1, "wav"), 13: (44100, 2, "wav"), 19: (48000, 1, "flac")}
"""File i with i % 20 in these keys gets this (rate, channels, format); the rest are 16 kHz mono WAV."""


def _load_16k(paths: list[Path]) -> list[np.ndarray]:
    from frcrn.audio import decode_audio

    out = []
    for path in paths:
        x = decode_audio(path.read_bytes()).samples
        if x.size and np.abs(x).max() > 0:
            out.append(x)
    return out


def make_speech_files(folder: Path, n: int, seconds: float, seed: int = 0, data: Path = DATA) -> list[str]:
    """n files of ``seconds`` +- 10 %: real speech cuts mixed with real noise (see the docstring)."""
    from frcrn.audio import resample

    speech_dir = data / "speech_librispeech_samples"
    speech_paths = sorted(speech_dir.rglob("*.flac")) if speech_dir.exists() else []
    if not speech_paths:
        speech_paths = sorted(p for p in (ROOT / "jobs" / "demo" / "audio").glob("*") if p.suffix in (".wav", ".flac"))
    noise_paths = sorted((data / "noise_recorded").rglob("*.flac")) if (data / "noise_recorded").exists() else []
    speech = np.concatenate(_load_16k(speech_paths))  # one long stream of read speech, cut anywhere
    noises = _load_16k(noise_paths[:: max(1, len(noise_paths) // 60)]) or [None]
    rng = np.random.default_rng(seed)
    names = []
    for i in range(n):
        length = round(seconds * rng.uniform(0.9, 1.1) * 16000)
        start = int(rng.integers(0, max(1, speech.size - length)))
        x = speech[start:start + length].astype(np.float64)
        noise = noises[i % len(noises)]
        if noise is None:
            noise = rng.standard_normal(length)
        noise = np.resize(noise, length)  # repeated when shorter
        snr_db = rng.uniform(0.0, 20.0)
        ps, pn = np.mean(x ** 2) + 1e-12, np.mean(noise ** 2) + 1e-12
        x = x + noise * np.sqrt(ps / pn / 10 ** (snr_db / 10))
        x *= 10 ** (rng.uniform(-30, -15) / 20) / (np.sqrt(np.mean(x ** 2)) + 1e-12)  # -30..-15 dBFS RMS
        rate, ch, fmt = OTHER_FORMATS.get(i % 20, (16000, 1, "wav"))
        y = resample(x.astype(np.float32), 16000, rate) if rate != 16000 else x.astype(np.float32)
        y = np.clip(y, -1, 1)
        if ch == 2:
            y = np.stack([y, 0.9 * y], 1)
        name = f"spk{i % 40:02d}/u{i:05d}.{fmt}"
        (folder / name).parent.mkdir(exist_ok=True)
        sf.write(folder / name, y, rate, format=fmt.upper(), subtype="PCM_16")
        names.append(name)
    (folder / "manifest.csv").write_text("audio_uri\n" + "\n".join(names) + "\n")
    return names


def _bare_worker(checkpoint, threads, waves, batches, barrier, results):
    import torch

    from frcrn.enhance import EnhanceConfig, Enhancer

    torch.set_num_threads(threads)
    enh = Enhancer.from_checkpoint(checkpoint, EnhanceConfig(device="cpu", batch_size=1, num_threads=threads))
    enh.enhance(waves[0])  # warm-up, like a job actor's first batch
    best, tried = batches[0], {}
    if len(batches) > 1:  # the best batch size for this audio, on the first files
        sample = waves[: max(8, 2 * max(batches))]
        for _ in range(2):
            for b in batches:
                enh._batch_size = b
                t0 = time.perf_counter()
                enh.enhance_many(sample)
                tried[b] = min(tried.get(b, float("inf")), time.perf_counter() - t0)
        best = min(tried, key=tried.get)
    enh._batch_size = best
    barrier.wait()
    t0, c0 = time.time(), time.process_time()
    enh.enhance_many(waves)
    results.put((t0, time.time(), best, {b: round(t, 3) for b, t in tried.items()}, time.process_time() - c0))


def bare_throughput(files: list[Path], checkpoint: str | None, replicas: int, threads: int,
                    batches: list[int] = (1,)) -> dict:
    from frcrn.audio import decode_audio

    waves = [decode_audio(p.read_bytes()).samples for p in files]
    audio_s = sum(w.size for w in waves) / 16000
    shares = [s for s in (waves[i::replicas] for i in range(replicas)) if s]
    ctx = mp.get_context("spawn")
    barrier, results = ctx.Barrier(len(shares)), ctx.Queue()
    procs = [ctx.Process(target=_bare_worker, args=(checkpoint, threads, s, list(batches), barrier, results),
                         daemon=True) for s in shares]
    for proc in procs:
        proc.start()
    spans = [results.get() for _ in procs]
    for proc in procs:
        proc.join()
    wall = max(s[1] for s in spans) - min(s[0] for s in spans)
    return {"audio_seconds": audio_s, "wall_seconds": wall, "x_realtime": audio_s / wall,
            "batch_size": [s[2] for s in spans], "batch_trials_s": spans[0][3],
            "cpu_seconds": round(sum(s[4] for s in spans), 1)}


def bare_halves(files: list[Path], checkpoint: str | None, replicas: int, threads: int, batches: list[int],
                between) -> tuple[dict, Any]:
    """The bare model on every other file before ``between()`` runs and on the rest after it, so
    that a load drift on the shared machine hits both sides alike; the halves add up."""
    first = bare_throughput(files[0::2], checkpoint, replicas, threads, batches)
    print(f"bare, first half: {first['x_realtime']:.2f}x RT, batch {first['batch_size']} "
          f"(trials {first['batch_trials_s']}); {_load()}", flush=True)
    middle = between()
    second = bare_throughput(files[1::2], checkpoint, replicas, threads, batches) if len(files) > 1 else None
    halves = [h for h in (first, second) if h]
    audio_s, wall = sum(h["audio_seconds"] for h in halves), sum(h["wall_seconds"] for h in halves)
    return {"audio_seconds": audio_s, "wall_seconds": wall, "x_realtime": audio_s / wall,
            "batch_size": [b for h in halves for b in h["batch_size"]],
            "batch_trials_s": [h["batch_trials_s"] for h in halves],
            "halves_x_realtime": [round(h["x_realtime"], 3) for h in halves],
            "cpu_seconds": round(sum(h["cpu_seconds"] for h in halves), 1)}, middle


def _first_output(out: Path, t0: float, found: list[float], stop: threading.Event) -> None:
    """Seconds from t0 until the first enhanced file exists below ``out`` (not the manifest)."""
    while not stop.is_set():
        for _dirpath, dirnames, filenames in os.walk(out):
            dirnames[:] = [d for d in dirnames if not d.startswith("_")]
            if any(f.endswith((".wav", ".flac")) and not f.startswith(".") for f in filenames):
                found.append(time.time() - t0)
                return
        stop.wait(0.1)


class CpuMonitor:
    """CPU seconds of this process and all its descendants (Ray's raylet, GCS and workers when
    Ray was started here), read from /proc every ``every`` s; each interval's CPU is attributed to
    the process's title at that moment (a Ray worker's title names the task it runs), so the
    total splits by stage. Processes that end lose at most their last interval."""

    def __init__(self, every: float = 2.0) -> None:
        self.every, self.tick = every, os.sysconf("SC_CLK_TCK")
        self.last: dict[int, float] = {}
        self.by_title: dict[str, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._sample(baseline=True)
        self._thread.start()

    def _sample(self, baseline: bool = False) -> None:
        parents, cpu = {}, {}
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
                fields = stat[stat.rindex(")") + 2:].split()
                parents[int(entry)] = int(fields[1])
                cpu[int(entry)] = (int(fields[11]) + int(fields[12])) / self.tick
            except (OSError, ValueError):
                continue
        mine, todo = set(), [os.getpid()]
        while todo:
            pid = todo.pop()
            mine.add(pid)
            todo += [c for c, parent in parents.items() if parent == pid and c not in mine]
        for pid in mine:
            if pid not in cpu:
                continue
            before = self.last.get(pid, cpu[pid] if baseline else 0.0)
            self.last[pid] = cpu[pid]
            if baseline or cpu[pid] <= before:
                continue
            title = self._title(pid)
            self.by_title[title] = self.by_title.get(title, 0.0) + cpu[pid] - before

    @staticmethod
    def _title(pid: int) -> str:
        if pid == os.getpid():
            return "driver (this process)"
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_text().split("\0")[0]
        except OSError:
            return "?"
        if cmd.startswith("ray::"):
            cmd = cmd.split("(", 1)[-1] if "MapBatches(" in cmd else cmd
            return "ray::" + cmd.removeprefix("ray::").removeprefix("MapBatches(").split(")")[0]
        return Path(cmd).name or "?"

    def _loop(self) -> None:
        while not self._stop.wait(self.every):
            self._sample()

    def stop(self) -> dict[str, float]:
        self._stop.set()
        self._thread.join()
        self._sample()
        return {k: round(v, 1) for k, v in sorted(self.by_title.items(), key=lambda kv: -kv[1])}


def job_throughput(folder: Path, out: Path, checkpoint: str | None, replicas: int, threads: int,
                   overrides: list[str] = ()) -> dict:
    import ray

    from jobs.config import load_config
    from jobs.pipeline import run_job

    ray.init(num_cpus=os.cpu_count(), include_dashboard=False, logging_level="WARNING", log_to_driver=False)
    try:
        settings = [f"input.uri={folder}/manifest.csv", f"output.uri={out}",
                    f"compute.min_replicas={replicas}", f"compute.max_replicas={replicas}",
                    f"compute.cpus_per_replica={threads}", f"model.enhance.num_threads={threads}",
                    "ray.progress_bars=false", "job.id=benchmark", *overrides]
        if checkpoint:
            settings.append(f"model.checkpoint={checkpoint}")
        cfg = load_config(str(ROOT / "configs" / "local.yaml"), settings)
        found: list[float] = []
        stop = threading.Event()
        watcher = threading.Thread(target=_first_output, args=(out, time.time(), found, stop), daemon=True)
        watcher.start()
        monitor = CpuMonitor()
        result = run_job(cfg, echo=lambda *_: None)
        cpu = monitor.stop()
        stop.set()
    finally:
        ray.shutdown()
    s = result.summary
    audio_s = s["hours_in"] * 3600
    assert s["counts"]["error"] == 0, s["errors_by_type"]
    c = cfg.compute
    return {"audio_seconds": audio_s, "wall_seconds": s["wall_seconds"], "x_realtime": audio_s / s["wall_seconds"],
            "first_output_s": found[0] if found else None,
            "cpu_seconds": round(sum(cpu.values()), 1), "cpu_by_process": cpu,
            "settings": {"files_per_model_batch": c.files_per_model_batch, "files_per_read_task": c.files_per_read_task,
                         "files_per_write_task": c.files_per_write_task, "read_cpus": c.read_cpus,
                         "write_cpus": c.write_cpus, "batch_size": cfg.model.enhance.batch_size,
                         "measures": cfg.measures.enabled, "dnsmos": bool(cfg.dnsmos.model)}}


def _load() -> str:
    try:
        return "load average " + " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "load average unknown"


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--files", type=int, default=None, help="default 8 (or the --set's)")
    p.add_argument("--seconds", type=float, default=None, help="speech-in-noise files of this length (+-10 %%)")
    p.add_argument("--set", choices=sorted(SETS), default=None, help="short: 2000 x 2 s; long: 500 x 15 s")
    p.add_argument("--replicas", type=int, default=1)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--bare-batches", default="1,2,4,8", help="batch sizes the bare model tries; the best is kept")
    p.add_argument("--job", action="append", default=[], metavar="KEY=VALUE",
                   help="a job config override (repeatable), e.g. compute.files_per_model_batch=16")
    p.add_argument("--checkpoint", default=None, help="default: shipped weights, else the parity fixture")
    p.add_argument("--json", default=None, help="also write the JSON result to this file")
    p.add_argument("--data", default=str(DATA), help="the folder with speech_librispeech_samples and noise_recorded")
    args = p.parse_args()
    files, seconds = SETS[args.set] if args.set else (8, None)
    files = args.files or files
    seconds = args.seconds if args.seconds is not None else seconds
    checkpoint = args.checkpoint or default_checkpoint()
    batches = [int(b) for b in args.bare_batches.split(",")]
    load_at_start = _load()
    print(f"{files} files, {'demo clips' if seconds is None else f'{seconds:g} s'}; {load_at_start}", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        folder, out = Path(tmp) / "in", Path(tmp) / "out"
        folder.mkdir()
        names = (make_files(folder, files) if seconds is None
                 else make_speech_files(folder, files, seconds, data=Path(args.data)))
        bare, job = bare_halves([folder / n for n in names], checkpoint, args.replicas, args.threads, batches,
                                lambda: job_throughput(folder, out, checkpoint, args.replicas, args.threads, args.job))
    load_at_end = _load()
    ratio = job["x_realtime"] / bare["x_realtime"]
    overhead_ms = 1000 * (job["wall_seconds"] - bare["wall_seconds"]) / files
    print(f"\n{'':12}{'audio s':>10}{'wall s':>10}{'x realtime':>12}")
    for name, r in (("bare model", bare), ("ray job", job)):
        print(f"{name:12}{r['audio_seconds']:10.1f}{r['wall_seconds']:10.1f}{r['x_realtime']:12.3f}")
    print(f"{'ratio':12}{'':20}{ratio:12.3f}")
    cpu_overhead_ms = 1000 * (job["cpu_seconds"] - bare["cpu_seconds"]) / files
    print(f"CPU seconds: bare {bare['cpu_seconds']}, job {job['cpu_seconds']} "
          f"({cpu_overhead_ms:.1f} ms more per file): {job['cpu_by_process']}")
    print(f"per-file overhead {overhead_ms:.1f} ms; job's first output after "
          f"{job['first_output_s'] if job['first_output_s'] is None else round(job['first_output_s'], 1)} s; "
          f"bare batch size {bare['batch_size']}; job settings {job['settings']}")
    print(f"{load_at_start} at start, {load_at_end} at the end")
    record = {"files": files, "seconds": seconds, "replicas": args.replicas, "threads": args.threads,
              "checkpoint": checkpoint or "default", "bare": bare, "job": job, "ratio": round(ratio, 4),
              "overhead_ms_per_file": round(overhead_ms, 2),
              "cpu_overhead_ms_per_file": round(cpu_overhead_ms, 2),
              "load_start": load_at_start, "load_end": load_at_end}
    print(json.dumps(record))
    if args.json:
        Path(args.json).write_text(json.dumps(record, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
