"""Shared by the pipeline-integration tests: the enhancer settings (the tiny real checkpoint of
tests/conftest.py, 4 s windows so a 5 s file has two, two windows per model batch so windows of
different rows share batches), a folder of small audio files, what `frcrn enhance` writes for
it, and the reference: what ``Enhancer`` gives on the decoded input."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from frcrn.audio import decode_audio, encode_audio
from frcrn.enhance import EnhanceConfig, Enhancer

CONFIG = EnhanceConfig(device="cpu", num_threads=1, window_seconds=4.0, overlap_seconds=1.0, batch_size=2)
CLI_FLAGS = ["--device", "cpu", "--num-threads", "1", "--window-seconds", "4", "--overlap-seconds", "1",
             "--batch-size", "2"]
FILES = {"a.wav": (1.0, 16000, "WAV"), "b.flac": (5.0, 22050, "FLAC"), "c.wav": (0.5, 8000, "WAV")}
"""name -> (seconds, rate, format): mono 16-bit files; b has two model windows."""
BROKEN = "broken.wav"


def signal(seconds: float, rate: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(round(seconds * rate)) / rate
    return (0.3 * np.sin(2 * np.pi * 220 * t) + 0.05 * rng.standard_normal(t.size)).astype(np.float32)


def encoded(x: np.ndarray, rate: int, fmt: str = "WAV") -> bytes:
    buf = io.BytesIO()
    sf.write(buf, x, rate, format=fmt, subtype="PCM_16")
    return buf.getvalue()


def pcm16(x: np.ndarray) -> np.ndarray:
    """What the CLI writes for float samples x (the project's codec), as int16."""
    data, _ = sf.read(io.BytesIO(encode_audio(np.asarray(x, dtype=np.float32), 16000, "wav")), dtype="int16")
    return data


@pytest.fixture(scope="session")
def audio_folder(tmp_path_factory) -> Path:
    """FILES plus a text file saved as .wav (BROKEN)."""
    folder = tmp_path_factory.mktemp("noisy")
    for i, (name, (seconds, rate, fmt)) in enumerate(FILES.items()):
        (folder / name).write_bytes(encoded(signal(seconds, rate, seed=i), rate, fmt))
    (folder / BROKEN).write_text("this is not audio, it is a note someone saved as .wav\n")
    return folder


@pytest.fixture(scope="session")
def cli_outputs(audio_folder, tiny_checkpoint, tmp_path_factory) -> dict[str, np.ndarray]:
    """`frcrn enhance` on the folder: name -> the int16 samples it wrote (exit 3: BROKEN failed)."""
    from frcrn.cli import main

    out = tmp_path_factory.mktemp("cli_out")
    code = main(["enhance", "-q", *CLI_FLAGS, str(audio_folder), "-o", str(out), "--checkpoint", tiny_checkpoint])
    assert code == 3
    written = {p.name: sf.read(p, dtype="int16")[0] for p in out.glob("*.wav")}
    assert sorted(written) == sorted(n.rsplit(".", 1)[0] + ".wav" for n in FILES)
    return {name: written[name.rsplit(".", 1)[0] + ".wav"] for name in FILES}


@pytest.fixture(scope="session")
def reference(tiny_checkpoint):
    """Enhancer's float output, one file at a time, on encoded bytes (decoded to 16 kHz by the
    codec) or on 16 kHz float samples."""
    enhancer = Enhancer.from_checkpoint(tiny_checkpoint, CONFIG)

    def enhance(data: bytes | np.ndarray) -> np.ndarray:
        return enhancer.enhance(data if isinstance(data, np.ndarray) else decode_audio(data).samples)

    return enhance
