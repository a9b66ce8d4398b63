"""Fixtures for the reader tests: the local filesystem as fsspec sees it, and tiny audio files.

Audio is 0.2 s of 16 kHz noise: readers never decode it, but the corpus libraries that write the
fixtures (lhotse, datasets) open or embed real files.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import fsspec
import numpy as np
import pytest
import soundfile as sf


def wav_bytes(seconds: float = 0.2, seed: int = 0) -> bytes:
    """A tiny 16 kHz mono WAV of noise, as bytes (each seed gives different bytes)."""
    rng = np.random.default_rng(seed)
    buffer = io.BytesIO()
    sf.write(buffer, (0.1 * rng.standard_normal(round(seconds * 16000))).astype(np.float32), 16000,
             format="WAV", subtype="PCM_16")
    return buffer.getvalue()


def write_wav(path: Path, seed: int = 0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(wav_bytes(seed=seed))
    return path


def write_lines(path: Path, lines: list[dict | str]) -> Path:
    """A JSON-lines file: dicts as JSON, strings written as they are (to plant bad lines)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join((json.dumps(x) if isinstance(x, dict) else x) + "\n" for x in lines), encoding="utf-8")
    return path


@pytest.fixture
def fs():
    return fsspec.filesystem("file")
