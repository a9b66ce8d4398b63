"""The selected results as export rows, checked once for every format; and where files go.

``ExportRows(results, root)`` refuses what no format can describe (rows that are not ``ok``, rows
without an audio file, rate or duration, empty segments, two rows with one utterance id) with
one :class:`ExportError` line, settles every row's audio, ids and fields, and then yields
:class:`Row` s in table order (where files are written and read: ``frcrn.corpus.writers.files``).

**Which audio a row exports** is decided here and only here (:func:`row_audio`), so every format
points at the same file: the enhanced output (``output_uri`` at ``output_sample_rate``, lasting
``output_duration_s``), or, for a selection's ``original`` rows (``selected=True``: a table read
from ``selected.parquet``, see ``frcrn.corpus.results.SELECTION_COLUMNS``), the input recording
named by ``chosen_uri`` at ``input_sample_rate``, lasting ``input_duration_s``, with its
``input_channels``. A segment row keeps its ``segment_offset_s``/``segment_duration_s`` slice of
whichever file it exports. An input recording embedded in a Hugging Face Parquet shard is named
``<shard>#row=N`` (as the job names it): only a format that copies audio (``hf``) can export it.

Recording ids are settled per recording (its ``output_uri``, which the lines of one recording
share): carried or derived as ``fields`` says. The original of a recording is another file, so it
is another recording, with the id ``<recording id>-original``: an id depends only on the
recording and on which version of it is exported, never on the other rows, so it is the same in
every export that holds that file (and an enhanced and an original file of one recording, chosen
by two of its lines, never share an id).
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, NamedTuple

import pandas as pd

from ...storage import is_remote
from ..results import CHOICES, SELECTION_COLUMNS
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

__all__ = ["ORIGINAL_SUFFIX", "ExportRows", "Recording", "Row", "embedded",
           "normalise", "relative", "row_audio"]

log = logging.getLogger(__name__)

REQUIRED = ("output_uri", "status")
AUDIO_COLUMNS = {  # choice -> the columns of its file: location, rate, duration, channels (None: mono)
    "enhanced": ("output_uri", "output_sample_rate", "output_duration_s", None),
    "original": ("chosen_uri", "input_sample_rate", "input_duration_s", "input_channels"),
}
ORIGINAL_SUFFIX = "-original"
_EMBEDDED = re.compile(r"^(?P<shard>.+)#row=(?P<row>\d+)$")


class Row(NamedTuple):
    audio_uri: str           # the file the row exports: its output, or its original (local absolute path or URL)
    sample_rate: int         # of that file
    start: float             # seconds into that file (0 for a whole-file row)
    duration: float          # the row's own length: the segment's, or the whole file's
    is_segment: bool
    recording_id: str
    utterance_id: str
    text: str | None
    speaker: str | None
    language: str | None
    gender: str | None
    carried: dict[str, Any]  # the manifest's own fields, plain JSON-safe values, in table order
    output_uri: str          # the enhanced file: the recording's identity, whichever version is exported
    original: bool           # the row exports the input recording (a selection's choice == "original")
    channels: int            # of the exported file (outputs are mono; an original has its own)


@dataclass(frozen=True)
class Recording:
    id: str
    uri: str
    sample_rate: int
    num_samples: int
    channels: int = 1

    @property
    def duration(self) -> float:
        return self.num_samples / self.sample_rate


def normalise(uri: str) -> str:
    """A local path made absolute (``file://`` dropped), a URL without its trailing slash."""
    if is_remote(uri):
        return uri.rstrip("/")
    return os.path.abspath(os.path.expanduser(uri.removeprefix("file://")))


def embedded(uri: str) -> tuple[str, int] | None:
    """(shard, row) when ``uri`` names audio embedded in row ``row`` (0-based) of a Parquet shard,
    as the job names such inputs (``<shard>#row=N``); None for a file."""
    match = _EMBEDDED.match(uri)
    return (match["shard"], int(match["row"])) if match else None


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
    """The rows of a results table, checked and with their audio and ids settled (see the module doc).

    ``root``: the folder derived recording ids are relative to (the job's output location);
    default the common folder of the outputs. ``selected``: ``results`` are rows of a selection
    (``choice`` and ``chosen_uri`` columns; ``dropped`` rows refused): each row exports the file
    its ``choice`` names, and the selection's own columns are not carried.
    """

    def __init__(self, results: pd.DataFrame, root: str | None = None, *, selected: bool = False):
        _check(results)
        self.frame = results.reset_index(drop=True)
        own = SELECTION_COLUMNS if selected else ()
        self.carried = [c for c in carried_columns(list(results.columns)) if c not in own]
        self.original = _originals(self.frame) if selected else [False] * len(self.frame)
        self.outputs = [normalise(str(u)) for u in self.frame["output_uri"]]
        self.uris, self.rates, whole, self.channels = row_audio(self.frame, self.original)
        self.starts, self.durations, self.segment = _extents(self.frame, whole, self.uris)
        self.root = normalise(root) if root else _common_folder(self.outputs)
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

    @property
    def originals(self) -> int:
        """Rows that export their input recording."""
        return sum(self.original)

    @property
    def embedded(self) -> list[str]:
        """The distinct originals that are audio embedded in a Parquet shard, not files."""
        originals = dict.fromkeys(uri for uri, original in zip(self.uris, self.original) if original)
        return [uri for uri in originals if embedded(uri)]

    def __iter__(self) -> Iterator[Row]:
        frame = self.frame[self.carried]
        for i, values in enumerate(frame.itertuples(index=False, name=None)):
            carried = {name: plain(v) for name, v in zip(self.carried, values)}
            yield Row(self.uris[i], self.rates[i], self.starts[i], self.durations[i], self.segment[i],
                      self.recordings[self.uris[i]].id, self.utterance_ids[i],
                      as_text(first_value(carried, TEXT_COLUMNS)), safe_id(first_value(carried, SPEAKER_COLUMNS)),
                      as_text(first_value(carried, LANGUAGE_COLUMNS)), as_text(first_value(carried, GENDER_COLUMNS)),
                      carried, self.outputs[i], self.original[i], self.channels[i])

    # -- ids
    def _recordings(self, whole: list[float]) -> dict[str, Recording]:
        """One Recording per distinct exported file, in order of first appearance; an original
        has its recording's id with ``-original`` (the output's hash too, should that be taken)."""
        base = self._recording_ids()
        first: dict[str, int] = {}
        for i, uri in enumerate(self.uris):
            first.setdefault(uri, i)
        ids = {uri: base[self.outputs[i]] + (ORIGINAL_SUFFIX if self.original[i] else "") for uri, i in first.items()}
        taken = Counter(ids.values())
        for uri, i in first.items():
            if self.original[i] and taken[ids[uri]] > 1:
                ids[uri] = f"{ids[uri]}-{_digest(self.outputs[i])}"
        return {uri: Recording(ids[uri], uri, self.rates[i], round(whole[i] * self.rates[i]), self.channels[i])
                for uri, i in first.items()}

    def _recording_ids(self) -> dict[str, str]:
        """Each recording's (output file's) id: carried, else derived from its path below the root."""
        carried = self._carried_recording_ids()
        derived = {}
        for uri in dict.fromkeys(self.outputs):
            if uri not in carried:
                derived[uri] = derived_recording_id(relative(uri, self.root) or uri.split("://", 1)[-1])
        ids = {**carried, **derived}
        taken = Counter(ids.values())
        for uri, rid in derived.items():  # a derived id that collides gets the output's hash
            if taken[rid] > 1:
                ids[uri] = f"{rid}-{_digest(uri)}"
        return ids

    def _carried_recording_ids(self) -> dict[str, str]:
        """Output file -> its carried recording id, when they name each other one to one."""
        per_output: dict[str, set[str]] = {}
        for uri, row in zip(self.outputs, self._column_values(RECORDING_ID_COLUMNS)):
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


def _digest(uri: str) -> str:
    return hashlib.sha1(uri.encode()).hexdigest()[:8]


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


def _originals(frame: pd.DataFrame) -> list[bool]:
    """Per row of a selection, whether it exports the original; ``dropped`` (or unknown) choices refused."""
    missing = [c for c in ("choice", "chosen_uri") if c not in frame.columns]
    if missing:
        raise ExportError(f"the table has no {', '.join(missing)} column(s): is it a selection "
                          "(selected.parquet, written by `frcrn job select`)?")
    choices = ["missing" if is_missing(c) else str(c) for c in frame["choice"]]
    dropped = choices.count("dropped")
    if dropped:
        raise ExportError(f"{dropped} of the {len(frame)} rows are dropped by the selection (choice == 'dropped'): "
                          "they are not part of the curated corpus; export only rows with choice != 'dropped'")
    unknown = sorted(set(choices) - set(CHOICES))
    if unknown:
        raise ExportError(f"the selection has choice(s) {', '.join(map(repr, unknown))}; a choice is one of "
                          f"{', '.join(CHOICES)}: run `frcrn job select` again")
    return [c == "original" for c in choices]


def row_audio(frame: pd.DataFrame, original: list[bool]) -> tuple[list[str], list[int], list[float], list[int]]:
    """Each row's exported file: (location, sample rate, whole-file seconds, channels). The one
    place that decides it (module doc): the output, or for an ``original`` row the input
    recording its ``chosen_uri`` names. A row without a value it needs is refused."""
    names = {name for spec in AUDIO_COLUMNS.values() for name in spec if name}
    values = {name: frame[name].tolist() if name in frame.columns else [None] * len(frame) for name in names}
    uris, rates, whole, channels = [], [], [], []
    for i, is_original in enumerate(original):
        choice = "original" if is_original else "enhanced"
        where, rate, seconds, count = AUDIO_COLUMNS[choice]
        for name in (where, "output_uri", rate, seconds):
            value = values[name][i]
            if is_missing(value) or value == "" or (name in (rate, seconds) and value <= 0):
                _incomplete(values[name], original, choice, name, values["output_uri"])
        uris.append(normalise(str(values[where][i])))
        rates.append(int(values[rate][i]))
        whole.append(float(values[seconds][i]))
        n = values[count][i] if count else None
        channels.append(1 if is_missing(n) or n < 1 else int(n))
    return uris, rates, whole, channels


def _incomplete(values: list[Any], original: list[bool], choice: str, column: str, outputs: list[Any]) -> None:
    """Refuse: the rows of ``choice`` without a value for ``column``."""
    numeric = not column.endswith("_uri")
    empty = [i for i, (v, o) in enumerate(zip(values, original)) if o == (choice == "original")
             and (is_missing(v) or v == "" or (numeric and v <= 0))]
    which, what = ("original", "selection") if choice == "original" else ("ok", "results manifest")
    raise ExportError(f"{len(empty)} {which} row(s) have no {column} (first: output {outputs[empty[0]]!r}); "
                      f"the {what} is incomplete")


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
