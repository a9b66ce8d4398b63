"""deploy/**/*.yaml: every document parses; the RayJob / RayCluster have what production needs
(entrypoint, cleanup, autoscaling bounds, GPU limits, secrets by reference, images matching the
Ray pin); the ConfigMap is configs/s3_cluster.yaml verbatim and validates with the job's loader."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest
import yaml

from jobs.config import load_config

from .conftest import DEPLOY, PYTHON_TAG, ROOT

KUBERAY = DEPLOY / "kuberay"
YAML_FILES = sorted(p for p in DEPLOY.rglob("*") if p.suffix in (".yaml", ".yml"))
IMAGE_NAME = "registry.example.com/frcrn-job"
CREDENTIAL_ENV = {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "FRCRN_STORAGE_OPTIONS"}
SECRETISH = re.compile(r"(SECRET|PASSWORD|TOKEN|ACCESS_KEY|API_KEY|CREDENTIAL|STORAGE_OPTIONS)", re.I)
LITERAL_CREDENTIAL = re.compile(
    r"(AKIA[0-9A-Z]{16}|ASIA[0-9A-Z]{16}|-----BEGIN [A-Z ]*PRIVATE KEY"
    r"|aws_secret_access_key\s*[:=]\s*['\"]?[A-Za-z0-9/+]{30,})", re.I)


def docs(path: Path) -> list[dict]:
    with open(path) as f:
        return [d for d in yaml.safe_load_all(f) if d is not None]


def all_docs() -> list[tuple[Path, dict]]:
    return [(p, d) for p in YAML_FILES for d in docs(p)]


def by_kind(kind: str) -> list[tuple[Path, dict]]:
    return [(p, d) for p, d in all_docs() if d.get("kind") == kind]


def cluster_specs() -> list[tuple[str, dict]]:
    out = [(f"{p.name} RayJob", d["spec"]["rayClusterSpec"]) for p, d in by_kind("RayJob")]
    out += [(f"{p.name} RayCluster", d["spec"]) for p, d in by_kind("RayCluster")]
    return out


def containers(spec: dict) -> list[tuple[str, dict, dict]]:
    """(group, pod spec, container) for the head and every worker group."""
    out = [("head", spec["headGroupSpec"]["template"]["spec"], c)
           for c in spec["headGroupSpec"]["template"]["spec"]["containers"]]
    for group in spec.get("workerGroupSpecs", []):
        pod = group["template"]["spec"]
        out += [(group["groupName"], pod, c) for c in pod["containers"]]
    return out


def gpus(container: dict) -> float:
    return float(container.get("resources", {}).get("limits", {}).get("nvidia.com/gpu", 0))


# --------------------------------------------------------------------------- all YAML


def test_every_yaml_in_deploy_parses_and_is_a_kubernetes_object():
    assert {"rayjob.yaml", "raycluster.yaml", "configmap.yaml"} <= {p.name for p in YAML_FILES}
    for path, doc in all_docs():
        assert isinstance(doc, dict) and doc.get("apiVersion") and doc.get("kind"), path
        assert doc.get("metadata", {}).get("name"), path


def test_no_literal_credentials_anywhere_in_deploy():
    for path in sorted(p for p in DEPLOY.rglob("*") if p.is_file() and "__pycache__" not in p.parts):
        text = path.read_text(errors="replace")
        assert not LITERAL_CREDENTIAL.search(text), path
    assert not by_kind("Secret"), "Secrets are created by the operator (kubectl create secret), never committed"
    for name, spec in cluster_specs():
        for group, _, container in containers(spec):
            for env in container.get("env", []):
                if SECRETISH.search(env["name"]):
                    assert "value" not in env and "secretKeyRef" in env.get("valueFrom", {}), \
                        f"{name} {group}: {env['name']} must come from a Secret"


# --------------------------------------------------------------------------- RayJob


def test_rayjob_runs_the_job_and_cleans_up():
    (_path, job), = by_kind("RayJob")
    assert job["apiVersion"] == "ray.io/v1"
    spec = job["spec"]
    entrypoint = spec["entrypoint"]
    assert "frcrn-job run" in entrypoint or "python -m jobs run" in entrypoint
    assert spec["shutdownAfterJobFinishes"] is True
    assert isinstance(spec["ttlSecondsAfterFinished"], int) and 60 <= spec["ttlSecondsAfterFinished"] <= 86400
    assert spec.get("activeDeadlineSeconds", 1) > 0
    # The config the entrypoint names is the ConfigMap key mounted on the head, where the driver runs.
    config_path = entrypoint.split(" run ", 1)[1].split()[0]
    head = spec["rayClusterSpec"]["headGroupSpec"]["template"]["spec"]
    mounts = {m["name"]: m["mountPath"] for c in head["containers"] for m in c.get("volumeMounts", [])}
    volumes = {v["name"]: v for v in head["volumes"]}
    (cm_volume,) = [n for n, v in volumes.items() if "configMap" in v]
    (configmap,) = [d for _, d in by_kind("ConfigMap")]
    assert volumes[cm_volume]["configMap"]["name"] == configmap["metadata"]["name"]
    assert config_path == f"{mounts[cm_volume]}/{next(iter(configmap['data']))}"


@pytest.mark.parametrize("name,spec", cluster_specs(), ids=[n for n, _ in cluster_specs()])
def test_cluster_shape(name, spec, ray_pin):
    assert spec["rayVersion"] == ray_pin
    assert spec["enableInTreeAutoscaling"] is True
    assert spec.get("authOptions", {}).get("mode") == "token", "token authentication on"
    head = spec["headGroupSpec"]
    assert head["rayStartParams"].get("num-cpus") == "0", "no tasks on the head"
    assert all(gpus(c) == 0 for c in head["template"]["spec"]["containers"])
    groups = {g["groupName"]: g for g in spec["workerGroupSpecs"]}
    gpu_groups = [g for g in groups.values() if any(gpus(c) > 0 for c in g["template"]["spec"]["containers"])]
    cpu_groups = [g for g in groups.values() if g not in gpu_groups]
    assert gpu_groups and cpu_groups, "GPU workers for the model and CPU workers for decode/encode"
    for g in groups.values():
        assert 0 <= g["minReplicas"] <= g["replicas"] <= g["maxReplicas"], g["groupName"]
        assert g["maxReplicas"] >= 1
    for g in gpu_groups:
        for c in g["template"]["spec"]["containers"]:
            limits, requests = c["resources"]["limits"], c["resources"].get("requests", {})
            assert float(limits["nvidia.com/gpu"]) >= 1
            assert requests.get("nvidia.com/gpu", limits["nvidia.com/gpu"]) == limits["nvidia.com/gpu"]
        assert any(t.get("key") == "nvidia.com/gpu" for t in g["template"]["spec"].get("tolerations", []))


@pytest.mark.parametrize("name,spec", cluster_specs(), ids=[n for n, _ in cluster_specs()])
def test_every_ray_container_gets_s3_credentials_by_reference_and_runs_unprivileged(name, spec):
    for group, pod, container in containers(spec):
        env = {e["name"]: e for e in container.get("env", [])}
        for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
            ref = env[var]["valueFrom"]["secretKeyRef"]
            assert ref["name"] and ref["key"] and not ref.get("optional"), f"{group}: {var}"
        assert set(env) & CREDENTIAL_ENV
        assert pod["securityContext"]["runAsNonRoot"] is True and pod["securityContext"]["runAsUser"] != 0
        assert container["securityContext"]["allowPrivilegeEscalation"] is False
        mounts = {m["mountPath"] for m in container.get("volumeMounts", [])}
        assert "/dev/shm" in mounts, f"{group}: Ray's object store needs a real /dev/shm"


@pytest.mark.parametrize("name,spec", cluster_specs(), ids=[n for n, _ in cluster_specs()])
def test_images_match_the_project_ray_and_python_pins(name, spec, ray_pin, pyproject):
    version = pyproject["project"]["version"]
    for group, _, container in containers(spec):
        variant = "gpu" if gpus(container) > 0 else "cpu"
        assert container["image"] == f"{IMAGE_NAME}:{version}-ray{ray_pin}-{PYTHON_TAG}-{variant}", \
            f"{name} {group}: {container['image']}"
    dockerfiles = {"gpu": "Dockerfile", "cpu": "Dockerfile.cpu"}
    for variant, dockerfile in dockerfiles.items():  # the tag the YAML uses is the one the docs build
        text = (DEPLOY / dockerfile).read_text()
        assert f"-t {IMAGE_NAME}:{version}-ray{ray_pin}-{PYTHON_TAG}-{variant} ." in text


def test_gpu_capacity_covers_the_configured_replicas():
    """maxReplicas x GPUs per pod must hold compute.max_replicas x gpus_per_replica of the job's
    config; otherwise the actor pool can never reach its maximum."""
    (_, configmap), = by_kind("ConfigMap")
    cfg = yaml.safe_load(configmap["data"]["job.yaml"])["compute"]
    needed = cfg["max_replicas"] * cfg["gpus_per_replica"]
    for name, spec in cluster_specs():
        capacity = sum(g["maxReplicas"] * max(gpus(c) for c in g["template"]["spec"]["containers"])
                       for g in spec["workerGroupSpecs"])
        assert capacity >= needed, f"{name}: {capacity} GPUs < {needed} needed"


# --------------------------------------------------------------------------- ConfigMap


def test_configmap_is_s3_cluster_yaml_verbatim_and_up_to_date():
    (_, configmap), = by_kind("ConfigMap")
    assert configmap["apiVersion"] == "v1"
    source = (ROOT / "configs" / "s3_cluster.yaml").read_text(encoding="utf-8")
    assert configmap["data"]["job.yaml"] == source, \
        "configs/s3_cluster.yaml changed: run `python deploy/kuberay/make_configmap.py`"
    spec = importlib.util.spec_from_file_location("frcrn_make_configmap", KUBERAY / "make_configmap.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    rendered = module.render(ROOT / "configs" / "s3_cluster.yaml")
    assert (KUBERAY / "configmap.yaml").read_text(encoding="utf-8") == rendered


def test_configmap_config_validates_with_the_job_loader(tmp_path, monkeypatch):
    monkeypatch.delenv("FRCRN_STORAGE_OPTIONS", raising=False)
    (_, configmap), = by_kind("ConfigMap")
    path = tmp_path / "job.yaml"
    path.write_text(configmap["data"]["job.yaml"])
    cfg = load_config(str(path))
    assert cfg.input.uri.startswith("s3://") and cfg.output.uri.startswith("s3://")
    assert cfg.model.enhance.device.startswith("cuda") and cfg.compute.gpus_per_replica > 0
    (_, job), = by_kind("RayJob")
    overrides = job["spec"]["entrypoint"].split()[3:]
    load_config(str(path), overrides)  # the entrypoint's own overrides (if any) are valid too
