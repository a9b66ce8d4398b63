"""Driver memory helpers: memory is given back after large steps only."""

from __future__ import annotations

import gc

from jobs import tables


def test_release_memory_collects_after_a_large_step_only(monkeypatch):
    calls = []
    monkeypatch.setattr(gc, "collect", lambda *a: calls.append(a) or 0)
    tables.release_memory(tables.LARGE_STEP_ROWS - 1)  # a small job: a full collection costs more than it frees
    assert calls == []
    tables.release_memory(tables.LARGE_STEP_ROWS)
    assert len(calls) == 1
