"""Local paths with configs/local.yaml: end to end (with DNSMOS), resume, folder listing, CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from jobs.config import load_config
from jobs.pipeline import run_job

from .conftest import ROOT, corpus, model_overrides

LOCAL = str(ROOT / "configs" / "local.yaml")
DNSMOS = ROOT.parent / "shared" / "dnsmos" / "sig_bak_ovr.onnx"


def _write_corpus(folder, n_short=6):
    files, expect = corpus(long_seconds=None, n_short=n_short)
    for rel, data in files.items():
        path = folder / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return files, expect


def _manifest(folder, entries, **extra):
    df = pd.DataFrame({"audio_uri": entries, **extra})
    df.to_parquet(folder / "manifest.parquet")
    return df


def test_end_to_end_local_with_dnsmos(tmp_path, ray_local, tiny_checkpoint):
    inp, out = tmp_path / "in", tmp_path / "out"
    files, expect = _write_corpus(inp)
    entries = list(files) + ["gone.wav"]
    _manifest(inp, entries, duration_hint=np.arange(len(entries), dtype="float32"))
    overrides = [f"input.uri={inp}/manifest.parquet", f"output.uri={out}", *model_overrides(tiny_checkpoint)]
    if DNSMOS.exists():
        overrides.append(f"dnsmos.model={DNSMOS}")
    result = run_job(load_config(LOCAL, overrides))
    df = pd.read_parquet(out / "_manifest" / "results.parquet")
    assert len(df) == len(entries) and df["input_uri"].is_unique
    assert df["duration_hint"].dtype == np.float32  # carried through untouched, type included
    ok = df[df["status"] == "ok"]
    assert len(ok) == sum(e["status"] == "ok" for e in expect.values())
    for _, row in ok.iterrows():
        info = sf.info(row["output_uri"])
        assert info.samplerate == 16000 and info.channels == 1 and info.subtype == "PCM_16"
        assert abs(info.frames / 16000 - row["input_duration_s"]) <= 1 / 16000 + 1e-9
        assert row["output_uri"].startswith(str(out) + "/")
        if DNSMOS.exists():
            for k in ("sig", "bak", "ovrl"):
                assert 0.0 < row[f"dnsmos_{k}_in"] < 5.5 and 0.0 < row[f"dnsmos_{k}_out"] < 5.5
    gone = df[df["input_uri"] == str(inp / "gone.wav")].iloc[0]
    assert gone["error_type"] == "not_found" and "no such file" in gone["error_message"]
    # No temporary files left behind, and only expected files under the output.
    leftovers = [p for p in out.rglob("*") if p.is_file() and (p.name.startswith(".") or p.suffix == ".partial")]
    assert leftovers == []
    summary = json.loads((out / "_manifest" / "summary.json").read_text())
    assert summary == result.summary | {"config": summary["config"]}
    assert summary["counts"]["ok"] == len(ok)


def test_resume_redoes_only_what_is_missing(tmp_path, ray_local, tiny_checkpoint):
    inp, out = tmp_path / "in", tmp_path / "out"
    files, _expect = _write_corpus(inp, n_short=6)
    _manifest(inp, list(files), label=list(range(len(files))))
    base = [f"input.uri={inp}/manifest.parquet", f"output.uri={out}", "output.format=flac",
            "output.sample_rate=input", *model_overrides(tiny_checkpoint)]
    first = run_job(load_config(LOCAL, base + ["job.id=first"]))
    m1 = pd.read_parquet(out / "_manifest" / "results.parquet")
    ok_rows = m1[m1["status"] == "ok"].reset_index(drop=True)
    for _, row in ok_rows.iterrows():  # sample_rate=input: written back at each input's own rate
        assert sf.info(row["output_uri"]).samplerate == row["input_sample_rate"]
        assert row["output_uri"].endswith(".flac")

    # Damage: delete two outputs, and make the manifest forget a third input.
    deleted = list(ok_rows["input_uri"][:2])
    for uri in deleted:
        os.remove(m1.loc[m1["input_uri"] == uri, "output_uri"].iloc[0])
    forgotten = ok_rows["input_uri"][2]
    m1[m1["input_uri"] != forgotten].to_parquet(out / "_manifest" / "results.parquet")
    errors_before = set(m1.loc[m1["status"] == "error", "input_uri"])

    second = run_job(load_config(LOCAL, base + ["job.id=second"]))
    m2 = pd.read_parquet(out / "_manifest" / "results.parquet")
    assert len(m2) == len(m1) and m2["input_uri"].is_unique
    redone = set(m2.loc[m2["job_id"] == "second", "input_uri"])
    assert redone == set(deleted) | {forgotten} | errors_before  # errors are retried by default
    kept = m2[m2["job_id"] == "first"]
    assert (kept["status"] == "ok").all() and len(kept) == len(ok_rows) - 3
    assert second.summary["counts"]["skipped"] == len(ok_rows) - 3
    assert (m2["status"] == "ok").sum() == (m1["status"] == "ok").sum()
    assert all(os.path.exists(u) for u in m2.loc[m2["status"] == "ok", "output_uri"])
    assert (m2["label"].to_numpy() == m1["label"].to_numpy()).all()
    assert first.exit_code == second.exit_code == 3  # the corpus's broken files are error rows

    # Third run with errors kept: nothing at all to do, rows unchanged.
    third = run_job(load_config(LOCAL, base + ["job.id=third", "resume.retry_errors=false"]))
    m3 = pd.read_parquet(out / "_manifest" / "results.parquet")
    assert third.summary["counts"] == {"ok": 0, "error": 0, "skipped": len(m2), "recordings_processed": 0}
    pd.testing.assert_frame_equal(m3, m2)


def test_folder_listing_ignores_own_outputs(tmp_path, ray_local, tiny_checkpoint):
    inp = tmp_path / "corpus"
    files, _ = _write_corpus(inp, n_short=3)
    (inp / "readme.txt").write_text("not audio")
    # Output inside the input folder: the second run must not pick up the first run's outputs.
    cfg = load_config(LOCAL, [f"input.uri={inp}", f"output.uri={inp}/enhanced", *model_overrides(tiny_checkpoint)])
    previous = os.umask(0o022)
    try:
        r1 = run_job(cfg)
        r2 = run_job(cfg)
    finally:
        os.umask(previous)
    n_audio = len(files)
    assert len(r1.manifest) == len(r2.manifest) == n_audio
    assert r2.summary["counts"]["skipped"] == (r1.manifest["status"] == "ok").sum()
    # Outputs, the manifest and the summary get the umask's mode (0644 under 022), not mkstemp's 0600.
    written = [p for p in (inp / "enhanced").rglob("*") if p.is_file()]
    assert {"results.parquet", "summary.json"} <= {p.name for p in written}
    assert sum(p.suffix == ".wav" for p in written) == (r1.manifest["status"] == "ok").sum()
    assert {p.name: oct(p.stat().st_mode & 0o777) for p in written} == {p.name: "0o644" for p in written}


@pytest.mark.slow
def test_cli_module_entry_point(tmp_path):
    """`python -m jobs run CONFIG overrides` as a user (or `ray job submit`) runs it: own local Ray."""
    inp, out = tmp_path / "in", tmp_path / "out"
    files, _ = corpus(long_seconds=None, n_short=2)
    inp.mkdir()
    names = []
    for i, data in enumerate(v for k, v in files.items() if k.startswith("spk")):
        (inp / f"c{i}.wav").write_bytes(data)
        names.append(f"c{i}.wav")
    (inp / "manifest.csv").write_text("audio_uri\n" + "\n".join(names) + "\n")
    ckpt = tmp_path / "tiny.safetensors"
    from frcrn.model.checkpoint import save_checkpoint
    from frcrn.model.config import ModelConfig
    from frcrn.model.network import FRCRN

    save_checkpoint(FRCRN(ModelConfig(width=8, fsmn_hidden=8)), ckpt)
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    env["PYTHONPATH"] = str(ROOT)
    proc = subprocess.run(
        [sys.executable, "-m", "jobs", "run", "configs/local.yaml", f"input.uri={inp}/manifest.csv",
         f"output.uri={out}", f"model.checkpoint={ckpt}", "ray.num_cpus=2", "ray.progress_bars=false"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=240,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "this run    ok 2   error 0   skipped 0" in proc.stdout
    assert len(pd.read_parquet(out / "_manifest" / "results.parquet")) == 2
    # The console shows the job's own lines only: Ray's notices, its core worker's native error
    # line and Ray Data's progress dumps are in the log file named on the first line.
    lines = proc.stdout.splitlines()
    assert proc.stderr == "", proc.stderr[-3000:]
    assert all(line.startswith(("frcrn-job", "  ")) for line in lines), proc.stdout
    assert lines[-1] == f"frcrn-job: finished: all 2 inputs ok; manifest: {out}/_manifest/results.parquet"
    for noise in ("core_worker", "Token authentication", "logging_progress", "streaming_executor", "(raylet)"):
        assert noise not in proc.stdout, (noise, proc.stdout)
    with open(lines[0].split(": log file ", 1)[1]) as f:
        log_text = f.read()
    assert "core_worker.cc" in log_text  # the native line Ray prints for actor restarts


def test_resume_redoes_outputs_made_by_another_checkpoint(tmp_path, ray_local, tiny_checkpoint):
    import torch

    from frcrn.model.checkpoint import save_checkpoint
    from frcrn.model.config import ModelConfig
    from frcrn.model.network import FRCRN

    torch.manual_seed(1)
    other = str(tmp_path / "other.safetensors")
    save_checkpoint(FRCRN(ModelConfig(width=8, fsmn_hidden=8)), other, model_id="frcrn-tiny-other")
    inp, out = tmp_path / "in", tmp_path / "out"
    files, _ = _write_corpus(inp, n_short=3)
    _manifest(inp, list(files))
    base = [f"input.uri={inp}/manifest.parquet", f"output.uri={out}"]
    run_job(load_config(LOCAL, base + model_overrides(tiny_checkpoint) + ["job.id=old-model"]))
    m1 = pd.read_parquet(out / "_manifest" / "results.parquet")
    ok = set(m1.loc[m1["status"] == "ok", "input_uri"])
    assert ok

    run_job(load_config(LOCAL, base + model_overrides(other) + ["job.id=new-model"]))
    m2 = pd.read_parquet(out / "_manifest" / "results.parquet")
    assert set(m2.loc[m2["job_id"] == "new-model", "input_uri"]) >= ok  # every old-model output redone
    assert m2.loc[m2["status"] == "ok", "checkpoint_sha256"].nunique() == 1

    kept = run_job(load_config(LOCAL, base + model_overrides(tiny_checkpoint)
                               + ["job.id=keep", "resume.same_checkpoint=false", "resume.retry_errors=false"]))
    assert kept.summary["counts"]["skipped"] == len(m2)
