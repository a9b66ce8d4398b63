"""The selected results as export rows, checked once for every format; and where files go.

``ExportRows(results, root)`` refuses what no format can describe (rows that are not ``ok``, rows
without an output file, rate or duration, empty segments, two rows with one utterance id) with
one :class:`ExportError` line, settles every row's ids and fields through ``fields``, and then
yields :class:`Row` s in table order. ``Destination`` writes a format's fixed file names inside
the destination folder, every file through ``frcrn.storage.atomic_write``.
"""

from __future__ import annotations

import hashlib
import logging
import os
import posixpath
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

import fsspec
import pandas as pd
from fsspec.implementations.local import LocalFileSystem

from frcrn.storage import atomic_write

from .fields import (
    GENDER_COLUMNS,
    LANGUAGE_COLUMNS,
    RECORDING_ID_COLUMNS,
    SPEAKER_COLUMNS,
    TEXT_COLUMNS,
    UTTERANCE_ID_COLUMNS,
    ExportError,
    as_text,
    carried_columns,
    derived_recording_id,
    first_value,
    is_missing,
    plain,
    safe_id,
    segment_id,
)

__all__ = ["Destination", "ExportRows", "OutputReader", "Recording", "Row", "is_url", "normalise", "relative"]

log = logging.getLogger(__name__)

REQUIRED = ("output_uri", "status", "output_sample_rate", "output_duration_s")


class Row(NamedTuple):
    output_uri: str          # the enhanced file (local absolute path or URL)
    sample_rate: int         # of the output file
    start: float             # seconds into the output file (0 for a whole-file row)
    duration: float          # the row's own length: the segment's, or the whole file's
    is_segment: bool
    recording_id: str
    utterance_id: str
    text: str | None
    speaker: str | None
    language: str | None
    gender: str | None
    carried: dict[str, Any]  # the manifest's own fields, plain JSON-safe values, in table order


@dataclass(frozen=True)
class Recording:
    id: str
    uri: str
    sample_rate: int
    num_samples: int

    @property
    def duration(self) -> float:
        return self.num_samples / self.sample_rate


def is_url(uri: str) -> bool:
    return "://" in uri and not uri.startswith("file://")


def normalise(uri: str) -> str:
    """A local path made absolute (``file://`` dropped), a URL without its trailing slash."""
    if is_url(uri):
        return uri.rstrip("/")
    return os.path.abspath(os.path.expanduser(uri.removeprefix("file://")))


def relative(uri: str, root: str) -> str | None:
    """``uri``'s path below ``root`` (both normalised), None when it is not below it."""
    prefix = root.rstrip("/") + "/"
    return uri[len(prefix):] if uri.startswith(prefix) and len(uri) > len(prefix) else None


def _common_folder(uris: list[str]) -> str:
    folders = {u.rsplit("/", 1)[0] for u in uris}
    parts = [f.split("/") for f in folders]
    common = []
    for level in zip(*parts):
        if len(set(level)) != 1:
            break
        common.append(level[0])
    return "/".join(common)


class ExportRows:
    """The rows of a results table, checked and with their ids settled (see the module doc).

    ``root``: the folder derived recording ids are relative to (the job's output location);
    default the common folder of the outputs.
    """

    def __init__(self, results: pd.DataFrame, root: str | None = None):
        _check(results)
        self.frame = results.reset_index(drop=True)
        self.carried = carried_columns(list(results.columns))
        self.uris = [normalise(str(u)) for u in self.frame["output_uri"]]
        self.rates = [int(r) for r in self.frame["output_sample_rate"]]
        whole = [float(d) for d in self.frame["output_duration_s"]]
        self.starts, self.durations, self.segment = _extents(self.frame, whole, self.uris)
        self.root = normalise(root) if root else _common_folder(self.uris)
        self.recordings = self._recordings(whole)
        self.utterance_ids = self._utterance_ids()

    def __len__(self) -> int:
        return len(self.frame)

    @property
    def any_segment(self) -> bool:
        return any(self.segment)

    @property
    def hours(self) -> float:
        """Hours of audio the rows describe (segments: their own length)."""
        return sum(self.durations) / 3600

    def __iter__(self) -> Iterator[Row]:
        frame = self.frame[self.carried]
        for i, values in enumerate(frame.itertuples(index=False, name=None)):
            carried = {name: plain(v) for name, v in zip(self.carried, values)}
            yield Row(self.uris[i], self.rates[i], self.starts[i], self.durations[i], self.segment[i],
                      self.recordings[self.uris[i]].id, self.utterance_ids[i],
                      as_text(first_value(carried, TEXT_COLUMNS)), safe_id(first_value(carried, SPEAKER_COLUMNS)),
                      as_text(first_value(carried, LANGUAGE_COLUMNS)), as_text(first_value(carried, GENDER_COLUMNS)),
                      carried)

    # -- ids
    def _recordings(self, whole: list[float]) -> dict[str, Recording]:
        """One Recording per distinct output file, in order of first appearance."""
        carried = self._carried_recording_ids()
        derived = {}
        for uri in dict.fromkeys(self.uris):
            if uri not in carried:
                derived[uri] = derived_recording_id(relative(uri, self.root) or uri.split("://", 1)[-1])
        ids = {**carried, **derived}
        taken = Counter(ids.values())
        for uri, rid in derived.items():  # a derived id that collides gets the output's hash
            if taken[rid] > 1:
                ids[uri] = f"{rid}-{hashlib.sha1(uri.encode()).hexdigest()[:8]}"
        first = {}
        for i, uri in enumerate(self.uris):
            first.setdefault(uri, i)
        return {uri: Recording(ids[uri], uri, self.rates[i], round(whole[i] * self.rates[i]))
                for uri, i in first.items()}

    def _carried_recording_ids(self) -> dict[str, str]:
        """Output file -> its carried recording id, when they name each other one to one."""
        per_output: dict[str, set[str]] = {}
        for uri, row in zip(self.uris, self._column_values(RECORDING_ID_COLUMNS)):
            rid = safe_id(row)
            if rid is not None:
                per_output.setdefault(uri, set()).add(rid)
        ids = {uri: next(iter(found)) for uri, found in per_output.items() if len(found) == 1}
        shared = [rid for rid, n in Counter(ids.values()).items() if n > 1]
        several = [uri for uri in per_output if uri not in ids]
        if shared or several:
            example = f"{shared[0]!r} names several outputs" if shared else f"{several[0]} has several"
            log.warning("the carried recording ids do not name one output file each (%s); recording ids are "
                        "derived from the output paths instead", example)
            return {}
        return ids

    def _column_values(self, names: tuple[str, ...]) -> list[Any]:
        present = [n for n in names if n in self.carried]
        if not present:
            return [None] * len(self.frame)
        rows = self.frame[present].itertuples(index=False, name=None)
        return [first_value(dict(zip(present, values)), present) for values in rows]

    def _utterance_ids(self) -> list[str]:
        ids = []
        for i, carried in enumerate(self._column_values(UTTERANCE_ID_COLUMNS)):
            uid = safe_id(carried)
            if uid is None:
                rid = self.recordings[self.uris[i]].id
                end = self.starts[i] + self.durations[i]
                uid = segment_id(rid, self.starts[i], end) if self.segment[i] else rid
            ids.append(uid)
        repeated = [(uid, n) for uid, n in Counter(ids).items() if n > 1]
        if repeated:
            uid, n = repeated[0]
            raise ExportError(f"{len(repeated)} utterance id(s) name more than one row (e.g. {uid!r}: {n} rows); "
                              f"the ids come from the first present of {', '.join(UTTERANCE_ID_COLUMNS)} "
                              "(whitespace becomes _), else from the output path and segment times")
        return ids


def _check(results: pd.DataFrame) -> None:
    missing = [c for c in REQUIRED if c not in results.columns]
    if missing:
        raise ExportError(f"the results table has no {', '.join(missing)} column(s): is it a results manifest?")
    if results.empty:
        raise ExportError("no rows to export")
    bad = ["missing" if is_missing(s) else str(s) for s in results["status"] if is_missing(s) or s != "ok"]
    if bad:
        counts = ", ".join(f"{k}: {v}" for k, v in Counter(bad).most_common())
        raise ExportError(f"{len(bad)} of the {len(results)} rows are not ok ({counts}): they have no enhanced "
                          "audio to export; select only rows with status == 'ok'")
    for column in REQUIRED[2:] + ("output_uri",):
        values = results[column]
        empty = [i for i, v in enumerate(values) if is_missing(v) or v == "" or (column != "output_uri" and v <= 0)]
        if empty:
            where = results["output_uri"].iloc[empty[0]]
            raise ExportError(f"{len(empty)} ok row(s) have no {column} (first: output {where!r}); "
                              "the results manifest is incomplete")


def _extents(frame: pd.DataFrame, whole: list[float], uris: list[str]) -> tuple[list[float], list[float], list[bool]]:
    """Each row's start, length and whether it is a segment (either segment column set)."""
    n = len(frame)
    offsets = frame["segment_offset_s"].tolist() if "segment_offset_s" in frame else [None] * n
    lengths = frame["segment_duration_s"].tolist() if "segment_duration_s" in frame else [None] * n
    starts, durations, segment = [], [], []
    for i, (offset, length) in enumerate(zip(offsets, lengths)):
        is_segment = not (is_missing(offset) and is_missing(length))
        start = 0.0 if is_missing(offset) else float(offset)
        duration = whole[i] - start if is_missing(length) else float(length)
        if is_segment and (start < 0 or duration <= 0):
            raise ExportError(f"segment at {start:g} s for {duration:g} s of {uris[i]} is empty or negative; "
                              "the results manifest is inconsistent")
        starts.append(start)
        durations.append(duration)
        segment.append(is_segment)
    return starts, durations, segment


class Destination:
    """The folder a format writes its fixed file names into (local path or URL)."""

    def __init__(self, dest: str, storage_options: Mapping[str, Any] | None = None):
        self.url = normalise(dest)
        options = dict(storage_options or {}) if is_url(self.url) else {}
        self.fs, self.path = fsspec.core.url_to_fs(self.url, **options)
        self.written: list[str] = []

    def write(self, name: str, data: bytes) -> str:
        atomic_write(posixpath.join(self.path, name), data, fs=self.fs)
        self.written.append(f"{self.url}/{name}")
        return self.written[-1]

    def remove_stale(self, pattern: str, keep: set[str]) -> None:
        """Delete files matching ``pattern`` (relative glob) left by an earlier export, except ``keep``."""
        for path in self.fs.glob(posixpath.join(self.path, pattern)):
            if posixpath.relpath(path, self.path) not in keep:
                log.info("removing %s, left by an earlier export", path)
                self.fs.rm_file(path)


class OutputReader:
    """Reads output files (local or URL), one filesystem per protocol."""

    def __init__(self, storage_options: Mapping[str, Any] | None = None):
        self.options = dict(storage_options or {})
        self._fs: dict[str, Any] = {}

    def fs(self, uri: str) -> tuple[Any, str]:
        if not is_url(uri):
            return self._fs.setdefault("file", LocalFileSystem()), uri
        protocol = uri.split("://", 1)[0]
        if protocol not in self._fs:
            self._fs[protocol] = fsspec.filesystem(protocol, **self.options)
        return self._fs[protocol], self._fs[protocol]._strip_protocol(uri)

    def read(self, uri: str) -> bytes:
        fs, path = self.fs(uri)
        return fs.cat_file(path)
