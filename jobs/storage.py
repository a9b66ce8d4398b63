"""Storage I/O through fsspec: cached filesystems, batched reads, retried atomic writes.

Writes go through the library's one atomic write, ``frcrn.storage.atomic_write`` (local files:
a temporary file renamed into place, with the umask's mode; object stores: the final key with
its format's Content-Type; see that module): :func:`atomic_write` here only adds the job's
retries.

Transient errors (throttling, 5xx, timeouts, connection resets) are retried here with
exponential backoff, per object; permanent ones (missing object, access denied) are not.
"""

from __future__ import annotations

import functools
import json
import logging
import random
import time
from collections.abc import Callable
from typing import Any, TypeVar

import fsspec

from frcrn.storage import OBJECT_STORES
from frcrn.storage import atomic_write as _atomic_write
from jobs.errors import StorageFailure, endpoint_of, storage_step

__all__ = [
    "OBJECT_STORES",
    "atomic_write",
    "check_output_bucket",
    "describe_io_error",
    "fetch_many",
    "filesystem",
    "is_transient",
]

log = logging.getLogger(__name__)
T = TypeVar("T")

_PERMANENT = (FileNotFoundError, PermissionError, IsADirectoryError, NotADirectoryError, ValueError, TypeError)


@functools.lru_cache(maxsize=16)
def _cached_fs(protocol: str, options_json: str) -> fsspec.AbstractFileSystem:
    return fsspec.filesystem(protocol, **json.loads(options_json))


def filesystem(protocol: str, storage_options: dict[str, Any]) -> fsspec.AbstractFileSystem:
    """One filesystem object per (protocol, options) per process: workers reuse connections."""
    return _cached_fs(protocol, json.dumps(storage_options, sort_keys=True, default=str))


def is_transient(err: BaseException) -> bool:
    if isinstance(err, _PERMANENT):
        return False
    text = f"{type(err).__name__} {err}".lower()
    if any(s in text for s in ("nosuchbucket", "accessdenied", "invalidaccesskeyid", "signaturedoesnotmatch")):
        return False
    return isinstance(err, (OSError, TimeoutError, ConnectionError)) or any(
        s in text for s in ("timeout", "throttl", "slowdown", "slow down", "503", "500", "internalerror",
                            "connection", "reset", "temporar", "unavailable")
    )


def describe_io_error(err: BaseException, uri: str, verb: str = "read") -> tuple[str, str]:
    """(error_type, message for a person) for a storage failure."""
    if isinstance(err, FileNotFoundError):
        return "not_found", f"cannot {verb} {uri}: no such file or object"
    if isinstance(err, PermissionError):
        return "permission_denied", f"cannot {verb} {uri}: access denied ({err})"
    if isinstance(err, IsADirectoryError):
        return "not_a_file", f"cannot {verb} {uri}: it is a folder, not a file"
    kind = "read_error" if verb == "read" else "write_error"
    return kind, f"cannot {verb} {uri}: {type(err).__name__}: {err}"


def _with_retries(fn: Callable[[], T], retries: int, what: str) -> T:
    delay = 0.5
    for attempt in range(retries + 1):
        try:
            return fn()
        except Exception as err:  # classified below
            if attempt >= retries or not is_transient(err):
                raise
            log.warning("transient error on %s (attempt %d/%d): %s", what, attempt + 1, retries + 1, err)
            time.sleep(delay * (1 + random.random()))
            delay = min(delay * 2, 20.0)
    raise AssertionError("unreachable")  # pragma: no cover


def _range_not_satisfiable(err: BaseException) -> bool:
    # S3 answers a ranged GET of a 0-byte object with 416 InvalidRange (s3fs: OSError EINVAL).
    text = str(err).lower()
    return "not satisfiable" in text or "invalidrange" in text


def fetch_many(fs, paths: list[str], *, retries: int, max_bytes: int | None = None) -> list[bytes | BaseException]:
    """Read whole objects; one result per path, an exception object where a read failed.

    ``fs.cat`` with a list fetches concurrently on async filesystems (s3fs, gcsfs), which is
    what makes a batch of small audio files cheap on object stores.

    ``max_bytes``: read at most ``max_bytes + 1`` bytes of each object (one ranged GET), so an
    object over the limit is recognised by its length without ever being held whole in a
    worker's memory (a whole read of a mislabelled 50 GB file would get the read task killed
    by the OOM killer before ``limits.max_bytes`` could be checked). Callers treat a result
    longer than ``max_bytes`` as "too large".
    """
    if not paths:
        return []
    if max_bytes is not None:
        end = max_bytes + 1
        try:
            fetched = fs.cat_ranges(list(paths), [0] * len(paths), [end] * len(paths), on_error="return")
            got = dict(zip(paths, fetched))
        except Exception as err:  # whole-call failure: fall back to one by one
            got = {p: err for p in paths}

        def fetch_one(p: str) -> bytes:
            try:
                return fs.cat_file(p, start=0, end=end)
            except Exception as err:
                if _range_not_satisfiable(err):
                    return b""
                raise
    else:
        try:
            got = fs.cat(list(paths), on_error="return")
        except Exception as err:  # whole-call failure: fall back to one by one
            got = {p: err for p in paths}

        def fetch_one(p: str) -> bytes:
            return fs.cat_file(p)
    out: list[bytes | BaseException] = []
    for p in paths:
        value = got.get(p, got.get(fs._strip_protocol(p)) if hasattr(fs, "_strip_protocol") else None)
        if value is None:
            value = FileNotFoundError(p)
        if isinstance(value, BaseException) and max_bytes is not None and _range_not_satisfiable(value):
            value = b""  # an empty object, not an error (416 is only returned for empty ones here)
        if isinstance(value, BaseException) and is_transient(value) and retries > 0:
            try:
                value = _with_retries(lambda p=p: fetch_one(p), retries, p)
            except Exception as err:
                value = err
        out.append(value)
    return out


def atomic_write(fs, path: str, data: bytes, *, retries: int, content_type: str | None = None) -> None:
    """``frcrn.storage.atomic_write`` with retries: ``path`` holds its old content or all of ``data``."""
    _with_retries(lambda: _atomic_write(path, data, content_type, fs=fs), retries, path)


def check_output_bucket(out_loc: Any, fs, storage_options: dict[str, Any], key: str = "output.uri") -> None:
    """Raise StorageFailure (exit 5) when ``out_loc`` is on an object store whose bucket does not
    exist or cannot be reached; local and other locations pass."""
    if out_loc.protocol not in OBJECT_STORES:
        return
    bucket = out_loc.path.split("/", 1)[0]
    with storage_step(key, out_loc.uri, storage_options, "checking that the output bucket exists"):
        try:
            fs.info(bucket)  # not exists(): s3fs answers False for an unreachable endpoint too
            return
        except FileNotFoundError:
            pass
    raise StorageFailure(
        f"{key} {out_loc.uri}: the bucket {bucket!r} does not exist at "
        f"{endpoint_of(out_loc.uri, storage_options)}; create it or correct {key}")
