"""What `frcrn eval` measures, as data: :class:`EvalConfig` with its sets (:class:`SyntheticSet`,
:class:`PairedSet`, unpaired files), the enhancer settings and the metrics, read from YAML by
:func:`load_config` (``configs/eval_default.yaml``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from ..config import ConfigError, load_typed
from ..enhance import EnhanceConfig
from ..quality.dnsmos import DEFAULT_MODEL as DEFAULT_DNSMOS_MODEL
from ..training.data import SpeechMixtures

__all__ = [
    "INTRUSIVE",
    "METRICS",
    "NON_INTRUSIVE",
    "SETS",
    "EvalConfig",
    "PairedSet",
    "SyntheticSet",
    "load_config",
]

#: (column stem, label) in summary order. Per-item columns are ``<stem>_noisy`` and ``<stem>_enhanced``.
METRICS: tuple[tuple[str, str], ...] = (
    ("pesq_wb", "PESQ-WB"),
    ("pesq_nb", "PESQ-NB"),
    ("stoi", "STOI"),
    ("estoi", "ESTOI"),
    ("si_sdr", "SI-SDR"),
    ("dnsmos_sig", "DNSMOS SIG"),
    ("dnsmos_bak", "DNSMOS BAK"),
    ("dnsmos_ovrl", "DNSMOS OVRL"),
)
INTRUSIVE = ("pesq_wb", "pesq_nb", "stoi", "estoi", "si_sdr")
NON_INTRUSIVE = ("dnsmos_sig", "dnsmos_bak", "dnsmos_ovrl")
SETS = ("synthetic", "paired", "unpaired")


@dataclass(frozen=True)
class SyntheticSet(SpeechMixtures):
    """Mixtures of clean speech and synthetic noise, drawn like a training run's validation set.

    Speech, split and mixture settings are :class:`frcrn.training.data.SpeechMixtures`, the class
    training's ``data`` section extends too; with its defaults (the shipped model's run) and
    ``count``/``seed`` equal to training's ``validation_items``/``validation_seed``, this set IS
    that run's validation set. For a run with other data settings, copy its ``data`` values here.
    """

    enabled: bool = True
    files: Literal["validation", "all"] = "validation"
    """"validation": only the training run's held-out files (split below); "all": every file."""
    count: int = 48
    """Number of mixtures (training's ``data.validation_items``)."""
    seed: int = 1234
    """Mixture seed (training's ``data.validation_seed``)."""

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.count < 0:
            raise ValueError(f"synthetic.count must be >= 0, got {self.count}")


@dataclass(frozen=True)
class PairedSet:
    """Real noisy recordings with their clean references.

    Either ``manifest``: a .csv/.parquet/.jsonl table with columns ``noisy`` and ``clean`` (relative
    entries resolve against the table's folder), or ``noisy`` + ``clean``: each a glob (``**``
    allowed), a folder, or a text file with one path per line, matched by ``pair_by``.
    """

    manifest: str | None = None
    noisy: str | None = None
    clean: str | None = None
    pair_by: Literal["auto", "relative_path", "name", "fileid"] = "auto"
    """relative_path: path below the glob's fixed folder (or as listed); name: file name;
    fileid: the DNS Challenge ``fileid_<N>`` tag; auto: the first of these that pairs every noisy file."""
    allow_unmatched: bool = False
    """Skip noisy files without a clean match (with a warning) instead of failing."""

    @property
    def enabled(self) -> bool:
        return bool(self.manifest or self.noisy or self.clean)


@dataclass(frozen=True)
class EvalConfig:
    checkpoint: str | None = None
    """Path or fsspec URL of the model to evaluate; null = the project's shipped default."""
    enhance: EnhanceConfig = field(default_factory=EnhanceConfig)
    path: Literal["enhancer", "model"] = "enhancer"
    """"enhancer": the product path (frcrn.enhance.Enhancer: loudness normalisation, padding,
    windows), what users get. "model": the bare network on each whole item, as training's
    validation does; reproduces the training log's SI-SNR exactly (short items only: no windowing)."""
    synthetic: SyntheticSet = field(default_factory=SyntheticSet)
    paired: PairedSet = field(default_factory=PairedSet)
    unpaired: str | None = "../shared/examples/*.wav"
    """Noisy files without references (glob, folder or path list), scored with DNSMOS only."""
    dnsmos_model: str | None = DEFAULT_DNSMOS_MODEL
    """DNSMOS P.835 ONNX model (sig_bak_ovr.onnx); null = no DNSMOS columns."""
    dnsmos_threads: int | None = None
    """onnxruntime threads for DNSMOS; null = one per physical core."""
    dnsmos_sets: tuple[Literal["synthetic", "paired", "unpaired"], ...] = SETS
    """Sets that get DNSMOS (it costs ~0.5 s CPU per 9 s window; short clips are repeated to 9 s)."""
    metrics: tuple[Literal["pesq_wb", "pesq_nb", "stoi", "estoi", "si_sdr"], ...] = INTRUSIVE
    """Intrusive metrics to compute on sets with references."""
    output: str | None = "runs/eval/items.parquet"
    """Per-item Parquet (path or fsspec URL); null = do not write."""
    max_seconds: float | None = None
    """Refuse (record as an error) input files longer than this."""
    storage_options: dict[str, Any] = field(default_factory=dict, repr=False)
    """fsspec options for every URL above (checkpoint, audio, manifests, output)."""
    progress: bool = True
    """Progress bar on stderr (only when stderr is a terminal)."""


def load_config(path: str | None = None, overrides: Sequence[str] = ()) -> EvalConfig:
    """Read an :class:`EvalConfig` from YAML (None = defaults) plus ``key.sub=value`` overrides."""
    try:
        return load_typed(EvalConfig, path, list(overrides))
    except ConfigError:
        raise
    except ValueError as err:  # dataclass __post_init__ checks
        raise ConfigError(f"{path}: {err}" if path else str(err)) from None
