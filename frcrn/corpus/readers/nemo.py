"""NeMo manifests: JSON lines with ``audio_filepath`` (the entry), ``duration`` and, for segments,
``offset``; every other key (``text``, ``lang``, ...) is carried under its own name.

Segments: NeMo writes ``duration`` on every line, for whole files too, so ``duration`` alone does
not make a segment. A line WITHOUT ``offset`` (or with ``offset: null``) is the whole file
(``__offset`` and ``__duration`` NaN); a line WITH ``offset`` is the segment from ``offset`` for
``duration`` seconds (to the end of the file if it has no ``duration``). ``offset`` and
``duration`` are still carried as given, so a writer can reproduce the line.

A line that is not a JSON object, has no ``audio_filepath`` text, or has an ``offset`` or
``duration`` that is not a number >= 0 is a ``malformed_line`` row.
"""

from __future__ import annotations

import math
from typing import Any

from ..rows import MALFORMED_LINE, ManifestFormatError, ManifestRead, error_row, row, rows_frame
from .text import JsonRecord, display, folder, json_records, keys_found, non_negative

__all__ = ["AUDIO_KEY", "looks_like_nemo", "read_nemo"]

AUDIO_KEY = "audio_filepath"


def looks_like_nemo(record: dict[str, Any]) -> bool:
    """A NeMo manifest line names its audio in ``audio_filepath``."""
    return AUDIO_KEY in record


def read_nemo(fs: Any, path: str) -> ManifestRead:
    """One row per line of the NeMo manifest at ``path`` (a JSON-lines file, optionally .gz)."""
    source = display(fs, path)
    records = list(json_records(fs, path, source))
    if not any(r.value is not None and looks_like_nemo(r.value) for r in records):
        raise ManifestFormatError(f"{source}: declared nemo, but none of its {len(records)} lines has "
                                  f"{AUDIO_KEY!r}; keys found: {keys_found(records)}")
    base = folder(path)
    rows = rows_frame(_nemo_row(r, base, source) for r in records)
    return ManifestRead("nemo", rows, source, "NeMo manifest")


def _nemo_row(record: JsonRecord, base: str, source: str) -> dict[str, Any]:
    if record.value is None:
        return error_row(base, record.number, MALFORMED_LINE, record.error)
    value = record.value
    carried = {k: v for k, v in value.items() if k != AUDIO_KEY}
    entry = value.get(AUDIO_KEY)
    problem = _problem(value)
    if problem:
        at = f"line {record.number} of {source}"
        return error_row(base, record.number, MALFORMED_LINE, f"{at}: {problem}",
                         entry=entry if isinstance(entry, str) else None, carried=carried)
    offset, duration = _segment(value)
    return row(entry=entry, base=base, line=record.number, offset=offset, duration=duration, carried=carried)


def _problem(value: dict[str, Any]) -> str:
    """Why this NeMo line cannot be used, or ""."""
    entry = value.get(AUDIO_KEY)
    if not isinstance(entry, str) or not entry.strip():
        return f"no {AUDIO_KEY!r} (got {entry!r})" if AUDIO_KEY in value else f"no {AUDIO_KEY!r}"
    for key in ("offset", "duration"):
        if value.get(key) is not None and non_negative(value[key]) is None:
            return f"{key} {value[key]!r} is not a number of seconds >= 0"
    return ""


def _segment(value: dict[str, Any]) -> tuple[float, float]:
    """(offset, duration) in seconds, NaN where the line gives none (see the module doc)."""
    if value.get("offset") is None:
        return math.nan, math.nan
    duration = value.get("duration")
    return float(value["offset"]), math.nan if duration is None else float(duration)
