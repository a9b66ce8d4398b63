"""frcrn.quality: the per-file curation measures (here WADA-SNR), as specifications
on constructed signals with known answers (real speech from ../shared where the detector needs it).

Tolerances are stated in each test and were measured on this machine's data (see the measures'
docstrings for the wider measurements behind them).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from frcrn.quality import snr
from frcrn.quality.snr import wada_snr
from tests.conftest import shared_file

ROOT = Path(__file__).resolve().parents[2]
SHARED = ROOT.parent / "shared"
LIBRISPEECH = SHARED / "data" / "speech_librispeech_samples" / "train-clean-100"
# The first six clips of train-clean-100 (sorted) that are at least 8 s long and whose own WADA-SNR
# is above 35 dB: clean enough that the mixed-in noise dominates.
CLEAN_CLIPS = ["1040-133433-0000", "1088-129236-0000", "1116-132847-0000",
               "1246-124548-0000", "1263-138246-0000", "1334-135589-0000"]


def _speech(name: str = "1263-138246-0000") -> tuple[np.ndarray, int]:
    x, rate = sf.read(shared_file(LIBRISPEECH / f"{name}.flac"), dtype="float32")
    assert rate == 16000
    return x, rate


# --------------------------------------------------------------------------- WADA-SNR


def test_wada_snr_on_signals_that_follow_its_model_is_exact():
    """Gamma(0.4)-distributed speech amplitude plus Gaussian noise: the table's own model."""
    rng = np.random.default_rng(0)
    n = 400_000
    speech = rng.gamma(0.4, 1.0, n) * rng.choice([-1.0, 1.0], n)
    noise = rng.standard_normal(n)
    for true_db in (0, 10, 20, 30):  # below about -5 dB the table is too flat to read
        scale = np.sqrt(np.mean(speech ** 2) / np.mean(noise ** 2) * 10 ** (-true_db / 10))
        assert wada_snr(speech + scale * noise) == pytest.approx(true_db, abs=0.5)


@pytest.mark.parametrize("name", CLEAN_CLIPS)
def test_wada_snr_of_speech_in_white_noise(name):
    """8 s of real speech plus white noise at 0, 10 and 20 dB (energy over the whole clip).

    Tolerance: ±3 dB at 0 and 10 dB, ±7 dB at 20 dB (measured worst cases on these clips:
    0.9, 1.8 and 6.6 dB), and the estimate rises with the true SNR."""
    x, rate = _speech(name)
    x = x[:8 * rate].astype(np.float64)
    noise = np.random.default_rng(0).standard_normal(x.size)
    estimates = []
    for true_db, tolerance in ((0, 3.0), (10, 3.0), (20, 7.0)):
        scale = np.sqrt(np.mean(x ** 2) / np.mean(noise ** 2) * 10 ** (-true_db / 10))
        estimate = wada_snr((x + scale * noise).astype(np.float32))
        assert isinstance(estimate, float)
        assert estimate == pytest.approx(true_db, abs=tolerance)
        estimates.append(estimate)
    assert estimates == sorted(estimates) and len(set(estimates)) == 3


def test_wada_snr_ignores_scale_and_dc_offset_and_is_none_for_silence():
    x, _ = _speech()
    noisy = x[:80000] + 0.01 * np.random.default_rng(2).standard_normal(80000).astype(np.float32)
    reference = wada_snr(noisy)
    assert wada_snr(0.05 * noisy) == pytest.approx(reference, abs=0.01)
    assert wada_snr(noisy + 0.05) == pytest.approx(reference, abs=0.01)  # DC removed first
    assert wada_snr(np.zeros(16000, np.float32)) is None
    assert wada_snr(np.zeros(0, np.float32)) is None
    assert snr.WADA_G.size == snr.WADA_DB.size == 121
