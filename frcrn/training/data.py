"""What a run's mixtures are made of: which clean speech, recorded noise and room impulse
responses, which of their files are held out for validation, and the mixture settings.

:class:`SpeechMixtures` is the one recipe both sides share: training's ``data`` section
(:class:`frcrn.training.config.DataConfig`) and evaluation's ``synthetic`` set
(:class:`frcrn.evaluation.config.SyntheticSet`) extend it, and :meth:`SpeechMixtures.validation_set`
is where the training run's validation set and ``frcrn eval``'s synthetic set both come from. The
files come from :mod:`frcrn.audio.files`, the hold-out rules from :mod:`frcrn.training.sources`,
the mixtures from :mod:`frcrn.training.mixtures`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any, Literal

import numpy as np

from ..audio.files import list_audio_files, load_clips
from .mixtures import MixtureConfig, make_validation_set
from .sources import NoisePool, RirPool, speaker_of, split_by_family, split_groups

__all__ = ["SpeechMixtures"]


@dataclass(frozen=True)
class SpeechMixtures:
    """Which clean speech, which files are held out, and how mixtures of it are drawn.

    Training's ``data`` section and evaluation's ``synthetic`` set both extend this one class, so
    the evaluation set built from the same values is, by construction, the training run's
    validation set. The defaults are those of the shipped default model's run
    (``configs/train_default.yaml``).
    """

    speech: str | tuple[str, ...] = "../shared/data/dns_no_reverb_frcrn_enhanced/*.wav"
    """Clean speech, local or an fsspec URL: a glob (``**`` allowed), a folder, or a list file
    with one path per line (see :func:`frcrn.audio.files.audio_files`); or a list of these."""
    validation_fraction: float = 0.1
    """Share of the speech FILES held out for validation (split by file, see split_speech_files)."""
    split_seed: int = 0
    crop_seconds: float = 2.0
    """Length of each mixture; rounded to whole STFT hops (20 ms) so output length == input."""
    snr_db: tuple[float, ...] = (-5.0, 20.0)
    """[low, high]: each mixture's SNR is drawn uniformly from this range."""
    level_dbfs: tuple[float, ...] = (-35.0, -15.0)
    """[low, high]: each noisy mixture's RMS level, drawn uniformly (dB re an RMS of 1.0)."""
    split_by: Literal["file", "speaker"] = "file"
    """Hold out whole files, or whole speakers (:func:`frcrn.training.sources.speaker_of`)."""
    noise: str | tuple[str, ...] | None = None
    """Recorded noise (same forms as ``speech``); a file's folder names its family. Held in memory."""
    recorded_noise_prob: float = 0.25
    """Share of training items whose noise is a recording instead of the synthetic generator
    (0 when there are no recordings)."""
    noise_validation_fraction: float = 0.0
    """Share of each noise family's FILES held out for validation (0: validation uses synthetic
    noise only, as the first default model's runs did)."""
    validation_noise_prob: float | None = None
    """Share of validation items with held-out recorded noise; null = ``recorded_noise_prob``."""
    rir: str | tuple[str, ...] | None = None
    """Room impulse responses (same forms as ``speech``): reverberant speech, reverberant target."""
    rir_prob: float = 0.0
    """Share of items whose speech is reverberated (training and validation alike)."""
    rir_validation_fraction: float = 0.1
    """Share of the impulse-response files held out for validation."""
    rir_early_seconds: float | None = None
    """null: a reverberant item's target (and validation reference) is the reverberant speech:
    FRCRN denoises, it does not dereverberate. A number (0.05 in the DNS Challenge recipes): the
    target keeps the direct sound and that many seconds of early reflections, so the model also
    removes the late tail. Keep equal in training and evaluation configs."""
    validation_seconds: tuple[float, ...] = ()
    """[low, high]: length of each validation item, drawn uniformly; empty = ``crop_seconds``."""
    validation_snr_db: tuple[float, ...] = ()
    """[low, high]: SNR range of validation items; empty = ``snr_db``."""

    def __post_init__(self) -> None:
        if self.crop_seconds <= 0:
            raise ValueError(f"crop_seconds must be positive, got {self.crop_seconds}")
        for name in ("snr_db", "level_dbfs", "validation_seconds", "validation_snr_db"):
            value = getattr(self, name)
            if (value or name in ("snr_db", "level_dbfs")) and (len(value) != 2 or value[0] > value[1]):
                raise ValueError(f"{name} must be [low, high], got {list(value)}")
        if self.validation_seconds and self.validation_seconds[0] <= 0:
            raise ValueError(f"validation_seconds must be positive, got {list(self.validation_seconds)}")
        for name in ("validation_fraction", "noise_validation_fraction", "rir_validation_fraction"):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise ValueError(f"{name} must be in [0, 1), got {getattr(self, name)}")
        if self.rir_early_seconds is not None and not 0.0 <= self.rir_early_seconds <= 1.0:
            raise ValueError(f"rir_early_seconds must be null or in [0, 1] seconds, got {self.rir_early_seconds}")
        for name in ("recorded_noise_prob", "validation_noise_prob", "rir_prob"):
            value = getattr(self, name)
            if value is not None and not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {value}")

    def split(self, storage_options: Mapping[str, Any] | None = None) -> tuple[list[str], list[str]]:
        """(train, validation) speech files."""
        files = list_audio_files(self.speech, storage_options)
        key = speaker_of if self.split_by == "speaker" else os.fspath
        return split_groups(files, self.validation_fraction, self.split_seed, key)

    def noise_split(self, storage_options: Mapping[str, Any] | None = None) -> tuple[list[str], list[str]]:
        """(train, validation) recorded-noise files, split within each family; empty without ``noise``."""
        if not self.noise:
            return [], []
        return split_by_family(list_audio_files(self.noise, storage_options), self.noise_validation_fraction,
                               self.split_seed)

    def rir_split(self, storage_options: Mapping[str, Any] | None = None) -> tuple[list[str], list[str]]:
        """(train, validation) impulse-response files; empty without ``rir``."""
        if not self.rir:
            return [], []
        return split_groups(list_audio_files(self.rir, storage_options), self.rir_validation_fraction, self.split_seed)

    def validation_set(self, count: int, seed: int, storage_options: Mapping[str, Any] | None = None
                       ) -> tuple[list[str], list[tuple[np.ndarray, np.ndarray, dict[str, Any]]]]:
        """The held-out files and ``count`` fixed validation mixtures of them: held-out speakers (or
        files), held-out noise and impulse responses, ``validation_seconds`` long. Training's
        validation and ``frcrn eval``'s synthetic set both come from here."""
        files = self.split(storage_options)[1]
        noise_files = self.noise_split(storage_options)[1]
        noise = NoisePool.of(noise_files, load_clips(noise_files, storage_options=storage_options))
        rir_files = self.rir_split(storage_options)[1] if self.rir_prob else []
        rirs = RirPool.of(load_clips(rir_files, storage_options=storage_options))
        prob = self.recorded_noise_prob if self.validation_noise_prob is None else self.validation_noise_prob
        items = make_validation_set(load_clips(files, storage_options=storage_options), count, seed,
                                    self.validation_mixture_config(), recorded_noise=noise or None,
                                    recorded_noise_prob=prob if noise else 0.0, rirs=rirs,
                                    rir_prob=self.rir_prob, seconds=self.validation_seconds)
        return files, items

    def validation_mixture_config(self) -> MixtureConfig:
        mix = self.mixture_config()
        return replace(mix, snr_db=tuple(self.validation_snr_db)) if self.validation_snr_db else mix

    def mixture_config(self) -> MixtureConfig:
        crop = round(self.crop_seconds * 16000 / 320) * 320
        return MixtureConfig(crop_seconds=crop / 16000, snr_db=tuple(self.snr_db), level_dbfs=tuple(self.level_dbfs),
                             rir_early_seconds=self.rir_early_seconds)
