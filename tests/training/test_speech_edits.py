"""Edits of the clean speech before mixing: a pause silences a stretch with short fades; a tilt
raises (or lowers) each octave above 1 kHz by the asked amount and leaves the rest alone."""

from __future__ import annotations

import numpy as np
import pytest

from frcrn.training.speech_edits import PAUSE_FADE_SECONDS, insert_pause, spectral_tilt

SR = 16000


def test_insert_pause_silences_the_stretch_with_short_fades_and_keeps_the_rest():
    x = np.ones(SR, dtype=np.float32)
    out = insert_pause(x, 0.25, 4000, SR)
    fade = round(PAUSE_FADE_SECONDS * SR)
    assert np.all(out[4000:8000] == 0.0)
    assert np.all(out[: 4000 - fade] == 1.0) and np.all(out[8000 + fade :] == 1.0)
    assert np.all(np.diff(out[4000 - fade : 4000]) <= 0) and np.all(np.diff(out[8000 : 8000 + fade]) >= 0)
    assert np.all(x == 1.0)  # the input is not changed


def test_insert_pause_is_clipped_to_the_crop():
    x = np.ones(1000, dtype=np.float32)
    assert np.all(insert_pause(x, 1.0, 0, SR) == 0.0)  # longer than the crop: all silent
    out = insert_pause(x, 0.01, 990, SR)  # runs past the end: moved inside
    assert np.all(out[840:] == 0.0) and out[0] == 1.0


def _level_db(x: np.ndarray) -> float:
    return 10 * np.log10(np.mean(np.asarray(x, dtype=np.float64) ** 2))


def test_spectral_tilt_raises_each_octave_above_1_khz_and_leaves_below_alone():
    t = np.arange(SR) / SR
    middle = slice(SR // 4, 3 * SR // 4)  # away from the ends, where a filter has no past or future
    for hz, octaves in [(500, 0), (2000, 1), (4000, 2)]:
        tone = (0.1 * np.sin(2 * np.pi * hz * t)).astype(np.float32)
        for db_per_octave in (3.0, -2.0):
            out = spectral_tilt(tone, db_per_octave, SR)
            assert out.dtype == np.float32 and out.shape == tone.shape
            gain = _level_db(out[middle]) - _level_db(tone[middle])
            assert gain == pytest.approx(db_per_octave * octaves, abs=0.05)
