"""What a training run is: :class:`TrainConfig` and its sections (model, data, optim, loss, distributed),
as frozen dataclasses that `frcrn train CONFIG [key=value ...]` reads from YAML
(:func:`frcrn.config.load_typed`; ``configs/train_*.yaml``).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Literal

from ..model.config import ModelConfig
from .data import SpeechMixtures
from .mixtures import MixtureConfig

__all__ = ["DataConfig", "DistributedConfig", "LossConfig", "OptimConfig", "TrainConfig"]


@dataclass(frozen=True)
class DataConfig(SpeechMixtures):
    """Training data: the speech, split and mixture settings of :class:`SpeechMixtures`, plus
    the fixed validation set's size and seed and the optional recorded noise."""

    validation_items: int = 48
    validation_seed: int = 1234
    speech_licence: str | None = None
    """Licence of ``speech``, recorded in the checkpoint's provenance (null: the DNS clips'
    licence for the default speech, else "not stated")."""
    noise_licence: str | None = None
    """Licence of ``noise``, recorded in the checkpoint's provenance."""
    rir_licence: str | None = None
    """Licence of ``rir``, recorded in the checkpoint's provenance."""
    recorded_noise: bool = False
    """Also mix in recorded sounds from installed Debian packages with CC0/CC-BY licences."""
    pause_prob: float = 0.0
    """Share of TRAINING items with one stretch of the speech silenced before mixing (the noise
    goes on, the target is silent there): read speech has few pauses, and the pauses are where
    a listener hears the background that is left. Validation and evaluation sets never get them,
    so their items (and scores) do not change with this setting."""
    pause_seconds: tuple[float, ...] = (0.3, 1.2)
    """[low, high]: length of that stretch in seconds, drawn uniformly."""
    tilt_prob: float = 0.0
    """Share of TRAINING items whose speech (and so target) is tilted in spectrum above 1 kHz
    before mixing: the speech corpora are mostly dull, real microphones often are not, and a
    model that never hears bright speech cuts its fricatives as noise. Training only, as pauses."""
    tilt_db_per_octave: tuple[float, ...] = (-3.0, 4.0)
    """[low, high]: the tilt in dB per octave above 1 kHz, drawn uniformly (+4 dB/octave is 12 dB
    brighter at 8 kHz)."""
    storage_options: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)
    """fsspec options for URL specs (e.g. an S3 endpoint); never written into checkpoints."""

    def __post_init__(self) -> None:
        super().__post_init__()
        if not 0.0 <= self.pause_prob <= 1.0:
            raise ValueError(f"pause_prob must be in [0, 1], got {self.pause_prob}")
        low_high = tuple(self.pause_seconds)
        if len(low_high) != 2 or not 0.0 < low_high[0] <= low_high[1]:
            raise ValueError(f"pause_seconds must be [low, high] with 0 < low <= high, got {list(low_high)}")
        if not 0.0 <= self.tilt_prob <= 1.0:
            raise ValueError(f"tilt_prob must be in [0, 1], got {self.tilt_prob}")
        tilt = tuple(self.tilt_db_per_octave)
        if len(tilt) != 2 or not -12.0 <= tilt[0] <= tilt[1] <= 12.0:
            raise ValueError(f"tilt_db_per_octave must be [low, high] with -12 <= low <= high <= 12, got {list(tilt)}")

    def training_mixture_config(self) -> MixtureConfig:
        """How training items are drawn: the shared mixture settings plus the training-only pauses
        and spectral tilts."""
        return replace(self.mixture_config(), pause_prob=self.pause_prob,
                       pause_seconds=(float(self.pause_seconds[0]), float(self.pause_seconds[1])),
                       tilt_prob=self.tilt_prob,
                       tilt_db_per_octave=(float(self.tilt_db_per_octave[0]), float(self.tilt_db_per_octave[1])))



@dataclass(frozen=True)
class OptimConfig:
    batch_size: int = 4
    lr: float = 1e-3
    grad_clip: float = 10.0
    plateau_factor: float = 0.5
    plateau_patience: int = 4
    min_lr: float = 1e-5


@dataclass(frozen=True)
class LossConfig:
    """The training loss: FRCRN's published one (cIRM mask MSE - SI-SNR, `frcrn.training.losses`),
    plus an optional power-law compressed spectral distance that makes quiet residual background count."""

    compressed_weight: float = 0.0
    """Weight of the compressed spectral distance; 0 = the published loss alone."""
    compressed_power: float = 0.3
    """Exponent p of |S|^p (0 < p <= 1; smaller weighs quiet bins more)."""
    complex_share: float = 0.3
    """Share of the compressed complex-spectrum term (the rest is the compressed magnitude term)."""
    over_suppression_weight: float = 0.0
    """Extra weight of the compressed magnitude errors where the output is quieter than the clean
    speech (0: symmetric; 1: removed speech counts twice as much as leftover noise)."""

    def __post_init__(self) -> None:
        if self.compressed_weight < 0:
            raise ValueError(f"compressed_weight must be >= 0, got {self.compressed_weight}")
        if not 0.0 < self.compressed_power <= 1.0:
            raise ValueError(f"compressed_power must be in (0, 1], got {self.compressed_power}")
        if not 0.0 <= self.complex_share <= 1.0:
            raise ValueError(f"complex_share must be in [0, 1], got {self.complex_share}")
        if self.over_suppression_weight < 0:
            raise ValueError(f"over_suppression_weight must be >= 0, got {self.over_suppression_weight}")


@dataclass(frozen=True)
class DistributedConfig:
    backend: Literal["none", "ray"] = "none"
    """`none`: train in this process. `ray`: Ray Train (TorchTrainer) with `num_workers` workers."""
    num_workers: int = 2
    """Ray Train workers (data-parallel replicas; one GPU each with use_gpu)."""
    use_gpu: bool = False
    """Give each Ray worker one GPU (NCCL); false = CPU workers (gloo)."""
    cpus_per_worker: float = 1.0
    """CPUs Ray reserves per worker (set `num_threads` to match)."""
    address: str | None = None
    """Ray cluster to join ("auto", "ray://host:10001"); null = RAY_ADDRESS or a new local Ray."""
    storage_path: str | None = None
    """Ray Train's own run storage (null = <out_dir>/ray). Multi-node: a shared path or s3:// URL."""
    sync_batchnorm: bool = False
    """GPU only: SyncBatchNorm across workers; default keeps per-worker BatchNorm statistics."""
    max_failures: int = 0
    """Ray Train restarts after a worker failure (each restart resumes from out_dir/last.pt)."""


@dataclass(frozen=True)
class TrainConfig:
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    out_dir: str = "runs/train"
    init_from: str | None = None
    """Checkpoint to start from when out_dir has no last.pt (e.g. the shipped default). The step
    count and training seconds go on from its provenance, and its `training` block joins the new
    checkpoints' `training.lineage`, so a chain of stages keeps every stage's settings. A checkpoint
    narrower than `model` (smaller width and/or fsmn_hidden, all else equal) is grown into it by
    `frcrn.model.widen` (same output at the start; the new channels learn from there)."""
    steps: int = 100_000
    max_hours: float | None = None
    eval_every: int = 250
    validation_dnsmos: str | None = None
    """DNSMOS P.835 model (sig_bak_ovr.onnx) or null. When set, each evaluation also logs the mean
    DNSMOS SIG/BAK/OVRL of the enhanced validation items, and `best_dnsmos.safetensors` keeps the
    checkpoint with the highest OVRL beside `best.safetensors` (highest SI-SNR): the two measure
    different things (SI-SNR rewards the waveform, DNSMOS what a listener hears of the
    background), so a checkpoint to ship is chosen on both."""
    validation_unpaired: str | tuple[str, ...] | None = None
    """Real noisy recordings without references (a glob, folder or list, as `data.speech`), e.g.
    `../shared/examples/*.wav`. With `validation_dnsmos`, each evaluation also logs their mean
    DNSMOS (`unpaired_dnsmos_{sig,bak,ovrl}`): synthetic mixtures are not all of real use, and a
    few real recordings show early what a loss or data change does to them. Never used to pick a
    checkpoint: a handful of clips is too few."""
    log_every: int = 25
    seed: int = 0
    num_threads: int | None = None
    device: str = "auto"
    """auto (CUDA when available), cpu, cuda or cuda:N; Ray workers use the device Ray assigns."""
    distributed: DistributedConfig = field(default_factory=DistributedConfig)

    def __post_init__(self) -> None:
        if self.validation_unpaired and not self.validation_dnsmos:
            raise ValueError("validation_unpaired needs validation_dnsmos (its recordings are scored by DNSMOS only)")
