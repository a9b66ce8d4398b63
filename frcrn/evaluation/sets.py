"""The items of an evaluation: the synthetic set (training's validation mixtures), paired noisy and
clean files (a table, or two file lists matched by relative path, name or ``fileid_N``) and unpaired
noisy files, each an :class:`Item` that loads its audio when scored.
"""

from __future__ import annotations

import os
import posixpath
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ..config import ConfigError
from ..storage import is_url
from .config import EvalConfig, SyntheticSet

TABLE_EXTENSIONS = (".csv", ".parquet", ".jsonl")


# ----------------------------------------------------------------------------- file lists


def _join(base: str, entry: str) -> str:
    if is_url(entry) or os.path.isabs(entry):
        return entry
    return posixpath.join(base, entry) if is_url(base) else os.path.join(base, entry)


def _dirname(spec: str) -> str:
    return posixpath.dirname(spec) if is_url(spec) else (os.path.dirname(spec) or ".")


def _named_files(key: str, spec: str, storage_options: dict[str, Any]) -> list[tuple[str, str]]:
    """``(relative name, location)`` of every audio file ``spec`` names (``frcrn.audio.files.find_audio``),
    sorted by name; nothing found is a ConfigError naming ``key``."""
    from ..audio.files import find_audio

    try:
        return sorted((f.relative, f.uri) for f in find_audio(spec, storage_options))
    except FileNotFoundError as err:
        raise ConfigError(f"{key}: {err}") from None


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
class Item:
    set: str
    item: str
    load: Callable[[], tuple[np.ndarray, np.ndarray | None]]
    info: dict[str, Any] = field(default_factory=dict)


def _read(location: str, config: EvalConfig) -> np.ndarray:
    from ..audio.files import read_audio

    return read_audio(location, storage_options=config.storage_options or None,
                      max_seconds=config.max_seconds).samples


def synthetic_items(s: SyntheticSet, storage_options: dict[str, Any] | None = None) -> list[Item]:
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
        items.append(Item("synthetic", f"{i:04d}", (lambda n=noisy, c=clean: (n, c)), info))
    return items


def paired_items(config: EvalConfig) -> list[Item]:
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
        noisy, clean = _named_files("paired.noisy", p.noisy, options), _named_files("paired.clean", p.clean, options)
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
        items.append(Item("paired", rel, load, {"noisy_source": noisy_loc, "clean_source": clean_loc,
                                                 "pairing": how}))
    return items


def unpaired_items(config: EvalConfig) -> list[Item]:
    found = _named_files("unpaired", config.unpaired, config.storage_options)
    return [Item("unpaired", rel, (lambda loc=loc: (_read(loc, config), None)), {"noisy_source": loc})
            for rel, loc in found]
