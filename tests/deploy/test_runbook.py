"""The run book's manifest recipes (deploy/README.md, pandas and DuckDB) run as written on a
manifest with the job's real schema (jobs.results), only MANIFEST pointed at a local file."""

from __future__ import annotations

import re

import pandas as pd
import pytest

from jobs.results import RESULT_COLUMNS, SCHEMA, new_row, rows_to_table

from .conftest import DEPLOY

README = DEPLOY / "README.md"


def python_blocks() -> list[str]:
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    return [b for b in blocks if re.search(r"^MANIFEST = ", b, flags=re.M)]


@pytest.fixture
def manifest(tmp_path):
    rows = []
    scores = [(2.1, 3.4), (2.8, 3.1), (3.2, 2.9), (1.5, 2.5)]  # (in, out) OVRL
    for i, (ovrl_in, ovrl_out) in enumerate(scores):
        row = new_row(f"s3://corpus/raw/{i}.wav", f"s3://corpus-clean/v1/{i}.flac", "run-1")
        row.update(status="ok", input_duration_s=3600.0, output_duration_s=3600.0, dnsmos_ovrl_in=ovrl_in,
                   dnsmos_ovrl_out=ovrl_out, finished_at=1.7e9)
        rows.append(row)
    bad = new_row("s3://corpus/raw/bad.wav", "s3://corpus-clean/v1/bad.flac", "run-1")
    bad.update(status="error", error_type="undecodable", error_message="not audio", finished_at=1.7e9)
    rows.append(bad)
    table = rows_to_table(rows)
    assert table.schema == SCHEMA
    df = table.to_pandas()
    df["manifest_format"] = "csv"
    df["speaker"] = list("abcde")  # a column carried over from the input manifest
    assert list(df.columns[: len(RESULT_COLUMNS)]) == RESULT_COLUMNS
    path = tmp_path / "results.parquet"
    df.to_parquet(path, index=False)
    return path


def run_block(block: str, manifest, tmp_path, monkeypatch) -> dict:
    code = re.sub(r"^MANIFEST = .*$", f"MANIFEST = {str(manifest)!r}", block, count=1, flags=re.M)
    monkeypatch.chdir(tmp_path)
    namespace: dict = {"__name__": "__runbook__"}
    exec(compile(code, str(README), "exec"), namespace)  # our own documentation
    return namespace


def test_the_runbook_names_the_real_columns():
    blocks = python_blocks()
    assert any("import pandas" in b for b in blocks) and any("import duckdb" in b for b in blocks)
    used = set(re.findall(r"\b(?:input|output|dnsmos|error|level|clip)_\w+", " ".join(blocks)))
    assert used and used <= set(RESULT_COLUMNS), used - set(RESULT_COLUMNS)
    text = README.read_text()
    start, end = text.index("has one row per input manifest line:"), text.index("then the input manifest's own columns")
    listed = text[start:end]
    names = [n for n in re.findall(r"`(\w+)`", listed) if n not in ("ok", "error")]  # status values
    assert names == RESULT_COLUMNS, "deploy/README.md section 7 vs jobs/results.py"


def test_pandas_recipe(manifest, tmp_path, monkeypatch, capsys):
    (block,) = [b for b in python_blocks() if "import pandas" in b]
    ns = run_block(block, manifest, tmp_path, monkeypatch)
    out = capsys.readouterr().out
    assert "undecodable" in out and "kept 2 of 5 files, 2.00 h" in out
    keep = pd.read_parquet(tmp_path / "clean_subset.parquet")
    assert list(keep["output_uri"]) == ["s3://corpus-clean/v1/0.flac", "s3://corpus-clean/v1/1.flac"]
    assert len(ns["m"]) == 5


def test_duckdb_recipe(manifest, tmp_path, monkeypatch, capsys):
    pytest.importorskip("duckdb", reason="duckdb is not installed here; the recipe is for users who have it")
    (block,) = [b for b in python_blocks() if "import duckdb" in b]
    run_block(block, manifest, tmp_path, monkeypatch)
    out = capsys.readouterr().out
    assert "undecodable" in out
    keep = pd.read_csv(tmp_path / "keep.csv")
    assert list(keep["output_uri"]) == ["s3://corpus-clean/v1/0.flac", "s3://corpus-clean/v1/1.flac"]
