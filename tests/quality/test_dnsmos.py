"""frcrn.quality.dnsmos: DNSMOS P.835, window selection and scores as the reference script's."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from frcrn.quality import dnsmos

ROOT = Path(__file__).resolve().parents[2]
SHARED = ROOT.parent / "shared"
DNSMOS_MODEL = SHARED / "dnsmos" / "sig_bak_ovr.onnx"
EXAMPLES = sorted((SHARED / "examples").glob("*.wav"))

needs_dnsmos = pytest.mark.skipif(not DNSMOS_MODEL.exists() or len(EXAMPLES) != 2,
                                  reason="../shared/dnsmos or ../shared/examples not present")


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
    n = round(seconds * 16000)
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
