"""Security: untrusted checkpoints, manifests pointing where they should not, credential leaks,
input-controlled output metadata.

* A malicious pickle given as ``model.checkpoint`` is refused before any work (exit 2, a clear
  message) and the code inside never runs (its marker file is never created).
* ``input.allowed_prefixes``: manifest entries outside every allowed prefix become
  ``unsafe_path`` rows and are never read (the proxy sees no request for them).
* Nothing is written outside the output prefix; credentials given as storage options or AWS_*
  variables appear nowhere: not in the driver's or workers' logs (the CLI subprocess's
  stdout/stderr and the job's log file, which receives the workers' output), not in error
  messages stored in the manifest, not in summary/run JSON.
* Output objects carry no metadata derived from input names or manifest columns.
"""

from __future__ import annotations

import json
import os
import pickle

import pandas as pd
import pytest

from jobs.cli import main as cli_main
from tests.support.s3 import list_keys

from .conftest import LOCAL, assert_outputs_decode, audio_keys, job_overrides, read_manifest, start_cli, wait
from .corpus import encode, tone
from .faultproxy import Deny, FaultPlan, FaultProxy

KEY_ID = "AKIAREL1ABILITYTEST7"
SECRET = "s3cr3t/Rel1ability+Never-Log-Me"
ENV_SECRET = "env-s3cr3t/AWS+Never-Log-Me-Either"


class _Evil:
    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_malicious_pickle_checkpoint_is_refused_without_running_code(s3, tmp_path, capsys):
    marker = tmp_path / "pwned"
    evil = tmp_path / "evil.pt"
    evil.write_bytes(pickle.dumps({"state_dict": _Evil(str(marker))}, protocol=2))
    s3["client"].put_object(Bucket=s3["bucket"], Key="in/a.wav", Body=encode(tone(0.5)))
    s3["client"].put_object(Bucket=s3["bucket"], Key="in/m.csv", Body=b"audio_uri\na.wav\n")
    code = cli_main(["run", LOCAL, *job_overrides(s3, str(evil), "in/m.csv", "out")])
    err = capsys.readouterr().err
    assert code == 2, err
    assert "model.checkpoint is unusable" in err and "refused" in err, err
    assert not marker.exists()  # the pickle's code never ran (driver side; no replica was started)
    assert not [k for k in list_keys(s3["client"], s3["bucket"]) if k.startswith("out/")]


def test_allowed_prefixes_refuse_without_reading(s3, ray_local, tiny_checkpoint):
    client, bucket = s3["client"], s3["bucket"]
    for key in ("in/public/a.wav", "in/public/sub/b.wav", "in/private/c.wav", "in/public-evil/d.wav"):
        client.put_object(Bucket=bucket, Key=key, Body=encode(tone(0.5)))
    client.put_object(Bucket=bucket, Key="in/m.csv",
                      Body=b"audio_uri\npublic/a.wav\npublic/sub/b.wav\nprivate/c.wav\npublic-evil/d.wav\n")
    with FaultProxy(s3["endpoint"]) as proxy:
        from .conftest import run_inprocess

        result = run_inprocess(job_overrides(
            s3, tiny_checkpoint, "in/m.csv", "out", f"input.allowed_prefixes=[s3://{bucket}/in/public]",
            endpoint=proxy.endpoint))
    assert result.exit_code == 3  # the refused inputs are error rows
    df = read_manifest(client, bucket, "out").set_index("input_uri")
    for name in ("a.wav", "sub/b.wav"):
        assert df.loc[f"s3://{bucket}/in/public/{name}", "status"] == "ok"
    for uri in ("private/c.wav", "public-evil/d.wav"):  # refused rows keep the manifest's text
        assert df.loc[uri, "error_type"] == "unsafe_path" and "allowed_prefixes" in df.loc[uri, "error_message"]
    touched = {path for method, path, _ in proxy.log if method in ("GET", "HEAD")}
    assert not [p for p in touched if "/private/" in p or "/public-evil/" in p], touched


@pytest.mark.slow
def test_no_credentials_in_logs_manifest_or_summary(s3, ray_local, tiny_checkpoint, tmp_path):
    client, bucket = s3["client"], s3["bucket"]
    names = [f"f{i}.wav" for i in range(6)]
    for name in names:
        client.put_object(Bucket=bucket, Key=f"in/{name}", Body=encode(tone(0.6, seed=len(name))))
    client.put_object(Bucket=bucket, Key="in/denied.wav", Body=encode(tone(0.5)))
    entries = names + ["denied.wav", "missing.wav"]
    manifest = pd.DataFrame({"audio_uri": entries, "title": ["t"] * len(entries)})
    client.put_object(Bucket=bucket, Key="in/m.csv", Body=manifest.to_csv(index=False).encode())
    # Credentials via storage options (input/output) AND the AWS_* environment of the driver.
    plan = FaultPlan(rate=0.25, kinds=("500", "slowdown", "reset"), methods=("GET", "PUT"), seed=7,
                     deny=[Deny("in/denied.wav", "403")])
    log = tmp_path / "job.log"
    with FaultProxy(s3["endpoint"], plan) as proxy:
        so = {**s3["options"], "endpoint_url": proxy.endpoint, "key": KEY_ID, "secret": SECRET}
        overrides = job_overrides(s3, tiny_checkpoint, "in/m.csv", "out", f"ray.address={ray_local}",
                                  "job.id=secrets", "compute.io_retries=6", endpoint=proxy.endpoint)
        overrides = [o for o in overrides if not o.startswith(("input.storage_options", "output.storage_options"))]
        overrides += [f"input.storage_options={json.dumps(so)}", f"output.storage_options={json.dumps(so)}"]
        env = {"AWS_ACCESS_KEY_ID": KEY_ID, "AWS_SECRET_ACCESS_KEY": ENV_SECRET, "RAY_LOG_TO_DRIVER": "1"}
        job_log = tmp_path / "job-log-file.log"  # where the job puts Ray's and the workers' output
        code = wait(start_cli([*overrides, "--log-file", str(job_log)], env=env, log_path=log), 300)
    text = log.read_text(errors="replace")
    assert code == 3, text[-3000:]  # denied + missing are error rows
    assert proxy.stats["faults"] > 0  # retry warnings with error texts were produced and logged

    df = read_manifest(client, bucket, "out")
    assert set(df.loc[df["status"] == "error", "error_type"]) == {"permission_denied", "not_found"}
    artefacts = {"stdout/stderr": text, "job log file": job_log.read_text(errors="replace"),
                 "manifest": df.to_json(date_format="iso")}
    for key in list_keys(client, bucket):
        if key.startswith("out/_manifest/"):
            artefacts[key] = client.get_object(Bucket=bucket, Key=key)["Body"].read().decode("utf-8", "replace")
    for where, content in artefacts.items():
        for secret in (SECRET, ENV_SECRET, KEY_ID):
            assert secret not in content, f"{secret!r} leaked into {where}"
    assert any(k.startswith("out/_manifest/runs/") for k in artefacts)

    # Only the output prefix was written; outputs decode and carry no input-derived metadata.
    assert all(k.startswith(("in/", "out/")) for k in list_keys(client, bucket))
    assert_outputs_decode(client, bucket, "out", df)
    for key in audio_keys(client, bucket, "out"):
        head = client.head_object(Bucket=bucket, Key=key)
        assert head.get("Metadata", {}) == {}, (key, head.get("Metadata"))
        assert head.get("ContentType") in ("audio/x-wav", "audio/wav", "binary/octet-stream",
                                           "application/octet-stream"), head.get("ContentType")
        assert "ContentDisposition" not in head and "WebsiteRedirectLocation" not in head
