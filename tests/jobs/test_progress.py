"""The run's progress: the write stage's per-batch counts, the line the driver prints at a fixed
interval (``job.progress_every_s``) and at the end, the numbers kept in the run's record, and Ray
Data's own progress reporting off unless the job's stdout is a terminal."""

from __future__ import annotations

import itertools
import json
import re
import time

import pandas as pd
import pyarrow as pa
import pytest
import soundfile as sf

from jobs.config import ConfigError, load_config
from jobs.console import JobConsole, stdout_is_terminal
from jobs.execution import progress_bars_on
from jobs.pipeline import run_job
from jobs.progress import Progress, ProgressTicker, format_duration, format_progress, known_seconds
from jobs.stages import PROGRESS_SCHEMA, progress_row

from .conftest import ROOT, corpus, model_overrides

LOCAL = str(ROOT / "configs" / "local.yaml")
LINE = re.compile(r"^  progress    (?P<done>[\d,]+)/(?P<total>[\d,]+) recordings \((?P<share>[\d.]+) %\), "
                  r"(?P<hours>[\d.]+)(?:/(?P<of>[\d.]+))? h audio, (?:[\d.]+x|- x) real time, "
                  r"(?P<errors>[\d,]+) errors?, (?P<end>ETA .+|took .+)$")


def _row(uri, status="ok", seconds=2.0, error_type=""):
    return {"input_uri": uri, "status": status, "error_type": error_type, "input_duration_s": seconds}


# --------------------------------------------------------------------------- the write stage's row


def test_the_write_stage_counts_each_recording_once_with_its_audio_seconds():
    rows = [_row("a", seconds=2.0), _row("a", seconds=2.0),  # two segment lines of one recording
            _row("b", status="error", error_type="segment_out_of_range", seconds=3.0),  # its line's error only
            _row("c", status="error", error_type="undecodable", seconds=None),
            _row("d", status="error", error_type="enhance_error", seconds=1.5)]
    table = progress_row(rows)
    assert table.schema == PROGRESS_SCHEMA
    assert table.to_pylist() == [{"inputs": 4, "ok": 2, "audio_s": 6.5}]


# --------------------------------------------------------------------------- the line


def _batch(inputs, ok, seconds):
    return pa.table({"inputs": [inputs], "ok": [ok], "audio_s": [seconds]}, schema=PROGRESS_SCHEMA)


def test_the_line_says_recordings_hours_rate_errors_and_eta():
    p = Progress(10_000)
    p.start()
    p.add(_batch(1_234, 1_232, 3.42 * 3600))
    p._t0 = time.monotonic() - 3.42 * 3600 / 41.2  # as if 41.2x real time so far
    line = p.line()
    assert line.startswith("  progress    1,234/10,000 recordings (12.3 %), 3.42 h audio, 41.2x real time, "
                           "2 errors, ETA "), line
    eta = p.snapshot()["eta_s"]
    assert eta == pytest.approx((10_000 - 1_234) * (3.42 * 3600 / 41.2) / 1_234, rel=1e-3)  # by recordings
    assert "\x1b" not in line and "\r" not in line and "\n" not in line


def test_with_a_known_total_hours_are_of_it_and_the_eta_goes_by_audio():
    p = Progress(4, total_audio_s=4 * 3600.0)
    p.start()
    p.add(_batch(1, 1, 3 * 3600.0))  # one long recording done: 3 of 4 h
    p._t0 = time.monotonic() - 600.0
    s = p.snapshot()
    assert s["eta_s"] == pytest.approx(200.0, rel=1e-2)  # 1 h left at 3 h per 600 s
    assert "1/4 recordings (25.0 %), 3.00/4.00 h audio, 18.0x real time, 0 errors, ETA 3 min" in p.line()
    p.add(_batch(3, 2, 3600.0))
    p.stop()
    final = p.line()
    assert "4/4 recordings (100.0 %), 4.00/4.00 h audio" in final and "1 error, took 10 min" in final


def test_before_anything_is_done_the_eta_is_unknown_and_a_status_eta_counts_the_age():
    p = Progress(3)
    p.start()
    assert p.line().endswith("0 errors, ETA unknown")
    snap = {**p.snapshot(), "recordings_done": 1, "eta_s": 1800.0}
    assert format_progress(snap, age_s=600.0).endswith("ETA 20 min")
    assert [format_duration(s) for s in (5, 90, 3 * 3600 + 1200, 7200, 3 * 86400)] == [
        "5 s", "2 min", "3 h 20 min", "2 h", "3.0 days"]


def test_the_heartbeat_writes_the_progress_numbers_into_the_runs_record():
    from jobs.run_lease import Heartbeat

    p = Progress(5)
    written = []
    heartbeat = Heartbeat({"job_id": "me", "state": "running"}, lambda r: written.append(dict(r)), interval=60)
    heartbeat.beat()
    heartbeat.live = lambda: {"progress": p.snapshot()}
    p.add(_batch(2, 1, 3.0))
    heartbeat.beat()
    assert "progress" not in written[0]
    assert written[1]["progress"]["recordings_done"] == 2 and written[1]["progress"]["errors"] == 1


def test_a_replanned_execution_counts_what_was_recorded():
    p = Progress(10)
    p.add(_batch(3, 3, 6.0))
    p.at_least(7)  # 7 recorded, 4 of them in a batch the failed execution never handed over
    p.add(_batch(3, 3, 6.0))
    assert p.snapshot()["recordings_done"] == 10


def test_the_known_total_needs_a_whole_file_duration_for_every_recording():
    table = pd.DataFrame({
        "input_uri": ["a", "a", "b", "c", "d"], "duration": [10.0, 10.0, 20.0, 3.0, None],
        "segment_offset_s": [float("nan"), float("nan"), float("nan"), 5.0, float("nan")],
        "segment_duration_s": [float("nan")] * 3 + [3.0, float("nan")], "error_type": [""] * 5})
    assert known_seconds(table, ["a", "b"]) == 30.0  # a repeated line counts once
    assert known_seconds(table, ["a", "c"]) is None  # c has only a segment line
    assert known_seconds(table, ["a", "d"]) is None  # d has no duration
    assert known_seconds(table.drop(columns="duration"), ["a"]) is None
    assert known_seconds(table, []) == 0.0


def test_the_ticker_prints_at_the_interval_and_a_final_line(capsys):
    p = Progress(2)
    lines: list[tuple[float, str]] = []
    with ProgressTicker(p, lambda line: lines.append((time.monotonic(), line)), every=0.2):
        time.sleep(0.7)
        p.add(_batch(2, 2, 4.0))
    assert len(lines) >= 3, lines
    assert all(0.15 <= b[0] - a[0] <= 1.0 for a, b in itertools.pairwise(lines[:-1])), lines
    assert lines[-1][1].startswith("  progress    2/2 recordings (100.0 %)") and ", took " in lines[-1][1]


# --------------------------------------------------------------------------- Ray Data's own progress


def test_ray_progress_bars_auto_follows_the_consoles_terminal(tmp_path, monkeypatch):
    assert load_config(LOCAL).ray.progress_bars == "auto"
    assert load_config(LOCAL, ["ray.progress_bars=false"]).ray.progress_bars is False
    assert progress_bars_on(True) is True and progress_bars_on(False) is False
    with pytest.raises(ConfigError, match=r"ray\.progress_bars"):
        load_config(LOCAL, ["ray.progress_bars=sometimes"])
    with pytest.raises(ConfigError, match=r"job\.progress_every_s must be > 0"):
        load_config(LOCAL, ["job.progress_every_s=0"])

    class Terminal:
        def __init__(self, tty):
            self.tty, self.text = tty, []

        def isatty(self):
            return self.tty

        def write(self, text):
            self.text.append(text)

        def flush(self):
            pass

    for tty in (True, False):
        monkeypatch.setattr("sys.stdout", Terminal(tty))
        assert stdout_is_terminal() is tty and progress_bars_on("auto") is tty
        with JobConsole(str(tmp_path / f"{tty}.log"), debug=True):
            monkeypatch.setattr("sys.stdout", Terminal(not tty))  # what a redirection would do
            assert progress_bars_on("auto") is tty  # the console's stream decides, not the log's
        monkeypatch.setattr("sys.stdout", Terminal(tty))
        assert stdout_is_terminal() is tty


# --------------------------------------------------------------------------- a real local run


def _corpus_with_durations(folder):
    files, expect = corpus(long_seconds=None, n_short=8)
    entries, durations = [], []
    for rel, data in files.items():
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        (folder / rel).write_bytes(data)
        entries.append(rel)
        durations.append(sf.info(folder / rel).duration if expect[rel]["status"] == "ok" else 0.0)
    pd.DataFrame({"audio_uri": entries, "duration": durations}).to_parquet(folder / "manifest.parquet")
    return entries, durations, expect


def test_a_local_run_prints_progress_at_the_interval_and_a_final_line(tmp_path, ray_local, tiny_checkpoint):
    inp, out = tmp_path / "in", tmp_path / "out"
    entries, durations, expect = _corpus_with_durations(inp)
    cfg = load_config(LOCAL, [f"input.uri={inp}/manifest.parquet", f"output.uri={out}",
                              *model_overrides(tiny_checkpoint), "job.progress_every_s=0.5", "job.id=progress"])
    lines: list[tuple[float, str]] = []
    result = run_job(cfg, echo=lambda line: lines.append((time.monotonic(), line)))
    progress = [(t, LINE.match(line), line) for t, line in lines if line.startswith("  progress")]
    assert all(m for _, m, _ in progress), [line for _, m, line in progress if not m]
    *periodic, (_, final, final_line) = progress
    assert len(periodic) >= 2, lines  # the run takes seconds: a line every 0.5 s
    gaps = [b[0] - a[0] for a, b in itertools.pairwise(periodic)]
    assert all(0.4 <= gap <= 5.0 for gap in gaps), gaps
    done = [int(m["done"].replace(",", "")) for _, m, _ in progress]
    assert done == sorted(done) and all(m["total"] == str(len(entries)) for _, m, _ in progress)
    n_errors = sum(e["status"] == "error" for e in expect.values())
    assert final["done"] == final["total"] and final["share"] == "100.0" and final["end"].startswith("took ")
    assert int(final["errors"]) == n_errors
    summary = result.summary
    assert float(final["of"]) == pytest.approx(sum(durations) / 3600, abs=0.006)  # the manifest's durations
    assert summary["progress"]["audio_s_done"] / 3600 == pytest.approx(summary["hours_in"], abs=1e-5)
    assert float(final["hours"]) == pytest.approx(summary["hours_in"], abs=0.006)
    assert summary["progress"]["recordings_done"] == summary["counts"]["recordings_processed"]
    record = json.loads((out / "_manifest" / "runs" / "progress.json").read_text())
    assert record["progress"] == summary["progress"]  # kept with the finished run's summary
    # The lines come in order: inputs and plan, progress, then the summary.
    texts = [line for _, line in lines]
    summary_at = next(i for i, text in enumerate(texts) if text.startswith("frcrn-job progress: finished"))
    assert texts.index(final_line) < summary_at
