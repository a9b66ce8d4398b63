"""Storage faults: the job talks to moto_server through :class:`FaultProxy`, which fails a share
of requests the way S3 and networks do (500 InternalError, 503 SlowDown/ServiceUnavailable,
connection resets before and after the server acted, responses cut in half, slow responses).

* transient faults are retried (s3fs/botocore, then ``compute.io_retries`` with backoff) and the
  job completes with every input ``ok``: nothing lost;
* a permanent failure (every GET of one key answered 500 forever, another 403) becomes one
  ``error`` row for that input, the rest succeed;
* no partially written object is ever visible under its final key: every object listed under
  the output prefix decodes completely and matches its manifest row.
"""

from __future__ import annotations

import pytest

from tests.support.s3 import list_keys

from .conftest import assert_outputs_decode, job_overrides, read_manifest, read_summary, run_inprocess
from .corpus import encode, tone
from .faultproxy import Deny, FaultPlan, FaultProxy

N_FILES = 16


@pytest.mark.slow
def test_transient_and_permanent_storage_faults(s3, ray_local, tiny_checkpoint):
    client, bucket = s3["client"], s3["bucket"]
    rels = [f"d{i % 2}/clip_{i:02d}.wav" for i in range(N_FILES)]
    for i, rel in enumerate(rels):
        client.put_object(Bucket=bucket, Key=f"in/{rel}", Body=encode(tone(0.8 + 0.1 * (i % 3), seed=i)))
    client.put_object(Bucket=bucket, Key="in/m.csv", Body=("audio_uri\n" + "\n".join(rels) + "\n").encode())
    broken, denied = rels[3], rels[10]
    plan = FaultPlan(rate=0.2, seed=1234, delay_s=0.3,
                     deny=[Deny(f"in/{broken}", "500", ("GET",)), Deny(f"in/{denied}", "403", ("GET", "HEAD"))])
    with FaultProxy(s3["endpoint"], plan) as proxy:
        result = run_inprocess(job_overrides(
            s3, tiny_checkpoint, "in/m.csv", "out", "compute.io_retries=3", "job.id=flaky",
            endpoint=proxy.endpoint))
    assert result.exit_code == 3  # the two permanent faults are error rows
    stats = dict(proxy.stats)
    # The faults really happened, of every kind, on reads and on writes.
    assert stats["faults"] >= 10, stats
    for kind in ("500", "503", "slowdown", "reset", "reset_after", "truncate", "delay"):
        assert stats.get(f"fault_{kind}", 0) >= 1, (kind, stats)
    faulted_methods = {m for m, _, f in proxy.log if f and f not in ("403",)}
    assert {"GET", "PUT"} <= faulted_methods, faulted_methods

    df = read_manifest(client, bucket, "out")
    assert len(df) == N_FILES and df["input_uri"].is_unique
    bad = df[df["status"] == "error"].set_index("input_uri")
    assert set(bad.index) == {f"s3://{bucket}/in/{broken}", f"s3://{bucket}/in/{denied}"}, bad["error_message"]
    assert bad.loc[f"s3://{bucket}/in/{broken}", "error_type"] == "read_error"
    assert "InternalError" in bad.loc[f"s3://{bucket}/in/{broken}", "error_message"] or \
        "internal error" in bad.loc[f"s3://{bucket}/in/{broken}", "error_message"].lower()
    assert bad.loc[f"s3://{bucket}/in/{denied}", "error_type"] == "permission_denied"
    summary = read_summary(client, bucket, "out")
    assert summary["counts"] == {"ok": N_FILES - 2, "error": 2, "skipped": 0, "recordings_processed": N_FILES}

    # Every object under the output prefix is whole (no torn or partial object under a final
    # key), ok rows point at them, and no temporary/partial keys or parts are left behind.
    blobs = assert_outputs_decode(client, bucket, "out", df)
    assert len(blobs) == N_FILES - 2
    keys = list_keys(client, bucket)
    assert not [k for k in keys if "partial" in k or "/_parts/" in k], keys
    print("faults injected:", {k: v for k, v in stats.items() if k.startswith("fault")}, "requests", stats["requests"])
