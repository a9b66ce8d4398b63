"""Applying a :class:`~frcrn.curation.policy.Policy` to a results manifest: one choice per row.

:func:`select` adds four columns to the results, row for row (the rules and their order are
in :mod:`frcrn.curation.policy`):

* ``choice``: ``enhanced``, ``original`` or ``dropped``;
* ``chosen_uri``: ``output_uri`` for enhanced, ``input_uri`` for original, ``""`` for dropped (a
  segment row's ``segment_offset_s``/``segment_duration_s`` still say which slice of it);
* ``reason``: a short phrase with the rule and the values (``dnsmos_ovrl_out 2.1 < 2.5``);
* ``rule``: the policy key that decided (``drop.min_dnsmos_ovrl_out``, ``drop_where[0]``,
  ``fallback_if_ovrl_drop``), ``error:<error_type>`` or ``enhanced``: what :func:`tally` groups by.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable

import numpy as np
import pandas as pd

from ..corpus.results import CHOICES
from .manifest import CurationError, computed_by, numeric, row_seconds
from .policy import Policy, Threshold

__all__ = ["CHOICES", "PASSED", "PolicyNotApplicable", "select", "selection_columns"]

PASSED = "passed every rule"


class PolicyNotApplicable(CurationError):
    """The policy tests something this manifest does not have (an all-null column, a bad expression)."""


def _num(value: float) -> str:
    return f"{value:.3g}" if math.isfinite(value) else str(value)


class _Decisions:
    """The choice, rule and reason of each row, filled rule by rule; the first rule to match wins."""

    def __init__(self, n: int) -> None:
        self.choice = np.full(n, "", dtype=object)
        self.rule = np.full(n, "", dtype=object)
        self.reason = np.full(n, "", dtype=object)

    @property
    def open(self) -> np.ndarray:
        return self.choice == ""

    def decide(self, mask: np.ndarray, choice: str, rule: str | np.ndarray,
               reason: str | Callable[[int], str]) -> None:
        """Rows in ``mask`` not yet decided get ``choice``, ``rule`` (one, or per row) and
        ``reason`` (one, or ``reason(row)``: phrases are made only for the rows decided here)."""
        rows = np.flatnonzero(self.open & mask)
        self.choice[rows] = choice
        self.rule[rows] = rule if isinstance(rule, str) else rule[rows]
        self.reason[rows] = reason if isinstance(reason, str) else [reason(i) for i in rows]


def _check_columns(results: pd.DataFrame, ok: np.ndarray, policy: Policy) -> None:
    """A rule on a column with no value in any ok row is an error, not a silent pass."""
    if not ok.any():
        return  # nothing to judge: every row is an error row
    wanted = [(t.key, t.column) for t in policy.drop.thresholds() if t.column != "duration_s"]
    for key, column_in, column_out, _ in policy.fallbacks():
        wanted += [(key, column_in), (key, column_out)]
    for key, column in wanted:
        if numeric(results, column)[ok].isna().all():
            state = "is not in" if column not in results.columns else "is null in every ok row of"
            raise PolicyNotApplicable(
                f"{key}: the column {column} {state} this results manifest, so the rule cannot judge any "
                f"row (it is filled by {computed_by(column)}); unset {key} ({key}=null) or rerun the job to fill it")


def _check_expression(frame: pd.DataFrame, ok: np.ndarray, index: int, expr: str) -> None:
    """A ``drop_where`` expression naming a column with no value in any ok row would silently
    never match (null compares as false): an error too."""
    if not ok.any():
        return
    code = re.sub(r"'[^']*'|\"[^\"]*\"", "", expr)  # names inside string literals are not columns
    for name in dict.fromkeys(re.findall(r"[A-Za-z_]\w*", code)):
        if name in frame.columns and frame[name][ok].isna().all():
            raise PolicyNotApplicable(
                f"drop_where[{index}] {expr!r}: the column {name} is null in every ok row of this results manifest, "
                f"so the expression can never be true (it is filled by {computed_by(name)}); remove it or rerun "
                "the job to fill it")


def _apply_threshold(decisions: _Decisions, values: pd.Series, t: Threshold, missing: str) -> None:
    v = values.to_numpy()
    fails = v < t.value if t.is_min else v > t.value
    op = "<" if t.is_min else ">"
    decisions.decide(fails, "dropped", t.key, lambda i: f"{t.column} {_num(v[i])} {op} {_num(t.value)}")
    if missing == "drop":
        need = f"{'≥' if t.is_min else '≤'} {_num(t.value)}"
        decisions.decide(np.isnan(v), "dropped", f"{t.key} (missing)", f"{t.column} missing (needs {need})")


def _apply_where(decisions: _Decisions, frame: pd.DataFrame, index: int, expr: str) -> None:
    key = f"drop_where[{index}]"
    try:
        hit = frame.eval(expr, engine="python")
    except Exception as err:  # any problem in a user's expression: one line naming it
        raise PolicyNotApplicable(f"{key} {expr!r} cannot be evaluated on this results manifest: "
                                  f"{type(err).__name__}: {err}".splitlines()[0]) from None
    if not isinstance(hit, pd.Series) or len(hit) != len(frame):
        raise PolicyNotApplicable(f"{key} {expr!r} must give true/false per row, got {type(hit).__name__}")
    filled = hit.fillna(False)
    if pd.api.types.infer_dtype(filled, skipna=False) != "boolean":  # numpy, nullable or object booleans
        raise PolicyNotApplicable(f"{key} {expr!r} must give true/false per row, got values of type {hit.dtype}")
    decisions.decide(filled.to_numpy(dtype=bool), "dropped", key, f"drop_where: {expr}")


def _apply_fallback(decisions: _Decisions, results: pd.DataFrame, key: str, col_in: str, col_out: str,
                    allowed: float) -> None:
    before, after = numeric(results, col_in).to_numpy(), numeric(results, col_out).to_numpy()
    worse = after < before - allowed
    decisions.decide(worse, "original", key,
                     lambda i: f"{col_out} {_num(after[i])} < {col_in} {_num(before[i])} - {_num(allowed)}")


def select(results: pd.DataFrame, policy: Policy) -> pd.DataFrame:
    """``choice``, ``chosen_uri``, ``reason`` and ``rule`` of each row of ``results`` (same index).

    Raises :class:`PolicyNotApplicable` for a rule that cannot judge this manifest."""
    n = len(results)
    status = results["status"].fillna("").astype(str).to_numpy() if n else np.array([], dtype=object)
    ok = status == "ok"
    _check_columns(results, ok, policy)
    decisions = _Decisions(n)
    error_type = results.get("error_type", pd.Series("", index=results.index)).fillna("").astype(str).to_numpy()
    error_reason = np.where(error_type != "", error_type, np.where(status != "", status, "no status"))
    decisions.decide(~ok, "dropped", np.char.add("error:", error_reason.astype(str)).astype(object),
                     lambda i: error_reason[i])
    seconds = row_seconds(results)
    for t in policy.drop.thresholds():
        values = seconds if t.column == "duration_s" else numeric(results, t.column)
        _apply_threshold(decisions, values, t, policy.missing)
    if policy.drop_where and n:
        frame = results if "duration_s" in results.columns else results.assign(duration_s=seconds)
        for i, expr in enumerate(policy.drop_where):
            _check_expression(frame, ok, i, expr)
            _apply_where(decisions, frame, i, expr)
    for key, col_in, col_out, allowed in policy.fallbacks():
        _apply_fallback(decisions, results, key, col_in, col_out, allowed)
    decisions.decide(np.ones(n, dtype=bool), "enhanced", "enhanced", PASSED)
    return selection_columns(results, decisions.choice, decisions.reason, decisions.rule)


def selection_columns(results: pd.DataFrame, choice: np.ndarray, reason: np.ndarray,
                      rule: np.ndarray) -> pd.DataFrame:
    """The four selection columns, ``chosen_uri`` derived from the choice."""
    chosen = np.where(choice == "enhanced", results["output_uri"].fillna("").astype(str).to_numpy(),
                      np.where(choice == "original", results["input_uri"].fillna("").astype(str).to_numpy(), ""))
    return pd.DataFrame({"choice": choice, "chosen_uri": chosen, "reason": reason, "rule": rule},
                        index=results.index).astype(str)
