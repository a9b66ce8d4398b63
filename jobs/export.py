"""``frcrn job export OUTPUT_URI --to FORMAT [--where EXPR] [-o DEST]``: a finished job's results
as a corpus manifest (NeMo, lhotse, Kaldi, Hugging Face) pointing at the enhanced audio.

Thin on purpose: read ``<OUTPUT_URI>/_manifest/results.parquet`` (every column, integers with
gaps kept as integers), keep the rows ``--where`` selects (``DataFrame.query`` syntax, default
``status == 'ok'``), and hand them to ``frcrn.corpus.writers.write_corpus``. The default
destination is ``<OUTPUT_URI>/_manifest/export/<FORMAT>/``; for ``hf-audiofolder`` it is
``OUTPUT_URI`` itself, the folder every output file lies below (its ``metadata.csv`` must sit
above the files it names).

Failures are one line each, with the job's exit statuses: a bad ``--where`` (syntax, unknown
column, not a condition), a missing or unreadable results manifest, or rows the format cannot
describe (``error`` rows, segments for ``hf-audiofolder``, duplicate ids) exit 2; a selection
of no rows exits 4 and writes nothing; a storage failure exits 5.
"""

from __future__ import annotations

import io
from collections import Counter
from collections.abc import Mapping
from typing import Any

import fsspec
import numpy as np
import pandas as pd

from frcrn.corpus.writers import ExportError, write_corpus
from frcrn.corpus.writers.rows import is_url, normalise
from jobs.errors import NothingToExport, SpecError, first_line, storage_step

__all__ = ["DEFAULT_WHERE", "RESULTS", "default_dest", "export", "read_results", "select"]

DEFAULT_WHERE = "status == 'ok'"
RESULTS = "_manifest/results.parquet"


def default_dest(output_uri: str, to: str) -> str:
    return output_uri if to == "hf-audiofolder" else f"{output_uri.rstrip('/')}/_manifest/export/{to}"


def read_results(output_uri: str, storage_options: Mapping[str, Any]) -> pd.DataFrame:
    """The whole results table of the job whose ``output.uri`` is ``output_uri``. Nullable
    dtypes: an integer column with gaps stays integer, so it is exported as written."""
    path = f"{output_uri}/{RESULTS}"
    options = dict(storage_options) if is_url(output_uri) else {}
    with storage_step("OUTPUT_URI", output_uri, options, "reading the results manifest"):
        fs, fs_path = fsspec.core.url_to_fs(path, **options)
        if not fs.exists(fs_path):
            raise SpecError(f"no results manifest at {path}: OUTPUT_URI must be a job's output.uri "
                            "where `frcrn job run` has finished")
        data = fs.cat_file(fs_path)
    try:
        return pd.read_parquet(io.BytesIO(data), dtype_backend="numpy_nullable")
    except Exception as err:  # any reason it is not our Parquet: one line
        raise SpecError(f"{path}: not a readable results manifest ({type(err).__name__}: {first_line(err)})") from None


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


def export(output_uri: str, to: str, *, where: str = DEFAULT_WHERE, dest: str | None = None,
           storage_options: Mapping[str, Any] | None = None) -> str:
    """Export the job's results as ``to``; returns the line to print. Raises JobFailed subclasses
    (SpecError, NothingToExport, StorageFailure) with one-line messages."""
    root = normalise(output_uri)
    options = dict(storage_options or {})
    results = read_results(root, options)
    chosen = select(results, where)
    if chosen.empty:
        statuses = ", ".join(f"{k} {v}" for k, v in Counter(str(s) for s in results.get("status", [])).items())
        raise NothingToExport(f"--where {where!r} selects none of the {len(results)} rows"
                              f"{f' (status: {statuses})' if statuses else ''}; nothing exported")
    target = normalise(dest or default_dest(root, to))
    try:
        with storage_step("DEST", target, options if is_url(target) else {}, f"writing the {to} export"):
            summary = write_corpus(chosen, to, target, storage_options=options, root=root)
    except ExportError as err:
        raise SpecError(f"--to {to}: {err}") from None
    return (f"exported {summary.rows} rows ({summary.recordings} recordings, {summary.hours:.2f} h) "
            f"as {to} to {summary.dest}")
