"""Selecting from a job's output location: read ``_manifest/results.parquet``, apply a policy,
write ``_manifest/selected.parquet`` (the results, every column and row order kept, plus
``choice``, ``chosen_uri``, ``reason`` and ``rule``) with :func:`frcrn.storage.atomic_write`.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from ..corpus.results import SELECTION_COLUMNS
from ..storage import atomic_write
from .manifest import SELECTED_NAME, CurationError, manifest_uri, read_table, row_seconds
from .policy import Policy
from .select import select
from .tally import format_tally, tally

__all__ = ["SELECTION_COLUMNS", "Selection", "policy_settings", "select_output"]


@dataclass(frozen=True)
class Selection:
    table: pa.Table
    """The results plus the selection columns, row for row."""
    counts: pd.DataFrame
    """:func:`frcrn.curation.tally.tally` of it."""
    text: str
    """The counts as a printable table."""
    uri: str | None
    """Where it was written (None: not written)."""


def policy_settings(policy: Policy) -> dict[str, str]:
    """Each rule key of ``policy`` that is set -> its value as text (for the tally's labels)."""
    out = {t.key: f"{t.value:g}" for t in policy.drop.thresholds()}
    out.update({f"drop_where[{i}]": expr for i, expr in enumerate(policy.drop_where)})
    out.update({key: f"{allowed:g}" for key, _, _, allowed in policy.fallbacks()})
    return out


def with_selection(results: pa.Table, policy: Policy) -> tuple[pa.Table, pd.DataFrame]:
    """``results`` (every column, types kept) plus the selection columns; and the frame they came from."""
    clash = [c for c in SELECTION_COLUMNS if c in results.column_names]
    if clash:
        raise CurationError(f"the results manifest already has column(s) {', '.join(clash)} (carried from the "
                            "input manifest); rename them there: the selection adds columns of these names")
    frame = results.to_pandas()
    chosen = select(frame, policy)
    table = results
    for name in SELECTION_COLUMNS:
        table = table.append_column(name, pa.array(chosen[name].to_numpy(dtype=object), type=pa.string()))
    return table, frame.assign(**{name: chosen[name] for name in SELECTION_COLUMNS})


def select_output(output_uri: str, policy: Policy, storage_options: Mapping[str, Any] | None = None, *,
                  write: bool = True) -> Selection:
    """Select from ``<output_uri>/_manifest/results.parquet`` and (``write``) write ``selected.parquet``
    beside it. Raises :class:`~frcrn.curation.manifest.CurationError` subclasses for a missing
    manifest or a policy this manifest cannot be judged by; storage errors pass through."""
    options = dict(storage_options or {})
    table, frame = with_selection(read_table(manifest_uri(output_uri), options), policy)
    counts = tally(frame)
    unknown = int(row_seconds(frame).isna().sum())
    text = format_tally(counts, settings=policy_settings(policy), unknown_length=unknown)
    uri = None
    if write:
        uri = manifest_uri(output_uri, SELECTED_NAME)
        buf = io.BytesIO()
        pq.write_table(table, buf, compression="zstd")
        atomic_write(uri, buf.getvalue(), storage_options=options)
    return Selection(table=table, counts=counts, text=text, uri=uri)
