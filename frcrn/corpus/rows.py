"""The manifest-rows contract in code: its column names, the result of a read, and the one way to
build a row, so every reader fills every contract column the same way.

Readers never write a contract column by hand: :func:`row` / :func:`error_row` (one line at a
time, for text formats parsed line by line) and :func:`contract_frame` (a whole table at once,
for formats pandas or pyarrow parse) are the only constructors, and both end in :func:`finish`,
which fixes column order and types. A missing value is always NaN for ``__offset`` /
``__duration``, "" for the other text columns and None for ``__entry``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

__all__ = [
    "BASE", "CONTRACT_COLUMNS", "DURATION", "ENTRY", "ERROR", "ERROR_TYPE", "FORMATS", "LINE", "MALFORMED_LINE",
    "MEMBER", "NAME", "OFFSET", "UNSUPPORTED_PIPE", "UNSUPPORTED_SOURCE", "ManifestFormatError", "ManifestRead",
    "contract_frame", "error_row", "finish", "row", "rows_frame",
]

ENTRY = "__entry"
BASE = "__base"
MEMBER = "__member"
NAME = "__name"
OFFSET = "__offset"
DURATION = "__duration"
LINE = "__line"
ERROR_TYPE = "__error_type"
ERROR = "__error"
CONTRACT_COLUMNS: tuple[str, ...] = (ENTRY, BASE, MEMBER, NAME, OFFSET, DURATION, LINE, ERROR_TYPE, ERROR)

FORMATS: tuple[str, ...] = ("csv", "parquet", "jsonl", "nemo", "lhotse", "kaldi", "hf", "tsv")
"""The values ``input.format`` may name (besides ``auto``)."""

MALFORMED_LINE = "malformed_line"
"""The line cannot be parsed, or lacks what its format requires (the rest of the manifest goes on)."""
UNSUPPORTED_PIPE = "unsupported_pipe"
"""The line names a shell command producing the audio (Kaldi pipe, lhotse command): never run."""
UNSUPPORTED_SOURCE = "unsupported_source"
"""The audio is somewhere frcrn does not read (archive offset, in-memory bytes, one file per channel)."""

_TEXT_COLUMNS = (BASE, MEMBER, NAME, ERROR_TYPE, ERROR)
_NAN = math.nan


@dataclass
class ManifestRead:
    """One manifest, read: its format, its rows (the contract in ``frcrn.corpus``), where it came
    from (the URI, for messages) and a short phrase of what was found, for the job's log."""

    format: str
    rows: pd.DataFrame
    source: str
    note: str = ""


class ManifestFormatError(ValueError):
    """The manifest as a whole is unusable, or is not the format it was declared as.

    Raised only when no line can be used (missing, empty, unparseable, the entry column absent,
    the declared format's keys nowhere): one bad line is an error *row*, never this. The message
    names the manifest and says what was found instead, so the user can fix the input or
    ``input.format``."""


def row(*, entry: Any, base: str, line: int, member: str = "", name: str = "", offset: float = _NAN,
        duration: float = _NAN, error_type: str = "", error: str = "",
        carried: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """One manifest line as a contract row; ``carried`` are the manifest's own fields.

    A carried field named like a contract column would be ambiguous downstream, so the contract
    value wins."""
    out = dict(carried or {})
    out.update({ENTRY: entry, BASE: base, MEMBER: member, NAME: name, OFFSET: offset, DURATION: duration,
                LINE: line, ERROR_TYPE: error_type, ERROR: error})
    return out


def error_row(base: str, line: int, error_type: str, message: str, *, entry: Any = None,
              carried: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """A line that cannot be used: no segment, the reason in ``__error_type`` / ``__error``."""
    return row(entry=entry, base=base, line=line, error_type=error_type, error=message, carried=carried)


def rows_frame(rows: Iterable[Mapping[str, Any]]) -> pd.DataFrame:
    """The rows built by :func:`row` / :func:`error_row`, in order, as a contract table."""
    rows = list(rows)
    return finish(pd.DataFrame(rows) if rows else pd.DataFrame(columns=list(CONTRACT_COLUMNS)))


def contract_frame(carried: pd.DataFrame, *, entry: Any, base: str, line: Any, member: Any = "", name: Any = "",
                   offset: Any = _NAN, duration: Any = _NAN, error_type: Any = "", error: Any = "") -> pd.DataFrame:
    """A whole table at once: each contract value is a scalar (every row) or one value per row
    of ``carried``, whose columns follow the contract's."""
    carried = carried.reset_index(drop=True)
    n = len(carried)

    def column(value: Any) -> list[Any]:
        if pd.api.types.is_scalar(value):
            return [value] * n
        return list(value)

    values = {ENTRY: entry, BASE: base, MEMBER: member, NAME: name, OFFSET: offset, DURATION: duration,
              LINE: line, ERROR_TYPE: error_type, ERROR: error}
    contract = pd.DataFrame({c: pd.Series(column(v), dtype=object) for c, v in values.items()})
    own = carried.drop(columns=[c for c in carried.columns if c in values])
    return finish(pd.concat([contract, own], axis=1))


def finish(df: pd.DataFrame) -> pd.DataFrame:
    """Contract columns first, with their types: ``__entry`` object (None when missing), offsets
    and durations float (NaN when missing), ``__line`` int, the other contract columns text."""
    df = df.reset_index(drop=True)
    entries = _objects(df[ENTRY]) if ENTRY in df else np.full(len(df), None, dtype=object)
    entries[_missing_mask(entries)] = None
    out = {ENTRY: pd.Series(entries, dtype=object)}
    for col in _TEXT_COLUMNS:
        out[col] = pd.Series(_text(df[col]) if col in df else np.full(len(df), "", dtype=object), dtype=object)
    for col in (OFFSET, DURATION):
        out[col] = pd.to_numeric(df[col], errors="coerce").astype("float64") if col in df else _NAN
    out[LINE] = df[LINE].astype("int64") if LINE in df else pd.Series(range(1, len(df) + 1), dtype="int64")
    contract = pd.DataFrame(out, index=df.index)[list(CONTRACT_COLUMNS)]
    rest = df[[c for c in df.columns if c not in CONTRACT_COLUMNS]]
    return pd.concat([contract, rest], axis=1)


def _missing(value: Any) -> bool:
    return value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value))


def _objects(values: pd.Series) -> np.ndarray:
    return values.to_numpy(dtype=object, copy=True)


def _missing_mask(values: np.ndarray) -> np.ndarray:
    """``_missing`` of every value: ``pd.isna`` finds the candidates at C speed (it also says
    True for NaT and NumPy float NaNs, which ``_missing`` does not count), then each is checked."""
    mask = pd.isna(values)
    for i in np.flatnonzero(mask):
        mask[i] = _missing(values[i])
    return mask


def _text(values: pd.Series) -> np.ndarray:
    """"" for a missing value, else the value as text (``str``), as one object array."""
    out = _objects(values)
    out[_missing_mask(out)] = ""
    if pd.api.types.infer_dtype(out, skipna=False) not in ("string", "empty"):
        out = np.array([v if type(v) is str else str(v) for v in out], dtype=object)
    return out
