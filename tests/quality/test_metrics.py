"""frcrn.quality.metrics (SI-SDR, PESQ, STOI) and frcrn.quality.dnsmos (DNSMOS P.835)."""

from __future__ import annotations

import math
import warnings
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from frcrn.quality import dnsmos, metrics

ROOT = Path(__file__).resolve().parents[2]
SHARED = ROOT.parent / "shared"
DNSMOS_MODEL = SHARED / "dnsmos" / "sig_bak_ovr.onnx"
EXAMPLES = sorted((SHARED / "examples").glob("*.wav"))
SPEECH = sorted((SHARED / "data" / "dns_no_reverb_frcrn_enhanced").glob("*.wav"))

needs_speech = pytest.mark.skipif(not SPEECH, reason="../shared/data not present")
needs_dnsmos = pytest.mark.skipif(not DNSMOS_MODEL.exists() or len(EXAMPLES) != 2,
                                  reason="../shared/dnsmos or ../shared/examples not present")


@pytest.fixture(scope="module")
def speech() -> np.ndarray:
    if not SPEECH:
        pytest.skip("../shared/data not present")
    x, rate = sf.read(SPEECH[0], dtype="float32")
    assert rate == 16000
    return x[: 4 * 16000]


def _noise_at_snr(clean: np.ndarray, snr_db: float, seed: int = 0) -> np.ndarray:
    noise = np.random.default_rng(seed).standard_normal(clean.size)
    noise -= noise.mean()
    c = clean.astype(np.float64) - clean.mean()
    noise *= math.sqrt(np.mean(c**2) / (np.mean(noise**2) * 10 ** (snr_db / 10)))
    return noise


# ----------------------------------------------------------------------------- SI-SDR


def test_si_sdr_of_a_signal_with_itself_is_large():
    x = np.random.default_rng(1).standard_normal(16000)
    assert metrics.si_sdr(x, x) >= 100.0
    assert metrics.si_sdr(x, x) == metrics.SI_SDR_MAX_DB


def test_si_sdr_is_scale_invariant():
    rng = np.random.default_rng(2)
    ref = rng.standard_normal(16000)
    est = ref + 0.3 * rng.standard_normal(16000)
    base = metrics.si_sdr(est, ref)
    for scale in (1e-3, 0.5, 7.0):
        assert metrics.si_sdr(scale * est, ref) == pytest.approx(base, abs=1e-9)
        assert metrics.si_sdr(est, scale * ref) == pytest.approx(base, abs=1e-9)
    assert metrics.si_sdr(0.25 * ref, ref) == metrics.si_sdr(ref, ref)


def test_si_sdr_removes_the_mean():
    x = np.random.default_rng(3).standard_normal(16000)
    assert metrics.si_sdr(x + 0.5, x) >= 100.0


@pytest.mark.parametrize("snr", [-5.0, 0.0, 10.0, 20.0])
def test_si_sdr_with_noise_at_known_snr(snr):
    rng = np.random.default_rng(4)
    clean = rng.standard_normal(5 * 16000) * np.hanning(5 * 16000)  # not stationary, like speech
    noisy = clean + _noise_at_snr(clean, snr)
    assert metrics.si_sdr(noisy, clean) == pytest.approx(snr, abs=0.15)


@needs_speech
def test_si_sdr_on_speech_matches_snr(speech):
    noisy = speech + _noise_at_snr(speech, 5.0, seed=5)
    assert metrics.si_sdr(noisy, speech) == pytest.approx(5.0, abs=0.15)


def test_si_sdr_undefined_cases():
    x = np.random.default_rng(6).standard_normal(1000)
    with pytest.warns(metrics.MetricWarning, match="reference is silent"):
        assert math.isnan(metrics.si_sdr(x, np.zeros(1000)))
    with pytest.raises(ValueError, match="same length"):
        metrics.si_sdr(x, x[:-1])
    with pytest.raises(ValueError, match="1-D"):
        metrics.si_sdr(x.reshape(2, -1), x.reshape(2, -1))


# ----------------------------------------------------------------------------- PESQ / STOI


@needs_speech
def test_pesq_and_stoi_of_identical_signals_are_near_max(speech):
    assert metrics.pesq_wb(speech, speech) > 4.5
    assert metrics.pesq_nb(speech, speech) > 4.4
    assert metrics.stoi(speech, speech) > 0.99
    assert metrics.estoi(speech, speech) > 0.99


@needs_speech
def test_noise_lowers_pesq_and_stoi(speech):
    noisy = (speech + _noise_at_snr(speech, 0.0, seed=7)).astype(np.float32)
    assert 1.0 <= metrics.pesq_wb(noisy, speech) < 2.5
    assert 1.0 <= metrics.pesq_nb(noisy, speech) < 3.0
    assert 0.3 < metrics.stoi(noisy, speech) < 0.95
    assert 0.1 < metrics.estoi(noisy, speech) < metrics.stoi(noisy, speech)


@needs_speech
def test_pesq_at_other_rates_is_resampled(speech):
    from frcrn.audio import resample

    x8 = resample(speech, 16000, 8000)
    assert metrics.pesq_nb(x8, x8, sample_rate=8000) > 4.4
    x48 = resample(speech, 16000, 48000)
    assert metrics.pesq_wb(x48, x48, sample_rate=48000) > 4.5


def test_undefined_pesq_and_stoi_are_nan_with_a_note():
    silent = np.zeros(3 * 16000)
    for fn in (metrics.pesq_wb, metrics.pesq_nb, metrics.stoi, metrics.estoi):
        with pytest.warns(metrics.MetricWarning, match="silent"):
            assert math.isnan(fn(silent, silent))
    tiny = np.zeros(3 * 16000)
    tiny[100] = 1e-3  # not silent, but no utterance PESQ can find and no STOI frames
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert math.isnan(metrics.stoi(tiny, tiny))
    assert any("non-silent frames" in str(w.message) for w in caught)
    short = np.random.default_rng(8).standard_normal(800)
    with pytest.warns(metrics.MetricWarning, match="too short"):
        assert math.isnan(metrics.pesq_wb(short, short))


# ----------------------------------------------------------------------------- DNSMOS


def _reference_window_starts(num_samples: int) -> list[int]:
    """Microsoft's dnsmos_local.py, operation for operation, on a dummy signal."""
    audio = np.zeros(num_samples)
    len_samples = int(9.01 * 16000)
    while len(audio) < len_samples:
        audio = np.append(audio, audio)
    num_hops = int(np.floor(len(audio) / 16000) - 9.01) + 1
    return [int(idx * 16000) for idx in range(num_hops)
            if len(audio[int(idx * 16000): int((idx + 9.01) * 16000)]) >= len_samples]


@pytest.mark.parametrize("seconds", [0.3, 1.0, 2.0, 2.4, 4.7, 8.5, 9.0, 9.01, 10.0, 10.5, 11.2, 17.9, 30.0, 130.5])
def test_window_selection_is_the_reference_scripts(seconds):
    n = int(round(seconds * 16000))
    assert dnsmos.window_starts(n) == _reference_window_starts(n)


def test_short_clips_are_doubled_and_repeated_windows_share_a_score():
    x = np.arange(32000, dtype=np.float32)  # 2 s -> doubled to 16 s: 7 windows, 2 distinct
    windows = dnsmos.make_windows(x)
    assert windows.shape == (7, dnsmos.WINDOW)
    assert np.array_equal(windows[0], np.concatenate([x, x, x, x, x])[: dnsmos.WINDOW])
    assert np.array_equal(windows[2], windows[0]) and np.array_equal(windows[3], windows[1])
    unique, inverse = dnsmos._unique_windows(x)
    assert len(unique) == 2 and inverse.tolist() == [0, 1, 0, 1, 0, 1, 0]
    with pytest.raises(ValueError, match="empty"):
        dnsmos.make_windows(np.zeros(0))


def test_polynomial_mapping():
    raw = np.array([[3.0, 4.0, 2.5], [2.0, 3.0, 1.5]])
    got = dnsmos.map_raw(raw)
    want_sig = np.mean([-0.08397278 * v**2 + 1.22083953 * v + 0.0052439 for v in (3.0, 2.0)])
    want_bak = np.mean([-0.13166888 * v**2 + 1.60915514 * v - 0.39604546 for v in (4.0, 3.0)])
    want_ovrl = np.mean([-0.06766283 * v**2 + 1.11546468 * v + 0.04602535 for v in (2.5, 1.5)])
    assert got == pytest.approx({"sig": want_sig, "bak": want_bak, "ovrl": want_ovrl}, abs=1e-12)


@pytest.fixture(scope="module")
def scorer() -> dnsmos.Dnsmos:
    if not DNSMOS_MODEL.exists():
        pytest.skip("../shared/dnsmos not present")
    return dnsmos.Dnsmos(str(DNSMOS_MODEL), threads=1)


@needs_dnsmos
def test_dnsmos_of_the_model_card_examples(scorer):
    clips = [sf.read(p, dtype="float32")[0] for p in EXAMPLES]
    scores = scorer.score_many(clips)
    mean = {k: np.mean([s[k] for s in scores]) for k in dnsmos.KEYS}
    assert mean["sig"] == pytest.approx(2.32, abs=0.01)
    assert mean["bak"] == pytest.approx(1.49, abs=0.01)
    assert mean["ovrl"] == pytest.approx(1.51, abs=0.01)
    assert scorer.score(clips[1]) == scores[1]  # batching across clips changes nothing


@needs_dnsmos
def test_dnsmos_window_reuse_matches_scoring_every_window(scorer):
    """The de-duplicated windows give the same mean as running the model on every window."""
    x = sf.read(EXAMPLES[0], dtype="float32")[0][:16000]  # 1 s -> 16 s, 7 windows, 1 distinct
    raw = scorer.session.run(None, {"input_1": dnsmos.make_windows(x)})[0]
    assert scorer.score(x) == pytest.approx(dnsmos.map_raw(raw), abs=1e-9)


@needs_dnsmos
def test_dnsmos_from_fsspec_url_and_cache():
    import fsspec

    with fsspec.open("memory://models/dnsmos.onnx", "wb") as f:
        f.write(DNSMOS_MODEL.read_bytes())
    a = dnsmos.get_scorer("memory://models/dnsmos.onnx")
    assert a is dnsmos.get_scorer("memory://models/dnsmos.onnx")
    assert a.input_name == "input_1" and a.providers[-1] == "CPUExecutionProvider"
    assert dnsmos.get_scorer(None) is None
    with pytest.raises(FileNotFoundError, match="DNSMOS model not found"):
        dnsmos.Dnsmos("memory://models/missing.onnx")
