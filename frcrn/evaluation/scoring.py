"""Scoring evaluation items: enhance a chunk of them, score each before and after (intrusive
metrics against the reference, DNSMOS), and summarise the per-item rows (means per metric, per
noise family) as tables and text.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from .config import METRICS, EvalConfig
from .sets import Item

SUMMARY_COLUMNS = ("noisy", "enhanced", "improvement")


# ----------------------------------------------------------------------------- scoring


def _intrusive(which: Sequence[str], est: np.ndarray, ref: np.ndarray, notes: list[str], label: str
               ) -> dict[str, float]:
    from ..quality import metrics

    out = {}
    for name in which:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", metrics.MetricWarning)
            out[name] = getattr(metrics, name)(est, ref)
        notes.extend(f"{label}: {w.message}" for w in caught if issubclass(w.category, metrics.MetricWarning))
    return out


def _direct(enhancer, noisy: np.ndarray) -> np.ndarray:
    """The network alone on one whole item, exactly as training's validation
    (``frcrn.training.validation.validate``) runs it."""
    import torch

    x = torch.from_numpy(np.ascontiguousarray(noisy, dtype=np.float32))[None].to(enhancer.device)
    with torch.inference_mode():
        wav = enhancer.model(x).wav
    out = np.zeros_like(noisy, dtype=np.float32)
    y = wav[0].float().cpu().numpy()
    out[: min(y.size, out.size)] = y[: out.size]
    return out


def score_chunk(chunk: list[Item], enhancer, dnsmos, config: EvalConfig) -> list[dict[str, Any]]:
    rows, noisy_list, clean_list, live = [], [], [], []
    for item in chunk:
        row: dict[str, Any] = {"set": item.set, "item": item.item, **item.info, "duration_s": math.nan,
                               "error": "", "notes": ""}
        rows.append(row)
        try:
            noisy, clean = item.load()
            if clean is not None and clean.size != noisy.size:
                row["notes"] = (f"clean has {clean.size} samples, noisy {noisy.size}: both cut to the "
                                "shorter; ")
                n = min(clean.size, noisy.size)
                noisy, clean = noisy[:n], clean[:n]
            if noisy.size == 0:
                raise ValueError("empty audio")
            if not (np.isfinite(noisy).all() and (clean is None or np.isfinite(clean).all())):
                raise ValueError("audio contains NaN or Inf samples")
        except Exception as err:  # one unreadable file must not stop the evaluation
            row["error"] = f"{type(err).__name__}: {err}"
            continue
        row["duration_s"] = noisy.size / 16000
        noisy_list.append(noisy)
        clean_list.append(clean)
        live.append(row)
    if not live:
        return rows
    if config.path == "model":
        enhanced_list = [_direct(enhancer, x) for x in noisy_list]
    else:
        enhanced_list = enhancer.enhance_many(noisy_list)
    bad = [i for i, y in enumerate(enhanced_list) if not np.isfinite(y).all()]
    for i in reversed(bad):  # a broken model must not take the whole evaluation down
        live[i]["error"] = "enhanced output contains NaN or Inf samples"
        for seq in (live, noisy_list, clean_list, enhanced_list):
            del seq[i]
    for row, noisy, clean, enhanced in zip(live, noisy_list, clean_list, enhanced_list):
        notes: list[str] = []
        if clean is not None:
            for label, signal in (("noisy", noisy), ("enhanced", enhanced)):
                for name, value in _intrusive(config.metrics, signal, clean, notes, label).items():
                    row[f"{name}_{label}"] = value
        row["notes"] += "; ".join(notes)
    if dnsmos is not None:
        scored = [i for i, row in enumerate(live) if row["set"] in config.dnsmos_sets]
        for label, signals in (("noisy", noisy_list), ("enhanced", enhanced_list)):
            for i, scores in zip(scored, dnsmos.score_many([signals[i] for i in scored])):
                for key, value in scores.items():
                    live[i][f"dnsmos_{key}_{label}"] = value
    return rows


# ----------------------------------------------------------------------------- summary


def summarize(items: pd.DataFrame) -> pd.DataFrame:
    """Mean noisy, mean enhanced and their difference per metric, over items where both are finite.

    Index: the metric labels of :data:`METRICS` in that order (all of them; NaN when a metric was
    not computed). Columns: :data:`SUMMARY_COLUMNS`. ``attrs["count"]`` maps label -> items used.
    """
    data, counts = [], {}
    for stem, label in METRICS:
        a, b = f"{stem}_noisy", f"{stem}_enhanced"
        if a in items and b in items:
            noisy = pd.to_numeric(items[a], errors="coerce").to_numpy(dtype=float)
            enhanced = pd.to_numeric(items[b], errors="coerce").to_numpy(dtype=float)
            ok = np.isfinite(noisy) & np.isfinite(enhanced)
        else:
            noisy = enhanced = np.zeros(0)
            ok = np.zeros(0, dtype=bool)
        counts[label] = int(ok.sum())
        if ok.any():
            n, e = float(noisy[ok].mean()), float(enhanced[ok].mean())
            data.append((n, e, e - n))
        else:
            data.append((math.nan, math.nan, math.nan))
    table = pd.DataFrame(data, index=pd.Index([label for _, label in METRICS], name="metric"),
                         columns=list(SUMMARY_COLUMNS))
    table.attrs["count"] = counts
    return table


ROOMS = {"dry": False, "reverberant": True}


def room_summaries(items: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """:func:`summarize` of the synthetic items without and with reverberation ("dry",
    "reverberant"), when the set has both; else empty.

    Why apart: a reverberant item's reference is the reverberant speech (FRCRN denoises, it does
    not dereverberate), so SI-SDR and PESQ reward an enhancer for keeping the room while DNSMOS
    marks the room down as it does noise. Pooled means hide which way an enhancer went.
    """
    if "set" not in items or "reverb" not in items:
        return {}
    synthetic = items[(items["set"] == "synthetic") & (items["error"] == "")]
    groups = {name: synthetic[synthetic["reverb"] == flag] for name, flag in ROOMS.items()}
    if any(group.empty for group in groups.values()):
        return {}
    return {name: summarize(group) for name, group in groups.items()}


FAMILY_METRICS = ("si_sdr", "pesq_wb", "stoi")


def family_summary(items: pd.DataFrame) -> pd.DataFrame:
    """Mean improvement (enhanced - noisy) of SI-SDR, PESQ-WB and STOI per noise family of the
    synthetic set, with the item count; one row per family, sorted by name."""
    synthetic = items[(items["set"] == "synthetic") & (items["error"] == "")] if "set" in items else items.iloc[:0]
    if synthetic.empty or "noise_family" not in synthetic:
        return pd.DataFrame(columns=["items", *FAMILY_METRICS])
    rows = {}
    for family, group in synthetic.groupby("noise_family", sort=True):
        row: dict[str, float] = {"items": len(group)}
        for stem in FAMILY_METRICS:
            a, b = f"{stem}_noisy", f"{stem}_enhanced"
            if a in group and b in group:
                diff = pd.to_numeric(group[b], errors="coerce") - pd.to_numeric(group[a], errors="coerce")
                row[stem] = float(diff.mean())
            else:
                row[stem] = math.nan
        rows[family] = row
    return pd.DataFrame.from_dict(rows, orient="index")


def format_family_summary(by_family: pd.DataFrame) -> str:
    """The per-family improvements as a fixed-width text table."""
    lines = ["improvement per noise family (synthetic set):",
             f"{'family':<28} {'items':>5} " + " ".join(f"{m:>9}" for m in FAMILY_METRICS)]
    for family, row in by_family.iterrows():
        values = " ".join(f"{row[m]:>+9.3f}" if math.isfinite(row[m]) else f"{'-':>9}" for m in FAMILY_METRICS)
        lines.append(f"{family!s:<28} {int(row['items']):>5} {values}")
    return "\n".join(lines)


def format_summary(summary: pd.DataFrame, title: str = "") -> str:
    """The summary as a fixed-width text table (plus an ``items`` column: how many items each mean covers)."""
    counts = summary.attrs.get("count", {})
    lines = [title] if title else []
    lines.append(f"{'metric':<12} {'noisy':>9} {'enhanced':>9} {'improvement':>12} {'items':>6}")
    for label, row in summary.iterrows():
        if not counts.get(label):
            continue

        def num(v, signed=False):
            return f"{v:+.3f}" if signed else f"{v:.3f}"
        lines.append(f"{label:<12} {num(row['noisy']):>9} {num(row['enhanced']):>9} "
                     f"{num(row['improvement'], True):>12} {counts.get(label, 0):>6}")
    if len(lines) == (2 if title else 1):
        lines.append("(no metric could be computed)")
    return "\n".join(lines)
