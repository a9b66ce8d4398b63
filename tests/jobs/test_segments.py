"""Recordings vs rows: every manifest line keeps its own row, a recording is enhanced once.

NeMo manifests of long recordings cut into segments (``offset``/``duration``), with absolute
paths or full URLs, locally and on the S3 API; segments past the end; repeated lines; resume
per recording.
"""

from __future__ import annotations

import io
import json

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from jobs.config import load_config
from jobs.errors import SpecError
from jobs.pipeline import run_job

from .conftest import ROOT, encode, model_overrides, tone

LOCAL = str(ROOT / "configs" / "local.yaml")
SEGMENTS = [  # (offset, duration, text): three lines about one 6 s recording
    (0.0, 2.0, "first words"),
    (2.0, 1.5, "second, with \"quotes\""),
    (4.0, 2.0, "third words"),
]


def _loud_then_quiet(seconds: float = 6.0) -> np.ndarray:
    """A recording whose segments differ in level, so per-segment measurements are visible."""
    x = tone(seconds, 16000)
    x[: 2 * 16000] *= 2.0
    x[4 * 16000:] *= 0.1
    return x


def _nemo_lines(audio: str, segments=SEGMENTS) -> str:
    return "".join(json.dumps({"audio_filepath": audio, "offset": o, "duration": d, "text": t, "lang": "en"}) + "\n"
                   for o, d, t in segments)


def _check_three_rows(df: pd.DataFrame, recording: str) -> None:
    assert len(df) == 3 and (df["status"] == "ok").all(), df["error_message"].tolist()
    assert (df["input_uri"] == recording).all() and df["output_uri"].nunique() == 1
    assert df["offset"].tolist() == [s[0] for s in SEGMENTS]  # carried under the manifest's own names
    assert df["duration"].tolist() == [s[1] for s in SEGMENTS]
    assert df["text"].tolist() == [s[2] for s in SEGMENTS] and (df["lang"] == "en").all()
    assert df["segment_offset_s"].tolist() == [s[0] for s in SEGMENTS]
    assert df["segment_duration_s"].tolist() == [s[1] for s in SEGMENTS]
    assert (df["manifest_format"] == "nemo").all()
    # measured on each line's own slice: the loud first segment, the quiet last one
    levels = df["level_in_dbfs"].tolist()
    assert levels[0] > levels[1] > levels[2] and levels[0] - levels[2] > 20
    assert df["level_out_dbfs"].nunique() == 3
    lufs = df["loudness_lufs_in"].tolist()  # the curation measures, per slice too
    assert lufs[0] > lufs[1] > lufs[2] and df["loudness_lufs_out"].notna().all()
    assert df["snr_db_in"].notna().all() and df["speech_ratio_in"].between(0, 1).all()
    assert (df["bandwidth_hz_out"] <= 8000 + 50).all()  # FRCRN works at 16 kHz: nothing above 8 kHz
    assert (df["input_duration_s"] == 6.0).all()


def test_nemo_segments_with_absolute_paths_locally(tmp_path, ray_local, tiny_checkpoint):
    wav = tmp_path / "corpus" / "raw" / "talk.wav"
    wav.parent.mkdir(parents=True)
    sf.write(wav, _loud_then_quiet(), 16000)
    manifest = tmp_path / "corpus" / "manifests" / "train.json"
    manifest.parent.mkdir()
    manifest.write_text(_nemo_lines(str(wav)))
    out = tmp_path / "out"
    base = [f"input.uri={manifest}", f"output.uri={out}", *model_overrides(tiny_checkpoint)]

    # The manifest's folder is the default input root: every line refused, one line naming the fix.
    with pytest.raises(SpecError, match=rf"input\.root={tmp_path / 'corpus' / 'raw'}"):
        run_job(load_config(LOCAL, base))

    lines: list[str] = []
    result = run_job(load_config(LOCAL, [*base, f"input.root={tmp_path / 'corpus'}", "job.id=seg"]), echo=lines.append)
    assert result.exit_code == 0
    assert "nemo input" in lines[0] and "3 rows, 1 recordings" in lines[0]
    df = pd.read_parquet(out / "_manifest" / "results.parquet")
    _check_three_rows(df, str(wav))
    assert sorted(p.name for p in out.rglob("*.wav")) == ["talk.wav"]
    assert result.summary["input"]["rows"] == 3 and result.summary["input"]["recordings"] == 1
    assert result.summary["counts"]["recordings_processed"] == 1
    assert abs(result.summary["hours_in"] - 6.0 / 3600) < 1e-6  # the recording counted once

    again = run_job(load_config(LOCAL, [*base, f"input.root={tmp_path / 'corpus'}", "job.id=seg2"]))
    assert again.summary["counts"] == {"ok": 0, "error": 0, "skipped": 3, "recordings_processed": 0}


@pytest.mark.slow
def test_nemo_segments_with_full_urls_on_s3(s3, ray_local, tiny_checkpoint):
    client, bucket = s3["client"], s3["bucket"]
    client.put_object(Bucket=bucket, Key="raw/talks/talk.flac", Body=encode(_loud_then_quiet(), 16000, "FLAC"))
    recording = f"s3://{bucket}/raw/talks/talk.flac"
    client.put_object(Bucket=bucket, Key="manifests/train.jsonl", Body=_nemo_lines(recording).encode())
    so = json.dumps(s3["options"])
    cfg = load_config(LOCAL, [
        f"input.uri=s3://{bucket}/manifests/train.jsonl", f"output.uri=s3://{bucket}/clean",
        f"input.root=s3://{bucket}/raw", f"input.storage_options={so}", f"output.storage_options={so}",
        *model_overrides(tiny_checkpoint)])
    assert run_job(cfg).exit_code == 0
    body = client.get_object(Bucket=bucket, Key="clean/_manifest/results.parquet")["Body"].read()
    df = pd.read_parquet(io.BytesIO(body))
    _check_three_rows(df, recording)
    assert df["output_uri"].iloc[0] == f"s3://{bucket}/clean/talks/talk.wav"


def test_a_segment_past_the_end_is_an_error_of_its_line_only(tmp_path, ray_local, tiny_checkpoint):
    sf.write(tmp_path / "talk.wav", _loud_then_quiet(), 16000)
    segments = [*SEGMENTS, (7.0, 1.0, "past the end"), (5.0, 1.05, "rounded end, within slack")]
    (tmp_path / "m.jsonl").write_text(_nemo_lines("talk.wav", segments) + _nemo_lines("talk.wav", SEGMENTS[:1]))
    out = tmp_path / "out"
    base = [f"input.uri={tmp_path / 'm.jsonl'}", f"output.uri={out}", *model_overrides(tiny_checkpoint)]
    result = run_job(load_config(LOCAL, base))
    df = pd.read_parquet(out / "_manifest" / "results.parquet")
    assert len(df) == 6  # a repeated line keeps its own row too
    assert df["status"].tolist() == ["ok", "ok", "ok", "error", "ok", "ok"]
    bad = df.iloc[3]
    assert bad["error_type"] == "segment_out_of_range" and "past the end" in bad["error_message"]
    assert bad["output_uri"] == df["output_uri"].iloc[0]  # the recording itself was fine
    assert result.exit_code == 3 and result.summary["counts"]["recordings_processed"] == 1
    # Resume: the line-level error does not make the recording be enhanced again.
    again = run_job(load_config(LOCAL, base))
    assert again.summary["counts"]["recordings_processed"] == 0 and again.summary["counts"]["skipped"] == 6


def test_a_new_segment_of_a_done_recording_redoes_that_recording_once(tmp_path, ray_local, tiny_checkpoint):
    sf.write(tmp_path / "talk.wav", _loud_then_quiet(), 16000)
    manifest = tmp_path / "m.jsonl"
    manifest.write_text(_nemo_lines("talk.wav", SEGMENTS[:2]))
    out = tmp_path / "out"
    base = [f"input.uri={manifest}", f"output.uri={out}", *model_overrides(tiny_checkpoint)]
    assert run_job(load_config(LOCAL, base)).exit_code == 0
    manifest.write_text(_nemo_lines("talk.wav", SEGMENTS))
    second = run_job(load_config(LOCAL, base))
    assert second.summary["counts"]["recordings_processed"] == 1
    df = pd.read_parquet(out / "_manifest" / "results.parquet")
    assert len(df) == 3 and (df["status"] == "ok").all() and df["level_in_dbfs"].notna().all()
