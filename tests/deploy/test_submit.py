"""deploy/submit.sh + submit.py: what is packaged (fast), and a real `ray job submit` of the demo
job to a local Ray head with token authentication (slow)."""

from __future__ import annotations

import importlib.util
import json
import os
import secrets
import subprocess
import sys

import pandas as pd
import pytest

from .conftest import DEPLOY, ROOT, ray_cli

SUBMIT = DEPLOY / "submit.sh"


def _load_submit_module():
    spec = importlib.util.spec_from_file_location("frcrn_deploy_submit", DEPLOY / "submit.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


submit = _load_submit_module()


@pytest.fixture
def clean_env(monkeypatch):
    """No cluster address, token or storage options inherited from whoever runs the tests."""
    for name in list(os.environ):
        if name.startswith("RAY_") or name == "FRCRN_STORAGE_OPTIONS":
            monkeypatch.delenv(name)
    monkeypatch.chdir(ROOT)
    return monkeypatch


def run_submit(capsys, *args: str) -> tuple[int, str, str]:
    """submit.py in-process (the project imports once); (exit status, stdout, stderr)."""
    code = submit.main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def dry_run(capsys, *args: str) -> dict:
    code, out, err = run_submit(capsys, "--dry-run", *args)
    assert code == 0, err
    return json.loads(out)


# --------------------------------------------------------------------------- packaging (fast)


def test_workdir_mode_ships_the_repo_without_junk_and_runs_the_local_command(clean_env, capsys):
    clean_env.setenv("RAY_ADDRESS", "http://head:8265")
    plan = dry_run(capsys, "configs/local.yaml", "output.uri=/data/clean")
    env = plan["runtime_env"]
    assert env["working_dir"] == str(ROOT)
    for junk in (".git", "runs/", "out/", "tests/", "deploy/", "*.bin", ".env"):
        assert junk in env["excludes"]
    assert not any("safetensors" in e for e in env["excludes"])  # the default weights ship
    expected = f"python -m jobs run configs/local.yaml output.uri=/data/clean job.id={plan['submission_id']}"
    assert plan["entrypoint"] == expected
    assert plan["address"] == "http://head:8265"
    assert "env_vars" not in env and "pip" not in env


def test_storage_options_come_from_the_environment_and_are_never_printed(clean_env, capsys):
    so = json.dumps({"endpoint_url": "http://minio:9000", "key": "AKIA-not-real", "secret": "s3cr3t-value"})
    clean_env.setenv("FRCRN_STORAGE_OPTIONS", so)
    code, out, err = run_submit(capsys, "--dry-run", "configs/s3_cluster.yaml")
    assert code == 0, err
    plan = json.loads(out)
    assert plan["runtime_env"]["env_vars"] == {"FRCRN_STORAGE_OPTIONS": "***"}
    assert "s3cr3t-value" not in out + err and "AKIA-not-real" not in out + err
    assert "--runtime-env " in plan["command"] and "--runtime-env-json" not in plan["command"]


def test_refuses_secrets_on_the_command_line_and_a_missing_address(clean_env, capsys):
    code, _, err = run_submit(capsys, "configs/s3_cluster.yaml")
    assert code == 2 and "RAY_ADDRESS" in err
    clean_env.setenv("RAY_ADDRESS", "http://h:8265")
    code, _, err = run_submit(capsys, "configs/s3_cluster.yaml", "input.storage_options.secret=x")
    assert code == 2 and "FRCRN_STORAGE_OPTIONS" in err
    code, _, err = run_submit(capsys, "configs/s3_cluster.yaml", "--forward-env", "RAY_AUTH_TOKEN")
    assert code == 2 and "never forwarded" in err
    clean_env.setenv("RAY_ADDRESS", "ray://h:10001")
    code, _, err = run_submit(capsys, "configs/s3_cluster.yaml")
    assert code == 2 and "dashboard URL" in err


def test_bad_config_fails_before_submitting(clean_env, capsys):
    clean_env.setenv("RAY_ADDRESS", "http://h:8265")
    code, _, err = run_submit(capsys, "configs/local.yaml", "compute.max_replicaz=3")
    assert code == 2 and "max_replicas" in err  # the project's loader names the key it meant


def test_relative_output_is_flagged(clean_env, capsys):
    code, _, err = run_submit(capsys, "--dry-run", "configs/local.yaml")
    assert code == 0 and "output.uri=out/demo is relative" in err
    code, _, err = run_submit(capsys, "--dry-run", "configs/local.yaml", "output.uri=/shared/clean")
    assert code == 0 and "relative" not in err


def test_token_auth_mode_is_set_for_the_client_only_when_a_token_is_given(clean_env):
    assert "RAY_AUTH_MODE" not in submit.client_env()
    clean_env.setenv("RAY_AUTH_TOKEN_PATH", "/run/secrets/ray_token")
    assert submit.client_env()["RAY_AUTH_MODE"] == "token"
    clean_env.setenv("RAY_AUTH_MODE", "disabled")  # an explicit choice is respected
    assert submit.client_env()["RAY_AUTH_MODE"] == "disabled"


def test_image_and_wheel_modes(clean_env, capsys, tmp_path):
    plan = dry_run(capsys, "--mode", "image", "configs/s3_cluster.yaml", "compute.max_replicas=4")
    assert plan["entrypoint"] == f"frcrn-job run s3_cluster.yaml compute.max_replicas=4 job.id={plan['submission_id']}"
    assert "excludes" not in plan["runtime_env"]
    fake = tmp_path / "frcrn-0.1.0-py3-none-any.whl"
    fake.write_bytes(b"PK")
    plan = dry_run(capsys, "--mode", "wheel", "--wheel", str(fake), "configs/s3_cluster.yaml")
    assert plan["runtime_env"]["pip"]["packages"] == ["${RAY_RUNTIME_ENV_CREATE_WORKING_DIR}/" + fake.name]
    assert plan["entrypoint"].startswith("frcrn-job run s3_cluster.yaml")


def test_with_deps_lists_the_light_requirements_only(clean_env, capsys):
    plan = dry_run(capsys, "--with-deps", "configs/local.yaml")
    packages = plan["runtime_env"]["pip"]["packages"]
    names = {p.split("=")[0].split(">")[0].split("[")[0].lower() for p in packages}
    assert {"numpy", "soundfile", "soxr", "s3fs", "onnxruntime"} <= names
    assert not names & {"torch", "ray", "frcrn"}


# --------------------------------------------------------------------------- end to end (slow)


def _checkpoint_overrides(tmp_path) -> list[str]:
    from frcrn.model.checkpoint import DEFAULT_CHECKPOINT

    if DEFAULT_CHECKPOINT.exists():
        return []  # the shipped weights travel with the working dir
    import torch

    from frcrn.model.checkpoint import save_checkpoint
    from frcrn.model.config import ModelConfig
    from frcrn.model.network import FRCRN

    torch.manual_seed(0)
    path = tmp_path / "tiny.safetensors"
    save_checkpoint(FRCRN(ModelConfig(width=8, fsmn_hidden=8)).eval(), path, model_id="frcrn-tiny-random-test")
    return [f"model.checkpoint={path}"]


@pytest.mark.slow
def test_ray_job_submit_runs_the_demo_job(ray_head, tmp_path):
    out = tmp_path / "clean"
    sid = "frcrn-deploy-test-" + secrets.token_hex(3)
    overrides = [f"output.uri={out}", "model.enhance.num_threads=1", "job.progress_every_s=1",
                 *_checkpoint_overrides(tmp_path)]  # ray.progress_bars: the default, "auto"
    # FRCRN_STORAGE_OPTIONS must reach the job; auto_mkdir is a harmless option of local storage.
    env = ray_head.client_env(FRCRN_STORAGE_OPTIONS=json.dumps({"auto_mkdir": True}), PYTHON=sys.executable)
    r = subprocess.run([str(SUBMIT), "configs/local.yaml", *overrides, "--submission-id", sid], env=env, cwd=ROOT,
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, f"stdout:\n{r.stdout[-6000:]}\nstderr:\n{r.stderr[-3000:]}\n{ray_head.diagnostics()}"
    assert ray_head.token not in r.stdout + r.stderr

    demo = pd.read_csv(ROOT / "jobs" / "demo" / "audio" / "manifest.csv")
    manifest = pd.read_parquet(out / "_manifest" / "results.parquet")
    assert len(manifest) == len(demo) and manifest["input_uri"].is_unique
    assert set(manifest["status"]) == {"ok"}, manifest[["input_uri", "error_type", "error_message"]]
    assert set(manifest["job_id"]) == {sid}  # RAY_JOB_SUBMISSION_ID became the job id
    assert set(manifest["speaker"]) == set(demo["speaker"])  # the manifest's own columns carried through
    for uri in manifest["output_uri"]:
        assert uri.startswith(str(out) + "/") and os.path.getsize(uri) > 44
    summary = json.loads((out / "_manifest" / "summary.json").read_text())
    assert summary["config"]["output"]["storage_options"] == {"auto_mkdir": "***"}  # forwarded, redacted
    # The job's log (tailed by `ray job submit`) has its progress lines, plain text, the last one
    # with every recording done; Ray Data's own progress is off in a non-interactive run.
    progress = [line for line in r.stdout.splitlines() if line.startswith("  progress    ")]
    assert progress and f"{len(demo)}/{len(demo)} recordings (100.0 %)" in progress[-1], r.stdout[-6000:]
    assert not any("\x1b" in line or "\r" in line for line in progress)
    assert "Total Progress" not in r.stdout

    status = subprocess.run([*ray_cli(), "job", "status", sid, "--address", ray_head.address],
                            env=ray_head.client_env(RAY_AUTH_MODE="token"), capture_output=True, text=True,
                            timeout=60)
    assert status.returncode == 0 and "succeeded" in (status.stdout + status.stderr).lower()


@pytest.mark.slow
def test_the_jobs_api_refuses_clients_without_the_token(ray_head):
    env = ray_head.client_env(RAY_AUTH_MODE="token", RAY_AUTH_TOKEN="not-the-token")
    r = subprocess.run([*ray_cli(), "job", "list", "--address", ray_head.address], env=env, capture_output=True,
                       text=True, timeout=60)
    assert r.returncode != 0 and ("403" in r.stdout + r.stderr or "Authentication" in r.stdout + r.stderr)
    env = {k: v for k, v in ray_head.client_env().items() if k != "RAY_AUTH_TOKEN"}
    env["RAY_AUTH_MODE"] = "disabled"  # no token sent at all
    r = subprocess.run([*ray_cli(), "job", "list", "--address", ray_head.address], env=env, capture_output=True,
                       text=True, timeout=60)
    assert r.returncode != 0 and ("401" in r.stdout + r.stderr or "Authentication" in r.stdout + r.stderr)
