"""Job-level failures and the exit status each one means (the table is in ``jobs.cli``).

Per-file problems are never exceptions: they are error rows in the manifest. What is raised here
stops the job before or instead of producing a manifest, and its ``str()`` is ONE line a person
can act on: what failed, where (the config key and the URI or endpoint) and what to check.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit, urlunsplit

__all__ = [
    "EXIT_CONFIG",
    "EXIT_ERROR_ROWS",
    "EXIT_INTERNAL",
    "EXIT_NOTHING_PROCESSED",
    "EXIT_OK",
    "EXIT_READER_GONE",
    "EXIT_STORAGE",
    "EXIT_TEMPFAIL",
    "JobFailed",
    "LeaseHeld",
    "NothingToExport",
    "SpecError",
    "StorageFailure",
    "endpoint_of",
    "first_line",
    "quiet_when_reader_goes",
    "storage_failure_message",
    "storage_step",
]

EXIT_OK = 0                  # every input ok or skipped (done by an earlier run)
EXIT_INTERNAL = 1            # unexpected failure, or the execution failed (the manifest lists every input)
EXIT_CONFIG = 2              # bad config or input spec (config, manifest as a whole, checkpoint)
EXIT_ERROR_ROWS = 3          # finished, but error rows exist (job.fail_on_error_rows)
EXIT_NOTHING_PROCESSED = 4   # finished, but every input is an error row (export: no row selected)
EXIT_STORAGE = 5             # storage or network failure at the job level
EXIT_TEMPFAIL = 75           # EX_TEMPFAIL: another run holds this output location; retry later
EXIT_READER_GONE = 141       # 128 + SIGPIPE: stdout's reader closed it early (`frcrn info X | head`)


class JobFailed(RuntimeError):
    """The run could not start or complete. ``exit_code`` is what the command line returns."""

    exit_code = EXIT_INTERNAL


class SpecError(JobFailed):
    """The input spec or the model is unusable as a whole (manifest, checkpoint): fix and rerun."""

    exit_code = EXIT_CONFIG


class StorageFailure(JobFailed):
    """Storage or network failed at the job level (endpoint, bucket, permissions)."""

    exit_code = EXIT_STORAGE


class NothingToExport(JobFailed):
    """``frcrn job export``: the selection is empty, so nothing was written (an empty corpus would
    replace the last export with nothing and train on nothing)."""

    exit_code = EXIT_NOTHING_PROCESSED


class LeaseHeld(JobFailed):
    """Another live run is writing to this output location: retry when it has finished."""

    exit_code = EXIT_TEMPFAIL


def first_line(err: BaseException) -> str:
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__


_STORAGE_MODULES = ("botocore", "aiobotocore", "aiohttp", "s3fs", "gcsfs", "google", "azure", "adlfs",
                    "urllib3", "requests", "fsspec")
_UNREACHABLE = ("EndpointConnectionError", "ConnectTimeoutError", "ReadTimeoutError", "ClientConnectorError",
                "ServerDisconnectedError", "ConnectionError", "TimeoutError", "ProxyConnectionError")


def _chain(err: BaseException) -> list[BaseException]:
    out: list[BaseException] = []
    e: BaseException | None = err
    while e is not None and all(e is not seen for seen in out):
        out.append(e)
        e = e.__cause__ or e.__context__
    return out


def _is_storage_error(err: BaseException) -> bool:
    return any(isinstance(e, OSError) or type(e).__module__.split(".")[0] in _STORAGE_MODULES for e in _chain(err))


def _names(err: BaseException) -> set[str]:
    return {c.__name__ for e in _chain(err) for c in type(e).__mro__}


def endpoint_of(uri: str, storage_options: Mapping[str, Any]) -> str:
    """The endpoint a URI is read from, without any credentials embedded in the URL."""
    url = storage_options.get("endpoint_url") or (storage_options.get("client_kwargs") or {}).get("endpoint_url")
    protocol = uri.split("://", 1)[0] if "://" in uri else "file"
    if not url and protocol in ("s3", "s3a"):
        url = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
    if url:
        parts = urlsplit(str(url))
        return urlunsplit(parts._replace(netloc=parts.hostname + (f":{parts.port}" if parts.port else ""))) \
            if parts.hostname else str(url)
    return {"s3": "the default AWS S3 endpoint", "s3a": "the default AWS S3 endpoint",
            "gs": "Google Cloud Storage", "gcs": "Google Cloud Storage"}.get(protocol, f"{protocol} storage")


def _bucket(uri: str) -> str | None:
    if "://" not in uri or uri.startswith("file:"):
        return None
    return uri.split("://", 1)[1].split("/", 1)[0] or None


def storage_failure_message(err: BaseException, *, key: str, uri: str, storage_options: Mapping[str, Any],
                            doing: str) -> str | None:
    """One line naming the config key, the URI and endpoint, and what to check; None when ``err``
    is not a storage or network error."""
    if not _is_storage_error(err):
        return None
    names, detail = _names(err), f"{type(err).__name__}: {first_line(err)}"
    endpoint, bucket = endpoint_of(uri, storage_options), _bucket(uri)
    text = " ".join(str(e) for e in _chain(err)).lower()
    if "nosuchbucket" in text or "bucket does not exist" in text:
        return (f"{key} {uri}: the bucket {bucket!r} does not exist at {endpoint} (while {doing}); "
                f"create it or correct {key}")
    if names & set(_UNREACHABLE) or "could not connect" in text:
        return (f"{key} {uri}: cannot reach the storage endpoint {endpoint} while {doing} ({detail}); check "
                "the endpoint URL (storage_options.endpoint_url or $FRCRN_STORAGE_OPTIONS), that the service "
                "is up, and the network, DNS and proxy settings of this machine")
    if "PermissionError" in names or "accessdenied" in text or "forbidden" in text:
        return (f"{key} {uri}: access denied at {endpoint} while {doing} ({detail}); check the credentials "
                "(storage_options, AWS_*/GOOGLE_* variables or the node's role) and the bucket's policy")
    if "FileNotFoundError" in names:
        return f"{key} {uri}: not found at {endpoint} while {doing} ({detail})"
    return f"{key} {uri}: storage failure at {endpoint} while {doing} ({detail})"


@contextmanager
def storage_step(key: str, uri: str, storage_options: Mapping[str, Any], doing: str) -> Iterator[None]:
    """Turn a storage or network error raised inside into a one-line :class:`StorageFailure`
    (the original stays chained for the log); anything else passes through unchanged."""
    try:
        yield
    except JobFailed:
        raise
    except Exception as err:  # classified below; not ours: re-raised as it is
        message = storage_failure_message(err, key=key, uri=uri, storage_options=storage_options, doing=doing)
        if message is None:
            raise
        raise StorageFailure(message) from err


def quiet_when_reader_goes(main: Callable[[], int]) -> int:
    """Run a command's ``main``; when the reader of its stdout went away (``| head``, a closed
    pager), end with EXIT_READER_GONE and no traceback, as ``cat`` or ``ls`` would (killed by
    SIGPIPE: 128 + 13). Python ignores SIGPIPE and raises BrokenPipeError instead, at the write
    that found the pipe closed or at the final flush; stdout is pointed at /dev/null so that the
    interpreter's own flush at exit does not raise again."""
    try:
        status = main()
        sys.stdout.flush()
        return status
    except BrokenPipeError:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_READER_GONE
