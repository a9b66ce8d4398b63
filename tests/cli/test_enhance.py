"""`frcrn enhance`: the job's input and naming rules, skipping, clashes, modes, storage options,
one-line errors and Ctrl-C, run through the real command (in-process ``main`` or a subprocess)
with the tiny random checkpoint."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from frcrn.cli import main

ROOT = Path(__file__).resolve().parents[2]


def write_wav(path: Path, seconds: float = 0.5, rate: int = 16000, fmt: str = "WAV", seed: int = 0) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    x = (0.1 * np.random.default_rng(seed).standard_normal(int(seconds * rate))).astype(np.float32)
    sf.write(path, x, rate, format=fmt, subtype="PCM_16")


def snapshot(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def enhance(capsys, *args: str) -> tuple[int, list[str]]:
    code = main(["enhance", "-q", "--device", "cpu", "--num-threads", "1", *args])
    return code, capsys.readouterr().err.strip().splitlines()


@pytest.fixture
def corpus(tmp_path) -> Path:
    folder = tmp_path / "in"
    write_wav(folder / "a.wav")
    write_wav(folder / "sub" / "b.flac", fmt="FLAC", seed=1)
    return folder


def test_outputs_mirror_inputs_with_the_umask_mode_and_a_second_run_skips_them(corpus, tmp_path, capsys,
                                                                                tiny_checkpoint):
    out = tmp_path / "out"
    previous = os.umask(0o022)
    try:
        code, lines = enhance(capsys, str(corpus), "-o", str(out), "--checkpoint", tiny_checkpoint)
    finally:
        os.umask(previous)
    assert code == 0, lines
    assert sorted(snapshot(out)) == ["a.wav", "sub/b.wav"]
    assert {oct(p.stat().st_mode & 0o777) for p in out.rglob("*.wav")} == {"0o644"}
    audio, rate = sf.read(out / "sub" / "b.wav")
    assert rate == 16000 and len(audio) == 8000
    assert "enhanced 2 of 2 inputs" in lines[-1]

    mtimes = {p: p.stat().st_mtime_ns for p in out.rglob("*.wav")}
    code, lines = enhance(capsys, str(corpus), "-o", str(out), "--checkpoint", tiny_checkpoint)
    assert code == 0 and any("skipped 2" in line for line in lines) and "enhanced 0 of 2" in lines[-1], lines
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*.wav")} == mtimes

    time.sleep(0.01)
    code, lines = enhance(capsys, str(corpus), "-o", str(out), "--checkpoint", tiny_checkpoint, "--overwrite")
    assert code == 0 and "enhanced 2 of 2" in lines[-1], lines
    assert all(p.stat().st_mtime_ns > mtimes[p] for p in mtimes)


def test_output_folder_equal_to_the_input_folder_is_refused_and_nothing_changes(corpus, capsys, tiny_checkpoint):
    before = snapshot(corpus)
    code, lines = enhance(capsys, str(corpus), "-o", str(corpus), "--checkpoint", tiny_checkpoint)
    assert code == 2 and len(lines) == 1 and "is the input folder" in lines[0], lines
    assert snapshot(corpus) == before


def test_output_folder_inside_the_input_folder_is_not_read_back(corpus, capsys, tiny_checkpoint):
    out = corpus / "enhanced"
    code, _ = enhance(capsys, str(corpus), "-o", str(out), "--checkpoint", tiny_checkpoint)
    assert code == 0 and sorted(snapshot(out)) == ["a.wav", "sub/b.wav"]
    code, lines = enhance(capsys, str(corpus), "-o", str(out), "--checkpoint", tiny_checkpoint, "--overwrite")
    assert code == 0 and "enhanced 2 of 2 inputs" in lines[-1], lines  # not 4: its own outputs stay out
    assert sorted(snapshot(out)) == ["a.wav", "sub/b.wav"]


def test_two_inputs_naming_one_output_are_a_reported_clash(tmp_path, capsys, tiny_checkpoint):
    folder = tmp_path / "in"
    write_wav(folder / "x.wav", seed=1)
    write_wav(folder / "x.flac", fmt="FLAC", seed=2)
    out = tmp_path / "out"
    code, lines = enhance(capsys, str(folder), "-o", str(out), "--checkpoint", tiny_checkpoint)
    assert code == 3, lines
    clash = [line for line in lines if line.startswith("frcrn enhance: error (output_collision)")]
    assert len(clash) == 1 and "x.wav" in clash[0] and "x.flac" in clash[0]
    assert "enhanced 1 of 2" in lines[-1] and "1 failed (output_collision 1)" in lines[-1]
    # the first input (sorted: x.flac) owns x.wav; the later one was not written over it
    assert sorted(snapshot(out)) == ["x.wav"]
    expected = sf.read(folder / "x.flac")[0]
    assert len(sf.read(out / "x.wav")[0]) == len(expected)


def test_failures_and_nothing_processed_follow_the_job_exit_table(tmp_path, capsys, tiny_checkpoint):
    folder = tmp_path / "in"
    write_wav(folder / "good.wav")
    (folder / "bad.wav").write_bytes(b"not audio at all " * 20)
    code, lines = enhance(capsys, str(folder), "-o", str(tmp_path / "o1"), "--checkpoint", tiny_checkpoint)
    assert code == 3 and "1 failed (undecodable 1)" in lines[-1], lines
    code, lines = enhance(capsys, str(folder / "bad.wav"), "-o", str(tmp_path / "o2"), "--checkpoint", tiny_checkpoint)
    assert code == 4 and "no input could be processed" in lines[-1], lines
    code, lines = enhance(capsys, str(tmp_path / "missing"), "-o", str(tmp_path / "o3"), "--checkpoint",
                          tiny_checkpoint)
    assert code == 2 and len(lines) == 1 and "does not exist" in lines[0], lines


@pytest.mark.parametrize("flags, named", [
    (["--window-seconds", "0.5"], "--window-seconds: must be at least 1, got 0.5"),
    (["--batch-size", "abc"], "--batch-size: expected integer, got 'abc'"),
    (["--precision", "fp8"], "--precision: must be one of"),
    (["--device", "tpu"], "--device: must be"),
    (["--format", "mp3"], "--format: must be one of wav, flac, got 'mp3'"),
    (["--storage-options", "{not json"], "--storage-options must be a JSON object"),
])
def test_invalid_values_are_one_line_naming_the_flag(corpus, tmp_path, capsys, flags, named):
    code, lines = enhance(capsys, str(corpus), "-o", str(tmp_path / "out"), *flags)
    assert code == 2 and len(lines) == 1 and named in lines[0], lines
    assert not (tmp_path / "out").exists()


def test_flags_come_from_enhance_config(capsys):
    with pytest.raises(SystemExit):
        main(["enhance", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    from dataclasses import fields

    from frcrn.enhance_config import EnhanceConfig

    for f in fields(EnhanceConfig):
        assert "--" + f.name.replace("_", "-") in text and f"(default: {f.default})" in text


def test_storage_options_from_the_environment_reach_s3(s3, tmp_path, monkeypatch, capsys, tiny_checkpoint):
    client, bucket = s3["client"], s3["bucket"]
    for i, fmt in enumerate(("WAV", "FLAC")):
        buffer = io.BytesIO()
        sf.write(buffer, np.full(8000, 0.05 * (i + 1), np.float32), 16000, format=fmt, subtype="PCM_16")
        client.put_object(Bucket=bucket, Key=f"raw/sp{i}/u.{fmt.lower()}", Body=buffer.getvalue())
    monkeypatch.setenv("FRCRN_STORAGE_OPTIONS", json.dumps(s3["options"]))
    code, lines = enhance(capsys, f"s3://{bucket}/raw/", "-o", f"s3://{bucket}/clean", "--format", "flac",
                          "--checkpoint", tiny_checkpoint)
    assert code == 0, lines
    keys = sorted(o["Key"] for o in client.list_objects_v2(Bucket=bucket, Prefix="clean/")["Contents"])
    assert keys == ["clean/sp0/u.flac", "clean/sp1/u.flac"]
    assert {client.head_object(Bucket=bucket, Key=k)["ContentType"] for k in keys} == {"audio/flac"}
    monkeypatch.delenv("FRCRN_STORAGE_OPTIONS")
    code, lines = enhance(capsys, f"s3://{bucket}/raw/", "-o", f"s3://{bucket}/clean", "--format", "flac",
                          "--checkpoint", tiny_checkpoint, "--storage-options", json.dumps(s3["options"]))
    assert code == 0 and any("skipped 2" in line for line in lines), lines


def test_unreachable_storage_is_exit_5(tmp_path, capsys, tiny_checkpoint):
    from tests.support.net import free_port

    options = json.dumps({"endpoint_url": f"http://127.0.0.1:{free_port()}", "key": "k", "secret": "s",
                          "config_kwargs": {"retries": {"max_attempts": 1}, "connect_timeout": 1}})
    write_wav(tmp_path / "in" / "a.wav")
    code, lines = enhance(capsys, str(tmp_path / "in"), "-o", "s3://nowhere/out", "--storage-options", options,
                          "--checkpoint", tiny_checkpoint)
    assert code == 5 and len(lines) == 1 and "cannot reach" in lines[0], lines


def test_ctrl_c_is_one_line_and_exit_130(tmp_path, tiny_checkpoint):
    folder = tmp_path / "in"
    for i in range(40):
        write_wav(folder / f"f{i:02d}.wav", seconds=3.0, seed=i)
    out = tmp_path / "out"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.Popen(
        [sys.executable, "-m", "frcrn.cli", "enhance", str(folder), "-o", str(out), "-q", "--device", "cpu",
         "--num-threads", "1", "--checkpoint", tiny_checkpoint],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None and not list(out.rglob("*.wav")):
        time.sleep(0.1)
    assert proc.poll() is None, proc.communicate()
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    lines = err.strip().splitlines()
    assert proc.returncode == 130, err
    assert "Traceback" not in err and len(lines) == 1 and "interrupted" in lines[0], err
    done = list(out.rglob("*.wav"))
    assert 0 < len(done) < 40
    assert all(sf.info(p).frames == 48000 for p in done)  # every written output is whole
    assert not list(out.rglob(".*"))  # no temporary file left behind
