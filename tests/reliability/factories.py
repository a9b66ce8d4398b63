"""A ``model.factory`` whose enhancer kills its own process on a marked input, as a segfault or
an OOM kill would (``os._exit``: no cleanup, no exception): the poison file of
test_worker_faults. The mark is the waveform's length, which only the poison file has."""

from __future__ import annotations

import dataclasses
import os

from jobs.stages import load_enhancer

POISON_SAMPLES = 2 * 16000 + 321
"""Length (16 kHz samples) of the poison file's waveform; no other test file has it."""


class CrashOnPoison:
    def __init__(self, inner) -> None:
        self.inner = inner
        self.model_id, self.checkpoint_sha256 = inner.model_id, inner.checkpoint_sha256

    @staticmethod
    def _die_on_poison(waveforms) -> None:
        if any(w.size == POISON_SAMPLES for w in waveforms):
            os._exit(1)

    def enhance_many(self, waveforms):
        self._die_on_poison(waveforms)
        return self.inner.enhance_many(waveforms)

    def enhance(self, waveform):
        self._die_on_poison([waveform])
        return self.inner.enhance(waveform)


def crash_on_poison(settings):
    return CrashOnPoison(load_enhancer(dataclasses.replace(settings, factory=None)))
