"""The job's results manifest as curation reads it: where it lives, the measurements it may hold,
and how long each row is.

``<output.uri>/_manifest/results.parquet`` has one row per input manifest line (``jobs.results``).
A row is a whole recording (``segment_offset_s`` and ``segment_duration_s`` null) or the slice
``[offset, offset + duration)`` of one; its length is ``segment_duration_s`` when set, else the
rest of the recording from the offset (``input_duration_s - segment_offset_s``), else the whole
recording. Measurement columns a manifest lacks (written by an older job, or not computed) are
read as all-null, so every caller sees the same columns.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import fsspec
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

__all__ = [
    "MANIFEST_DIR",
    "METRICS",
    "RESULTS_NAME",
    "SELECTED_NAME",
    "CurationError",
    "Metric",
    "ResultsMissing",
    "computed_by",
    "manifest_uri",
    "numeric",
    "read_table",
    "row_seconds",
]

MANIFEST_DIR = "_manifest"
RESULTS_NAME = "results.parquet"
SELECTED_NAME = "selected.parquet"


class CurationError(ValueError):
    """Curation cannot go on with this data or policy; the message is one line a person can act on."""


class ResultsMissing(CurationError):
    """There is no results manifest where one was expected."""


@dataclass(frozen=True)
class Metric:
    """One measurement the job makes on the input and on the output of a row."""

    name: str
    label: str
    unit: str
    column_in: str
    column_out: str
    higher_is_better: bool | None
    """None: neither direction is better (a level is a matter of taste)."""
    setting: str
    """What fills the columns, for error messages."""

    @property
    def axis(self) -> str:
        return f"{self.label} ({self.unit})" if self.unit else self.label


_JOB = "the bulk job itself (frcrn job run); a manifest without it was written before the job measured it"
_MEASURES = "the bulk job's measures.enabled (on by default)"
_DNSMOS = "dnsmos.model in the job config (the DNSMOS P.835 ONNX model; null means DNSMOS is not computed)"

METRICS: tuple[Metric, ...] = (
    Metric("dnsmos_ovrl", "DNSMOS OVRL", "", "dnsmos_ovrl_in", "dnsmos_ovrl_out", True, _DNSMOS),
    Metric("dnsmos_sig", "DNSMOS SIG", "", "dnsmos_sig_in", "dnsmos_sig_out", True, _DNSMOS),
    Metric("dnsmos_bak", "DNSMOS BAK", "", "dnsmos_bak_in", "dnsmos_bak_out", True, _DNSMOS),
    Metric("snr_db", "SNR", "dB", "snr_db_in", "snr_db_out", True, _MEASURES),
    Metric("speech_ratio", "speech ratio", "", "speech_ratio_in", "speech_ratio_out", True, _MEASURES),
    Metric("level", "level", "dBFS", "level_in_dbfs", "level_out_dbfs", None, _JOB),
    Metric("loudness", "loudness", "LUFS", "loudness_lufs_in", "loudness_lufs_out", None, _MEASURES),
    Metric("clip_fraction", "clipped fraction", "", "clip_fraction_in", "clip_fraction_out", False, _JOB),
    Metric("bandwidth", "bandwidth", "Hz", "bandwidth_hz_in", "bandwidth_hz_out", True, _MEASURES),
)
"""Every paired measurement, in the order reports show them."""


def computed_by(column: str) -> str:
    """What fills ``column`` (for a message saying why it is empty)."""
    for metric in METRICS:
        if column in (metric.column_in, metric.column_out):
            return metric.setting
    return "nothing in this project: it is not a results column (check the spelling)"


def manifest_uri(output_uri: str, name: str = RESULTS_NAME) -> str:
    """``<output_uri>/_manifest/<name>``."""
    return f"{str(output_uri).rstrip('/')}/{MANIFEST_DIR}/{name}"


def read_table(uri: str, storage_options: dict | None = None, *, what: str = "results manifest") -> pa.Table:
    """A Parquet manifest, all its columns (the job's carried columns too), or :class:`ResultsMissing`."""
    fs, path = fsspec.core.url_to_fs(uri, **dict(storage_options or {}))
    if not fs.exists(path):
        raise ResultsMissing(f"no {what} at {uri}: run `frcrn job run` with output.uri set to this location "
                             "first, or check the OUTPUT_URI")
    return pq.read_table(io.BytesIO(fs.cat_file(path)))


def numeric(frame: pd.DataFrame, column: str) -> pd.Series:
    """``frame[column]`` as float64 (NaN for null); all-NaN when the manifest lacks the column."""
    if column not in frame.columns:
        return pd.Series(np.nan, index=frame.index, dtype="float64")
    return pd.to_numeric(frame[column], errors="coerce").astype("float64")


def row_seconds(frame: pd.DataFrame) -> pd.Series:
    """Each row's length in seconds (see the module doc); NaN when the manifest does not know it."""
    duration = numeric(frame, "segment_duration_s")
    offset = numeric(frame, "segment_offset_s").fillna(0.0)
    rest = (numeric(frame, "input_duration_s") - offset).clip(lower=0.0)
    return duration.where(duration.notna(), rest)
