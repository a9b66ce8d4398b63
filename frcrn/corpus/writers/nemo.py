"""NeMo: ``manifest.jsonl``, one JSON object per row.

Each line is ``audio_filepath`` (the enhanced file; a selection's ``original`` row: the input
recording), ``duration`` (the segment's, or the whole
output's, as measured), ``offset`` (segment rows only), then every carried field under its own
name, JSON-safe (numpy values plain Python; NaN inside a list or mapping is ``null``). A carried
field the row has no value for is left out rather than written ``null``: once tabulated, "this
line had no such key" and "the key was null" look the same, and the first is what JSON-lines
manifests mean (NeMo lines of one manifest need not share keys). A row read from a NeMo manifest
so comes back with its own keys and values, with ``audio_filepath`` pointing at the enhanced
audio and ``duration`` the measured one. Text is written as UTF-8, not escaped.
"""

from __future__ import annotations

import json

from .files import Destination
from .rows import ExportRows

__all__ = ["FILES", "write"]

FILES = ("manifest.jsonl",)
_OURS = ("audio_filepath", "duration")


def line(row) -> dict:
    obj = {"audio_filepath": row.audio_uri, "duration": row.duration}
    if row.is_segment:
        obj["offset"] = row.start
    for key, value in row.carried.items():
        if value is not None and key not in _OURS and not (row.is_segment and key == "offset"):
            obj[key] = value
    return obj


def write(rows: ExportRows, dest: Destination) -> None:
    text = "".join(json.dumps(line(row), ensure_ascii=False) + "\n" for row in rows)
    dest.write(FILES[0], text.encode("utf-8"))
