"""``output.sample_rate``: a number writes that rate, and ``bandwidth_hz_out`` tells what is really
there (FRCRN cleans 0-8 kHz, so nothing above 8 kHz whatever the file's rate)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from jobs.config import ConfigError, load_config
from jobs.pipeline import run_job

from .conftest import ROOT, model_overrides

LOCAL = str(ROOT / "configs" / "local.yaml")


def test_a_numeric_rate_is_written_and_the_bandwidth_says_8_khz(tmp_path, ray_local, tiny_checkpoint):
    rng = np.random.default_rng(0)
    sf.write(tmp_path / "full_band.wav", (0.1 * rng.standard_normal(48000 * 2)).astype("float32"), 48000)
    out = tmp_path / "out"
    result = run_job(load_config(LOCAL, [f"input.uri={tmp_path}", f"output.uri={out}", "output.sample_rate=24000",
                                         *model_overrides(tiny_checkpoint)]))
    assert result.exit_code == 0
    row = pd.read_parquet(out / "_manifest" / "results.parquet").iloc[0]
    assert sf.info(row["output_uri"]).samplerate == 24000 == row["output_sample_rate"]
    assert row["bandwidth_hz_in"] <= 8000 + 50  # measured on what the model gets (16 kHz)
    assert row["bandwidth_hz_out"] <= 8000 + 50  # a 24 kHz file, 8 kHz of content


@pytest.mark.parametrize("value", ["fast", "100"])
def test_a_bad_rate_is_one_config_error(value):
    with pytest.raises(ConfigError, match=r"output\.sample_rate"):
        load_config(LOCAL, [f"output.sample_rate={value}"])
