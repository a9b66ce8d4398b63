"""Start-up cost: `frcrn enhance` on one 3 s file, and a job's time to its first output.

    python benchmarks/startup.py                          # everything, 5 repeats
    python benchmarks/startup.py --repeats 9 --skip-job   # the enhance figures only
    python benchmarks/startup.py --code /path/to/checkout # measure another checkout's code (before/after)
    python benchmarks/startup.py --threads 1              # pass --num-threads 1 (busy machine)

Every figure comes from real commands in fresh processes (`--repeats` of each; medians printed):

1. **enhance, end to end**: ``python -m frcrn.cli enhance one.wav -o OUT -q`` on the first 3 s of
   ``jobs/demo/audio/demo_01.wav`` (16 kHz, PCM16), a fresh OUT each time; wall time and the
   child's CPU time (user + sys, from ``wait4``). Beside it, ``python -c pass`` and
   ``python -c "import torch"``: the interpreter's and torch's share.
2. **imports**: one ``python -X importtime`` run of the same command, self time summed per
   top-level package (top 12), and which heavy packages the command loaded at all.
3. **breakdown**: a fresh process runs the command's steps one by one, in the order
   ``frcrn.cli.enhance`` does them, and times each: imports (each where the command first needs
   them), config (argument parsing and the checked EnhanceConfig), input resolution (listing,
   output names, existing outputs), the
   checkpoint (read + sha256, safetensors parse, model build, load_state_dict, Enhancer), audio
   read + decode, the first model call (the forward pass plus first-call work: fused weights,
   oneDNN primitive creation), encode + write, then a second model call on the same audio (the
   steady forward; first minus second = warm-up).
4. **job**: ``python -m jobs run configs/local.yaml`` on a folder holding that one file
   (``input.uri=DIR output.uri=OUT``), run from the measured checkout (its own config); the job's console lines are
   time-stamped as they arrive, and OUT is polled every 20 ms for the first enhanced file
   (``*.wav`` outside ``_manifest``). Printed: launch -> first console line, -> "recordings to
   process" (the driver's work before Ray), -> first output, -> exit.
5. **Ray start**: in a fresh process, ``import ray`` and ``ray.init`` as ``jobs.execution.init_ray``
   calls it on a laptop, once with Ray's default (dashboard on, when ``ray[default]`` is installed)
   and once with ``include_dashboard=False`` (the job's default now, ``ray.dashboard: false``),
   each followed by ``ray.shutdown``.

Wall times on a shared machine are noisy; CPU time is the steadier figure (but torch's second
intra-op thread spin-waits when the cores are busy, which is CPU time too: compare with --threads 1).
``--json FILE`` writes all samples.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("torch", "pandas", "pyarrow", "fsspec", "numpy", "soundfile", "soxr", "yaml", "tqdm", "safetensors",
         "ray", "lhotse", "datasets", "matplotlib", "onnxruntime", "scipy", "s3fs", "silero_vad", "pyloudnorm",
         "pesq", "pystoi")


# --------------------------------------------------------------------------- helpers


def run_child(argv: list[str], env: dict[str, str], cwd: str | Path) -> tuple[float, float, str, str]:
    """(wall s, CPU s of the child: user + sys, stdout, stderr) of one fresh process. ``cwd``: not a
    checkout (``python -c``/``-m`` put the working directory first on sys.path, before PYTHONPATH)."""
    import resource

    def children_cpu() -> float:
        usage = resource.getrusage(resource.RUSAGE_CHILDREN)
        return usage.ru_utime + usage.ru_stime

    cpu0, t0 = children_cpu(), time.perf_counter()
    proc = subprocess.Popen(argv, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    out, err = proc.communicate()
    wall, cpu = time.perf_counter() - t0, children_cpu() - cpu0  # one child at a time: the delta is this one
    if proc.returncode != 0:
        raise RuntimeError(f"{argv} exited with {proc.returncode}:\n{err[-2000:]}")
    return wall, cpu, out, err


def med(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def spread(values: list[float]) -> str:
    return f"{med(values):6.2f} s  (min {min(values):.2f}, max {max(values):.2f})" if values else "-"


def load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f} {five:.2f} {fifteen:.2f}"


def make_input(folder: Path) -> Path:
    """The first 3 s of the demo clip, 16 kHz mono PCM16."""
    import soundfile as sf

    data, rate = sf.read(ROOT / "jobs" / "demo" / "audio" / "demo_01.wav", dtype="int16")
    assert rate == 16000, rate
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "one.wav"
    sf.write(path, data[: 3 * rate], rate, subtype="PCM_16")
    return path


# --------------------------------------------------------------------------- 3. breakdown (child side)


class Phases:
    def __init__(self) -> None:
        self.items: list[tuple[str, float, float]] = []

    def __call__(self, name: str):
        phases = self

        class _Phase:
            def __enter__(self):
                self.t, self.c = time.perf_counter(), time.process_time()

            def __exit__(self, *exc):
                phases.items.append((name, time.perf_counter() - self.t, time.process_time() - self.c))

        return _Phase()


def breakdown_child(wav: str, out: str, threads: str | None) -> None:
    """The steps of `frcrn enhance WAV -o OUT -q`, timed one by one (frcrn.cli.enhance._process)."""
    t = Phases()
    with t("imports: frcrn.cli"):
        import frcrn.cli as cli
        import frcrn.cli.enhance as ce
    with t("config: argument parsing, checked EnhanceConfig"):
        from jobs.config import InputConfig, OutputConfig

        argv = ["enhance", wav, "-o", out, "-q"] + (["--num-threads", threads] if threads else [])
        args = cli._parser().parse_args(argv)
        config = ce.enhance_config(args)
        options = ce._storage_options(args)
        output = OutputConfig(uri=args.output, format="wav", storage_options=options)
        spec = InputConfig(uri=args.inputs[0], storage_options=options)
    with t("imports: the input side (jobs.inputs: pandas, pyarrow, fsspec)"):
        from jobs.inputs import resolve_inputs
        from jobs.paths import parse_location
        from jobs.storage import check_output_bucket, filesystem
    with t("inputs: resolve, name outputs, list existing outputs"):
        out_loc = parse_location(output.uri)
        out_fs = filesystem(out_loc.protocol, options)
        check_output_bucket(out_loc, out_fs, options, key="-o")
        inputs = resolve_inputs(spec, output, uris=args.inputs)
        recordings = inputs.recordings
        ce._existing(out_fs, out_loc.path)
    with t("imports: the model side (jobs.stages, soundfile, soxr)"):
        import pyarrow as pa

        from jobs.execution import segments_array
        from jobs.stages import Enhance, StageSettings, read_decode, write_outputs
    with t("imports: torch (frcrn.model, frcrn.enhance)"):
        import torch

        from frcrn.enhance import Enhancer
        from frcrn.model import checkpoint as ck
    with t("checkpoint: read + sha256"):
        source = str(ck.default_checkpoint())
        data = ck.read_bytes(source)
        digest = ck.hashlib.sha256(data).hexdigest()
    with t("checkpoint: safetensors parse"):
        state, header = ck._load_safetensors(data, source)
        model_config = ck.ModelConfig.from_dict(header.get("config", {}))
    with t("model build (FRCRN of the checkpoint's shape)"):
        build = getattr(ck, "_unloaded_model", ck.FRCRN)  # the code before the change: FRCRN(config)
        model = build(model_config)
    with t("load_state_dict (+ shape check)"):
        ck._check_native(state, model, source)
        model.load_state_dict(state, strict=True)
        model.eval()
    with t("Enhancer (threads, device)"):
        info = ck.CheckpointInfo(source=source, sha256=digest, format="frcrn", config=model_config,
                                 model_id=header.get("model_id", "frcrn"), num_keys=len(state))
        stage = Enhance(enhancer=Enhancer(model, config, info))
    rec = recordings.iloc[0]
    settings = StageSettings(job_id="frcrn-enhance", input_protocol=parse_location(rec["input_uri"]).protocol,
                             output_protocol=out_loc.protocol, output_parts_dir="", input_storage_options=options,
                             output_storage_options=options, output_format="wav", measures=False)
    batch = pa.table({"input_uri": [rec["input_uri"]], "output_uri": [rec["output_uri"]], "member": [rec["member"]]})
    batch = batch.append_column("segments", segments_array(recordings["segments"].iloc[0:1]))
    with t("audio: read + decode"):
        decoded = read_decode(batch, settings)
    with t("first model call (forward + first-call work)"):
        enhanced = stage(decoded)
    with t("audio: encode + write"):
        rows = write_outputs(enhanced, settings)
    assert rows[0]["status"] == "ok", rows
    with t("second model call (steady forward, same audio)"):
        stage(decoded)
    print(json.dumps({"phases": t.items, "threads": torch.get_num_threads()}))


# --------------------------------------------------------------------------- 1-3 (parent side)


def enhance_figures(env: dict[str, str], wav: Path, work: Path, repeats: int, threads: str | None,
                    results: dict) -> None:
    py = sys.executable
    extra = ["--num-threads", threads] if threads else []

    def command(out: Path) -> list[str]:
        return [py, "-m", "frcrn.cli", "enhance", str(wav), "-o", str(out), "-q", *extra]

    samples: dict[str, dict[str, list[float]]] = defaultdict(lambda: {"wall": [], "cpu": []})
    for i in range(repeats):  # interleaved, so load changes hit every variant alike
        for name, argv in (("python -c pass", [py, "-c", "pass"]),
                           ("python -c 'import torch'", [py, "-c", "import torch"]),
                           ("frcrn enhance one 3 s file", command(work / f"e2e-{i}"))):
            wall, cpu, _, _ = run_child(argv, env, work)
            samples[name]["wall"].append(wall)
            samples[name]["cpu"].append(cpu)
        out = work / f"e2e-{i}" / "one.wav"
        assert out.exists(), out
    print(f"\n## 1. enhance, end to end ({repeats} fresh processes each, {load()})")
    print(f"{'':28s} {'wall: median (min, max)':36s} CPU (user+sys): median (min, max)")
    for name, s in samples.items():
        print(f"{name:28s} {spread(s['wall']):36s} {spread(s['cpu'])}")
    results["end_to_end"] = samples

    # 2. imports
    out = work / "importtime"
    proc = subprocess.run([py, "-X", "importtime", *command(out)[1:]], env=env, cwd=work, capture_output=True,
                          text=True)
    per_package: dict[str, float] = defaultdict(float)
    for line in proc.stderr.splitlines():
        m = re.match(r"import time:\s+(\d+) \|\s+\d+ \|(\s*)(\S+)", line)
        if m:
            per_package[m.group(3).split(".")[0]] += int(m.group(1)) / 1e6
    total = sum(per_package.values())
    print(f"\n## 2. imports (python -X importtime, self time per top-level package; total {total:.2f} s)")
    for name, s in sorted(per_package.items(), key=lambda kv: -kv[1])[:12]:
        print(f"  {name:24s} {s:6.3f} s")
    loaded = [h for h in HEAVY if h in per_package]
    print(f"  loaded: {', '.join(loaded)}")
    print(f"  not loaded: {', '.join(h for h in HEAVY if h not in per_package)}")
    results["imports"] = dict(per_package)

    # 3. breakdown
    phases: dict[str, dict[str, list[float]]] = defaultdict(lambda: {"wall": [], "cpu": []})
    threads_used = None
    for i in range(repeats):
        argv = [py, __file__, "--child-breakdown", str(wav), str(work / f"bd-{i}")] + (
            ["--threads", threads] if threads else [])
        _, _, stdout, _ = run_child(argv, env, work)
        report = json.loads(stdout.strip().splitlines()[-1])
        threads_used = report["threads"]
        for name, wall, cpu in report["phases"]:
            phases[name]["wall"].append(wall)
            phases[name]["cpu"].append(cpu)
    print(f"\n## 3. breakdown (median of {repeats} fresh processes; torch threads {threads_used}; {load()})")
    print(f"  {'step':88s} {'wall':>7s} {'CPU':>7s}")
    for name, s in phases.items():
        print(f"  {name:88s} {med(s['wall']):7.3f} {med(s['cpu']):7.3f}")
    first, second = phases["first model call (forward + first-call work)"], \
        phases["second model call (steady forward, same audio)"]
    print(f"  {'-> first-call overhead (first minus second call)':88s} "
          f"{med(first['wall']) - med(second['wall']):7.3f} {med(first['cpu']) - med(second['cpu']):7.3f}")
    steps = [n for n in phases if not n.startswith("second")]
    print(f"  {'sum of the command steps (not the interpreter start, not the second call)':88s} "
          f"{sum(med(phases[n]['wall']) for n in steps):7.3f} {sum(med(phases[n]['cpu']) for n in steps):7.3f}")
    results["breakdown"] = phases


# --------------------------------------------------------------------------- 4-5. job, Ray


def _first_output(folder: Path) -> bool:
    if not folder.exists():
        return False
    for _dirpath, dirnames, filenames in os.walk(folder):
        dirnames[:] = [d for d in dirnames if d != "_manifest"]
        if any(f.endswith(".wav") and not f.startswith(".") for f in filenames):
            return True
    return False


def job_once(env: dict[str, str], code: Path, input_dir: Path, out: Path, threads: str | None) -> dict[str, float]:
    argv = [sys.executable, "-m", "jobs", "run", "configs/local.yaml", f"input.uri={input_dir}", f"output.uri={out}"]
    if threads:
        argv.append(f"model.enhance.num_threads={threads}")
    lines: list[tuple[float, str]] = []
    t0 = time.perf_counter()
    proc = subprocess.Popen(argv, env=env, cwd=code, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)

    def reader() -> None:
        for line in proc.stdout:  # type: ignore[union-attr]
            lines.append((time.perf_counter() - t0, line.rstrip()))

    thread = threading.Thread(target=reader, daemon=True)
    thread.start()
    first = None
    while proc.poll() is None:
        if first is None and _first_output(out):
            first = time.perf_counter() - t0
        time.sleep(0.02)
    end = time.perf_counter() - t0
    thread.join()
    if proc.returncode != 0:
        raise RuntimeError("job failed:\n" + "\n".join(text for _, text in lines))
    if first is None and _first_output(out):
        first = end
    first_line = lines[0][0] if lines else float("nan")
    planned = next((at for at, text in lines if "recordings to process" in text), float("nan"))
    return {"first console line": first_line, "driver ready (recordings to process)": planned,
            "first output file": first if first is not None else float("nan"), "exit": end}


RAY_CHILD = """
import json, logging, sys, time
t0 = time.perf_counter()
import ray
t1 = time.perf_counter()
kwargs = dict(address=None, logging_level=logging.WARNING)  # as jobs.execution.init_ray on a laptop
kwargs.update(json.loads(sys.argv[1]))
ray.init(**kwargs)
t2 = time.perf_counter()
ray.shutdown()
t3 = time.perf_counter()
print(json.dumps({"import ray": t1 - t0, "ray.init": t2 - t1, "ray.shutdown": t3 - t2}))
"""


def job_figures(env: dict[str, str], code: Path, wav: Path, work: Path, repeats: int, threads: str | None,
                results: dict) -> None:
    input_dir = work / "job-in"
    input_dir.mkdir()
    shutil.copy(wav, input_dir / wav.name)
    samples: dict[str, list[float]] = defaultdict(list)
    ray_samples: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for i in range(repeats):
        for name, value in job_once(env, code, input_dir, work / f"job-out-{i}", threads).items():
            samples[name].append(value)
        for variant, kwargs in (("dashboard (Ray's default)", {}),
                                ("include_dashboard=False", {"include_dashboard": False})):
            _, _, stdout, _ = run_child([sys.executable, "-c", RAY_CHILD, json.dumps(kwargs)], env, work)
            for name, value in json.loads(stdout.strip().splitlines()[-1]).items():
                ray_samples[variant][name].append(value)
    print(f"\n## 4. job: time from launch (median of {repeats}; {load()})")
    for name, values in samples.items():
        print(f"  {name:40s} {spread(values)}")
    print(f"\n## 5. Ray start in a fresh process (median of {repeats})")
    for variant, figures in ray_samples.items():
        print(f"  {variant:26s} " + "   ".join(f"{n} {med(v):.2f} s" for n, v in figures.items()))
    results["job"] = samples
    results["ray"] = ray_samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--code", type=Path, default=ROOT, help="checkout whose frcrn/ and jobs/ are measured")
    parser.add_argument("--threads", help="pass --num-threads N (model.enhance.num_threads for the job)")
    parser.add_argument("--skip-job", action="store_true", help="enhance figures only (no Ray)")
    parser.add_argument("--skip-enhance", action="store_true", help="job and Ray figures only")
    parser.add_argument("--json", type=Path, help="write every sample here")
    parser.add_argument("--env", action="append", default=[], metavar="KEY=VALUE",
                        help="set in every child's environment, e.g. OMP_WAIT_POLICY=PASSIVE (repeatable)")
    parser.add_argument("--child-breakdown", nargs=2, metavar=("WAV", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child_breakdown:
        breakdown_child(*args.child_breakdown, args.threads)
        return
    code = args.code.resolve()
    env = {**os.environ, **dict(e.split("=", 1) for e in args.env), "PYTHONPATH": str(code)}
    results: dict = {"code": str(code), "threads": args.threads, "env": args.env}
    with tempfile.TemporaryDirectory(prefix="frcrn-startup-") as tmp:
        work = Path(tmp)
        found = subprocess.run([sys.executable, "-c", "import frcrn, jobs; print(frcrn.__file__, jobs.__file__)"],
                               env=env, cwd=work, capture_output=True, text=True, check=True).stdout.split()
        assert all(Path(f).resolve().is_relative_to(code) for f in found), f"{found} is not the code in {code}"
        print(f"# start-up: code {code}, python {sys.version.split()[0]}, {os.cpu_count()} CPUs, {load()}"
              + (f", env {' '.join(args.env)}" if args.env else ""))
        wav = make_input(work / "in")
        if not args.skip_enhance:
            enhance_figures(env, wav, work, args.repeats, args.threads, results)
        if not args.skip_job:
            job_figures(env, code, wav, work, args.repeats, args.threads, results)
    print(f"\n# done, {load()}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
