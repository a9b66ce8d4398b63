"""What ``frcrn-job run`` shows: the job's own lines on the console, everything else in a log file.

The console gets the job's progress and summary lines, warnings from the job's own loggers (one
line each, no traceback) and, at the end, one line saying how the run ended. Everything else
written by this process goes to a local log file (never under the output location, which may be
what is unreachable) whose path is printed first. ``--debug`` leaves all of it on the console
instead, tracebacks included.

Where Ray's own output goes, and the knob used for each (read from Ray 2.60's code):

* Ray's Python logging on the driver (the token-authentication notice ``ray.init`` prints for a
  new local cluster, "Started a local Ray instance", ...): the ``ray`` logger's handlers. Ray
  installs a stderr handler when it is imported, and ``ray.init(configure_logging=True)`` only
  re-formats the handlers it finds and sets their level, so they are swapped for the log file's
  before ``ray.init``. (``configure_logging=False`` would leave the logger with no handler at
  all, and Python's last-resort handler would print its warnings to stderr again.)
* Ray Data's logging (execution plans, "progress will be logged", progress dumps, stats): the
  documented ``RAY_DATA_LOGGING_CONFIG`` variable, pointed at a config like Ray's default one
  minus the console handler: everything goes to the session's ``logs/ray-data/ray-data.log``,
  warnings also to the job's log. It is read when ``ray.data`` is imported, so it is set before
  that; the processes of a local Ray started by this driver inherit it.
* Lines Ray prints itself rather than logs: the driver's error listener prints every error the
  cluster publishes for the job ("(raylet) Task ... failed ... Error: Traceback ...") with
  ``print`` to ``sys.stdout``, and with ``RAY_LOG_TO_DRIVER`` (Ray's default) the workers'
  output is printed to ``sys.stdout``/``sys.stderr`` too; Ray 2.60 has no setting to stop the
  listener. So, while the job runs, ``sys.stdout`` and ``sys.stderr`` are the log file and the
  job's own lines are written to the original console streams.
* Native (C++) log lines of the driver's core worker, e.g. the ``core_worker.cc`` error that an
  actor "has constructor arguments in the object store and max_restarts > 0" (Ray Data always
  passes its actors' arguments by reference, and the replicas need ``max_restarts``): written
  to file descriptor 2 besides Ray's own log files; ``RAY_BACKEND_LOG_LEVEL`` would drop them
  from Ray's own logs too (and be inherited by every Ray process started from here). So file
  descriptors 1 and 2 point at the log file while the job runs, and the job's own lines go to
  duplicates of the original descriptors.

Ray Data's own progress reporting (``ray.progress_bars``, default "auto") is on only when the
job's stdout is a terminal: :func:`stdout_is_terminal` answers for the console's stream, since
``sys.stdout`` is the log file while the job runs. Either way Ray Data decides from
``sys.stdout`` and, under ``frcrn-job run``, writes periodic dumps to its log rather than bars;
``ray job submit``, a pod or a pipe get neither. The job's own progress line (``jobs.progress``)
is a plain line on the console, whatever the stream is.
"""

from __future__ import annotations

import logging
import os
import sys
import tempfile
import time
from typing import Any, TextIO

import yaml

__all__ = ["JobConsole", "default_log_path", "stdout_is_terminal"]

_OWN_LOGGERS = ("frcrn", "jobs")
_lines = logging.getLogger("frcrn.job.console")  # INFO: to the log file only
_FILE_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(process)d]: %(message)s"
_RAY_DATA_FORMAT = "%(asctime)s\t%(levelname)s %(filename)s:%(lineno)s -- %(message)s"


_ACTIVE: list[JobConsole] = []
"""The consoles entered in this process and not yet left (at most one in practice)."""


def stdout_is_terminal() -> bool:
    """Whether the job's stdout is a terminal: the active console's (the stream the job's own
    lines go to) while a :class:`JobConsole` has sys.stdout pointed at the log file, else
    ``sys.stdout``'s."""
    return _ACTIVE[-1].terminal if _ACTIVE else _isatty(sys.stdout)


def _isatty(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, OSError, ValueError):
        return False


#: Default log files older than this are deleted when a new run starts.
LOG_MAX_AGE_DAYS = 30


def _log_dir() -> str:
    uid = os.getuid() if hasattr(os, "getuid") else 0
    path = os.path.join(tempfile.gettempdir(), f"frcrn-job-{uid}")
    os.makedirs(path, mode=0o700, exist_ok=True)
    return path


def _prune_old_logs(folder: str, max_age_days: float = LOG_MAX_AGE_DAYS) -> None:
    """Delete this folder's files untouched for ``max_age_days``: a machine that runs many jobs
    (or the test suite) would otherwise collect them forever where the temp dir is not cleared.
    Best effort: a file that vanishes or cannot be removed is left to the next run."""
    cutoff = time.time() - max_age_days * 86400
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return
    for entry in entries:
        try:
            if entry.is_file(follow_symlinks=False) and entry.stat(follow_symlinks=False).st_mtime < cutoff:
                os.unlink(entry.path)
        except OSError:
            pass


def default_log_path(job_id: str) -> str:
    """A local file per run: ``<temp dir>/frcrn-job-<uid>/<job id>.log`` (files of runs older than
    ``LOG_MAX_AGE_DAYS`` are deleted)."""
    folder = _log_dir()
    _prune_old_logs(folder)
    return os.path.join(folder, f"{job_id}.log")


class _OneLine(logging.Formatter):
    """``frcrn-job: warning: <first line of the message>`` -- no traceback on the console."""

    def format(self, record: logging.LogRecord) -> str:
        text = record.getMessage().strip().splitlines()
        return f"frcrn-job: {record.levelname.lower()}: {text[0] if text else ''}"


class JobConsole:
    """Context manager for one run of the command line (see the module docstring)."""

    def __init__(self, log_path: str, *, debug: bool = False) -> None:
        self.log_path, self.debug = log_path, debug
        self.out: TextIO = sys.stdout
        self.err: TextIO = sys.stderr
        self._file_handler: logging.Handler | None = None
        self._console_handler: logging.Handler | None = None
        self._saved: dict[str, Any] = {}
        self._opened: list[TextIO] = []
        self.terminal = _isatty(sys.stdout)
        """Whether the console (the original stdout) is a terminal; fixed at ``__enter__``."""

    # -- the job's own lines
    def echo(self, line: str) -> None:
        print(line, file=self.out, flush=True)
        _lines.info("%s", line)  # the log file tells the whole story too

    def error(self, line: str) -> None:
        print(line, file=self.err, flush=True)
        _lines.info("%s", line)

    # -- setup / teardown
    def __enter__(self) -> JobConsole:
        self.terminal = _isatty(sys.stdout)  # before sys.stdout becomes the log file
        os.makedirs(os.path.dirname(os.path.abspath(self.log_path)), exist_ok=True)
        self._file_handler = logging.FileHandler(self.log_path, encoding="utf-8")
        self._file_handler.setFormatter(logging.Formatter(_FILE_FORMAT))
        if not self.debug:
            self._redirect_output()
            self._route_ray_logging()
        self._setup_python_logging()
        _ACTIVE.append(self)
        return self

    def __exit__(self, *exc: Any) -> None:
        if self in _ACTIVE:
            _ACTIVE.remove(self)
        root = logging.getLogger()
        for handler in (self._file_handler, self._console_handler):
            if handler is not None:
                root.removeHandler(handler)
        if "root_level" in self._saved:
            root.setLevel(self._saved.pop("root_level"))
        logging.captureWarnings(False)
        if "ray_handlers" in self._saved:
            logging.getLogger("ray").handlers[:] = self._saved.pop("ray_handlers")
        if "ray_data_env" in self._saved:
            previous = self._saved.pop("ray_data_env")
            if previous is None:
                os.environ.pop("RAY_DATA_LOGGING_CONFIG", None)
            else:
                os.environ["RAY_DATA_LOGGING_CONFIG"] = previous
        self._restore_output()
        if self._file_handler is not None:
            self._file_handler.close()

    def _setup_python_logging(self) -> None:
        root = logging.getLogger()
        self._saved["root_level"] = root.level
        root.setLevel(logging.INFO)
        self._file_handler.setLevel(logging.INFO)
        root.addHandler(self._file_handler)
        console = logging.StreamHandler(self.err)
        console.setLevel(logging.WARNING)
        if self.debug:
            console.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
        else:
            console.addFilter(lambda record: record.name.split(".")[0] in _OWN_LOGGERS)
            console.setFormatter(_OneLine())
        root.addHandler(console)
        self._console_handler = console
        logging.captureWarnings(True)  # Python warnings (deprecations in libraries) -> the log

    def _route_ray_logging(self) -> None:
        if os.environ.get("RAY_DATA_LOGGING_CONFIG") is None:
            self._saved["ray_data_env"] = None
            os.environ["RAY_DATA_LOGGING_CONFIG"] = self._write_ray_data_config()
        import ray  # noqa: F401 - installs Ray's stderr handler on the "ray" logger, replaced here

        ray_logger = logging.getLogger("ray")
        self._saved["ray_handlers"] = list(ray_logger.handlers)
        ray_logger.handlers[:] = [self._file_handler]

    def _write_ray_data_config(self) -> str:
        config = {
            "version": 1,
            "disable_existing_loggers": False,
            "formatters": {"ray": {"format": _RAY_DATA_FORMAT}},
            "handlers": {
                "file": {"class": "ray.data._internal.logging.SessionFileHandler", "formatter": "ray",
                         "filename": "ray-data.log"},
                "job_log": {"class": "logging.FileHandler", "formatter": "ray", "level": "WARNING",
                            "filename": os.path.abspath(self.log_path), "delay": True},
            },
            "loggers": {"ray.data": {"level": "DEBUG", "handlers": ["file", "job_log"], "propagate": False}},
        }
        path = os.path.abspath(self.log_path) + ".ray-data-logging.yaml"
        with open(path, "w", encoding="utf-8") as f:
            yaml.safe_dump(config, f, sort_keys=False)
        return path

    def _redirect_output(self) -> None:
        """sys.stdout/sys.stderr and descriptors 1/2 -> the log; self.out/self.err -> the console."""
        self._saved["sys"] = (sys.stdout, sys.stderr)
        self.out = self._console_stream(sys.stdout, 1)
        self.err = self._console_stream(sys.stderr, 2)
        log_stream = open(  # noqa: SIM115 - open for the whole job; _restore_output closes it
            self.log_path, "a", buffering=1, encoding="utf-8", errors="backslashreplace")
        self._opened.append(log_stream)
        sys.stdout = sys.stderr = log_stream
        log_fd = os.open(self.log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        for fd in (1, 2):
            os.dup2(log_fd, fd)
        os.close(log_fd)

    def _console_stream(self, stream: TextIO, fd: int) -> TextIO:
        """Where the job's own lines go: a duplicate of the original descriptor when ``stream``
        writes to it, else ``stream`` itself (e.g. a test's capture object)."""
        stream.flush()
        self._saved[f"fd{fd}"] = os.dup(fd)
        if not _writes_to(stream, fd):
            return stream
        console = open(  # noqa: SIM115 - open for the whole job; _restore_output closes it
            os.dup(self._saved[f"fd{fd}"]), "w", buffering=1, encoding=stream.encoding or "utf-8",
            errors="backslashreplace", closefd=True)
        self._opened.append(console)
        return console

    def _restore_output(self) -> None:
        if "sys" not in self._saved:
            return
        for stream in (sys.stdout, sys.stderr, self.out, self.err):
            stream.flush()
        sys.stdout, sys.stderr = self._saved.pop("sys")
        for fd in (1, 2):
            saved = self._saved.pop(f"fd{fd}")
            os.dup2(saved, fd)
            os.close(saved)
        for stream in self._opened:
            stream.close()
        self._opened.clear()
        self.out, self.err = sys.stdout, sys.stderr


def _writes_to(stream: TextIO, fd: int) -> bool:
    try:
        return stream.fileno() == fd
    except (AttributeError, OSError, ValueError):
        return False
