"""Tab-separated manifests: Common Voice's TSVs (``train.tsv``, ``validated.tsv``, ...) and plain TSV tables.

Common Voice writes one record per line, fields split by tabs with no quoting at all (a sentence
may contain ``"``), so a line is split on tabs and nothing else (``csv.QUOTE_NONE``), every field
is text, and an empty field stays "" (``dtype=str, keep_default_na=False`` in pandas terms). A
line with a different number of fields than the header is a ``malformed_line`` row.

A Common Voice TSV has a ``path`` column (the clip's file name) and ``sentence`` or ``client_id``;
its entries are ``path`` and resolve against ``<tsv folder>/clips`` when that folder exists (how
Common Voice releases are laid out), else against the TSV's own folder. Any other TSV (or one
that has the entry column ``input.column`` itself) is a plain table: entries in that column,
resolved against the TSV's folder. Every other column is carried as text.
"""

from __future__ import annotations

import posixpath
from typing import Any

from ..rows import MALFORMED_LINE, ManifestFormatError, ManifestRead, error_row, row, rows_frame
from .tabular import require_column
from .text import TextLine, display, folder, text_lines

__all__ = ["CV_MARKERS", "is_common_voice", "read_tsv"]

CV_MARKERS = ("sentence", "client_id")
"""Columns only a Common Voice TSV has besides ``path``."""


def is_common_voice(header: list[str], column: str = "audio_uri") -> bool:
    """A Common Voice header: ``path`` plus a Common Voice column, and not the entry column itself."""
    return "path" in header and any(m in header for m in CV_MARKERS) and (column == "path" or column not in header)


def read_tsv(fs: Any, path: str, column: str) -> ManifestRead:
    """One row per non-blank data line of the TSV at ``path`` (Common Voice or plain, see the module doc)."""
    source = display(fs, path)
    lines = (line for line in text_lines(fs, path, source) if line.text is None or line.text.strip())
    first = next(lines, None)
    if first is None or first.text is None:
        raise ManifestFormatError(f"cannot read manifest {source} as tsv: "
                                  f"{'it is empty' if first is None else first.error}")
    header = first.text.split("\t")
    common_voice = is_common_voice(header, column)
    entry_column = "path" if common_voice else column
    require_column(header, entry_column, source)
    base = folder(path)
    if common_voice and fs.isdir(posixpath.join(base, "clips")):
        base = posixpath.join(base, "clips")
    rows = rows_frame(_tsv_row(line, header, entry_column, base, source) for line in lines)
    note = f"Common Voice TSV, clips in {display(fs, base)}" if common_voice else f"TSV table, entries in {column!r}"
    return ManifestRead("tsv", rows, source, note)


def _tsv_row(line: TextLine, header: list[str], column: str, base: str, source: str) -> dict[str, Any]:
    if line.text is None:
        return error_row(base, line.number, MALFORMED_LINE, line.error)
    fields = line.text.split("\t")
    if len(fields) != len(header):
        return error_row(base, line.number, MALFORMED_LINE, f"line {line.number} of {source}: {len(fields)} "
                         f"tab-separated fields, the header has {len(header)}")
    values = dict(zip(header, fields))
    entry = values.pop(column)
    return row(entry=entry or None, base=base, line=line.number, carried=values)
