"""Load: ~2,000 tiny files (0.05-0.2 s) through the moto S3 server in one run, sampling every
enhancement replica's resident memory (RSS) and open file descriptors early and late in the run.

Bounds (after a warm-up of 15 % of the files, to the last sample before the end):
* RSS growth per replica <= 64 MiB (a leak of even 32 KiB per file would exceed it);
* open descriptors growth per replica <= 16 (a leaked socket or file per batch would exceed it).
Plus the usual: one ok row per input, every output decodes, summary counts match.
The file count can be lowered with FRCRN_SOAK_FILES on a slow machine (the bounds still hold).
"""

from __future__ import annotations

import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.support.s3 import list_keys

from .conftest import job_overrides, read_manifest, read_summary, run_inprocess
from .corpus import encode, tone

N_FILES = int(os.environ.get("FRCRN_SOAK_FILES", "2000"))
RSS_GROWTH_MAX = 64 * 2**20
FD_GROWTH_MAX = 16


def _proc_stats(pid: int) -> tuple[int, int] | None:
    try:
        with open(f"/proc/{pid}/status") as f:
            rss = next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmRSS:"))
        return rss, len(os.listdir(f"/proc/{pid}/fd"))
    except (OSError, StopIteration):
        return None


def _replica_pids() -> list[int]:
    import ray

    return [int(a["Pid"]) for a in ray._private.state.actors().values()
            if "Enhance" in a.get("ActorClassName", "") and a.get("State") == "ALIVE" and a.get("Pid")]


@pytest.mark.slow
def test_soak_no_leaks(s3, ray_local, tiny_checkpoint):
    client, bucket = s3["client"], s3["bucket"]
    rels = [f"p{i // 500}/u{i:05d}.wav" for i in range(N_FILES)]
    blobs = [encode(tone(0.05 + 0.15 * ((i * 7919) % 100) / 100, seed=i % 50)) for i in range(N_FILES)]
    with ThreadPoolExecutor(16) as pool:
        list(pool.map(lambda kv: client.put_object(Bucket=bucket, Key=f"in/{kv[0]}", Body=kv[1]), zip(rels, blobs)))
    client.put_object(Bucket=bucket, Key="in/m.csv", Body=("audio_uri\n" + "\n".join(rels) + "\n").encode())

    samples: dict[int, list[tuple[float, int, int]]] = {}  # pid -> [(fraction done, rss, fds)]
    done = threading.Event()

    def sampler():
        while not done.wait(1.0):
            try:
                n_out = len(client.list_objects_v2(Bucket=bucket, Prefix="out/_manifest/_parts/").get("Contents", []))
            except Exception:
                continue
            frac = n_out * 64 / N_FILES  # parts hold files_per_write_task=64 rows
            for pid in _replica_pids():
                st = _proc_stats(pid)
                if st:
                    samples.setdefault(pid, []).append((frac, *st))

    th = threading.Thread(target=sampler, daemon=True)
    th.start()
    t0 = time.time()
    try:
        result = run_inprocess(job_overrides(
            s3, tiny_checkpoint, "in/m.csv", "out", "model.enhance.batch_size=8", "compute.files_per_read_task=64",
            "compute.files_per_model_batch=32", "compute.files_per_write_task=64", "job.id=soak"))
    finally:
        done.set()
        th.join(10)
    wall = time.time() - t0
    assert result.exit_code == 0
    df = read_manifest(client, bucket, "out")
    assert len(df) == N_FILES and df["input_uri"].is_unique and (df["status"] == "ok").all()
    assert read_summary(client, bucket, "out")["counts"] == {"ok": N_FILES, "error": 0, "skipped": 0,
                                                             "recordings_processed": N_FILES}
    outs = [k for k in list_keys(client, bucket) if k.startswith("out/") and "/_manifest/" not in k]
    assert len(outs) == N_FILES
    # spot-check decoding (full decode of all 2,000 is covered by the smaller tests' invariant)
    import io

    import soundfile as sf
    for key in outs[:: max(1, N_FILES // 50)]:
        audio, rate = sf.read(io.BytesIO(client.get_object(Bucket=bucket, Key=key)["Body"].read()))
        assert rate == 16000 and len(audio) > 0

    report = []
    checked = 0
    for pid, rows in samples.items():
        warm = [r for r in rows if r[0] >= 0.15]
        if len(warm) < 2:
            continue
        (f0, rss0, fd0), (f1, rss1, fd1) = warm[0], warm[-1]
        if f1 - f0 < 0.3:  # need a long enough stretch of this replica's life to judge
            continue
        checked += 1
        report.append(f"pid {pid}: {f0:.0%}->{f1:.0%} rss {rss0 / 2**20:.0f}->{rss1 / 2**20:.0f} MiB fds {fd0}->{fd1}")
        assert rss1 - rss0 <= RSS_GROWTH_MAX, report[-1]
        assert fd1 - fd0 <= FD_GROWTH_MAX, report[-1]
    print(f"soak: {N_FILES} files in {wall:.0f} s; " + "; ".join(report))
    assert checked >= 1, f"no replica sampled over a long enough stretch: {samples}"
