"""Helpers for the audio tests: synthetic signals, their file bytes, a scratch memory:// folder."""

from __future__ import annotations

import io
import uuid

import fsspec
import numpy as np
import pytest
import soundfile as sf

from frcrn.audio import SAMPLE_RATE


def sine(
    freq: float = 440.0, rate: int = SAMPLE_RATE, frames: int = SAMPLE_RATE, amp: float = 0.5
) -> np.ndarray:
    return (amp * np.sin(2 * np.pi * freq * np.arange(frames) / rate)).astype(np.float32)


def file_bytes(
    x: np.ndarray, rate: int = SAMPLE_RATE, format: str = "WAV", subtype: str = "PCM_16"
) -> bytes:
    out = io.BytesIO()
    sf.write(out, x, rate, format=format, subtype=subtype)
    return out.getvalue()


def noise(frames: int, channels: int = 1, seed: int = 0) -> np.ndarray:
    shape = (frames,) if channels == 1 else (frames, channels)
    return np.random.default_rng(seed).uniform(-0.9, 0.9, shape).astype(np.float32)


@pytest.fixture
def mem_dir():
    root = f"/test-audio-{uuid.uuid4().hex}"
    yield f"memory://{root}"
    fs = fsspec.filesystem("memory")
    if fs.exists(root):
        fs.rm(root, recursive=True)
