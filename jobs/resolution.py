"""Every manifest line's input URI and output URI, in bulk: the job's path rules at corpus size.

``jobs.paths`` defines, one entry at a time, what is refused and why (``resolve_entry``,
``render_output_key``); this module applies it to a whole input table. A million-line manifest
is nearly all plain relative paths (``jobs.paths.is_plain_relative``), for which those rules
come down to a string join below the manifest's folder: such lines are joined per folder in
one array operation, and every other line goes through ``resolve_entry`` itself, so messages
and refusals are the per-entry ones (``tests/jobs/test_bulk_resolution.py`` compares the two
on hostile inputs). Output names are rendered per recording, collisions found with hash joins.
"""

from __future__ import annotations

import posixpath
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from jobs.config import OutputConfig
from jobs.paths import (
    Location,
    OutsideRoot,
    UnsafePath,
    format_output_key,
    is_plain_relative,
    render_output_key,
    resolve_entry,
)

__all__ = ["assign_outputs", "check_entries"]


def check_entries(table: pd.DataFrame, allowed: list[Location]) -> pd.DataFrame:
    """Resolve each line's entry below its root (and below an allowed prefix if any are set);
    lines the reader refused keep the reader's error.

    Plain relative entries (``jobs.paths.is_plain_relative``, nearly every line of a real
    manifest) are joined to their folder in bulk, per (folder, root); every other entry, and
    any plain one the bulk step cannot prove safe, goes through ``resolve_entry`` itself."""
    n = len(table)
    entries = table["__entry"].to_numpy(dtype=object)
    errs = table["__error_type"].to_numpy(dtype=object).copy()
    msgs = table["__error"].to_numpy(dtype=object).copy()
    uris, rels = np.full(n, "", dtype=object), np.full(n, "", dtype=object)
    outside = np.zeros(n, dtype=bool)  # refused for lying outside the root (plain joins never are)
    refused = errs != ""
    uris[refused] = ["" if e is None or e != e else str(e) for e in entries[refused]]
    msgs[~refused] = ""
    plain = ~refused & np.fromiter(map(is_plain_relative, entries), dtype=bool, count=n)
    slow = ~refused & ~plain
    bases, roots = table["__base"].to_numpy(dtype=object), table["__root"].to_numpy(dtype=object)
    for rows in _same_folder_groups(bases, roots, plain):
        done = _join_plain(entries[rows], bases[rows[0]], roots[rows[0]], allowed)
        if done is None:
            slow[rows] = True
            continue
        (uris[rows], rels[rows]), unproven = done
        slow[rows[unproven]] = True
    for i in np.flatnonzero(slow):
        uris[i], rels[i], errs[i], msgs[i], outside[i] = _resolve_one(entries[i], bases[i], roots[i], allowed)
    _into_members(table, uris, rels, errs)
    return table.assign(input_uri=uris.tolist(), __relpath=rels.tolist(), error_type=errs.tolist(),
                        error_message=msgs.tolist(), __outside=outside)


def _same_folder_groups(bases: np.ndarray, roots: np.ndarray, mask: np.ndarray) -> list[np.ndarray]:
    """Row numbers of ``mask`` grouped by equal (base, root) (readers share one base object
    per folder, so rows are told apart by object first, then the few objects by value)."""
    rows = np.flatnonzero(mask)
    if not len(rows):
        return []
    by_base = pd.factorize(np.fromiter(map(id, bases[rows]), dtype=np.int64, count=len(rows)))[0]
    by_root = pd.factorize(np.fromiter(map(id, roots[rows]), dtype=np.int64, count=len(rows)))[0]
    codes, firsts = pd.factorize(by_base * (by_root.max() + 1) + by_root)[0], {}
    canonical = np.array([firsts.setdefault((bases[rows[i]], roots[rows[i]]), len(firsts))
                          for i in np.unique(codes, return_index=True)[1]])
    codes = canonical[codes]
    order = np.argsort(codes, kind="stable")
    return np.split(rows[order], np.flatnonzero(np.diff(codes[order])) + 1)


def _join_plain(entries: np.ndarray, base: Location, root: Location,
                allowed: list[Location]) -> tuple[tuple[np.ndarray, np.ndarray], np.ndarray] | None:
    """((URIs, relpaths), rows not proven allowed) of plain relative entries below ``base``, or
    None when ``base`` is not below ``root`` on the same storage (``resolve_entry`` then says why).

    For a plain entry ``e``, ``resolve_entry`` gives the path ``join(base.path, e)`` = ``head + e``
    and ``relative_to`` its part after ``root.path + "/"``, which ``head`` starts with."""
    head = base.path.rstrip("/") + "/" if base.path else ""
    root_head = root.path.rstrip("/") + "/"
    if base.protocol != root.protocol or not head.startswith(root_head):
        return None
    scheme = "" if base.protocol == "file" else f"{base.protocol}://"
    paths = head + entries
    rels = head[len(root_head):] + entries
    unproven = np.zeros(len(entries), dtype=bool)
    if allowed and not any(p.protocol == base.protocol and head.startswith(p.path.rstrip("/") + "/")
                           for p in allowed):  # else every head + e is below that prefix
        unproven = ~np.fromiter((any(_below(Location(base.protocol, path), p) for p in allowed) for path in paths),
                                dtype=bool, count=len(paths))
    return ((scheme + paths) if scheme else paths, rels), unproven


def _resolve_one(entry: Any, base: Location, root: Location,
                 allowed: list[Location]) -> tuple[str, str, str, str, bool]:
    """(input URI, relpath, error type, message, outside the root) of one entry, by ``resolve_entry``."""
    try:
        resolved, rel = resolve_entry(entry, base=base, root=root)
        if allowed and not any(_below(resolved, p) for p in allowed):
            raise UnsafePath(f"{resolved.uri!r} is not below any of input.allowed_prefixes "
                             f"({', '.join(p.uri for p in allowed)})")
    except UnsafePath as err:
        return (str(entry) if entry is not None else "", "", "unsafe_path",
                f"refused input {str(entry)!r}: {err}; nothing was read or written for it",
                isinstance(err, OutsideRoot))
    return resolved.uri, rel, "", "", False


def _into_members(table: pd.DataFrame, uris: np.ndarray, rels: np.ndarray, errs: np.ndarray) -> None:
    """Audio inside the file (a Parquet shard): the URI names the member, and the outputs go in a
    folder named after the file."""
    members = table["__member"].to_numpy(dtype=object)
    inside = np.flatnonzero((members != "") & (errs == ""))
    if not len(inside):
        return
    names = table["__name"].to_numpy(dtype=object)
    for i in inside:
        uris[i] = f"{uris[i]}#{members[i]}"
        rels[i] = f"{posixpath.splitext(rels[i])[0]}/{names[i]}"


def assign_outputs(table: pd.DataFrame, out: OutputConfig, out_loc: Location) -> pd.DataFrame:
    """Each valid recording's output URI (checked below output.uri), or why it has none; the
    lines of one recording share its output and its refusal."""
    errs = table["error_type"].to_numpy(dtype=object).copy()
    msgs = table["error_message"].to_numpy(dtype=object).copy()
    outs = np.full(len(table), "", dtype=object)
    valid = np.flatnonzero(errs == "")
    codes, uris = pd.factorize(table["input_uri"].to_numpy(dtype=object)[valid])
    first = np.unique(codes, return_index=True)[1]  # factorize numbers recordings in order of appearance
    targets, kinds, texts = _name_outputs(np.asarray(uris, dtype=object),
                                          table["__relpath"].to_numpy(dtype=object)[valid][first], out, out_loc)
    outs[valid] = targets[codes]
    bad = kinds[codes] != ""
    errs[valid[bad]], msgs[valid[bad]] = kinds[codes][bad], texts[codes][bad]
    return table.assign(output_uri=outs.tolist(), error_type=errs.tolist(), error_message=msgs.tolist())


def _name_outputs(uris: np.ndarray, rels: np.ndarray, out: OutputConfig,
                  out_loc: Location) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per recording, in order of appearance: (output URI, "", "") or ("", error type, message).
    Of several recordings mapping to one output, the first keeps it."""
    n = len(uris)
    keys, kinds, texts = np.full(n, "", dtype=object), np.full(n, "", dtype=object), np.full(n, "", dtype=object)
    for i, rel in enumerate(rels):
        try:
            keys[i] = _output_key(rel, out)
        except UnsafePath as err:
            kinds[i], texts[i] = "unsafe_path", f"cannot name the output of {uris[i]}: {err}"
    targets = _child_prefix(out_loc) + keys  # = out_loc.child(key).uri: keys are relative and normalised
    files = np.array([u.split("#", 1)[0] if "#" in u else u for u in uris], dtype=object)
    for i in np.flatnonzero((kinds == "") & ((targets == uris) | (targets == files))):
        kinds[i], texts[i] = "output_collision", (f"the output for {uris[i]} would overwrite the input itself; "
                                                  "choose another output.uri or output.name_template")
    for i in np.flatnonzero((kinds == "") & pc.is_in(pa.array(targets, type=pa.string()), value_set=pa.array(
            uris, type=pa.string())).to_numpy(zero_copy_only=False)):
        kinds[i], texts[i] = "output_collision", (f"the output for {uris[i]} would overwrite another input, "
                                                  f"{targets[i]}; choose another output.uri or output.name_template")
    free = np.flatnonzero(kinds == "")
    taken = pd.Series(targets[free]).duplicated(keep="first").to_numpy()
    if taken.any():
        owner = dict(zip(targets[free][~taken], uris[free][~taken]))
        for i in free[taken]:
            kinds[i], texts[i] = "output_collision", (
                f"{uris[i]} and {owner[targets[i]]} both map to {targets[i]}; only the first is "
                "processed (change output.name_template, e.g. '{relpath}.{ext}', to keep both)")
    targets[kinds != ""] = ""
    return targets, kinds, texts


def _output_key(rel: str, out: OutputConfig) -> str:
    """The output key of ``rel``: ``render_output_key``'s (a plain formatted key is its answer
    unchanged, see ``is_plain_relative``), never in the reserved manifest folder."""
    key = format_output_key(out.name_template, rel, out.format)
    if not is_plain_relative(key):
        key = render_output_key(out.name_template, rel, out.format)
    if key.split("/", 1)[0] == out.manifest_dir.strip("/"):
        raise UnsafePath(f"output name {key!r} would land in the reserved folder {out.manifest_dir!r}")
    return key


def _child_prefix(loc: Location) -> str:
    """What ``loc.child(key).uri`` puts before a relative, normalised ``key``."""
    return ("" if loc.protocol == "file" else f"{loc.protocol}://") + (loc.path.rstrip("/") + "/" if loc.path else "")


def _below(loc: Location, prefix: Location) -> bool:
    """``loc`` is ``prefix`` itself or lies below it, on whole path segments."""
    if loc.protocol != prefix.protocol:
        return False
    base = prefix.path.rstrip("/")
    return loc.path == base or loc.path.startswith(base + "/")
