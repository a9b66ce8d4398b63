"""Resolving and naming in bulk (jobs.resolution) gives exactly what the per-entry rules give.

``jobs.paths.resolve_entry`` / ``render_output_key`` are the only definition of what is refused
and why; the driver joins plain relative entries in bulk (``is_plain_relative``) for speed. These
tests compare the two on seeded random entries built from hostile pieces (``..``, ``%2e%2e``,
backslashes, control characters, absolute paths, URLs, trailing slashes, Unicode spaces), under
several roots, folders, allowed prefixes and naming templates: same URIs, same relative paths,
same outputs, same error types and messages, row for row.
"""

from __future__ import annotations

import posixpath
import random

import numpy as np
import pandas as pd
import pytest

from jobs.config import OutputConfig
from jobs.inputs import group_recordings
from jobs.paths import (
    Location,
    UnsafePath,
    format_output_key,
    is_plain_relative,
    join,
    relative_to,
    render_output_key,
    resolve_entry,
)
from jobs.resolution import _name_outputs, assign_outputs, check_entries

PIECES = ["a", "b.wav", "sub", "x y", "é", "#1", "?", "~", ":", "C:", ".", "..", "...", ".wav", "/", "//", "%",
          "%2e", "%2E", "%2e%2e", "%2f", "%5C", "%00", "%20", "\\", "\x00", "\x1f", "\x7f", " ", "\t", "\n",
          "\u00a0", "\u2028", "\u3000", "\u200b", "\x85", "file:", "file://", "s3://", "s3://bucket/", "://",
          "gs://bucket/corpus/", "/data/corpus/", "/etc/", "_manifest/", "corpus", "bucket"]
FIXED = ["a.wav", "sub/b.wav", "./a.wav", "a/./b.wav", "a//b.wav", "../a.wav", "a/../b.wav", "a/..", "..",
         "%2e%2e/a.wav", "%2E%2e/a.wav", "a%2Fb.wav", "a\\b.wav", "a\x00.wav", "a\x7f.wav", "/etc/passwd",
         "/data/corpus/a.wav", "file:///data/corpus/a.wav", "file:a.wav", "s3://bucket/corpus/a.wav",
         "s3://other/a.wav", "sub/", "a.wav/", " a.wav", "a.wav ", "\u3000a.wav", "a.wav\u2028", "", "   ",
         "_manifest/x.wav", "_manifest", "a.wav#row=1", "sp ace%20d.wav", "日本/音声.wav", None, float("nan"), 12]

FOLDERS = [  # (base, root): the manifest's folder and the input root
    (Location("s3", "bucket/corpus"), Location("s3", "bucket/corpus")),
    (Location("s3", "bucket/corpus/sub"), Location("s3", "bucket/corpus")),
    (Location("s3", "bucket/corpus"), Location("s3", "bucket/corpus/sub")),
    (Location("s3", "bucket"), Location("s3", "bucket")),
    (Location("gs", "bucket/corpus"), Location("s3", "bucket/corpus")),
    (Location("file", "/data/corpus"), Location("file", "/data/corpus")),
    (Location("file", "/data/corpus/sub"), Location("file", "/data")),
    (Location("file", "/"), Location("file", "/")),
    (Location("file", "/data/corpus-evil"), Location("file", "/data/corpus")),
]
ALLOWED = [[], [Location("s3", "bucket/corpus")], [Location("s3", "bucket/corpus/sub"), Location("file", "/data")],
           [Location("file", "/data/corpus/sub/a")], [Location("s3", "bucket/corpus/a.wav")],
           [Location("s3", "bucket/corp"), Location("file", "/data/corpus-")]]  # prefixes of names, not of paths


SAFE = ["a", "b.wav", "sub", "x y", "é", "#1", "~", ":", "C:", "...", ".wav", "corpus", "日本", "a.b.c"]


def entries(seed: int, n: int) -> list:
    """FIXED, then half plain-looking paths (safe names joined by "/"), half hostile mixtures."""
    rng = random.Random(seed)
    out = list(FIXED)
    while len(out) < n:
        if rng.random() < 0.5:
            out.append("/".join(rng.choice(SAFE) for _ in range(rng.randint(1, 4))))
        else:
            out.append("".join(rng.choice(PIECES) for _ in range(rng.randint(1, 5))))
    return out


def reference_check(table: pd.DataFrame, allowed: list[Location]) -> tuple[list, list, list, list]:
    """The per-entry loop the bulk step replaced (resolve_entry on every line)."""
    uris, rels, errs, msgs = [], [], [], []
    for entry, base, root, member, name, pre_type, pre_msg in zip(
            *(table[c] for c in ("__entry", "__base", "__root", "__member", "__name", "__error_type", "__error"))):
        if pre_type:
            uris.append("" if entry is None or entry != entry else str(entry))
            rels.append(""), errs.append(pre_type), msgs.append(pre_msg)
            continue
        try:
            resolved, rel = resolve_entry(entry, base=base, root=root)
            if allowed and not any(_below(resolved, p) for p in allowed):
                raise UnsafePath(f"{resolved.uri!r} is not below any of input.allowed_prefixes "
                                 f"({', '.join(p.uri for p in allowed)})")
            if member:
                uris.append(f"{resolved.uri}#{member}")
                rels.append(f"{posixpath.splitext(rel)[0]}/{name}")
            else:
                uris.append(resolved.uri), rels.append(rel)
            errs.append(""), msgs.append("")
        except UnsafePath as err:
            uris.append(str(entry) if entry is not None else ""), rels.append(""), errs.append("unsafe_path")
            msgs.append(f"refused input {str(entry)!r}: {err}; nothing was read or written for it")
    return uris, rels, errs, msgs


def _below(loc: Location, prefix: Location) -> bool:
    base = prefix.path.rstrip("/")
    return loc.protocol == prefix.protocol and (loc.path == base or loc.path.startswith(base + "/"))


def table_of(values: list, rng: random.Random) -> pd.DataFrame:
    """Manifest rows as readers hand them over: folders shared by object, some lines already
    refused by the reader, some audio embedded in a shard (``__member``)."""
    pairs = [rng.choice(FOLDERS) for _ in values]
    members = [f"row={i}" if rng.random() < 0.1 else "" for i in range(len(values))]
    pre = ["malformed_line" if rng.random() < 0.05 else "" for _ in values]
    return pd.DataFrame({
        "__entry": pd.Series(values, dtype=object), "__base": [b for b, _ in pairs], "__root": [r for _, r in pairs],
        "__member": members, "__name": [f"{i}.wav" for i in range(len(values))], "__error_type": pre,
        "__error": [f"line {i}: bad" if p else "" for i, p in enumerate(pre)],
    })


@pytest.mark.parametrize("seed", range(5))
def test_plain_entries_resolve_as_a_join(seed):
    """The claim is_plain_relative makes, entry by entry, against resolve_entry itself."""
    plain = 0
    for entry in entries(seed, 3000):
        for base, root in FOLDERS:
            try:
                expected = resolve_entry(entry, base=base, root=root)
            except UnsafePath:
                expected = None
            if not is_plain_relative(entry):
                continue
            plain += expected is not None
            loc = Location(base.protocol, join(base.path, entry))
            try:
                joined = (loc, relative_to(loc, root))
            except UnsafePath:
                joined = None
            assert joined == expected, (entry, base, root)
    assert plain > 1000


@pytest.mark.parametrize("seed", range(5))
def test_bulk_check_equals_resolve_entry(seed):
    rng = random.Random(seed)
    table = table_of(entries(seed, 4000), rng)
    for allowed in ALLOWED:
        got = check_entries(table, allowed)
        uris, rels, errs, msgs = reference_check(table, allowed)
        assert got["input_uri"].tolist() == uris
        assert got["__relpath"].tolist() == rels
        assert got["error_type"].tolist() == errs
        assert got["error_message"].tolist() == msgs
        if not allowed:
            assert errs.count("") > 500 and errs.count("unsafe_path") > 500


def reference_outputs(uris: list[str], rels: list[str], out: OutputConfig, out_loc: Location) -> list[tuple]:
    """The per-recording naming loop the bulk step replaced."""
    owner: dict[str, str] = {}
    inputs, result = set(uris), []
    for uri, rel in zip(uris, rels):
        try:
            key = render_output_key(out.name_template, rel, out.format)
            if key.split("/", 1)[0] == out.manifest_dir.strip("/"):
                raise UnsafePath(f"output name {key!r} would land in the reserved folder {out.manifest_dir!r}")
            target = out_loc.child(key).uri
        except UnsafePath as err:
            result.append(("", "unsafe_path", f"cannot name the output of {uri}: {err}"))
            continue
        if target == uri or target == uri.split("#", 1)[0]:
            result.append(("", "output_collision", f"the output for {uri} would overwrite the input itself; "
                           "choose another output.uri or output.name_template"))
        elif target in inputs:
            result.append(("", "output_collision", f"the output for {uri} would overwrite another input, {target}; "
                           "choose another output.uri or output.name_template"))
        elif target in owner:
            result.append(("", "output_collision", f"{uri} and {owner[target]} both map to {target}; only the first "
                           "is processed (change output.name_template, e.g. '{relpath}.{ext}', to keep both)"))
        else:
            owner[target] = uri
            result.append((target, "", ""))
    return result


TEMPLATES = ["{relpath_stem}.{ext}", "{relpath}.{ext}", "{name}", "{parent}/enh_{stem}.{ext}", "{stem}.{ext}",
             "../{name}", "{parent}", "_manifest/{name}", "{suffix}/{stem}.{ext}", "x/{relpath}"]
OUTPUTS = [Location("s3", "bucket/out"), Location("s3", "bucket/corpus"), Location("file", "/data/corpus"),
           Location("file", "/"), Location("s3", "bucket")]


@pytest.mark.parametrize("seed", range(3))
def test_bulk_naming_equals_render_output_key(seed):
    rng = random.Random(seed)
    rels = [e for e in entries(seed, 1500) if isinstance(e, str)]
    for template in TEMPLATES:
        for out_loc in OUTPUTS:
            out = OutputConfig(uri=out_loc.uri, name_template=template, format=rng.choice(["wav", "flac"]))
            picked = [rng.choice(rels) for _ in range(400)]
            base = rng.choice(["s3://bucket/corpus/", "/data/corpus/", "s3://bucket/out/"])
            uris = list(dict.fromkeys(base + r for r in picked))
            rel_of = [u[len(base):] for u in uris]
            got = _name_outputs(np.array(uris, dtype=object), np.array(rel_of, dtype=object), out, out_loc)
            assert list(zip(*(a.tolist() for a in got))) == reference_outputs(uris, rel_of, out, out_loc), \
                (template, out_loc)


def test_plain_keys_are_render_output_keys():
    for rel in (e for e in entries(7, 3000) if isinstance(e, str)):
        for template in TEMPLATES:
            key = format_output_key(template, rel, "wav")
            if is_plain_relative(key):
                assert render_output_key(template, rel, "wav") == key


def test_lines_of_one_recording_share_its_output():
    table = pd.DataFrame({"input_uri": ["s3://b/c/a.wav", "s3://b/c/a.wav", "x", "s3://b/c/sub/a.wav"],
                          "__relpath": ["a.wav", "a.wav", "", "sub/a.wav"],
                          "error_type": ["", "", "unsafe_path", ""], "error_message": ["", "", "no", ""]})
    out = OutputConfig(uri="s3://b/out", name_template="{name}")
    got = assign_outputs(table, out, Location("s3", "b/out"))
    assert got["output_uri"].tolist() == ["s3://b/out/a.wav", "s3://b/out/a.wav", "", ""]
    assert got["error_type"].tolist() == ["", "", "unsafe_path", "output_collision"]
    assert got["error_message"].tolist()[3].startswith("s3://b/c/sub/a.wav and s3://b/c/a.wav both map to")


def test_group_recordings_keeps_distinct_slices_in_order():
    rows = pd.DataFrame({"input_uri": ["a", "b", "a", "a", "c", "b", "a"],
                         "output_uri": ["A", "B", "A", "A", "C", "B", "A"],
                         "segment_offset_s": [0.0, np.nan, 5.0, 0.0, -0.0, np.nan, -0.0],
                         "segment_duration_s": [5.0, np.nan, np.nan, 5.0, 1.0, np.nan, 5.0]},
                        index=[10, 11, 12, 13, 14, 15, 16])
    members = pd.Series(["", "row=1", "", "", "", "row=1", ""], index=rows.index)
    got = group_recordings(rows, members)
    assert got["input_uri"].tolist() == ["a", "b", "c"]
    assert got["output_uri"].tolist() == ["A", "B", "C"]
    assert got["member"].tolist() == ["", "row=1", ""]
    assert got["segments"].tolist() == [[(0.0, 5.0), (5.0, None)], [(None, None)], [(-0.0, 1.0)]]
