"""benchmarks/driver_scale.py still runs against the driver it measures: a 1,000-line case end to
end (figures are not checked here; the benchmark prints them). Guards against the driver's API
moving under the script, as `release_memory(rows)` once did."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "driver_scale.py"


def test_driver_scale_runs_every_phase_on_a_small_manifest(tmp_path):
    out = tmp_path / "run.json"
    done = subprocess.run([sys.executable, str(SCRIPT), "--sizes", "1000", "--segmented", "0",
                           "--json", str(out), "--workdir", str(tmp_path / "work")],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    cases = {r["case"]: r for r in json.loads(out.read_text())["results"]}
    assert set(cases) == {"csv", "nemo"}
    assert list(cases["csv"]["phases"]) == ["read", "resolve", "load_state", "list_outputs",
                                            "list_outputs_s3fs", "plan_resume", "remeasure_check",
                                            "write_parts", "consolidate", "summary"]
    assert "  manifest    error 1   ok 999" in cases["csv"]["said"]  # one line escapes the root
