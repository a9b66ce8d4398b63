"""``frcrn job export OUTPUT_URI --to FORMAT [--selection] [--where EXPR] [-o DEST]``: a finished
job's results as a corpus manifest (NeMo, lhotse, Kaldi, Hugging Face) pointing at the enhanced
audio, or (``--selection``) the curated corpus ``frcrn job select`` chose.

Thin on purpose: read ``<OUTPUT_URI>/_manifest/results.parquet`` (every column, integers with
gaps kept as integers), keep the rows ``--where`` selects (``DataFrame.query`` syntax, default
``status == 'ok'``), and hand them to ``frcrn.corpus.writers.write_corpus``. The default
destination is ``<OUTPUT_URI>/_manifest/export/<FORMAT>/``; for ``hf-audiofolder`` it is
``OUTPUT_URI`` itself, the folder every output file lies below (its ``metadata.csv`` must sit
above the files it names).

``--selection`` reads ``_manifest/selected.parquet`` beside the results: its ``dropped`` rows are
left out, ``--where`` applies to the rest (it may test ``choice``, ``rule``, ``reason`` too), and
an ``original`` row exports its input recording (``chosen_uri``, at its own rate and duration)
instead of the output; the writers decide that in one place (``frcrn.corpus.writers.rows``).
The selection must have been made from these very results: the same rows in the same order with
the same values in every results column. A selection whose results were rewritten since (the
job ran again, even over the same inputs: new ``finished_at``, ``job_id``, measurements) is
stale. The check compares contents, not file times, so a copy of the output location, or a run
that rewrote the results unchanged, keeps its selection usable. Originals are read (``hf``
only: the other formats name files) with ``input_storage_options``, default ``storage_options``.

Failures are one line each, with the job's exit statuses: a bad ``--where`` (syntax, unknown
column, not a condition), a missing or unreadable results manifest, a missing or stale selection
(the line says to run ``frcrn job select`` again), or rows the format cannot describe (``error``
rows, segments or originals for ``hf-audiofolder``, embedded originals for a format that names
files, duplicate ids) exit 2; a selection of no rows exits 4 and writes nothing; a storage
failure exits 5.
"""

from __future__ import annotations

import io
from collections import Counter
from collections.abc import Mapping
from typing import Any

import fsspec
import numpy as np
import pandas as pd

from frcrn.corpus.results import SELECTION_COLUMNS
from frcrn.corpus.writers import ExportError, write_corpus
from frcrn.corpus.writers.fields import plain
from frcrn.corpus.writers.rows import normalise
from frcrn.storage import is_remote
from jobs.errors import NothingToExport, SpecError, first_line, storage_step

__all__ = ["DEFAULT_WHERE", "RESULTS", "SELECTED", "default_dest", "export", "read_results", "read_selection",
           "select"]

DEFAULT_WHERE = "status == 'ok'"
RESULTS = "_manifest/results.parquet"
SELECTED = "_manifest/selected.parquet"


def default_dest(output_uri: str, to: str) -> str:
    return output_uri if to == "hf-audiofolder" else f"{output_uri.rstrip('/')}/_manifest/export/{to}"


def _read(output_uri: str, path: str, storage_options: Mapping[str, Any], doing: str) -> bytes | None:
    """The bytes of the manifest at ``path`` (below ``output_uri``); None when there is none."""
    options = dict(storage_options) if is_remote(output_uri) else {}
    with storage_step("OUTPUT_URI", output_uri, options, doing):
        fs, fs_path = fsspec.core.url_to_fs(path, **options)
        if not fs.exists(fs_path):
            return None
        return fs.cat_file(fs_path)


def _frame(data: bytes, path: str, what: str) -> pd.DataFrame:
    """Parquet as pandas with nullable dtypes: an integer column with gaps stays integer."""
    try:
        return pd.read_parquet(io.BytesIO(data), dtype_backend="numpy_nullable")
    except Exception as err:  # any reason it is not our Parquet: one line
        raise SpecError(f"{path}: not a readable {what} ({type(err).__name__}: {first_line(err)})") from None


def read_results(output_uri: str, storage_options: Mapping[str, Any]) -> pd.DataFrame:
    """The whole results table of the job whose ``output.uri`` is ``output_uri``."""
    path = f"{output_uri}/{RESULTS}"
    data = _read(output_uri, path, storage_options, "reading the results manifest")
    if data is None:
        raise SpecError(f"no results manifest at {path}: OUTPUT_URI must be a job's output.uri "
                        "where `frcrn job run` has finished")
    return _frame(data, path, "results manifest")


def read_selection(output_uri: str, storage_options: Mapping[str, Any], results: pd.DataFrame) -> pd.DataFrame:
    """``results`` plus the selection's columns (``choice``, ``chosen_uri``, ``reason``, ``rule``)
    from ``selected.parquet``, once it is known to have been made from exactly these results."""
    path = f"{output_uri}/{SELECTED}"
    again = f"run `frcrn job select {output_uri} --policy FILE` again"
    data = _read(output_uri, path, storage_options, "reading the selection")
    if data is None:
        raise SpecError(f"no selection at {path}: make one with `frcrn job select {output_uri} --policy FILE` "
                        "(or export without --selection)")
    try:
        selected = _frame(data, path, "selection")
    except SpecError as err:
        raise SpecError(f"{err}; {again}") from None
    problem = stale(selected, results)
    if problem:
        raise SpecError(f"{path} does not match results.parquet: {problem}; {again}")
    return results.assign(**{name: selected[name].to_numpy() for name in SELECTION_COLUMNS})


def stale(selected: pd.DataFrame, results: pd.DataFrame) -> str | None:
    """Why ``selected`` was not made from ``results`` (None: it was, row for row, value for value)."""
    lacking = [c for c in SELECTION_COLUMNS if c not in selected.columns]
    if lacking:
        return f"it has no {', '.join(lacking)} column(s), so `frcrn job select` did not write it"
    if len(selected) != len(results):
        return f"it has {len(selected)} rows and the results {len(results)}: the job ran again since the selection"
    columns = [c for c in selected.columns if c not in SELECTION_COLUMNS]
    if columns != list(results.columns):
        changed = sorted(set(columns) ^ set(results.columns)) or ["their order"]
        return f"its columns differ from the results' ({', '.join(changed[:3])}): the job ran again since the selection"
    moved = _first_difference(selected["input_uri"], results["input_uri"])
    if moved is not None:
        return (f"its row {moved} is {selected['input_uri'].iloc[moved]!r} but the results' is "
                f"{results['input_uri'].iloc[moved]!r}: the job ran again since the selection")
    for column in columns:
        if not selected[column].equals(results[column]):
            row = _first_difference(selected[column], results[column])
            where = f"first at row {row}" if row is not None else "its type"
            return (f"its {column} differs from the results' ({where}): the results were rewritten since the "
                    "selection (the job ran again)")
    return None


def _first_difference(a: pd.Series, b: pd.Series) -> int | None:
    """The first row whose values differ (missing values equal each other), None if none does."""
    return next((i for i, (x, y) in enumerate(zip(a.tolist(), b.tolist())) if plain(x) != plain(y)), None)


def select(results: pd.DataFrame, where: str) -> pd.DataFrame:
    """The rows ``where`` selects (``DataFrame.query`` semantics; a row where the condition is
    unknown, e.g. a comparison with a missing DNSMOS score, is not selected). An expression that
    does not evaluate to true/false per row is a SpecError naming it and the columns."""
    problem = None
    try:
        mask = results.eval(where, engine="python")
    except Exception as err:  # syntax, unknown name, bad operands: the user's expression
        problem = f"{type(err).__name__}: {first_line(err)}"
    else:
        if isinstance(mask, (bool, np.bool_)):
            mask = pd.Series(bool(mask), index=results.index)
        if not isinstance(mask, pd.Series) or not pd.api.types.is_bool_dtype(mask.dtype):
            problem = "it does not give true or false for each row"
    if problem:
        columns = ", ".join(str(c) for c in results.columns)
        raise SpecError(f"--where {where!r} is not a condition on the results: {problem}; columns: {columns}")
    return results[mask.fillna(False).astype(bool)]


def _counts(values: Any) -> str:
    return ", ".join(f"{k} {v}" for k, v in Counter(str(s) for s in values).items())


def _rows(results: pd.DataFrame, where: str, selection: bool) -> pd.DataFrame:
    """The rows to export: the selection's kept rows (with ``selection``), then ``where``'s."""
    kept = results[results["choice"] != "dropped"] if selection else results
    if kept.empty:
        raise NothingToExport(f"the selection drops all {len(results)} rows; nothing exported")
    chosen = select(kept, where)
    if chosen.empty:
        if selection:
            of, detail = f"the {len(kept)} rows the selection keeps", _counts(kept["choice"])
        else:
            statuses = _counts(results.get("status", []))
            of, detail = f"the {len(results)} rows", f"status: {statuses}" if statuses else ""
        raise NothingToExport(f"--where {where!r} selects none of {of}{f' ({detail})' if detail else ''}; "
                              "nothing exported")
    return chosen


def export(output_uri: str, to: str, *, where: str = DEFAULT_WHERE, dest: str | None = None,
           storage_options: Mapping[str, Any] | None = None, selection: bool = False,
           input_storage_options: Mapping[str, Any] | None = None) -> str:
    """Export the job's results (``selection``: its curated selection) as ``to``; returns the line
    to print. ``input_storage_options`` are for reading original recordings (default
    ``storage_options``). Raises JobFailed subclasses (SpecError, NothingToExport, StorageFailure)
    with one-line messages."""
    root = normalise(output_uri)
    options = dict(storage_options or {})
    results = read_results(root, options)
    if selection:
        results = read_selection(root, options, results)
    chosen = _rows(results, where, selection)
    target = normalise(dest or default_dest(root, to))
    try:
        with storage_step("DEST", target, options if is_remote(target) else {}, f"writing the {to} export"):
            summary = write_corpus(chosen, to, target, storage_options=options, root=root, selected=selection,
                                   input_storage_options=input_storage_options)
    except ExportError as err:
        raise SpecError(f"--to {to}: {err}") from None
    choices = f"{_counts(chosen['choice'])}; " if selection else ""
    return (f"exported {summary.rows} rows ({choices}{summary.recordings} recordings, {summary.hours:.2f} h)"
            f"{' of the selection' if selection else ''} as {to} to {summary.dest}")
