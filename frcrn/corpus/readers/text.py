"""Text manifests line by line: gzip by suffix, UTF-8 per line, JSON per line, so one bad line is
one error row and never the end of the read.

Every text reader (JSON lines, NeMo, lhotse, Kaldi, TSV) goes through :func:`text_lines` or
:func:`json_records`, which stream the file (a manifest of millions of lines is never held as one
string) and report each line's 1-based number for messages.
"""

from __future__ import annotations

import gzip
import io
import json
import posixpath
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO, Any, NamedTuple

from ..rows import ManifestFormatError

__all__ = ["JsonRecord", "TextLine", "display", "folder", "json_records", "keys_found", "non_negative",
           "open_binary", "plain_name", "text_lines"]


class TextLine(NamedTuple):
    """One line: its number, its text (no line ending), or None and why it is not text."""

    number: int
    text: str | None
    error: str = ""


class JsonRecord(NamedTuple):
    """One non-blank line (or array element) of a JSON manifest: the object, or None and why not."""

    number: int
    value: dict[str, Any] | None
    error: str = ""


def display(fs: Any, path: str) -> str:
    """``path`` as a user knows it: a local path as is, anything else as a full URI (s3://b/k)."""
    protocols = fs.protocol if isinstance(fs.protocol, (tuple, list)) else (fs.protocol,)
    return path if "file" in protocols or "local" in protocols else fs.unstrip_protocol(path)


def folder(path: str) -> str:
    """The fs path of the folder holding ``path`` (relative entries resolve against it)."""
    return posixpath.dirname(path.rstrip("/"))


def plain_name(path: str) -> str:
    """The file name without a ``.gz`` suffix, lower case: what the format is told by."""
    name = posixpath.basename(path.rstrip("/")).lower()
    return name[:-3] if name.endswith(".gz") else name


@contextmanager
def open_binary(fs: Any, path: str) -> Iterator[IO[bytes]]:
    """The file's bytes, gunzipped when its name ends in ``.gz``. Fetched whole with one GET
    (``cat_file``), as the job has always read manifests: s3fs's ranged reads of an open file
    trust a cached size and go through any proxy as many requests."""
    raw = io.BytesIO(fs.cat_file(path))
    if path.lower().endswith(".gz"):
        with gzip.GzipFile(fileobj=raw) as unzipped:
            yield unzipped
    else:
        yield raw


def text_lines(fs: Any, path: str, source: str) -> Iterator[TextLine]:
    """Every line, decoded as UTF-8 on its own (a stray Latin-1 line spoils only itself; a BOM on
    the first line is dropped). A broken gzip stream is the whole file's problem."""
    try:
        with open_binary(fs, path) as stream:
            for number, raw in enumerate(stream, 1):
                raw = raw.rstrip(b"\r\n")
                if number == 1 and raw.startswith(b"\xef\xbb\xbf"):
                    raw = raw[3:]
                try:
                    yield TextLine(number, raw.decode("utf-8"))
                except UnicodeDecodeError as err:
                    yield TextLine(number, None, f"line {number} of {source}: not UTF-8 text ({err})")
    except (gzip.BadGzipFile, EOFError, zlib.error) as err:
        raise ManifestFormatError(f"cannot read manifest {source}: not a valid gzip file ({err})") from None


def json_records(fs: Any, path: str, source: str) -> Iterator[JsonRecord]:
    """Each non-blank line parsed as one JSON object; a file whose first non-blank character is
    ``[`` is one JSON array of objects instead (lhotse's ``.json``, ``pandas.to_json``), numbered
    by element (1-based). Blank lines are skipped, not records."""
    lines = text_lines(fs, path, source)
    first = True
    for line in lines:
        text = line.text.strip() if line.text is not None else None
        if text == "":
            continue
        if text is None:
            yield JsonRecord(line.number, None, line.error)
        elif first and text.startswith("["):
            yield from _array_records(text, lines, source)
            return
        else:
            yield _parse_line(line.number, text, source)
        first = False


def _parse_line(number: int, text: str, source: str) -> JsonRecord:
    try:
        value = json.loads(text)
    except ValueError as err:
        return JsonRecord(number, None, f"line {number} of {source}: not valid JSON ({err})")
    if not isinstance(value, dict):
        return JsonRecord(number, None, f"line {number} of {source}: a JSON {type(value).__name__}, "
                                        "not an object")
    return JsonRecord(number, value)


def _array_records(first: str, rest: Iterator[TextLine], source: str) -> Iterator[JsonRecord]:
    """A whole-file JSON array: it parses as a whole or not at all."""
    parts = [first]
    for line in rest:
        if line.text is None:
            raise ManifestFormatError(f"cannot read manifest {source} as a JSON array: {line.error}")
        parts.append(line.text)
    try:
        values = json.loads("\n".join(parts))
    except ValueError as err:
        raise ManifestFormatError(f"cannot read manifest {source} as a JSON array: {err}") from None
    if not isinstance(values, list):
        raise ManifestFormatError(f"cannot read manifest {source}: a JSON {type(values).__name__}, "
                                  "expected one object per line or an array of objects")
    for number, value in enumerate(values, 1):
        if isinstance(value, dict):
            yield JsonRecord(number, value)
        else:
            yield JsonRecord(number, None, f"element {number} of {source}: a JSON {type(value).__name__}, "
                                           "not an object")


def keys_found(records: list[JsonRecord], limit: int = 12) -> str:
    """The keys the parsed records have (first seen first), for "not this format" messages."""
    keys = list(dict.fromkeys(k for r in records if r.value is not None for k in r.value))
    shown = ", ".join(keys[:limit]) + (f", ... ({len(keys)} keys)" if len(keys) > limit else "")
    return shown or "none"


def non_negative(value: Any) -> float | None:
    """``value`` as seconds if it is a finite JSON number >= 0, else None (bools are not numbers)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    seconds = float(value)
    return seconds if seconds >= 0 and seconds != float("inf") else None
