"""Shape of an FRCRN network, as data.

The official `damo/speech_frcrn_ans_cirm_16k` network is `ModelConfig()`; smaller networks (for the
project's CPU-trained default) change `width` and `fsmn_hidden`, and may be shallower (`depth`).
The checkpoint format records this object, so loading a checkpoint always builds the matching network.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any

from ..config import InvalidSettings


class InvalidModelConfig(InvalidSettings):
    """One or more network-shape fields are invalid."""

    what = "FRCRN model config"


@dataclass(frozen=True)
class ModelConfig:
    width: int = 128
    """Complex channels of every encoder/decoder layer (and the FSMN feature size); 128 officially."""
    fsmn_hidden: int = 128
    """Hidden size of each FSMN's linear layer; 128 officially."""
    fsmn_order: int = 20
    """Taps of the FSMN's causal depthwise memory (the reference's `lorder`)."""
    se_reduction: int = 8
    """Channel reduction inside the complex squeeze-and-excitation layers."""
    depth: int = 14
    """UNet depth (encoder + decoder layers), even, 4..14. 14 is the official network: 7 stride-2
    levels take the 321 frequency bins to 1. A shallower net keeps the first depth/2 levels and
    runs its middle (time) FSMN on the bins left (see `frcrn.model.network.unet_kernels`)."""
    win_len: int = 640
    hop: int = 320
    fft_len: int = 640
    sample_rate: int = 16000

    def __post_init__(self) -> None:
        problems = []
        if self.width < 8 or self.width % 8:
            problems.append(("width", f"must be a positive multiple of 8, got {self.width}"))
        elif self.width % self.se_reduction:
            problems.append(("width", f"({self.width}) must be divisible by se_reduction ({self.se_reduction})"))
        if self.fsmn_hidden < 1:
            problems.append(("fsmn_hidden", f"must be positive, got {self.fsmn_hidden}"))
        if self.fsmn_order < 1:
            problems.append(("fsmn_order", f"must be positive, got {self.fsmn_order}"))
        if self.depth not in range(4, 15, 2):
            problems.append(("depth", f"must be even, from 4 to 14 (14 is the official network), got {self.depth}"))
        if (self.win_len, self.hop, self.fft_len) != (640, 320, 640):
            problems.append(("win_len", "the STFT is fixed at win_len=640, hop=320, fft_len=640 (the UNet's "
                             f"kernel sizes assume 321 bins), got {self.win_len}/{self.hop}/{self.fft_len}"))
        if problems:
            raise InvalidModelConfig(problems)

    @property
    def freq_bins(self) -> int:
        return self.fft_len // 2 + 1

    @property
    def is_official(self) -> bool:
        return self == ModelConfig()

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ModelConfig:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown FRCRN model config keys {unknown}; known keys: {sorted(known)}")
        return cls(**dict(data))
