"""Hand-made results manifests for the curation tests: rows written as the job writes them
(``jobs.results.SCHEMA`` types, plus the newer measurement and segment columns and a carried
column), and tiny real audio files for ``input_uri``/``output_uri``, locally or on S3.

``speechlike`` makes audio one can hear the difference in: a voiced, syllable-modulated tone
(the "speech") plus noise; the "enhanced" output is the same tone with far less noise.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from typing import Any

import fsspec
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import soundfile as sf

from jobs.results import SCHEMA

EXTRA = pa.schema([
    ("segment_offset_s", pa.float64()), ("segment_duration_s", pa.float64()),
    ("speech_ratio_in", pa.float64()), ("speech_ratio_out", pa.float64()),
    ("snr_db_in", pa.float64()), ("snr_db_out", pa.float64()),
    ("loudness_lufs_in", pa.float64()), ("loudness_lufs_out", pa.float64()),
    ("bandwidth_hz_in", pa.float64()), ("bandwidth_hz_out", pa.float64()),
    ("atten_lim_db", pa.float64()), ("dry", pa.float64()),
    ("speaker", pa.string()),  # a column carried from the input manifest
])
FULL = pa.schema(list(SCHEMA) + [f for f in EXTRA if f.name not in SCHEMA.names])


def speechlike(seconds: float, rate: int = 16000, *, noise: float = 0.1, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(round(seconds * rate)) / rate
    pitch = 140 + 25 * np.sin(2 * np.pi * 0.7 * t + seed)
    voice = sum(np.sin(2 * np.pi * k * np.cumsum(pitch) / rate) / k for k in (1, 2, 3, 4))
    syllables = np.clip(np.sin(2 * np.pi * 3.1 * t + seed), 0, None) ** 0.5
    x = 0.18 * voice * syllables + noise * rng.standard_normal(t.size)
    return np.clip(x, -0.99, 0.99).astype(np.float32)


def wav_bytes(samples: np.ndarray, rate: int = 16000) -> bytes:
    buf = io.BytesIO()
    sf.write(buf, samples, rate, format="WAV", subtype="PCM_16")
    return buf.getvalue()


def put(uri: str, data: bytes, storage_options: Mapping[str, Any] | None = None) -> str:
    fs, path = fsspec.core.url_to_fs(uri, **dict(storage_options or {}))
    fs.makedirs(path.rsplit("/", 1)[0], exist_ok=True)
    fs.pipe_file(path, data)
    return uri


def row(input_uri: str, output_uri: str = "", **fields: Any) -> dict[str, Any]:
    """An ok whole-file row of 1 s: level and clipping measured (the job always does), every other
    metric null unless given."""
    base: dict[str, Any] = {"input_uri": input_uri, "output_uri": output_uri or input_uri.replace("/in/", "/out/"),
                            "status": "ok", "error_type": "", "error_message": "", "input_format": "WAV",
                            "input_sample_rate": 16000, "input_channels": 1, "input_duration_s": 1.0,
                            "output_sample_rate": 16000, "output_duration_s": 1.0, "job_id": "job-test",
                            "model_id": "frcrn-test", "speaker": "spk1", "level_in_dbfs": -25.0,
                            "level_out_dbfs": -26.0, "clip_fraction_in": 0.0, "clip_fraction_out": 0.0}
    base.update(fields)
    return base


def error_row(input_uri: str, error_type: str = "undecodable", message: str = "not audio", **fields: Any) -> dict:
    nothing = dict.fromkeys(["input_duration_s", "output_duration_s", "output_sample_rate", "level_in_dbfs",
                             "level_out_dbfs", "clip_fraction_in", "clip_fraction_out"])
    return row(input_uri, **{"status": "error", "error_type": error_type, "error_message": message,
                             **nothing, **fields})


def results_table(rows: Sequence[Mapping[str, Any]], schema: pa.Schema = FULL) -> pa.Table:
    return pa.Table.from_pylist([{f.name: r.get(f.name) for f in schema} for r in rows], schema=schema)


def write_results(output_uri: str, rows: Sequence[Mapping[str, Any]], storage_options: Mapping | None = None,
                  schema: pa.Schema = FULL) -> str:
    buf = io.BytesIO()
    pq.write_table(results_table(rows, schema), buf)
    return put(f"{output_uri.rstrip('/')}/_manifest/results.parquet", buf.getvalue(), storage_options)


def audio_pair(base: str, name: str, seconds: float = 1.0, *, seed: int = 0,
               storage_options: Mapping | None = None) -> tuple[str, str]:
    """(input, output) URIs of a noisy recording and its "enhanced" version under base/in, base/out."""
    noisy = speechlike(seconds, noise=0.12, seed=seed)
    clean = speechlike(seconds, noise=0.01, seed=seed)
    return (put(f"{base}/in/{name}.wav", wav_bytes(noisy), storage_options),
            put(f"{base}/out/{name}.wav", wav_bytes(clean), storage_options))


def realistic(base: str, n: int = 60, *, seed: int = 0, storage_options: Mapping | None = None) -> list[dict]:
    """A plausible job's results under ``base``: n recordings of 2-8 s with DNSMOS, SNR, level and
    speech measurements (a few made worse by enhancement), segment rows of one long recording and
    a handful of error rows of three types; real audio behind every ok row."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        seconds = float(np.round(rng.uniform(2, 8), 2))
        inp, out = audio_pair(base, f"spk{i % 5}/utt_{i:03d}", seconds, seed=i, storage_options=storage_options)
        ovrl_in = float(np.clip(rng.normal(2.4, 0.45), 1.2, 3.6))
        hurt = i % 9 == 4
        gain = float(rng.normal(-0.6, 0.25) if hurt else rng.normal(0.55, 0.25))
        snr_in = float(rng.normal(8, 6))
        level_in = float(rng.normal(-27, 5))
        rows.append(row(
            inp, out, input_duration_s=seconds, output_duration_s=seconds, speaker=f"spk{i % 5}",
            dnsmos_ovrl_in=ovrl_in, dnsmos_ovrl_out=float(np.clip(ovrl_in + gain, 1, 4.2)),
            dnsmos_sig_in=float(np.clip(ovrl_in + 0.8 + rng.normal(0, 0.2), 1, 5)),
            dnsmos_sig_out=float(np.clip(ovrl_in + 0.8 + gain * 0.6 + rng.normal(0, 0.2), 1, 5)),
            dnsmos_bak_in=float(np.clip(ovrl_in + 0.3 + rng.normal(0, 0.4), 1, 5)),
            dnsmos_bak_out=float(np.clip(ovrl_in + 1.4 + rng.normal(0, 0.3), 1, 5)),
            snr_db_in=snr_in, snr_db_out=snr_in + float(rng.normal(12, 4)),
            level_in_dbfs=level_in, level_out_dbfs=level_in - float(abs(rng.normal(1.5, 1))),
            clip_fraction_in=float(rng.choice([0.0] * 6 + [1e-4, 1e-3, 0.02])), clip_fraction_out=0.0,
            speech_ratio_in=float(rng.uniform(0.3, 0.95)), speech_ratio_out=float(rng.uniform(0.4, 0.95)),
        ))
    long_in, long_out = audio_pair(base, "long/meeting", 12.0, seed=999, storage_options=storage_options)
    for k, (offset, duration) in enumerate(((0.0, 4.0), (4.0, 5.0), (9.0, 3.0))):
        rows.append(row(long_in, long_out, input_duration_s=12.0, output_duration_s=12.0, segment_offset_s=offset,
                        segment_duration_s=duration, dnsmos_ovrl_in=2.1 + 0.2 * k, dnsmos_ovrl_out=2.9 + 0.1 * k,
                        dnsmos_sig_in=3.0, dnsmos_sig_out=3.3, dnsmos_bak_in=2.4, dnsmos_bak_out=3.9,
                        snr_db_in=6.0, snr_db_out=19.0, level_in_dbfs=-30.0, level_out_dbfs=-31.0,
                        clip_fraction_in=0.0, clip_fraction_out=0.0, speaker="meeting"))
    for j, (kind, message) in enumerate((("undecodable", "not an audio file: starts with '<html>'"),
                                         ("undecodable", "not an audio file: 5000 random bytes"),
                                         ("empty", "no audio: the WAV file has a valid header but 0 frames"),
                                         ("too_long", "too long: 7201.0 s exceeds the limit of 3600 s"))):
        rows.append(error_row(f"{base}/in/broken/bad_{j}.wav", kind, message))
    return rows
