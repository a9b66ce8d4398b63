"""A faithful replica of ModelScope's ANS pipeline for FRCRN, as a yardstick for `frcrn.enhance`
in the tests (it does not ship with the library).

Why this exists: `Enhancer` is the product path (any length, memory flat in file length, batching,
gain restored). It deliberately pads and windows differently from the reference, so "does it match
the reference?" cannot be answered by the parity fixture alone (which covers one bare forward pass).
This module reproduces what a user of the official release gets from
`pipeline(Tasks.acoustic_noise_suppression, 'damo/speech_frcrn_ans_cirm_16k')` (ModelScope's
`ANSPipeline`, `modelscope/pipelines/audio/ans_pipeline.py`), so tests and benchmarks can measure
how far the Enhancer's output is from it. It is not a product path: it is slow on long files, its
padding rule is odd (see `reference_padding`), and its output keeps the normalised level.

Replicated exactly:
- `audio_norm` (float64): x *= 10**(-25/20) / rms(x); then x *= 10**(-25/20) / sqrt(mean of x**2
  over the samples whose x**2 exceeds the mean); then cast to float32.
- the padding rule, including its quirk for t >= 28000 (it appends 16000..27999 zeros rather than
  the remainder that would align the length to the 0.75 s stride);
- inputs up to 120 s: ONE forward pass over the whole padded signal, `wav_l2` cut back to t samples
  (for 27840 < t < 28000 the model's output is shorter than t and the reference returns it as is);
- inputs over 120 s: 1 s windows hopped by 0.75 s; the first window keeps all but its last 2000
  samples, every later window keeps its samples [2000, 14000); the buffer is float64.

Not replicated (outside the model's arithmetic): reading the file (`sf.read`, float64, first channel)
and resampling (`librosa.resample`) -- callers pass 16 kHz mono samples; and the final conversion to
16-bit PCM (`(out * 32768).astype(np.int16)`, which truncates and wraps on overflow) unless
`as_pcm16=True` is asked for.
"""

from __future__ import annotations

import numpy as np
import torch

from frcrn.model.network import FRCRN

WINDOW = 16000
"""The reference's window (1 s) for padding and for segmented decoding."""
STRIDE = int(WINDOW * 0.75)
SEGMENT_ABOVE = WINDOW * 120
"""Inputs longer than this many samples (120 s) are decoded in windows."""
GIVE_UP = (WINDOW - STRIDE) // 2
"""Samples discarded at each inner window edge in segmented decoding (2000)."""


def audio_norm(x: np.ndarray) -> np.ndarray:
    """The reference's loudness normalisation, in float64 (what it computes on `sf.read` output)."""
    x = np.asarray(x, dtype=np.float64)
    rms = (x ** 2).mean() ** 0.5
    x = x * (10 ** (-25 / 20) / rms)
    pow_x = x ** 2
    rmsx = pow_x[pow_x > pow_x.mean()].mean() ** 0.5
    return x * (10 ** (-25 / 20) / rmsx)


def reference_padding(t: int) -> int:
    """Zeros the reference appends to a t-sample input before the model."""
    if t < WINDOW:
        return WINDOW - t
    if t < WINDOW + STRIDE:
        return WINDOW + STRIDE - t
    if (t - WINDOW) % STRIDE != 0:
        return t - (t - WINDOW) // STRIDE * STRIDE  # sic: the reference's rule, not the remainder
    return 0


def modelscope_pipeline(model: FRCRN, samples: np.ndarray, *, as_pcm16: bool = False,
                        segment_above: int = SEGMENT_ABOVE) -> np.ndarray:
    """Enhance 16 kHz mono `samples` exactly as ModelScope's ANSPipeline does with `model`.

    Returns float32 at the NORMALISED level (the reference never restores the input's gain), or with
    `as_pcm16=True` the int16 samples the reference writes. `segment_above` (samples) only exists so
    tests can exercise the windowed branch on short signals; leave it at its default (120 s) to
    replicate the reference.
    """
    x = np.asarray(samples)
    if x.ndim != 1 or x.size == 0:
        raise ValueError(f"expected a non-empty 1-D mono array, got shape {x.shape}")
    data = audio_norm(x).astype(np.float32)
    nsamples = data.shape[0]
    padded = np.concatenate([data, np.zeros(reference_padding(nsamples))])  # float64, like the reference
    wav = torch.from_numpy(np.float32(padded))[None]
    model = model.eval()
    with torch.no_grad():
        if nsamples > segment_above:
            t = wav.shape[1]
            outputs = np.zeros(t)
            idx = 0
            while idx + WINDOW <= t:
                out = model(wav[:, idx:idx + WINDOW]).wav[0].cpu().numpy()
                end = idx + WINDOW - GIVE_UP
                if idx == 0:
                    outputs[idx:end] = out[:-GIVE_UP]
                else:
                    outputs[idx + GIVE_UP:end] = out[GIVE_UP:-GIVE_UP]
                idx += STRIDE
        else:
            outputs = model(wav).wav[0].cpu().numpy()
    outputs = outputs[:nsamples]
    if as_pcm16:
        return (outputs * 32768).astype(np.int16)
    return outputs.astype(np.float32)
