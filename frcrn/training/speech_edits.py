"""Changes made to a clean speech crop before it is mixed (training items only): a pause cut
into it, and a tilt of its spectrum. The target is the changed speech, so each teaches the model
something the corpora rarely show (noise where nobody speaks; a bright voice), without changing
what the model is asked to keep.
"""

from __future__ import annotations

import numpy as np

__all__ = ["PAUSE_FADE_SECONDS", "fade_out_ramp", "insert_pause", "spectral_tilt"]


PAUSE_FADE_SECONDS = 0.01


def fade_out_ramp(length: int) -> np.ndarray:
    """A raised-cosine ramp from 1 to 0 over ``length`` samples (reversed, a fade-in): cuts made
    into a signal with it add no click."""
    return 0.5 * (1.0 + np.cos(np.linspace(0.0, np.pi, length, dtype=np.float32)))


def insert_pause(clean: np.ndarray, seconds: float, start: int, sample_rate: int = 16000) -> np.ndarray:
    """``clean`` with ``seconds`` of silence from sample ``start`` (clipped to the crop), faded
    in and out over 10 ms so the cut adds no click that the target would then contain.

    Why: read speech (LibriSpeech) has few pauses, so a model trained on it rarely sees noise with
    nobody speaking, the stretch where listeners (and DNSMOS BAK) judge how much background is
    left. The mixture adds noise over the whole crop, pause included, and the target is silent there.
    """
    out = np.array(clean, dtype=np.float32, copy=True)
    n = out.size
    length = min(round(seconds * sample_rate), n)
    start = max(0, min(int(start), n - length))
    stop = start + length
    fade = min(round(PAUSE_FADE_SECONDS * sample_rate), start, n - stop)
    out[start:stop] = 0.0
    if fade > 0:
        ramp = fade_out_ramp(fade)
        out[start - fade : start] *= ramp
        out[stop : stop + fade] *= ramp[::-1]
    return out


TILT_PIVOT_HZ = 1000.0
TILT_PADDING = 4096


def spectral_tilt(x: np.ndarray, db_per_octave: float, sample_rate: int = 16000,
                  pivot_hz: float = TILT_PIVOT_HZ) -> np.ndarray:
    """``x`` with its spectrum above ``pivot_hz`` raised by ``db_per_octave`` per octave (flat
    below; negative values dull it), as zero-phase filtering.

    Why: microphones and their distance make the same voice brighter or duller, and the training
    speech is mostly dull (LibriSpeech's 6-8 kHz band sits a median 25 dB under its 0.25-4 kHz
    band). A model that rarely hears bright speech learns that energy up there is noise and cuts
    fricatives from a close-miked voice. Tilting the speech (and so the target) teaches it to keep
    whatever colour the voice arrives with. Zero padding keeps the filter's wrap-around out of
    the signal.
    """
    x = np.asarray(x, dtype=np.float64).reshape(-1)
    size = x.size + TILT_PADDING
    spectrum = np.fft.rfft(x, size)
    octaves = np.log2(np.maximum(np.fft.rfftfreq(size, 1.0 / sample_rate), pivot_hz) / pivot_hz)
    spectrum *= 10.0 ** (db_per_octave * octaves / 20.0)
    return np.fft.irfft(spectrum, size)[: x.size].astype(np.float32)
