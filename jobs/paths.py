"""URIs: resolving manifest entries under an input root and mapping them to output keys.

The job's promise is that nothing it writes lands outside ``output.uri``, and that it never reads
what the manifest's author could not legitimately point at. Both are enforced here, on strings,
before any I/O: an entry is accepted only if it resolves to a location *below the input root*
(by default the manifest's folder) on the *same storage* as the root, and its output key is the
same relative path rendered through the naming template and re-checked below ``output.uri``.

Refused (each becomes an error row with ``error_type="unsafe_path"``, never a read or a write):
``..`` segments (also percent-encoded: ``%2e%2e``, ``%2E%2e`` ...), encoded slashes/backslashes,
backslashes, control characters, absolute paths outside the root, another bucket or scheme than
the root's (``s3://other-bucket/x``, ``file:///etc/passwd`` in an S3 manifest), and template
results that would escape the output prefix or hit the reserved manifest folder.

URIs are kept in one canonical spelling so duplicates are recognised: local files as absolute
POSIX paths, everything else as ``protocol://path`` with ``.``/empty segments removed.
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

import fsspec

__all__ = [
    "Location",
    "OutsideRoot",
    "UnsafePath",
    "format_output_key",
    "is_local",
    "is_plain_relative",
    "join",
    "parse_location",
    "relative_to",
    "render_output_key",
    "resolve_entry",
]

_LOCAL = {None, "", "file", "local"}
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_ENCODED_DANGER = re.compile(r"%(2e|2f|5c|00)", re.IGNORECASE)


class UnsafePath(ValueError):
    """An entry or output key that would leave its root; message is for a person."""

    kind = "unsafe_path"

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), self.args)


class OutsideRoot(UnsafePath):
    """An entry that resolves to a location outside the input root (or on another storage):
    when every entry is one, the spec (``input.root``) is wrong, not the data."""


@dataclass(frozen=True)
class Location:
    protocol: str  # "file" for local paths
    path: str  # fsspec path: "/abs/dir" locally, "bucket/prefix" on object stores

    @property
    def uri(self) -> str:
        if self.protocol == "file":
            return self.path
        return f"{self.protocol}://{self.path}"

    def child(self, rel: str) -> Location:
        return Location(self.protocol, join(self.path, rel))


def is_local(protocol: str | None) -> bool:
    return protocol in _LOCAL


def _normalise_segments(path: str, *, absolute: bool) -> str:
    parts = [p for p in path.split("/") if p not in ("", ".")]
    if any(p == ".." for p in parts):
        raise UnsafePath(f"'..' in path {path!r}")
    joined = "/".join(parts)
    return "/" + joined if absolute else joined


def parse_location(uri: str) -> Location:
    """Canonical form of a root URI given in the config (trusted, but normalised)."""
    protocol, path = fsspec.core.split_protocol(uri)
    if isinstance(protocol, (list, tuple)):  # pragma: no cover - chained URLs
        protocol = protocol[0]
    if is_local(protocol):
        path = posixpath.normpath(path if path.startswith("/") else posixpath.abspath(path))
        return Location("file", path)
    path = path.rstrip("/")
    return Location(protocol, _normalise_segments(path, absolute=False))


def join(base: str, rel: str) -> str:
    if not base:
        return rel
    if not rel:
        return base
    return base.rstrip("/") + "/" + rel.lstrip("/")


def _check_text(entry: str) -> None:
    if _CONTROL.search(entry):
        raise UnsafePath(f"control character in {entry!r}")
    if "\\" in entry:
        raise UnsafePath(f"backslash in {entry!r} (use '/' as separator)")
    if _ENCODED_DANGER.search(entry):
        raise UnsafePath(
            f"percent-encoded '.', '/', '\\' or NUL in {entry!r}; such names are refused because "
            "different storage layers decode them differently"
        )
    decoded = unquote(entry)
    if any(seg == ".." for seg in re.split(r"[/\\]", decoded)):
        raise UnsafePath(f"'..' segment in {entry!r}")


def relative_to(loc: Location, root: Location) -> str:
    """Path of ``loc`` below ``root``, or UnsafePath if it is not strictly below it."""
    if loc.protocol != root.protocol:
        raise OutsideRoot(
            f"{loc.uri!r} is on {loc.protocol}:// storage but the input root {root.uri!r} is on "
            f"{root.protocol}://; inputs must lie under the input root"
        )
    base = root.path.rstrip("/")
    if root.protocol == "file" and base == "":
        base = ""
    if not loc.path.startswith(base + "/") or len(loc.path) <= len(base) + 1:
        raise OutsideRoot(f"{loc.uri!r} is outside the input root {root.uri!r} (input.root sets the root: "
                         "a folder above every input)")
    return loc.path[len(base) + 1 :]


def resolve_entry(entry: Any, *, base: Location, root: Location) -> tuple[Location, str]:
    """Resolve one manifest entry against the manifest's folder ``base``.

    Returns the canonical location and its path relative to ``root``; raises UnsafePath for
    anything that is not a plain file strictly below ``root`` on the same storage.
    """
    if entry is None or (isinstance(entry, float) and entry != entry):
        raise UnsafePath("empty audio URI")
    if not isinstance(entry, str):
        raise UnsafePath(f"audio URI must be text, got {type(entry).__name__} {entry!r}")
    entry = entry.strip()
    if not entry:
        raise UnsafePath("empty audio URI")
    _check_text(entry)
    if entry.endswith("/"):
        raise UnsafePath(f"{entry!r} names a folder, not a file")
    if "://" in entry or entry.startswith("file:"):
        protocol, path = fsspec.core.split_protocol(entry)
        protocol = "file" if is_local(protocol) else protocol
        if protocol == "file":
            if not path.startswith("/"):
                raise UnsafePath(f"file URL {entry!r} must be absolute")
            loc = Location("file", _normalise_segments(path, absolute=True))
        else:
            loc = Location(protocol, _normalise_segments(path, absolute=False))
    elif entry.startswith("/"):
        if base.protocol != "file":
            raise UnsafePath(
                f"absolute path {entry!r} in a manifest on {base.protocol}:// storage; "
                "use a path relative to the manifest or a full URL"
            )
        loc = Location("file", _normalise_segments(entry, absolute=True))
    else:
        rel = _normalise_segments(entry, absolute=False)
        loc = Location(base.protocol, join(base.path, rel))
    if loc.path.endswith("/") or not loc.path.rsplit("/", 1)[-1]:
        raise UnsafePath(f"{entry!r} names a folder, not a file")
    return loc, relative_to(loc, root)


def is_plain_relative(entry: Any) -> bool:
    """A text entry that is nothing but a relative path: printable (no control or invisible
    character), not empty, no surrounding whitespace, no backslash or ``%`` anywhere, no URL
    scheme (``://``, ``file:``), not absolute, no empty, ``.`` or ``..`` segment, no trailing
    slash. (Stricter than needed is fine: anything else simply takes the per-entry path.)

    Every check of ``resolve_entry`` before the join passes for such an entry and leaves it
    unchanged, so ``resolve_entry(entry, base=b, root=r)`` is exactly
    ``Location(b.protocol, join(b.path, entry))`` and ``relative_to`` of it; likewise
    ``render_output_key`` returns a formatted key (``format_output_key``) unchanged when the key
    is plain. The job uses this to resolve and name millions of rows in bulk
    (``jobs.resolution``); every other entry goes through ``resolve_entry`` / ``render_output_key``
    themselves, which stay the only definition of what is refused and why
    (``tests/jobs/test_bulk_resolution.py`` checks the equivalence on hostile inputs)."""
    if type(entry) is not str or not entry or not entry.isprintable() or entry.strip() != entry:
        return False
    if "\\" in entry or "%" in entry or "//" in entry or entry.startswith(("/", "file:")) or entry.endswith("/"):
        return False
    segments = f"/{entry}/"
    return "/./" not in segments and "/../" not in segments


def format_output_key(template: str, relpath: str, ext: str) -> str:
    """The naming template filled in for ``relpath``, unchecked (``render_output_key`` checks it)."""
    parent, _, name = relpath.rpartition("/")
    stem, dot, suffix = name.rpartition(".")
    if not dot:
        stem, suffix = name, ""
    relpath_stem = f"{parent}/{stem}" if parent else stem
    return template.format(
        relpath=relpath, relpath_stem=relpath_stem, parent=parent, name=name,
        stem=stem, suffix=suffix, ext=ext,
    )


def render_output_key(template: str, relpath: str, ext: str) -> str:
    """Relative output key for an input's ``relpath``; checked to stay below the output root."""
    key = format_output_key(template, relpath, ext)
    if key.startswith("/") or "://" in key:
        raise UnsafePath(f"output name {key!r} is absolute; it must be relative to output.uri")
    _check_text(key)
    key = _normalise_segments(key, absolute=False)
    if not key:
        raise UnsafePath(f"output name for {relpath!r} is empty")
    return key
