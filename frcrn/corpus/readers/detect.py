"""Which format a manifest is in, from its name AND its content (``input.format: auto``).

The extension narrows it down; the content decides between formats sharing an extension:

* a folder holding ``wav.scp``, or a file named ``wav.scp``: ``kaldi``; any other folder: ``folder``
  (not a manifest; the job lists its audio files itself)
* ``.jsonl`` / ``.json`` / ``.ndjson`` (also ``.gz``): the first line that parses decides: it has
  ``audio_filepath``: ``nemo``; it is a lhotse recording, supervision or cut: ``lhotse``; else ``jsonl``
* ``.parquet`` / ``.pq``: a Hugging Face Audio column (see ``hf.audio_column``): ``hf``; else ``parquet``
* ``.tsv``: ``tsv`` (Common Voice or a plain TSV table, told apart by its header when read)
* ``.csv``: ``csv`` (``.csv.gz`` and ``.tsv.gz`` are read gunzipped)
"""

from __future__ import annotations

import posixpath
from typing import Any

import pyarrow.parquet as pq

from ..rows import FORMATS, ManifestFormatError
from .hf import audio_column
from .kaldi import WAV_SCP
from .lhotse import record_kind
from .nemo import looks_like_nemo
from .text import display, json_records, plain_name

__all__ = ["FOLDER", "JSON_SUFFIXES", "PARQUET_SUFFIXES", "detect_format"]

FOLDER = "folder"
JSON_SUFFIXES = (".jsonl", ".json", ".ndjson")
PARQUET_SUFFIXES = (".parquet", ".pq")


def detect_format(fs: Any, path: str) -> str:
    """The format of the manifest at ``path`` (one of ``FORMATS``), or ``"folder"`` for a folder
    that is not a Kaldi data dir; ManifestFormatError if the name says nothing we understand."""
    if fs.isdir(path):
        return "kaldi" if fs.exists(posixpath.join(path.rstrip("/"), WAV_SCP)) else FOLDER
    name = plain_name(path)
    suffix = posixpath.splitext(name)[1]
    if name == WAV_SCP:
        return "kaldi"
    if suffix in JSON_SUFFIXES:
        return _json_format(fs, path)
    if suffix in PARQUET_SUFFIXES:
        return _parquet_format(fs, path)
    if suffix in (".tsv", ".csv"):
        return suffix[1:]
    raise ManifestFormatError(
        f"cannot tell the manifest format of {display(fs, path)} from its name: understood are .csv, .tsv, "
        ".parquet/.pq (a table or a Hugging Face shard), .jsonl/.json/.ndjson, also gzipped (a JSON-lines "
        "table, NeMo or lhotse), a Kaldi data dir or its wav.scp; or set input.format to one of "
        + ", ".join(FORMATS))


def _json_format(fs: Any, path: str) -> str:
    """nemo, lhotse or jsonl, by the first line that is a JSON object."""
    source = display(fs, path)
    first = next((r.value for r in json_records(fs, path, source) if r.value is not None), None)
    if first is None:
        return "jsonl"  # nothing parses: the table reader says what is wrong
    if looks_like_nemo(first):
        return "nemo"
    return "lhotse" if record_kind(first) else "jsonl"


def _parquet_format(fs: Any, path: str) -> str:
    """hf when the schema has an Audio column, else parquet (read from the footer only)."""
    try:
        with fs.open(path, "rb") as f:
            schema = pq.ParquetFile(f).schema_arrow
    except Exception as err:  # any parser error means the same to the user
        raise ManifestFormatError(f"cannot read manifest {display(fs, path)} as parquet: {err}") from None
    return "hf" if audio_column(schema) else "parquet"
