"""A realistic hand-made run (tests.curation.factories.realistic), selected with the shipped
policy and reported on once per session: the report tests and the browser test share it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from frcrn.curation import Report, build_report, load_policy, select_output, write_report
from tests.curation.factories import realistic, write_results
from tests.jobs.conftest import ROOT


@dataclass(frozen=True)
class Built:
    output_uri: str
    rows: list[dict]
    report: Report
    html: Path
    png_dir: Path


@pytest.fixture(scope="session")
def realistic_report(tmp_path_factory) -> Built:
    base = tmp_path_factory.mktemp("realistic")
    output_uri = str(base / "run")
    rows = realistic(output_uri, n=24, seed=1)
    write_results(output_uri, rows)
    select_output(output_uri, load_policy(str(ROOT / "configs" / "select_default.yaml")))
    report = build_report(output_uri)
    html, png_dir = base / "site" / "report.html", base / "site" / "png"
    write_report(report, str(html), str(png_dir))
    return Built(output_uri, rows, report, html, png_dir)
