"""File formats by name, with no heavy imports (the command line and the job's config use it).

``AUDIO_SUFFIXES``: the one list of audio file suffixes every lister takes (training data,
evaluation sets, ``frcrn enhance``, the bulk job's ``input.extensions`` default).
``content_type``: the Content-Type an object store records for a written file, by its suffix.
"""

from __future__ import annotations

import posixpath

__all__ = ["AUDIO_SUFFIXES", "CONTENT_TYPES", "content_type"]

AUDIO_SUFFIXES: tuple[str, ...] = (".wav", ".flac", ".ogg", ".oga", ".mp3", ".aif", ".aiff")
"""Suffixes (lower case; matched case-insensitively) of the audio files a folder or glob names."""

CONTENT_TYPES: dict[str, str] = {
    ".wav": "audio/wav",
    ".flac": "audio/flac",
    ".parquet": "application/vnd.apache.parquet",
    ".json": "application/json",
    ".jsonl": "application/x-ndjson",
    ".safetensors": "application/octet-stream",
    ".pt": "application/octet-stream",
}


def content_type(path: str) -> str:
    """The Content-Type of a file written under ``path`` (or of a bare suffix, ``".flac"``), from its
    suffix; octet-stream if unknown."""
    name = posixpath.basename(path.rstrip("/"))
    suffix = "." + name.rsplit(".", 1)[1].lower() if "." in name else ""
    return CONTENT_TYPES.get(suffix, "application/octet-stream")
