"""Interrupt and resume: ``python -m jobs run`` is stopped with SIGINT (Ctrl-C) or SIGTERM (what
Kubernetes, Slurm and ``ray job stop`` send) once some outputs exist, then run again to
completion. The final manifest must have exactly one row per input, none missing, no duplicate,
all ``ok``, and every output byte-identical to an uninterrupted run of the same inputs with the
same checkpoint (the pipeline is deterministic: model.enhance.batch_size=1, fixed threads).
"""

from __future__ import annotations

import signal
import time

import pytest

from tests.support.s3 import list_keys

from .conftest import (
    assert_outputs_decode,
    audio_keys,
    job_overrides,
    read_manifest,
    read_summary,
    run_inprocess,
    start_cli,
    wait,
    wait_for,
)
from .corpus import encode, tone

N_FILES = 16
_REFERENCE: dict[str, bytes] = {}  # relative output key -> bytes of an uninterrupted run (shared)


def _corpus(s3) -> list[str]:
    client, bucket = s3["client"], s3["bucket"]
    rels = []
    for i in range(N_FILES):
        rel = f"spk{i % 4}/utt_{i:03d}.wav"
        client.put_object(Bucket=bucket, Key=f"in/{rel}", Body=encode(tone(2.0 + (i % 2), seed=i)))
        rels.append(rel)
    body = "audio_uri\n" + "".join(r + "\n" for r in rels)
    client.put_object(Bucket=bucket, Key="in/manifest.csv", Body=body.encode())
    return rels


def _recorded(client, bucket: str) -> bool:
    return any(k.startswith("out/_manifest/_parts/") for k in list_keys(client, bucket))


def _overrides(s3, ckpt, out, *extra):
    # Small batches so outputs appear steadily and an interrupt lands mid-job.
    return job_overrides(s3, ckpt, "in/manifest.csv", out, "compute.files_per_read_task=2",
                         "compute.files_per_model_batch=2", "compute.files_per_write_task=2", *extra)


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["sigint", "sigterm"])
def test_interrupt_then_resume(s3, ray_local, tiny_checkpoint, tmp_path, sig):
    client, bucket = s3["client"], s3["bucket"]
    rels = _corpus(s3)

    log = tmp_path / "run1.log"
    proc = start_cli(_overrides(s3, tiny_checkpoint, "out", f"ray.address={ray_local}", "job.id=interrupted"),
                     log_path=log)
    t0 = time.time()
    try:
        # Signal once a batch is *recorded* (its result part written), not merely once outputs
        # exist: a batch's part follows its outputs, and only recorded work is promised to be kept.
        wait_for(lambda: (len(audio_keys(client, bucket, "out")) >= 2 and _recorded(client, bucket))
                 or proc.poll() is not None, 240, 0.1, "first recorded outputs of the interrupted run")
        done_at_signal = len(audio_keys(client, bucket, "out"))
        assert proc.poll() is None, "the job finished before it could be interrupted:\n" + log.read_text()[-3000:]
        proc.send_signal(sig)
        code = wait(proc, 90)
    finally:
        if proc.poll() is None:
            proc.kill()
    stopped_after = time.time() - t0
    text = log.read_text(errors="replace")
    # Stopped cleanly: 128 + signal, and a manifest listing every input was still written.
    assert code == 128 + sig, (code, text[-3000:])
    assert "Traceback" not in text, text[-3000:]
    assert text.strip().splitlines()[-1].startswith(f"frcrn-job: interrupted by {sig.name}: "), text[-3000:]
    assert done_at_signal < N_FILES
    first = read_manifest(client, bucket, "out")
    assert len(first) == N_FILES and first["input_uri"].is_unique
    assert set(first["status"]) <= {"ok", "error"} and set(
        first.loc[first["status"] == "error", "error_type"]) <= {"job_failed"}
    assert (first["status"] == "error").any()
    assert read_summary(client, bucket, "out")["failure"] == f"interrupted by {sig.name}"

    # Run again to completion (in-process; same checkpoint, same settings).
    result = run_inprocess(_overrides(s3, tiny_checkpoint, "out", "job.id=resumed"))
    assert result.exit_code == 0
    df = read_manifest(client, bucket, "out")
    expected = {f"s3://{bucket}/in/{r}" for r in rels}
    assert len(df) == N_FILES and df["input_uri"].is_unique and set(df["input_uri"]) == expected
    assert (df["status"] == "ok").all(), df.loc[df["status"] != "ok", ["input_uri", "error_message"]]
    summary = read_summary(client, bucket, "out")
    assert summary["counts"]["ok"] + summary["counts"]["skipped"] == N_FILES
    assert summary["counts"]["skipped"] >= 1  # the interrupted run's finished work was kept
    assert not [k for k in list_keys(client, bucket) if "/_parts/" in k]  # all parts consolidated
    resumed = assert_outputs_decode(client, bucket, "out", df)

    # An uninterrupted run of the same inputs (done once, shared by both signals): byte-identical.
    if not _REFERENCE:
        ref = run_inprocess(_overrides(s3, tiny_checkpoint, "ref", "job.id=reference"))
        assert ref.exit_code == 0
        blobs = assert_outputs_decode(client, bucket, "ref", read_manifest(client, bucket, "ref"))
        _REFERENCE.update({k[len("ref/"):]: v for k, v in blobs.items()})
    assert len(_REFERENCE) == len(resumed) == N_FILES
    for key, data in resumed.items():
        assert _REFERENCE[key[len("out/"):]] == data, key
    print(f"{sig.name}: {done_at_signal} outputs at signal, stopped after {stopped_after:.1f} s, "
          f"skipped on resume {summary['counts']['skipped']}, exit {code}")
