"""The job's code stays readable: no function in jobs/ is longer than ~60 lines (split long
ones into named steps), and loading a config never needs torch (see test_config)."""

from __future__ import annotations

import ast

from .conftest import ROOT

MAX_LINES = 60


def test_no_function_in_jobs_is_longer_than_60_lines():
    too_long = []
    for path in sorted((ROOT / "jobs").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                lines = node.end_lineno - node.lineno + 1
                if lines > MAX_LINES:
                    too_long.append(f"{path.name}:{node.lineno} {node.name} ({lines} lines)")
    assert not too_long, too_long


def test_no_test_hook_in_the_production_code():
    """Crash tests use a model.factory from the test support code, not a switch in jobs/."""
    for path in sorted((ROOT / "jobs").glob("*.py")):
        text = path.read_text(encoding="utf-8")
        assert "FRCRN_TEST" not in text and "_test_crash_hook" not in text, path.name
