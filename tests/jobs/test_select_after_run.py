"""Selection on a real run: counts and hours add up, and outputs made worse on purpose (a
``model.factory`` that adds buzz and hiss) fall back to the original under the DNSMOS rule."""

from __future__ import annotations

import numpy as np
import pandas as pd
import soundfile as sf

from frcrn.curation import load_policy, select_output
from jobs.config import load_config
from jobs.pipeline import run_job

from ..conftest import SHARED, shared_file
from . import factories
from .conftest import ROOT, model_overrides

LOCAL = str(ROOT / "configs" / "local.yaml")
DNSMOS = SHARED / "dnsmos" / "sig_bak_ovr.onnx"


def test_select_on_a_run_falls_back_to_originals_the_model_made_worse(tmp_path, ray_local, tiny_checkpoint):
    inp, out = tmp_path / "in", tmp_path / "out"
    inp.mkdir()
    speech = sorted((SHARED / "data" / "speech_librispeech_samples").rglob("*.flac"))[:3]
    for i, path in enumerate(speech):
        x, rate = sf.read(shared_file(path), dtype="float32")
        sf.write(inp / f"clip{i}.wav", x[: 4 * rate], rate)
    sf.write(inp / "short.wav", np.zeros(8000, dtype="float32") + 0.01, 16000)  # 0.5 s: too short
    result = run_job(load_config(LOCAL, [f"input.uri={inp}", f"output.uri={out}", f"dnsmos.model={shared_file(DNSMOS)}",
                                         *model_overrides(tiny_checkpoint),
                                         f"model.factory={factories.__name__}:damaging"]))
    assert result.exit_code == 0
    results = pd.read_parquet(out / "_manifest" / "results.parquet")
    assert (results["dnsmos_ovrl_out"] < results["dnsmos_ovrl_in"] - 0.3).sum() >= 3  # worse on purpose

    selection = select_output(str(out), load_policy(str(ROOT / "configs" / "select_default.yaml"), ["drop_where=[]"]))
    table = selection.table.to_pandas() if hasattr(selection.table, "to_pandas") else selection.table
    chosen = dict(zip(table["input_uri"].map(lambda u: u.rsplit("/", 1)[-1]), table["choice"]))
    assert chosen == {"clip0.wav": "original", "clip1.wav": "original", "clip2.wav": "original",
                      "short.wav": "dropped"}
    originals = table[table["choice"] == "original"]
    assert (originals["chosen_uri"] == originals["input_uri"]).all()
    counts = selection.counts
    assert counts["rows"].sum() == len(results)
    hours = results["input_duration_s"].sum() / 3600
    assert abs(counts["hours"].sum() - hours) < 1e-9
    assert (out / "_manifest" / "selected.parquet").exists()

    kept = select_output(str(out), load_policy(None, ["drop.min_duration_s=1"]), write=False).table
    kept = kept.to_pandas() if hasattr(kept, "to_pandas") else kept
    assert (kept["choice"] == "enhanced").sum() == 3  # no fallback rule: the enhanced files
