"""Corpus manifest readers: any supported format in, the manifest-rows table out.

:func:`read_manifest` is the one entry point; it detects the format (see ``detect``) unless one
is declared, and hands the file to the reader of that format, one module each. Readers only read:
entries stay as written (``__entry`` relative to ``__base``); resolving them, checking they are
safe and reading the audio are the job's. :func:`read_embedded` (``hf``) is for the job's read
stage: the audio bytes embedded in a Hugging Face shard.
"""

from __future__ import annotations

from typing import Any

from ..rows import FORMATS, ManifestFormatError, ManifestRead
from .commonvoice import read_tsv
from .detect import FOLDER, detect_format
from .hf import read_embedded, read_hf
from .kaldi import read_kaldi
from .lhotse import read_lhotse
from .nemo import read_nemo
from .tabular import read_table
from .text import display

__all__ = ["FORMATS", "ManifestFormatError", "ManifestRead", "detect_format", "read_embedded", "read_manifest"]


def read_manifest(fs: Any, path: str, *, fmt: str = "auto", column: str = "audio_uri") -> ManifestRead:
    """Read the manifest at ``path`` on the fsspec filesystem ``fs`` (a file, or a Kaldi data dir).

    ``fmt`` is ``auto`` or one of ``FORMATS``; a declared format skips detection, but a manifest
    that does not look like it at all is a ManifestFormatError saying what was found. ``column``
    names the entry column of the plain tables (csv, parquet, jsonl, and a TSV that is not Common
    Voice's); the other formats name their audio themselves. Raises ManifestFormatError when the
    manifest as a whole is missing or unusable; a bad line is an error row instead."""
    source = display(fs, path)
    fs.invalidate_cache()  # object-store listings are cached: this manifest may have changed since
    if fmt != "auto" and fmt not in FORMATS:
        raise ManifestFormatError(f"unknown manifest format {fmt!r} for {source}; use auto or one of "
                                  f"{', '.join(FORMATS)}")
    if not fs.exists(path):
        raise ManifestFormatError(f"manifest not found: {source}")
    found = detect_format(fs, path) if fmt == "auto" else fmt
    if found == FOLDER:
        raise ManifestFormatError(f"{source} is a folder without wav.scp, not a manifest (a Kaldi data dir "
                                  "has one); the job lists a folder's audio files itself")
    if found != "kaldi" and fs.isdir(path):
        raise ManifestFormatError(f"{source} is a folder; declared {found}, which is a file")
    return _read(fs, path, found, column)


def _read(fs: Any, path: str, fmt: str, column: str) -> ManifestRead:
    if fmt in ("csv", "parquet", "jsonl"):
        return read_table(fs, path, fmt, column)
    if fmt == "tsv":
        return read_tsv(fs, path, column)
    readers = {"nemo": read_nemo, "lhotse": read_lhotse, "kaldi": read_kaldi, "hf": read_hf}
    return readers[fmt](fs, path)
