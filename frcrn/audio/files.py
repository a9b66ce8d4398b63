"""Audio files, local or on any fsspec filesystem: which files a spec names, and reading them.

:func:`find_audio` turns a spec (a glob, a folder, a list file or one file) into the files it
names with their paths below the spec's root: the one lister of the project (training data,
evaluation sets, ``frcrn enhance``, the bulk job's folder inputs); :func:`audio_files` and
:func:`list_audio_files` give just the locations, for one spec or several. :func:`load_clips`
reads many such files into memory as mono float32. :func:`read_audio` and :func:`write_audio`
read and write one file or URL through the codec (:mod:`frcrn.audio.codec`), with its checks
and its errors.
"""

from __future__ import annotations

import glob
import os
import posixpath
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, NamedTuple

import fsspec
import numpy as np

from ..formats import AUDIO_SUFFIXES, content_type
from ..storage import atomic_write, is_url
from .codec import _FORMATS, SAMPLE_RATE, AudioError, DecodedAudio, decode_audio, encode_audio

__all__ = [
    "AUDIO_SUFFIXES",
    "AudioFile",
    "audio_files",
    "find_audio",
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

    Encoding happens first, so a bad signal never leaves a file behind. The write is
    :func:`frcrn.storage.atomic_write`: a local file appears whole or not at all (parent
    folders created, the umask's mode), an object carries its format's Content-Type.
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
    atomic_write(url, data, content_type("." + format), storage_options=storage_options)


# --------------------------------------------------------------------------- which files a spec names


class AudioFile(NamedTuple):
    """One file a spec names: its location and its path below the spec's fixed root."""

    uri: str
    """Local path (as the spec spelled it) or fsspec URL."""
    relative: str
    """Path below the folder, the fixed part of the glob or the list file's folder ("/"-separated;
    a list entry as written); an output mirrors it."""


def _has_glob(path: str) -> bool:
    return any(ch in path for ch in "*?[")


def _glob_root(spec: str) -> str:
    """The fixed part of a glob: its segments before the first one with a wildcard."""
    fixed = []
    for part in spec.replace("\\", "/").split("/"):
        if _has_glob(part):
            break
        fixed.append(part)
    return "/".join(fixed)


def _list_entries(lines: Iterator[str], base: str, join: Any) -> list[AudioFile]:
    entries = (line.split("#", 1)[0].strip() for line in lines)
    return [AudioFile(e if is_url(e) or os.path.isabs(e) else join(base, e), e) for e in entries if e]


def _wanted(path: str, suffixes: tuple[str, ...], exclude: str | None) -> bool:
    name = path.rstrip("/").rsplit("/", 1)[-1]
    if name.startswith(".") or not name.lower().endswith(suffixes):
        return False
    return not (exclude and (path == exclude or path.startswith(exclude.rstrip("/") + "/")))


def _local_audio(spec: str, suffixes: tuple[str, ...], exclude: str | None) -> list[AudioFile]:
    excluded = os.path.abspath(exclude) if exclude else None

    def keep(p: str) -> bool:
        return os.path.isfile(p) and _wanted(os.path.abspath(p).replace(os.sep, "/"), suffixes,
                                             excluded and excluded.replace(os.sep, "/"))

    if _has_glob(spec):
        root = _glob_root(spec) or "."
        return [AudioFile(p, os.path.relpath(p, root).replace(os.sep, "/"))
                for p in sorted(glob.glob(spec, recursive=True)) if keep(p)]
    if os.path.isdir(spec):
        return [AudioFile(p, os.path.relpath(p, spec).replace(os.sep, "/"))
                for p in sorted(glob.glob(os.path.join(spec, "**", "*"), recursive=True)) if keep(p)]
    if os.path.isfile(spec) and not spec.lower().endswith(suffixes):
        with open(spec, encoding="utf-8") as fh:
            return _list_entries(fh, os.path.dirname(spec), os.path.join)
    return [AudioFile(spec, os.path.basename(spec))] if os.path.isfile(spec) else []


def _fsspec_audio(spec: str, fs: Any, path: str, suffixes: tuple[str, ...], exclude: str | None) -> list[AudioFile]:
    url = is_url(spec)
    excluded = fs._strip_protocol(exclude) if exclude else None

    def named(p: str) -> str:
        return fs.unstrip_protocol(p) if url else p

    if _has_glob(path):
        root = _glob_root(path)
        return [AudioFile(named(p), posixpath.relpath(p, root or "/")) for p in sorted(fs.glob(path))
                if _wanted(p, suffixes, excluded) and not fs.isdir(p)]
    if fs.isdir(path):
        root = path.rstrip("/")
        return [AudioFile(named(p), posixpath.relpath(p, root)) for p in sorted(fs.find(root))
                if _wanted(p, suffixes, excluded)]
    if fs.isfile(path) and not path.lower().endswith(suffixes):
        with fs.open(path, "rt", encoding="utf-8") as fh:
            return _list_entries(fh, posixpath.dirname(spec), posixpath.join)
    return [AudioFile(spec, posixpath.basename(path))] if fs.isfile(path) else []


def find_audio(
    spec: str,
    storage_options: Mapping[str, Any] | None = None,
    *,
    suffixes: Sequence[str] = AUDIO_SUFFIXES,
    exclude: str | None = None,
    fs: Any = None,
) -> list[AudioFile]:
    """The audio files a spec names, local or on any fsspec filesystem: THE lister of the project
    (training data, evaluation sets, ``frcrn enhance`` and the bulk job's folder inputs).

    ``spec`` is one of: a glob (``**`` allowed: ``s3://bucket/speech/**/*.flac``); a folder (every
    audio file below it); a list file (any non-audio file: one path or URL per line, relative
    entries resolve against the list's folder, ``#`` starts a comment); or one audio file. Globs
    and folders take the files whose suffix is in ``suffixes`` (case-insensitive) and skip hidden
    names (``.x.wav``, including unfinished ``.partial`` writes) and everything below ``exclude``
    (e.g. an output folder inside the input folder). URLs come back as URLs, local paths as
    spelled; sorted for globs and folders, in listed order for list files. ``fs``: a filesystem
    to use for a URL spec instead of making one from ``storage_options``.
    Raises FileNotFoundError when nothing matches.
    """
    wanted = tuple(s.lower() for s in suffixes)
    if not is_url(spec) and fs is None:
        files = _local_audio(spec, wanted, exclude)
    else:
        if fs is None:
            fs, path = fsspec.core.url_to_fs(spec, **dict(storage_options or {}))
        else:
            path = fs._strip_protocol(spec)
        files = _fsspec_audio(spec, fs, path, wanted, exclude)
    if not files:
        raise FileNotFoundError(f"no audio files match {spec!r} (audio: {', '.join(wanted)})")
    return files


def audio_files(spec: str, storage_options: Mapping[str, Any] | None = None) -> list[str]:
    """The locations of :func:`find_audio` (what training needs)."""
    return [f.uri for f in find_audio(spec, storage_options)]


def list_audio_files(specs: str | Sequence[str], storage_options: Mapping[str, Any] | None = None) -> list[str]:
    """:func:`audio_files` of one spec or of several, concatenated."""
    return [f for spec in ([specs] if isinstance(specs, str) else specs) for f in audio_files(spec, storage_options)]


def load_clips(
    paths: Sequence[str], sample_rate: int = SAMPLE_RATE, storage_options: Mapping[str, Any] | None = None
) -> list[np.ndarray]:
    """Read audio files or URLs as mono float32 at ``sample_rate`` through :func:`read_audio` (the
    codec's checks: a NaN-filled, empty or absurd-rate file is an AudioError naming it). Everything
    is held in memory (about 230 MB per hour of audio)."""
    options = dict(storage_options or {}) or None
    return [read_audio(os.fspath(p), storage_options=options, target_rate=sample_rate).samples for p in paths]
