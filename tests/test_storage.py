"""frcrn.storage.atomic_write, the one write path: whole files with the umask's mode locally, the
format's Content-Type on S3 (the moto server), and every writer of the library going through it."""

from __future__ import annotations

import json
import os
import stat
from contextlib import contextmanager

import numpy as np
import pandas as pd
import pytest
import torch

from frcrn.audio.files import write_audio
from frcrn.evaluation.run import _write_parquet
from frcrn.model.checkpoint import save_checkpoint
from frcrn.model.config import ModelConfig
from frcrn.model.network import FRCRN
from frcrn.storage import atomic_write, is_remote, is_url
from jobs.storage import atomic_write as job_atomic_write
from jobs.storage import filesystem


@contextmanager
def umask(value: int):
    previous = os.umask(value)
    try:
        yield
    finally:
        os.umask(previous)


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def tiny_model() -> FRCRN:
    torch.manual_seed(0)
    return FRCRN(ModelConfig(width=8, fsmn_hidden=8))


@pytest.mark.parametrize(("location", "url", "remote"), [
    ("s3://bucket/key.wav", True, True),
    ("memory://x/y", True, True),
    ("file:///data/a.wav", True, False),
    ("/data/a.wav", False, False),
    ("relative/a.wav", False, False),
])
def test_a_url_has_a_scheme_and_only_file_urls_are_local(location, url, remote):
    """is_url: joined with '/', never made absolute; is_remote: not on this machine."""
    assert (is_url(location), is_remote(location)) == (url, remote)


def test_local_writes_get_the_umask_mode_and_leave_no_temporary_file(tmp_path):
    with umask(0o022):
        atomic_write(str(tmp_path / "a" / "x.json"), b"{}\n")
        write_audio(str(tmp_path / "a" / "y.flac"), np.zeros(1600, np.float32))
        save_checkpoint(tiny_model(), tmp_path / "ckpt" / "m.safetensors")
        _write_parquet(pd.DataFrame({"item": ["a"], "si_sdr": [1.0]}), str(tmp_path / "eval" / "results.parquet"),
                       {"run": 1}, {})
        job_atomic_write(filesystem("file", {}), str(tmp_path / "job" / "out.wav"), b"RIFF", retries=0)
    written = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert sorted(p.relative_to(tmp_path).as_posix() for p in written) == [
        "a/x.json", "a/y.flac", "ckpt/m.json", "ckpt/m.safetensors", "eval/results.parquet", "job/out.wav"]
    assert {p.name: oct(mode(p)) for p in written} == {p.name: "0o644" for p in written}
    with umask(0o077):
        atomic_write(str(tmp_path / "private.json"), b"{}")
    assert mode(tmp_path / "private.json") == 0o600


def test_a_failed_write_keeps_the_old_content(tmp_path):
    target = tmp_path / "x.json"
    target.write_bytes(b"old")

    with pytest.raises(TypeError):
        atomic_write(str(target), None)  # the write itself fails
    assert target.read_bytes() == b"old" and os.listdir(tmp_path) == ["x.json"]


def test_objects_on_s3_carry_the_content_type_of_their_format(s3):
    bucket, options, client = s3["bucket"], s3["options"], s3["client"]
    write_audio(f"s3://{bucket}/a/clean.flac", np.zeros(1600, np.float32), storage_options=options)
    write_audio(f"s3://{bucket}/a/clean.wav", np.zeros(1600, np.float32), storage_options=options)
    atomic_write(f"s3://{bucket}/m/summary.json", json.dumps({}).encode(), storage_options=options)
    _write_parquet(pd.DataFrame({"item": ["a"]}), f"s3://{bucket}/m/results.parquet", {}, options)
    save_checkpoint(tiny_model(), f"s3://{bucket}/c/m.safetensors", storage_options=options)
    job_atomic_write(filesystem("s3", options), f"{bucket}/j/out", b"RIFF", retries=0, content_type="audio/wav")
    types = {key: client.head_object(Bucket=bucket, Key=key)["ContentType"]
             for key in ("a/clean.flac", "a/clean.wav", "m/summary.json", "m/results.parquet", "c/m.safetensors",
                         "c/m.json", "j/out")}
    assert types == {"a/clean.flac": "audio/flac", "a/clean.wav": "audio/wav", "m/summary.json": "application/json",
                     "m/results.parquet": "application/vnd.apache.parquet",
                     "c/m.safetensors": "application/octet-stream", "c/m.json": "application/json",
                     "j/out": "audio/wav"}
