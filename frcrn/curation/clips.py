"""Short listening clips for the report: the first seconds of a row's slice of a recording, read
through fsspec (local or object store), as 16 kHz mono FLAC in a ``data:`` URI.

Only the frames needed are read: the file is opened as a stream, the decoder seeks to the slice's
start and reads at most ``max_seconds``, so an hour-long recording on S3 costs a few ranged reads,
not a download. The clip is 16 kHz mono 16-bit FLAC, at most 10 s (≈ 320 kB as WAV, typically
half that as FLAC; a third more as base64), which is what bounds the report's size.
"""

from __future__ import annotations

import base64
import math
from collections.abc import Mapping
from typing import Any

import fsspec
import numpy as np
import soundfile as sf

from ..audio.codec import SAMPLE_RATE, downmix, encode_audio, resample

__all__ = ["CLIP_SECONDS", "audio_data_uri", "read_slice"]

CLIP_SECONDS = 10.0


def read_slice(uri: str, offset_s: float | None = None, duration_s: float | None = None, *,
               max_seconds: float = CLIP_SECONDS, storage_options: Mapping[str, Any] | None = None) -> np.ndarray:
    """Samples (float32, mono, 16 kHz) of ``[offset, offset + min(duration, max_seconds))`` of ``uri``.

    Raises ``OSError``/``ValueError``/``soundfile.LibsndfileError`` when the file cannot be read."""
    offset = 0.0 if offset_s is None or not math.isfinite(offset_s) else max(0.0, float(offset_s))
    seconds = max_seconds if duration_s is None or not math.isfinite(duration_s) else min(duration_s, max_seconds)
    with fsspec.open(uri, "rb", **dict(storage_options or {})) as raw, sf.SoundFile(raw) as f:
        rate = f.samplerate
        start = min(round(offset * rate), f.frames)
        f.seek(start)
        frames = f.read(max(0, round(seconds * rate)), dtype="float32", always_2d=True)
    samples = np.nan_to_num(downmix(frames), nan=0.0, posinf=0.0, neginf=0.0)
    return resample(samples, rate, SAMPLE_RATE) if samples.size else samples


def audio_data_uri(samples: np.ndarray, sample_rate: int = SAMPLE_RATE) -> str:
    """``data:audio/flac;base64,...`` of ``samples`` (16-bit FLAC)."""
    data = encode_audio(np.asarray(samples, dtype=np.float32), sample_rate, "flac")
    return "data:audio/flac;base64," + base64.b64encode(data).decode("ascii")
