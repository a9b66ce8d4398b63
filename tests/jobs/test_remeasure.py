"""Measurements added to a finished output fill their columns without enhancing again: the
output files keep their bytes and modification times (``jobs.remeasure``)."""

from __future__ import annotations

import json
import os

import numpy as np
import pandas as pd
import soundfile as sf

from jobs.config import load_config
from jobs.pipeline import run_job

from .conftest import ROOT, model_overrides, tone

LOCAL = str(ROOT / "configs" / "local.yaml")
DNSMOS = ROOT.parent / "shared" / "dnsmos" / "sig_bak_ovr.onnx"


def _outputs(out):
    return {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in sorted(out.rglob("*.wav"))}


def test_dnsmos_and_measures_added_later_fill_the_columns_without_re_enhancing(tmp_path, ray_local, tiny_checkpoint):
    inp, out = tmp_path / "in", tmp_path / "out"
    inp.mkdir()
    for i in range(3):
        sf.write(inp / f"{i}.wav", tone(2.0, 16000, seed=i), 16000)
    lines = [{"audio_filepath": "0.wav", "offset": 0.0, "duration": 1.0, "text": "a"},
             {"audio_filepath": "0.wav", "offset": 1.0, "duration": 1.0, "text": "b"},
             {"audio_filepath": "1.wav", "text": "c"}, {"audio_filepath": "2.wav", "text": "d"}]
    (inp / "m.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))
    base = [f"input.uri={inp / 'm.jsonl'}", f"output.uri={out}", *model_overrides(tiny_checkpoint)]
    first = run_job(load_config(LOCAL, [*base, "measures.enabled=false"]))
    assert first.exit_code == 0
    before = _outputs(out)
    df1 = pd.read_parquet(out / "_manifest" / "results.parquet")
    assert df1["speech_ratio_in"].isna().all() and df1["dnsmos_ovrl_out"].isna().all()

    second = run_job(load_config(LOCAL, [*base, f"dnsmos.model={DNSMOS}"]))
    assert second.exit_code == 0 and second.summary["remeasured_recordings"] == 3
    assert second.summary["counts"]["recordings_processed"] == 0  # nothing enhanced again
    df2 = pd.read_parquet(out / "_manifest" / "results.parquet")
    assert len(df2) == 4 and (df2["status"] == "ok").all()
    for column in ("dnsmos_ovrl_in", "dnsmos_ovrl_out", "loudness_lufs_in", "loudness_lufs_out", "snr_db_out"):
        assert df2[column].notna().all(), column
    assert df2.loc[0, "dnsmos_ovrl_in"] != df2.loc[1, "dnsmos_ovrl_in"]  # each segment's own slice
    assert _outputs(out) == before  # same bytes, same modification times
    assert (df2["output_bytes"] == df1["output_bytes"]).all() and (df2["text"] == df1["text"]).all()

    third = run_job(load_config(LOCAL, [*base, f"dnsmos.model={DNSMOS}"]))
    assert third.summary["remeasured_recordings"] == 0  # nothing left to fill
    assert os.path.exists(out / "_manifest" / "results.parquet")


def test_a_measure_that_fails_leaves_its_rows_unmeasured_and_the_task_goes_on():
    from jobs.remeasure import _measure_queued
    from jobs.stages import Measures

    class Failing(Measures):
        def flush(self) -> None:
            self.queued = []
            raise RuntimeError("measuring failed")

    good, bad = {}, {}
    measures = (Measures(True, "_in"), Failing(True, "_out"))
    measures[0].add(good, tone(1.0, 16000, seed=0).astype(np.float32), 16000, {})
    measures[1].add(bad, tone(1.0, 16000, seed=1).astype(np.float32), 16000, {})
    _measure_queued(measures, only_if_full=False)  # does not raise
    assert good["loudness_lufs_in"] is not None and bad == {}
