"""``model.factory`` targets for the tests: "module:callable" building the replica's enhancer.

The job imports the module in every replica (and once on the driver, to refuse a bad factory
before any work), calls the callable with ``jobs.stages.ModelSettings`` and uses what it returns
as the enhancer. Referenced by module name (``factories.__name__``), so they follow the tests
if the folder moves.
"""

from __future__ import annotations

import dataclasses

from jobs.stages import load_enhancer

WRAPPED_PREFIX = "wrapped:"


class Wrapped:
    """Delegates to the real FRCRN enhancer; every row it makes carries its own model_id."""

    def __init__(self, inner) -> None:
        self.inner = inner
        self.model_id = WRAPPED_PREFIX + inner.model_id
        self.checkpoint_sha256 = inner.checkpoint_sha256
        self.device = inner.device

    def enhance_many(self, waveforms):
        return self.inner.enhance_many(waveforms)

    def enhance(self, waveform):
        return self.inner.enhance(waveform)


def wrapped_frcrn(settings):
    """The real enhancer of ``settings`` (checkpoint, model.enhance), wrapped."""
    return Wrapped(load_enhancer(dataclasses.replace(settings, factory=None)))


not_callable = 42


BROKEN = "this factory cannot build an enhancer"


def broken_factory(settings):
    raise RuntimeError(BROKEN)


class Damaging:
    """An "enhancer" that makes every file worse on purpose: buzz and hiss over the input, for
    the tests that check the fallback to the original."""

    model_id = "damaging"
    checkpoint_sha256 = ""
    device = "cpu"

    def enhance_many(self, waveforms):
        return [self.enhance(w) for w in waveforms]

    def enhance(self, waveform):
        import numpy as np

        n = waveform.size
        buzz = 0.2 * np.sign(np.sin(2 * np.pi * 120 * np.arange(n) / 16000))
        hiss = 0.1 * np.random.default_rng(0).standard_normal(n)
        return (waveform + buzz + hiss).astype(np.float32)


def damaging(settings):
    return Damaging()
