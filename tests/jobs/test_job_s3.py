"""End to end on the S3 API (moto server + s3fs + real Ray + real FRCRN network)."""

from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path

import pandas as pd
import pytest
import soundfile as sf

from jobs.config import load_config
from jobs.pipeline import run_job
from tests.support.s3 import list_keys

from .conftest import ROOT, corpus, model_overrides

LOCAL = str(ROOT / "configs" / "local.yaml")


def _cfg(s3, manifest_key: str, out_prefix: str, checkpoint: str, *extra: str):
    so = json.dumps(s3["options"])
    return load_config(LOCAL, [
        f"input.uri=s3://{s3['bucket']}/{manifest_key}", f"output.uri=s3://{s3['bucket']}/{out_prefix}",
        f"input.storage_options={so}", f"output.storage_options={so}", *model_overrides(checkpoint), *extra,
    ])


@pytest.mark.slow
def test_end_to_end_s3(s3, ray_local, tiny_checkpoint):
    client, bucket = s3["client"], s3["bucket"]
    files, expect = corpus(long_seconds=60.0, n_short=16)
    for rel, data in files.items():
        client.put_object(Bucket=bucket, Key=f"corpus/{rel}", Body=data)
    entries = list(files) + ["missing/nope.wav", "../escape.wav", "spk_a/clip_01_16000_1ch.flac"]  # + dup
    manifest = pd.DataFrame({
        "audio_uri": entries,
        "speaker": [f"s{i % 5}" for i in range(len(entries))],
        "take": list(range(len(entries))),
    })
    client.put_object(Bucket=bucket, Key="corpus/manifest.csv", Body=manifest.to_csv(index=False).encode())
    expect["missing/nope.wav"] = {"status": "error", "error_type": "not_found"}
    expect["../escape.wav"] = {"status": "error", "error_type": "unsafe_path"}

    cfg = _cfg(s3, "corpus/manifest.csv", "enhanced", tiny_checkpoint, "job.id=e2e-s3")
    result = run_job(cfg)
    assert result.exit_code == 3  # error rows exist (job.fail_on_error_rows, the default)

    # The manifest read back from S3 (not the in-memory copy): exactly one row per manifest line.
    body = client.get_object(Bucket=bucket, Key="enhanced/_manifest/results.parquet")["Body"].read()
    df = pd.read_parquet(io.BytesIO(body))
    assert len(df) == len(entries) and df["input_uri"].nunique() == len(expect) == len(entries) - 1
    sha = hashlib.sha256(Path(tiny_checkpoint).read_bytes()).hexdigest()
    keys = set(list_keys(client, bucket))
    for rel, exp in expect.items():
        uri = f"s3://{bucket}/corpus/{rel}" if not rel.startswith("..") else rel
        row = df[df["input_uri"] == uri]
        assert len(row) == (2 if rel == "spk_a/clip_01_16000_1ch.flac" else 1), rel
        row = row.iloc[0]
        assert row["status"] == exp["status"], (rel, row["error_message"])
        assert row["job_id"] == "e2e-s3"
        first = manifest[manifest["audio_uri"] == rel].iloc[0]
        assert row["speaker"] == first["speaker"] and row["take"] == first["take"]  # carried through
        if exp["status"] == "ok":
            key = "enhanced/" + rel.rsplit(".", 1)[0] + ".wav"
            assert row["output_uri"] == f"s3://{bucket}/{key}" and key in keys
            audio, rate = sf.read(io.BytesIO(client.get_object(Bucket=bucket, Key=key)["Body"].read()))
            assert rate == 16000 and audio.ndim == 1
            assert abs(len(audio) - exp["seconds"] * 16000) <= 1, rel
            assert abs(row["output_duration_s"] - row["input_duration_s"]) <= 1 / 16000 + 1e-9, rel
            assert row["input_sample_rate"] == exp["rate"] and row["input_channels"] == exp["channels"]
            assert row["output_bytes"] > 44 and row["processing_s"] > 0
            assert -60 < row["level_in_dbfs"] < 0 and -120 <= row["level_out_dbfs"] < 10
            assert 0 <= row["clip_fraction_in"] <= 1 and 0 <= row["clip_fraction_out"] <= 1
            assert row["checkpoint_sha256"] == sha and row["model_id"]
            assert row["error_type"] in ("", None) and row["error_message"] in ("", None)
        else:
            assert row["error_type"] == exp["error_type"], (rel, row["error_type"], row["error_message"])
            msg = row["error_message"]
            assert len(msg) > 20 and rel.rsplit("/", 1)[-1] in msg, msg  # names the file, says why
            assert not any(k.startswith("enhanced/" + rel.rsplit(".", 1)[0]) for k in keys)
    dup = df[df["input_uri"] == f"s3://{bucket}/corpus/spk_a/clip_01_16000_1ch.flac"]
    assert dup["take"].tolist() == [1, len(entries) - 1]  # the repeated line keeps its own fields

    # Nothing but outputs and the manifest folder under the prefix; the parts were consolidated.
    n_ok = sum(e["status"] == "ok" for e in expect.values())
    out_keys = sorted(k for k in keys if k.startswith("enhanced/"))
    audio_keys = [k for k in out_keys if not k.startswith("enhanced/_manifest/")]
    assert len(audio_keys) == n_ok
    assert all(k.startswith(("corpus/", "enhanced/")) for k in keys)
    assert not any("/_parts/" in k for k in out_keys)
    # Every object carries its format's Content-Type (not the store's binary/octet-stream default).
    types = {k: client.head_object(Bucket=bucket, Key=k)["ContentType"] for k in out_keys}
    assert {types[k] for k in audio_keys} == {"audio/wav"}
    assert types["enhanced/_manifest/results.parquet"] == "application/vnd.apache.parquet"
    assert types["enhanced/_manifest/summary.json"] == "application/json"
    summary = json.loads(client.get_object(Bucket=bucket, Key="enhanced/_manifest/summary.json")["Body"].read())
    assert summary["counts"] == {"ok": n_ok + 1, "error": len(expect) - n_ok, "skipped": 0,
                                 "recordings_processed": len(expect)}
    assert summary["input"]["repeated_lines"] == 1
    assert summary["hours_in"] > 60 / 3600 and summary["throughput_x_realtime"] > 0
    assert "testing" not in json.dumps(summary)  # storage options never written out

    # Resume through S3 (listing caches must not hide what the workers wrote): delete one output.
    victim = audio_keys[0]
    client.delete_object(Bucket=bucket, Key=victim)
    again = run_job(_cfg(s3, "corpus/manifest.csv", "enhanced", tiny_checkpoint, "job.id=e2e-s3-again"))
    df2 = again.manifest
    assert len(df2) == len(df) and df2["input_uri"].nunique() == len(expect)
    victim_rows = int((df["output_uri"] == f"s3://{bucket}/{victim}").sum())
    assert again.summary["counts"]["skipped"] == n_ok + 1 - victim_rows
    redone = df2[(df2["job_id"] == "e2e-s3-again") & (df2["status"] == "ok")]
    assert set(redone["output_uri"]) == {f"s3://{bucket}/{victim}"}
    assert victim in list_keys(client, bucket)


def test_path_escapes_on_s3(s3, ray_local, tiny_checkpoint):
    client, bucket = s3["client"], s3["bucket"]
    client.create_bucket(Bucket=bucket + "-other")
    client.put_object(Bucket=bucket + "-other", Key="secret.wav",
                      Body=corpus(None, 1)[0]["spk_b/deeper/clip_00_8000_2ch.wav"])
    files, _ = corpus(None, 1)
    (rel, data), = [(k, v) for k, v in files.items() if k.startswith("spk")]
    client.put_object(Bucket=bucket, Key=f"in/{rel}", Body=data)
    attacks = [
        "../x.wav", "../../etc/passwd", "/etc/passwd", f"s3://{bucket}-other/secret.wav",
        f"s3://{bucket}-other/../{bucket}/in/{rel}", "file:///etc/passwd", "%2e%2e/x.wav",
        "spk_b/%2E%2E/%2e%2e/x.wav", "a%2f..%2fb.wav", f"s3://{bucket}/in-evil/x.wav", "sub\\..\\x.wav",
    ]
    body = json.dumps({"audio_uri": rel}) + "\n" + "".join(json.dumps({"audio_uri": a}) + "\n" for a in attacks)
    client.put_object(Bucket=bucket, Key="in/list.jsonl", Body=body.encode())
    before = {b: set(list_keys(client, b)) for b in (bucket, bucket + "-other")}

    result = run_job(_cfg(s3, "in/list.jsonl", "out", tiny_checkpoint))
    df = result.manifest
    assert len(df) == len(attacks) + 1
    assert (df["status"] == "ok").sum() == 1
    bad = df[df["status"] == "error"]
    assert set(bad["error_type"]) == {"unsafe_path"}
    assert all("refused input" in m and "nothing was read or written" in m for m in bad["error_message"])
    after_other = set(list_keys(client, bucket + "-other"))
    assert after_other == before[bucket + "-other"]
    new = set(list_keys(client, bucket)) - before[bucket]
    assert new and all(k.startswith("out/") for k in new), new

    # A naming template that tries to climb out of output.uri: error rows, still nothing written.
    result = run_job(_cfg(s3, "in/list.jsonl", "out2", tiny_checkpoint, "output.name_template={parent}/../../{name}"))
    assert (result.manifest["status"] == "error").all()
    row = result.manifest[result.manifest["input_uri"] == f"s3://{bucket}/in/{rel}"].iloc[0]
    assert row["error_type"] == "unsafe_path" and "cannot name the output" in row["error_message"]
    assert all(k.startswith(("out/", "out2/_manifest/", "in/")) for k in list_keys(client, bucket))
