"""`frcrn eval [CONFIG] [key.sub=value ...]`: measure a checkpoint on noisy speech, before and after.

Three kinds of evaluation set, any combination of them in one run:

* ``synthetic``: mixtures made exactly like the training run's validation set (by default the very
  same set: the speech files' validation split and ``make_validation_set`` with the same seed and
  mixture settings as ``configs/train_default.yaml``), with the clean speech as reference;
* ``paired``: real (noisy, clean) files, from a table with ``noisy`` and ``clean`` columns or from
  two globs / path lists matched by relative path, file name or DNS-style ``fileid_N``;
* ``unpaired``: noisy files without a reference, scored with DNSMOS only (default: the two example
  clips of the official model card in ``../shared/examples/``).

Every item is enhanced with :class:`frcrn.enhance.Enhancer` (the same code path as ``frcrn
enhance`` and the bulk job) and scored before (``*_noisy``) and after (``*_enhanced``) with
PESQ-WB, PESQ-NB, STOI, ESTOI and SI-SDR when a reference exists (:mod:`frcrn.quality.metrics`) and
DNSMOS P.835 SIG/BAK/OVRL (:mod:`frcrn.quality.dnsmos`). Per-item rows go to a Parquet file; the summary
(mean noisy, mean enhanced, mean improvement per metric, over the items where both are defined)
is printed and returned.

Relative paths in the config are relative to the working directory (run from the project root).
"""

from __future__ import annotations

import dataclasses
import glob as globlib
import json
import math
import os
import posixpath
import re
import sys
import time
import warnings
from dataclasses import dataclass, field
from typing import Any, Callable, Literal, Sequence

import numpy as np
import pandas as pd

from ..config import ConfigError, load_typed
from ..enhance import EnhanceConfig
from ..quality.dnsmos import DEFAULT_MODEL as DEFAULT_DNSMOS_MODEL
from ..training.data import SpeechMixtures

__all__ = ["EvalConfig", "SyntheticSet", "PairedSet", "run_eval", "eval_main", "summarize", "format_summary",
           "METRICS", "INTRUSIVE", "NON_INTRUSIVE", "SUMMARY_COLUMNS"]

#: (column stem, label) in summary order. Per-item columns are ``<stem>_noisy`` and ``<stem>_enhanced``.
METRICS: tuple[tuple[str, str], ...] = (
    ("pesq_wb", "PESQ-WB"),
    ("pesq_nb", "PESQ-NB"),
    ("stoi", "STOI"),
    ("estoi", "ESTOI"),
    ("si_sdr", "SI-SDR"),
    ("dnsmos_sig", "DNSMOS SIG"),
    ("dnsmos_bak", "DNSMOS BAK"),
    ("dnsmos_ovrl", "DNSMOS OVRL"),
)
INTRUSIVE = ("pesq_wb", "pesq_nb", "stoi", "estoi", "si_sdr")
NON_INTRUSIVE = ("dnsmos_sig", "dnsmos_bak", "dnsmos_ovrl")
SUMMARY_COLUMNS = ("noisy", "enhanced", "improvement")
AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg", ".oga", ".mp3", ".aif", ".aiff")
TABLE_EXTENSIONS = (".csv", ".parquet", ".jsonl")
SETS = ("synthetic", "paired", "unpaired")
_CHUNK = 8  # items read, enhanced and scored together (bounds memory on long paired sets)


# ----------------------------------------------------------------------------- config


@dataclass(frozen=True)
class SyntheticSet(SpeechMixtures):
    """Mixtures of clean speech and synthetic noise, drawn like a training run's validation set.

    Speech, split and mixture settings are :class:`frcrn.training.data.SpeechMixtures`, the class
    training's ``data`` section extends too; with its defaults (the shipped model's run) and
    ``count``/``seed`` equal to training's ``validation_items``/``validation_seed``, this set IS
    that run's validation set. For a run with other data settings, copy its ``data`` values here.
    """

    enabled: bool = True
    files: Literal["validation", "all"] = "validation"
    """"validation": only the training run's held-out files (split below); "all": every file."""
    count: int = 48
    """Number of mixtures (training's ``data.validation_items``)."""
    seed: int = 1234
    """Mixture seed (training's ``data.validation_seed``)."""

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.count < 0:
            raise ValueError(f"synthetic.count must be >= 0, got {self.count}")


@dataclass(frozen=True)
class PairedSet:
    """Real noisy recordings with their clean references.

    Either ``manifest``: a .csv/.parquet/.jsonl table with columns ``noisy`` and ``clean`` (relative
    entries resolve against the table's folder), or ``noisy`` + ``clean``: each a glob (``**``
    allowed), a folder, or a text file with one path per line, matched by ``pair_by``.
    """

    manifest: str | None = None
    noisy: str | None = None
    clean: str | None = None
    pair_by: Literal["auto", "relative_path", "name", "fileid"] = "auto"
    """relative_path: path below the glob's fixed folder (or as listed); name: file name;
    fileid: the DNS Challenge ``fileid_<N>`` tag; auto: the first of these that pairs every noisy file."""
    allow_unmatched: bool = False
    """Skip noisy files without a clean match (with a warning) instead of failing."""

    @property
    def enabled(self) -> bool:
        return bool(self.manifest or self.noisy or self.clean)


@dataclass(frozen=True)
class EvalConfig:
    checkpoint: str | None = None
    """Path or fsspec URL of the model to evaluate; null = the project's shipped default."""
    enhance: EnhanceConfig = field(default_factory=EnhanceConfig)
    path: Literal["enhancer", "model"] = "enhancer"
    """"enhancer": the product path (frcrn.enhance.Enhancer: loudness normalisation, padding,
    windows), what users get. "model": the bare network on each whole item, as training's
    validation does; reproduces the training log's SI-SNR exactly (short items only: no windowing)."""
    synthetic: SyntheticSet = field(default_factory=SyntheticSet)
    paired: PairedSet = field(default_factory=PairedSet)
    unpaired: str | None = "../shared/examples/*.wav"
    """Noisy files without references (glob, folder or path list), scored with DNSMOS only."""
    dnsmos_model: str | None = DEFAULT_DNSMOS_MODEL
    """DNSMOS P.835 ONNX model (sig_bak_ovr.onnx); null = no DNSMOS columns."""
    dnsmos_threads: int | None = None
    """onnxruntime threads for DNSMOS; null = one per physical core."""
    dnsmos_sets: tuple[Literal["synthetic", "paired", "unpaired"], ...] = SETS
    """Sets that get DNSMOS (it costs ~0.5 s CPU per 9 s window; short clips are repeated to 9 s)."""
    metrics: tuple[Literal["pesq_wb", "pesq_nb", "stoi", "estoi", "si_sdr"], ...] = INTRUSIVE
    """Intrusive metrics to compute on sets with references."""
    output: str | None = "runs/eval/items.parquet"
    """Per-item Parquet (path or fsspec URL); null = do not write."""
    max_seconds: float | None = None
    """Refuse (record as an error) input files longer than this."""
    storage_options: dict[str, Any] = field(default_factory=dict, repr=False)
    """fsspec options for every URL above (checkpoint, audio, manifests, output)."""
    progress: bool = True
    """Progress bar on stderr (only when stderr is a terminal)."""


def load_config(path: str | None = None, overrides: Sequence[str] = ()) -> EvalConfig:
    """Read an :class:`EvalConfig` from YAML (None = defaults) plus ``key.sub=value`` overrides."""
    try:
        return load_typed(EvalConfig, path, list(overrides))
    except ConfigError:
        raise
    except ValueError as err:  # dataclass __post_init__ checks
        raise ConfigError(f"{path}: {err}" if path else str(err)) from None


# ----------------------------------------------------------------------------- file lists


def _is_url(spec: str) -> bool:
    return "://" in spec


def _fs(spec: str, storage_options: dict[str, Any]):
    import fsspec

    return fsspec.core.url_to_fs(spec, **storage_options)


def _join(base: str, entry: str) -> str:
    if _is_url(entry) or os.path.isabs(entry):
        return entry
    return posixpath.join(base, entry) if _is_url(base) else os.path.join(base, entry)


def _dirname(spec: str) -> str:
    return posixpath.dirname(spec) if _is_url(spec) else (os.path.dirname(spec) or ".")


def list_audio(spec: str, storage_options: dict[str, Any] | None = None) -> list[tuple[str, str]]:
    """``(relative name, location)`` of every audio file that ``spec`` names, sorted by name.

    ``spec``: a glob (``**`` recursive), a folder (searched recursively), a single audio file,
    or a text file listing one path per line (relative lines resolve against its folder; the
    relative name is the line as written). Local paths or fsspec URLs.
    """
    options = dict(storage_options or {})
    wild = any(c in spec for c in "*?[")
    if not wild:
        fs, path = _fs(spec, options)
        if not fs.exists(path):
            raise FileNotFoundError(f"not found: {spec}")
        if fs.isdir(path):
            return list_audio(spec.rstrip("/") + "/**", options)
        if path.lower().endswith(AUDIO_EXTENSIONS):
            return [(posixpath.basename(path), spec)]
        with fs.open(path, "rt", encoding="utf-8") as f:
            lines = [line.strip() for line in f if line.strip() and not line.lstrip().startswith("#")]
        base = _dirname(spec)
        return sorted((line, _join(base, line)) for line in lines)
    parts = spec.replace("\\", "/").split("/")
    fixed = []
    for part in parts:
        if any(c in part for c in "*?["):
            break
        fixed.append(part)
    base = "/".join(fixed)
    if _is_url(spec):
        fs, path = _fs(spec, options)
        _, base_path = _fs(base or spec, options)
        found = [p for p in fs.glob(path) if p.lower().endswith(AUDIO_EXTENSIONS)]
        return sorted((posixpath.relpath(p, base_path), fs.unstrip_protocol(p)) for p in found)
    found = [p for p in globlib.glob(spec, recursive=True)
             if p.lower().endswith(AUDIO_EXTENSIONS) and os.path.isfile(p)]
    return sorted((os.path.relpath(p, base or ".").replace(os.sep, "/"), p) for p in found)


_FILEID = re.compile(r"fileid_(\d+)")


def _pair_key(relative: str, how: str) -> str | None:
    if how == "relative_path":
        return relative
    if how == "name":
        return posixpath.basename(relative)
    match = _FILEID.search(posixpath.basename(relative))
    return match.group(1) if match else None


def pair_files(noisy: list[tuple[str, str]], clean: list[tuple[str, str]], pair_by: str = "auto"
               ) -> tuple[list[tuple[str, str, str]], list[str], str]:
    """Match noisy to clean files: ``([(relative, noisy, clean)], unmatched noisy names, method)``."""
    methods = ("relative_path", "name", "fileid") if pair_by == "auto" else (pair_by,)
    best: tuple[list[tuple[str, str, str]], list[str], str] | None = None
    for how in methods:
        index: dict[str, str] = {}
        duplicates = set()
        for rel, loc in clean:
            key = _pair_key(rel, how)
            if key is None:
                continue
            if key in index:
                duplicates.add(key)
            index[key] = loc
        pairs, missing = [], []
        for rel, loc in noisy:
            key = _pair_key(rel, how)
            if key is None or key not in index or key in duplicates:
                missing.append(rel)
            else:
                pairs.append((rel, loc, index[key]))
        if best is None or len(pairs) > len(best[0]):
            best = (pairs, missing, how)
        if not missing:
            break
    assert best is not None
    return best


def _read_table(spec: str, storage_options: dict[str, Any]) -> pd.DataFrame:
    import fsspec

    lower = spec.lower()
    with fsspec.open(spec, "rb", **storage_options) as f:
        if lower.endswith(".parquet"):
            return pd.read_parquet(f)
        if lower.endswith(".csv"):
            return pd.read_csv(f, dtype=str, keep_default_na=False)
        if lower.endswith(".jsonl"):
            return pd.read_json(f, lines=True, dtype=False)
    raise ConfigError(f"paired.manifest must be .csv, .parquet or .jsonl, got {spec}")


# ----------------------------------------------------------------------------- items


@dataclass
class _Item:
    set: str
    item: str
    load: Callable[[], tuple[np.ndarray, np.ndarray | None]]
    info: dict[str, Any] = field(default_factory=dict)


def _read(location: str, config: EvalConfig) -> np.ndarray:
    from ..audio.files import read_audio

    return read_audio(location, storage_options=config.storage_options or None,
                      max_seconds=config.max_seconds).samples


def synthetic_items(s: SyntheticSet, storage_options: dict[str, Any] | None = None) -> list[_Item]:
    """The synthetic set: same files, split, seeds and mixture settings as training's validation set."""
    from ..audio.files import list_audio_files, load_clips
    from ..training.mixtures import make_validation_set

    try:
        if s.files == "validation":
            files, mixes = s.validation_set(s.count, s.seed, storage_options)
        else:
            files = list_audio_files(s.speech, storage_options)
            mixes = make_validation_set(load_clips(files, storage_options=storage_options), s.count, s.seed,
                                        s.mixture_config())
    except FileNotFoundError as err:
        raise ConfigError(f"synthetic: {err}") from None
    items = []
    for i, (noisy, clean, meta) in enumerate(mixes):
        if meta.get("noise_only"):
            continue
        info = {"noisy_source": "", "clean_source": files[meta["clip"]], "noise_family": meta["family"],
                "snr_db": meta["snr_db"], "level_dbfs": meta["actual_level_dbfs"],
                "reverb": bool(meta.get("reverb", False))}
        items.append(_Item("synthetic", f"{i:04d}", (lambda n=noisy, c=clean: (n, c)), info))
    return items


def paired_items(config: EvalConfig) -> list[_Item]:
    p, options = config.paired, config.storage_options
    if p.manifest:
        if p.noisy or p.clean:
            raise ConfigError("paired: give either manifest or noisy+clean, not both")
        table = _read_table(p.manifest, options)
        missing = {"noisy", "clean"} - set(table.columns)
        if missing:
            raise ConfigError(f"paired.manifest {p.manifest}: needs columns noisy and clean "
                              f"(missing {sorted(missing)}; found {list(table.columns)})")
        base = _dirname(p.manifest)
        triples = [(str(n), _join(base, str(n)), _join(base, str(c)))
                   for n, c in zip(table["noisy"], table["clean"])]
        how = "manifest"
    else:
        if not (p.noisy and p.clean):
            raise ConfigError("paired: needs both paired.noisy and paired.clean (or paired.manifest)")
        noisy, clean = list_audio(p.noisy, options), list_audio(p.clean, options)
        if not noisy:
            raise ConfigError(f"paired.noisy: no audio files match {p.noisy}")
        if not clean:
            raise ConfigError(f"paired.clean: no audio files match {p.clean}")
        triples, unmatched, how = pair_files(noisy, clean, p.pair_by)
        if unmatched:
            examples = ", ".join(unmatched[:3]) + (" ..." if len(unmatched) > 3 else "")
            message = (f"paired: {len(unmatched)} of {len(noisy)} noisy files have no clean match by "
                       f"{how} (e.g. {examples})")
            if not p.allow_unmatched or not triples:
                raise ConfigError(message + "; fix the lists, choose paired.pair_by, or set "
                                  "paired.allow_unmatched=true to skip them")
            print(f"warning: {message}; skipped", file=sys.stderr)
    items = []
    for rel, noisy_loc, clean_loc in triples:
        def load(n=noisy_loc, c=clean_loc):
            return _read(n, config), _read(c, config)
        items.append(_Item("paired", rel, load, {"noisy_source": noisy_loc, "clean_source": clean_loc,
                                                 "pairing": how}))
    return items


def unpaired_items(config: EvalConfig) -> list[_Item]:
    try:
        found = list_audio(config.unpaired, config.storage_options)
    except FileNotFoundError as err:
        raise ConfigError(f"unpaired: {err}") from None
    if not found:
        raise ConfigError(f"unpaired: no audio files match {config.unpaired}")
    return [_Item("unpaired", rel, (lambda loc=loc: (_read(loc, config), None)), {"noisy_source": loc})
            for rel, loc in found]


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
    """The network alone on one whole item, exactly as ``frcrn.training.trainer.validate`` runs it."""
    import torch

    x = torch.from_numpy(np.ascontiguousarray(noisy, dtype=np.float32))[None].to(enhancer.device)
    with torch.inference_mode():
        wav = enhancer.model(x).wav
    out = np.zeros_like(noisy, dtype=np.float32)
    y = wav[0].float().cpu().numpy()
    out[: min(y.size, out.size)] = y[: out.size]
    return out


def _score_chunk(chunk: list[_Item], enhancer, dnsmos, config: EvalConfig) -> list[dict[str, Any]]:
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
        except Exception as err:  # noqa: BLE001 - one unreadable file must not stop the evaluation
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
        lines.append(f"{str(family):<28} {int(row['items']):>5} {values}")
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


# ----------------------------------------------------------------------------- running


def _write_parquet(items: pd.DataFrame, destination: str, metadata: dict[str, Any],
                   storage_options: dict[str, Any]) -> None:
    import fsspec
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.Table.from_pandas(items, preserve_index=False)
    table = table.replace_schema_metadata({**(table.schema.metadata or {}),
                                           b"frcrn_eval": json.dumps(metadata, default=str).encode()})
    if not _is_url(destination):
        os.makedirs(os.path.dirname(os.path.abspath(destination)), exist_ok=True)
        tmp = destination + ".tmp"
        pq.write_table(table, tmp)
        os.replace(tmp, destination)
        return
    with fsspec.open(destination, "wb", **storage_options) as f:
        pq.write_table(table, f)


def _columns(config: EvalConfig, present: Sequence[str]) -> list[str]:
    first = ["set", "item", "noisy_source", "clean_source", "pairing", "noise_family", "snr_db", "level_dbfs",
             "duration_s"]
    metric_cols = [f"{stem}_{which}" for stem, _ in METRICS for which in ("noisy", "enhanced")]
    ordered = [c for c in first + metric_cols if c in present]
    return ordered + [c for c in present if c not in ordered and c not in ("error", "notes")] + ["error", "notes"]


def evaluate(config: EvalConfig, log: Callable[[str], None] = print) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """Run the evaluation: ``(per-item rows, summary, run metadata)``; writes ``config.output``."""
    from ..enhance import Enhancer
    from ..model.checkpoint import CheckpointError

    started = time.monotonic()
    items: list[_Item] = []
    if config.synthetic.enabled and config.synthetic.count > 0:
        items += synthetic_items(config.synthetic, config.storage_options or None)
    if config.paired.enabled:
        items += paired_items(config)
    if config.unpaired:
        items += unpaired_items(config)
    if not items:
        raise ConfigError("nothing to evaluate: enable synthetic, or set paired.* or unpaired")
    try:
        enhancer = Enhancer.from_checkpoint(config.checkpoint, config.enhance,
                                            storage_options=config.storage_options or None)
    except CheckpointError as err:
        raise ConfigError(f"checkpoint: {err}") from None
    dnsmos = None
    if config.dnsmos_model and any(i.set in config.dnsmos_sets for i in items):
        from ..quality.dnsmos import Dnsmos

        try:
            dnsmos = Dnsmos(config.dnsmos_model, storage_options=config.storage_options or None,
                            threads=config.dnsmos_threads)
        except FileNotFoundError as err:
            raise ConfigError(f"dnsmos_model: {err} (set dnsmos_model=null to skip DNSMOS)") from None
    counts = {s: sum(i.set == s for i in items) for s in SETS}
    log(f"evaluating {enhancer.model_id} ({enhancer.checkpoint.source if enhancer.checkpoint else '?'}, "
        f"sha256 {enhancer.checkpoint_sha256[:12]}, path {config.path}) on " + ", ".join(f"{n} {s}" for s, n in counts.items() if n))

    rows: list[dict[str, Any]] = []
    bar = None
    if config.progress and sys.stderr.isatty():
        from tqdm import tqdm

        bar = tqdm(total=len(items), unit="item", file=sys.stderr)
    for start in range(0, len(items), _CHUNK):
        chunk = items[start:start + _CHUNK]
        rows += _score_chunk(chunk, enhancer, dnsmos, config)
        if bar is not None:
            bar.update(len(chunk))
    if bar is not None:
        bar.close()
    table = pd.DataFrame(rows)
    table = table[_columns(config, list(table.columns))]
    summary = summarize(table)
    metadata = {
        "checkpoint": enhancer.checkpoint.describe() if enhancer.checkpoint else None,
        "dnsmos_model": {"source": dnsmos.source, "sha256": dnsmos.sha256} if dnsmos else None,
        "config": dataclasses.asdict(dataclasses.replace(config, storage_options={})),
        "summary": {label: dict(row) for label, row in summary.iterrows()},
        "by_family": {str(f): dict(row) for f, row in family_summary(table).iterrows()},
        "counts": counts,
        "errors": int((table["error"] != "").sum()),
        "seconds": round(time.monotonic() - started, 1),
    }
    if config.output:
        _write_parquet(table, config.output, metadata, config.storage_options)
    return table, summary, metadata


def run_eval(config: EvalConfig, log: Callable[[str], None] = print) -> pd.DataFrame:
    """Evaluate, write the per-item Parquet, print and return the summary table.

    The summary's index is the metric labels of :data:`METRICS` (PESQ-WB ... DNSMOS OVRL), its
    columns ``noisy``, ``enhanced``, ``improvement`` (means over the items where both values exist;
    improvement = enhanced - noisy). When several sets were evaluated a per-set breakdown is
    printed too.
    """
    table, summary, metadata = evaluate(config, log)
    log("")
    log(format_summary(summary, "summary (means over items):"))
    present = [s for s in SETS if (table["set"] == s).any()]
    if len(present) > 1:
        for s in present:
            log("")
            log(format_summary(summarize(table[table["set"] == s]), f"{s} ({int((table['set'] == s).sum())} items):"))
    by_family = family_summary(table)
    if len(by_family) > 1:
        log("")
        log(format_family_summary(by_family))
    errors = table[table["error"] != ""]
    if len(errors):
        log(f"\n{len(errors)} item(s) failed and have no scores:")
        for _, row in errors.head(10).iterrows():
            log(f"  {row['set']}/{row['item']}: {row['error']}")
    noted = int((table["notes"] != "").sum())
    if noted:
        log(f"{noted} item(s) have notes (metrics that were undefined, length mismatches): see the notes column")
    if config.output:
        log(f"per-item results: {config.output}")
    log(f"took {metadata['seconds']:.1f} s")
    return summary


USAGE = """usage: frcrn eval [CONFIG] [key.sub=value ...]

Enhance evaluation sets with a checkpoint and report PESQ-WB/NB, STOI, ESTOI, SI-SDR and DNSMOS
SIG/BAK/OVRL before and after. CONFIG is a YAML file (see configs/eval_default.yaml); without it,
the built-in defaults are used (the training run's validation set plus the model card's examples).
Examples:
  frcrn eval configs/eval_default.yaml checkpoint=runs/default/best.safetensors
  frcrn eval synthetic.enabled=false paired.noisy='noisy/**/*.wav' paired.clean='clean/**/*.wav'
"""


def eval_main(argv: list[str]) -> int:
    """``frcrn eval``: ``[CONFIG] [key=value ...]``. Returns the exit status (0 ok, 2 config error, 1 failure)."""
    args = list(argv)
    if any(a in ("-h", "--help") for a in args):
        print(USAGE)
        return 0
    path = None
    if args and ("=" not in args[0] or os.path.exists(args[0])):
        path, args = args[0], args[1:]
    try:
        config = load_config(path, args)
        run_eval(config)
    except ConfigError as err:
        print(f"frcrn eval: error: {err}", file=sys.stderr)
        return 2
    except (FileNotFoundError, RuntimeError, ValueError) as err:
        print(f"frcrn eval: error: {type(err).__name__}: {err}", file=sys.stderr)
        return 1
    return 0
