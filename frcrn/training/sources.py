"""Training and validation audio sources, and how each is held out.

Why held out by *speaker* and by *noise file*: a validation set whose speakers or noise recordings
were also trained on measures memory, not denoising. Speech is grouped by speaker where the file
name says who speaks (LibriSpeech ``SPEAKER-CHAPTER-UTTERANCE``, CMU ARCTIC ``arctic_us_SPK_a0001``,
numbered utterances of one recording ``name-0870``); a file with no such name is its own group.
Noise is grouped into families by its folder (``noise_recorded/0ad_ambient/...`` is family
``0ad_ambient``) and split by file *within* each family, so every family is in both sets.

:class:`NoisePool` and :class:`RirPool` hold the loaded arrays with their labels; mixtures draw
from them (:func:`frcrn.training.mixtures.make_mixture`).
"""

from __future__ import annotations

import os
import posixpath
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from .speech_edits import fade_out_ramp

__all__ = [
    "NoisePool",
    "RirPool",
    "family_of",
    "speaker_of",
    "split_by_family",
    "split_groups",
]

_LIBRISPEECH = re.compile(r"(?:^|[^0-9])(\d+)-\d+-\d+$")
_ARCTIC = re.compile(r"arctic_(?:us_)?([a-z]+)_[ab]\d{4}$")
_NUMBERED = re.compile(r"^(.+)-\d{3,}$")


def _stem(path: str) -> str:
    name = posixpath.basename(os.fspath(path).replace("\\", "/"))
    return name.rsplit(".", 1)[0] if "." in name else name


def speaker_of(path: str) -> str:
    """A speaker label from a file name, or the file itself when the name does not say.

    ``1688__1688-142285-0000.flac`` -> ``librispeech:1688``; ``cmu_arctic_us_aew_a0001.flac`` ->
    ``arctic:aew``; ``sense_and_sensibility_01_austen_64kb-0870.flac`` (numbered utterances of one
    recording) -> ``sense_and_sensibility_01_austen_64kb``; anything else -> the path.
    """
    stem = _stem(path)
    if m := _LIBRISPEECH.search(stem):
        return f"librispeech:{m.group(1)}"
    if m := _ARCTIC.search(stem):
        return f"arctic:{m.group(1)}"
    if m := _NUMBERED.match(stem):
        return m.group(1)
    return os.fspath(path)


def family_of(path: str) -> str:
    """The noise family of a file: the name of the folder it is in."""
    parent = posixpath.dirname(os.fspath(path).replace("\\", "/"))
    return posixpath.basename(parent) or "recorded"


def split_groups(
    paths: Sequence[str], fraction: float, seed: int, key: Callable[[str], str] = os.fspath
) -> tuple[list[str], list[str]]:
    """Split files into (train, validation) by group, deterministically.

    Groups (``key`` of each path; default: the path, i.e. by file) are sorted, shuffled with
    ``numpy.random.default_rng(seed)``, and the first ``round(groups * fraction)`` go to validation:
    at least one when the fraction is > 0 and there are two groups or more, never all of them.
    Both lists come back sorted and de-duplicated; no group is in both.
    """
    if not 0.0 <= fraction < 1.0:
        raise ValueError(f"validation fraction must be in [0, 1), got {fraction}")
    unique = sorted({os.fspath(p) for p in paths})
    groups = sorted({key(p) for p in unique})
    n = len(groups)
    n_val = round(n * fraction)
    if fraction > 0 and n >= 2:
        n_val = max(n_val, 1)
    n_val = min(n_val, max(n - 1, 0))
    order = np.random.default_rng(seed).permutation(n)
    held_out = {groups[i] for i in order[:n_val].tolist()}
    train = [p for p in unique if key(p) not in held_out]
    val = [p for p in unique if key(p) in held_out]
    return train, val


def split_by_family(paths: Sequence[str], fraction: float, seed: int) -> tuple[list[str], list[str]]:
    """Split noise files by file within each family (:func:`family_of`), so that every family
    with two files or more has files on both sides."""
    by_family: dict[str, list[str]] = {}
    for p in sorted({os.fspath(p) for p in paths}):
        by_family.setdefault(family_of(p), []).append(p)
    train: list[str] = []
    val: list[str] = []
    for family in sorted(by_family):
        t, v = split_groups(by_family[family], fraction, seed)
        train += t
        val += v
    return sorted(train), sorted(val)


@dataclass
class NoisePool:
    """Recorded noise arrays with their family labels.

    Why families are drawn first: a family of many tiny files (171 key presses) would otherwise
    crowd out one of a few long recordings; each family gets the same share, then a file within it.
    """

    arrays: list[np.ndarray]
    families: list[str]

    def __post_init__(self) -> None:
        if len(self.arrays) != len(self.families):
            raise ValueError("NoisePool needs one family label per array")
        self._by_family: dict[str, list[int]] = {}
        for i, family in enumerate(self.families):
            self._by_family.setdefault(family, []).append(i)
        self._names = sorted(self._by_family)

    @classmethod
    def of(cls, files: Sequence[str], clips: Sequence[np.ndarray], min_samples: int = 1600) -> NoisePool:
        """The pool of ``clips`` (read from ``files``, in order), without those shorter than
        ``min_samples`` or silent."""
        kept = [(family_of(f), c) for f, c in zip(files, clips) if c.size > min_samples and np.any(c)]
        return cls([c for _, c in kept], [f for f, _ in kept])

    def __len__(self) -> int:
        return len(self.arrays)

    def __bool__(self) -> bool:
        return bool(self.arrays)

    def pick(self, rng: np.random.Generator) -> tuple[str, np.ndarray]:
        family = self._names[int(rng.integers(0, len(self._names)))]
        members = self._by_family[family]
        return family, self.arrays[members[int(rng.integers(0, len(members)))]]

    def seconds_by_family(self, sample_rate: int = 16000) -> dict[str, float]:
        return {f: round(sum(self.arrays[i].size for i in ix) / sample_rate, 1)
                for f, ix in sorted(self._by_family.items())}


@dataclass
class RirPool:
    """Room impulse responses, each scaled so its strongest tap is 1 (the direct path keeps the
    speech level; the reverberant target is louder only by the room's energy)."""

    arrays: list[np.ndarray]

    @classmethod
    def of(cls, clips: Sequence[np.ndarray]) -> RirPool:
        """The pool of ``clips`` scaled to a peak of 1; silent ones dropped."""
        peaks = [float(np.max(np.abs(c))) if c.size else 0.0 for c in clips]
        return cls([(c / p).astype(np.float32) for c, p in zip(clips, peaks) if p > 0])

    def __len__(self) -> int:
        return len(self.arrays)

    def __bool__(self) -> bool:
        return bool(self.arrays)

    def reverberate(self, clean: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """``clean`` convolved with a random response, cut to its length (the target FRCRN learns:
        it denoises, it does not dereverberate)."""
        return _convolve(clean, self.arrays[int(rng.integers(0, len(self.arrays)))])[0]

    def reverberate_with_early(self, clean: np.ndarray, rng: np.random.Generator, early_seconds: float,
                               sample_rate: int = 16000) -> tuple[np.ndarray, np.ndarray]:
        """(``clean`` convolved with a random response, ``clean`` convolved with only its direct
        sound and the first ``early_seconds`` of reflections), both cut to its length. The same
        draw as :meth:`reverberate`, so a seed picks the same room either way.

        Why: the early reflections colour the voice but do not smear it; the late tail is what a
        listener (and DNSMOS) hears as reverberation. A target that keeps only the early part
        teaches the model to remove the tail with the noise, as the DNS Challenge recipes do."""
        rir = self.arrays[int(rng.integers(0, len(self.arrays)))]
        full, early = _convolve(clean, rir, early_part(rir, early_seconds, sample_rate))
        return full, early


EARLY_FADE_SECONDS = 0.005


def early_part(rir: np.ndarray, early_seconds: float, sample_rate: int = 16000) -> np.ndarray:
    """The impulse response up to ``early_seconds`` after its strongest tap (the direct sound),
    faded out over 5 ms so the cut adds no click; zeros after."""
    out = np.array(rir, dtype=np.float32, copy=True)
    end = int(np.argmax(np.abs(out))) + round(early_seconds * sample_rate)
    fade = round(EARLY_FADE_SECONDS * sample_rate)
    if end < out.size:
        stop = min(end + fade, out.size)
        out[end:stop] *= fade_out_ramp(fade)[: stop - end]
        out[stop:] = 0.0
    return out


def _convolve(clean: np.ndarray, *rirs: np.ndarray) -> list[np.ndarray]:
    """``clean`` convolved with each response, cut to its length; the speech's spectrum is
    computed once for all of them."""
    n = clean.size + max(rir.size for rir in rirs) - 1
    size = 1 << (n - 1).bit_length()
    spectrum = np.fft.rfft(clean, size)
    return [np.fft.irfft(spectrum * np.fft.rfft(rir, size), size)[: clean.size].astype(np.float32) for rir in rirs]
