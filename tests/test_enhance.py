"""The Enhancer: exact lengths, silence, gain, batching, windowing, and how it compares with the reference.

How our output compares with the reference pipeline (tests/support/modelscope_reference.py, a replica
of ModelScope's ANSPipeline) on short files, at the normalised level (restore_gain=False). Both
normalise loudness identically and run a short file through the model in one pass, but they pad
differently: the reference appends 16000-28000 zeros at the END only; the Enhancer puts 640 zeros
before the file and pads the end to a multiple of 0.5 s. FRCRN's squeeze-and-excitation layers
average over the WHOLE input spectrogram, padding included, so the padding changes every output
sample; how much depends on the weights. With the project's CPU-trained model (runs/default, width
32, step ~1600) the Enhancer and the reference agree to only 13.1 dB SNR on both example clips
(speech_with_noise.wav, speech_with_noise1.wav), spread over the whole clip (the reference output is
~1.4 dB louder); the model alone, fed the same clip with 26363 vs 1637 trailing zeros, differs by
13.5 dB, so this is the model's sensitivity to padding, not a defect of either pipeline. With random
weights that sensitivity nearly vanishes and what remains is the start of the file: the reference
starts the model at the first sample, so its first 320 output samples are divided by one window's
power (sample 0 is 0/1e-8) and are ill-conditioned (with random weights they reach |14| where the
signal is ~0.05 RMS), and the first ~100 ms see different context; after 100 ms the two agree to
55.4 / 54.1 dB (parity model, official size) and 67.4 / 68.9 dB (the width-16 model used below).
Whole-clip: 1.2 / 54.1 dB (parity; clip 1 starts loud, clip 2 quietly). The test below asserts
>= 40 dB after the first 100 ms with the width-16 model: it guards alignment, normalisation and
padding plumbing, not the model's padding sensitivity.

Windowed vs whole file, same reason: a 12 s file in 4 s windows (1 s overlap, 0.25 s margins,
0.5 s cross-fade) vs one window: 75.3 dB SNR with the width-16 model, 61.9 dB with the parity model,
but 27.7 dB with the trained model (29.8 dB with the default 10 s windows), the error spread over
every window, not concentrated at the joins. Bound asserted (width-16): >= 50 dB.
bf16 autocast vs fp32 on CPU: bf16 results depend on the CPU (oneDNN picks AMX, AVX512-BF16 or
emulated kernels), so the test compares by SNR, with a wide margin. Width-16 model, 1 s input, on an
Intel Xeon with AMX, other CPUs emulated with ONEDNN_MAX_CPU_ISA: AVX512_CORE_AMX 44.2 dB,
AVX512_CORE_BF16 (no AMX) 44.2 dB, AVX512_CORE (no bf16 hardware) 44.1 dB, AVX2 (no oneDNN bf16:
PyTorch's own kernels) 43.6 dB. With AMX also 44.2 dB (parity model) and 44.1 dB (trained model).
Bound: >= 30 dB.
"""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf
import torch

from frcrn.audio.loudness import normalisation_gain
from frcrn.enhance import EnhanceConfig, Enhancer
from tests.conftest import EXAMPLES, shared_file, snr_db
from tests.support.modelscope_reference import modelscope_pipeline, reference_padding

START = 1600
"""The first 100 ms (5 frames), where the two pipelines' different start context shows."""
REFERENCE_SNR_DB = 40.0
"""Enhancer vs reference pipeline after the first 100 ms (measured 67.4 / 68.9 dB, width-16 model)."""
CHUNKED_SNR_DB = 50.0
"""4 s windows vs one window on a 12 s file (measured 75.3 dB, width-16 model)."""
BF16_SNR_DB = 30.0
"""bf16 autocast vs fp32 on CPU (measured 43.6-44.2 dB across CPU ISAs, width-16 model)."""


def _enhancer(model, **options) -> Enhancer:
    return Enhancer(model, EnhanceConfig(**{"device": "cpu", **options}))


def _noisy_speechlike(samples: int, seed: int = 0, dbfs: float = -30.0) -> np.ndarray:
    """Bursty noise with a tone: speech-like level changes without needing a file."""
    rng = np.random.default_rng(seed)
    envelope = np.repeat(rng.uniform(0.05, 1.0, samples // 800 + 1) ** 2, 800)[:samples]
    t = np.arange(samples) / 16000
    x = rng.standard_normal(samples) * envelope + 0.5 * np.sin(2 * np.pi * 220 * t) * envelope
    return (x * 10 ** (dbfs / 20) / np.sqrt(np.mean(x ** 2))).astype(np.float32)


def _example(name: str) -> np.ndarray:
    samples, rate = sf.read(shared_file(EXAMPLES / name), dtype="float32")
    assert rate == 16000 and samples.ndim == 1
    return samples


# -- lengths, silence, levels -------------------------------------------------------------------

LENGTHS = [1, 100, 639, 640, 16000, 16001, 123457]


def test_output_has_exactly_the_input_length_even_below_one_stft_frame(small_model):
    inputs = [_noisy_speechlike(n, seed=n) for n in LENGTHS]
    outputs = _enhancer(small_model).enhance_many(inputs)
    assert [o.shape for o in outputs] == [(n,) for n in LENGTHS]
    for n, out in zip(LENGTHS, outputs):
        assert out.dtype == np.float32 and np.isfinite(out).all(), f"length {n}"


@pytest.mark.parametrize("samples", [np.zeros(16000, np.float32), np.zeros(1, np.float32),
                                     _noisy_speechlike(16000, dbfs=-100.0)],
                         ids=["zeros", "one-zero-sample", "-100dBFS-noise"])
def test_silence_and_near_silence_pass_through_unchanged(small_model, samples):
    out = _enhancer(small_model).enhance(samples)
    assert np.array_equal(out, samples) and out is not samples
    assert not np.isnan(out).any()


@pytest.fixture(scope="module")
def one_second(small_model) -> tuple[np.ndarray, np.ndarray]:
    """A 1 s signal and its default enhancement, shared by the level and precision tests."""
    x = _noisy_speechlike(16000, seed=1)
    return x, _enhancer(small_model).enhance(x)


def test_gain_is_restored_so_output_level_tracks_input_level(small_model, one_second):
    x, loud = one_second
    quiet = _enhancer(small_model).enhance(np.float32(0.1) * x)
    assert np.abs(quiet - 0.1 * loud).max() <= 1e-5 * np.abs(loud).max()
    assert np.sqrt(np.mean(quiet ** 2)) / np.sqrt(np.mean(loud ** 2)) == pytest.approx(0.1, rel=1e-5)


def test_without_gain_restoration_output_is_at_the_normalised_level(small_model, one_second):
    x, restored = one_second
    normalised = _enhancer(small_model, restore_gain=False).enhance(x)
    gain = normalisation_gain(x)
    assert np.abs(normalised - restored * gain).max() <= 1e-5 * np.abs(normalised).max()


# -- batching and windowing -----------------------------------------------------------------------

def test_batching_never_changes_a_result(small_model):
    """Three short files share one batch; a longer file's windows share another."""
    files = [_noisy_speechlike(n, seed=n) for n in (7000, 8000, 9000, 42000)]
    options = dict(window_seconds=2.0, overlap_seconds=0.5, edge_margin_seconds=0.1)
    together = _enhancer(small_model, batch_size=3, **options).enhance_many(files)
    alone = _enhancer(small_model, batch_size=1, **options)
    for i, (x, out) in enumerate(zip(files, together)):
        assert np.abs(alone.enhance(x) - out).max() <= 1e-5, f"file {i} changed when batched"


def test_a_files_output_does_not_depend_on_its_batch_neighbours(small_model):
    """Short files of mixed lengths, as a corpus of utterances has them: each file comes out the
    same enhanced alone and in batches of 4 with two different sets of neighbours (its own length
    group, other groups, other seeds). Windows are batched only with windows of their own length:
    padding one to a neighbour's length would change it (the SE layers average over the whole
    spectrogram; 8-18 % of the peak for a 2 s window padded by 0.5-1 s, default model)."""
    options = dict(window_seconds=2.0, overlap_seconds=0.5, edge_margin_seconds=0.1)
    target = _noisy_speechlike(9000, seed=11)
    crowds = ([_noisy_speechlike(n, seed=n) for n in (6000, 9500, 15000, 5000, 10000, 9800)],
              [_noisy_speechlike(n, seed=n + 1) for n in (8500, 30000, 7800, 9100, 4000)])
    alone = _enhancer(small_model, batch_size=1, **options).enhance(target)
    for k, crowd in enumerate(crowds):
        files = crowd[:2] + [target] + crowd[2:]
        outs = _enhancer(small_model, batch_size=4, **options).enhance_many(files)
        assert np.abs(outs[2] - alone).max() <= 1e-5, f"neighbours {k} changed the file's output"


def test_auto_batch_size_is_one_on_cpu_and_changes_no_result(small_model):
    """batch_size=0 sizes batches by free GPU memory; on CPU, where batch 1 is fastest, it is 1."""
    x = _noisy_speechlike(20000, seed=3)
    auto = _enhancer(small_model, batch_size=0, window_seconds=2.0, overlap_seconds=0.5, edge_margin_seconds=0.1)
    fixed = _enhancer(small_model, batch_size=1, window_seconds=2.0, overlap_seconds=0.5, edge_margin_seconds=0.1)
    assert np.array_equal(auto.enhance(x), fixed.enhance(x))
    assert auto.batch_size == 1


def test_windowed_processing_matches_one_whole_window(small_model):
    clip = _example("speech_with_noise1.wav")
    x = np.concatenate([clip, clip[::-1], clip])[:12 * 16000 + 77]  # 12 s of real noisy speech
    chunked = _enhancer(small_model, window_seconds=4.0).enhance(x)
    whole = _enhancer(small_model, window_seconds=20.0).enhance(x)
    assert chunked.shape == whole.shape == x.shape
    snr = snr_db(whole, chunked)
    assert snr >= CHUNKED_SNR_DB, f"4 s windows vs one window: {snr:.1f} dB SNR"


# -- against the reference pipeline ---------------------------------------------------------------

@pytest.mark.parametrize("clip", ["speech_with_noise.wav", "speech_with_noise1.wav"])
def test_enhancer_agrees_with_the_reference_pipeline_after_the_first_100_ms(small_model, clip):
    x = _example(clip)
    reference = modelscope_pipeline(small_model, x)
    ours = _enhancer(small_model, restore_gain=False).enhance(x)
    assert ours.shape == reference.shape == x.shape
    body = snr_db(reference[START:], ours[START:])
    whole, early = snr_db(reference, ours), snr_db(reference[320:], ours[320:])
    assert body >= REFERENCE_SNR_DB, (f"{clip}: {body:.1f} dB SNR after the first {START} samples "
                                      f"({early:.1f} dB from sample 320, {whole:.1f} dB whole clip)")


@pytest.mark.parametrize("length, zeros", [(1, 15999), (15999, 1), (16000, 12000), (27999, 1), (28000, 0),
                                           (38363, 26363), (40000, 0), (40001, 16001)])
def test_reference_replica_pads_by_the_modelscope_rule(length, zeros):
    """<1 s: to 1 s; <1.75 s: to 1.75 s; else, unless (t-16000) % 12000 == 0, t-(t-16000)//12000*12000 zeros."""
    assert reference_padding(length) == zeros


# -- precision, devices, bad input --------------------------------------------------------------

def test_bf16_on_cpu_stays_close_to_fp32(small_model, one_second):
    x, fp32 = one_second
    bf16 = _enhancer(small_model, precision="bf16").enhance(x)
    assert bf16.dtype == np.float32 and np.isfinite(bf16).all()
    assert snr_db(fp32, bf16) >= BF16_SNR_DB


@pytest.mark.skipif(torch.cuda.is_available(), reason="a CUDA GPU is present")
@pytest.mark.parametrize("device", ["cuda", "cuda:1"])
def test_asking_for_cuda_without_a_gpu_is_a_clear_runtime_error(small_model, device):
    with pytest.raises(RuntimeError, match="no CUDA GPU is available"):
        _enhancer(small_model, device=device)


@pytest.mark.parametrize("bad, message", [
    (np.zeros((2, 16000), np.float32), "expected a 1-D mono array, got shape (2, 16000)"),
    (np.zeros((16000, 1), np.float32), "expected a 1-D mono array"),
    (np.array([0.1, np.nan, 0.2], np.float32), "NaN or Inf"),
    (np.array([0.1, np.inf], np.float32), "NaN or Inf"),
    (np.zeros(0, np.float32), "empty"),
], ids=["stereo", "column", "nan", "inf", "empty"])
def test_bad_waveforms_raise_value_error_naming_which(small_model, bad, message):
    good = np.zeros(100, np.float32)
    with pytest.raises(ValueError) as caught:
        _enhancer(small_model).enhance_many([good, bad])
    assert "waveform 1" in str(caught.value) and message in str(caught.value)


@pytest.mark.parametrize("options, message", [
    (dict(precision="fp64"), "precision must be one of"),
    (dict(device="tpu"), "device must be"),
    (dict(window_seconds=0.5), "window_seconds must be at least 1"),
    (dict(overlap_seconds=0.4, edge_margin_seconds=0.25), "2*edge_margin_seconds < overlap_seconds"),
    (dict(window_seconds=2.0, overlap_seconds=1.0), "overlap_seconds < window_seconds/2"),
    (dict(length_quantum_seconds=0), "length_quantum_seconds must be positive"),
    (dict(batch_size=-1), "batch_size must be at least 1 (or 0 = auto)"),
    (dict(auto_memory_fraction=1.0), "auto_memory_fraction must be in"),
    (dict(num_threads=0), "num_threads must be at least 1"),
])
def test_invalid_enhance_config_is_refused_with_the_reason(options, message):
    with pytest.raises(ValueError, match="invalid enhance config") as caught:
        EnhanceConfig(**options)
    assert message in str(caught.value)


def test_every_config_problem_is_reported_at_once():
    with pytest.raises(ValueError) as caught:
        EnhanceConfig(precision="int8", batch_size=-1)
    assert "precision" in str(caught.value) and "batch_size" in str(caught.value)
