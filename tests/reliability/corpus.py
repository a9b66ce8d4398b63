"""The bad-input corpus: every kind of file a real corpus contains by accident, generated here.

``bad_inputs()`` returns ``{relative key: Case}``; each Case says what a user should get back:
``status`` "ok" (with the input facts the row must report) or "error" with the exact
``error_type`` and a fragment the message must contain. Files are small (kilobytes) except the
deliberately large ones; the 3-hour file is a FLAC written block by block to disk (never held
in memory) and is ~1 MB because it is mostly digital silence.
"""

from __future__ import annotations

import io
import struct
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import soundfile as sf

RATE = 16000
LONG_SECONDS = 3 * 3600  # the 3-hour file
MAX_SECONDS = 1800.0     # limits.max_seconds used by the bad-input run
MAX_BYTES = 2_000_000    # limits.max_bytes used by the bad-input run


@dataclass
class Case:
    status: str
    error_type: str = ""
    message: str = ""  # fragment the error message must contain (besides the file name)
    rate: int | None = None
    channels: int | None = None
    seconds: float | None = None  # input duration the row must report (+- 1 sample)
    check: dict = field(default_factory=dict)  # extra expectations on the row


def tone(seconds: float, rate: int = RATE, channels: int = 1, seed: int = 0, amp: float = 0.3) -> np.ndarray:
    rng = np.random.default_rng(seed)
    n = round(seconds * rate)
    t = np.arange(n) / rate
    x = (amp * np.sin(2 * np.pi * 220 * t) + 0.05 * amp * rng.standard_normal(n)).astype(np.float32)
    if channels == 1:
        return x
    return np.stack([x * (1 - 0.1 * c) for c in range(channels)], axis=1)


def encode(x: np.ndarray, rate: int = RATE, fmt: str = "WAV", subtype: str = "PCM_16") -> bytes:
    buf = io.BytesIO()
    sf.write(buf, x, rate, format=fmt, subtype=subtype)
    return buf.getvalue()


def wav_header(frames: int, rate: int = RATE, channels: int = 1, bits: int = 16) -> bytes:
    """A canonical 44-byte PCM WAV header promising ``frames`` frames (no data follows)."""
    block = channels * bits // 8
    data = frames * block
    return (b"RIFF" + struct.pack("<I", 36 + data) + b"WAVEfmt " + struct.pack("<IHHIIHH", 16, 1, channels, rate,
            rate * block, block, bits) + b"data" + struct.pack("<I", data))


PNG = (b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + struct.pack(">IIBBBBB", 16, 16, 8, 2, 0, 0, 0)
       + b"\x90wS\xde" + b"\x00\x00\x00\x00IEND\xaeB`\x82")


def write_long_flac(path: Path, seconds: int = LONG_SECONDS, rate: int = 8000) -> None:
    """A FLAC of silence with a 1 s tone every minute, written a minute at a time (bounded memory)."""
    t = np.arange(rate) / rate
    block = np.zeros(rate * 60, np.float32)
    block[:rate] = 0.3 * np.sin(2 * np.pi * 220 * t)
    with sf.SoundFile(str(path), "w", samplerate=rate, channels=1, format="FLAC", subtype="PCM_16") as f:
        for _ in range(seconds // 60):
            f.write(block)


def bad_inputs(tmp: Path) -> tuple[dict[str, bytes | Path], dict[str, Case]]:
    """(key -> bytes or a file path to upload, key -> expectation). Keys are relative to the input root."""
    files: dict[str, bytes | Path] = {}
    cases: dict[str, Case] = {}

    def add(key: str, data: bytes | Path, case: Case) -> None:
        files[key], cases[key] = data, case

    speech = tone(0.5, seed=1)
    add("bad/empty.wav", b"", Case("error", "empty", "0 bytes"))
    add("bad/zero_frames.wav", encode(np.zeros(0, np.float32)), Case("error", "empty", "0 frames"))
    add("bad/header_only.wav", wav_header(16000), Case("error", "empty", "no audio"))
    add("bad/truncated.wav", encode(tone(1.0, seed=2))[: 44 + 2 * 8000],  # cut after 0.5 s of 1 s
        Case("ok", rate=RATE, channels=1, seconds=0.5))
    add("bad/random.wav", np.random.default_rng(3).bytes(4096), Case("error", "undecodable", "not audio"))
    add("bad/notes.wav", b"speaker: alice\ntranscript: hello world\n" * 10,
        Case("error", "undecodable", "text"))
    add("bad/picture.wav", PNG, Case("error", "undecodable", "PNG image"))
    add("odd/flac_named_wav.wav", encode(speech, fmt="FLAC"),
        Case("ok", rate=RATE, channels=1, seconds=0.5, check={"input_format": "FLAC/PCM_16"}))
    add("odd/u8.wav", encode(speech, subtype="PCM_U8"), Case("ok", rate=RATE, channels=1, seconds=0.5))
    add("odd/pcm24.wav", encode(speech, subtype="PCM_24"), Case("ok", rate=RATE, channels=1, seconds=0.5))
    nan = speech.copy()
    nan[100:110] = np.nan
    add("bad/float_nan.wav", encode(nan, subtype="FLOAT"), Case("error", "non_finite", "10 NaN"))
    inf = speech.copy()
    inf[5], inf[6] = np.inf, -np.inf
    add("bad/float_inf.wav", encode(inf, subtype="FLOAT"), Case("error", "non_finite", "2 infinite"))
    add("odd/digital_silence.wav", encode(np.zeros(8000, np.float32)),
        Case("ok", rate=RATE, channels=1, seconds=0.5, check={"level_in_dbfs": -120.0}))
    clipped = np.clip(tone(0.5, seed=4, amp=3.0), -1.0, 32767 / 32768)
    add("odd/clipping.wav", encode(clipped), Case("ok", rate=RATE, channels=1, seconds=0.5, check={"clipped": True}))
    add("odd/dc_offset.wav", encode(speech + 0.5), Case("ok", rate=RATE, channels=1, seconds=0.5))
    add("odd/one_sample.wav", encode(np.array([0.25], np.float32)), Case("ok", rate=RATE, channels=1, seconds=1 / RATE))
    add("odd/rate_8k.wav", encode(tone(0.5, 8000, seed=5), 8000), Case("ok", rate=8000, channels=1, seconds=0.5))
    add("odd/rate_96k.wav", encode(tone(0.3, 96000, seed=6), 96000), Case("ok", rate=96000, channels=1, seconds=0.3))
    add("odd/six_channels.wav", encode(tone(0.3, channels=6, seed=7)), Case("ok", rate=RATE, channels=6, seconds=0.3))
    long_path = tmp / "three_hours.flac"
    write_long_flac(long_path)
    add("big/three_hours.flac", long_path, Case("error", "too_long", "exceeds the limit of 1800 s"))
    big = encode(tone(3 * MAX_BYTES / (2 * RATE), seed=8))  # valid audio, 3x max_bytes
    assert len(big) > MAX_BYTES
    add("big/over_max_bytes.wav", big, Case("error", "too_large", f"the limit is {MAX_BYTES} bytes"))
    return files, cases
