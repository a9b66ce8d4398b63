"""The job's results manifest (``<output.uri>/_manifest/results.parquet``): its columns, once.

The job writes it (``jobs.results``), and everything that reads it back knows from here which
columns are the job's and which were carried from the input manifest: the corpus exports
(``frcrn.corpus.writers``), the selection and the report (``frcrn.curation``). The selection
(``<output.uri>/_manifest/selected.parquet``, ``frcrn job select``) is the results plus
``SELECTION_COLUMNS``; its ``choice`` is one of ``CHOICES``. Torch-free.
"""

from __future__ import annotations

import pyarrow as pa

__all__ = ["CHOICES", "RESULT_COLUMNS", "SCHEMA", "SELECTION_COLUMNS"]

SCHEMA = pa.schema(
    [
        ("input_uri", pa.string()),
        ("output_uri", pa.string()),
        ("segment_offset_s", pa.float64()),  # the line's slice of the recording (null: whole file)
        ("segment_duration_s", pa.float64()),  # null: to the end
        ("status", pa.string()),  # "ok" | "error"
        ("error_type", pa.string()),
        ("error_message", pa.string()),
        ("input_format", pa.string()),
        ("input_sample_rate", pa.int32()),
        ("input_channels", pa.int32()),
        ("input_duration_s", pa.float64()),
        ("output_sample_rate", pa.int32()),
        ("output_duration_s", pa.float64()),
        ("output_bytes", pa.int64()),
        ("processing_s", pa.float64()),
        ("level_in_dbfs", pa.float64()),
        ("level_out_dbfs", pa.float64()),
        ("clip_fraction_in", pa.float64()),
        ("clip_fraction_out", pa.float64()),
        ("dnsmos_sig_in", pa.float64()),
        ("dnsmos_bak_in", pa.float64()),
        ("dnsmos_ovrl_in", pa.float64()),
        ("dnsmos_sig_out", pa.float64()),
        ("dnsmos_bak_out", pa.float64()),
        ("dnsmos_ovrl_out", pa.float64()),
        ("speech_ratio_in", pa.float64()),  # share of the duration Silero VAD marks as speech
        ("speech_ratio_out", pa.float64()),
        ("snr_db_in", pa.float64()),  # WADA-SNR blind estimate
        ("snr_db_out", pa.float64()),
        ("loudness_lufs_in", pa.float64()),  # ITU-R BS.1770 integrated loudness
        ("loudness_lufs_out", pa.float64()),
        ("bandwidth_hz_in", pa.float64()),  # highest frequency with real content
        ("bandwidth_hz_out", pa.float64()),
        ("model_id", pa.string()),
        ("checkpoint_sha256", pa.string()),
        ("atten_lim_db", pa.float64()),  # the strength settings the output was made with (null: no limit)
        ("dry", pa.float64()),
        ("job_id", pa.string()),
        ("finished_at", pa.timestamp("ms", tz="UTC")),
    ]
)

RESULT_COLUMNS: list[str] = [f.name for f in SCHEMA] + ["manifest_format"]
"""Every column the job writes (``manifest_format`` is added at consolidation, beside the
carried columns); any other column of a results table came from the input manifest."""


SELECTION_COLUMNS = ("choice", "chosen_uri", "reason", "rule")
"""What a selection adds to each results row: ``choice`` (one of ``CHOICES``), ``chosen_uri``
(``output_uri`` for enhanced, ``input_uri`` for original, "" for dropped), ``reason`` and ``rule``."""

CHOICES = ("enhanced", "original", "dropped")

