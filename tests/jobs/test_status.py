"""``frcrn job status OUTPUT_URI``: the run on an output location, read from storage without Ray --
a finished run's summary, a running run's heartbeat record with its progress, and exit 2 with one
line when there is nothing to show."""

from __future__ import annotations

import json
import time

import pytest

from frcrn.cli import main as frcrn_main
from jobs.cli import main as job_main
from jobs.config import load_config
from jobs.pipeline import run_job
from jobs.progress import Progress

from .conftest import ROOT, encode, model_overrides, tone

LOCAL = str(ROOT / "configs" / "local.yaml")


def _status(capsys, *args: str) -> tuple[int, list[str], str]:
    code = job_main(["status", *args])
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return code, out.splitlines(), err


def _heartbeat_record(runs, job_id, *, age, started="2026-01-01T10:00:00+00:00", progress=True, lease=300.0):
    """A record as the driver's heartbeat writes it while the run goes on."""
    p = Progress(10_000, total_audio_s=27.8 * 3600)
    p.done, p.errors, p.audio_s = 1_234, 2, 3.42 * 3600
    snap = {**p.snapshot(), "elapsed_s": 300.0, "x_realtime": 41.04, "eta_s": 1800.0}
    record = {"job_id": job_id, "state": "running", "started_at": started, "driver_host": "elsewhere",
              "driver_pid": 1, "config": {"job": {"lease_seconds": lease, "progress_every_s": 30.0}},
              "heartbeat_at": time.time() - age}
    if progress:
        record["progress"] = snap
    runs.mkdir(parents=True, exist_ok=True)
    (runs / f"{job_id}.json").write_text(json.dumps(record))
    return record


def test_a_running_run_shows_its_heartbeat_progress_eta_and_parts(tmp_path, capsys):
    out = tmp_path / "clean"
    _heartbeat_record(out / "_manifest" / "runs", "run-now", age=20)
    parts = out / "_manifest" / "_parts" / "run-now"
    parts.mkdir(parents=True)
    for i in range(3):
        (parts / f"{i:040x}.parquet").write_bytes(b"PAR1")
    code, lines, err = _status(capsys, str(out))
    assert code == 0 and err == ""
    assert lines[0].startswith("frcrn job status: run-now running, started 2026-01-01T10:00:00+00:00, "
                               "last heartbeat 20 s ago"), lines
    assert lines[1] == ("  progress    1,234/10,000 recordings (12.3 %), 3.42/27.80 h audio, 41.0x real time, "
                        "2 errors, ETA 30 min")  # 1800 s at the heartbeat, 20 s ago: rounds to 30 min
    assert lines[2].startswith("  records     3 result parts written so far, the last ")
    assert lines[2].endswith("(_manifest/_parts/run-now/)")
    assert len(lines) == 3


def test_a_running_record_without_a_heartbeat_for_longer_than_its_lease_is_stale(tmp_path, capsys):
    out = tmp_path / "clean"
    _heartbeat_record(out / "_manifest" / "runs", "run-dead", age=3 * 3600)
    code, lines, _ = _status(capsys, str(out))
    assert code == 0
    assert lines[0].startswith("frcrn job status: run-dead running (stale), ") and "last heartbeat 3 h ago" in lines[0]
    assert "its driver has stopped; the next run on this output location resumes it" in lines[0]
    assert lines[1].endswith("took 5 min (at its last heartbeat)"), lines  # no ETA for a run that is not going on
    assert lines[2].startswith("  records     0 result parts written so far")


def test_a_run_still_planning_has_no_progress_yet(tmp_path, capsys):
    out = tmp_path / "clean"
    _heartbeat_record(out / "_manifest" / "runs", "run-new", age=1, progress=False)
    code, lines, _ = _status(capsys, str(out))
    assert code == 0 and lines[1] == "  progress    none yet: the run is still reading its inputs and planning"


def test_nothing_to_show_is_exit_2_with_one_line(tmp_path, capsys, monkeypatch):
    code, lines, err = _status(capsys, str(tmp_path / "missing"))
    assert code == 2 and lines == [] and err.count("\n") == 1
    assert err.startswith(f"frcrn job status: nothing at {tmp_path}/missing")
    (tmp_path / "empty" / "_manifest" / "runs").mkdir(parents=True)
    code, _, err = _status(capsys, str(tmp_path / "empty"))
    assert code == 2 and err.startswith("frcrn job status: no run recorded under ") and err.count("\n") == 1
    _heartbeat_record(tmp_path / "one" / "_manifest" / "runs", "run-a", age=1)
    code, _, err = _status(capsys, str(tmp_path / "one"), "--job-id", "run-b")
    assert code == 2 and err == "frcrn job status: no run 'run-b' recorded here; runs: run-a\n"
    monkeypatch.setenv("FRCRN_STORAGE_OPTIONS", "{not json")
    code, _, err = _status(capsys, str(tmp_path / "one"))
    assert code == 2 and err.startswith("frcrn job status: config error: FRCRN_STORAGE_OPTIONS must hold")


def test_the_newest_run_is_shown_and_job_id_picks_another(tmp_path, capsys):
    runs = tmp_path / "clean" / "_manifest" / "runs"
    _heartbeat_record(runs, "run-old", age=7200, started="2026-01-01T08:00:00+00:00")
    _heartbeat_record(runs, "run-new", age=5, started="2026-01-01T09:00:00+00:00")
    code, lines, _ = _status(capsys, str(tmp_path / "clean"))
    assert code == 0 and lines[0].startswith("frcrn job status: run-new running,")
    assert lines[-1] == "  other runs  1 recorded (run-old running); --job-id ID shows one"
    code, lines, _ = _status(capsys, str(tmp_path / "clean"), "--job-id", "run-old")
    assert code == 0 and lines[0].startswith("frcrn job status: run-old running (stale),")


def test_a_finished_run_shows_its_summary_counts_and_final_progress(tmp_path, capsys, ray_local, tiny_checkpoint):
    inp, out = tmp_path / "in", tmp_path / "out"
    inp.mkdir()
    for i in range(3):
        (inp / f"c{i}.wav").write_bytes(encode(tone(0.5 + i * 0.25, 16000, seed=i), 16000))
    (inp / "broken.wav").write_bytes(b"not audio" * 100)
    (inp / "manifest.csv").write_text("audio_uri\nc0.wav\nc1.wav\nc2.wav\nbroken.wav\n")
    cfg = load_config(LOCAL, [f"input.uri={inp}/manifest.csv", f"output.uri={out}", "job.id=done-run",
                              *model_overrides(tiny_checkpoint)])
    result = run_job(cfg, echo=lambda line: None)
    assert frcrn_main(["job", "status", str(out)]) == 0  # `frcrn job status` is the same command
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("frcrn job status: done-run finished, started ") and " ago)" in lines[0]
    assert lines[1].startswith("  progress    4/4 recordings (100.0 %), 0.00 h audio, ")
    assert lines[1].endswith(" 1 error, took " + lines[1].rsplit(" took ", 1)[1])
    assert "  this run    ok 3   error 1   skipped 0 (done earlier)   recordings processed 4" in lines
    assert f"  audio       {result.summary['hours_in']:.3f} h in -> {result.summary['hours_out']:.3f} h out" in lines
    assert lines[-1] == f"  outcome     {result.message}"
    assert not any(line.startswith("  records") for line in lines)  # its parts were consolidated


@pytest.mark.parametrize("argv", [["status"], ["status", "--job-id", "x"]])
def test_output_uri_is_required(argv, capsys):
    with pytest.raises(SystemExit) as exit_info:
        job_main(argv)
    assert exit_info.value.code == 2
    assert "OUTPUT_URI" in capsys.readouterr().err
