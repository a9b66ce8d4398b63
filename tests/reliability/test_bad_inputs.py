"""Bad input: one job run over every kind of broken, odd or hostile input, through the S3 API.

Each input must get what a user expects: processed correctly where the audio is valid, otherwise
exactly one ``error`` row with a specific ``error_type`` and a message naming the file and the
problem; the job itself finishes (exit 3: error rows exist) and the summary counts match the manifest. Problems
with the manifest as a whole (no audio column, not UTF-8) are job-level errors: exit status 2,
a message saying what is wrong, and nothing written.
"""

from __future__ import annotations

import io
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from jobs.cli import main as cli_main
from tests.support.s3 import list_keys

from .conftest import LOCAL, assert_outputs_decode, job_overrides, read_manifest, read_summary, run_inprocess
from .corpus import MAX_BYTES, MAX_SECONDS, Case, bad_inputs, encode, tone
from .faultproxy import Deny, FaultPlan, FaultProxy


def test_bad_input_corpus_one_run(s3, ray_local, tiny_checkpoint, tmp_path):
    client, bucket = s3["client"], s3["bucket"]
    files, cases = bad_inputs(tmp_path)
    # A valid file the store refuses to serve (bucket policy / ACL). moto_server does not enforce
    # bucket policies (it has no IAM evaluation unless started in auth mode), so the proxy in
    # front of it answers every request for this key with S3's own 403 AccessDenied.
    files["odd/denied.wav"] = encode(tone(0.5, seed=9))
    cases["odd/denied.wav"] = Case("error", "permission_denied", "access denied")
    for key, data in files.items():
        body = data.read_bytes() if isinstance(data, Path) else data
        client.put_object(Bucket=bucket, Key=f"in/{key}", Body=body)

    keys = list(files)
    refused = {
        "missing/does_not_exist.wav": Case("error", "not_found", "no such file"),
        "s3://no-such-bucket-anywhere/x.wav": Case("error", "unsafe_path", "outside the input root"),
        "../escape.wav": Case("error", "unsafe_path", "'..'"),
        "odd/%2e%2e/x.wav": Case("error", "unsafe_path", "percent-encoded"),
    }
    cases.update(refused)
    entries = keys + list(refused) + [keys[7], f"s3://{bucket}/in/{keys[8]}"]  # 2 duplicates (one as full URL)
    manifest = pd.DataFrame({
        "audio_uri": entries,
        "speaker": [f"spk{i % 3}" for i in range(len(entries))],
        "note": ["café"] * len(entries),  # non-ASCII text in an extra column, carried through
    })
    # A row with no URI at all (missing cell) is an input too: it gets an error row.
    manifest = pd.concat([manifest, pd.DataFrame({"audio_uri": [None], "speaker": ["nobody"], "note": [""]})],
                         ignore_index=True)
    client.put_object(Bucket=bucket, Key="in/manifest.csv", Body=manifest.to_csv(index=False).encode("utf-8"))

    with FaultProxy(s3["endpoint"], FaultPlan(deny=[Deny("in/odd/denied.wav", "403")])) as proxy:
        result = run_inprocess(job_overrides(
            s3, tiny_checkpoint, "in/manifest.csv", "out", f"limits.max_seconds={MAX_SECONDS}",
            f"limits.max_bytes={MAX_BYTES}", "job.id=bad-inputs", endpoint=proxy.endpoint))
    assert result.exit_code == 3  # finished, with error rows

    df = read_manifest(client, bucket, "out")
    assert len(df) == len(entries) + 1  # every manifest line keeps its row, the one with no URI too
    assert df["input_uri"].nunique() == len(cases) + 1  # a repeated input is still one recording
    blank = df[df["speaker"] == "nobody"]
    assert len(blank) == 1 and blank.iloc[0]["error_type"] == "unsafe_path"
    assert "empty audio URI" in blank.iloc[0]["error_message"]

    for key, case in cases.items():
        # refused entries keep their raw text as input_uri (they never resolved to a location)
        uri = key if case.error_type == "unsafe_path" else f"s3://{bucket}/in/{key}"
        rows = df[df["input_uri"] == uri]
        assert len(rows) == (2 if key in (keys[7], keys[8]) else 1), (key, len(rows))
        row = rows.iloc[0]
        assert row["status"] == case.status, (key, row["error_type"], row["error_message"])
        if case.status == "error":
            assert row["error_type"] == case.error_type, (key, row["error_type"], row["error_message"])
            msg = row["error_message"]
            assert case.message.lower() in msg.lower(), (key, msg)
            assert key.rsplit("/", 1)[-1] in msg, (key, msg)  # names the file
            assert row["output_uri"] == "" or not pd.isna(row["output_uri"])
            continue
        assert row["error_type"] == "" and row["error_message"] == ""
        assert row["input_sample_rate"] == case.rate and row["input_channels"] == case.channels, key
        assert abs(row["input_duration_s"] - case.seconds) <= 1 / case.rate + 1e-9, key
        data = client.get_object(Bucket=bucket, Key=row["output_uri"].split(f"{bucket}/", 1)[1])["Body"].read()
        audio, rate = sf.read(io.BytesIO(data), dtype="float32")
        assert rate == 16000 and audio.ndim == 1 and np.isfinite(audio).all()
        assert abs(len(audio) - case.seconds * 16000) <= 1, (key, len(audio))
        if "input_format" in case.check:
            assert row["input_format"] == case.check["input_format"]
        if "level_in_dbfs" in case.check:  # digital silence stays silence
            assert row["level_in_dbfs"] == case.check["level_in_dbfs"] and not audio.any()
        if case.check.get("clipped"):
            assert row["clip_fraction_in"] > 0.3
    for key in (keys[7], keys[8]):  # a repeated line: two identical rows, one output
        dup = df[df["input_uri"] == f"s3://{bucket}/in/{key}"]
        assert len(dup) == 2 and dup["output_uri"].nunique() == 1 and dup["status"].nunique() == 1
    assert (df["note"] == "café").sum() == len(df) - 1  # extra columns carried through untouched

    # Limits are enforced without reading whole files: the 3-hour file is refused from its header
    # (its processing time is far below what decoding 3 h would take), the oversized file after at
    # most max_bytes + 1 bytes.
    long_row = df[df["input_uri"] == f"s3://{bucket}/in/big/three_hours.flac"].iloc[0]
    assert long_row["processing_s"] < 5.0
    assert proxy.bytes_sent[f"{bucket}/in/big/over_max_bytes.wav"] <= MAX_BYTES + 1
    assert proxy.bytes_sent[f"{bucket}/in/odd/denied.wav"] < 1000  # only error bodies

    # The summary agrees with the manifest; outputs exist exactly for ok rows and all decode.
    n_ok = int((df["status"] == "ok").sum())  # rows (the two repeated lines included)
    expected_ok = sum(c.status == "ok" for c in cases.values())
    assert int((df.drop_duplicates("input_uri")["status"] == "ok").sum()) == expected_ok
    summary = read_summary(client, bucket, "out")
    assert summary["counts"] == {"ok": n_ok, "error": len(df) - n_ok, "skipped": 0,
                                 "recordings_processed": df["input_uri"].nunique()}
    assert summary["manifest_counts"] == {"ok": n_ok, "error": len(df) - n_ok}
    assert summary["errors_by_type"] == dict(Counter(df.loc[df["status"] == "error", "error_type"]))
    assert summary["input"]["repeated_lines"] == 2 and summary["input"]["rows"] == len(df)
    assert summary["input"]["recordings"] == df["input_uri"].nunique()
    blobs = assert_outputs_decode(client, bucket, "out", df)
    assert len(blobs) == expected_ok
    assert all(k.startswith(("in/", "out/")) for k in list_keys(client, bucket))


def _put_manifest(s3, key: str, body: bytes) -> None:
    s3["client"].put_object(Bucket=s3["bucket"], Key=key, Body=body)


@pytest.mark.parametrize("name,body,needle", [
    ("no_audio_column.csv", b"path,speaker\na.wav,s1\n", "no column 'audio_uri'"),
    ("latin1.csv", "audio_uri,speaker\na.wav,Ren\xe9e\n".encode("latin-1"), "utf-8"),
    ("not_a_table.parquet", b"PAR1 this is not parquet", "cannot read manifest"),
    ("empty.csv", b"", "cannot read manifest"),
], ids=["no-audio-column", "latin1-csv", "not-parquet", "empty-csv"])
def test_bad_manifest_is_a_job_error(s3, tiny_checkpoint, capsys, name, body, needle):
    _put_manifest(s3, f"m/{name}", body)
    code = cli_main(["run", LOCAL, *job_overrides(s3, tiny_checkpoint, f"m/{name}", "out")])
    err = capsys.readouterr().err
    assert code == 2, err
    assert needle.lower() in err.lower() and name in err, err
    assert "testing" not in err  # no credentials in the message
    assert not [k for k in list_keys(s3["client"], s3["bucket"]) if k.startswith("out/")]  # nothing written
