"""Worker faults on a multi-node Ray cluster simulated on this machine
(``ray.cluster_utils.Cluster``: head + 2 worker nodes, 1 CPU and a 100 MB object store each).

The job runs against the cluster (driver in a thread of a subprocess, see ``_cluster_job.py``);
once its first outputs exist a fault is injected:

* ``kill_actor``  an enhancement replica's process is SIGKILLed mid-job;
* ``remove_node`` the worker node hosting a replica is removed (its raylet and workers die,
  its object store is lost);
* ``poison_file`` one file kills the replica that processes it, every time: the replicas are
  built by a ``model.factory`` (tests/reliability/factories.py) that wraps the real enhancer
  and exits its process on that file, as a segfault or OOM kill would.

Each scenario must end with exactly one manifest row per input and, for every ``ok`` row, a
complete, decodable output object of the recorded size and duration.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import boto3
import pytest

from . import factories
from .conftest import LOCAL, ROOT, assert_outputs_decode, read_manifest
from .corpus import RATE, encode, tone

N_FILES = 12
POISON = "poison_pill"


@pytest.fixture(scope="module")
def cluster_runs(moto_endpoint, tiny_checkpoint, tmp_path_factory):
    client = boto3.client("s3", endpoint_url=moto_endpoint, aws_access_key_id="testing",
                          aws_secret_access_key="testing", region_name="us-east-1")
    bucket = f"r-cluster-{os.getpid() % 10000}"
    client.create_bucket(Bucket=bucket)
    names = {}
    for scenario in ("kill_actor", "remove_node", "poison_file"):
        rels = [f"{scenario}/utt_{i:02d}.wav" for i in range(N_FILES)]
        if scenario == "poison_file":
            rels[5] = f"{scenario}/{POISON}.wav"
        for i, rel in enumerate(rels):
            seconds = factories.POISON_SAMPLES / RATE if POISON in rel else 2.0 + (i % 3)
            client.put_object(Bucket=bucket, Key=f"in/{rel}", Body=encode(tone(seconds, seed=i)))
        client.put_object(Bucket=bucket, Key=f"in/{scenario}.csv",
                          Body=("audio_uri\n" + "\n".join(rels) + "\n").encode())
        names[scenario] = rels
    so = json.dumps({"endpoint_url": moto_endpoint, "key": "testing", "secret": "testing",
                     "client_kwargs": {"region_name": "us-east-1"}})

    def overrides(scenario):
        return [f"input.uri=s3://{bucket}/in/{scenario}.csv", f"output.uri=s3://{bucket}/out-{scenario}",
                f"input.storage_options={so}", f"output.storage_options={so}", f"job.id={scenario}",
                f"model.checkpoint={tiny_checkpoint}", "model.enhance.device=cpu", "model.enhance.window_seconds=4.0",
                "model.enhance.overlap_seconds=1.0", "model.enhance.batch_size=1", "model.enhance.num_threads=1",
                "compute.min_replicas=2", "compute.max_replicas=2", "compute.files_per_read_task=2",
                "compute.files_per_model_batch=2", "compute.files_per_write_task=2",
                "compute.read_cpus=0.25", "compute.write_cpus=0.25", "ray.progress_bars=false",
                *([f"model.factory={factories.__name__}:crash_on_poison"] if scenario == "poison_file" else [])]

    order = ["kill_actor", "poison_file", "remove_node"]  # node removal last: it shrinks the cluster
    spec = {"endpoint": moto_endpoint, "bucket": bucket, "config": LOCAL,
            "scenarios": order, "first_output_timeout": 150, "job_timeout": 240,
            **{s: {"prefix": f"out-{s}", "overrides": overrides(s)} for s in order}}
    tmp = tmp_path_factory.mktemp("cluster")
    (tmp / "spec.json").write_text(json.dumps(spec))
    env = {**os.environ,
           "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)}
    proc = subprocess.run([sys.executable, "-m", "tests.reliability._cluster_job", str(tmp / "spec.json"),
                           str(tmp / "result.json")], cwd=str(ROOT), env=env, timeout=780,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    log = proc.stdout.decode(errors="replace")
    assert (tmp / "result.json").exists(), log[-5000:]
    result = json.loads((tmp / "result.json").read_text())
    print(json.dumps({k: {kk: vv for kk, vv in v.items() if kk != "summary"} if isinstance(v, dict) else v
                      for k, v in result.items()}, indent=1))
    return {"client": client, "bucket": bucket, "names": names, "result": result, "log": log}


def _check(cluster_runs, scenario):
    res = cluster_runs["result"]["scenarios"].get(scenario)
    assert res is not None, cluster_runs["log"][-5000:]
    assert res["finished"], f"{scenario}: job still running after the timeout\n" + cluster_runs["log"][-5000:]
    assert "error" not in res, res["error"]
    client, bucket = cluster_runs["client"], cluster_runs["bucket"]
    df = read_manifest(client, bucket, f"out-{scenario}")
    expected = {f"s3://{bucket}/in/{r}" for r in cluster_runs["names"][scenario]}
    assert len(df) == N_FILES and df["input_uri"].is_unique and set(df["input_uri"]) == expected
    assert_outputs_decode(client, bucket, f"out-{scenario}", df)
    return res, df


@pytest.mark.slow
def test_replica_killed_mid_job(cluster_runs):
    res, df = _check(cluster_runs, "kill_actor")
    assert res["job_alive_at_injection"] and res["injected"], res
    assert res["exit_code"] == 0 and (df["status"] == "ok").all(), df[["input_uri", "error_message"]]


@pytest.mark.slow
def test_file_that_crashes_its_worker(cluster_runs):
    res, df = _check(cluster_runs, "poison_file")
    poison = df[df["input_uri"].str.contains(POISON)].iloc[0]
    others = df[~df["input_uri"].str.contains(POISON)]
    assert res["exit_code"] == 3, (res, df[["input_uri", "status", "error_type", "error_message"]])  # one error row
    assert poison["status"] == "error" and poison["error_type"] == "worker_crash", poison["error_message"]
    assert (others["status"] == "ok").all(), others[["input_uri", "error_message"]]


@pytest.mark.slow
def test_worker_node_removed_mid_job(cluster_runs):
    """Losing a node loses the blocks in its object store, which Ray 2.60 cannot rebuild for
    actor outputs: the execution fails and the driver re-plans the inputs without a record."""
    res, df = _check(cluster_runs, "remove_node")
    assert res["job_alive_at_injection"] and res["injected"], res
    assert res["exit_code"] == 0 and (df["status"] == "ok").all(), df[["input_uri", "error_message"]]
