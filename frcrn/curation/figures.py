"""The report's plots, drawn with matplotlib's object API on the Agg canvas (no pyplot state, no
display) and returned as PNG bytes: the page embeds them as base64, ``--png`` writes them as files.

Histograms count hours, not rows (a corpus is judged by how much audio it keeps); their range is
the 0.5-99.5 % span of the data, values beyond it are counted in the edge bins, so one absurd
value cannot squash the rest into a single bar.
"""

from __future__ import annotations

import io
from collections.abc import Sequence

import numpy as np
import pandas as pd

from .manifest import Metric

__all__ = ["IN_COLOUR", "OUT_COLOUR", "hours_passing", "metric_figure", "selection_figure", "threshold_figure"]

IN_COLOUR = "#d95f02"
OUT_COLOUR = "#1b9e77"
CHANGE_COLOUR = "#7570b3"
CHOICE_COLOURS = {"enhanced": OUT_COLOUR, "original": IN_COLOUR, "dropped": "#999999"}
DPI = 96


def _figure(width: float, height: float, panels: int = 1):
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:  # the report extra is not installed
        raise ImportError("the curation report draws with matplotlib: pip install 'frcrn[report]'") from None
    fig = Figure(figsize=(width, height), dpi=DPI)  # fixed margins: a layout engine doubles the drawing time
    FigureCanvasAgg(fig)
    fig.subplots_adjust(left=0.75 / width, right=1 - 0.2 / width, bottom=0.55 / height, top=1 - 0.35 / height,
                        wspace=0.25)
    return fig, fig.subplots(1, panels, squeeze=False)[0]


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI)
    return buf.getvalue()


def _span(*arrays: np.ndarray) -> tuple[float, float]:
    values = np.concatenate([a[np.isfinite(a)] for a in arrays])
    if values.size == 0:
        return 0.0, 1.0
    low, high = np.percentile(values, [0.5, 99.5])
    if high <= low:
        low, high = low - 0.5, high + 0.5
    return float(low), float(high)


def _bins(*arrays: np.ndarray) -> int:
    """10 to 40 bins: about twice the square root of the values, so a small set is not all gaps."""
    n = max(int(np.isfinite(a).sum()) for a in arrays)
    return int(np.clip(2 * np.sqrt(n), 10, 40))


def _hist(ax, values: np.ndarray, hours: np.ndarray, bins: np.ndarray, colour: str, label: str) -> None:
    keep = np.isfinite(values)
    counts, _ = np.histogram(np.clip(values[keep], bins[0], bins[-1]), bins=bins, weights=hours[keep])
    ax.stairs(counts, bins, fill=True, color=colour, alpha=0.45, label=label)  # one patch, not one per bin
    ax.stairs(counts, bins, color=colour, linewidth=1.5)


def metric_figure(metric: Metric, before: pd.Series, after: pd.Series, hours: pd.Series) -> bytes:
    """Left: hours per value, input and output overlaid. Right: hours per change (out - in)."""
    b, a, h = before.to_numpy(float), after.to_numpy(float), hours.fillna(0).to_numpy(float)
    fig, (left, right) = _figure(11, 3.2, 2)
    bins = np.linspace(*_span(b, a), _bins(b, a) + 1)
    if np.isfinite(b).any():
        _hist(left, b, h, bins, IN_COLOUR, f"input (n={int(np.isfinite(b).sum()):,d})")
    if np.isfinite(a).any():
        _hist(left, a, h, bins, OUT_COLOUR, f"output (n={int(np.isfinite(a).sum()):,d})")
    left.set(xlabel=metric.axis, ylabel="hours", title=f"{metric.label}: input vs output")
    left.legend(loc="upper left", fontsize=8)
    change = a - b
    if np.isfinite(change).any():
        _hist(right, change, h, np.linspace(*_span(change), _bins(change) + 1), CHANGE_COLOUR, "out − in")
        right.axvline(0.0, color="black", linewidth=0.8)
        right.axvline(float(np.nanmedian(change)), color=CHANGE_COLOUR, linestyle="--", linewidth=1,
                      label=f"median {np.nanmedian(change):+.3g}")
        right.legend(loc="upper left", fontsize=8)
    else:
        right.text(0.5, 0.5, "no row has both values", ha="center", va="center", transform=right.transAxes)
    right.set(xlabel=f"change in {metric.axis}", ylabel="hours", title=f"{metric.label}: per-row change")
    return _png(fig)


def hours_passing(values: np.ndarray, hours: np.ndarray, grid: np.ndarray, higher_is_better: bool) -> np.ndarray:
    """For each t in ``grid``: the hours of the rows whose value is ≥ t (``higher_is_better``) or
    ≤ t; rows without a value pass no threshold. O(n log n), whatever the grid."""
    keep = np.isfinite(values)
    order = np.argsort(values[keep], kind="stable")
    ordered = values[keep][order]
    cumulative = np.concatenate([[0.0], np.cumsum(hours[keep][order])])
    if higher_is_better:
        return cumulative[-1] - cumulative[np.searchsorted(ordered, grid, side="left")]
    return cumulative[np.searchsorted(ordered, grid, side="right")]


def threshold_figure(metrics: Sequence[Metric], frame: pd.DataFrame, hours: pd.Series) -> bytes:
    """One panel per metric: hours whose value passes a threshold t (≥ t, or ≤ t when lower is
    better), input and output, for t across the data's range."""
    fig, axes = _figure(min(11, 3.7 * len(metrics)), 3.0, len(metrics))
    h = hours.fillna(0).to_numpy(float)
    for ax, metric in zip(axes, metrics):
        b = pd.to_numeric(frame.get(metric.column_in), errors="coerce")
        a = pd.to_numeric(frame.get(metric.column_out), errors="coerce")
        arrays = [s.to_numpy(float) if s is not None else np.full(len(frame), np.nan) for s in (b, a)]
        grid = np.linspace(*_span(*arrays), 60)
        sign = "≥" if metric.higher_is_better else "≤"
        for values, colour, name in ((arrays[0], IN_COLOUR, "input"), (arrays[1], OUT_COLOUR, "output")):
            if not np.isfinite(values).any():
                continue
            ax.plot(grid, hours_passing(values, h, grid, bool(metric.higher_is_better)), color=colour, label=name)
        ax.set(xlabel=f"threshold t: {metric.axis}", ylabel=f"hours with value {sign} t", title=metric.label)
        ax.set_ylim(bottom=0)
        ax.legend(fontsize=8)
    return _png(fig)


def selection_figure(counts: pd.DataFrame) -> bytes:
    """Hours per choice, one bar each, split by rule."""
    fig, (ax,) = _figure(11, 2.6)
    choices = [c for c in CHOICE_COLOURS if c in set(counts["choice"])]
    for y, choice in enumerate(choices):
        left = 0.0
        part = counts[counts["choice"] == choice]
        for shade, (_, row) in enumerate(part.iterrows()):
            ax.barh(y, row["hours"], left=left, color=CHOICE_COLOURS[choice], edgecolor="white",
                    alpha=1.0 - 0.5 * shade / max(1, len(part)))
            left += row["hours"]
        ax.text(left, y, f"  {left:,.2f} h, {int(part['rows'].sum()):,d} rows", va="center", fontsize=9)
    ax.set_yticks(range(len(choices)), choices)
    ax.set(xlabel="hours", title="hours per choice (shades: the rules that decided, largest first)")
    ax.margins(x=0.25)
    return _png(fig)
