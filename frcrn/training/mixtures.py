"""On-the-fly (noisy, clean) training mixtures from clean speech and synthetic noise.

Each item: pick a clean clip (probability proportional to its length), take a random crop of
``crop_seconds`` (a shorter clip is placed at a random offset in silence), make noise with
:func:`frcrn.training.noise.random_noise` (babble only from *other* clips, never the target
clip), mix at a random SNR, scale the mixture to a random level and return ``(noisy, clean)``,
with ``clean`` scaled by exactly the same gain as the speech inside ``noisy`` so that
``noisy - clean`` is the noise. Which speech, noise and impulse responses, and which of them are
held out, is :class:`frcrn.training.data.SpeechMixtures`.

Conventions:

* SNR is ``10*log10(P_clean / P_noise)`` with ``P`` the mean square over the whole crop (not only
  speech-active frames), so it is exact and testable; pauses make the effective SNR during speech
  a little higher than the nominal value.
* Level is the RMS of the *noisy* mixture in dB relative to full scale, where full scale is an
  RMS of 1.0 (a full-scale sine is -3 dBFS on this scale).
* Clipping: if the peak of noisy or clean exceeds 0.99 after levelling, both are scaled down by
  the same factor (so the SNR is unchanged and the level ends up lower than asked).
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from ..audio.files import load_clips
from .noise import random_noise
from .sources import split_groups
from .speech_edits import insert_pause, spectral_tilt

if TYPE_CHECKING:
    from .sources import NoisePool, RirPool

__all__ = [
    "MixtureConfig",
    "MixtureDataset",
    "make_mixture",
    "make_validation_set",
    "mix_at_snr",
    "mix_clean_noise",
    "split_speech_files",
]

MAX_PEAK = 0.99


@dataclass(frozen=True)
class MixtureConfig:
    """How training mixtures are drawn. Ranges are ``(low, high)``, sampled uniformly."""

    crop_seconds: float = 4.0
    snr_db: tuple[float, float] = (-5.0, 20.0)
    level_dbfs: tuple[float, float] = (-35.0, -15.0)
    #: probability that an item has no speech at all (clean target = zeros, noisy = noise)
    noise_only_prob: float = 0.0
    #: probability that one stretch of the speech is silenced before mixing (the noise goes on)
    pause_prob: float = 0.0
    #: (low, high) length of that stretch in seconds
    pause_seconds: tuple[float, float] = (0.3, 1.2)
    #: None: a reverberant item's target is the reverberant speech; a number: only the direct sound
    #: and this many seconds of early reflections (the late tail is removed with the noise)
    rir_early_seconds: float | None = None
    #: probability that the speech's spectrum is tilted above 1 kHz before mixing (target too)
    tilt_prob: float = 0.0
    #: (low, high) tilt in dB per octave above 1 kHz (+4: 12 dB brighter at 8 kHz)
    tilt_db_per_octave: tuple[float, float] = (-3.0, 4.0)
    sample_rate: int = 16000

    @property
    def crop_samples(self) -> int:
        return round(self.crop_seconds * self.sample_rate)


# ----------------------------------------------------------------------------- files


def split_speech_files(
    paths: Sequence[str], validation_fraction: float = 0.1, seed: int = 0
) -> tuple[list[str], list[str]]:
    """Split speech files into (train, validation) BY FILE, deterministically.

    The paths are de-duplicated and sorted (so the result does not depend on the order they were
    listed in), shuffled with ``numpy.random.default_rng(seed)``, and the first
    ``round(len * validation_fraction)`` go to validation — at least one when the fraction is > 0
    and there are at least two files, and never all of them. Both lists are returned sorted. No
    file is in both (:func:`frcrn.training.sources.split_groups` with one group per file; hold out
    whole speakers with ``key=speaker_of`` there).
    """
    return split_groups(paths, validation_fraction, seed)


# ----------------------------------------------------------------------------- mixing


def _power(x: np.ndarray) -> float:
    x = np.asarray(x, dtype=np.float64)
    return float(np.mean(x * x)) if x.size else 0.0


def mix_clean_noise(
    clean: np.ndarray,
    noise: np.ndarray,
    snr_db: float,
    level_dbfs: float | None = None,
    *,
    max_peak: float = MAX_PEAK,
) -> tuple[np.ndarray, np.ndarray, dict[str, float]]:
    """Mix ``clean`` and ``noise`` at ``snr_db``; return ``(noisy, clean_scaled, info)``.

    The noise is scaled so that ``10*log10(P_clean / P_noise) == snr_db``; the sum is then scaled
    so that the noisy RMS is ``level_dbfs`` (skipped when None), and if the peak of noisy or clean
    is above ``max_peak`` both are scaled down by the same factor. ``noise`` may be longer than
    ``clean`` (its start is used). A silent ``clean`` gives a noise-only mixture at the level.
    ``info`` holds ``gain`` (applied to clean), ``noise_gain`` and ``level_dbfs`` (actual).
    """
    c = np.asarray(clean, dtype=np.float64).reshape(-1)
    v = np.asarray(noise, dtype=np.float64).reshape(-1)
    if v.size < c.size:
        raise ValueError(f"noise is shorter than clean ({v.size} < {c.size} samples)")
    v = v[: c.size]
    p_clean, p_noise = _power(c), _power(v)
    if p_noise <= 0.0:
        raise ValueError("noise is silent")
    noise_gain = np.sqrt(p_clean / (p_noise * 10.0 ** (snr_db / 10.0))) if p_clean > 0.0 else 1.0
    mix = c + noise_gain * v
    gain = 1.0
    if level_dbfs is not None:
        p_mix = _power(mix)
        if p_mix > 0.0:
            gain = 10.0 ** (level_dbfs / 20.0) / np.sqrt(p_mix)
    peak = max(float(np.max(np.abs(mix))) if mix.size else 0.0,
               float(np.max(np.abs(c))) if c.size else 0.0) * gain
    if peak > max_peak:
        gain *= max_peak / peak
    noisy_out = (mix * gain).astype(np.float32)
    clean_out = (c * gain).astype(np.float32)
    p_out = _power(noisy_out)
    info = {
        "gain": float(gain),
        "noise_gain": float(noise_gain * gain),
        "level_dbfs": float(10.0 * np.log10(p_out)) if p_out > 0 else float("-inf"),
    }
    return noisy_out, clean_out, info


def mix_at_snr(clean: np.ndarray, noise: np.ndarray, snr_db: float, level_dbfs: float | None = None,
               **options: float) -> np.ndarray:
    """The noisy signal of :func:`mix_clean_noise` (use that one to get the matching clean)."""
    return mix_clean_noise(clean, noise, snr_db, level_dbfs, **options)[0]


def _crop(x: np.ndarray, n: int, rng: np.random.Generator) -> tuple[np.ndarray, int]:
    """Random n-sample crop; a shorter x is placed at a random offset in zeros (offset < 0)."""
    if x.size >= n:
        off = int(rng.integers(0, x.size - n + 1))
        return x[off : off + n], off
    out = np.zeros(n, dtype=np.float32)
    pos = int(rng.integers(0, n - x.size + 1))
    out[pos : pos + x.size] = x
    return out, -pos


def _recorded_crop(sources: Sequence[np.ndarray], n: int, rng: np.random.Generator) -> np.ndarray:
    src = np.asarray(sources[int(rng.integers(0, len(sources)))], dtype=np.float64).reshape(-1)
    if src.size >= n:
        off = int(rng.integers(0, src.size - n + 1))
        return src[off : off + n]
    reps = int(np.ceil(n / max(src.size, 1))) + 1
    return np.tile(np.roll(src, int(rng.integers(0, max(src.size, 1)))), reps)[:n]


def make_mixture(
    speech: Sequence[np.ndarray],
    config: MixtureConfig,
    rng: np.random.Generator,
    *,
    weights: np.ndarray | None = None,
    recorded_noise: NoisePool | Sequence[np.ndarray] | None = None,
    recorded_noise_prob: float = 0.0,
    rirs: RirPool | None = None,
    rir_prob: float = 0.0,
) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """Draw one ``(noisy, clean, meta)`` item (what the dataset and the validation set use).

    ``weights`` are the clip-choice probabilities (default: proportional to length).
    ``recorded_noise`` replaces the synthetic noise with probability ``recorded_noise_prob``: a
    :class:`frcrn.training.sources.NoisePool` (family first, then a file; the family is the
    item's) or plain arrays (family ``"recorded"``). With ``rirs``, the speech is reverberated with
    probability ``rir_prob`` and the target is the reverberant speech (``meta["reverb"]``). Without
    them the random draws are those of earlier versions, so existing seeds give the same items.
    """
    n = config.crop_samples
    if weights is None:
        lengths = np.array([len(s) for s in speech], dtype=np.float64)
        weights = lengths / lengths.sum()
    idx = int(rng.choice(len(speech), p=weights))
    noise_only = bool(rng.random() < config.noise_only_prob)
    clean, offset = _crop(np.asarray(speech[idx], dtype=np.float32), n, rng)
    pause = None
    if config.pause_prob > 0.0 and rng.random() < config.pause_prob:  # no draw when off: seeds keep their items
        seconds = float(rng.uniform(*config.pause_seconds))
        start = int(rng.integers(0, max(n - round(seconds * config.sample_rate), 0) + 1))
        clean = insert_pause(clean, seconds, start, config.sample_rate)
        pause = (start, seconds)
    tilt = None
    if config.tilt_prob > 0.0 and rng.random() < config.tilt_prob:  # no draw when off, as pauses
        tilt = float(rng.uniform(*config.tilt_db_per_octave))
        clean = spectral_tilt(clean, tilt, config.sample_rate)
    reverb = bool(rirs) and bool(rng.random() < rir_prob)
    early = None
    if reverb and config.rir_early_seconds is not None:
        clean, early = rirs.reverberate_with_early(clean, rng, config.rir_early_seconds,  # type: ignore[union-attr]
                                                   config.sample_rate)
    elif reverb:
        clean = rirs.reverberate(clean, rng)  # type: ignore[union-attr]
    others = list(speech[:idx]) + list(speech[idx + 1 :])
    if recorded_noise and rng.random() < recorded_noise_prob:
        if hasattr(recorded_noise, "pick"):
            family, source = recorded_noise.pick(rng)  # type: ignore[union-attr]
            noise = _recorded_crop([source], n, rng)
        else:
            family, noise = "recorded", _recorded_crop(recorded_noise, n, rng)  # type: ignore[arg-type]
        if _power(noise) <= 0.0:
            family, noise = random_noise(n, rng, sample_rate=config.sample_rate, babble_sources=others)
    else:
        family, noise = random_noise(n, rng, sample_rate=config.sample_rate, babble_sources=others)
    snr = float(rng.uniform(*config.snr_db))
    level = float(rng.uniform(*config.level_dbfs))
    if noise_only:
        clean = np.zeros(n, dtype=np.float32)
    noisy, clean_out, info = mix_clean_noise(clean, noise, snr, level)
    if early is not None and not noise_only:  # heard: the whole room; target: its early part, same gain
        clean_out = (early * info["gain"]).astype(np.float32)
    meta = {
        "family": family,
        "snr_db": None if noise_only else snr,
        "level_dbfs": level,
        "actual_level_dbfs": info["level_dbfs"],
        "clip": idx,
        "offset": offset,
        "noise_only": noise_only,
        "reverb": reverb,
        "pause": pause,
        "tilt_db_per_octave": tilt,
    }
    return noisy, clean_out, meta


# ----------------------------------------------------------------------------- datasets


class MixtureDataset(torch.utils.data.IterableDataset):
    """Infinite stream of ``(noisy, clean)`` float32 tensors of shape ``[crop_samples]``.

    ``speech`` is a sequence of file paths (read once, here, into a list of mono float32 arrays
    at ``config.sample_rate``) or of such arrays. Each DataLoader worker draws from its own
    generator, ``numpy.random.default_rng([seed, epoch, worker_id])``, so workers never repeat each
    other; call :meth:`set_epoch` between epochs to get fresh mixtures from non-persistent workers.
    Babble for an item is made from the other clips only, never from the target clip.
    """

    def __init__(
        self,
        speech: Sequence[str] | Sequence[np.ndarray],
        config: MixtureConfig = MixtureConfig(),
        seed: int = 0,
        *,
        recorded_noise: NoisePool | Sequence[np.ndarray] | None = None,
        recorded_noise_prob: float = 0.0,
        rirs: RirPool | None = None,
        rir_prob: float = 0.0,
    ) -> None:
        super().__init__()
        if len(speech) == 0:
            raise ValueError("MixtureDataset needs at least one speech clip")
        if isinstance(speech[0], (str, os.PathLike)):
            clips = load_clips(speech, config.sample_rate)  # type: ignore[arg-type]
        else:
            clips = [np.ascontiguousarray(np.asarray(s, dtype=np.float32).reshape(-1)) for s in speech]
        clips = [c for c in clips if c.size > 0 and np.any(c)]
        if not clips:
            raise ValueError("all speech clips are empty or silent")
        self.speech: list[np.ndarray] = clips
        self.config = config
        self.seed = int(seed)
        self.epoch = 0
        self.recorded_noise = recorded_noise if recorded_noise else None
        self.recorded_noise_prob = float(recorded_noise_prob)
        self.rirs, self.rir_prob = rirs, float(rir_prob)
        lengths = np.array([len(c) for c in clips], dtype=np.float64)
        self._weights = lengths / lengths.sum()

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def _rng(self) -> np.random.Generator:
        info = torch.utils.data.get_worker_info()
        worker = info.id if info is not None else 0
        return np.random.default_rng([self.seed, self.epoch, worker])

    def items(self, rng: np.random.Generator) -> Iterator[tuple[np.ndarray, np.ndarray, dict[str, Any]]]:
        """Endless ``(noisy, clean, meta)`` numpy items from ``rng`` (for inspection/debugging)."""
        while True:
            yield make_mixture(self.speech, self.config, rng, weights=self._weights,
                               recorded_noise=self.recorded_noise,
                               recorded_noise_prob=self.recorded_noise_prob, rirs=self.rirs,
                               rir_prob=self.rir_prob)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        for noisy, clean, _ in self.items(self._rng()):
            yield torch.from_numpy(noisy), torch.from_numpy(clean)


def make_validation_set(
    speech: Sequence[np.ndarray],
    count: int,
    seed: int,
    config: MixtureConfig,
    *,
    recorded_noise: NoisePool | None = None,
    recorded_noise_prob: float = 0.0,
    rirs: RirPool | None = None,
    rir_prob: float = 0.0,
    seconds: Sequence[float] = (),
) -> list[tuple[np.ndarray, np.ndarray, dict[str, Any]]]:
    """A fixed list of ``count`` ``(noisy, clean, meta)`` items, identical for the same inputs.

    Drawn exactly like training items from ``numpy.random.default_rng(seed)`` over ``speech``
    (use the validation split; babble comes from the other validation clips), with the held-out
    noise and impulse responses given. ``seconds`` = [low, high] draws each item's length (whole
    20 ms hops) from its own generator, ``default_rng([seed, 1])``; empty = ``config.crop_seconds``.
    ``meta`` records ``family``, ``snr_db`` (None for noise-only items), ``level_dbfs`` (asked),
    ``actual_level_dbfs`` (after clipping protection), ``clip`` (index into ``speech``),
    ``offset``, ``noise_only`` and ``reverb``.
    """
    clips = [np.asarray(s, dtype=np.float32).reshape(-1) for s in speech]
    if not clips:
        raise ValueError("make_validation_set needs at least one speech clip")
    rng = np.random.default_rng(seed)
    length_rng = np.random.default_rng([seed, 1])
    lengths = np.array([len(c) for c in clips], dtype=np.float64)
    weights = lengths / lengths.sum()
    items = []
    for _ in range(int(count)):
        item_config = config
        if seconds:
            hops = round(float(length_rng.uniform(seconds[0], seconds[1])) * config.sample_rate / 320)
            item_config = replace(config, crop_seconds=max(hops, 1) * 320 / config.sample_rate)
        items.append(make_mixture(clips, item_config, rng, weights=weights, recorded_noise=recorded_noise,
                                  recorded_noise_prob=recorded_noise_prob, rirs=rirs, rir_prob=rir_prob))
    return items
