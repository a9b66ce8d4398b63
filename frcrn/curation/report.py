"""The curation report: one self-contained HTML page about a job's output location.

:func:`build_report` reads ``<output_uri>/_manifest/results.parquet`` (and ``selected.parquet``
when it is there and matches the results row for row) and returns a :class:`Report`: the page
and its plots as PNG bytes. :func:`write_report` writes the page, and each plot as a PNG file
when asked, with :func:`frcrn.storage.atomic_write` (local paths or URLs).

Sections: run summary; selection (hours per choice and rule); each measurement's input and
output histograms and per-row change; hours kept per threshold; errors by type with three
example messages; the ten rows most hurt by enhancement; before/after players.

Size: the plots are a few hundred kB in all; each player is two clips of at most 10 s of 16 kHz
mono FLAC (≤ 320 kB each before base64's third), so ten players keep a page under 10 MB.
"""

from __future__ import annotations

import posixpath
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import pandas as pd

from ..storage import atomic_write
from . import listening, sections
from .clips import CLIP_SECONDS
from .manifest import SELECTED_NAME, ResultsMissing, manifest_uri, read_table, row_seconds
from .page import esc, page
from .sections import Figure
from .tally import tally

__all__ = ["Report", "build_report", "write_report"]


@dataclass(frozen=True)
class Report:
    html: str
    figures: list[Figure]


def _selection(output_uri: str, results: pd.DataFrame, options: Mapping[str, Any]) -> tuple[pd.DataFrame | None, str]:
    """(selected rows aligned with ``results``, or None; a sentence about it)."""
    uri = manifest_uri(output_uri, SELECTED_NAME)
    try:
        chosen = read_table(uri, dict(options), what="selection").to_pandas()
    except ResultsMissing:
        return None, (f"No selection: {esc(uri)} does not exist (make it with "
                      "<code>frcrn job select OUTPUT_URI --policy FILE</code>).")
    same = len(chosen) == len(results) and (chosen["input_uri"].to_numpy() == results["input_uri"].to_numpy()).all()
    if not same or "choice" not in chosen.columns:
        return None, (f"{esc(uri)} does not match results.parquet row for row ({len(chosen):,d} rows vs "
                      f"{len(results):,d}): the job ran again since; run <code>frcrn job select</code> again.")
    return chosen.set_axis(results.index), f"From {esc(uri)}."


def build_report(output_uri: str, storage_options: Mapping[str, Any] | None = None, *, players: int = 10,
                 clip_seconds: float = CLIP_SECONDS, title: str | None = None) -> Report:
    """The report of ``output_uri`` (see the module doc). Raises
    :class:`~frcrn.curation.manifest.ResultsMissing` when there is no results manifest."""
    options = dict(storage_options or {})
    frame = read_table(manifest_uri(output_uri), options).to_pandas()
    seconds = row_seconds(frame)
    hours = seconds / 3600
    ok = frame["status"].fillna("").astype(str).eq("ok")
    have, absent = sections.present(frame, ok)
    ok_hours = hours.where(ok, 0.0)
    chosen, note = _selection(output_uri, frame, options)
    counts = tally(chosen) if chosen is not None else None
    rank = sections.ranking(frame, ok, have)
    selection_html, selection_figs = sections.selection(counts, note)
    metrics_html, metric_figs = sections.metrics(frame, ok_hours, have)
    threshold_html, threshold_figs = sections.thresholds(frame.where(ok), ok_hours, have)
    parts = [
        ("summary", "Run summary", sections.summary(frame, seconds, ok, absent)),
        ("selection", "Selection", selection_html),
        ("metrics", "Measurements: input vs output", metrics_html),
        ("thresholds", "Hours kept per threshold", threshold_html),
        ("errors", "Errors by type", sections.errors(frame, seconds, ok)),
        ("hurt", "Most hurt by enhancement",
         sections.hurt(frame, rank, chosen["choice"] if chosen is not None else None)),
        ("listen", "Listen: before / after",
         listening.players(frame, ok, rank, n=players, seconds=clip_seconds, storage_options=options)),
    ]
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    subtitle = f"{esc(manifest_uri(output_uri))} · {len(frame):,d} rows · made {stamp}"
    html = page(title or f"Curation report: {output_uri}", subtitle, parts)
    return Report(html=html, figures=selection_figs + metric_figs + threshold_figs)


def write_report(report: Report, html_uri: str, png_dir: str | None = None,
                 storage_options: Mapping[str, Any] | None = None) -> list[str]:
    """Write the page to ``html_uri`` and, with ``png_dir``, each plot as ``<png_dir>/<name>.png``.
    Returns what was written."""
    options = dict(storage_options or {})
    atomic_write(html_uri, report.html.encode("utf-8"), "text/html; charset=utf-8", storage_options=options)
    written = [html_uri]
    for fig in report.figures if png_dir else ():
        uri = posixpath.join(str(png_dir), f"{fig.name}.png")
        atomic_write(uri, fig.png, "image/png", storage_options=options)
        written.append(uri)
    return written
