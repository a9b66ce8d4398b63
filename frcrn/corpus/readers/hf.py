"""Hugging Face datasets as Parquet shards whose Audio column holds the audio itself.

``datasets`` stores an ``Audio`` feature as ``struct<bytes: binary, path: string>`` and names it
in the schema metadata (key ``huggingface``: ``{"info": {"features": {"audio": {"_type":
"Audio"}}}}``). The audio column is the one that metadata calls Audio, else a struct with exactly
those two fields; of several, the one named ``audio``, else the first.

Rows, one per Parquet row (``__line`` = row index + 1):

* bytes present: the audio is embedded. ``__entry`` is the shard's own file name (``__base`` its
  folder) and ``__member`` ``row=<i>`` (0-based row index), which :func:`read_embedded` reads
  back; ``__name`` is the basename of the struct's ``path`` when that is a plain file name, else
  ``<i:08d>.wav``, so each output has a name.
* no bytes but a path: the audio is a file; ``__entry`` is that path (relative to the shard).
* neither: a ``malformed_line`` row.

Every non-audio column is carried, plus ``audio_path`` (the struct's path). Memory: the driver
never holds more than one row group's audio; shards are read one row group at a time and only
the null masks and path strings are kept.
"""

from __future__ import annotations

import bisect
import json
import posixpath
import re
from collections.abc import Sequence
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from ..rows import MALFORMED_LINE, ManifestFormatError, ManifestRead, contract_frame, rows_frame
from .text import display, folder

__all__ = ["audio_column", "read_embedded", "read_hf"]

_AUDIO_FIELDS = {"bytes", "path"}
_UNSAFE_NAME = re.compile(r"[\x00-\x1f\x7f\\]|\.\.")


def audio_column(schema: pa.Schema) -> str | None:
    """The Audio column of a shard's schema (see the module doc), or None if it has none."""
    structs = [f.name for f in schema if _is_audio_struct(f.type)]
    declared = [n for n, feature in _hf_features(schema).items()
                if isinstance(feature, dict) and feature.get("_type") == "Audio" and n in structs]
    candidates = declared or structs
    if not candidates:
        return None
    return "audio" if "audio" in candidates else candidates[0]


def _is_audio_struct(kind: pa.DataType) -> bool:
    return pa.types.is_struct(kind) and {kind.field(i).name for i in range(kind.num_fields)} == _AUDIO_FIELDS


def _hf_features(schema: pa.Schema) -> dict[str, Any]:
    """The ``features`` of the ``huggingface`` schema metadata; {} if absent or unreadable."""
    raw = (schema.metadata or {}).get(b"huggingface")
    try:
        features = json.loads(raw)["info"]["features"] if raw else {}
    except (ValueError, KeyError, TypeError):
        return {}
    return features if isinstance(features, dict) else {}


def read_hf(fs: Any, path: str) -> ManifestRead:
    """One row per row of the Parquet shard at ``path`` (see the module doc)."""
    source = display(fs, path)
    with fs.open(path, "rb") as f:
        shard = _open_shard(f, source)
        column = audio_column(shard.schema_arrow)
        if column is None:
            raise ManifestFormatError(f"{source}: declared hf, but it has no Audio column (struct<bytes, path>); "
                                      f"columns: {', '.join(shard.schema_arrow.names)}")
        others = [n for n in shard.schema_arrow.names if n == column or not _is_audio_struct(
            shard.schema_arrow.field(n).type)]
        frames, start = [], 0
        for group in range(shard.num_row_groups):
            table = shard.read_row_group(group, columns=others)
            frames.append(_group_rows(table, column, start, path, source))
            start += table.num_rows
    rows = pd.concat(frames, ignore_index=True) if frames else rows_frame([])
    return ManifestRead("hf", rows, source, f"Hugging Face Parquet shard, audio column {column!r}")


def _open_shard(f: Any, source: str) -> pq.ParquetFile:
    try:
        return pq.ParquetFile(f)
    except Exception as err:  # any parser error means the same to the user
        raise ManifestFormatError(f"cannot read manifest {source} as parquet: {err}") from None


def _group_rows(table: pa.Table, column: str, start: int, path: str, source: str) -> pd.DataFrame:
    """The contract rows of one row group; its audio bytes are dropped once their mask is known."""
    audio = table.column(column)
    has_bytes = pc.fill_null(pc.greater(pc.binary_length(pc.struct_field(audio, "bytes")), 0), False).to_pylist()
    paths = pc.struct_field(audio, "path").to_pylist()
    carried = table.drop_columns([column]).to_pandas()
    del audio, table
    carried["audio_path"] = paths
    shard_name = posixpath.basename(path)
    entries, members, names, kinds, errors = [], [], [], [], []
    for i, (embedded, audio_path) in enumerate(zip(has_bytes, paths), start):
        if embedded:
            fields = (shard_name, f"row={i}", _output_name(audio_path, i), "", "")
        elif audio_path:
            fields = (audio_path, "", "", "", "")
        else:
            fields = (None, "", "", MALFORMED_LINE, f"row {i} of {source}: audio has neither bytes nor path")
        for values, value in zip((entries, members, names, kinds, errors), fields):
            values.append(value)
    return contract_frame(carried, entry=entries, base=folder(path), line=range(start + 1, start + 1 + len(paths)),
                          member=members, name=names, error_type=kinds, error=errors)


def _output_name(audio_path: str | None, index: int) -> str:
    """The basename of the struct's path when it is a plain file name, else ``<index>.wav``."""
    name = posixpath.basename(audio_path or "")
    if not name or name in (".", "..") or _UNSAFE_NAME.search(name):
        return f"{index:08d}.wav"
    return name


def read_embedded(fs: Any, shard_path: str, rows: Sequence[int]) -> list[bytes | Exception]:
    """The embedded audio bytes of ``rows`` (0-based row indexes) of a shard, in the order asked.

    Reads only the row groups holding those rows, and only their audio column. A row out of
    range, or without bytes, gets a ValueError in its place (the others are still returned)."""
    source = display(fs, shard_path)
    out: list[bytes | Exception] = [ValueError(f"{source}: not read")] * len(rows)
    with fs.open(shard_path, "rb") as f:
        shard = _open_shard(f, source)
        column = audio_column(shard.schema_arrow)
        if column is None:
            return [ValueError(f"{source} has no Audio column (struct<bytes, path>)")] * len(rows)
        starts = _group_starts(shard)
        total = starts[-1]
        wanted: dict[int, list[tuple[int, int]]] = {}
        for position, index in enumerate(int(r) for r in rows):
            if not 0 <= index < total:
                out[position] = ValueError(f"row {index} of {source} is out of range (it has {total} rows)")
                continue
            group = bisect.bisect_right(starts, index) - 1
            wanted.setdefault(group, []).append((position, index))
        for group in sorted(wanted):
            data = pc.struct_field(shard.read_row_group(group, columns=[column]).column(column), "bytes")
            for position, index in wanted[group]:
                value = data[index - starts[group]].as_py()
                out[position] = value if value else ValueError(f"row {index} of {source} has no embedded "
                                                               "audio bytes")
    return out


def _group_starts(shard: pq.ParquetFile) -> list[int]:
    """The first row index of each row group, then the total row count."""
    starts = [0]
    for group in range(shard.num_row_groups):
        starts.append(starts[-1] + shard.metadata.row_group(group).num_rows)
    return starts
