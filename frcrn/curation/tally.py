"""Counts and hours of a selection, per choice and per rule, adding up to the rows and total hours.

Hours are the rows' lengths (:func:`frcrn.curation.manifest.row_seconds`); a row whose length the
manifest does not know (an input that could not be decoded) counts as 0 hours, and the table says
how many such rows there are.
"""

from __future__ import annotations

import pandas as pd

from .manifest import row_seconds
from .select import CHOICES

__all__ = ["format_tally", "tally"]

MAX_LABEL = 72


def tally(selected: pd.DataFrame) -> pd.DataFrame:
    """One row per (choice, rule) with ``rows``, ``hours`` and an ``example`` reason; choices in the
    order of ``CHOICES``, rules by hours within a choice. ``rows`` and ``hours`` sum to the totals."""
    hours = row_seconds(selected).fillna(0.0) / 3600.0
    frame = pd.DataFrame({"choice": selected["choice"].to_numpy(), "rule": selected["rule"].to_numpy(),
                          "hours": hours.to_numpy(), "reason": selected["reason"].to_numpy()})
    grouped = frame.groupby(["choice", "rule"], sort=False).agg(rows=("hours", "size"), hours=("hours", "sum"),
                                                                example=("reason", "first"))
    grouped = grouped.reset_index()
    grouped["order"] = grouped["choice"].map({c: i for i, c in enumerate(CHOICES)}).fillna(len(CHOICES))
    grouped = grouped.sort_values(["order", "hours", "rows", "rule"], ascending=[True, False, False, True])
    return grouped.drop(columns="order").reset_index(drop=True)


def _rule_label(rule: str, values: dict[str, str]) -> str:
    if rule == "enhanced":
        return "passed every rule"
    if rule.startswith("error:"):
        return f"error: {rule[len('error:'):]}"
    base, _, extra = rule.partition(" ")
    setting = values.get(base)
    return f"{base} = {setting}{' ' + extra if extra else ''}" if setting is not None else rule


def format_tally(table: pd.DataFrame, *, settings: dict[str, str] | None = None, unknown_length: int = 0) -> str:
    """The tally as a text table: each choice's rules, a subtotal per choice, and the total.

    ``settings`` maps a rule's policy key to its value, shown beside it (``drop.min_duration_s = 1``)."""
    settings = settings or {}
    choices = [c for c in CHOICES if c in set(table["choice"])] + sorted(set(table["choice"]) - set(CHOICES))
    labels = {rule: _rule_label(rule, settings)[:MAX_LABEL] for rule in table["rule"]}
    width = max([len("rule"), len("(all enhanced)"), *map(len, labels.values())])

    def line(choice: str, label: str, rows: object, hours: object) -> str:
        return f"{choice:<9} {label:<{width}} {rows:>9} {hours:>10}"

    lines = [line("choice", "rule", "rows", "hours")]
    for choice in choices:
        part = table[table["choice"] == choice]
        lines += [line(choice, labels[r["rule"]], f"{r['rows']:,d}", f"{r['hours']:.3f}") for _, r in part.iterrows()]
        if len(part) > 1:
            lines.append(line(choice, f"(all {choice})", f"{part['rows'].sum():,d}", f"{part['hours'].sum():.3f}"))
    lines.append(line("total", "", f"{int(table['rows'].sum()):,d}", f"{table['hours'].sum():.3f}"))
    if unknown_length:
        lines.append(f"({unknown_length:,d} row(s) of unknown length count as 0 hours)")
    return "\n".join(lines)
