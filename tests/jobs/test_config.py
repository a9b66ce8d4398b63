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
    assert local.model.device == "cpu" and local.compute.gpus_per_replica == 0
    cluster = load_config(S3, cwd=str(ROOT))
    assert cluster.input.uri.startswith("s3://") and cluster.output.uri.startswith("s3://")
    assert cluster.compute.gpus_per_replica == 0.5 and cluster.model.device == "cuda"


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
        "compute.gpus_per_replica=0.5", "model.device=cuda", "resume.enabled=false",
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
    ("model.window_seconds=1.5", r"model: invalid enhance config"),
    ("model.batch_size=-1", r"model: invalid enhance config: batch_size must be at least 1 \(or 0 = auto\)"),
    ("model.device=tpu", r"model: invalid enhance config: device must be"),
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
    with pytest.raises(Exception):
        cfg.input.uri = "x"  # type: ignore[misc]
    assert os.path.basename(LOCAL) == "local.yaml"
