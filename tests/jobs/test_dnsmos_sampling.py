"""DNSMOS cost control: which sides are scored, and a stable sample of the recordings."""

from __future__ import annotations

from jobs.config import load_config
from jobs.pipeline import _stage_settings

from .conftest import ROOT

LOCAL = str(ROOT / "configs" / "local.yaml")


def _settings(*overrides: str):
    class Run:  # what _stage_settings reads of a run
        cfg = load_config(LOCAL, ["dnsmos.model=/models/sig_bak_ovr.onnx", *overrides])
        job_id = "j"
        out_loc = __import__("jobs.paths", fromlist=["parse_location"]).parse_location("/tmp/out")
        manifest_dir = "/tmp/out/_manifest"
        retries = 0

    return _stage_settings(Run)


def test_a_fraction_scores_a_stable_sample_of_that_size():
    uris = [f"s3://corpus/raw/{i:05d}.flac" for i in range(4000)]
    tenth, tenth_again, half = (_settings(f"dnsmos.fraction={f}") for f in (0.1, 0.1, 0.5))
    picked = [u for u in uris if tenth.scores(u, "out")]
    assert 0.08 * len(uris) < len(picked) < 0.12 * len(uris)
    assert picked == [u for u in uris if tenth_again.scores(u, "out")]  # same every run
    assert set(picked) <= {u for u in uris if half.scores(u, "out")}  # nested


def test_only_the_configured_sides_are_scored():
    settings = _settings("dnsmos.score=[out]")
    assert settings.scores("a.wav", "out") and not settings.scores("a.wav", "in")
    assert not _settings("dnsmos.model=null").scores("a.wav", "out")
