"""The `frcrn` command's import budget: each subcommand imports what it needs and nothing else.

Start-up time is mostly imports (torch alone is over a second; benchmarks/README.md, "Start-up"),
so these tests guard which packages get imported, in a fresh interpreter, never how long it
takes (timings are the benchmark's business: benchmarks/startup.py).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

ROOT = Path(__file__).resolve().parents[2]
NEVER = ("ray", "lhotse", "datasets", "matplotlib", "onnxruntime", "scipy", "s3fs", "silero_vad", "pyloudnorm",
         "pesq", "pystoi", "sympy")
"""Not needed by `frcrn enhance` on local files (sympy: torch imports it for meta-tensor shape
logic, which model building must not reach)."""
HEAVY = ("torch", "pandas", "pyarrow", "fsspec", "numpy", *NEVER)

PROBE = """
import json, sys
from frcrn.cli import main
try:
    code = main(json.loads(sys.argv[1]))
except SystemExit as exit_:
    code = exit_.code
print(json.dumps({"code": code, "modules": sorted(m for m in json.loads(sys.argv[2]) if m in sys.modules)}))
"""


def _run(argv: list[str], cwd: Path) -> tuple[int, set[str]]:
    """Run `frcrn ARGV` in a fresh interpreter; (exit status, which HEAVY packages it imported)."""
    r = subprocess.run([sys.executable, "-c", PROBE, json.dumps(argv), json.dumps(HEAVY)], cwd=cwd,
                       capture_output=True, text=True, timeout=300,
                       env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert r.returncode == 0, r.stderr
    result = json.loads(r.stdout.strip().splitlines()[-1])
    return result["code"], set(result["modules"])


@pytest.mark.parametrize("argv", [["--help"], ["enhance", "--help"], ["info", "--help"], ["eval", "--help"]])
def test_importing_the_command_and_its_help_import_no_heavy_package(argv, tmp_path):
    code, modules = _run(argv, tmp_path)
    assert code == 0
    assert not modules, f"`frcrn {' '.join(argv)}` imported {sorted(modules)}"


def test_enhance_on_a_local_file_imports_only_what_it_uses(tmp_path, tiny_checkpoint):
    x = (0.1 * np.random.default_rng(0).standard_normal(8000)).astype(np.float32)
    sf.write(tmp_path / "one.wav", x, 16000, subtype="PCM_16")
    code, modules = _run(["enhance", "-q", "--num-threads", "1", "one.wav", "-o", "out",
                          "--checkpoint", tiny_checkpoint], tmp_path)
    assert code == 0 and (tmp_path / "out" / "one.wav").exists()
    assert not modules & set(NEVER), f"frcrn enhance imported {sorted(modules & set(NEVER))}"
    assert {"torch", "pandas", "pyarrow"} <= modules  # the probe sees imports (the model, the job's input rules)
