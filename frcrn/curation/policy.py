"""The selection policy: which rows of a results manifest to keep, and which version of each.

A policy is data (``configs/select_default.yaml`` is a commented example), loaded by
:func:`load_policy` from a YAML file and/or ``key=value`` overrides with :mod:`frcrn.config`, so
a misspelt key or a wrong type is one :class:`~frcrn.config.ConfigError` naming the dotted key.

The rules, in the order they apply (the first that matches decides the row):

1. **errors**: a row whose ``status`` is not ``ok`` is ``dropped``; its reason is its ``error_type``.
2. **drop thresholds** (``drop.*``, in the order of :class:`DropRules`): ``min_X`` drops a row
   whose column ``X`` is below the value, ``max_X`` one whose ``X`` is above it (``duration_s`` is
   the row's length: the segment, else the recording). A row whose ``X`` is null cannot be judged:
   ``missing: drop`` (default) drops it, ``missing: keep`` lets it pass.
3. **drop_where**: pandas query expressions over the row's columns (``duration_s`` included), in
   order; a row for which one is true is dropped.
4. **fallback**: ``fallback_if_ovrl_drop: X`` chooses the ``original`` when
   ``dnsmos_ovrl_out < dnsmos_ovrl_in - X`` (enhancement made it worse by more than X);
   ``fallback_if_sig_drop`` likewise with DNSMOS SIG. A row missing either value keeps its
   enhanced version.
5. everything else: ``enhanced``.

A threshold or fallback on a column that is null in every ok row (e.g. DNSMOS not computed) is
an error naming the column and the setting that fills it, never a silent pass.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from frcrn.config import ConfigError, InvalidSettings, load_typed

__all__ = ["DropRules", "InvalidPolicy", "Policy", "Threshold", "load_policy"]


class InvalidPolicy(InvalidSettings):
    what = "selection policy"


@dataclass(frozen=True)
class DropRules:
    """Thresholds that drop a row; null = not applied. ``min_X``/``max_X`` test column ``X``."""

    min_duration_s: float | None = None
    """Rows shorter than this (seconds; the segment, else the recording)."""
    max_duration_s: float | None = None
    """Rows longer than this."""
    min_level_in_dbfs: float | None = None
    """Near-silent inputs (RMS level, dBFS)."""
    max_clip_fraction_in: float | None = None
    """Inputs with more than this fraction of clipped samples (0..1)."""
    min_speech_ratio_in: float | None = None
    """Inputs with less than this fraction of speech (0..1)."""
    min_snr_db_in: float | None = None
    """Inputs noisier than this (estimated SNR, dB)."""
    min_bandwidth_hz_in: float | None = None
    """Band-limited inputs (e.g. 3400 Hz telephone speech)."""
    min_dnsmos_ovrl_in: float | None = None
    """Inputs too poor to be worth keeping even enhanced (DNSMOS OVRL, 1..5)."""
    max_clip_fraction_out: float | None = None
    """Outputs with more than this fraction of clipped samples."""
    min_dnsmos_sig_out: float | None = None
    """Outputs whose speech is distorted (DNSMOS SIG of the enhanced audio)."""
    min_dnsmos_ovrl_out: float | None = None
    """Outputs of poor overall quality (DNSMOS OVRL of the enhanced audio)."""

    def __post_init__(self) -> None:
        problems = []
        if None not in (self.min_duration_s, self.max_duration_s) and self.min_duration_s > self.max_duration_s:
            problems.append(("min_duration_s", f"{self.min_duration_s:g} is above max_duration_s "
                                               f"{self.max_duration_s:g}: no row could pass"))
        for name in ("max_clip_fraction_in", "max_clip_fraction_out", "min_speech_ratio_in"):
            value = getattr(self, name)
            if value is not None and not 0.0 <= value <= 1.0:
                problems.append((name, f"must be a fraction in [0, 1], got {value:g}"))
        if problems:
            raise InvalidPolicy(problems)

    def thresholds(self) -> list[Threshold]:
        """The thresholds that are set, in the order they apply."""
        out = []
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if value is not None:
                bound, column = f.name.split("_", 1)
                out.append(Threshold(f"drop.{f.name}", column, bound == "min", value))
        return out


@dataclass(frozen=True)
class Threshold:
    key: str
    """The policy key (``drop.min_dnsmos_ovrl_out``): also the row's ``rule``."""
    column: str
    is_min: bool
    value: float


@dataclass(frozen=True)
class Policy:
    drop: DropRules = field(default_factory=DropRules)
    drop_where: tuple[str, ...] = ()
    """pandas query expressions (``DataFrame.eval`` syntax) over the row's columns and
    ``duration_s``: a row for which one is true is dropped, e.g. ``"bandwidth_hz_in < 4000 and
    dnsmos_sig_in < 2.5"``. A null compares as false."""
    missing: Literal["drop", "keep"] = "drop"
    """A row whose value for a set ``drop`` threshold is null: drop it, or let it pass."""
    fallback_if_ovrl_drop: float | None = None
    """Choose the original when ``dnsmos_ovrl_out < dnsmos_ovrl_in - X``; null = never."""
    fallback_if_sig_drop: float | None = None
    """Choose the original when ``dnsmos_sig_out < dnsmos_sig_in - X``; null = never."""

    def __post_init__(self) -> None:
        problems = [(name, f"must be 0 or more (a drop in DNSMOS points), got {value:g}")
                    for name in ("fallback_if_ovrl_drop", "fallback_if_sig_drop")
                    if (value := getattr(self, name)) is not None and value < 0]
        problems += [(f"drop_where[{i}]", "is empty") for i, expr in enumerate(self.drop_where) if not expr.strip()]
        if problems:
            raise InvalidPolicy(problems)

    def fallbacks(self) -> list[tuple[str, str, str, float]]:
        """(policy key, column in, column out, allowed drop) of each fallback that is set."""
        pairs = (("fallback_if_ovrl_drop", "dnsmos_ovrl"), ("fallback_if_sig_drop", "dnsmos_sig"))
        return [(key, f"{base}_in", f"{base}_out", getattr(self, key)) for key, base in pairs
                if getattr(self, key) is not None]


def load_policy(path: str | None = None, overrides: Sequence[str] | Mapping[str, Any] = ()) -> Policy:
    """A policy from a YAML file (None: the defaults) with ``key.sub=value`` overrides on top.

    Raises :class:`~frcrn.config.ConfigError` (one line naming the dotted key)."""
    try:
        return load_typed(Policy, path, overrides if isinstance(overrides, Mapping) else list(overrides))
    except ConfigError as err:
        raise ConfigError(f"selection policy: {err}") from None
