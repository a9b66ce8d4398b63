"""Inputs: read manifests (or list a folder), resolve and check every entry, drop duplicates.

Runs on the driver, before Ray Data starts, because three guarantees need the whole input set
at once: duplicates are found exactly (a URI listed twice is processed once), two inputs that
would map to the same output key are caught (the second becomes an error row instead of
silently overwriting the first), and resume can compare against earlier results. The table
holds one small row per input (URIs and the manifest's own columns), never audio.

The result is an :class:`InputSet` whose ``table`` has one row per unique input:

* ``input_uri``  canonical URI (local absolute path or ``proto://bucket/key``), or the raw entry
  when it could not be resolved
* ``output_uri`` where the enhanced audio goes ("" for invalid entries)
* ``error_type`` / ``error_message``  set for entries refused before any I/O
* ``occurrences`` how many times the input appeared across the manifest(s)
* the manifest's other columns, carried through untouched (renamed ``src_<name>`` only when
  they clash with a result column)
"""

from __future__ import annotations

import difflib
import io
import logging
import posixpath
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import fsspec
import pandas as pd

from jobs.config import InputConfig, OutputConfig
from jobs.errors import SpecError, StorageFailure, endpoint_of
from jobs.paths import Location, UnsafePath, parse_location, render_output_key, resolve_entry
from jobs.results import RESULT_COLUMNS
from jobs.storage import OBJECT_STORES

__all__ = ["MANIFEST_EXTENSIONS", "InputError", "InputSet", "resolve_inputs"]

log = logging.getLogger(__name__)

MANIFEST_EXTENSIONS = {
    ".parquet": "parquet", ".pq": "parquet", ".csv": "csv",
    ".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "jsonl",
}
_GLOB_CHARS = set("*?[")


class InputError(SpecError, ValueError):
    """The input as a whole cannot be used (missing manifest, missing column, ...): exit status 2."""


@dataclass
class InputSet:
    table: pd.DataFrame
    carried_columns: list[str]
    root: Location
    sources: list[str]
    duplicates: int = 0
    duplicate_examples: list[str] = field(default_factory=list)

    @property
    def valid(self) -> pd.DataFrame:
        return self.table[self.table["error_type"] == ""]


def _fs(loc: Location, storage_options: dict[str, Any]) -> fsspec.AbstractFileSystem:
    return fsspec.filesystem(loc.protocol, **storage_options)


def _read_manifest(fs, path: str, fmt: str, column: str) -> pd.DataFrame:
    if fmt == "auto":
        ext = posixpath.splitext(path)[1].lower()
        if ext not in MANIFEST_EXTENSIONS:
            raise InputError(
                f"cannot tell the manifest format of {path!r} from its extension; use one of "
                f"{', '.join(sorted(MANIFEST_EXTENSIONS))} or set input.format"
            )
        fmt = MANIFEST_EXTENSIONS[ext]
    try:
        data = fs.cat_file(path)
    except FileNotFoundError:
        raise InputError(f"manifest not found: {path}") from None
    try:
        if fmt == "parquet":
            df = pd.read_parquet(io.BytesIO(data))
        elif fmt == "csv":
            df = pd.read_csv(io.BytesIO(data), dtype={column: "object"}, keep_default_na=True)
        else:
            try:
                df = pd.read_json(io.BytesIO(data), lines=True, dtype=False)
            except ValueError:
                if not path.lower().endswith(".json"):
                    raise
                df = pd.read_json(io.BytesIO(data), dtype=False)  # a plain JSON array of records
    except Exception as err:  # any parser error means the same to the user
        raise InputError(f"cannot read manifest {path} as {fmt}: {err}") from None
    if column not in df.columns:
        close = difflib.get_close_matches(column, [str(c) for c in df.columns], n=1)
        hint = f"; did you mean {close[0]!r} (set input.column)?" if close else ""
        raise InputError(
            f"manifest {path} has no column {column!r}{hint} (columns: {', '.join(map(str, df.columns))})"
        )
    return df


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
    IN...`` gives them) into the table of unique, checked inputs (see module doc)."""
    out_loc = parse_location(out.uri)
    frames, sources, roots = [], [], []
    for uri in uris or [cfg.uri]:
        loc = parse_location(uri)
        found, named, root = _read_sources(_fs(loc, cfg.storage_options), loc, uri, cfg, out_loc)
        frames += [frame.assign(__root=[root] * len(frame)) for frame in found]
        sources += named
        roots.append(root)
    table = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
    if table.empty:
        raise InputError(f"no inputs: {', '.join(sources)} list(s) no entries in column {cfg.column!r}")
    carried = [c for c in table.columns if not str(c).startswith("__")]
    table = _check_entries(table, [parse_location(p) for p in cfg.allowed_prefixes])
    table, duplicates, examples = _drop_duplicates(table)
    table = _assign_outputs(table, out, out_loc)
    final, carried_columns = _carry_columns(table, carried)
    return InputSet(table=final, carried_columns=carried_columns, root=roots[0], sources=sources,
                    duplicates=duplicates, duplicate_examples=examples)


def _is_manifest(path: str, cfg: InputConfig) -> bool:
    """A file that lists inputs, not an input: any file unless it has an audio extension."""
    return cfg.format != "auto" or not path.lower().endswith(tuple(e.lower() for e in cfg.extensions))


def _read_sources(fs, loc: Location, uri: str, cfg: InputConfig,
                  out_loc: Location) -> tuple[list[pd.DataFrame], list[str], Location]:
    """The entries of every manifest (or of the audio files listed), their sources and the input root.

    ``uri`` is a manifest, a glob of manifests, a folder, a glob of audio files or one audio file;
    the audio files a folder or glob names are listed by ``frcrn.audio.files.find_audio``."""
    given_root = parse_location(cfg.root) if cfg.root else None
    if _GLOB_CHARS & set(loc.path):
        matches = sorted(fs.glob(loc.path))
        if not matches:
            raise InputError(f"nothing matches {uri!r} (expected manifests or audio files)")
        root = given_root or Location(loc.protocol, _glob_root(loc.path))
        if not any(_is_manifest(m, cfg) for m in matches):
            return [_listing_frame(fs, loc, uri, root, cfg, out_loc)], [loc.uri], root
        found = [Location(loc.protocol, m) for m in matches]
        return [_manifest_frame(fs, m, cfg) for m in found], [m.uri for m in found], root
    if fs.isfile(loc.path):
        root = given_root or Location(loc.protocol, posixpath.dirname(loc.path))
        if not _is_manifest(loc.path, cfg):
            return [_listing_frame(fs, loc, uri, root, cfg, out_loc)], [loc.uri], root
        return [_manifest_frame(fs, loc, cfg)], [loc.uri], root
    if fs.isdir(loc.path):
        root = given_root or loc
        return [_listing_frame(fs, loc, uri, root, cfg, out_loc)], [loc.uri], root
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


def _check_entries(table: pd.DataFrame, allowed: list[Location]) -> pd.DataFrame:
    """Resolve each entry below its root (and below an allowed prefix if any are set)."""
    uris, rels, errs, msgs = [], [], [], []
    for entry, base, root in zip(table["__entry"], table["__base"], table["__root"]):
        try:
            resolved, rel = resolve_entry(entry, base=base, root=root)
            if allowed and not any(_below(resolved, p) for p in allowed):
                raise UnsafePath(f"{resolved.uri!r} is not below any of input.allowed_prefixes "
                                 f"({', '.join(p.uri for p in allowed)})")
            uris.append(resolved.uri)
            rels.append(rel)
            errs.append("")
            msgs.append("")
        except UnsafePath as err:
            uris.append(str(entry) if entry is not None else "")
            rels.append("")
            errs.append("unsafe_path")
            msgs.append(f"refused input {str(entry)!r}: {err}; nothing was read or written for it")
    return table.assign(input_uri=uris, __relpath=rels, error_type=errs, error_message=msgs)


def _drop_duplicates(table: pd.DataFrame) -> tuple[pd.DataFrame, int, list[str]]:
    """Keep the first occurrence of each input, count the rest (``occurrences``)."""
    counts = table.groupby("input_uri", sort=False)["input_uri"].transform("size")
    dup_mask = table.duplicated("input_uri", keep="first")
    examples = list(dict.fromkeys(table.loc[dup_mask, "input_uri"]))[:10]
    table = table.assign(occurrences=counts.astype("int64"))[~dup_mask].reset_index(drop=True)
    return table, int(dup_mask.sum()), examples


def _assign_outputs(table: pd.DataFrame, out: OutputConfig, out_loc: Location) -> pd.DataFrame:
    """Each valid input's output URI (checked below output.uri), or why it has none."""
    outs: list[str] = []
    errs, msgs = list(table["error_type"]), list(table["error_message"])
    owner: dict[str, str] = {}
    inputs = set(table["input_uri"])
    for i, (uri, rel) in enumerate(zip(table["input_uri"], table["__relpath"])):
        target, problem = ("", None) if errs[i] else _output_for(uri, rel, out, out_loc, owner, inputs)
        outs.append(target)
        if problem is not None:
            errs[i], msgs[i] = problem
        elif target:
            owner[target] = uri
    return table.assign(output_uri=outs, error_type=errs, error_message=msgs)


def _output_for(uri: str, rel: str, out: OutputConfig, out_loc: Location, owner: dict[str, str],
                inputs: set[str]) -> tuple[str, tuple[str, str] | None]:
    """(output URI, None) or ("", (error_type, message))."""
    try:
        key = render_output_key(out.name_template, rel, out.format)
        if key.split("/", 1)[0] == out.manifest_dir.strip("/"):
            raise UnsafePath(f"output name {key!r} would land in the reserved folder {out.manifest_dir!r}")
        target = out_loc.child(key).uri
    except UnsafePath as err:
        return "", ("unsafe_path", f"cannot name the output of {uri}: {err}")
    if target == uri:
        return "", ("output_collision", f"the output for {uri} would overwrite the input itself; choose "
                    "another output.uri or output.name_template")
    if target in inputs:
        return "", ("output_collision", f"the output for {uri} would overwrite another input, {target}; choose "
                    "another output.uri or output.name_template")
    if target in owner:
        return "", ("output_collision", f"{uri} and {owner[target]} both map to {target}; only the first is "
                    "processed (change output.name_template, e.g. '{relpath}.{ext}', to keep both)")
    return target, None


def _carry_columns(table: pd.DataFrame, carried: list[str]) -> tuple[pd.DataFrame, list[str]]:
    """The manifest's other columns, untouched, renamed only on a clash with our columns."""
    rename = {c: f"src_{c}" for c in carried if c in RESULT_COLUMNS or c in ("input_uri", "output_uri")}
    if rename:
        log.warning("manifest columns %s clash with result columns; carried as %s",
                    list(rename), list(rename.values()))
    carried_table = table[carried].rename(columns=rename)
    final = pd.concat(
        [table[["input_uri", "output_uri", "error_type", "error_message", "occurrences"]], carried_table],
        axis=1,
    )
    return final, list(carried_table.columns)


def _below(loc: Location, prefix: Location) -> bool:
    """``loc`` is ``prefix`` itself or lies below it, on whole path segments."""
    if loc.protocol != prefix.protocol:
        return False
    base = prefix.path.rstrip("/")
    return loc.path == base or loc.path.startswith(base + "/")


def _manifest_frame(fs, loc: Location, cfg: InputConfig) -> pd.DataFrame:
    df = _read_manifest(fs, loc.path, cfg.format, cfg.column)
    base = Location(loc.protocol, posixpath.dirname(loc.path))
    # The URI column becomes input_uri (resolved); all *other* columns are carried through.
    df = df.rename(columns={cfg.column: "__entry"})
    df["__base"] = [base] * len(df)
    return df


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
    return pd.DataFrame({"__entry": entries, "__base": [loc] * len(entries)})
