"""Denoising strength (``atten_lim_db``, ``dry``): pass-through at the extremes, and a lower
limit removes less noise, measured on a known mixture."""

from __future__ import annotations

import numpy as np
import pytest

from frcrn.config import InvalidSettings
from frcrn.enhance import EnhanceConfig, Enhancer

from .conftest import SHARED, shared_file


def _mixture(seconds: float = 4.0, snr_db: float = 5.0, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(noisy, clean): a LibriSpeech clip from ../shared with white noise at ``snr_db``."""
    import soundfile as sf

    clean, rate = sf.read(shared_file(_speech()), dtype="float32")
    clean = clean[: int(seconds * rate)]
    noise = np.random.default_rng(seed).standard_normal(clean.size).astype(np.float32)
    noise *= np.sqrt(np.mean(clean**2) / np.mean(noise**2)) * 10 ** (-snr_db / 20)
    return clean + noise, clean


def _speech():
    folder = SHARED / "data" / "speech_librispeech_samples"
    return min(folder.rglob("*.flac"), default=folder / "missing.flac")


@pytest.fixture(scope="module")
def noisy_clean():
    return _mixture()


@pytest.mark.parametrize("settings", [{"atten_lim_db": 0.0}, {"dry": 1.0}, {"atten_lim_db": 0.0, "dry": 0.5}])
def test_no_strength_gives_the_input_back(noisy_clean, settings):
    noisy, _ = noisy_clean
    out = Enhancer.from_checkpoint(None, EnhanceConfig(device="cpu", **settings)).enhance(noisy)
    assert np.max(np.abs(out - noisy)) < 0.5 / 32768  # within PCM16 rounding


def test_a_lower_limit_removes_less_noise(noisy_clean):
    """Measured where the answer is known: the first second is noise only (the speech starts
    later), so the attenuation there is the noise removed; a limit of L dB caps it at L dB."""
    noisy, _ = noisy_clean
    lead = np.random.default_rng(1).standard_normal(16000).astype(np.float32) * np.std(noisy - _mixture()[1])
    x = np.concatenate([lead, noisy])
    removed = {}
    for limit in (None, 20.0, 6.0):
        out = Enhancer.from_checkpoint(None, EnhanceConfig(device="cpu", atten_lim_db=limit)).enhance(x)
        part = slice(1600, 14400)  # inside the noise-only second, away from its edges
        removed[limit] = 10 * np.log10(np.sum(x[part] ** 2) / np.sum(out[part] ** 2))
    assert removed[None] > removed[20.0] > removed[6.0] > 3.0
    assert removed[20.0] <= 20.0 + 0.5 and removed[6.0] <= 6.0 + 0.5


def test_dry_is_a_linear_mix_of_the_enhanced_output_and_the_input(noisy_clean):
    noisy, _ = noisy_clean
    full = Enhancer.from_checkpoint(None, EnhanceConfig(device="cpu")).enhance(noisy)
    mixed = Enhancer.from_checkpoint(None, EnhanceConfig(device="cpu", dry=0.25)).enhance(noisy)
    np.testing.assert_allclose(mixed, 0.75 * full + 0.25 * noisy, atol=2e-6)


@pytest.mark.parametrize("settings, field", [({"atten_lim_db": -3.0}, "atten_lim_db"), ({"dry": 1.5}, "dry")])
def test_out_of_range_strength_is_refused_by_name(settings, field):
    with pytest.raises(InvalidSettings, match=field):
        EnhanceConfig(**settings)
