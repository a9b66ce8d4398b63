"""Config loading: shipped YAMLs, unknown keys, overrides, bad values, secrets never shown."""

from __future__ import annotations

import json
import os

import pytest

from jobs.cli import main
from jobs.config import ConfigError, JobConfig, load_config, parse_overrides, redacted

from .conftest import ROOT

LOCAL = str(ROOT / "configs" / "local.yaml")
S3 = str(ROOT / "configs" / "s3_cluster.yaml")


def test_shipped_configs_validate():
    local = load_config(LOCAL, cwd=str(ROOT))
    assert local.input.uri == str(ROOT / "jobs" / "demo" / "audio" / "manifest.csv")
    assert local.output.uri == str(ROOT / "out" / "demo")
    assert local.model.enhance.device == "cpu" and local.compute.gpus_per_replica == 0
    cluster = load_config(S3, cwd=str(ROOT))
    assert cluster.input.uri.startswith("s3://") and cluster.output.uri.startswith("s3://")
    assert cluster.compute.gpus_per_replica == 0.5 and cluster.model.enhance.device == "cuda"


def test_local_yaml_equals_builtin_defaults():
    """configs/local.yaml is the embedded default: `frcrn-job run` without a config does the same."""
    assert load_config(LOCAL, cwd=str(ROOT)) == load_config(None, cwd=str(ROOT))


def test_unknown_key_suggests_closest(tmp_path):
    with pytest.raises(ConfigError, match=r"unknown key 'input.colum'; did you mean 'input.column'\?"):
        load_config(LOCAL, ["input.colum=x"])
    bad = tmp_path / "bad.yaml"
    bad.write_text("outptu:\n  uri: /x\n")
    with pytest.raises(ConfigError, match=r"unknown key 'outptu'; did you mean 'output'\?"):
        load_config(str(bad))


def test_overrides_are_yaml_typed(tmp_path):
    cfg = load_config(LOCAL, [
        "compute.gpus_per_replica=0.5", "model.enhance.device=cuda", "resume.enabled=false",
        "input.extensions=[.wav, .FLAC]", "output.uri=s3://bucket/out", "compute.max_replicas=4",
        "limits.max_seconds=null", "input.storage_options={anon: true}",
    ], cwd=str(tmp_path))
    assert cfg.compute.gpus_per_replica == 0.5
    assert cfg.resume.enabled is False
    assert cfg.input.extensions == (".wav", ".FLAC")
    assert cfg.output.uri == "s3://bucket/out"
    assert cfg.limits.max_seconds is None
    assert cfg.input.storage_options == {"anon": True}
    assert parse_overrides(["a.b.c=1", "a.d=x y"]) == {"a": {"b": {"c": 1}, "d": "x y"}}
    rel = load_config(None, ["output.uri=rel/out"], cwd=str(tmp_path))
    assert rel.output.uri == str(tmp_path / "rel" / "out")  # relative paths: against the cwd


@pytest.mark.parametrize("override, message", [
    ("compute.max_replicas=two", r"compute.max_replicas: expected integer, got 'two'"),
    ("output.format=mp3", r"output.format: must be one of 'wav', 'flac', got 'mp3'"),
    ("output.sample_rate=imput", r"did you mean 'input'"),
    ("resume.enabled=maybe", r"resume.enabled: expected true/false"),
    ("compute.min_replicas=0", r"compute.min_replicas must be >= 1"),
    ("model.enhance.window_seconds=1.5", r"model.enhance.overlap_seconds: must satisfy 0 < 2\*edge_margin"),
    ("model.enhance.window_seconds=0.5", r"model.enhance.window_seconds: must be at least 1, got 0.5"),
    ("model.enhance.batch_size=-1", r"model.enhance.batch_size: must be at least 1 \(or 0 = auto\), got -1"),
    ("model.enhance.device=tpu", r"model.enhance.device: must be 'auto', 'cpu', 'cuda' or 'cuda:N', got 'tpu'"),
    ("model.enhance.num_threads=0", r"model.enhance.num_threads: must be at least 1, got 0"),
    ("model.enhance.device=cuda", r"model.enhance.device: 'cuda' needs compute.gpus_per_replica > 0"),
    ("model.device=cpu", r"unknown key 'model.device'.*use 'model.enhance.device'"),
    ("model.enhance.devcie=cpu", r"unknown key 'model.enhance.devcie'; did you mean 'model.enhance.device'\?"),
    ("output.name_template={nope}.wav", r"unknown field \{nope\}"),
    ("compute", r"must look like section.key=value"),
])
def test_bad_values_are_clear(override, message):
    with pytest.raises(ConfigError, match=message):
        load_config(LOCAL, [override])


def test_storage_options_never_shown(capsys, monkeypatch):
    monkeypatch.setenv("FRCRN_STORAGE_OPTIONS", json.dumps({"secret": "hunter2", "key": "AKIA-SECRET"}))
    cfg = load_config(S3)
    assert cfg.input.storage_options["secret"] == "hunter2"  # taken from the environment
    assert "hunter2" not in repr(cfg) and "hunter2" not in json.dumps(redacted(cfg))
    assert main(["check", S3]) == 0
    out = capsys.readouterr().out
    assert "hunter2" not in out and "AKIA-SECRET" not in out and '"secret": "***"' in out


def test_cli_config_error_exit_code(capsys):
    assert main(["run", LOCAL, "compute.max_replicsa=3"]) == 2
    err = capsys.readouterr().err
    assert "did you mean 'compute.max_replicas'" in err


def test_defaults_dataclass_is_frozen():
    cfg = JobConfig()
    with pytest.raises(Exception):  # noqa: B017 - any refusal will do (FrozenInstanceError today)
        cfg.input.uri = "x"  # type: ignore[misc]
    assert os.path.basename(LOCAL) == "local.yaml"


def test_config_loading_never_imports_torch():
    """`frcrn-job check` and deploy/submit.py's local validation run where torch is not installed."""
    import subprocess
    import sys

    code = ("import sys, jobs.config; jobs.config.load_config(sys.argv[1]); jobs.config.load_config(sys.argv[2]); "
            "assert 'torch' not in sys.modules, 'torch imported'; print('ok')")
    r = subprocess.run([sys.executable, "-c", code, LOCAL, S3], cwd=ROOT, capture_output=True, text=True,
                       env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=120)
    assert r.returncode == 0 and r.stdout.strip() == "ok", r.stderr


def test_model_enhance_is_frcrns_enhance_config():
    """One source per setting: model.enhance IS EnhanceConfig (every field, same checks), with the
    job's own default device (cpu: the default replicas reserve no GPU)."""
    import dataclasses

    from frcrn.enhance import EnhanceConfig

    cfg = load_config(LOCAL)
    assert isinstance(cfg.model.enhance, EnhanceConfig)
    assert [f.name for f in dataclasses.fields(cfg.model.enhance)] == [
        f.name for f in dataclasses.fields(EnhanceConfig)]
    assert cfg.model.enhance.device == "cpu"
    defaults = {f.name: f.default for f in dataclasses.fields(EnhanceConfig)}
    assert {k: v for k, v in dataclasses.asdict(cfg.model.enhance).items() if k != "device"} == \
        {k: v for k, v in defaults.items() if k != "device"}
    partial = load_config(None, ["model.enhance.batch_size=4"])  # a partial section keeps the job's defaults
    assert partial.model.enhance.device == "cpu" and partial.model.enhance.batch_size == 4
    gpu = load_config(None, ["compute.gpus_per_replica=1", "model.enhance.device=auto"])
    assert gpu.model.enhance.device == "auto"  # resolved inside each replica by frcrn.enhance.resolve_device


def test_every_bad_value_is_one_config_error_line_with_exit_2(tmp_path, capsys):
    yaml_path = tmp_path / "bad.yaml"
    yaml_path.write_text("model:\n  enhance:\n    window_seconds: 0.5\n    batch_size: -2\n")
    assert main(["run", str(yaml_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "Traceback" not in err, err
    assert err.startswith("frcrn-job: config error: ")
    assert "model.enhance.window_seconds: must be at least 1, got 0.5" in err
    assert "model.enhance.batch_size: must be at least 1 (or 0 = auto), got -2" in err
    assert main(["check", LOCAL, "model.enhance.window_seconds=0.5"]) == 2
    assert "model.enhance.window_seconds: must be at least 1, got 0.5" in capsys.readouterr().err


def test_a_wav_given_as_the_config_is_a_config_error(tmp_path, capsys):
    from .conftest import encode, tone

    wav = tmp_path / "noisy.wav"
    wav.write_bytes(encode(tone(0.2, 16000), 16000))
    assert main(["run", str(wav)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "Traceback" not in err, err
    assert "config error" in err and "noisy.wav" in err and "not a YAML config file" in err


@pytest.mark.parametrize(("overrides", "env", "expected"), [
    ([], None, {"include_dashboard": False}),
    (["ray.dashboard=true", "ray.num_cpus=2"], None, {"include_dashboard": True, "num_cpus": 2}),
    (["ray.address=ray://head:10001"], None, {}),
    ([], "head:6379", {}),
])
def test_a_local_ray_starts_without_its_dashboard_unless_asked(monkeypatch, overrides, env, expected):
    """``ray.dashboard`` (default false) and ``ray.num_cpus`` go to ``ray.init`` only when the job
    starts a local Ray, never when it connects to a cluster."""
    import ray

    from jobs.execution import init_ray

    calls = []
    monkeypatch.setattr(ray, "is_initialized", lambda: False)
    monkeypatch.setattr(ray, "init", lambda **kwargs: calls.append(kwargs))
    if env is None:
        monkeypatch.delenv("RAY_ADDRESS", raising=False)
    else:
        monkeypatch.setenv("RAY_ADDRESS", env)
    assert init_ray(load_config(LOCAL, overrides)) is True
    (kwargs,) = calls
    assert {k: v for k, v in kwargs.items() if k in ("include_dashboard", "num_cpus")} == expected
