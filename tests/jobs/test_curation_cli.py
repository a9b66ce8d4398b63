"""``frcrn job select`` and ``frcrn job report`` on the command line: what they print, what they
write, and the exit status (2 with one line for a bad policy or a missing results manifest)."""

from __future__ import annotations

import json

import pyarrow.parquet as pq
import pytest

from frcrn.cli import main as frcrn_main
from jobs.cli import main as job_main
from tests.curation.factories import audio_pair, error_row, row, write_results

from .conftest import ROOT

POLICY = str(ROOT / "configs" / "select_default.yaml")


@pytest.fixture
def output_uri(tmp_path) -> str:
    """A job's output location: two ok rows (one made worse by enhancement) and an error row."""
    out = str(tmp_path / "clean")
    good_in, good_out = audio_pair(str(tmp_path), "good", 0.5, seed=1)
    hurt_in, hurt_out = audio_pair(str(tmp_path), "hurt", 0.5, seed=2)
    write_results(out, [
        row(good_in, good_out, input_duration_s=1800.0, dnsmos_ovrl_in=2.6, dnsmos_ovrl_out=3.3),
        row(hurt_in, hurt_out, input_duration_s=900.0, dnsmos_ovrl_in=3.4, dnsmos_ovrl_out=2.2),
        error_row(f"{tmp_path}/bad.wav", "undecodable"),
    ])
    return out


def one_line(text: str) -> str:
    lines = text.strip().splitlines()
    assert len(lines) == 1, lines
    return lines[0]


def test_select_writes_selected_parquet_and_prints_counts_and_hours(output_uri, capsys):
    assert frcrn_main(["job", "select", output_uri, "--policy", POLICY]) == 0
    out = capsys.readouterr().out
    table = pq.read_table(f"{output_uri}/_manifest/selected.parquet")
    assert table["choice"].to_pylist() == ["enhanced", "original", "dropped"]
    assert "fallback_if_ovrl_drop = 0.3" in out and "error: undecodable" in out
    total = next(line for line in out.splitlines() if line.startswith("total")).split()
    assert total[1:] == ["3", "0.750"]  # rows and hours (30 + 15 min)
    assert f"wrote {output_uri}/_manifest/selected.parquet (3 rows)" in out


def test_select_takes_key_value_overrides_after_the_file_or_alone(output_uri, capsys):
    assert job_main(["select", output_uri, "--policy", POLICY, "fallback_if_ovrl_drop=null"]) == 0
    assert pq.read_table(f"{output_uri}/_manifest/selected.parquet")["choice"].to_pylist()[1] == "enhanced"
    assert job_main(["select", output_uri, "--policy", "drop.min_duration_s=1000"]) == 0
    assert pq.read_table(f"{output_uri}/_manifest/selected.parquet")["choice"].to_pylist() == [
        "enhanced", "dropped", "dropped"]


@pytest.mark.parametrize(("policy", "expected"), [
    (["drop.min_duraton_s=1"], "unknown key 'drop.min_duraton_s'; did you mean 'drop.min_duration_s'?"),
    (["fallback_if_ovrl_drop=lots"], "fallback_if_ovrl_drop: expected number or null"),
    (["nosuch.yaml"], "config file not found: nosuch.yaml"),
])
def test_a_bad_policy_is_exit_2_with_one_line_naming_the_key(output_uri, capsys, policy, expected):
    assert job_main(["select", output_uri, "--policy", *policy]) == 2
    line = one_line(capsys.readouterr().err)
    assert line.startswith("frcrn job select: selection policy: ") and expected in line


def test_a_missing_results_manifest_is_exit_2_with_one_line(tmp_path, capsys):
    for argv in (["select", str(tmp_path / "nothing"), "--policy", POLICY],
                 ["report", str(tmp_path / "nothing"), "-o", str(tmp_path / "r.html")]):
        assert job_main(argv) == 2
        line = one_line(capsys.readouterr().err)
        assert f"no results manifest at {tmp_path}/nothing/_manifest/results.parquet" in line
    assert not (tmp_path / "r.html").exists()


def test_a_threshold_on_a_column_the_job_did_not_fill_is_exit_2_naming_the_setting(tmp_path, capsys):
    out = str(tmp_path / "clean")
    write_results(out, [row(f"{tmp_path}/in/a.wav")])  # no DNSMOS
    assert job_main(["select", out, "--policy", POLICY]) == 2
    line = one_line(capsys.readouterr().err)
    assert "fallback_if_ovrl_drop: the column dnsmos_ovrl_in" in line and "dnsmos.model" in line


def test_bad_storage_options_are_exit_2(output_uri, capsys, monkeypatch):
    monkeypatch.setenv("FRCRN_STORAGE_OPTIONS", "{not json")
    assert job_main(["select", output_uri]) == 2
    assert "FRCRN_STORAGE_OPTIONS must hold a JSON object" in one_line(capsys.readouterr().err)


def test_select_on_s3_with_storage_options_from_the_environment(s3, capsys, monkeypatch):
    out = f"s3://{s3['bucket']}/clean"
    write_results(out, [row(f"s3://{s3['bucket']}/in/a.wav", dnsmos_ovrl_in=3.0, dnsmos_ovrl_out=3.5)],
                  s3["options"])
    monkeypatch.setenv("FRCRN_STORAGE_OPTIONS", json.dumps(s3["options"]))
    assert job_main(["select", out, "--policy", "fallback_if_ovrl_drop=0.3"]) == 0
    keys = [o["Key"] for o in s3["client"].list_objects_v2(Bucket=s3["bucket"])["Contents"]]
    assert "clean/_manifest/selected.parquet" in keys


def test_report_writes_the_page_and_pngs(output_uri, tmp_path, capsys):
    page, pngs = tmp_path / "site" / "report.html", tmp_path / "site" / "png"
    assert frcrn_main(["job", "report", output_uri, "-o", str(page), "--png", str(pngs), "--players", "1"]) == 0
    out = capsys.readouterr().out
    assert f"wrote {page}" in out and "PNG file(s)" in out
    assert page.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    assert sorted(p.suffix for p in pngs.iterdir()) == [".png"] * len(list(pngs.iterdir())) and any(pngs.iterdir())
