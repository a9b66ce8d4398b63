"""The shared replica and row conversions, without a model (milliseconds): a failing group is
re-run file by file and only the culprits fail, in the integrations and in the job's stage
alike; one row's audio is checked like the codec checks files; `import frcrn` and the
integration modules load none of ray, datasets, lhotse or torch."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from frcrn.integrations.core import BatchEnhancer, RowError, finish, to_model_rate
from jobs.results import PIPELINE_SCHEMA, new_row, rows_to_table
from jobs.stages import Enhance

from .conftest import encoded, signal


class _Picky:
    """enhance_many always fails; enhance fails on a 3-sample wave, returns a wrong length for a
    5-sample one, NaN for a 7-sample one, and the input itself otherwise."""

    model_id, checkpoint_sha256 = "picky", "abc"

    def enhance_many(self, waves):
        raise MemoryError("out of memory for the packed batch")

    def enhance(self, w):
        if w.size == 3:
            raise RuntimeError("boom")
        if w.size == 5:
            return w[:-1]
        if w.size == 7:
            return np.full_like(w, np.nan)
        return w.copy()


def test_a_failing_group_is_rerun_file_by_file_and_only_the_culprits_fail():
    waves = [np.full(n, 0.1, np.float32) for n in (4, 3, 5, 7)]
    results, times = BatchEnhancer(enhancer=_Picky()).enhance_group(waves)
    assert np.array_equal(results[0], waves[0]) and len(times) == 4
    assert [(r.kind, r.message) for r in results[1:]] == [
        ("enhance_error", "the model failed on this file: RuntimeError: boom"),
        ("enhance_error", "the model returned 4 samples for 5; this is a bug in the enhancer"),
        ("enhance_error", "the model produced NaN/infinite samples (try precision=fp32)"),
    ]


def test_the_jobs_stage_makes_the_same_failures_error_rows_named_by_uri():
    rows = []
    for i, n in enumerate((4, 3)):
        row = new_row(f"s3://b/{i}.wav", f"s3://b/out/{i}.wav", "core-test")
        row.update(audio=np.full(n, 0.1, np.float32).tobytes(), processing_s=0.0)
        rows.append(row)
    out = Enhance(enhancer=_Picky())(rows_to_table(rows, PIPELINE_SCHEMA)).to_pylist()
    assert [r["status"] for r in out] == ["pending", "error"]
    assert out[1]["error_type"] == "enhance_error"
    assert out[1]["error_message"] == "s3://b/1.wav: the model failed on this file: RuntimeError: boom"
    assert {(r["model_id"], r["checkpoint_sha256"]) for r in out} == {("picky", "abc")}


def test_one_rows_audio_is_checked_and_brought_to_16_khz():
    x = signal(0.25, 8000)
    samples, rate = to_model_rate(x, 8000)
    assert rate == 8000 and samples.dtype == np.float32 and samples.size == 2 * x.size
    from_bytes, rate = to_model_rate(encoded(x, 8000))
    assert rate == 8000 and np.abs(from_bytes - samples).max() < 1e-3  # 16-bit vs float input
    assert to_model_rate({"array": x, "sampling_rate": 8000})[1] == 8000
    assert to_model_rate({"bytes": encoded(x, 8000), "path": "x.wav"})[1] == 8000
    bad = [
        (None, None, "empty"),
        (x, None, "sample_rate"),
        (x, 100, "sample_rate"),
        (x.astype(np.int16), 8000, "invalid_input"),
        (np.zeros((2, 5), np.float32), 8000, "invalid_input"),
        (np.array([np.inf], np.float32), 8000, "non_finite"),
        (b"", None, "empty"),
        ({"path": "/no/such/file.wav"}, None, "read_error"),
    ]
    for value, rate, kind in bad:
        with pytest.raises(RowError) as info:
            to_model_rate(value, rate)
        assert info.value.kind == kind, (value, info.value)
    with pytest.raises(RowError, match="too_long"):
        to_model_rate(x, 8000, max_seconds=0.1)
    back = finish(samples, 8000, "input", "flac")
    assert back.sample_rate == 8000 and back.output[:4] == b"fLaC" and back.error is None


def test_importing_frcrn_and_the_integrations_loads_no_pipeline_library():
    code = ("import sys, frcrn, frcrn.integrations.core, frcrn.integrations.ray_data, "
            "frcrn.integrations.hf_datasets, frcrn.integrations.lhotse\n"
            "print(sorted(m for m in ('ray', 'datasets', 'lhotse', 'torch') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]", done.stdout + done.stderr
