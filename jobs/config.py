"""Job configuration: YAML -> typed, frozen dataclasses, with overrides and clear errors.

One concept: the job's configuration schema (its sections, their defaults and cross-checks, loading).

A config is a YAML mapping whose sections mirror the dataclasses below. Every key has a default
(the defaults ARE the local demo job, identical to ``configs/local.yaml``), so a config only
states what differs. Any key can be overridden on the command line as ``section.key=value``;
the value is parsed as YAML, so ``compute.gpus_per_replica=0.5``, ``resume.enabled=false`` and
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
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from frcrn.config import ConfigError, apply_overrides, from_dict, parse_overrides, read_yaml
from frcrn.enhance_config import EnhanceConfig, InvalidEnhanceConfig
from frcrn.formats import AUDIO_SUFFIXES

__all__ = [
    "STORAGE_OPTIONS_ENV",
    "ComputeConfig",
    "ConfigError",
    "DnsmosConfig",
    "InputConfig",
    "JobConfig",
    "JobEnhanceConfig",
    "JobSection",
    "LimitsConfig",
    "ModelSection",
    "OutputConfig",
    "RayConfig",
    "ResumeConfig",
    "apply_overrides",
    "env_storage_options",
    "from_dict",
    "load_config",
    "parse_overrides",
    "redacted",
]

STORAGE_OPTIONS_ENV = "FRCRN_STORAGE_OPTIONS"
"""Environment variable holding a JSON object of fsspec storage options, used for input and
output when the config gives none (e.g. ``{"endpoint_url": "http://minio:9000"}``). Plain
cloud credentials need not go here: s3fs/gcsfs read AWS_* / GOOGLE_* variables themselves."""


# --------------------------------------------------------------------------- sections


@dataclass(frozen=True)
class InputConfig:
    uri: str = "jobs/demo/audio/manifest.csv"
    """A manifest (NeMo JSONL, lhotse, Kaldi data dir, Hugging Face Parquet shard, Common Voice
    TSV, CSV/Parquet/JSON lines), a glob of manifests, a folder/prefix to list, a glob of audio
    files, or one audio file."""
    column: str = "audio_uri"
    """Column holding the audio URIs in a plain CSV/Parquet/JSON-lines/TSV table (relative ones
    resolve against the manifest's folder). The corpus formats name their own (NeMo
    ``audio_filepath``, Common Voice ``path``, ...)."""
    format: Literal["auto", "folder", "csv", "parquet", "jsonl", "nemo", "lhotse", "kaldi", "hf", "tsv"] = "auto"
    """Manifest format; "auto" decides from the extension and the content and says what it chose
    in the run's first line; "folder" lists a folder even when it holds a Kaldi ``wav.scp``."""
    root: str | None = None
    """Inputs must lie under this folder/prefix and outputs mirror their path below it.
    Default: the manifest's folder, the fixed part of a glob, or the listed folder. Set it when
    a manifest names its audio by absolute paths or full URLs elsewhere (NeMo manifests often
    do): e.g. ``input.root=/data/corpus`` or ``input.root=s3://corpus/raw``."""
    extensions: tuple[str, ...] = AUDIO_SUFFIXES
    """When listing a folder or a glob of audio files: file extensions to take (case-insensitive;
    default ``frcrn.formats.AUDIO_SUFFIXES``)."""
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
    sample_rate: Literal["model", "input"] | int = "model"
    """"model": write 16 kHz; "input": resample back to each input's own rate; a number: that
    rate (e.g. 24000 for a TTS corpus). FRCRN cleans 0-8 kHz: above 8 kHz a resampled output is
    empty, whatever its rate (``bandwidth_hz_out`` says what is really there)."""
    manifest_dir: str = "_manifest"
    storage_options: dict[str, Any] = field(default_factory=dict, repr=False)


@dataclass(frozen=True)
class JobEnhanceConfig(EnhanceConfig):
    """``frcrn.enhance_config.EnhanceConfig`` itself (same fields, same checks, one source) with the
    job's one different default, ``device: cpu``.

    Why not "auto" here: the job's default replicas reserve no GPU (``compute.gpus_per_replica: 0``)
    and Ray 2.60 no longer hides a node's GPUs from actors that reserved none, so "auto" would put
    CPU replicas on a GPU nobody reserved for them (several replicas sharing it, out of memory). A
    GPU run sets ``compute.gpus_per_replica`` and ``device: cuda`` (or ``auto``, resolved by
    ``frcrn.enhance.resolve_device`` inside each replica, on the GPU Ray assigned to it).
    ``num_threads: null`` means ``compute.cpus_per_replica`` threads on CPU replicas."""

    device: str = "cpu"


@dataclass(frozen=True)
class ModelSection:
    """The job's ``model`` section: which weights, how the enhancer runs (``model.enhance.*``)."""

    checkpoint: str | None = None
    """Local path or URL of FRCRN weights; null = the project's shipped default weights."""
    enhance: JobEnhanceConfig = field(default_factory=JobEnhanceConfig)
    """frcrn's EnhanceConfig: device, precision, window_seconds, overlap_seconds, edge_margin_seconds,
    length_quantum_seconds, batch_size, auto_memory_fraction, max_auto_batch_size, restore_gain, num_threads."""
    storage_options: dict[str, Any] = field(default_factory=dict, repr=False)
    factory: str | None = None
    """Advanced: "module:callable" building the enhancer from ``jobs.stages.ModelSettings`` instead
    of FRCRN (e.g. a wrapper around it); the result must offer enhance_many(), enhance(), model_id
    and checkpoint_sha256."""


@dataclass(frozen=True)
class ComputeConfig:
    min_replicas: int = 1
    """Model replicas (actors holding one FRCRN each) the pool starts with."""
    max_replicas: int = 1
    """Replicas the pool may grow to while inputs are waiting and the cluster has room."""
    gpus_per_replica: float = 0.0
    """GPUs per model replica; fractions (0.25, 0.5) pack several replicas on one GPU."""
    cpus_per_replica: float = 1.0
    """CPUs Ray reserves per replica (and its torch threads, unless model.enhance.num_threads is set)."""
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
    score: tuple[Literal["in", "out"], ...] = ("in", "out")
    """Which side to score: DNSMOS costs about as much CPU as the model itself per side."""
    fraction: float = 1.0
    """Score only this share of the recordings, chosen by a hash of the input URI: the same
    recordings on every run and every machine (a sample for the report, at a fraction of the cost)."""
    storage_options: dict[str, Any] = field(default_factory=dict, repr=False)


@dataclass(frozen=True)
class MeasuresConfig:
    enabled: bool = True
    """Fill ``speech_ratio``, ``snr_db``, ``loudness_lufs`` and ``bandwidth_hz`` (in and out) for
    every row (``frcrn.quality.measures``): about 2 % of the model's CPU time."""


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
    dashboard: bool = False
    """Only when starting a local Ray instance: start its dashboard too (http://127.0.0.1:8265,
    needs ``ray[default]``). Off by default: its processes cost seconds of start-up and CPU
    beside the job, which prints its own progress; a cluster's dashboard is the cluster's."""
    progress_bars: bool | Literal["auto"] = "auto"
    """Ray Data's own progress reporting (its bars on a terminal, else its periodic dumps into Ray
    Data's log). "auto": on only when the job's stdout is a terminal, so a non-interactive run
    (``ray job submit``, a pod, a pipe) has none of them; true/false: always on/off. Under
    ``frcrn-job run`` it goes to the log file either way; the job prints its own progress line
    (``job.progress_every_s``)."""
    log_level: str = "WARNING"
    max_consecutive_replica_init_deaths: int = 3


@dataclass(frozen=True)
class JobSection:
    id: str | None = None
    """Recorded in every row written by this run; null = RAY_JOB_SUBMISSION_ID or a timestamp."""
    fail_on_error_rows: bool = True
    """A run that finished with error rows exits with status 3 (false: 0; the last line still says
    how many error rows of which types). A run where every input is an error row exits 4 either way."""
    progress_every_s: float = 30.0
    """Seconds between the driver's progress lines (recordings and audio hours done, x real time,
    errors, ETA; ``jobs.progress``); the run's record under ``_manifest/runs/`` is rewritten at
    least this often, for ``frcrn job status``."""
    lease_seconds: float = 300.0
    """Refuse to start while another run on the same output.uri has a heartbeat younger than this
    (jobs.run_lease); a dead driver's lease expires after it. 0 = no check."""


@dataclass(frozen=True)
class JobConfig:
    input: InputConfig = field(default_factory=InputConfig)
    output: OutputConfig = field(default_factory=OutputConfig)
    model: ModelSection = field(default_factory=ModelSection)
    compute: ComputeConfig = field(default_factory=ComputeConfig)
    limits: LimitsConfig = field(default_factory=LimitsConfig)
    dnsmos: DnsmosConfig = field(default_factory=DnsmosConfig)
    measures: MeasuresConfig = field(default_factory=MeasuresConfig)
    resume: ResumeConfig = field(default_factory=ResumeConfig)
    ray: RayConfig = field(default_factory=RayConfig)
    job: JobSection = field(default_factory=JobSection)

    def validate(self) -> JobConfig:
        """Cross-field checks that types alone cannot express (the enhancer's own rules were
        checked when ``model.enhance`` was built, by EnhanceConfig itself)."""
        for ok, message in self._compute_checks() + self._other_checks():
            if not ok:
                raise ConfigError(message)
        self._check_device()
        self._check_input_lists()
        _check_name_template(self.output.name_template)
        return self

    def _compute_checks(self) -> list[tuple[bool, str]]:
        c = self.compute
        return [
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
        ]

    def _other_checks(self) -> list[tuple[bool, str]]:
        manifest_dir = self.output.manifest_dir.strip("/")
        return [
            (self.limits.max_seconds is None or self.limits.max_seconds > 0, "limits.max_seconds must be > 0"),
            (self.limits.max_bytes is None or self.limits.max_bytes > 0, "limits.max_bytes must be > 0"),
            (self.job.progress_every_s > 0, "job.progress_every_s must be > 0"),
            (bool(self.input.uri), "input.uri must not be empty"),
            (bool(self.output.uri), "output.uri must not be empty"),
            (bool(self.input.column), "input.column must not be empty"),
            ("/" not in manifest_dir and manifest_dir not in ("", ".", ".."),
             "output.manifest_dir must be a single folder name"),
        ]

    def _check_device(self) -> None:
        """The replicas' device must match what they reserve from Ray (see JobEnhanceConfig)."""
        device, gpus = self.model.enhance.device, self.compute.gpus_per_replica
        if gpus > 0 and device == "cpu":
            raise ConfigError("model.enhance.device: cpu, but compute.gpus_per_replica > 0 reserves GPUs that "
                              "are never used; set model.enhance.device to cuda (or auto)")
        if gpus == 0 and device != "cpu":
            raise ConfigError(
                f"model.enhance.device: {device!r} needs compute.gpus_per_replica > 0 (replicas that reserve "
                "no GPU run on the CPU: Ray leaves a node's GPUs visible to them, so they would share a GPU "
                "nobody reserved); set compute.gpus_per_replica, or model.enhance.device to cpu")

    def _check_input_lists(self) -> None:
        if any(not p for p in self.input.allowed_prefixes):
            raise ConfigError("input.allowed_prefixes entries must not be empty")
        for ext in self.input.extensions:
            if not ext.startswith("."):
                raise ConfigError(f"input.extensions entries must start with a dot, got {ext!r}")
        rate = self.output.sample_rate
        if isinstance(rate, int) and not 8000 <= rate <= 192000:
            raise ConfigError(f"output.sample_rate: a rate must be 8000..192000 Hz, got {rate}")
        if not 0.0 < self.dnsmos.fraction <= 1.0:
            raise ConfigError(f"dnsmos.fraction: must be in (0, 1], got {self.dnsmos.fraction}")


def _check_name_template(template: str) -> None:
    try:
        template.format(**_TEMPLATE_PROBE)
    except KeyError as err:
        raise ConfigError(
            f"output.name_template uses unknown field {{{err.args[0]}}}; "
            f"available: {', '.join('{' + k + '}' for k in _TEMPLATE_PROBE)}"
        ) from None
    except (ValueError, IndexError) as err:
        raise ConfigError(f"output.name_template is not a valid format string: {err}") from None


_TEMPLATE_PROBE = {
    "relpath": "a/b.wav", "relpath_stem": "a/b", "parent": "a", "name": "b.wav",
    "stem": "b", "suffix": "wav", "ext": "wav",
}


def _resolve_local(uri: str | None, cwd: str) -> str | None:
    """Relative local paths resolve against the working directory; URLs stay as they are."""
    if uri is None or "://" in uri or uri.startswith("file:"):
        return uri
    return os.path.normpath(os.path.join(cwd, os.path.expanduser(uri)))


def env_storage_options() -> dict[str, Any]:
    """The storage options in $FRCRN_STORAGE_OPTIONS (a JSON object), {} when unset."""
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
    """Read a YAML config (None = defaults), apply overrides, type-check, resolve paths.

    Every problem, from the YAML, an override or the enhancer's own checks, is ONE ConfigError
    naming the dotted key (``model.enhance.window_seconds: must be at least 1, got 0.5``)."""
    data: Any = _read_config_file(path) if path is not None else {}
    data = apply_overrides(data, list(overrides) if not isinstance(overrides, Mapping) else overrides)
    try:
        _refuse_flat_enhance_keys(data)
        cfg = from_dict(JobConfig, data)
    except InvalidEnhanceConfig as err:
        message = "; ".join(f"model.enhance.{name}: {text}" for name, text in err.problems)
        raise ConfigError(f"{path}: {message}" if path else message) from None
    except ConfigError as err:
        raise ConfigError(f"{path}: {err}" if path else str(err)) from None
    return _resolve_paths(cfg, cwd or os.getcwd()).validate()


def _read_config_file(path: str) -> dict[str, Any]:
    """``read_yaml``, with a file that is not text (an audio file given as the config) or cannot
    be opened reported as a ConfigError too."""
    try:
        return read_yaml(path)
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not a YAML config file (it is not UTF-8 text; "
                          "was an audio or binary file given as the config?)") from None
    except IsADirectoryError:
        raise ConfigError(f"{path}: is a folder, not a YAML config file") from None
    except OSError as err:
        raise ConfigError(f"{path}: cannot read the config file: {err.strerror or err}") from None


_ENHANCE_KEYS = tuple(f.name for f in dataclasses.fields(EnhanceConfig))


def _refuse_flat_enhance_keys(data: Mapping[str, Any]) -> None:
    """Configs written before the enhancer's settings moved under ``model.enhance``."""
    model = data.get("model")
    if isinstance(model, Mapping):
        for key in model:
            if key in _ENHANCE_KEYS:
                raise ConfigError(f"unknown key 'model.{key}': the enhancer's settings live under "
                                  f"model.enhance; use 'model.enhance.{key}'")


def _resolve_paths(cfg: JobConfig, cwd: str) -> JobConfig:
    """Relative local paths against ``cwd``; empty storage options from the environment."""
    env_so = env_storage_options()
    return dataclasses.replace(
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
