"""Audio codec for corpus cleaning: bytes in any format libsndfile reads -> float32 mono at 16 kHz,
and float samples -> 16-bit WAV/FLAC bytes (reading and writing files: :mod:`frcrn.audio.files`).

Corpora are messy: wrong extensions, truncated uploads, images saved as ``.wav``, float files
full of NaN, 6-channel film stems. Every input problem is reported as an :class:`AudioError`
whose ``kind`` a pipeline can count and whose message a person can act on, so one bad file
becomes one clear line in a report instead of a crash or, worse, silent garbage fed to the model.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any

import numpy as np
import soundfile as sf
import soxr

SAMPLE_RATE: int = 16000
"""The rate FRCRN was trained at; everything is converted to it before enhancement."""

MIN_SAMPLE_RATE: int = 4000
MAX_SAMPLE_RATE: int = 384000
"""Rates outside [MIN, MAX] are not real recordings but corrupt headers (1 Hz, 2**31 Hz);
resampling them would either take forever or produce nonsense, so they are refused."""

_FORMATS: dict[str, str] = {"wav": "WAV", "flac": "FLAC"}


class AudioError(ValueError):
    """Input that is not usable audio; message is for a person (says what is wrong and, where
    useful, what to do). ``kind`` is a short stable category for counting and routing."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message

    def __reduce__(self) -> tuple[Any, ...]:
        # The default reduce would call AudioError(message) and fail; errors must survive
        # pickling because Ray and multiprocessing ship them between processes.
        return (type(self), (self.kind, self.message))


@dataclass(frozen=True)
class AudioInfo:
    """Facts about the source, before any conversion, so reports can say what came in."""

    sample_rate: int
    channels: int
    frames: int
    format: str
    subtype: str

    @property
    def duration_seconds(self) -> float:
        return self.frames / self.sample_rate if self.sample_rate > 0 else 0.0


@dataclass(frozen=True)
class DecodedAudio:
    """Model-ready samples plus the source facts they were converted from."""

    samples: np.ndarray  # float32, 1-D, mono, at `sample_rate`, C-contiguous
    sample_rate: int
    source: AudioInfo


# --------------------------------------------------------------------------- decoding

_MP3 = "MP3" in sf.available_formats()

# What libsndfile could not open, guessed from magic numbers only to word the error well:
# "broken" = a format libsndfile reads, so the file is damaged; "unsupported" = real audio in a
# format libsndfile lacks, so it needs converting; "other" = not audio at all (wrong file).
_MAGIC: tuple[tuple[int, bytes, str, str], ...] = (
    (0, b"\x89PNG\r\n\x1a\n", "a PNG image", "other"),
    (0, b"\xff\xd8\xff", "a JPEG image", "other"),
    (0, b"GIF8", "a GIF image", "other"),
    (0, b"%PDF-", "a PDF document", "other"),
    (0, b"PK\x03\x04", "a ZIP archive (or an Office document)", "other"),
    (0, b"\x1f\x8b", "gzip-compressed data", "other"),
    (0, b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive", "other"),
    (0, b"\x1a\x45\xdf\xa3", "a Matroska/WebM container", "unsupported"),
    (4, b"ftyp", "an MP4/M4A container (AAC audio)", "unsupported"),
    (0, b"\xff\xf1", "raw AAC (ADTS) audio", "unsupported"),
    (0, b"\xff\xf9", "raw AAC (ADTS) audio", "unsupported"),
    (0, b"RIFF", "a WAV/RIFF file", "broken"),
    (0, b"RF64", "an RF64 file", "broken"),
    (0, b"fLaC", "a FLAC file", "broken"),
    (0, b"OggS", "an Ogg file", "broken"),
    (0, b"FORM", "an AIFF file", "broken"),
    (0, b"ID3", "an MP3 file", "broken" if _MP3 else "unsupported"),
    (0, b"\xff\xfb", "an MP3 file", "broken" if _MP3 else "unsupported"),
    (0, b"\xff\xf3", "an MP3 file", "broken" if _MP3 else "unsupported"),
)


def _describe(head: bytes) -> tuple[str, str] | None:
    """Guess what undecodable bytes are, as (description, category) from _MAGIC."""
    for offset, magic, description, category in _MAGIC:
        if head[offset : offset + len(magic)] == magic:
            return description, category
    stripped = head.lstrip()
    if stripped[:5].lower() in (b"<!doc", b"<html"):
        return "an HTML page (an error page saved instead of the file?)", "other"
    if stripped[:5] == b"<?xml":
        return "an XML document", "other"
    text = head.decode("utf-8", errors="replace")
    readable = sum((c.isprintable() or c.isspace()) and c != "\ufffd" for c in text)
    if text and readable >= 0.95 * len(text):
        return f"text ({' '.join(text.split())[:40]!r})", "other"
    return None


def _undecodable(data: bytes | bytearray | memoryview, err: Exception) -> AudioError:
    detail = getattr(err, "error_string", None) or str(err)
    head = bytes(memoryview(data).cast("B")[:512])
    guess = _describe(head)
    if guess is None:
        message = (
            "not audio: the bytes are not in any format libsndfile reads "
            f"(first bytes: {head[:8].hex(' ')}; libsndfile: {detail})"
        )
    elif guess[1] == "broken":
        message = (
            f"undecodable audio: the bytes look like {guess[0]} but libsndfile cannot open it "
            f"({detail}); the file is probably truncated or corrupt, re-export it"
        )
    elif guess[1] == "unsupported":
        message = (
            f"unsupported audio format: the bytes look like {guess[0]}, which libsndfile "
            "cannot read; convert it to WAV or FLAC (e.g. ffmpeg -i IN -ac 1 -ar 16000 OUT.wav)"
        )
    else:
        message = (
            "not audio: the bytes are not in any format libsndfile reads "
            f"(first bytes look like {guess[0]}); check that the right file was stored"
        )
    return AudioError("undecodable", message)


def _open(data: bytes | bytearray | memoryview) -> sf.SoundFile:
    if memoryview(data).nbytes == 0:
        raise AudioError("empty", "no audio: the input is empty (0 bytes)")
    try:
        return sf.SoundFile(io.BytesIO(data))
    except sf.SoundFileError as err:
        raise _undecodable(data, err) from None


def _info(f: sf.SoundFile) -> AudioInfo:
    return AudioInfo(
        sample_rate=int(f.samplerate),
        channels=int(f.channels),
        frames=int(f.frames),
        format=str(f.format),
        subtype=str(f.subtype),
    )


def probe_audio(data: bytes | bytearray | memoryview) -> AudioInfo:
    """Read only the header, so a job can plan (durations, rates) without decoding.

    Reports facts as found; judging them (absurd rate, too long) is :func:`decode_audio`'s job.
    Raises :class:`AudioError` only when the bytes are empty or not openable as audio.
    """
    with _open(data) as f:
        return _info(f)


def _check_rate(rate: int, what: str) -> None:
    if not isinstance(rate, (int, np.integer)) or not MIN_SAMPLE_RATE <= rate <= MAX_SAMPLE_RATE:
        raise ValueError(
            f"{what} must be an integer in [{MIN_SAMPLE_RATE}, {MAX_SAMPLE_RATE}] Hz, got {rate!r}"
        )


def decode_audio(
    data: bytes | bytearray | memoryview,
    *,
    target_rate: int = SAMPLE_RATE,
    max_seconds: float | None = None,
) -> DecodedAudio:
    """Turn file bytes into float32 mono at ``target_rate``, or say clearly why not.

    Cheap checks (rate, duration) run on the header before any sample is decoded, so a
    ten-hour file sent to a job with ``max_seconds=60`` costs a header read, not gigabytes of
    RAM. A truncated file is decoded as far as its data goes: a partial utterance is still
    useful, and libsndfile already limits reading to the bytes present.
    """
    _check_rate(target_rate, "target_rate")
    with _open(data) as f:
        info = _info(f)
        if not MIN_SAMPLE_RATE <= info.sample_rate <= MAX_SAMPLE_RATE:
            raise AudioError(
                "sample_rate",
                f"unusable sample rate: the header says {info.sample_rate} Hz, outside "
                f"[{MIN_SAMPLE_RATE}, {MAX_SAMPLE_RATE}] Hz; the header is probably corrupt",
            )
        if max_seconds is not None and info.duration_seconds > max_seconds:
            raise AudioError(
                "too_long",
                f"too long: {info.duration_seconds:.1f} s exceeds the limit of {max_seconds:g} s; "
                "split the file or raise max_seconds",
            )
        try:
            frames = f.read(dtype="float32", always_2d=True)
        except sf.SoundFileError as err:
            raise _undecodable(data, err) from None

    if frames.shape[0] == 0:
        if info.frames == 0:
            raise AudioError(
                "empty", f"no audio: the {info.format} file has a valid header but 0 frames"
            )
        raise AudioError(
            "empty",
            f"no audio: the header promises {info.frames} frames but none are present; "
            "the file is truncated",
        )
    finite = np.isfinite(frames)
    if not finite.all():
        n_nan = int(np.isnan(frames).sum())
        n_inf = int(frames.size - finite.sum()) - n_nan
        raise AudioError(
            "non_finite",
            f"corrupt samples: {n_nan} NaN and {n_inf} infinite values among {frames.size} "
            f"samples ({info.subtype}); the file was written by a broken tool, re-export it",
        )
    samples = resample(downmix(frames), info.sample_rate, target_rate)
    if samples.size == 0:
        raise AudioError(
            "empty",
            f"no audio: {frames.shape[0]} frame(s) at {info.sample_rate} Hz is shorter than "
            f"one sample at {target_rate} Hz",
        )
    return DecodedAudio(samples=samples, sample_rate=target_rate, source=info)


def resample(samples: np.ndarray, from_rate: int, to_rate: int) -> np.ndarray:
    """Change the sample rate with soxr at quality "HQ".

    HQ (20-bit precision, ~120 dB of alias rejection) keeps resampling artefacts below the
    16-bit noise floor of both inputs and outputs, so the model never sees them; "VHQ" costs
    more CPU for precision nothing downstream can use, and "MQ"/"LQ" let audible aliasing
    through when downsampling 44.1/48 kHz material. Output length is n * to / from rounded
    to nearest with halves rounded up (soxr's rule, not Python's half-to-even ``round``).
    """
    x = np.ascontiguousarray(samples, dtype=np.float32)
    if from_rate == to_rate:
        return x
    if from_rate <= 0 or to_rate <= 0:
        raise ValueError(f"sample rates must be positive, got {from_rate} -> {to_rate}")
    return np.ascontiguousarray(
        soxr.resample(x, from_rate, to_rate, quality="HQ"), dtype=np.float32
    )


def downmix(frames: np.ndarray) -> np.ndarray:
    """Average ``[n, channels]`` to ``[n]`` (1-D input is returned as float32 unchanged).

    A plain average, no -3 dB pan-law compensation: the common multichannel speech file is
    dual-mono (the same voice on every channel), and the average reproduces it exactly,
    whereas pan-law gain would lift it by 3 dB and clip loud recordings. The price is that
    out-of-phase channels cancel, which is rare for speech and visible in ``level_dbfs``.
    """
    x = np.asarray(frames)
    if x.ndim == 1:
        return np.ascontiguousarray(x, dtype=np.float32)
    if x.ndim != 2:
        raise ValueError(f"expected [frames] or [frames, channels], got shape {x.shape}")
    if x.shape[1] == 1:
        return np.ascontiguousarray(x[:, 0], dtype=np.float32)
    return np.ascontiguousarray(x.mean(axis=1, dtype=np.float32))


# --------------------------------------------------------------------------- encoding


def encode_audio(samples: np.ndarray, sample_rate: int = SAMPLE_RATE, format: str = "wav") -> bytes:
    """Encode float samples as 16-bit PCM WAV or FLAC bytes.

    Values are clipped to [-1, 1) before quantising: enhancement output can overshoot full
    scale, and saturating is the least audible way to handle it. +1.0 is not representable in
    16-bit PCM, hence the half-open range. Quantisation (clip, scale by 32768, round to
    nearest) is done here rather than left to libsndfile's conversion defaults, so the output
    is a documented contract, identical across libsndfile builds, and inverse to how decoding
    divides by 32768: on-grid values round-trip bit-exactly. No dither: it would make output
    non-deterministic to gain nothing audible at 16 bits.
    NaN/Inf are refused rather than written as silence or clicks, because they mean a bug.
    """
    fmt = format.lower()
    if fmt not in _FORMATS:
        raise ValueError(f"format must be one of {sorted(_FORMATS)}, got {format!r}")
    _check_rate(sample_rate, "sample_rate")
    x = np.asarray(samples)
    if not np.issubdtype(x.dtype, np.floating):
        raise TypeError(f"samples must be floating point in [-1, 1), got dtype {x.dtype}")
    if x.ndim not in (1, 2):
        raise ValueError(f"expected [frames] or [frames, channels], got shape {x.shape}")
    if x.shape[0] == 0:
        raise AudioError("empty", "nothing to encode: 0 samples")
    finite = np.isfinite(x)
    if not finite.all():
        raise AudioError(
            "non_finite",
            f"cannot encode: {x.size - int(finite.sum())} of {x.size} samples are NaN or "
            "infinite; the processing that produced them is broken",
        )
    pcm = np.clip(np.rint(x.astype(np.float32) * 32768.0), -32768, 32767).astype(np.int16)
    out = io.BytesIO()
    sf.write(out, pcm, sample_rate, format=_FORMATS[fmt], subtype="PCM_16")
    return out.getvalue()
