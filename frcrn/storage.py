"""Writing a file or object atomically: the one write path of the project (audio outputs, the
job's manifests and records, evaluation results, checkpoints).

``atomic_write(location, data)`` leaves ``location`` holding either its old content or all of
``data``, never a torn file a later run could mistake for a finished one:

* Local disks (and anything mounted, e.g. NFS/FUSE): ``.<name>.<random>.partial`` is created in
  the same folder and renamed over the final name with ``os.replace`` (atomic on POSIX). The
  temporary file is created with mode 0666 and the process umask applied by the kernel, so the
  result has the mode any ordinary write would give (0644 under umask 022), not ``mkstemp``'s
  0600. Parent folders are created.
* Object stores (s3, gs/gcs, az/abfs): the final key is written directly; an object becomes
  visible only when its upload completes (a single S3 ``PutObject`` below s3fs's multipart size,
  else ``CompleteMultipartUpload``; a finalised GCS upload; a committed Azure block list). The
  object's Content-Type is the format's (``frcrn.formats.content_type``), never the store's
  ``binary/octet-stream`` default.
* Any other fsspec filesystem: a temporary key, then ``fs.mv``.

Retries of transient storage errors are the caller's business (the bulk job wraps this in
``jobs.storage.atomic_write``).
"""

from __future__ import annotations

import contextlib
import os
import posixpath
import uuid
from collections.abc import Mapping
from typing import Any

import fsspec
from fsspec.implementations.local import LocalFileSystem

from .formats import content_type as _content_type_of

__all__ = ["OBJECT_STORES", "atomic_write", "is_remote", "is_url", "protocols"]

OBJECT_STORES = {"s3", "s3a", "gs", "gcs", "az", "abfs", "abfss", "adl"}


def is_url(location: str) -> bool:
    """A location with a scheme (``s3://``, ``memory://``, ``file://`` ...), which fsspec opens and
    which must be joined with ``/`` and never made absolute; anything else is a local path."""
    return "://" in location


def is_remote(location: str) -> bool:
    """A URL that is not on this machine: ``file://`` names a local path (normalise it as one)."""
    return is_url(location) and not location.startswith("file://")


def protocols(fs: fsspec.AbstractFileSystem) -> set[str]:
    return set(fs.protocol if isinstance(fs.protocol, (tuple, list)) else (fs.protocol,))


def atomic_write(location: str, data: bytes, content_type: str | None = None, *,
                 fs: fsspec.AbstractFileSystem | None = None,
                 storage_options: Mapping[str, Any] | None = None) -> None:
    """Write ``data`` to ``location`` atomically (see the module doc).

    ``location`` is a local path or fsspec URL, or, when ``fs`` is given, a path on that
    filesystem. ``content_type`` (object stores only) defaults to the one of the suffix.
    """
    if fs is None:
        fs, location = fsspec.core.url_to_fs(str(location), **dict(storage_options or {}))
    if isinstance(fs, LocalFileSystem):
        _local_atomic(location, data)
        return
    kind = content_type or _content_type_of(location)
    found = protocols(fs)
    if found & {"s3", "s3a"}:
        fs.pipe_file(location, data, ContentType=kind)
    elif found & {"gs", "gcs"}:
        fs.pipe_file(location, data, content_type=kind)
    elif found & OBJECT_STORES:
        fs.pipe_file(location, data)
    else:
        tmp = f"{posixpath.dirname(location)}/.{posixpath.basename(location)}.{uuid.uuid4().hex}.partial"
        fs.pipe_file(tmp, data)
        fs.mv(tmp, location)


def _local_atomic(path: str, data: bytes) -> None:
    directory = os.path.dirname(path) or "."
    os.makedirs(directory, exist_ok=True)
    tmp = os.path.join(directory, f".{os.path.basename(path)}.{uuid.uuid4().hex[:12]}.partial")
    # O_EXCL: a fresh file; 0o666: the kernel applies the umask, as for any ordinary file.
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), 0o666)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
