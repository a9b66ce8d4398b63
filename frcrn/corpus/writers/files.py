"""Where an export's files go, and how the audio it copies is read.

``Destination`` writes a format's fixed file names inside the destination folder (local path or
URL), every file through ``frcrn.storage.atomic_write``; ``AudioReader`` reads the exported
audio (outputs, and a selection's originals with the input's storage options).
"""

from __future__ import annotations

import logging
import posixpath
from collections.abc import Mapping
from typing import Any

import fsspec
from fsspec.implementations.local import LocalFileSystem

from frcrn.storage import atomic_write, is_remote

from .fields import ExportError
from .rows import embedded, normalise

__all__ = ["AudioReader", "Destination"]

log = logging.getLogger(__name__)


class Destination:
    """The folder a format writes its fixed file names into (local path or URL)."""

    def __init__(self, dest: str, storage_options: Mapping[str, Any] | None = None):
        self.url = normalise(dest)
        options = dict(storage_options or {}) if is_remote(self.url) else {}
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


class AudioReader:
    """Reads exported files (local or URL), one filesystem per protocol and side: outputs with
    ``storage_options``, originals (input recordings) with ``input_storage_options`` (default the
    same). An original embedded in a Parquet shard (``<shard>#row=N``) is read from that row."""

    def __init__(self, storage_options: Mapping[str, Any] | None = None,
                 input_storage_options: Mapping[str, Any] | None = None):
        self.options = dict(storage_options or {})
        self.input_options = self.options if input_storage_options is None else dict(input_storage_options)
        self._fs: dict[tuple[str, bool], Any] = {}

    def fs(self, uri: str, original: bool = False) -> tuple[Any, str]:
        if not is_remote(uri):
            return self._fs.setdefault(("file", False), LocalFileSystem()), uri
        protocol = uri.split("://", 1)[0]
        key = (protocol, original)
        if key not in self._fs:
            self._fs[key] = fsspec.filesystem(protocol, **(self.input_options if original else self.options))
        return self._fs[key], self._fs[key]._strip_protocol(uri)

    def read(self, uri: str, original: bool = False) -> bytes:
        shard = embedded(uri) if original else None
        if shard is None:
            fs, path = self.fs(uri, original)
            return fs.cat_file(path)
        from frcrn.corpus.readers.hf import read_embedded

        fs, path = self.fs(shard[0], original)
        (data,) = read_embedded(fs, path, [shard[1]])
        if isinstance(data, Exception):
            raise ExportError(f"cannot read the original {uri}: {data}")
        return data
