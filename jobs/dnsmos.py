"""DNSMOS P.835 (SIG/BAK/OVRL) with onnxruntime, for quality columns in the results manifest.

Method (Reddy et al., ICASSP 2022, as in Microsoft's DNS-Challenge reference script): 16 kHz
float32 audio; windows of 9.01 s (144,160 samples) hopped by 1 s, clips shorter than a window
repeated until long enough; the model (input ``input_1`` [1, 144160]) gives raw SIG, BAK, OVRL
per window, each mapped through the non-personalised polynomial below, then averaged.

The model file is read once per process through fsspec (path or URL) and cached, so Ray task
workers pay the load once, not per batch.
"""

from __future__ import annotations

import functools
import json
from typing import Any

import numpy as np

__all__ = ["DnsmosScorer", "get_scorer", "WINDOW", "HOP"]

SAMPLE_RATE = 16000
WINDOW = 144_160
HOP = SAMPLE_RATE
_POLY = {
    "sig": (-0.08397278, 1.22083953, 0.0052439),
    "bak": (-0.13166888, 1.60915514, -0.39604546),
    "ovrl": (-0.06766283, 1.11546468, 0.04602535),
}


class DnsmosScorer:
    def __init__(self, model: str, storage_options: dict[str, Any] | None = None, threads: int = 1) -> None:
        import fsspec
        import onnxruntime as ort

        with fsspec.open(model, "rb", **(storage_options or {})) as f:
            data = f.read()
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        opts.log_severity_level = 3
        self.session = ort.InferenceSession(data, sess_options=opts, providers=["CPUExecutionProvider"])
        self.input_name = self.session.get_inputs()[0].name

    def score(self, samples: np.ndarray) -> dict[str, float]:
        """Mean SIG/BAK/OVRL of a 16 kHz float waveform (any length > 0)."""
        x = np.asarray(samples, dtype=np.float32)
        if x.size == 0:
            raise ValueError("cannot score empty audio")
        if x.size < WINDOW:
            x = np.tile(x, int(np.ceil(WINDOW / x.size)))
        starts = range(0, x.size - WINDOW + 1, HOP)
        raw = []
        for s in starts:
            out = self.session.run(None, {self.input_name: x[None, s : s + WINDOW]})[0]
            raw.append(np.asarray(out, dtype=np.float64).reshape(-1)[:3])
        r = np.mean(
            [[np.polyval(_POLY[k], v) for k, v in zip(("sig", "bak", "ovrl"), w)] for w in raw], axis=0
        )
        return {"sig": float(r[0]), "bak": float(r[1]), "ovrl": float(r[2])}


@functools.lru_cache(maxsize=2)
def _cached(model: str, options_json: str) -> DnsmosScorer:
    return DnsmosScorer(model, json.loads(options_json))


def get_scorer(model: str | None, storage_options: dict[str, Any] | None = None) -> DnsmosScorer | None:
    if not model:
        return None
    return _cached(model, json.dumps(storage_options or {}, sort_keys=True, default=str))
