"""Which execution failures make the driver re-plan and run the missing inputs again.

The end-to-end proof (a node removed mid-job, the job still finishes with every input ok) is
tests/reliability/test_worker_faults.py::test_worker_node_removed_mid_job; here only the rule."""

from __future__ import annotations

import ray.exceptions

from jobs.pipeline import _is_system_fault


def _chained(outer: Exception, inner: Exception) -> Exception:
    try:
        try:
            raise inner
        except Exception as err:
            raise outer from err
    except Exception as caught:
        return caught


def test_lost_node_errors_are_cluster_faults():
    assert _is_system_fault(ray.exceptions.ActorUnavailableError("gone", None))
    assert _is_system_fault(ray.exceptions.NodeDiedError("node gone"))
    assert _is_system_fault(ray.exceptions.ObjectLostError("00" * 28, None, "call site"))


def test_a_cluster_fault_wrapped_by_ray_data_is_still_found():
    assert _is_system_fault(_chained(RuntimeError("execution failed"), ray.exceptions.NodeDiedError("x")))


def test_errors_in_data_or_code_are_not_cluster_faults():
    assert not _is_system_fault(ValueError("bad config"))
    assert not _is_system_fault(_chained(RuntimeError("wrapped"), KeyError("column")))
