"""Before/after players: which rows to listen to, and their clips side by side.

Picked among ok rows, by the report's ranking (the change in DNSMOS OVRL, else SNR, else level):
the few most hurt first (what a fallback threshold decides on), then rows spread evenly over the
rest of the ranking, from worse to better, so one listens across the whole range. Without a
ranking, the first ok rows in manifest order. Each player is the row's slice of the input and of
the output, its first ``CLIP_SECONDS`` at most; a clip that cannot be read is a note, not a
failed report.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from .clips import CLIP_SECONDS, audio_data_uri, read_slice
from .page import esc
from .sections import Ranking, slice_label

__all__ = ["pick", "players"]

MOST_HURT = 4


def pick(ok: pd.Series, rank: Ranking | None, n: int) -> list[Any]:
    """Index labels of the rows to play, in the order shown."""
    if n <= 0:
        return []
    if rank is None:
        return list(ok[ok].index[:n])
    order = list(rank.change.dropna().sort_values(kind="stable").index)
    head, rest = order[:min(MOST_HURT, n)], order[min(MOST_HURT, n):]
    spread = n - len(head)
    if spread >= len(rest):
        return head + rest
    positions = np.unique(np.round(np.linspace(0, len(rest) - 1, spread)).astype(int))
    return head + [rest[p] for p in positions]


def _clip(uri: Any, row: pd.Series, seconds: float, options: Mapping[str, Any]) -> str:
    """An <audio> element for the row's slice of ``uri``, or a note saying why there is none."""
    if not isinstance(uri, str) or not uri:
        return '<p class="note">no file</p>'
    try:
        samples = read_slice(uri, row.get("segment_offset_s"), row.get("segment_duration_s"),
                             max_seconds=seconds, storage_options=options)
        if samples.size == 0:
            return '<p class="note">the slice holds no audio</p>'
        return f'<audio controls preload="metadata" src="{audio_data_uri(samples)}"></audio>'
    except Exception as err:  # a missing or unreadable file is shown, the report goes on
        text = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        return f'<p class="note">cannot read {esc(uri)}: {esc(text[:200])}</p>'


def players(frame: pd.DataFrame, ok: pd.Series, rank: Ranking | None, *, n: int = 10,
            seconds: float = CLIP_SECONDS, storage_options: Mapping[str, Any] | None = None) -> str:
    chosen = pick(ok, rank, n)
    if not chosen:
        return "<p>No ok rows to listen to.</p>"
    options = dict(storage_options or {})
    parts = []
    for k, i in enumerate(chosen, 1):
        row = frame.loc[i]
        title = f"{k}. <code>{esc(row['input_uri'])}</code> {esc(slice_label(row))}"
        if rank is not None and np.isfinite(rank.change.get(i, np.nan)):
            m = rank.metric
            title += (f" — {esc(m.label)} {row[m.column_in]:.3g} → {row[m.column_out]:.3g} "
                      f"({rank.change[i]:+.3g})")
        parts.append(f"<h3>{title}</h3><div class=\"pair\"><span class=\"in\">input</span>"
                     f"<span class=\"out\">output</span>{_clip(row['input_uri'], row, seconds, options)}"
                     f"{_clip(row['output_uri'], row, seconds, options)}</div>")
    which = (f"the {min(MOST_HURT, len(chosen))} most hurt by {esc(rank.metric.label)}, then rows spread over the "
             "rest of the ranking from worse to better" if rank is not None else "the first ok rows")
    legend = (f"{len(chosen)} rows: {which}. Each plays the row's slice of the input and of the output, "
              f"its first {seconds:g} s at most, as 16 kHz mono FLAC.")
    return f'<p class="legend">{legend}</p>' + "".join(parts)
