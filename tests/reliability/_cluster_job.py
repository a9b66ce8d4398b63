"""Subprocess body of test_worker_faults: a simulated multi-node Ray cluster on this machine.

``python -m tests.reliability._cluster_job SPEC.json RESULT.json`` starts
``ray.cluster_utils.Cluster`` (head + 2 worker nodes, 1 CPU and a 100 MB object store each),
connects, and for each scenario runs the real job (``jobs.pipeline.run_job``) in a thread while
the main thread waits for its first outputs and then injects the fault:

* ``kill_actor``  SIGKILL the process of one live enhancement replica (found in the GCS actor
  table: class MapWorker(MapBatches(Enhance)), state ALIVE);
* ``poison_file`` no injection here: the scenario's ``model.factory`` builds replicas that exit
  on the spot when they get the poison file;
* ``remove_node`` remove the worker node hosting a replica (raylet and all its workers killed).

Runs in its own process because a process can hold only one Ray connection and the rest of the
test session uses a local Ray. Every wait is bounded; results go to RESULT.json.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time
import traceback


def _audio_keys(client, bucket, prefix):
    resp = client.list_objects_v2(Bucket=bucket, Prefix=prefix + "/")
    return [o["Key"] for o in resp.get("Contents", []) if "/_manifest/" not in o["Key"]]


def _enhance_actors():
    import ray

    out = []
    for info in ray._private.state.actors().values():  # GCS actor table; needs no dashboard
        if "Enhance" in info.get("ActorClassName", "") and info.get("State") == "ALIVE" and info.get("Pid"):
            out.append(info)
    return out


def main(spec_path: str, result_path: str) -> None:
    with open(spec_path) as f:
        spec = json.load(f)
    import boto3
    import ray
    from ray.cluster_utils import Cluster

    from jobs.config import load_config
    from jobs.pipeline import run_job

    client = boto3.client("s3", endpoint_url=spec["endpoint"], aws_access_key_id="testing",
                          aws_secret_access_key="testing", region_name="us-east-1")
    node_args = dict(num_cpus=1, object_store_memory=100 * 2**20)
    t0 = time.time()
    for attempt in range(3):
        # Ray waits a hard-coded 30 s for each raylet to register; on a heavily loaded machine
        # that can run out, so cluster start-up (only start-up) is retried.
        cluster = None
        try:
            cluster = Cluster(initialize_head=True, head_node_args={**node_args, "include_dashboard": False})
            workers = [cluster.add_node(**node_args) for _ in range(2)]
            ray.init(address=cluster.address, logging_level="WARNING", log_to_driver=False)
            cluster.wait_for_nodes(timeout=120)
            break
        except Exception:
            ray.shutdown()
            if cluster is not None:
                cluster.shutdown()
            if attempt == 2:
                raise
    results = {"cluster_start_s": round(time.time() - t0, 1), "scenarios": {}}
    try:
        for name in spec["scenarios"]:
            sc = spec[name]
            res = {"injected": None}
            box = {}

            def run(overrides: list[str], box: dict) -> None:
                try:
                    r = run_job(load_config(spec["config"], overrides), echo=lambda *_: None)
                    box["exit_code"], box["summary"] = r.exit_code, r.summary
                except BaseException as err:
                    box["error"] = "".join(traceback.format_exception(err))[-3000:]

            start = time.time()
            th = threading.Thread(target=run, args=(sc["overrides"], box), daemon=True)
            th.start()
            deadline = start + spec["first_output_timeout"]
            while time.time() < deadline and th.is_alive() and not _audio_keys(client, spec["bucket"], sc["prefix"]):
                time.sleep(0.2)
            res["outputs_at_injection"] = len(_audio_keys(client, spec["bucket"], sc["prefix"]))
            res["job_alive_at_injection"] = th.is_alive()
            if name == "kill_actor" and th.is_alive():
                actors = _enhance_actors()
                if actors:
                    os.kill(int(actors[0]["Pid"]), signal.SIGKILL)
                    res["injected"] = f"SIGKILL pid {actors[0]['Pid']} of {len(actors)} replicas"
            elif name == "remove_node" and th.is_alive():
                # The head node has a CPU too, so at a given moment no live replica may sit on a
                # worker node (one on the head, the other starting): look again for a while.
                by_id = {w.node_id: w for w in workers if w in cluster.worker_nodes}
                node_deadline = time.time() + 60
                while res["injected"] is None and th.is_alive() and time.time() < node_deadline:
                    actors = _enhance_actors()
                    for info in actors:
                        node = by_id.get(info["Address"]["NodeID"])
                        if node is not None:
                            cluster.remove_node(node, allow_graceful=False)
                            res["injected"] = f"removed node {node.node_id[:8]} hosting replica pid {info['Pid']}"
                            break
                    else:
                        res["replicas_seen"] = ["worker" if a["Address"]["NodeID"] in by_id else "head"
                                                for a in actors]
                        time.sleep(0.2)
            elif name == "poison_file":
                res["injected"] = "model.factory: the poison file kills its replica"
            th.join(timeout=spec["job_timeout"])
            res["finished"] = not th.is_alive()
            res["seconds"] = round(time.time() - start, 1)
            res.update(box)
            results["scenarios"][name] = res
            _save(results, result_path)
            if th.is_alive():
                break  # a hung job: report, do not start the next one on a broken cluster
    finally:
        _save(results, result_path)
        ray.shutdown()
        cluster.shutdown()


def _save(results: dict, result_path: str) -> None:
    with open(result_path, "w") as f:
        json.dump(results, f, indent=1, default=str)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
