"""jobs.stages.Measures: the read and write stages measure a task's waveforms in shared runs
(one VAD pass for the short ones, the long ones alone); every waveform gets what measure_all
gives it alone, and its row is charged for the time."""

from __future__ import annotations

import numpy as np

from frcrn.quality.measures import measure_all
from jobs.stages import MEASURE_RUN_FILES, MEASURE_RUN_MAX_SECONDS, Measures


def _noise(samples: int, seed: int) -> np.ndarray:
    return (0.05 * np.random.default_rng(seed).standard_normal(samples)).astype(np.float32)


def test_shared_runs_give_each_waveform_its_own_values_short_and_long_mixed():
    long = int((MEASURE_RUN_MAX_SECONDS + 5) * 16000)
    waves = [_noise(n, seed) for seed, n in enumerate((32000, long, 24000, long + 999, 5000))]
    measures = Measures(True, "_out")
    targets = [{"key": i} for i in range(len(waves))]
    rows = [{"processing_s": None} for _ in waves]
    for target, x, row in zip(targets, waves, rows):
        measures.add(target, x, 16000, row)
    measures.flush()
    for i, (target, x) in enumerate(zip(targets, waves)):
        assert target == {"key": i, **measure_all(x, 16000, suffix="_out")}
    assert all(row["processing_s"] > 0 for row in rows)


def test_a_full_queue_is_measured_between_rows_and_measures_off_queue_nothing():
    measures = Measures(True, "_in")
    targets = [{} for _ in range(MEASURE_RUN_FILES)]
    for i, target in enumerate(targets):
        measures.add(target, _noise(8000, i), 16000, {})
    measures.flush_if_full()
    assert not measures.queued and all("speech_ratio_in" in t for t in targets)
    off = Measures(False, "_in")
    off.add({}, _noise(8000, 0), 16000, {})
    assert not off.queued
