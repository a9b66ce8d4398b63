"""Which format a manifest is in, from its name AND its content (``input.format: auto``).

The extension narrows it down; the content decides between formats sharing an extension:

* a folder: ``folder`` (not a manifest; the job lists its audio files itself)
* ``.jsonl`` / ``.json`` / ``.ndjson`` (also ``.gz``): ``jsonl``
* ``.parquet`` / ``.pq``: ``parquet``
* ``.tsv``: ``tsv`` (Common Voice or a plain TSV table, told apart by its header when read)
* ``.csv``: ``csv`` (``.csv.gz`` and ``.tsv.gz`` are read gunzipped)
"""

from __future__ import annotations

import posixpath
from typing import Any

from ..rows import FORMATS, ManifestFormatError
from .text import display, plain_name

__all__ = ["FOLDER", "JSON_SUFFIXES", "PARQUET_SUFFIXES", "detect_format"]

FOLDER = "folder"
JSON_SUFFIXES = (".jsonl", ".json", ".ndjson")
PARQUET_SUFFIXES = (".parquet", ".pq")


def detect_format(fs: Any, path: str) -> str:
    """The format of the manifest at ``path`` (one of ``FORMATS``), or ``"folder"`` for a folder;
    ManifestFormatError if the name says nothing we understand."""
    if fs.isdir(path):
        return FOLDER
    name = plain_name(path)
    suffix = posixpath.splitext(name)[1]
    if suffix in JSON_SUFFIXES:
        return "jsonl"
    if suffix in PARQUET_SUFFIXES:
        return "parquet"
    if suffix in (".tsv", ".csv"):
        return suffix[1:]
    raise ManifestFormatError(
        f"cannot tell the manifest format of {display(fs, path)} from its name: understood are .csv, .tsv, "
        ".parquet/.pq, .jsonl/.json/.ndjson, also gzipped; or set input.format to one of "
        + ", ".join(FORMATS))

