"""Every exit status of `frcrn-job run` (the table in jobs/cli.py), through the real command line
entry point: real files, the moto S3 server over HTTP, real local Ray, the real FRCRN network.

Each failure must end in ONE line that says what happened and where to look -- never a traceback.
"""

from __future__ import annotations

import json
import socket
import time

import pandas as pd
import pyarrow.parquet as pq

from jobs.cli import main
from tests.support.s3 import list_keys

from . import factories
from .conftest import ROOT, corpus, encode, model_overrides, tone

LOCAL = str(ROOT / "configs" / "local.yaml")


def _last_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else ""


def _run(capsys, *args: str) -> tuple[int, str, str]:
    code = main(["run", LOCAL, *args])
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err, out + err
    return code, out, err


def _s3_overrides(s3, manifest_key: str, out_prefix: str, checkpoint: str, options=None) -> list[str]:
    so = json.dumps(options or s3["options"])
    return [f"input.uri=s3://{s3['bucket']}/{manifest_key}", f"output.uri=s3://{s3['bucket']}/{out_prefix}",
            f"input.storage_options={so}", f"output.storage_options={so}", *model_overrides(checkpoint)]


def test_exit_0_every_input_ok_or_skipped(tmp_path, capsys, ray_local, tiny_checkpoint):
    (tmp_path / "a.wav").write_bytes(encode(tone(0.5, 16000), 16000))
    (tmp_path / "m.csv").write_text("audio_uri\na.wav\n")
    args = [f"input.uri={tmp_path}/m.csv", f"output.uri={tmp_path}/out", *model_overrides(tiny_checkpoint)]
    code, out, err = _run(capsys, *args)
    assert code == 0, out + err
    assert _last_line(out) == (
        f"frcrn-job: finished: all 1 inputs ok; manifest: {tmp_path}/out/_manifest/results.parquet")
    code, out, err = _run(capsys, *args)  # resumed: skipped counts as done
    assert code == 0 and "all 1 inputs ok (1 done by an earlier run)" in _last_line(out), out + err


def test_exit_3_some_error_rows_names_count_types_and_manifest(s3, capsys, ray_local, tiny_checkpoint):
    client, bucket = s3["client"], s3["bucket"]
    files, _ = corpus(long_seconds=None, n_short=2)
    for rel, data in files.items():
        client.put_object(Bucket=bucket, Key=f"in/{rel}", Body=data)
    entries = [r for r in files if r.startswith("spk")] + ["broken/random.wav", "broken/notes.wav", "../up.wav"]
    client.put_object(Bucket=bucket, Key="in/m.csv", Body=("audio_uri\n" + "\n".join(entries) + "\n").encode())
    args = _s3_overrides(s3, "in/m.csv", "out", tiny_checkpoint)
    manifest = f"s3://{bucket}/out/_manifest/results.parquet"

    code, out, err = _run(capsys, *args)
    assert code == 3, out + err
    assert _last_line(out) == (f"frcrn-job: finished with 3 error rows of 5 inputs (undecodable 2, unsafe_path 1); "
                               f"manifest: {manifest}")
    summary = json.loads(client.get_object(Bucket=bucket, Key="out/_manifest/summary.json")["Body"].read())
    assert summary["exit_code"] == 3 and summary["outcome"] == _last_line(out)

    code, out, err = _run(capsys, *args, "job.fail_on_error_rows=false")  # the switch: 0, same line
    assert code == 0, out + err
    assert _last_line(out).startswith(
        "frcrn-job: finished with 3 error rows of 5 inputs (undecodable 2, unsafe_path 1)")
    assert "job.fail_on_error_rows is false" in _last_line(out)


def test_exit_2_bad_input_spec_is_one_line(tmp_path, capsys):
    (tmp_path / "header_only.csv").write_text("audio_uri\n")
    (tmp_path / "no_column.csv").write_text("path\na.wav\n")
    for manifest, needle in (("header_only.csv", "no inputs"), ("no_column.csv", "no column 'audio_uri'"),
                             ("missing.csv", "does not exist")):
        code, out, err = _run(capsys, f"input.uri={tmp_path}/{manifest}", f"output.uri={tmp_path}/out")
        assert code == 2, out + err
        line = err.strip()
        assert line.count("\n") == 0 and line.startswith("frcrn-job: input error: ") and needle in line, line
    assert not (tmp_path / "out").exists()


def test_exit_4_every_input_refused(tmp_path, capsys):
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "m.csv").write_text("audio_uri\n../a.wav\n/etc/passwd\nfile:///etc/hosts\n")
    code, out, err = _run(capsys, f"input.uri={tmp_path}/in/m.csv", f"output.uri={tmp_path}/out")
    assert code == 4, out + err
    assert _last_line(out) == ("frcrn-job: no input could be processed: all 3 inputs are error rows (unsafe_path 3); "
                               f"manifest: {tmp_path}/out/_manifest/results.parquet")
    df = pd.read_parquet(tmp_path / "out" / "_manifest" / "results.parquet")
    assert len(df) == 3 and set(df["error_type"]) == {"unsafe_path"}
    # fail_on_error_rows does not turn "nothing could be processed" into a success
    code, out, err = _run(capsys, f"input.uri={tmp_path}/in/m.csv", f"output.uri={tmp_path}/out",
                          "job.fail_on_error_rows=false")
    assert code == 4, out + err


def test_exit_75_another_run_holds_the_lease(tmp_path, capsys):
    (tmp_path / "m.csv").write_text("audio_uri\na.wav\n")
    runs = tmp_path / "out" / "_manifest" / "runs"
    runs.mkdir(parents=True)
    (runs / "other.json").write_text(json.dumps({"job_id": "other", "state": "running",
                                                 "started_at": "2026-01-01T00:00:00+00:00",
                                                 "heartbeat_at": time.time()}))
    code, out, err = _run(capsys, f"input.uri={tmp_path}/m.csv", f"output.uri={tmp_path}/out")
    assert code == 75, out + err
    line = err.strip()
    assert line.count("\n") == 0 and line.startswith("frcrn-job: output location busy: another run (other"), line
    assert f"is writing to {tmp_path}/out" in line and "job.lease_seconds" in line


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # nothing listens once the socket is closed


def test_exit_5_unreachable_endpoint(tmp_path, capsys, tiny_checkpoint):
    endpoint = f"http://127.0.0.1:{_closed_port()}"
    options = {"endpoint_url": endpoint, "key": "AKIA-NEVER-SHOWN", "secret": "never-shown",
               "client_kwargs": {"region_name": "us-east-1"},
               "config_kwargs": {"connect_timeout": 1, "read_timeout": 1, "retries": {"max_attempts": 1}}}
    so = json.dumps(options)
    t0 = time.time()
    code, out, err = _run(capsys, "input.uri=s3://corpus/m.csv", "output.uri=s3://clean/out",
                          f"input.storage_options={so}", f"output.storage_options={so}", "compute.io_retries=0",
                          f"model.checkpoint={tiny_checkpoint}")
    assert code == 5, out + err
    line = err.strip()
    assert line.count("\n") == 0, line
    assert line.startswith("frcrn-job: storage error: output.uri s3://clean/out: cannot reach the storage endpoint "
                           f"{endpoint}"), line
    assert "check the endpoint URL" in line and "details:" in line
    assert "never-shown" not in out + err and "AKIA" not in out + err
    assert time.time() - t0 < 60


def test_exit_5_missing_output_bucket_names_the_bucket(s3, capsys, tiny_checkpoint):
    s3["client"].put_object(Bucket=s3["bucket"], Key="in/a.wav", Body=encode(tone(0.5, 16000), 16000))
    s3["client"].put_object(Bucket=s3["bucket"], Key="in/m.csv", Body=b"audio_uri\na.wav\n")
    args = _s3_overrides(s3, "in/m.csv", "out", tiny_checkpoint)
    missing = s3["bucket"] + "-missing"
    args = [a if not a.startswith("output.uri=") else f"output.uri=s3://{missing}/clean" for a in args]
    code, out, err = _run(capsys, *args)
    assert code == 5, out + err
    line = err.strip()
    assert line.count("\n") == 0, line
    assert f"the bucket '{missing}' does not exist at {s3['endpoint']}" in line, line
    assert "create it or correct output.uri" in line
    assert not [k for k in list_keys(s3["client"], s3["bucket"]) if not k.startswith("in/")]


def test_exit_1_internal_failure_names_the_log_with_the_traceback(tmp_path, capsys, ray_local, tiny_checkpoint):
    """Replicas that cannot be built (the factory raises) fail the execution: exit 1, every input
    still gets a row, and the last line names the log file holding the traceback."""
    (tmp_path / "a.wav").write_bytes(encode(tone(0.5, 16000), 16000))
    (tmp_path / "m.csv").write_text("audio_uri\na.wav\n")
    log_file = tmp_path / "job.log"
    code = main(["run", LOCAL, f"input.uri={tmp_path}/m.csv", f"output.uri={tmp_path}/out",
                 *model_overrides(tiny_checkpoint), f"model.factory={factories.__name__}:broken_factory",
                 "ray.max_consecutive_replica_init_deaths=1", "compute.execution_attempts=1",
                 "--log-file", str(log_file)])
    out, err = capsys.readouterr()
    assert code == 1, out + err
    last = _last_line(out)
    assert last.startswith("frcrn-job: the run failed (") and f"traceback in {log_file}" in last, last
    assert "Traceback" not in out + err
    assert "Traceback" in log_file.read_text() and factories.BROKEN in log_file.read_text()
    df = pd.read_parquet(tmp_path / "out" / "_manifest" / "results.parquet")
    assert list(df["error_type"]) == ["job_failed"]


def test_manifest_schema_is_identical_for_all_ok_and_with_error_rows(tmp_path, ray_local, tiny_checkpoint):
    """The Arrow types of results.parquet never depend on the mix of ok and error rows (they used
    to: input_sample_rate/input_channels were int32 in an all-ok run and float64 with errors)."""
    from jobs.config import load_config
    from jobs.pipeline import run_job
    from jobs.results import SCHEMA

    tables = {}
    for name, extra in (("all_ok", []), ("with_errors", ["gone.wav", "../up.wav", "bad.wav"])):
        inp = tmp_path / name
        inp.mkdir()
        (inp / "a.wav").write_bytes(encode(tone(0.5, 44100, channels=2), 44100))
        (inp / "bad.wav").write_bytes(b"not audio at all" * 10)
        entries = ["a.wav", *extra]
        pd.DataFrame({"audio_uri": entries, "n": range(len(entries))}).to_parquet(inp / "m.parquet")
        result = run_job(load_config(LOCAL, [f"input.uri={inp}/m.parquet", f"output.uri={tmp_path}/out-{name}",
                                             *model_overrides(tiny_checkpoint)]), echo=lambda *_: None)
        assert result.exit_code == (3 if extra else 0)
        tables[name] = pq.read_table(tmp_path / f"out-{name}" / "_manifest" / "results.parquet")
    ok, mixed = tables["all_ok"], tables["with_errors"]
    assert [(f.name, f.type) for f in ok.schema] == [(f.name, f.type) for f in mixed.schema]
    assert [(f.name, f.type) for f in ok.schema][:len(SCHEMA)] == [(f.name, f.type) for f in SCHEMA]
    assert str(ok.schema.field("input_sample_rate").type) == "int32"
    assert str(ok.schema.field("manifest_format").type) == "string" and str(ok.schema.field("n").type) == "int64"
    assert set(mixed.column("status").to_pylist()) == {"ok", "error"}
    rates = dict(zip(mixed.column("input_uri").to_pylist(), mixed.column("input_sample_rate").to_pylist()))
    assert rates[str(tmp_path / "with_errors" / "a.wav")] == 44100
    assert rates[str(tmp_path / "with_errors" / "gone.wav")] is None  # nulls are nulls, not NaN
