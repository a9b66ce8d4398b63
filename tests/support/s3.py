"""Inspecting buckets of the moto S3 server (the ``s3`` fixture in tests/conftest.py)."""

from __future__ import annotations


def list_keys(client, bucket: str) -> list[str]:
    """Every key in ``bucket``, through a boto3 client (all pages)."""
    keys, token = [], None
    while True:
        kw = {"Bucket": bucket, **({"ContinuationToken": token} if token else {})}
        resp = client.list_objects_v2(**kw)
        keys += [o["Key"] for o in resp.get("Contents", [])]
        if not resp.get("IsTruncated"):
            return keys
        token = resp["NextContinuationToken"]
