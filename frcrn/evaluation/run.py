"""Running an evaluation: collect the sets' items, enhance and score them chunk by chunk, write the
per-item Parquet (with the run's metadata) and print the summaries.
"""

from __future__ import annotations

import dataclasses
import json
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

import pandas as pd

from ..config import ConfigError
from .config import METRICS, SETS, EvalConfig
from .scoring import family_summary, format_family_summary, format_summary, room_summaries, score_chunk, summarize
from .sets import Item, paired_items, synthetic_items, unpaired_items

__all__ = ["evaluate", "run_eval"]

_CHUNK = 8  # items read, enhanced and scored together (bounds memory on long paired sets)


def _write_parquet(items: pd.DataFrame, destination: str, metadata: dict[str, Any],
                   storage_options: dict[str, Any]) -> None:
    import io

    import pyarrow as pa
    import pyarrow.parquet as pq

    from ..storage import atomic_write

    table = pa.Table.from_pandas(items, preserve_index=False)
    table = table.replace_schema_metadata({**(table.schema.metadata or {}),
                                           b"frcrn_eval": json.dumps(metadata, default=str).encode()})
    buffer = io.BytesIO()
    pq.write_table(table, buffer)
    atomic_write(destination, buffer.getvalue(), "application/vnd.apache.parquet", storage_options=storage_options)


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
    items: list[Item] = []
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
        f"sha256 {enhancer.checkpoint_sha256[:12]}, path {config.path}) on "
        + ", ".join(f"{n} {s}" for s, n in counts.items() if n))

    rows: list[dict[str, Any]] = []
    bar = None
    if config.progress and sys.stderr.isatty():
        from tqdm import tqdm

        bar = tqdm(total=len(items), unit="item", file=sys.stderr)
    for start in range(0, len(items), _CHUNK):
        chunk = items[start:start + _CHUNK]
        rows += score_chunk(chunk, enhancer, dnsmos, config)
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
        "by_room": {room: {label: dict(row) for label, row in part.iterrows()}
                    for room, part in room_summaries(table).items()},
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
    for room, part in room_summaries(table).items():
        count = max(part.attrs["count"].values())
        log("")
        log(format_summary(part, f"synthetic, {room} ({count} items):"))
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
