"""Audio files, local or on any fsspec filesystem: which files a spec names, and reading them.

:func:`audio_files` turns a speech, noise or impulse-response spec (a glob, a folder, a list file
or one file) into the files it names, :func:`list_audio_files` does it for one spec or several:
the one place training data and evaluation's synthetic set find their audio. :func:`load_clips`
reads many such files into memory as mono float32. :func:`read_audio` and :func:`write_audio`
read and write one file or URL through the codec (:mod:`frcrn.audio.codec`), with its checks
and its errors.
"""

from __future__ import annotations

import glob
import io
import os
import posixpath
import tempfile
from typing import Any, Iterator, Mapping, Sequence

import fsspec
import numpy as np
import soundfile as sf
import soxr
from fsspec.implementations.local import LocalFileSystem

from .codec import _FORMATS, SAMPLE_RATE, AudioError, DecodedAudio, decode_audio, encode_audio

__all__ = [
    "AUDIO_SUFFIXES",
    "audio_files",
    "list_audio_files",
    "load_clips",
    "read_audio",
    "write_audio",
]


# --------------------------------------------------------------------------- one file / URL


def read_audio(
    url: str,
    *,
    storage_options: dict[str, Any] | None = None,
    target_rate: int = SAMPLE_RATE,
    max_seconds: float | None = None,
    max_bytes: int | None = None,
) -> DecodedAudio:
    """Read and decode a local path or fsspec URL (``s3://``, ``memory://``, ...).

    ``max_bytes`` protects workers from a mislabelled multi-GB file: the size the filesystem
    reports is checked before reading, and the read itself is capped in case it reports none.
    AudioError messages are prefixed with the URL so reports name the file.
    """
    try:
        with fsspec.open(url, "rb", **(storage_options or {})) as f:
            if max_bytes is not None:
                size = getattr(f, "size", None)
                if isinstance(size, int) and size > max_bytes:
                    raise _too_large(size, max_bytes)
                data = f.read(max_bytes + 1)
                if len(data) > max_bytes:
                    raise _too_large(None, max_bytes)
            else:
                data = f.read()
        return decode_audio(data, target_rate=target_rate, max_seconds=max_seconds)
    except AudioError as err:
        raise AudioError(err.kind, f"{url}: {err.message}") from None


def _too_large(size: int | None, max_bytes: int) -> AudioError:
    found = f"{size} bytes, " if size is not None else ""
    return AudioError(
        "too_large",
        f"too large: {found}over the max_bytes limit of {max_bytes} bytes; "
        "raise max_bytes if the file is genuine",
    )


def write_audio(
    url: str,
    samples: np.ndarray,
    sample_rate: int = SAMPLE_RATE,
    *,
    format: str | None = None,
    storage_options: dict[str, Any] | None = None,
) -> None:
    """Encode and write to a local path or fsspec URL; format from the extension by default.

    Encoding happens first, so a bad signal never leaves a file behind. Local writes go to a
    temporary file that is renamed into place, so an interrupted job never leaves a truncated
    output that a resumed run would mistake for a finished one; parent directories are
    created. Object stores need neither: an upload only becomes visible once complete, and
    they have no directories (creating one on S3 can even create a bucket).
    """
    if format is None:
        name = url.rstrip("/").rsplit("/", 1)[-1]
        ext = name.rsplit(".", 1)[-1].lower() if "." in name else ""
        if ext not in _FORMATS:
            raise ValueError(
                f"cannot tell the format of {url!r} from its extension; use .wav or .flac "
                "or pass format="
            )
        format = ext
    data = encode_audio(samples, sample_rate, format)
    fs, path = fsspec.core.url_to_fs(url, **(storage_options or {}))
    if isinstance(fs, LocalFileSystem):
        _write_local_atomic(path, data)
    else:
        with fs.open(path, "wb") as f:
            f.write(data)


def _write_local_atomic(path: str, data: bytes) -> None:
    directory = os.path.dirname(path) or "."
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".", suffix=".partial")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


# --------------------------------------------------------------------------- which files a spec names


AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".oga", ".mp3", ".aif", ".aiff")


def _has_glob(path: str) -> bool:
    return any(ch in path for ch in "*?[")


def _list_entries(lines: Iterator[str], base: str, join: Any) -> list[str]:
    entries = (line.split("#", 1)[0].strip() for line in lines)
    return [e if "://" in e or os.path.isabs(e) else join(base, e) for e in entries if e]


def _local_audio_files(spec: str) -> list[str]:
    if _has_glob(spec):
        return sorted(p for p in glob.glob(spec, recursive=True) if not os.path.isdir(p))
    if os.path.isdir(spec):
        return sorted(p for p in glob.glob(os.path.join(spec, "**", "*"), recursive=True)
                      if p.lower().endswith(AUDIO_SUFFIXES) and os.path.isfile(p))
    if os.path.isfile(spec) and not spec.lower().endswith(AUDIO_SUFFIXES):
        with open(spec, encoding="utf-8") as fh:
            return _list_entries(fh, os.path.dirname(spec), os.path.join)
    return [spec] if os.path.isfile(spec) else []


def audio_files(spec: str, storage_options: Mapping[str, Any] | None = None) -> list[str]:
    """The audio files a speech or noise spec names, local or on any fsspec filesystem.

    ``spec`` is one of: a glob (``**`` allowed: ``s3://bucket/speech/**/*.flac``); a folder (every
    audio file below it); a list file (any non-audio file: one path or URL per line, relative
    entries resolve against the list's folder, ``#`` starts a comment); or one audio file.
    URLs come back as URLs, local paths as paths, sorted for globs and folders, in listed order
    for list files. Raises FileNotFoundError when nothing matches.
    """
    if "://" not in spec:
        files = _local_audio_files(spec)
    else:
        fs, path = fsspec.core.url_to_fs(spec, **dict(storage_options or {}))
        if _has_glob(path):
            files = sorted(fs.unstrip_protocol(p) for p in fs.glob(path) if not fs.isdir(p))
        elif fs.isdir(path):
            files = sorted(fs.unstrip_protocol(p) for p in fs.find(path) if p.lower().endswith(AUDIO_SUFFIXES))
        elif fs.isfile(path) and not path.lower().endswith(AUDIO_SUFFIXES):
            with fs.open(path, "rt", encoding="utf-8") as fh:
                files = _list_entries(fh, posixpath.dirname(spec), posixpath.join)
        else:
            files = [spec] if fs.isfile(path) else []
    if not files:
        raise FileNotFoundError(f"no audio files match {spec!r}")
    return files


def list_audio_files(specs: str | Sequence[str], storage_options: Mapping[str, Any] | None = None) -> list[str]:
    """:func:`audio_files` of one spec or of several, concatenated."""
    return [f for spec in ([specs] if isinstance(specs, str) else specs) for f in audio_files(spec, storage_options)]


def load_clips(
    paths: Sequence[str], sample_rate: int = 16000, storage_options: Mapping[str, Any] | None = None
) -> list[np.ndarray]:
    """Read audio files or URLs as mono float32 at ``sample_rate`` (channels averaged, soxr
    resampling). Everything is held in memory (about 230 MB per hour of audio)."""
    out = []
    for p in paths:
        with fsspec.open(os.fspath(p), "rb", **dict(storage_options or {})) as fh:
            audio, sr = sf.read(io.BytesIO(fh.read()), dtype="float32", always_2d=True)
        mono = audio.mean(axis=1)
        if sr != sample_rate:
            mono = soxr.resample(mono, sr, sample_rate, quality="HQ")
        out.append(np.ascontiguousarray(mono, dtype=np.float32))
    return out
