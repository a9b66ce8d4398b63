"""The one mapping from a results table's carried columns to the fields of each ecosystem.

A results row carries its input manifest's own fields under their native names (NeMo ``text``,
Common Voice ``sentence`` and ``client_id``, lhotse ``supervision_id``, Kaldi ``utt_id``, ...).
Every writer asks this module, and only this module, which of them is the transcript, the
speaker, the language, the gender, the utterance id and the recording id; the first column in
each tuple that holds a value for the row wins.

Ids are what Kaldi and lhotse key everything by, so they (speaker ids too) are made safe for
both here: never empty, never with whitespace (each run of whitespace or path separators becomes
``_``: ids are *sanitised*, and two rows left with one utterance id are refused, see ``rows``).
When a row carries no id:

* recording id: the output file's path below the export root, without its suffix
  (``spk1/a.wav`` -> ``spk1_a``): stable across exports of any subset of the same results;
* utterance id: the recording id for a whole-file row; ``<recording id>-<start ms>-<end ms>``
  (zero-padded to 8 digits, so ids sort in time order) for a segment row.
"""

from __future__ import annotations

import base64
import datetime as _dt
import decimal
import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from ..results import RESULT_COLUMNS

__all__ = [
    "GENDER_COLUMNS",
    "JOB_COLUMNS",
    "LANGUAGE_COLUMNS",
    "RECORDING_ID_COLUMNS",
    "SPEAKER_COLUMNS",
    "TEXT_COLUMNS",
    "UTTERANCE_ID_COLUMNS",
    "ExportError",
    "carried_columns",
    "first_present",
    "first_value",
    "is_missing",
    "plain",
    "safe_id",
    "segment_id",
]

TEXT_COLUMNS = ("text", "sentence", "transcript", "normalized_text")
SPEAKER_COLUMNS = ("speaker", "speaker_id", "client_id")
UTTERANCE_ID_COLUMNS = ("supervision_id", "utt_id", "cut_id", "id")
RECORDING_ID_COLUMNS = ("recording_id",)
LANGUAGE_COLUMNS = ("language", "lang", "locale")
GENDER_COLUMNS = ("gender",)

JOB_COLUMNS = frozenset(RESULT_COLUMNS) | {"occurrences"}  # occurrences: results written before 2026-12
"""The job's own columns of a results table; every other column is carried from the manifest."""


class ExportError(ValueError):
    """The selected results cannot be written in the requested format: one line saying why."""


def carried_columns(columns: Sequence[str]) -> list[str]:
    """The manifest's own columns of a results table, in table order."""
    return [c for c in columns if c not in JOB_COLUMNS and not str(c).startswith("__")]


def is_missing(value: Any) -> bool:
    """None, NaN, pandas' NA/NaT: no value (an empty list or string is a value)."""
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    return isinstance(value, (float, np.floating)) and math.isnan(value)


def first_present(row: Mapping[str, Any], names: Sequence[str]) -> str | None:
    """The first of ``names`` that ``row`` holds a value for (blank text is no value); None if none."""
    for name in names:
        value = row.get(name)
        if not is_missing(value) and not (isinstance(value, str) and not value.strip()):
            return name
    return None


def first_value(row: Mapping[str, Any], names: Sequence[str]) -> Any:
    """The value of :func:`first_present`; None when there is none."""
    name = first_present(row, names)
    return None if name is None else row[name]


def as_text(value: Any) -> str | None:
    """A field value as text: whole floats lose their ``.0`` (an integer column with gaps is read
    as floats), None stays None."""
    value = plain(value)
    if value is None:
        return None
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return value if isinstance(value, str) else str(value)


_UNSAFE = re.compile(r"[\s/\\]+")


def safe_id(value: Any) -> str | None:
    """``value`` as an id: text, each run of whitespace or path separators replaced by ``_``;
    None when there is no value."""
    text = as_text(value)
    if text is None:
        return None
    text = _UNSAFE.sub("_", text.strip())
    return text or None


def derived_recording_id(relative_path: str) -> str:
    """The recording id of an output file from its path below the export root (suffix dropped)."""
    stem = relative_path.rsplit(".", 1)[0] if "." in relative_path.rsplit("/", 1)[-1] else relative_path
    return safe_id(stem.strip("/")) or "recording"


def segment_id(recording_id: str, start: float, end: float) -> str:
    """``<recording id>-<start ms>-<end ms>``: the derived id of a segment."""
    return f"{recording_id}-{round(start * 1000):08d}-{round(end * 1000):08d}"


def plain(value: Any) -> Any:
    """A value as plain JSON-safe Python: numpy scalars and arrays, pandas' missing values
    (-> None), NaN and infinities (-> None), timestamps (-> ISO text), bytes (-> base64 text),
    nested lists and dicts."""
    if is_missing(value):
        return None
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, (str, bool, int)):
        return value
    if isinstance(value, (pd.Timestamp, _dt.datetime, _dt.date, _dt.time)):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return plain(float(value))
    if isinstance(value, (bytes, bytearray, memoryview)):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, np.ndarray)):
        return [plain(v) for v in value]
    return str(value)
