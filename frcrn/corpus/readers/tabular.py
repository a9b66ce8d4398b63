"""Plain tables: CSV, Parquet and JSON lines, the entry in one named column (``input.column``).

What the job has always read: every other column is carried under its own name, with the types
pandas gives it; an empty entry cell is an entry of None (the job reports it as an empty URI);
relative entries resolve against the manifest's folder. New here: a CSV row with more fields than
the header, or a JSON line that does not parse, is one ``malformed_line`` row and the rest of the
table is still read.

``__line`` numbering: Parquet, the row index + 1; JSON lines, the file's line number (a JSON
array file: the element's position); CSV, the data record's number + 1 for the header line, which
is the file's line number unless blank lines or quoted line breaks come before it.
"""

from __future__ import annotations

import csv
import difflib
import io
from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd

from ..rows import (
    LINE,
    MALFORMED_LINE,
    ManifestFormatError,
    ManifestRead,
    contract_frame,
    error_row,
    finish,
    row,
    rows_frame,
)
from .text import JsonRecord, display, folder, json_records, open_binary

__all__ = ["read_table", "require_column"]

_LABELS = {"csv": "CSV table", "parquet": "Parquet table", "jsonl": "JSON-lines table"}


def read_table(fs: Any, path: str, fmt: str, column: str) -> ManifestRead:
    """Read a CSV, Parquet or JSON-lines manifest (``fmt``) whose entries are in ``column``."""
    source = display(fs, path)
    readers = {"csv": _read_csv, "parquet": _read_parquet, "jsonl": _read_jsonl}
    rows = readers[fmt](fs, path, column, source)
    return ManifestRead(fmt, rows, source, f"{_LABELS[fmt]}, entries in {column!r}")


def require_column(columns: Iterable[Any], column: str, source: str) -> None:
    """ManifestFormatError naming the columns present (and the likely one) if ``column`` is absent."""
    names = [str(c) for c in columns]
    if column in names:
        return
    close = difflib.get_close_matches(column, names, n=1)
    hint = f"; did you mean {close[0]!r} (set input.column)?" if close else ""
    raise ManifestFormatError(f"manifest {source} has no column {column!r}{hint} "
                              f"(columns: {', '.join(names) or 'none'})")


def _table_rows(df: pd.DataFrame, column: str, base: str, lines: Any) -> pd.DataFrame:
    """The contract table of a parsed table: ``column`` becomes ``__entry``, the rest is carried."""
    return contract_frame(df.drop(columns=[column]), entry=df[column], base=base, line=lines)


def _read_parquet(fs: Any, path: str, column: str, source: str) -> pd.DataFrame:
    try:
        with fs.open(path, "rb") as f:
            df = pd.read_parquet(f)
    except Exception as err:  # any parser error means the same to the user
        raise ManifestFormatError(f"cannot read manifest {source} as parquet: {err}") from None
    require_column(df.columns, column, source)
    return _table_rows(df, column, folder(path), np.arange(1, len(df) + 1))


def _read_csv(fs: Any, path: str, column: str, source: str) -> pd.DataFrame:
    with open_binary(fs, path) as f:
        data = f.read()
    try:
        df = pd.read_csv(io.BytesIO(data), dtype={column: "object"})
    except pd.errors.ParserError as err:
        return _read_csv_with_bad_records(data, column, source, folder(path), err)
    except (ValueError, UnicodeDecodeError) as err:  # empty file, not UTF-8, ...
        raise ManifestFormatError(f"cannot read manifest {source} as csv: {err}") from None
    require_column(df.columns, column, source)
    return _table_rows(df, column, folder(path), np.arange(2, len(df) + 2))


def _read_csv_with_bad_records(data: bytes, column: str, source: str, base: str,
                               first_error: Exception) -> pd.DataFrame:
    """pandas refuses a CSV with a record longer than the header: split such records out with the
    csv module, let pandas type the good ones exactly as it would have, and put each bad one back
    in its place as a ``malformed_line`` row."""
    try:
        records = [r for r in csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")) if r]
    except (csv.Error, UnicodeDecodeError):
        raise ManifestFormatError(f"cannot read manifest {source} as csv: {first_error}") from None
    header, body = records[0], records[1:]
    require_column(header, column, source)
    good = [(n, r) for n, r in enumerate(body, 2) if len(r) <= len(header)]
    buffer = io.StringIO()
    csv.writer(buffer).writerows([header] + [r for _, r in good])
    df = pd.read_csv(io.StringIO(buffer.getvalue()), dtype={column: "object"})
    table = _table_rows(df, column, base, [n for n, _ in good])
    bad = rows_frame(error_row(base, n, MALFORMED_LINE, f"line {n} of {source}: {len(r)} fields, the header has "
                                                         f"{len(header)}")
                     for n, r in enumerate(body, 2) if len(r) > len(header))
    merged = pd.concat([table, bad], ignore_index=True).sort_values(LINE, kind="stable")
    return finish(merged)


def _read_jsonl(fs: Any, path: str, column: str, source: str) -> pd.DataFrame:
    records = list(json_records(fs, path, source))
    parsed = [r for r in records if r.value is not None]
    if not records:
        raise ManifestFormatError(f"cannot read manifest {source} as jsonl: it has no lines")
    if not parsed:
        first = records[0]
        raise ManifestFormatError(f"cannot read manifest {source} as jsonl: none of its {len(records)} lines is a "
                                  f"JSON object ({first.error})")
    require_column(dict.fromkeys(k for r in parsed for k in r.value), column, source)
    base = folder(path)
    return rows_frame(_json_row(r, column, base) for r in records)


def _json_row(record: JsonRecord, column: str, base: str) -> dict[str, Any]:
    if record.value is None:
        return error_row(base, record.number, MALFORMED_LINE, record.error)
    carried = {k: v for k, v in record.value.items() if k != column}
    return row(entry=record.value.get(column), base=base, line=record.number, carried=carried)
