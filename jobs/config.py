"""Job configuration: YAML -> typed, frozen dataclasses, with overrides and clear errors.

A config is a YAML mapping whose sections mirror the dataclasses below. Every key has a default
(the defaults ARE the local demo job, identical to ``configs/local.yaml``), so a config only
states what differs. Any key can be overridden on the command line as ``section.key=value``;
the value is parsed as YAML, so ``compute.num_gpus=0.5``, ``resume.enabled=false`` and
``input.extensions=[.wav,.flac]`` all do what they look like.

Errors name the offending key with its full dotted path and, for a misspelt key, suggest the
closest valid one. Storage options (credentials, endpoints) are never printed: they are
excluded from ``repr`` and from :func:`redacted` (used for logs and the run summary).

pydantic is deliberately not used: the job must import on a bare Ray worker image with only
the project's light dependencies, and ~150 lines of typed loading cover what is needed here.
"""

from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass, field
from typing import Any, Literal, Mapping

from frcrn.config import ConfigError, apply_overrides, from_dict, parse_overrides, read_yaml

__all__ = [
    "ConfigError",
    "InputConfig",
    "OutputConfig",
    "ModelConfig",
    "ComputeConfig",
    "LimitsConfig",
    "DnsmosConfig",
    "ResumeConfig",
    "RayConfig",
    "JobSection",
    "JobConfig",
    "load_config",
    "parse_overrides",
    "apply_overrides",
    "from_dict",
    "redacted",
    "STORAGE_OPTIONS_ENV",
]

STORAGE_OPTIONS_ENV = "FRCRN_STORAGE_OPTIONS"
"""Environment variable holding a JSON object of fsspec storage options, used for input and
output when the config gives none (e.g. ``{"endpoint_url": "http://minio:9000"}``). Plain
cloud credentials need not go here: s3fs/gcsfs read AWS_* / GOOGLE_* variables themselves."""


# --------------------------------------------------------------------------- sections


@dataclass(frozen=True)
class InputConfig:
    uri: str = "jobs/demo/audio/manifest.csv"
    """Manifest file (.parquet/.csv/.jsonl), glob of manifests, or a folder/prefix to list."""
    column: str = "audio_uri"
    """Manifest column holding the audio URIs (relative ones resolve against the manifest's folder)."""
    format: Literal["auto", "parquet", "csv", "jsonl"] = "auto"
    """Manifest format; "auto" goes by file extension."""
    root: str | None = None
    """Inputs must lie under this folder/prefix and outputs mirror their path below it.
    Default: the manifest's folder, the fixed part of a glob, or the listed folder."""
    extensions: tuple[str, ...] = (".wav", ".flac", ".ogg", ".aiff", ".aif", ".mp3")
    """When listing a folder: file extensions to take (case-insensitive)."""
    allowed_prefixes: tuple[str, ...] = ()
    """Extra allow-list on top of ``root``: when non-empty, every input must also lie below one
    of these URI prefixes (whole path segments: ``s3://b/in/pub`` does not allow
    ``s3://b/in/public``); others become ``unsafe_path`` error rows without being read."""
    storage_options: dict[str, Any] = field(default_factory=dict, repr=False)


@dataclass(frozen=True)
class OutputConfig:
    uri: str = "out/demo"
    name_template: str = "{relpath_stem}.{ext}"
    """Output key below ``uri``. Fields: relpath, relpath_stem, parent, name, stem, suffix, ext."""
    format: Literal["wav", "flac"] = "wav"
    sample_rate: Literal["model", "input"] = "model"
    """"model": write 16 kHz; "input": resample back to each input's own rate."""
    manifest_dir: str = "_manifest"
    storage_options: dict[str, Any] = field(default_factory=dict, repr=False)


@dataclass(frozen=True)
class ModelConfig:
    checkpoint: str | None = None
    """Local path or URL of FRCRN weights; null = the project's shipped default weights."""
    device: str = "cpu"
    """"auto", "cpu", "cuda", "cuda:N"."""
    precision: Literal["fp32", "fp16", "bf16"] = "fp32"
    window_seconds: float = 10.0
    overlap_seconds: float = 1.0
    batch_size: int = 1
    """Windows per model forward pass (windows of several files are packed together); 1 is
    fastest on CPU, GPUs want 8-32; 0 = auto (1 on CPU, sized by free memory on a GPU)."""
    auto_memory_fraction: float = 0.6
    """batch_size 0 on a GPU: the share of free GPU memory the windows of one batch may take."""
    max_auto_batch_size: int = 64
    restore_gain: bool = True
    num_threads: int | None = None
    """Torch intra-op threads per CPU replica; null = compute.cpus_per_replica."""
    storage_options: dict[str, Any] = field(default_factory=dict, repr=False)
    factory: str | None = None
    """Advanced: "module:callable" building the enhancer from the model settings instead of
    FRCRN (a custom wrapper); it must offer enhance_many(), enhance(), model_id, checkpoint_sha256."""

    def enhance_options(self) -> dict[str, Any]:
        """These settings as ``frcrn.enhance.EnhanceConfig`` keyword arguments (plain data, so the
        driver needs no torch to build them)."""
        return {name: getattr(self, name) for name in ENHANCE_OPTIONS}


#: The model-section keys that are frcrn.enhance.EnhanceConfig's own (same names, same meaning).
ENHANCE_OPTIONS = ("device", "precision", "window_seconds", "overlap_seconds", "batch_size",
                   "auto_memory_fraction", "max_auto_batch_size", "restore_gain", "num_threads")


@dataclass(frozen=True)
class ComputeConfig:
    min_replicas: int = 1
    max_replicas: int = 1
    gpus_per_replica: float = 0.0
    """GPUs per model replica; fractions (0.25, 0.5) pack several replicas on one GPU."""
    cpus_per_replica: float = 1.0
    files_per_model_batch: int = 8
    """Files per call of a model replica (their windows are packed into model batches)."""
    files_per_read_task: int = 8
    files_per_write_task: int = 16
    read_cpus: float = 1.0
    write_cpus: float = 1.0
    max_tasks_in_flight_per_replica: int = 2
    task_retries: int = 3
    """Ray re-runs of a read/write task after a worker crash, node loss or result-record failure."""
    replica_restarts: int = 3
    """Ray restarts of a model replica that died (OOM kill, segfault, lost node)."""
    replica_task_retries: int = 3
    """Re-submissions of a batch whose replica died while processing it."""
    execution_attempts: int = 3
    """Runs of the whole execution per job: after a cluster fault (lost node) the inputs without
    a result are re-planned and run again, so a node loss costs a restart, not the job."""
    io_retries: int = 4
    """Retries of a transient storage error (throttling, 5xx, connection reset) per object."""
    target_max_block_mb: int = 128


@dataclass(frozen=True)
class LimitsConfig:
    max_seconds: float | None = 3600.0
    """Longer inputs become error rows ("too_long") instead of occupying a replica for hours."""
    max_bytes: int | None = 2_000_000_000


@dataclass(frozen=True)
class DnsmosConfig:
    model: str | None = None
    """Path/URL of DNSMOS P.835 ``sig_bak_ovr.onnx``; null = no DNSMOS columns filled."""
    storage_options: dict[str, Any] = field(default_factory=dict, repr=False)


@dataclass(frozen=True)
class ResumeConfig:
    enabled: bool = True
    """Skip inputs recorded ``ok`` in an earlier run whose output still exists."""
    retry_errors: bool = True
    """Re-process inputs recorded ``error`` in an earlier run (false: keep their error row)."""
    check_output_size: bool = True
    """Also require the output's size to match the recorded one."""
    same_checkpoint: bool = True
    """Also require the recorded output to come from the same checkpoint (sha256): after a model
    change a re-run redoes the old outputs instead of leaving a corpus enhanced by two models."""


@dataclass(frozen=True)
class RayConfig:
    address: str | None = None
    """Ray cluster address; null = connect to the cluster this was submitted to, or start local."""
    num_cpus: int | None = None
    """Only when starting a local Ray instance."""
    progress_bars: bool = True
    log_level: str = "WARNING"
    max_consecutive_replica_init_deaths: int = 3


@dataclass(frozen=True)
class JobSection:
    id: str | None = None
    """Recorded in every row written by this run; null = RAY_JOB_SUBMISSION_ID or a timestamp."""
    fail_on_error_rows: bool = False
    """Exit with status 3 when any input ended as an error row (for pipelines that gate on it)."""
    lease_seconds: float = 300.0
    """Refuse to start while another run on the same output.uri has a heartbeat younger than this
    (jobs.run_lease); a dead driver's lease expires after it. 0 = no check."""


@dataclass(frozen=True)
class JobConfig:
    input: InputConfig = field(default_factory=InputConfig)
    output: OutputConfig = field(default_factory=OutputConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    compute: ComputeConfig = field(default_factory=ComputeConfig)
    limits: LimitsConfig = field(default_factory=LimitsConfig)
    dnsmos: DnsmosConfig = field(default_factory=DnsmosConfig)
    resume: ResumeConfig = field(default_factory=ResumeConfig)
    ray: RayConfig = field(default_factory=RayConfig)
    job: JobSection = field(default_factory=JobSection)

    def validate(self) -> "JobConfig":
        """Cross-field checks that types alone cannot express."""
        c, m = self.compute, self.model
        checks = [
            (c.min_replicas >= 1, "compute.min_replicas must be >= 1"),
            (c.max_replicas >= c.min_replicas, "compute.max_replicas must be >= compute.min_replicas"),
            (c.gpus_per_replica >= 0, "compute.gpus_per_replica must be >= 0"),
            (c.cpus_per_replica > 0 or c.gpus_per_replica > 0, "compute.cpus_per_replica must be > 0"),
            (c.gpus_per_replica <= 1 or float(c.gpus_per_replica).is_integer(),
             "compute.gpus_per_replica above 1 must be a whole number"),
            (c.files_per_model_batch >= 1, "compute.files_per_model_batch must be >= 1"),
            (c.files_per_read_task >= 1, "compute.files_per_read_task must be >= 1"),
            (c.files_per_write_task >= 1, "compute.files_per_write_task must be >= 1"),
            (c.read_cpus > 0 and c.write_cpus > 0, "compute.read_cpus/write_cpus must be > 0"),
            (c.max_tasks_in_flight_per_replica >= 1, "compute.max_tasks_in_flight_per_replica must be >= 1"),
            (min(c.task_retries, c.replica_restarts, c.replica_task_retries, c.io_retries) >= 0,
             "compute.*retries/restarts must be >= 0"),
            (c.target_max_block_mb >= 1, "compute.target_max_block_mb must be >= 1"),
            (self.limits.max_seconds is None or self.limits.max_seconds > 0, "limits.max_seconds must be > 0"),
            (self.limits.max_bytes is None or self.limits.max_bytes > 0, "limits.max_bytes must be > 0"),
            (bool(self.input.uri), "input.uri must not be empty"),
            (bool(self.output.uri), "output.uri must not be empty"),
            (bool(self.input.column), "input.column must not be empty"),
            (c.gpus_per_replica == 0 or m.device != "cpu",
             "compute.gpus_per_replica > 0 with model.device=cpu reserves GPUs that are never used"),
            ("/" not in self.output.manifest_dir.strip("/") and self.output.manifest_dir.strip("/") not in ("", ".", ".."),
             "output.manifest_dir must be a single folder name"),
        ]
        for ok, message in checks:
            if not ok:
                raise ConfigError(message)
        # The enhancer's own rules (device, precision, windows, batch size, threads), reported under
        # model.*: one set of rules, so the job never accepts what the replicas would refuse.
        from frcrn.enhance import EnhanceConfig

        try:
            EnhanceConfig(**m.enhance_options())
        except ValueError as err:
            raise ConfigError(f"model: {err}") from None
        if any(not p for p in self.input.allowed_prefixes):
            raise ConfigError("input.allowed_prefixes entries must not be empty")
        for ext in self.input.extensions:
            if not ext.startswith("."):
                raise ConfigError(f"input.extensions entries must start with a dot, got {ext!r}")
        try:
            self.output.name_template.format(**_TEMPLATE_PROBE)
        except KeyError as err:
            raise ConfigError(
                f"output.name_template uses unknown field {{{err.args[0]}}}; "
                f"available: {', '.join('{' + k + '}' for k in _TEMPLATE_PROBE)}"
            ) from None
        except (ValueError, IndexError) as err:
            raise ConfigError(f"output.name_template is not a valid format string: {err}") from None
        return self


_TEMPLATE_PROBE = {
    "relpath": "a/b.wav", "relpath_stem": "a/b", "parent": "a", "name": "b.wav",
    "stem": "b", "suffix": "wav", "ext": "wav",
}


def _resolve_local(uri: str | None, cwd: str) -> str | None:
    """Relative local paths resolve against the working directory; URLs stay as they are."""
    if uri is None or "://" in uri or uri.startswith("file:"):
        return uri
    return os.path.normpath(os.path.join(cwd, os.path.expanduser(uri)))


def _env_storage_options() -> dict[str, Any]:
    raw = os.environ.get(STORAGE_OPTIONS_ENV)
    if not raw:
        return {}
    try:
        value = json.loads(raw)
    except json.JSONDecodeError as err:
        raise ConfigError(f"{STORAGE_OPTIONS_ENV} must hold a JSON object: {err.msg}") from None
    if not isinstance(value, dict):
        raise ConfigError(f"{STORAGE_OPTIONS_ENV} must hold a JSON object")
    return value


def load_config(
    path: str | None = None,
    overrides: list[str] | Mapping[str, Any] = (),
    *,
    cwd: str | None = None,
) -> JobConfig:
    """Read a YAML config (None = defaults), apply overrides, type-check, resolve paths."""
    data: Any = read_yaml(path) if path is not None else {}
    data = apply_overrides(data, list(overrides) if not isinstance(overrides, Mapping) else overrides)
    try:
        cfg = from_dict(JobConfig, data)
    except ConfigError as err:
        raise ConfigError(f"{path}: {err}" if path else str(err)) from None
    cwd = cwd or os.getcwd()
    env_so = _env_storage_options()
    cfg = dataclasses.replace(
        cfg,
        input=dataclasses.replace(
            cfg.input,
            uri=_resolve_local(cfg.input.uri, cwd),
            root=_resolve_local(cfg.input.root, cwd),
            allowed_prefixes=tuple(_resolve_local(p, cwd) for p in cfg.input.allowed_prefixes),
            storage_options=cfg.input.storage_options or env_so,
        ),
        output=dataclasses.replace(
            cfg.output,
            uri=_resolve_local(cfg.output.uri, cwd),
            storage_options=cfg.output.storage_options or env_so,
        ),
        model=dataclasses.replace(
            cfg.model,
            checkpoint=_resolve_local(cfg.model.checkpoint, cwd),
            storage_options=cfg.model.storage_options or env_so,
        ),
        dnsmos=dataclasses.replace(
            cfg.dnsmos,
            model=_resolve_local(cfg.dnsmos.model, cwd),
            storage_options=cfg.dnsmos.storage_options or env_so,
        ),
    )
    return cfg.validate()


def redacted(cfg: JobConfig) -> dict[str, Any]:
    """The config as plain data with every storage option value hidden (for logs and summaries)."""

    def walk(obj: Any) -> Any:
        if dataclasses.is_dataclass(obj):
            out = {}
            for f in dataclasses.fields(obj):
                value = getattr(obj, f.name)
                if f.name == "storage_options":
                    out[f.name] = {k: "***" for k in value}
                else:
                    out[f.name] = walk(value)
            return out
        if isinstance(obj, tuple):
            return [walk(v) for v in obj]
        return obj

    return walk(cfg)
