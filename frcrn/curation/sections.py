"""The report's sections, each from the results frame (plus the selection, when there is one) to
HTML and the figures it shows. Every figure has a legend under it saying what is counted.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from . import figures
from .manifest import METRICS, Metric, numeric
from .page import Raw, esc, figure, table

__all__ = ["Figure", "Ranking", "errors", "hurt", "metrics", "present", "ranking", "selection", "slice_label",
           "summary", "thresholds"]

RANKING_ORDER = ("dnsmos_ovrl", "snr_db", "level")
"""What "hurt by enhancement" is measured by: the first of these the manifest has."""


@dataclass(frozen=True)
class Figure:
    name: str
    """File stem for ``--png``."""
    png: bytes
    alt: str
    legend: str

    def html(self) -> str:
        return figure(self.png, self.alt, self.legend)


@dataclass(frozen=True)
class Ranking:
    metric: Metric
    change: pd.Series
    """out − in per row (NaN where not known); lowest = most hurt."""


def _fmt(value: float, digits: int = 3) -> str:
    return "–" if value is None or not np.isfinite(value) else f"{value:.{digits}g}"


def _hours(value: float) -> str:
    return f"{value:,.2f}"


def slice_label(row: pd.Series) -> str:
    """``[12.5–17.5 s]`` for a segment row, ``""`` for a whole file."""
    offset, duration = row.get("segment_offset_s"), row.get("segment_duration_s")
    if offset is None or pd.isna(offset):
        return "" if duration is None or pd.isna(duration) else f"[0–{duration:g} s]"
    end = "end" if duration is None or pd.isna(duration) else f"{offset + duration:g}"
    return f"[{offset:g}–{end} s]"


def present(frame: pd.DataFrame, ok: pd.Series) -> tuple[list[Metric], list[Metric]]:
    """(metrics with a value in some ok row, metrics with none)."""
    have = [m for m in METRICS if numeric(frame, m.column_in)[ok].notna().any()
            or numeric(frame, m.column_out)[ok].notna().any()]
    return have, [m for m in METRICS if m not in have]


def summary(frame: pd.DataFrame, seconds: pd.Series, ok: pd.Series, absent: list[Metric]) -> str:
    hours = seconds.fillna(0) / 3600
    segments = numeric(frame, "segment_offset_s").notna() | numeric(frame, "segment_duration_s").notna()
    rows = [
        ("rows (manifest lines)", f"{len(frame):,d}", _hours(hours.sum()) + " h"),
        ("recordings (distinct input_uri)", f"{frame['input_uri'].nunique():,d}", ""),
        ("segment rows", f"{int(segments.sum()):,d}", _hours(hours[segments].sum()) + " h"),
        ("ok", f"{int(ok.sum()):,d}", _hours(hours[ok].sum()) + " h"),
        ("error", f"{int((~ok).sum()):,d}", _hours(hours[~ok].sum()) + " h"),
    ]
    body = table(["", "rows", "hours"], rows, numeric=[1, 2])
    facts = []
    for column, label in (("job_id", "job runs"), ("model_id", "models")):
        if column in frame.columns:
            values = [v for v in frame[column].dropna().astype(str).unique() if v][:3]
            facts.append(f"{label}: {esc(', '.join(values)) or '–'}")
    by_setting: dict[str, list[str]] = {}
    for m in absent:
        by_setting.setdefault(m.setting, []).append(m.label)
    for setting, labels in by_setting.items():
        facts.append(f"not in these results (no value in any ok row): {esc(', '.join(labels))}; "
                     f"filled by {esc(setting)}")
    unknown = int(seconds.isna().sum())
    if unknown:
        facts.append(f"{unknown:,d} row(s) of unknown length (inputs that could not be decoded) count as 0 hours")
    return body + "".join(f'<p class="legend">{f}</p>' for f in facts)


def metrics(frame: pd.DataFrame, hours: pd.Series, have: list[Metric]) -> tuple[str, list[Figure]]:
    figs = []
    for m in have:
        png = figures.metric_figure(m, numeric(frame, m.column_in), numeric(frame, m.column_out), hours)
        legend = (f'Left: hours of ok rows per {esc(m.axis)} bin, <span class="in">input</span> '
                  f'({esc(m.column_in)}) and <span class="out">output</span> ({esc(m.column_out)}) overlaid. '
                  f"Right: hours per change of the same row (out − in); dashed line: the median change. "
                  "Values beyond the 0.5–99.5 % span are counted in the edge bins.")
        figs.append(Figure(f"metric_{m.name}", png, f"{m.label}: input vs output histograms", legend))
    body = "".join(f"<h3>{esc(m.label)}</h3>{f.html()}" for m, f in zip(have, figs))
    return body or "<p>No measurement columns have values.</p>", figs


def thresholds(frame: pd.DataFrame, hours: pd.Series, have: list[Metric]) -> tuple[str, list[Figure]]:
    judged = [m for m in have if m.higher_is_better is not None]
    if not judged:
        return "<p>No measurement with a better direction (DNSMOS, SNR, speech ratio, clipping).</p>", []
    figs = []
    for start in range(0, len(judged), 3):
        group = judged[start:start + 3]
        png = figures.threshold_figure(group, frame, hours)
        legend = ("Hours of ok rows that a threshold t would keep: value ≥ t (value ≤ t for the clipped "
                  'fraction), measured on the <span class="in">input</span> and on the '
                  '<span class="out">output</span>. Read a policy threshold off the curve of the column '
                  "it tests (e.g. drop.min_dnsmos_ovrl_out on the output curve of DNSMOS OVRL).")
        figs.append(Figure(f"hours_by_threshold_{start // 3 + 1}", png, "hours kept per threshold", legend))
    return "".join(f.html() for f in figs), figs


def selection(counts: pd.DataFrame | None, note: str) -> tuple[str, list[Figure]]:
    if counts is None:
        return f"<p>{note}</p>", []
    rows = [(r["choice"], r["rule"], f"{int(r['rows']):,d}", _hours(r["hours"]), r["example"])
            for _, r in counts.iterrows()]
    rows.append(("total", "", f"{int(counts['rows'].sum()):,d}", _hours(counts["hours"].sum()), ""))
    png = figures.selection_figure(counts)
    fig = Figure("selection", png, "hours per choice",
                 "Hours per choice of selected.parquet; shades: the rules that decided, largest first. "
                 "The table lists every rule; rows and hours add up to the totals.")
    return f"<p>{note}</p>" + fig.html() + table(["choice", "rule", "rows", "hours", "example reason"], rows,
                                                 numeric=[2, 3]), [fig]


def errors(frame: pd.DataFrame, seconds: pd.Series, ok: pd.Series) -> str:
    failed = frame[~ok]
    if failed.empty:
        return "<p>No error rows.</p>"
    kinds = failed["error_type"].fillna("").replace("", "(no type)") if "error_type" in failed else \
        pd.Series("(no type)", index=failed.index)
    rows = []
    for kind, group in failed.groupby(kinds, sort=False):
        examples = "".join(f"<li><code>{esc(r['input_uri'])}</code>: {esc(str(r.get('error_message') or '')[:300])}"
                           "</li>" for _, r in group.head(3).iterrows())
        rows.append((kind, f"{len(group):,d}", _hours(seconds[group.index].fillna(0).sum() / 3600),
                     Raw(f"<ul>{examples}</ul>")))
    rows.sort(key=lambda r: -int(r[1].replace(",", "")))
    return table(["error_type", "rows", "hours", "examples (first 3)"], rows, numeric=[1, 2])


def ranking(frame: pd.DataFrame, ok: pd.Series, have: list[Metric]) -> Ranking | None:
    """Change per ok row in the first metric of RANKING_ORDER the manifest has."""
    by_name = {m.name: m for m in have}
    for name in RANKING_ORDER:
        m = by_name.get(name)
        if m is None:
            continue
        change = (numeric(frame, m.column_out) - numeric(frame, m.column_in)).where(ok)
        if change.notna().any():
            return Ranking(m, change)
    return None


def hurt(frame: pd.DataFrame, rank: Ranking | None, choice: pd.Series | None, n: int = 10) -> str:
    if rank is None:
        return "<p>No measurement on both input and output (DNSMOS, SNR or level) to rank by.</p>"
    m = rank.metric
    worst = rank.change[rank.change < 0].sort_values(kind="stable").head(n)
    if worst.empty:
        return f"<p>No ok row has a lower {esc(m.label)} after enhancement than before.</p>"
    rows = []
    for i, change in worst.items():
        r = frame.loc[i]
        rows.append((r["input_uri"], slice_label(r), _fmt(r.get(m.column_in)), _fmt(r.get(m.column_out)),
                     f"{change:+.3g}") + ((choice[i],) if choice is not None else ()))
    headers = ["input", "slice", m.column_in, m.column_out, "change"] + (["choice"] if choice is not None else [])
    legend = (f"The {len(rows)} ok rows whose {esc(m.label)} fell most (out − in, lowest first; only rows "
              "that got worse)"
              + ("; DNSMOS is not in these results, so they are ranked by " + esc(m.label) if
                 not m.name.startswith("dnsmos") else "") + ".")
    return table(headers, rows, numeric=[2, 3, 4], uri=[0]) + f'<p class="legend">{legend}</p>'

