"""The job's driver alone at 10k / 100k / 1M inputs: wall time and peak RSS per phase, and a 10M
extrapolation. No Ray, no model, no audio: every phase here runs on the driver (or, for the
record writes, in a write task) and none of them reads an audio file.

    python benchmarks/driver_scale.py [--sizes 10000,100000,1000000] [--segmented 100000]
                                      [--json out.json] [--workdir DIR] [--keep]

Each case runs in a fresh child process (``--child``), after a separate set-up process wrote its
files, so one case's memory never shows in another's. Cases:

* ``csv N``: a CSV manifest of N relative paths (``spk123/utt00001234.wav`` plus ``speaker`` and
  ``text`` columns; 0.1 % of the lines escape the root (``../``), 0.2 % repeat the line before),
  through every phase below.
* ``nemo N``: the same lines as a NeMo JSON-lines manifest (``audio_filepath``, ``duration``,
  ``text``), read and resolved only (the later phases do not depend on the format).
* ``nemo-seg N`` (``--segmented``): NeMo lines of 3 segments per recording (``offset`` 0/10/20 s,
  ``duration`` 10 s), through every phase.

Phases, in the driver's order (``jobs.pipeline``):

1. ``read``: the reader alone (``frcrn.corpus.readers.read_manifest``), for the breakdown; thrown away.
2. ``resolve``: ``jobs.pipeline._resolve``: ``resolve_inputs`` (read, resolve and check every
   entry, name the outputs, group recordings) and the counts of the run's first line.
3. ``load_state``: ``jobs.results.load_state`` on the previous ``results.parquet`` (same N rows:
   half the recordings ``ok``, 5 % ``error``, the rest without a record). Synthetic, written by
   the set-up process as ``jobs.results.consolidate`` writes it (SCHEMA + ``manifest_format`` +
   the carried columns).
4. ``list_outputs``: ``jobs.pipeline._list_outputs`` on a SYNTHETIC filesystem whose ``find``
   builds, from strings, the ``{path: info}`` dict s3fs returns for the output prefix (every
   ``ok`` recording's output except 2 % deleted; 1 % with another size): the driver's own cost.
   A real object store adds its listing requests (S3: 1,000 keys per LIST, sequential).
   ``list_outputs_s3fs``, informational (not in the totals): the same with s3fs's fuller info
   dicts, i.e. the memory the listing takes on S3.
5. ``plan_resume``: ``jobs.pipeline.plan_resume`` + the recordings count ``_plan`` prints;
   ``remeasure_check``: ``jobs.remeasure.needs_measures`` on the kept records, as ``_run_leased``
   does (the previous run filled the measures, so none is measured again).
6. ``write_parts``: the records of every recording to do, written as the write tasks write them
   (``new_row`` + the fields an ``ok`` row fills, ``write_part`` per batch of 16 recordings,
   ``compute.files_per_write_task``) to a local folder. Worker-side work, run here serially:
   not part of the driver's total or peak.
7. ``consolidate``: ``jobs.pipeline._consolidate``: ``load_state`` (previous manifest + every
   part) + ``consolidate`` + ``write_manifest`` + ``delete_parts``, local filesystem.
8. ``summary``: ``final.to_pandas()`` + ``build_summary`` + ``format_summary``, as ``_run_leased``.

Memory: per phase, the process's peak RSS while the phase ran (VmHWM from /proc/self/status,
reset before each phase by writing 5 to /proc/self/clear_refs; where that is not allowed,
ru_maxrss, which only grows, and the table says so). "driver peak" is the largest of the driver
phases, i.e. everything the driver holds at once, interpreter and imports included.

Extrapolation to 10M: each phase's time and its peak above the import baseline grow by the same
factor from 1M to 10M as they did from 100k to 1M (a power law through the two points).
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SPEAKERS = 500
SHA = "ab" * 32
JOB = "scale-run"
OK_BYTES = 128_044
DRIVER_PHASES = ("resolve", "load_state", "list_outputs", "plan_resume", "remeasure_check", "consolidate", "summary")
PHASES = ("read", *DRIVER_PHASES[:3], "list_outputs_s3fs", *DRIVER_PHASES[3:5], "write_parts", *DRIVER_PHASES[5:])
MEASURES = ("level_in_dbfs", "level_out_dbfs", "clip_fraction_in", "clip_fraction_out", "speech_ratio_in",
            "speech_ratio_out", "snr_db_in", "snr_db_out", "loudness_lufs_in", "loudness_lufs_out",
            "bandwidth_hz_in", "bandwidth_hz_out", "output_duration_s")
"""Filled on every ``ok`` record, as a run with the default ``measures.enabled`` leaves them."""


# --------------------------------------------------------------------------- the synthetic corpus


def rel(r: int) -> str:
    return f"spk{r % SPEAKERS:03d}/utt{r:08d}.wav"


def lines(n: int, segmented: bool) -> list[tuple[str, int | None, float | None]]:
    """(entry, recording index or None when refused, segment offset) per manifest line."""
    out = []
    for i in range(n):
        if segmented:
            out.append((rel(i // 3), i // 3, 10.0 * (i % 3)))
        elif i % 1000 == 999:
            out.append((f"../outside/utt{i:08d}.wav", None, None))
        elif i % 500 == 250:
            out.append((rel(i - 1), i - 1, None))
        else:
            out.append((rel(i), i, None))
    return out


def status_of(r: int) -> str:
    """What the previous run recorded for recording r: half ok, 5 % error, the rest nothing."""
    return "ok" if r % 2 == 0 else ("error" if r % 20 == 1 else "")


def output_exists(r: int) -> bool:
    return status_of(r) == "ok" and r % 50 != 0


def output_size(r: int) -> int:
    return 999 if r % 97 == 2 else OK_BYTES


def write_inputs(folder: Path, n: int, segmented: bool) -> None:
    rows = lines(n, segmented)
    with open(folder / "manifest.csv", "w") as f:
        f.write("audio_uri,speaker,text\n")
        for i, (entry, _, _) in enumerate(rows):
            f.write(f"{entry},spk{i % SPEAKERS:03d},the words of line {i}\n")
    with open(folder / "manifest.jsonl", "w") as f:
        for i, (entry, _, offset) in enumerate(rows):
            line = {"audio_filepath": entry, "duration": 10.0 if segmented else 4.2, "text": f"the words of line {i}"}
            if offset is not None:
                line["offset"] = offset
            f.write(json.dumps(line) + "\n")


def write_previous_manifest(path: Path, in_dir: Path, out_dir: Path, n: int, segmented: bool, fmt: str) -> None:
    """The results.parquet a previous run left (see the module doc), one row per manifest line."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from jobs.results import SCHEMA

    rows = lines(n, segmented)
    status, uris, outs, errs, msgs = [], [], [], [], []
    for entry, r, _ in rows:
        if r is None:
            uris.append(entry), outs.append(""), status.append("error"), errs.append("unsafe_path")
            msgs.append(f"refused input {entry!r}: outside the input root")
            continue
        s = status_of(r) or "error"
        uris.append(f"{in_dir}/{rel(r)}"), outs.append(f"{out_dir}/{rel(r)}"), status.append(s)
        errs.append("" if s == "ok" else ("decode_error" if status_of(r) else "job_failed"))
        msgs.append("" if s == "ok" else "cannot decode")
    recs = [r if r is not None else -1 for _, r, _ in rows]
    cols = {
        "input_uri": pa.array(uris), "output_uri": pa.array(outs),
        "segment_offset_s": pa.array([o for _, _, o in rows], pa.float64()),
        "segment_duration_s": pa.array([10.0 if segmented else None] * n, pa.float64()),
        "status": pa.array(status), "error_type": pa.array(errs), "error_message": pa.array(msgs),
        "input_format": pa.array(["wav"] * n), "input_sample_rate": pa.array([16000] * n, pa.int32()),
        "input_duration_s": pa.array([30.0 if segmented else 4.2] * n),
        "output_bytes": pa.array([output_size(r) if s == "ok" else None for r, s in zip(recs, status)], pa.int64()),
        "processing_s": pa.array([0.5] * n),
        **{m: pa.array([-23.0 if s == "ok" else None for s in status], pa.float64()) for m in MEASURES},
        "checkpoint_sha256": pa.array([SHA if s == "ok" else "" for s in status]),
        "dry": pa.array([0.0] * n), "job_id": pa.array(["previous"] * n),
        "finished_at": pa.array([1.7e12] * n).cast(pa.int64()).cast(SCHEMA.field("finished_at").type),
    }
    table = pa.table({f.name: cols.get(f.name, pa.nulls(n, f.type)).cast(f.type) for f in SCHEMA})
    table = table.append_column("manifest_format", pa.array([fmt] * n))
    table = table.append_column("speaker" if fmt == "csv" else "duration",
                                pa.array([f"spk{i % SPEAKERS:03d}" for i in range(n)]) if fmt == "csv"
                                else pa.array([10.0 if segmented else 4.2] * n))
    table = table.append_column("text", pa.array([f"the words of line {i}" for i in range(n)]))
    pq.write_table(table, path, compression="zstd")


class ListingFS:
    """Stands in for the output prefix's filesystem in ``_list_outputs``: ``find`` builds the
    ``{path: info}`` dict, from strings; no storage requests. ``s3fs_info``: each info dict as
    s3fs fills it (Key, LastModified, ETag, Size, StorageClass, ...), else name, size and type."""

    def __init__(self, out_dir: Path, recordings: int, s3fs_info: bool = False) -> None:
        self.out_dir, self.recordings, self.s3fs_info = str(out_dir), recordings, s3fs_info

    def invalidate_cache(self) -> None:
        pass

    def exists(self, path: str) -> bool:
        return True

    def find(self, path: str, detail: bool = False) -> dict:
        found = {}
        for r in range(self.recordings):
            if output_exists(r):
                key = f"{self.out_dir}/{rel(r)}"
                found[key] = {"name": key, "size": output_size(r), "type": "file"}
                if self.s3fs_info:
                    found[key].update(Key=key, LastModified=datetime(2026, 1, 1, tzinfo=timezone.utc),
                                      ETag=f'"{r:032x}"', Size=output_size(r), StorageClass="STANDARD")
        for extra in ("_manifest/results.parquet", "_manifest/summary.json", "_manifest/runs/previous.json"):
            key = f"{self.out_dir}/{extra}"
            found[key] = {"name": key, "size": 1000, "type": "file"}
        return found


# --------------------------------------------------------------------------- measuring


def _status(field: str) -> int:
    """A /proc/self/status memory field in bytes."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise KeyError(field)


def _reset_peak() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


class Meter:
    def __init__(self) -> None:
        self.phases: dict[str, dict] = {}
        self.resettable = _reset_peak()

    @contextmanager
    def phase(self, name: str):
        gc.collect()
        _reset_peak()
        t0, c0 = time.perf_counter(), time.process_time()
        yield
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        peak = _status("VmHWM") if self.resettable else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        self.phases[name] = {"s": round(wall, 3), "cpu_s": round(cpu, 3), "peak_mb": round(peak / 2**20, 1),
                             "rss_after_mb": round(_status("VmRSS") / 2**20, 1)}


def _write_parts(todo, fs, parts_dir: str, batch: int = 16) -> int:
    """The records of every recording to do, written as the write tasks do (``jobs.stages.record_rows``)."""
    from jobs.results import new_row, write_part

    n = 0
    uris, outs, segs = list(todo["input_uri"]), list(todo["output_uri"]), list(todo["segments"])
    for start in range(0, len(uris), batch):
        rows, now = [], time.time()
        for u, o, s in zip(uris[start:start + batch], outs[start:start + batch], segs[start:start + batch]):
            for offset, duration in s:
                row = new_row(u, o, JOB)
                row.update(dict.fromkeys(MEASURES, -23.0))
                row.update(status="ok", input_format="wav", input_sample_rate=16000, input_channels=1,
                           input_duration_s=4.2, output_sample_rate=16000, output_duration_s=4.2,
                           output_bytes=OK_BYTES, processing_s=0.4, model_id="frcrn", checkpoint_sha256=SHA,
                           dry=0.0, segment_offset_s=offset, segment_duration_s=duration, finished_at=now)
                rows.append(row)
        write_part(fs, parts_dir, JOB, rows, retries=0)
        n += 1
    return n


def _release(rows: int) -> None:
    """``jobs.tables.release_memory(rows)`` as the driver calls it between its steps (it does
    nothing below ``LARGE_STEP_ROWS``); a garbage collection where the code measured predates it."""
    try:
        from jobs.tables import release_memory
    except ImportError:
        gc.collect()
    else:
        release_memory(rows)


def child(case: str, n: int, work: Path) -> dict:
    """Every phase of one case (see the module doc); returns the figures."""
    import pyarrow as pa

    from frcrn.corpus.readers import read_manifest
    from jobs.config import load_config
    from jobs.pipeline import (
        _consolidate,
        _list_outputs,
        _processed_mask,
        _resolve,
        _Run,
        _stage_settings,
        plan_resume,
    )
    from jobs.remeasure import needs_measures
    from jobs.results import SCHEMA, load_state
    from jobs.summary import build_summary, format_summary

    segmented = case == "nemo-seg"
    manifest = work / "in" / ("manifest.csv" if case == "csv" else "manifest.jsonl")
    out_dir = work / f"out-{case}"
    cfg = load_config(None, [f"input.uri={manifest}", f"output.uri={out_dir}", "job.lease_seconds=0"])
    shutil.rmtree(out_dir, ignore_errors=True)  # the previous run's manifest, as the set-up wrote it
    if case != "nemo":
        (out_dir / "_manifest").mkdir(parents=True)
        shutil.copy(work / f"previous-{case}.parquet", out_dir / "_manifest" / "results.parquet")
    said: list[str] = []
    run = _Run.start(cfg, JOB, said.append, None)
    m = Meter()
    baseline = _status("VmRSS")
    from fsspec.implementations.local import LocalFileSystem

    with m.phase("read"):
        read = read_manifest(LocalFileSystem(), str(manifest))
    del read
    _release(n)  # the driver reads once; what this extra read freed must not count in the next phases
    with m.phase("resolve"):
        inputs = _resolve(run)
    if case == "nemo":
        return {"phases": m.phases, "baseline_mb": round(baseline / 2**20, 1), "said": said,
                "peak_reset": m.resettable}
    with m.phase("load_state"):
        state, _ = load_state(run.out_fs, run.manifest_dir, retries=0)
    with m.phase("list_outputs"):
        existing = _list_outputs(ListingFS(out_dir, n // 3 if segmented else n), run.out_loc.path, run.manifest_dir)
    with m.phase("list_outputs_s3fs"):  # the same listing with s3fs's info dicts: informational
        del existing
        existing = _list_outputs(ListingFS(out_dir, n // 3 if segmented else n, s3fs_info=True),
                                 run.out_loc.path, run.manifest_dir)
    with m.phase("plan_resume"):
        todo, skipped = plan_resume(inputs, state, existing, cfg, SHA)
        recordings = getattr(inputs, "n_recordings", None)  # what _plan prints
        recordings = len(inputs.recordings) if recordings is None else recordings
        said.append(f"to do {len(todo)}, skipped {recordings - len(todo)}")
    del state, existing
    with m.phase("remeasure_check"):  # _run_leased: the kept records lacking this run's measures
        said.append(f"{needs_measures(skipped, _stage_settings(run)).num_rows} kept records to measure again")
    with m.phase("write_parts"):
        said.append(f"{_write_parts(todo, run.out_fs, f'{run.manifest_dir}/_parts')} parts")
    with m.phase("consolidate"):
        final = _consolidate(run, inputs, todo, skipped, None, SCHEMA.empty_table())
    with m.phase("summary"):
        final_df = final.to_pandas()
        summary = build_summary(
            job_id=JOB, final=final_df, processed=_processed_mask(inputs, todo), started_at="", finished_at="",
            wall_seconds=1.0, duplicates=inputs.duplicates, input_uri=cfg.input.uri, sources=inputs.sources,
            formats=inputs.formats, output_uri=run.out_loc.uri, manifest_uri=run.manifest_uri, failure=None,
            config={})
        said.extend(format_summary(summary).splitlines()[1:4])
    assert isinstance(final, pa.Table) and final.num_rows == n, final.num_rows
    return {"phases": m.phases, "baseline_mb": round(baseline / 2**20, 1), "said": said,
            "peak_reset": m.resettable}


def setup(n: int, work: Path, segmented: bool) -> None:
    (work / "in").mkdir(parents=True, exist_ok=True)
    write_inputs(work / "in", n, segmented)
    for case, fmt in ((("nemo-seg", "nemo"),) if segmented else (("csv", "csv"),)):
        write_previous_manifest(work / f"previous-{case}.parquet", work / "in",
                                work / f"out-{case}", n, segmented, fmt)


# --------------------------------------------------------------------------- the report


def machine() -> str:
    with open("/proc/cpuinfo") as f:
        cpu = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")),
                   platform.processor())
    mem = _meminfo("MemTotal")
    import pandas
    import pyarrow

    return (f"{cpu}, {os.cpu_count()} CPUs, {mem / 2**30:.0f} GiB RAM, Python {platform.python_version()}, "
            f"pandas {pandas.__version__}, pyarrow {pyarrow.__version__}, load average "
            + " ".join(f"{x:.1f}" for x in os.getloadavg()))


def _meminfo(field: str) -> int:
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    return 0


def _run_case(case: str, n: int, work: Path) -> dict:
    segmented = case == "nemo-seg"
    folder = work / f"{'seg' if segmented else 'plain'}-{n}"
    if not (folder / "in" / "manifest.csv").exists():
        subprocess.run([sys.executable, __file__, "--setup", str(n), "--workdir", str(folder)]
                       + (["--segmented-setup"] if segmented else []), check=True)
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, __file__, "--child", case, str(n), "--workdir", str(folder)],
                          capture_output=True, text=True)
    if proc.returncode:
        sys.exit(f"{case} {n}: the child failed:\n{proc.stderr}")
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    result.update(case=case, n=n, child_s=round(time.perf_counter() - t0, 1))
    return result


def _fmt_s(x: float | None) -> str:
    return "-" if x is None else (f"{x:.2f}" if x < 10 else f"{x:.0f}" if x >= 100 else f"{x:.1f}")


def report(results: list[dict]) -> None:
    for r in results:
        p = r["phases"]
        driver = [k for k in DRIVER_PHASES if k in p]
        total = sum(p[k]["s"] for k in driver)
        r["driver_cpu_s"] = round(sum(p[k]["cpu_s"] for k in driver), 2)
        peak = max(p[k]["peak_mb"] for k in driver)
        r["driver_total_s"], r["driver_peak_mb"] = round(total, 2), peak
        print(f"\n{r['case']} {r['n']:,} lines  (import baseline {r['baseline_mb']:.0f} MB"
              + ("" if r["peak_reset"] else "; peaks are ru_maxrss, monotonic") + ")")
        for line in r["said"]:
            print(f"    | {line}")
        print(f"  {'phase':<14}{'wall s':>9}{'cpu s':>9}{'peak MB':>10}{'after MB':>10}")
        for k in PHASES:
            if k in p:
                note = {"write_parts": "   (worker side)", "read": "   (breakdown)",
                        "list_outputs_s3fs": "   (informational: list_outputs on S3)"}.get(k, "")
                print(f"  {k:<14}{_fmt_s(p[k]['s']):>9}{_fmt_s(p[k]['cpu_s']):>9}{p[k]['peak_mb']:>10.0f}"
                      f"{p[k]['rss_after_mb']:>10.0f}{note}")
        print(f"  {'driver total':<14}{_fmt_s(total):>9}{_fmt_s(r['driver_cpu_s']):>9}{peak:>10.0f}")
    _growth(results)


def _growth(results: list[dict]) -> None:
    """Time (wall and CPU) and memory per size for the csv case, with the factor between the two
    largest sizes and a power-law estimate one decade further."""
    by_n = {r["n"]: r for r in results if r["case"] == "csv"}
    if len(by_n) < 2:
        return
    sizes = sorted(by_n)
    scale = math.log10(sizes[-1] / sizes[-2])

    def row(label: str, values: list[float], fmt) -> None:
        a, b = values[-2], values[-1]
        f = b / a if a > 0 else float("nan")
        print(f"  {label:<18}" + "".join(f"{fmt(v):>12}" for v in values) + f"{f:>9.1f}{fmt(b * f ** (1 / scale)):>16}")

    print(f"\ncsv case: growth {sizes[-2]:,} -> {sizes[-1]:,} and 10x beyond (power law through the two)")
    print(f"  {'':<18}" + "".join(f"{n:>12,}" for n in sizes) + f"{'factor':>9}{f'{10 * sizes[-1]:,} est':>16}")
    for k in (*DRIVER_PHASES, "write_parts"):
        if all(k in by_n[n]["phases"] for n in sizes):
            row(f"{k} s", [by_n[n]["phases"][k]["s"] for n in sizes], _fmt_s)
    row("driver wall s", [by_n[n]["driver_total_s"] for n in sizes], _fmt_s)
    row("driver cpu s", [by_n[n]["driver_cpu_s"] for n in sizes], _fmt_s)
    row("peak above base MB", [by_n[n]["driver_peak_mb"] - by_n[n]["baseline_mb"] for n in sizes], lambda v: f"{v:.0f}")
    print(f"  {'peak MB':<18}" + "".join(f"{by_n[n]['driver_peak_mb']:>12.0f}" for n in sizes)
          + "   (10x estimate: base + the row above's estimate)")


def _cell(phase: dict | None) -> str:
    return "-" if phase is None else f"{_fmt_s(phase['s'])} / {_fmt_s(phase['cpu_s'])} / {phase['peak_mb']:.0f}"


def compare(before: list[dict], after: list[dict]) -> None:
    """Phase by phase, before and after, for every case both runs have."""
    old = {(r["case"], r["n"]): r for r in before}
    for r in after:
        b = old.get((r["case"], r["n"]))
        if b is None:
            continue
        print(f"\n{r['case']} {r['n']:,}: before | after   (wall s, cpu s, peak MB)")
        for k in (k for k in PHASES if k in b["phases"] or k in r["phases"]):
            print(f"  {k:<18}{_cell(b['phases'].get(k)):>26}   {_cell(r['phases'].get(k)):>26}")
        print(f"  {'driver total':<18}{_fmt_s(b['driver_total_s']) + ' / ' + _fmt_s(b['driver_cpu_s']):>20}"
              f"{b['driver_peak_mb']:>6.0f}   {_fmt_s(r['driver_total_s']) + ' / ' + _fmt_s(r['driver_cpu_s']):>20}"
              f"{r['driver_peak_mb']:>6.0f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="10000,100000,1000000")
    ap.add_argument("--segmented", type=int, default=100_000, help="lines of the 3-segments case (0: none)")
    ap.add_argument("--no-nemo", action="store_true", help="skip the NeMo read+resolve case")
    ap.add_argument("--workdir", default=None)
    ap.add_argument("--keep", action="store_true")
    ap.add_argument("--json", default=None)
    ap.add_argument("--report", default=None, help="print the report of a saved --json run (no measuring)")
    ap.add_argument("--before", default=None, help="with --report: a saved run to compare with, phase by phase")
    ap.add_argument("--setup", type=int, default=None, help=argparse.SUPPRESS)
    ap.add_argument("--segmented-setup", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--child", nargs=2, default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.report:
        saved = json.loads(Path(args.report).read_text())
        print(f"machine: {saved['machine']}")
        report(saved["results"])
        if args.before:
            compare(json.loads(Path(args.before).read_text())["results"], saved["results"])
        return None
    if args.setup is not None:
        return setup(args.setup, Path(args.workdir), args.segmented_setup)
    if args.child is not None:
        import logging

        logging.disable(logging.WARNING)
        print(json.dumps(child(args.child[0], int(args.child[1]), Path(args.workdir))))
        return None
    work = Path(args.workdir or tempfile.mkdtemp(prefix="driver-scale-"))
    print(f"machine: {machine()}")
    cases = []
    for n in (int(s) for s in args.sizes.split(",")):
        cases += [("csv", n)] + ([] if args.no_nemo else [("nemo", n)])
    if args.segmented:
        cases.append(("nemo-seg", args.segmented))
    results = []
    try:
        for case, n in cases:
            results.append(_run_case(case, n, work))
            r = results[-1]
            print(f"  done {case} {n:,}: {r['child_s']} s", flush=True)
    finally:
        if not args.keep and args.workdir is None:
            shutil.rmtree(work, ignore_errors=True)
    report(results)
    print(f"\nload average at the end: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    if args.json:
        Path(args.json).write_text(json.dumps({"machine": machine(), "results": results}, indent=1))


if __name__ == "__main__":
    main()
