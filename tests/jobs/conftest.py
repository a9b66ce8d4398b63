"""Helpers for the Ray job tests: job overrides for the tiny model, and a mixed audio corpus.

The services are tests/conftest.py's and nothing is mocked: s3fs talks HTTP to ``moto_server``
(``s3``), Ray Data runs real tasks and actors on the session's local Ray (``ray_local``), and the
model is the real FRCRN network loaded by the real ``Enhancer`` from ``tiny_checkpoint`` -- only
made narrow (width 8) with random weights, so plumbing tests run in seconds.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import soundfile as sf

ROOT = Path(__file__).resolve().parents[2]


def model_overrides(checkpoint: str) -> list[str]:
    return [f"model.checkpoint={checkpoint}", "model.enhance.device=cpu", "model.enhance.window_seconds=4.0",
            "model.enhance.overlap_seconds=1.0", "model.enhance.batch_size=2", "model.enhance.num_threads=1",
            "compute.files_per_model_batch=4", "compute.files_per_read_task=4",
            "compute.files_per_write_task=4", "ray.progress_bars=false"]


# --------------------------------------------------------------------------- audio corpus


def tone(seconds: float, rate: int, channels: int = 1, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    n = round(seconds * rate)
    t = np.arange(n) / rate
    x = 0.3 * np.sin(2 * np.pi * 220 * t) + 0.05 * rng.standard_normal(n)
    x = x.astype(np.float32)
    return np.stack([x, 0.8 * x], axis=1) if channels == 2 else x


def encode(x: np.ndarray, rate: int, fmt: str = "WAV", subtype: str = "PCM_16") -> bytes:
    buf = io.BytesIO()
    sf.write(buf, x, rate, format=fmt, subtype=subtype)
    return buf.getvalue()


def nan_wav() -> bytes:
    x = tone(0.5, 16000)
    x[100:200] = np.nan
    return encode(x, 16000, "WAV", "FLOAT")


def corpus(long_seconds: float | None = 180.0, n_short: int = 16) -> tuple[dict[str, bytes], dict[str, dict]]:
    """(relative path -> bytes, relative path -> expectations) of a mixed corpus."""
    files: dict[str, bytes] = {}
    expect: dict[str, dict] = {}
    rates = [8000, 16000, 44100, 48000, 22050, 32000]
    for i in range(n_short):
        rate = rates[i % len(rates)]
        ch = 2 if i % 3 == 0 else 1
        fmt = "flac" if i % 4 == 1 else "wav"
        secs = 0.5 + (i % 4) * 0.5  # 0.5 .. 2.0 s
        sub = "spk_a" if i % 2 else "spk_b/deeper"
        rel = f"{sub}/clip_{i:02d}_{rate}_{ch}ch.{fmt}"
        files[rel] = encode(tone(secs, rate, ch, seed=i), rate, fmt.upper())
        expect[rel] = {"status": "ok", "rate": rate, "channels": ch, "seconds": round(secs * rate) / rate}
    if long_seconds:
        rel = "long/long_3min_16k.wav"
        files[rel] = encode(tone(long_seconds, 16000, 1, seed=99), 16000)
        expect[rel] = {"status": "ok", "rate": 16000, "channels": 1, "seconds": long_seconds}
    files["broken/empty.wav"] = b""
    expect["broken/empty.wav"] = {"status": "error", "error_type": "empty"}
    files["broken/random.wav"] = np.random.default_rng(1).bytes(5000)
    expect["broken/random.wav"] = {"status": "error", "error_type": "undecodable"}
    files["broken/notes.wav"] = b"this is a text file, not audio\n" * 20
    expect["broken/notes.wav"] = {"status": "error", "error_type": "undecodable"}
    files["broken/nan_float.wav"] = nan_wav()
    expect["broken/nan_float.wav"] = {"status": "error", "error_type": "non_finite"}
    return files, expect
