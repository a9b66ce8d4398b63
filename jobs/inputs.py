"""Inputs: read the manifests (or list a folder), resolve and check every line, group recordings.

Runs on the driver, before Ray Data starts, because three guarantees need the whole input set
at once: a recording named by several lines (segments of one long file, or the same file
listed twice) is read and enhanced once, two recordings that would map to the same output key
are caught (the second becomes an error row instead of silently overwriting the first), and
resume can compare against earlier results. The table holds one small row per manifest line
(URIs, the segment and the manifest's own fields), never audio.

Format knowledge lives in :mod:`frcrn.corpus.readers` (NeMo, lhotse, Kaldi, Hugging Face,
Common Voice, plain tables); this module only resolves what they return. The result is an
:class:`InputSet` whose ``table`` has one row per manifest line, in order:

* ``input_uri``  the recording's canonical URI (local absolute path or ``proto://bucket/key``;
  ``<shard>#row=N`` for audio embedded in a Hugging Face Parquet shard), or the raw entry when
  it could not be resolved
* ``output_uri`` where the recording's enhanced audio goes ("" for refused lines); the lines of
  one recording share it
* ``segment_offset_s`` / ``segment_duration_s`` the line's slice of the recording (null: whole)
* ``error_type`` / ``error_message``  set for lines refused before any I/O
* ``manifest_format`` the reader that produced the line (``folder`` for a listing)
* the manifest's other fields, carried through untouched (renamed ``src_<name>`` only when
  they clash with a result column)

and whose ``recordings`` has one row per unique valid recording, with its segments: the unit
of work of the Ray stages.
"""

from __future__ import annotations

import logging
import posixpath
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import fsspec
import numpy as np
import pandas as pd
import pyarrow.compute as pc

from jobs.config import InputConfig, OutputConfig
from jobs.errors import SpecError, StorageFailure, endpoint_of
from jobs.paths import Location, parse_location
from jobs.resolution import assign_outputs, check_entries
from jobs.results import RESULT_COLUMNS
from jobs.storage import OBJECT_STORES
from jobs.tables import release_memory, text_array

__all__ = ["InputError", "InputSet", "resolve_inputs"]

log = logging.getLogger(__name__)

_GLOB_CHARS = set("*?[")
ROW_COLUMNS = ["input_uri", "output_uri", "segment_offset_s", "segment_duration_s", "error_type",
               "error_message", "manifest_format"]
"""The job's own columns of an input row, ahead of the carried ones."""


class InputError(SpecError, ValueError):
    """The input as a whole cannot be used (missing manifest, missing column, ...): exit status 2."""


@dataclass
class InputSet:
    table: pd.DataFrame
    carried_columns: list[str]
    root: Location
    sources: list[str]
    formats: list[str] = field(default_factory=list)
    """The format of each source, in order (what ``input.format: auto`` chose)."""
    members: pd.Series | None = field(default=None, repr=False)
    """Per row, "" or the member of the file its input_uri names (``row=17`` of a Parquet shard)."""

    @property
    def valid(self) -> pd.DataFrame:
        return self.table[self.table["error_type"] == ""]

    @property
    def recordings(self) -> pd.DataFrame:
        """One row per unique valid recording, in first-appearance order: ``input_uri``,
        ``output_uri``, ``member`` and ``segments`` (the distinct (offset, duration) slices its
        lines ask for; (None, None) is the whole recording). Built on each access, not kept: at a
        million lines it is hundreds of MB the driver need not hold while it waits on the
        cluster (counting them: ``n_recordings``)."""
        recordings, duplicates = _group(self.valid_columns(*_RECORDING_COLUMNS), self.members)
        self.__dict__.setdefault("_counts", (len(recordings), duplicates))
        release_memory(len(recordings) + duplicates)
        return recordings

    @property
    def n_recordings(self) -> int:
        return self._counted[0]

    @property
    def duplicates(self) -> int:
        """Lines that repeat an earlier line exactly (same recording, same slice)."""
        return self._counted[1]

    @property
    def _counted(self) -> tuple[int, int]:
        """(recordings, repeated lines), counted once: ``table`` is not changed after resolution."""
        if "_counts" not in self.__dict__:
            self.recordings  # noqa: B018 - counts them
        return self.__dict__["_counts"]

    def recordings_of(self, lines: np.ndarray) -> pd.DataFrame:
        """``recordings`` of the valid lines chosen by the mask ``lines`` (every line of a chosen
        recording must be chosen), without grouping the others."""
        return _group(self.table.loc[lines, list(_RECORDING_COLUMNS)], self.members)[0]

    def valid_columns(self, *names: str) -> pd.DataFrame:
        """``valid``, of these columns only (a copy of the whole table is not needed)."""
        return self.table.loc[(self.table["error_type"] == "").to_numpy(), list(names)]


_RECORDING_COLUMNS = ("input_uri", "output_uri", "segment_offset_s", "segment_duration_s")


def group_recordings(rows: pd.DataFrame, members: pd.Series | None = None) -> pd.DataFrame:
    """The recordings of ``rows`` (valid input rows) with their distinct segments."""
    return _group(rows, members)[0]


def _group(rows: pd.DataFrame, members: pd.Series | None) -> tuple[pd.DataFrame, int]:
    """(the recordings of ``rows``, how many rows repeat an earlier one's recording and slice)."""
    if rows.empty:
        return pd.DataFrame({"input_uri": [], "output_uri": [], "member": [], "segments": []}, dtype=object), 0
    found = pc.dictionary_encode(text_array(rows["input_uri"]))
    codes = found.indices.to_numpy().astype("int64")  # numbered in order of first appearance
    first = np.unique(codes, return_index=True)[1]
    member = members.loc[rows.index].to_numpy(dtype=object)[first] if members is not None else [""] * len(first)
    out = pd.DataFrame({
        "input_uri": found.dictionary.to_pandas(),
        "output_uri": text_array(rows["output_uri"]).take(first).to_pandas(),
        "member": member})
    segments, distinct = _segments_of(codes, rows["segment_offset_s"].astype("float64").to_numpy(),
                                      rows["segment_duration_s"].astype("float64").to_numpy(), len(first))
    out["segments"] = segments
    return out, len(rows) - distinct


def _segments_of(codes: np.ndarray, offsets: np.ndarray, durations: np.ndarray,
                 n: int) -> tuple[list[list[tuple]], int]:
    """Per recording code, its distinct (offset, duration) pairs in order of appearance (None for
    NaN); and how many distinct (recording, offset, duration) there are."""
    distinct = ~pd.DataFrame({"c": codes, "o": offsets, "d": durations}).duplicated().to_numpy()
    codes, offsets, durations = codes[distinct], offsets[distinct], durations[distinct]
    order = np.argsort(codes, kind="stable")
    pairs = list(zip(_floats_or_none(offsets[order]), _floats_or_none(durations[order])))
    if len(pairs) == n:  # one slice per recording, the usual case
        return [[p] for p in pairs], len(pairs)
    ends = np.cumsum(np.bincount(codes, minlength=n)).tolist()
    return [pairs[a:b] for a, b in zip([0, *ends[:-1]], ends)], len(pairs)


def _floats_or_none(values: np.ndarray) -> list[float | None]:
    out = values.astype(object)
    out[np.isnan(values)] = None
    return out.tolist()


def _fs(loc: Location, storage_options: dict[str, Any]) -> fsspec.AbstractFileSystem:
    return fsspec.filesystem(loc.protocol, **storage_options)


def _glob_root(pattern_path: str) -> str:
    parts = pattern_path.split("/")
    fixed = []
    for part in parts:
        if _GLOB_CHARS & set(part):
            break
        fixed.append(part)
    return "/".join(fixed)


def resolve_inputs(cfg: InputConfig, out: OutputConfig, uris: Sequence[str] | None = None) -> InputSet:
    """Turn ``input.uri`` (or each of ``uris``, every one with its own root, as ``frcrn enhance
    IN...`` gives them) into the table of checked input rows (see module doc)."""
    out_loc = parse_location(out.uri)
    frames, sources, formats, roots = [], [], [], []
    for uri in uris or [cfg.uri]:
        loc = parse_location(uri)
        found, root = _read_sources(_fs(loc, cfg.storage_options), loc, uri, cfg, out_loc)
        for source, fmt, frame in found:
            frames.append(frame.assign(__root=[root] * len(frame), __format=fmt))
            sources.append(source)
            formats.append(fmt)
        roots.append(root)
    table = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
    if table.empty:
        raise InputError(f"no inputs: {', '.join(sources)} list(s) no audio")
    carried = [c for c in table.columns if not str(c).startswith("__")]
    table = check_entries(table, [parse_location(p) for p in cfg.allowed_prefixes])
    _refuse_all_outside(table, cfg)
    release_memory(len(table))
    table = assign_outputs(table, out, out_loc)
    final, carried_columns = _carry_columns(table, carried)
    release_memory(len(final))
    return InputSet(table=final, carried_columns=carried_columns, root=roots[0], sources=sources,
                    formats=formats, members=table["__member"].copy())


def _is_manifest(path: str, cfg: InputConfig) -> bool:
    """A file that lists inputs, not an input: any file unless it has an audio extension."""
    return cfg.format not in ("auto", "folder") or not path.lower().endswith(tuple(e.lower() for e in cfg.extensions))


def _is_kaldi_dir(fs, path: str, cfg: InputConfig) -> bool:
    return cfg.format in ("auto", "kaldi") and fs.isfile(posixpath.join(path, "wav.scp"))


_Found = list[tuple[str, str, pd.DataFrame]]
"""(source URI, format, manifest-rows frame) per source."""


def _read_sources(fs, loc: Location, uri: str, cfg: InputConfig, out_loc: Location) -> tuple[_Found, Location]:
    """The rows of every manifest (or of the audio files listed), and the input root.

    ``uri`` is a manifest, a glob of manifests, a Kaldi data dir, a folder, a glob of audio
    files or one audio file; the audio files a folder or glob names are listed by
    ``frcrn.audio.files.find_audio``."""
    given_root = parse_location(cfg.root) if cfg.root else None
    if _GLOB_CHARS & set(loc.path):
        matches = sorted(fs.glob(loc.path))
        if not matches:
            raise InputError(f"nothing matches {uri!r} (expected manifests or audio files)")
        root = given_root or Location(loc.protocol, _glob_root(loc.path))
        if not any(_is_manifest(m, cfg) for m in matches):
            return [(loc.uri, "folder", _listing_frame(fs, loc, uri, root, cfg, out_loc))], root
        return [_manifest_frame(fs, Location(loc.protocol, m), cfg) for m in matches], root
    if fs.isfile(loc.path):
        root = given_root or Location(loc.protocol, posixpath.dirname(loc.path))
        if not _is_manifest(loc.path, cfg):
            return [(loc.uri, "folder", _listing_frame(fs, loc, uri, root, cfg, out_loc))], root
        return [_manifest_frame(fs, loc, cfg)], root
    if fs.isdir(loc.path):
        if _is_kaldi_dir(fs, loc.path, cfg):
            return [_manifest_frame(fs, loc, cfg)], given_root or loc
        root = given_root or loc
        return [(loc.uri, "folder", _listing_frame(fs, loc, uri, root, cfg, out_loc))], root
    _refuse_missing(fs, loc, uri, cfg)
    raise AssertionError("unreachable")  # pragma: no cover


def _refuse_missing(fs, loc: Location, uri: str, cfg: InputConfig) -> None:
    """input.uri names nothing: a missing bucket is a storage problem (exit 5), else a spec one."""
    if loc.protocol in OBJECT_STORES:
        bucket = loc.path.split("/", 1)[0]
        try:
            fs.info(bucket)
        except FileNotFoundError:
            raise StorageFailure(f"input.uri {uri}: the bucket {bucket!r} does not exist at "
                                 f"{endpoint_of(uri, cfg.storage_options)}; correct input.uri") from None
    raise InputError(f"input.uri {uri!r} does not exist (expected a manifest file, a glob of manifests, "
                     "a folder, a glob of audio files or an audio file)")


def _refuse_all_outside(table: pd.DataFrame, cfg: InputConfig) -> None:
    """Every line refused for lying outside the input root is a mistake in the spec, not in the
    data (typically a NeMo manifest of absolute paths): exit 2 with the setting that fixes it."""
    if not len(table) or not table["__outside"].all():
        return
    outside = list(table["input_uri"])
    parent = _common_parent([parse_location(u) for u in outside])
    root = table["__root"].iloc[0].uri
    raise InputError(
        f"all {len(table)} inputs were refused: they lie outside the input root {root} (e.g. {outside[0]}). "
        f"Their common parent is {parent}: set input.root={parent} (or a folder above it) to accept them"
    )


def _common_parent(locs: list[Location]) -> str:
    protocols = {loc.protocol for loc in locs}
    if len(protocols) != 1:
        return "(they are on different storages: " + ", ".join(sorted(protocols)) + ")"
    parent = posixpath.commonpath([posixpath.dirname(loc.path) or "/" for loc in locs])
    return Location(locs[0].protocol, parent).uri


def _carry_columns(table: pd.DataFrame, carried: list[str]) -> tuple[pd.DataFrame, list[str]]:
    """The manifest's other fields, untouched, renamed only on a clash with our columns."""
    rename = {c: f"src_{c}" for c in carried if c in RESULT_COLUMNS or c in ROW_COLUMNS}
    if rename:
        log.warning("manifest columns %s clash with result columns; carried as %s",
                    list(rename), list(rename.values()))
    carried_table = table[carried].rename(columns=rename)
    own = table.assign(segment_offset_s=table["__offset"].astype("float64"),
                       segment_duration_s=table["__duration"].astype("float64"),
                       manifest_format=table["__format"])
    final = pd.concat([own[ROW_COLUMNS], carried_table], axis=1)
    return final, list(carried_table.columns)


def _manifest_frame(fs, loc: Location, cfg: InputConfig) -> tuple[str, str, pd.DataFrame]:
    from frcrn.corpus.readers import read_manifest
    from frcrn.corpus.rows import ManifestFormatError

    try:
        found = read_manifest(fs, loc.path, fmt=cfg.format if cfg.format != "folder" else "auto",
                              column=cfg.column)
    except FileNotFoundError:
        raise InputError(f"manifest not found: {loc.uri}") from None
    except ManifestFormatError as err:
        text = str(err)
        raise InputError(text if loc.path in text or loc.uri in text else f"{loc.uri}: {text}") from None
    rows = found.rows.copy()
    folders = {b: Location(loc.protocol, b) for b in pd.unique(rows["__base"])}
    rows["__base"] = rows["__base"].map(folders).astype(object)
    return loc.uri, found.format, rows


def _listing_frame(fs, loc: Location, uri: str, root: Location, cfg: InputConfig,
                   out_loc: Location) -> pd.DataFrame:
    """The audio files a folder, a glob or one file names (``frcrn.audio.files.find_audio``),
    never the outputs: an output location inside the input folder is left out of the listing,
    and the input folder itself as the output location is refused."""
    from frcrn.audio.files import find_audio

    if out_loc in (root, loc):
        raise InputError(f"the output location {out_loc.uri} is the input folder {root.uri}: the outputs would "
                         "be written over and among the inputs; choose another output location")
    local = loc.protocol == "file"
    try:
        exclude = (out_loc.path if local else out_loc.uri) if out_loc.protocol == loc.protocol else None
        found = find_audio(loc.path if local else loc.uri, suffixes=cfg.extensions, fs=None if local else fs,
                           exclude=exclude)
    except FileNotFoundError:
        raise InputError(f"no files with extensions {', '.join(cfg.extensions)} under {uri}") from None
    entries = [parse_location(f.uri).uri for f in found]
    n = len(entries)
    return pd.DataFrame({
        "__entry": entries, "__base": [loc] * n, "__member": [""] * n, "__name": [""] * n,
        "__offset": [np.nan] * n, "__duration": [np.nan] * n, "__line": list(range(1, n + 1)),
        "__error_type": [""] * n, "__error": [""] * n,
    })
