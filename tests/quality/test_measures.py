"""frcrn.quality.measures: speech ratio, WADA-SNR, BS.1770 loudness and bandwidth, as specifications
on constructed signals with known answers (real speech from ../shared where the detector needs it).

Tolerances are stated in each test and were measured on this machine's data (see the measures'
docstrings for the wider measurements behind them).
"""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import soxr

from frcrn.quality import measures, snr, vad
from frcrn.quality.bandwidth import bandwidth_hz
from frcrn.quality.measures import loudness_lufs, measure_all
from frcrn.quality.snr import wada_snr
from frcrn.quality.vad import speech_ratio
from tests.conftest import shared_file

ROOT = Path(__file__).resolve().parents[2]
SHARED = ROOT.parent / "shared"
LIBRISPEECH = SHARED / "data" / "speech_librispeech_samples" / "train-clean-100"
NOISE = SHARED / "data" / "noise_recorded" / "speech_commands_background"
KEYS = ["speech_ratio", "snr_db", "loudness_lufs", "bandwidth_hz"]
# The first six clips of train-clean-100 (sorted) that are at least 8 s long and whose own WADA-SNR
# is above 35 dB: clean enough that the mixed-in noise dominates.
CLEAN_CLIPS = ["1040-133433-0000", "1088-129236-0000", "1116-132847-0000",
               "1246-124548-0000", "1263-138246-0000", "1334-135589-0000"]


def _speech(name: str = "1263-138246-0000") -> tuple[np.ndarray, int]:
    x, rate = sf.read(shared_file(LIBRISPEECH / f"{name}.flac"), dtype="float32")
    assert rate == 16000
    return x, rate


def _sine(rate: int, seconds: float, rms_dbfs: float, freq: float = 997.0) -> np.ndarray:
    t = np.arange(round(seconds * rate)) / rate
    return (np.sqrt(2) * 10 ** (rms_dbfs / 20) * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def _lowpassed_noise(rate: int, cutoff: float, seconds: float = 5.0, seed: int = 0) -> np.ndarray:
    """White noise with everything above ``cutoff`` removed (brick-wall, in the FFT domain)."""
    x = np.random.default_rng(seed).standard_normal(round(seconds * rate)) * 0.1
    spectrum = np.fft.rfft(x)
    spectrum[np.fft.rfftfreq(x.size, 1 / rate) > cutoff] = 0
    return np.fft.irfft(spectrum, x.size).astype(np.float32)


def _pcm16(x: np.ndarray) -> np.ndarray:
    return (np.round(np.clip(x, -1, 1) * 32767) / 32767).astype(np.float32)


# --------------------------------------------------------------------------- speech ratio (VAD)


def test_speech_ratio_of_a_3s_burst_between_3s_silences_is_a_third():
    x, rate = _speech()
    burst = x[rate // 2: rate // 2 + 3 * rate]  # 3 s of running speech
    silence = np.zeros(3 * rate, np.float32)
    padded = np.concatenate([silence, burst, silence])
    assert speech_ratio(padded, rate) == pytest.approx(1 / 3, abs=0.1)  # measured 0.334
    # every detected segment lies inside the burst (30 ms padding + a frame of slack)
    probs = vad.speech_probabilities(padded, rate)
    for start, end in vad.speech_segments(probs, padded.size):
        assert 3 * rate - 0.1 * rate <= start < end <= 6 * rate + 0.1 * rate
    # the rate does not matter: the same signal at 48 kHz (resampled to 16 kHz inside)
    up = soxr.resample(padded, rate, 48000).astype(np.float32)
    assert speech_ratio(up, 48000) == pytest.approx(speech_ratio(padded, rate), abs=0.02)


@pytest.mark.parametrize("kind", ["silence", "white", "doing_the_dishes", "running_tap"])
def test_speech_ratio_of_silence_and_noise_is_near_zero(kind):
    rate = 16000
    if kind == "silence":
        x = np.zeros(6 * rate, np.float32)
    elif kind == "white":
        x = (0.05 * np.random.default_rng(1).standard_normal(6 * rate)).astype(np.float32)
    else:
        x, rate = sf.read(shared_file(NOISE / f"{kind}.flac"), dtype="float32", frames=10 * 16000)
    ratio = speech_ratio(x, rate)
    assert isinstance(ratio, float)
    assert ratio < 0.1  # measured 0.0 for all four


def test_speech_ratio_is_none_when_too_short_and_checks_its_threshold():
    assert speech_ratio(np.zeros(4000, np.float32), 16000) is None  # 250 ms: silero keeps no segment
    assert speech_ratio(np.zeros(0, np.float32), 16000) is None
    assert speech_ratio(np.zeros(4100, np.float32), 16000) == 0.0
    with pytest.raises(ValueError):
        speech_ratio(np.zeros(16000, np.float32), 16000, threshold=1.5)


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # silero's loader uses importlib.resources.path
def test_vad_reproduces_silero_wrappers_exactly():
    """Same probabilities as silero's OnnxWrapper and same segments as get_speech_timestamps."""
    import torch
    from silero_vad import get_speech_timestamps, load_silero_vad

    model = load_silero_vad(onnx=True)
    x, rate = _speech("1088-129236-0000")
    noise, _ = sf.read(shared_file(NOISE / "running_tap.flac"), dtype="float32", frames=x.size)
    for clip in (x, x + 0.3 * noise):  # clean speech, and speech in noise
        ours = vad.speech_probabilities(clip, rate)
        theirs = model.audio_forward(torch.from_numpy(clip), rate).numpy().reshape(-1)
        np.testing.assert_allclose(ours, theirs, atol=1e-6)
        reference = [(d["start"], d["end"]) for d in get_speech_timestamps(torch.from_numpy(clip), model)]
        assert vad.speech_segments(ours, clip.size) == reference
        assert len(reference) >= 1


def test_speech_ratio_does_not_import_torch():
    code = ("import sys, numpy as np\n"
            "from frcrn.quality.measures import measure_all\n"
            "row = measure_all(np.zeros(16000, np.float32), 16000)\n"
            "assert row['speech_ratio'] == 0.0, row\n"
            "assert 'torch' not in sys.modules, 'torch was imported'\n")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr


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


# --------------------------------------------------------------------------- loudness


@pytest.mark.parametrize("rate", [16000, 48000])
def test_loudness_of_the_bs1770_reference_sine(rate):
    """BS.1770: a 997 Hz sine at -23 dBFS RMS in one channel is -23 LUFS (measured -23.04 to -23.07)."""
    assert loudness_lufs(_sine(rate, 5.0, -23.0), rate) == pytest.approx(-23.0, abs=0.1)
    assert loudness_lufs(_sine(rate, 5.0, -29.0), rate) == pytest.approx(-29.0, abs=0.1)


def test_loudness_is_none_when_too_short_or_silent():
    rate = 16000
    assert loudness_lufs(_sine(rate, 0.39, -23.0), rate) is None  # shorter than one 400 ms block
    assert isinstance(loudness_lufs(_sine(rate, 0.4, -23.0), rate), float)
    assert loudness_lufs(np.zeros(rate, np.float32), rate) is None
    assert loudness_lufs(_sine(rate, 2.0, -90.0), rate) is None  # under the -70 LUFS absolute gate


# --------------------------------------------------------------------------- bandwidth


@pytest.mark.parametrize("rate", [16000, 44100])
def test_bandwidth_of_noise_low_passed_at_4khz(rate):
    assert bandwidth_hz(_lowpassed_noise(rate, 4000), rate) == pytest.approx(4000, abs=100)  # measured 4023, 4070
    assert bandwidth_hz(_pcm16(_lowpassed_noise(rate, 4000)), rate) == pytest.approx(4000, abs=100)


def test_bandwidth_of_full_band_noise_is_the_nyquist_frequency():
    noise = (0.1 * np.random.default_rng(3).standard_normal(5 * 44100)).astype(np.float32)
    assert bandwidth_hz(noise, 44100) >= 21900  # measured 22050


def test_bandwidth_of_16khz_audio_upsampled_to_48khz_is_8khz():
    """How "the content above 8 kHz is gone" shows: 16 kHz audio written at 48 kHz."""
    noise = np.random.default_rng(4).standard_normal(5 * 16000) * 0.1
    up = soxr.resample(noise, 16000, 48000)
    assert bandwidth_hz(_pcm16(up), 48000) == pytest.approx(8000, abs=250)  # measured 7898
    x, rate = _speech()
    assert bandwidth_hz(x, rate) >= 7800  # the 16 kHz original reaches Nyquist (measured 8000)
    up = _pcm16(soxr.resample(x, rate, 48000))
    assert 7400 <= bandwidth_hz(up, 48000) <= 8000  # soxr's transition band (measured 7781)


def test_bandwidth_is_none_when_too_short_or_empty():
    assert bandwidth_hz(np.zeros(2047, np.float32), 16000) is None  # shorter than one 2048-point frame
    assert bandwidth_hz(np.zeros(48000, np.float32), 48000) is None
    dither = _pcm16(1e-5 * np.random.default_rng(5).standard_normal(48000))  # 16-bit quantisation noise only
    assert bandwidth_hz(dither, 48000) is None


# --------------------------------------------------------------------------- measure_all


def test_measure_all_on_speech_gives_every_column():
    x, rate = _speech()
    row = measure_all(x, rate)
    assert list(row) == KEYS
    assert all(isinstance(v, float) for v in row.values()), row
    assert 0.5 < row["speech_ratio"] <= 1.0
    assert row["snr_db"] > 20
    assert -40 < row["loudness_lufs"] < -10
    assert row["bandwidth_hz"] >= 7800
    assert list(measure_all(x, rate, suffix="_out")) == [k + "_out" for k in KEYS]


@pytest.mark.parametrize(("samples", "expected"), [
    (np.zeros(16000, np.float32), {"speech_ratio": 0.0, "snr_db": None, "loudness_lufs": None, "bandwidth_hz": None}),
    (np.full(1600, 0.1, np.float32), dict.fromkeys(KEYS)),  # 0.1 s of DC: too short, and silent once DC is removed
    (np.zeros(0, np.float32), dict.fromkeys(KEYS)),
    (np.zeros((2, 16000), np.float32), dict.fromkeys(KEYS)),  # not mono: every measure refuses
], ids=["silence", "0.1s", "empty", "stereo"])
def test_measure_all_on_degenerate_input_never_raises(samples, expected):
    row = measure_all(samples, 16000, suffix="_in")
    assert row == {k + "_in": v for k, v in expected.items()}


def test_a_short_noisy_clip_still_gets_an_snr():
    x = (0.1 * np.random.default_rng(6).standard_normal(1600)).astype(np.float32)  # 0.1 s
    row = measure_all(x, 16000)
    assert row["speech_ratio"] is None and row["loudness_lufs"] is None and row["bandwidth_hz"] is None
    assert isinstance(row["snr_db"], float)


def test_a_failing_measure_is_none_and_logged_and_the_others_still_run(monkeypatch, caplog):
    def broken(x, rate):
        raise RuntimeError("model file unreadable")

    monkeypatch.setitem(measures.MEASURES, "speech_ratio", broken)
    with caplog.at_level(logging.WARNING, logger="frcrn.quality.measures"):
        row = measure_all(_sine(16000, 1.0, -23.0), 16000)
    assert row["speech_ratio"] is None
    assert row["loudness_lufs"] == pytest.approx(-23.0, abs=0.1)
    assert "speech_ratio" in caplog.text and "model file unreadable" in caplog.text


# --------------------------------------------------------------------------- several at once


def test_measuring_many_at_once_gives_each_waveform_its_own_values():
    """measure_many runs the VAD over all waveforms together (the model's batch dimension); every
    waveform still gets exactly what measure_all gives it alone: its own recurrent state, and it
    leaves the batch when it ends. Mixed lengths (one too short for a speech ratio), rates and a
    silent one, in an order that is not sorted by length."""
    x, rate = _speech()
    noise = np.random.default_rng(5).standard_normal(x.size).astype(np.float32) * 0.01
    items = [(x[:3 * rate], rate), (x[rate:rate + 3000], rate), (np.zeros(rate, np.float32), rate),
             (soxr.resample(x[: 5 * rate], rate, 44100).astype(np.float32), 44100), (x + noise, rate),
             (x[2 * rate:4 * rate + 123] + noise[:2 * rate + 123], rate)]
    together = measures.measure_many(items, suffix="_in")
    assert together == [measure_all(a, r, suffix="_in") for a, r in items]
    probs = vad.speech_probabilities_many([a for a, r in items if r == 16000])
    alone = [vad.speech_probabilities(a, r) for a, r in items if r == 16000]
    assert [p.shape for p in probs] == [p.shape for p in alone]
    assert max(float(np.abs(p - q).max()) for p, q in zip(probs, alone) if p.size) <= 1e-6
