"""Results tables built by hand, as the job writes them, over tiny real output files.

``outputs(root)`` writes three short enhanced files (16 kHz, 16-bit; WAV and FLAC; one in a
folder whose name has a space); ``job_row`` is a results row for one of them (every job column
the job writes, ``segment_offset_s``/``segment_duration_s`` set by ``segment=(offset,
duration)``, then the carried fields); ``results`` makes the table and, like ``frcrn job
export``, round-trips it through Parquet with nullable dtypes.

``originals(root)`` writes the input recordings of the same three files (48 kHz, other tones;
``sub dir/c.wav`` stereo), which ``job_row(..., inputs=root)`` names as its ``input_uri``;
``chose`` adds a selection's columns to a row as ``frcrn job select`` does.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import soundfile as sf

RATE = 16000
FILES = {"a.wav": (1.0, "WAV"), "spk2/b.flac": (2.0, "FLAC"), "sub dir/c.wav": (0.5, "WAV")}
INPUT_RATE = 48000
STEREO = "sub dir/c.wav"  # the one original with two channels


def tone(seconds: float, seed: int, rate: int = RATE) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(round(seconds * rate)) / rate
    return (0.3 * np.sin(2 * np.pi * (200 + 50 * seed) * t) + 0.02 * rng.standard_normal(t.size)).astype(np.float32)


def outputs(root: Path) -> Path:
    """The enhanced files below ``root`` (``FILES``)."""
    for seed, (rel, (seconds, fmt)) in enumerate(FILES.items()):
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        sf.write(path, tone(seconds, seed), RATE, format=fmt, subtype="PCM_16")
    return root


def originals(root: Path) -> Path:
    """The input recordings of ``FILES`` below ``root``: 48 kHz, 16-bit, ``STEREO`` with two channels."""
    for seed, (rel, (seconds, fmt)) in enumerate(FILES.items()):
        x = tone(seconds, seed + 10, INPUT_RATE)
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        sf.write(path, np.stack([x, 0.5 * x], axis=1) if rel == STEREO else x, INPUT_RATE, format=fmt,
                 subtype="PCM_16")
    return root


def job_row(root: Path | str, rel: str, *, segment: tuple[float, float] | None = None,
            manifest_format: str = "nemo", status: str = "ok", dnsmos: float = 3.2,
            inputs: Path | str | None = None, **carried: Any) -> dict[str, Any]:
    """One results row; ``segment`` = (offset, duration) in seconds, None for a whole file;
    ``inputs``: the folder of ``originals`` its ``input_uri`` names (default a made-up path)."""
    uri = f"{root}/{rel}"
    offset, duration = segment or (None, None)
    seconds = FILES[rel][0]
    ok = status == "ok"
    row = {
        "input_uri": f"{inputs}/{rel}" if inputs else f"/corpus/{rel}" + ("" if offset is None else f"#{offset}"),
        "output_uri": uri if ok else "", "status": status,
        "error_type": "" if ok else "undecodable", "error_message": "" if ok else "cannot decode",
        "input_format": "WAV", "input_sample_rate": INPUT_RATE, "input_channels": 2 if inputs and rel == STEREO else 1,
        "input_duration_s": seconds,
        "output_sample_rate": RATE if ok else None, "output_duration_s": seconds if ok else None,
        "output_bytes": int(seconds * RATE * 2 + 44) if ok else None, "processing_s": 0.05,
        "level_in_dbfs": -23.0, "level_out_dbfs": -20.0, "clip_fraction_in": 0.0, "clip_fraction_out": 0.0,
        "dnsmos_sig_in": 2.5, "dnsmos_bak_in": 2.0, "dnsmos_ovrl_in": 2.1,
        "dnsmos_sig_out": 3.4, "dnsmos_bak_out": 3.9, "dnsmos_ovrl_out": dnsmos if ok else None,
        "model_id": "frcrn-test", "checkpoint_sha256": "0" * 64, "job_id": "job-1",
        "finished_at": pd.Timestamp("2026-11-30T12:00:00Z"), "occurrences": 1,
        "segment_offset_s": offset, "segment_duration_s": duration, "manifest_format": manifest_format,
    }
    row.update(carried)
    return row


def chose(row: dict[str, Any], choice: str) -> dict[str, Any]:
    """``row`` with the columns ``frcrn job select`` adds: ``choice``, ``chosen_uri``, ``reason``, ``rule``."""
    chosen = {"enhanced": row["output_uri"], "original": row["input_uri"], "dropped": ""}[choice]
    rule = {"enhanced": "enhanced", "original": "fallback_if_ovrl_drop", "dropped": "drop.min_dnsmos_ovrl_out"}[choice]
    return {**row, "choice": choice, "chosen_uri": chosen, "reason": f"test: {choice}", "rule": rule}


def results(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """The results table as ``frcrn job export`` reads it back (Parquet, nullable dtypes); types
    inferred by Arrow as the job's are (an integer field with gaps stays integer)."""
    names = list(dict.fromkeys(k for row in rows for k in row))  # from_pylist alone: the first row's keys
    buf = io.BytesIO()
    pq.write_table(pa.Table.from_pylist([{k: row.get(k) for k in names} for row in rows]), buf)
    buf.seek(0)
    return pd.read_parquet(buf, dtype_backend="numpy_nullable")


def read_pcm(path: Path | str, start: float = 0.0, duration: float | None = None) -> np.ndarray:
    """Samples of an output file (int16, exact), optionally a slice in seconds."""
    data, rate = sf.read(str(path), dtype="int16")
    first = round(start * rate)
    last = len(data) if duration is None else round((start + duration) * rate)
    return data[first:last]


def nemo_rows(root: Path | str) -> list[dict[str, Any]]:
    """A NeMo manifest's rows: a whole file (its line's ``duration`` a little off, as input
    manifests are), two segments of one file, a whole file in a folder with a space; an integer
    field with a gap and a list field."""
    return [
        job_row(root, "a.wav", duration=1.02, text="hello world", lang="en", speaker_id=7, tags=["x", "y"]),
        job_row(root, "spk2/b.flac", segment=(0.25, 0.5), offset=0.25, duration=0.5, text="first part",
                lang="en", tags=["z"]),
        job_row(root, "spk2/b.flac", segment=(1.0, 0.75), offset=1.0, duration=0.75, text="second part",
                lang="en", speaker_id=9, tags=[]),
        job_row(root, "sub dir/c.wav", duration=0.5, text="third", lang="de", speaker_id=7, tags=["x"]),
    ]


def nemo_lines(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The NeMo lines those rows were read from: every carried key (the reader carries all but
    audio_filepath)."""
    carried = ("offset", "duration", "text", "lang", "speaker_id", "tags")
    return [{k: row[k] for k in carried if row.get(k) is not None} for row in rows]
