"""The enhancer's settings: a plain frozen dataclass and its checks, importable without torch.

``frcrn.enhance`` (which needs torch) re-exports :class:`EnhanceConfig`; tools that only read or
check settings (the bulk job's config loader on a submitting machine, ``frcrn-job check``) import
it from here and never load torch.

Every problem is reported per field, so a loader can name the key it came from
(``model.enhance.window_seconds: must be at least 1, got 0.5``); all problems of one config are
reported at once.
"""

from __future__ import annotations

from dataclasses import dataclass

from .config import InvalidSettings

__all__ = ["PRECISION_NAMES", "EnhanceConfig", "InvalidEnhanceConfig"]

PRECISION_NAMES = ("bf16", "fp16", "fp32")
"""Accepted ``precision`` values (frcrn.enhance maps them to torch dtypes)."""


class InvalidEnhanceConfig(InvalidSettings):
    """One or more enhancer settings are invalid."""

    what = "enhance config"


@dataclass(frozen=True)
class EnhanceConfig:
    device: str = "auto"
    """"auto" (CUDA when present, else CPU), "cpu", "cuda" or "cuda:N"."""
    precision: str = "fp32"
    """"fp32", or "bf16"/"fp16" autocast (meant for GPUs; on CPU bf16 works but is slower here)."""
    window_seconds: float = 10.0
    """Model window for long files, seconds (memory depends on it, not on the file's length)."""
    overlap_seconds: float = 1.0
    """Overlap of consecutive windows, seconds."""
    edge_margin_seconds: float = 0.25
    """Discarded at both window edges inside each overlap, seconds (the rest is cross-faded)."""
    length_quantum_seconds: float = 0.5
    """Window lengths are rounded up to a multiple of this, seconds (fewer distinct shapes)."""
    batch_size: int = 1
    """Windows per model call. 1 is fastest on CPU (measured); GPUs want 8-32. 0 = auto: 1 on
    CPU; on CUDA as many windows as fit in ``auto_memory_fraction`` of the free memory, measured
    with one probe window when the first batch is formed."""
    auto_memory_fraction: float = 0.6
    """With batch_size 0 on CUDA: the share of free GPU memory the windows may use."""
    max_auto_batch_size: int = 64
    """With batch_size 0: the largest batch chosen."""
    restore_gain: bool = True
    """Give the output the input's level back (false: keep the model's -25 dBFS working level)."""
    num_threads: int | None = None
    """torch intra-op threads; None leaves torch's default (all cores)."""
    atten_lim_db: float | None = None
    """Strength: remove at most this many dB anywhere (DeepFilterNet's ``--atten-lim``): the output
    is the enhanced signal mixed with 10^(-atten_lim_db/20) of the input. None: no limit; 0: the
    input unchanged. Over-suppression is what hurts ASR most, so corpora for ASR often want 12-20."""
    dry: float = 0.0
    """Strength: fraction of the original mixed into the output, 0..1 (denoiser's ``--dry``);
    1 gives the input unchanged. Applied after ``atten_lim_db``."""

    def __post_init__(self) -> None:
        problems = self.problems()
        if problems:
            raise InvalidEnhanceConfig(problems)

    def problems(self) -> list[tuple[str, str]]:
        """Every invalid setting as (field name, what is wrong and the value given)."""
        out: list[tuple[str, str]] = []
        if self.precision not in PRECISION_NAMES:
            out.append(("precision", f"must be one of {list(PRECISION_NAMES)}, got {self.precision!r}"))
        if not (self.device in ("auto", "cpu") or _is_cuda_name(self.device)):
            out.append(("device", f"must be 'auto', 'cpu', 'cuda' or 'cuda:N', got {self.device!r}"))
        if self.window_seconds < 1.0:
            out.append(("window_seconds", f"must be at least 1, got {self.window_seconds}"))
        if not 0 < 2 * self.edge_margin_seconds < self.overlap_seconds < self.window_seconds / 2:
            out.append(("overlap_seconds",
                        "must satisfy 0 < 2*edge_margin_seconds < overlap_seconds < window_seconds/2, got "
                        f"edge_margin_seconds={self.edge_margin_seconds}, overlap_seconds={self.overlap_seconds}, "
                        f"window_seconds={self.window_seconds}"))
        if self.length_quantum_seconds <= 0:
            out.append(("length_quantum_seconds", f"must be positive, got {self.length_quantum_seconds}"))
        if self.batch_size < 0:
            out.append(("batch_size", f"must be at least 1 (or 0 = auto), got {self.batch_size}"))
        if not 0 < self.auto_memory_fraction <= 0.95:
            out.append(("auto_memory_fraction", f"must be in (0, 0.95], got {self.auto_memory_fraction}"))
        if self.max_auto_batch_size < 1:
            out.append(("max_auto_batch_size", f"must be at least 1, got {self.max_auto_batch_size}"))
        if self.num_threads is not None and self.num_threads < 1:
            out.append(("num_threads", f"must be at least 1, got {self.num_threads}"))
        if self.atten_lim_db is not None and not self.atten_lim_db >= 0:
            out.append(("atten_lim_db", f"must be at least 0 dB (or unset for no limit), got {self.atten_lim_db}"))
        if not 0.0 <= self.dry <= 1.0:
            out.append(("dry", f"must be between 0 and 1, got {self.dry}"))
        return out

    @property
    def original_share(self) -> float:
        """How much of the input the output keeps, from ``atten_lim_db`` then ``dry``: the output
        is ``(1 - share) * enhanced + share * input``."""
        limit = 0.0 if self.atten_lim_db is None else 10.0 ** (-self.atten_lim_db / 20.0)
        return 1.0 - (1.0 - limit) * (1.0 - self.dry)


def _is_cuda_name(device: str) -> bool:
    if device == "cuda":
        return True
    prefix, _, index = device.partition(":")
    return prefix == "cuda" and index.isdigit()
