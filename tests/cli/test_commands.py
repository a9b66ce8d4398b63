"""The one `frcrn` command: `job run|check` is the bulk job's command line (same arguments, same
exit statuses), and config errors of `train`, `eval` and `job` are one line naming the key."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from frcrn.cli import main
from jobs.cli import main as job_main

ROOT = Path(__file__).resolve().parents[2]
LOCAL = str(ROOT / "configs" / "local.yaml")


def test_job_check_is_the_job_commands_check(capsys):
    assert main(["job", "check", LOCAL]) == 0
    ours = json.loads(capsys.readouterr().out)
    assert job_main(["check", LOCAL]) == 0
    assert ours == json.loads(capsys.readouterr().out)
    assert ours["input"]["extensions"] == [".wav", ".flac", ".ogg", ".oga", ".mp3", ".aif", ".aiff"]


@pytest.mark.parametrize("command", ["check", "run"])
def test_job_config_errors_are_one_line_with_exit_2(capsys, command):
    assert main(["job", command, LOCAL, "model.enhance.window_seconds=0.5"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert err[0].startswith(f"frcrn-job: config error: {LOCAL}: model.enhance.window_seconds: must be at least 1, "
                             "got 0.5; model.enhance.overlap_seconds: must satisfy")


def test_job_help_is_the_job_commands_help(capsys):
    with pytest.raises(SystemExit) as stop:
        main(["job", "--help"])
    assert stop.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: frcrn job") and "run" in out and "check" in out


def test_train_config_error_is_one_line_naming_the_key(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "frcrn.cli", "train", "configs/train_default.yaml", "model.width=12"],
        capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip().splitlines() == [
        "frcrn: config error: configs/train_default.yaml: model.width: must be a positive multiple of 8, got 12"]


@pytest.mark.parametrize("override, named", [
    ("init_from=missing.safetensors", "checkpoint not found: missing.safetensors"),
    ("validation_dnsmos=missing.onnx", "DNSMOS model not found: missing.onnx"),
])
def test_train_with_a_missing_file_is_one_line_naming_it(tmp_path, capsys, override, named):
    out = f"out_dir={tmp_path / 'run'}"
    assert main(["train", "configs/train_default.yaml", "steps=1", out, override]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("frcrn: train: ") and named in lines[0]
    assert not (tmp_path / "run" / "best.safetensors").exists()


@pytest.mark.parametrize("override, named", [
    ("synthetic.count=-1", "synthetic.count: must be >= 0, got -1"),
    ("synthetic.bogus=1", "unknown key 'synthetic.bogus'"),
])
def test_eval_config_errors_are_one_line_naming_the_key(capsys, override, named):
    assert main(["eval", "configs/eval_default.yaml", override]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and named in lines[0], lines


@pytest.mark.parametrize("command", [["-m", "frcrn.cli", "info", "CHECKPOINT"],
                                     ["-m", "jobs", "check", LOCAL]], ids=["frcrn info", "frcrn-job check"])
def test_output_cut_short_by_its_reader_ends_with_141_and_no_traceback(command, tiny_checkpoint):
    """`frcrn info X | head`: the reader is gone before the command writes; like `cat`, the
    command ends with 128 + SIGPIPE and says nothing (the reader chose to stop reading)."""
    argv = [sys.executable, *[tiny_checkpoint if a == "CHECKPOINT" else a for a in command]]
    child = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT)
    child.stdout.close()  # long before the child has imported what it needs and printed
    _, stderr = child.communicate(timeout=120)
    assert child.returncode == 141
    assert stderr.decode() == ""
