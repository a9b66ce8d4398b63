"""Deterministic synthetic noise for training the project's default denoiser.

One concept: the synthetic noise families (14 generators, their shared DSP helpers and the
weighted draw among them); splitting the generators apart would scatter one catalogue.

There is no recorded noise corpus in this project, so training mixtures use noise made here from a
``numpy.random.Generator``: the same generator state always gives the same noise, and nothing is
read from disk except the speech clips passed in for babble.

Every generator returns a 1-D ``float32`` array of exactly ``num_samples`` samples whose RMS is
normalised to **1.0** (``mix_at_snr`` in :mod:`frcrn.training.mixtures` rescales it anyway; unit
RMS keeps the families comparable). The peak is not bounded: impulsive families reach peaks of
10-40.

Families (:data:`NOISE_FAMILIES`):

``white``, ``pink``, ``brown``
    Stationary Gaussian noise with power spectrum ~ 1, 1/f and 1/f^2, made in the frequency
    domain. Pink and brown roll off (2nd order) below a random corner of 20-50 Hz, so their energy
    is not dominated by sub-audio rumble.
``band``
    White noise through a random band-pass: centre 150 Hz .. 0.75*Nyquist (log-uniform),
    width 0.3-3 octaves, Butterworth-like skirts of order 2-6.
``white_am``, ``pink_am``, ``brown_am``, ``band_am``
    The same, times a slow random envelope: smooth random knots (or, one time in four, a sine)
    at 0.5-8 Hz, swinging 6-30 dB peak to trough.
``hum``
    Mains hum: 50 or 60 Hz (+-0.5 %) with slow frequency jitter (0.02-0.3 Hz), 3-30 random
    harmonics (random tilt, optionally odd-harmonic buzz), over a pink floor 20-45 dB down.
``babble``
    Sum of 3-8 random crops of *other* speech given in ``babble_sources``, each at unit RMS
    +-4 dB. Requires ``babble_sources``; :func:`random_noise` skips it when there are none.
``clicks``
    Sparse knocks/clicks (Poisson, 0.5-15 per second, log-normal amplitudes), each a short
    broadband transient exciting 1-3 damped resonances (150 Hz-6 kHz, 2-60 ms decay); 1-3
    different "objects" per call.
``machine``
    Engine/fan: a rotation frequency of 15-250 Hz with slow speed drift (0.3-3 %), a harmonic
    series with random gaps, optionally a few high whine lines, plus low-passed coloured broadband
    noise amplitude-modulated at the rotation rate; tonal/broadband balance -10..+10 dB.
``bursts``
    Coloured or band-limited noise gated on and off (exponential segment lengths, mean on
    50-800 ms, mean off 50-1200 ms), random gain per burst (+-6 dB), ramps of 2-30 ms, a floor
    30-60 dB down between bursts.
``crackle``
    Rain/hiss/vinyl crackle: dense random droplets (50-3000 per second, heavy-tailed amplitudes)
    through a short 1-7 kHz resonance, plus high-passed hiss; balance -10..+15 dB.

Speed: every family runs at well over 100x real time on one core (see ``python -m
frcrn.training.noise``, which measures it: 416x (machine) to 4400x (white) for 10 s at 16 kHz, one
core of the project's machine).
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Sequence

import numpy as np

__all__ = [
    "FAMILY_WEIGHTS",
    "NOISE_FAMILIES",
    "benchmark",
    "make_noise",
    "random_noise",
]

NOISE_FAMILIES: tuple[str, ...] = (
    "white",
    "pink",
    "brown",
    "band",
    "white_am",
    "pink_am",
    "brown_am",
    "band_am",
    "hum",
    "babble",
    "clicks",
    "machine",
    "bursts",
    "crackle",
)

#: Relative probabilities used by :func:`random_noise` (normalised over the usable families;
#: ``babble`` is dropped when no babble sources are given). Broad stationary noise gets about a
#: third, the structured/non-stationary families the rest, babble the largest single share since
#: competing talkers are the commonest real interferer in speech corpora.
FAMILY_WEIGHTS: dict[str, float] = {
    "white": 0.04,
    "pink": 0.06,
    "brown": 0.04,
    "band": 0.05,
    "white_am": 0.03,
    "pink_am": 0.06,
    "brown_am": 0.04,
    "band_am": 0.05,
    "hum": 0.07,
    "babble": 0.14,
    "clicks": 0.08,
    "machine": 0.12,
    "bursts": 0.10,
    "crackle": 0.12,
}

#: Probability that :func:`random_noise` sums two different families.
TWO_FAMILY_PROB = 0.25


# ----------------------------------------------------------------------------- helpers


@functools.lru_cache(maxsize=256)
def _fast_len(n: int) -> int:
    """Smallest 2^a 3^b 5^c >= n (a length pocketfft transforms quickly)."""
    if n <= 16:
        return max(n, 1)
    best = 1 << (n - 1).bit_length()
    p5 = 1
    while p5 < best:
        p35 = p5
        while p35 < best:
            m = p35
            while m < n:
                m *= 2
            if m < best:
                best = m
            p35 *= 3
        p5 *= 5
    return best


def _unit_rms(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    if x.size == 0:
        return x.astype(np.float32)
    rms = float(np.sqrt(np.mean(x * x)))
    if not np.isfinite(rms) or rms <= 1e-20:
        return np.zeros(x.shape, dtype=np.float32)
    return (x / rms).astype(np.float32)


def _log_uniform(rng: np.random.Generator, lo: float, hi: float) -> float:
    return float(np.exp(rng.uniform(np.log(lo), np.log(hi))))


def _spectral_noise(
    n: int, rng: np.random.Generator, sr: int, gain: Callable[[np.ndarray], np.ndarray]
) -> np.ndarray:
    """Gaussian noise of length n whose amplitude spectrum is gain(freqs_hz)."""
    m = _fast_len(n)
    bins = m // 2 + 1
    spec = rng.standard_normal(bins) + 1j * rng.standard_normal(bins)
    f = np.fft.rfftfreq(m, 1.0 / sr)
    spec *= gain(f)
    spec[0] = 0.0
    return np.fft.irfft(spec, m)[:n]


def _power_law_gain(exponent: float, f_lo: float) -> Callable[[np.ndarray], np.ndarray]:
    """Amplitude gain for power ~ f^-exponent above f_lo, 2nd-order roll-off below."""

    def gain(f: np.ndarray) -> np.ndarray:
        fc = np.maximum(f, f_lo)
        g = fc ** (-exponent / 2.0)
        below = f < f_lo
        g[below] *= (f[below] / f_lo) ** 2
        return g

    return gain


def _colored(n: int, rng: np.random.Generator, sr: int, exponent: float) -> np.ndarray:
    if exponent == 0.0:
        return rng.standard_normal(n)
    f_lo = rng.uniform(20.0, 50.0)
    return _spectral_noise(n, rng, sr, _power_law_gain(exponent, f_lo))


def _band_gain(lo: float, hi: float, order: int) -> Callable[[np.ndarray], np.ndarray]:
    def gain(f: np.ndarray) -> np.ndarray:
        fz = np.maximum(f, 1e-3)
        hp = 1.0 / np.sqrt(1.0 + (lo / fz) ** (2 * order))
        lp = 1.0 / np.sqrt(1.0 + (f / hi) ** (2 * order))
        return hp * lp

    return gain


def _random_band(rng: np.random.Generator, sr: int) -> tuple[float, float, int]:
    nyq = sr / 2.0
    fc = _log_uniform(rng, 150.0, 0.75 * nyq)
    width_oct = rng.uniform(0.3, 3.0)
    lo = max(fc * 2.0 ** (-width_oct / 2.0), 20.0)
    hi = min(fc * 2.0 ** (width_oct / 2.0), 0.98 * nyq)
    order = int(rng.integers(2, 7))
    return lo, hi, order


def _band(n: int, rng: np.random.Generator, sr: int) -> np.ndarray:
    lo, hi, order = _random_band(rng, sr)
    return _spectral_noise(n, rng, sr, _band_gain(lo, hi, order))


def _smooth_random(n: int, rng: np.random.Generator, sr: int, rate_hz: float) -> np.ndarray:
    """Smooth random curve (zero mean, ~unit variance) with knots every 1/rate_hz seconds."""
    if n == 0:
        return np.zeros(0)
    step = sr / rate_hz  # samples per knot
    knots = rng.standard_normal(int(np.ceil(n / step)) + 2)
    pos = np.arange(n) / step + rng.uniform(0.0, 1.0)
    i = pos.astype(np.int64)
    frac = pos - i
    w = 0.5 - 0.5 * np.cos(np.pi * frac)  # cosine interpolation: C1-smooth at the knots
    return knots[i] * (1.0 - w) + knots[i + 1] * w


def _envelope(n: int, rng: np.random.Generator, sr: int) -> np.ndarray:
    """Slow amplitude envelope at 0.5-8 Hz, 6-30 dB peak to trough."""
    rate = _log_uniform(rng, 0.5, 8.0)
    depth_db = rng.uniform(6.0, 30.0)
    if rng.random() < 0.25:
        t = np.arange(n) / sr
        shape = np.sin(2 * np.pi * rate * t + rng.uniform(0, 2 * np.pi))
    else:
        shape = np.tanh(_smooth_random(n, rng, sr, rate))
    return 10.0 ** (0.5 * depth_db * shape / 20.0)


def _harmonic_sum(phase: np.ndarray, amps: np.ndarray, phis: np.ndarray) -> np.ndarray:
    """sum_k amps[k] * sin((k+1) * phase + phis[k]), by Horner's scheme on exp(j*phase)."""
    z = np.exp(1j * phase)
    coef = amps * np.exp(1j * phis)
    acc = np.full(phase.shape, coef[-1], dtype=np.complex128)
    for c in coef[-2::-1]:
        acc *= z
        acc += c
    acc *= z
    return acc.imag


def _fft_convolve(x: np.ndarray, h: np.ndarray) -> np.ndarray:
    """Full linear convolution via FFT (length len(x) + len(h) - 1)."""
    out_len = len(x) + len(h) - 1
    m = _fast_len(out_len)
    y = np.fft.irfft(np.fft.rfft(x, m) * np.fft.rfft(h, m), m)
    return y[:out_len]


def _moving_average(x: np.ndarray, width: int) -> np.ndarray:
    """Centred boxcar average, O(n) via cumulative sums, same length as x."""
    if width <= 1:
        return x
    pad = width // 2
    xp = np.concatenate([np.full(pad, x[0]), x, np.full(width - pad, x[-1])])
    c = np.cumsum(xp)
    return (c[width:] - c[:-width])[: len(x)] / width


# ----------------------------------------------------------------------------- families


def _gen_white(n, rng, sr, _babble):
    return rng.standard_normal(n)


def _gen_pink(n, rng, sr, _babble):
    return _colored(n, rng, sr, 1.0)


def _gen_brown(n, rng, sr, _babble):
    return _colored(n, rng, sr, 2.0)


def _gen_band(n, rng, sr, _babble):
    return _band(n, rng, sr)


def _am(base: Callable) -> Callable:
    def gen(n, rng, sr, babble):
        x = base(n, rng, sr, babble)
        return x * _envelope(n, rng, sr)

    return gen


def _gen_hum(n, rng, sr, _babble):
    nyq = sr / 2.0
    mains = float(rng.choice([50.0, 60.0]))
    f0 = mains * (1.0 + rng.uniform(-0.005, 0.005))
    jitter_hz = rng.uniform(0.02, 0.3)
    inst = f0 + jitter_hz * _smooth_random(n, rng, sr, _log_uniform(rng, 0.2, 2.0))
    phase = 2.0 * np.pi * np.cumsum(inst) / sr
    k_max = max(1, int(0.95 * nyq / (f0 + 4 * jitter_hz)))
    k = int(min(rng.integers(3, 31), k_max))
    orders = np.arange(1, k + 1, dtype=np.float64)
    amps = orders ** (-rng.uniform(0.3, 2.0)) * rng.lognormal(0.0, 0.6, k)
    if rng.random() < 0.5:  # buzz: odd harmonics stronger (rectifier/transformer saturation)
        amps[0::2] *= 10.0 ** (rng.uniform(3.0, 12.0) / 20.0)
    if rng.random() < 0.3:  # fundamental weak, e.g. 100/120 Hz dominant
        amps[0] *= 0.1
    tone = _harmonic_sum(phase, amps, rng.uniform(0.0, 2 * np.pi, k))
    tone = _unit_rms(tone).astype(np.float64)
    floor = _unit_rms(_colored(n, rng, sr, 1.0)).astype(np.float64)
    return tone + floor * 10.0 ** (-rng.uniform(20.0, 45.0) / 20.0)


def _crop_or_tile(src: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    src = np.asarray(src, dtype=np.float64).reshape(-1)
    if src.size == 0:
        return np.zeros(n)
    if src.size >= n:
        off = int(rng.integers(0, src.size - n + 1))
        return src[off : off + n]
    reps = int(np.ceil(n / src.size)) + 1
    tiled = np.tile(np.roll(src, int(rng.integers(0, src.size))), reps)
    return tiled[:n]


def _gen_babble(n, rng, sr, babble):
    if not babble:
        raise ValueError("family 'babble' needs babble_sources (other speech clips)")
    count = int(rng.integers(3, 9))
    idx = rng.choice(len(babble), size=count, replace=len(babble) < count)
    out = np.zeros(n)
    for i in idx:
        seg = _unit_rms(_crop_or_tile(babble[int(i)], n, rng)).astype(np.float64)
        out += seg * 10.0 ** (rng.uniform(-4.0, 4.0) / 20.0)
    return out


def _resonant_kernel(rng: np.random.Generator, sr: int, length: int, f_lo: float, f_hi: float,
                     tau_lo: float, tau_hi: float, modes: int, click_tau: float) -> np.ndarray:
    t = np.arange(length) / sr
    h = np.zeros(length)
    for _ in range(modes):
        f = _log_uniform(rng, f_lo, f_hi)
        tau = _log_uniform(rng, tau_lo, tau_hi)
        h += rng.lognormal(0.0, 0.5) * np.exp(-t / tau) * np.sin(2 * np.pi * f * t + rng.uniform(0, 2 * np.pi))
    h /= np.sqrt(np.sum(h * h)) + 1e-12
    transient = rng.standard_normal(length) * np.exp(-t / click_tau)
    transient /= np.sqrt(np.sum(transient * transient)) + 1e-12
    return h + rng.uniform(0.1, 1.0) * transient


def _gen_clicks(n, rng, sr, _babble):
    nyq = sr / 2.0
    klen = int(0.3 * sr)
    total = n + klen
    rate = _log_uniform(rng, 0.5, 15.0)
    out = np.zeros(total + klen - 1)
    objects = int(rng.integers(1, 4))
    for _ in range(objects):
        events = max(1, int(rng.poisson(rate * total / sr / objects)))
        exc = np.zeros(total)
        pos = rng.integers(0, total, events)
        amp = rng.lognormal(0.0, 0.6, events) * rng.choice([-1.0, 1.0], events)
        np.add.at(exc, pos, amp)
        kernel = _resonant_kernel(rng, sr, klen, 150.0, min(6000.0, 0.9 * nyq), 0.002, 0.06,
                                  int(rng.integers(1, 4)), _log_uniform(rng, 0.0002, 0.002))
        out += _fft_convolve(exc, kernel)
    y = out[klen : klen + n]
    if not np.any(y):  # every event fell outside the window: keep one inside
        y = out[: n]
    return y


def _gen_machine(n, rng, sr, _babble):
    nyq = sr / 2.0
    f_rot = _log_uniform(rng, 15.0, 250.0)
    drift = rng.uniform(0.003, 0.03)
    inst = f_rot * (1.0 + drift * np.tanh(_smooth_random(n, rng, sr, _log_uniform(rng, 0.1, 1.0))))
    phase = 2.0 * np.pi * np.cumsum(inst) / sr
    k_max = max(1, int(0.9 * nyq / (f_rot * (1 + drift))))
    k = int(min(rng.integers(4, 41), k_max))
    orders = np.arange(1, k + 1, dtype=np.float64)
    amps = orders ** (-rng.uniform(0.3, 1.5)) * rng.lognormal(0.0, 0.7, k)
    amps *= rng.random(k) > 0.3  # gaps in the series
    if not np.any(amps):
        amps[0] = 1.0
    tonal = _unit_rms(_harmonic_sum(phase, amps, rng.uniform(0, 2 * np.pi, k))).astype(np.float64)
    if rng.random() < 0.4:  # gear/motor whine: a few high lines tied to the same speed
        ratios = rng.uniform(8.0, 60.0, int(rng.integers(1, 4)))
        for r in ratios:
            if f_rot * r * (1 + drift) < 0.9 * nyq:
                tonal += 10.0 ** (rng.uniform(-20.0, -6.0) / 20.0) * np.sin(r * phase + rng.uniform(0, 2 * np.pi))
    # broadband part: coloured noise, low-passed, modulated at the rotation rate
    expo = rng.uniform(0.0, 2.0)
    f_lo = rng.uniform(20.0, 60.0)
    cut = _log_uniform(rng, 300.0, 0.9 * nyq)
    order = int(rng.integers(1, 5))
    pl = _power_law_gain(expo, f_lo)
    broad = _spectral_noise(n, rng, sr, lambda f: pl(f) / np.sqrt(1.0 + (f / cut) ** (2 * order)))
    depth = rng.uniform(0.0, 0.8)
    broad *= 1.0 + depth * np.sin(phase * float(rng.choice([0.5, 1.0, 2.0])) + rng.uniform(0, 2 * np.pi))
    broad = _unit_rms(broad).astype(np.float64)
    tonal = _unit_rms(tonal).astype(np.float64)
    return tonal * 10.0 ** (rng.uniform(-10.0, 10.0) / 20.0) + broad


def _gen_bursts(n, rng, sr, _babble):
    base = _colored(n, rng, sr, rng.uniform(0.0, 2.0)) if rng.random() < 0.5 else _band(n, rng, sr)
    base = _unit_rms(base).astype(np.float64)
    on_mean = _log_uniform(rng, 0.05, 0.8) * sr
    off_mean = _log_uniform(rng, 0.05, 1.2) * sr
    # enough alternating segments to cover n with overwhelming probability, then extend if not
    est = int(2 * n / (on_mean + off_mean)) + 4
    durs = []
    covered = 0
    while covered < n:
        on = rng.exponential(on_mean, est) + 0.01 * sr
        off = rng.exponential(off_mean, est) + 0.01 * sr
        pair = np.stack([on, off], axis=1).reshape(-1)
        durs.append(pair)
        covered += int(pair.sum())
    durs = np.concatenate(durs).astype(np.int64) + 1
    levels = np.zeros(durs.size)
    levels[0::2] = 10.0 ** (rng.uniform(-6.0, 6.0, levels[0::2].size) / 20.0)
    start_on = rng.random() < 0.5
    if not start_on:  # begin with an "off" segment, truncated at a random point
        durs = np.concatenate([[int(rng.integers(1, int(off_mean) + 2))], durs])
        levels = np.concatenate([[0.0], levels])
    gate = np.repeat(levels, durs)[:n]
    if not np.any(gate):
        gate[:] = 1.0
    ramp = int(_log_uniform(rng, 0.002, 0.03) * sr)
    gate = _moving_average(_moving_average(gate, ramp), ramp)
    floor = 10.0 ** (-rng.uniform(30.0, 60.0) / 20.0)
    return base * np.maximum(gate, floor)


def _gen_crackle(n, rng, sr, _babble):
    nyq = sr / 2.0
    m = _fast_len(n + int(0.01 * sr))
    density = _log_uniform(rng, 50.0, 3000.0) / sr
    count = max(1, int(rng.poisson(density * m)))
    pos = rng.integers(0, m, count)
    exc = np.zeros(m)
    amp = (rng.pareto(rng.uniform(2.0, 3.5), count) + 1.0) * rng.choice([-1.0, 1.0], count)
    np.add.at(exc, pos, amp)
    f = np.fft.rfftfreq(m, 1.0 / sr)
    # droplet: a damped resonance, H(f) of exp(-t/tau) sin(2 pi f0 t)
    f0 = _log_uniform(rng, 1000.0, min(7000.0, 0.9 * nyq))
    tau = _log_uniform(rng, 0.0001, 0.002)
    s = 2j * np.pi * f
    a = 1.0 / tau
    w0 = 2 * np.pi * f0
    drop = w0 / ((s + a) ** 2 + w0 ** 2)
    ex_spec = np.fft.rfft(exc) * drop
    crackle = np.fft.irfft(ex_spec, m)[:n]
    hiss_fc = _log_uniform(rng, 800.0, min(5000.0, 0.6 * nyq))
    order = int(rng.integers(1, 4))
    hiss = _spectral_noise(n, rng, sr, lambda ff: 1.0 / np.sqrt(1.0 + (hiss_fc / np.maximum(ff, 1e-3)) ** (2 * order)))
    crackle = _unit_rms(crackle).astype(np.float64)
    hiss = _unit_rms(hiss).astype(np.float64)
    return crackle * 10.0 ** (rng.uniform(-10.0, 15.0) / 20.0) + hiss


_GENERATORS: dict[str, Callable] = {
    "white": _gen_white,
    "pink": _gen_pink,
    "brown": _gen_brown,
    "band": _gen_band,
    "white_am": _am(_gen_white),
    "pink_am": _am(_gen_pink),
    "brown_am": _am(_gen_brown),
    "band_am": _am(_gen_band),
    "hum": _gen_hum,
    "babble": _gen_babble,
    "clicks": _gen_clicks,
    "machine": _gen_machine,
    "bursts": _gen_bursts,
    "crackle": _gen_crackle,
}
assert tuple(_GENERATORS) == NOISE_FAMILIES and tuple(FAMILY_WEIGHTS) == NOISE_FAMILIES


# ----------------------------------------------------------------------------- public API


def make_noise(
    family: str,
    num_samples: int,
    rng: np.random.Generator,
    *,
    sample_rate: int = 16000,
    babble_sources: Sequence[np.ndarray] | None = None,
) -> np.ndarray:
    """One noise signal of the given family: float32, shape [num_samples], RMS 1.0.

    Deterministic: the output depends only on the arguments and the state of ``rng`` (which it
    advances). ``babble_sources`` (1-D float arrays at ``sample_rate``) is only used by the
    ``babble`` family, which raises ``ValueError`` without it. ``num_samples == 0`` gives an empty
    array.
    """
    if family not in _GENERATORS:
        raise ValueError(f"unknown noise family {family!r}; expected one of {NOISE_FAMILIES}")
    n = int(num_samples)
    if n < 0:
        raise ValueError("num_samples must be >= 0")
    if sample_rate <= 0:
        raise ValueError("sample_rate must be positive")
    if n == 0:
        if family == "babble" and not babble_sources:
            raise ValueError("family 'babble' needs babble_sources (other speech clips)")
        return np.zeros(0, dtype=np.float32)
    x = _GENERATORS[family](n, rng, int(sample_rate), babble_sources)
    x = np.nan_to_num(np.asarray(x, dtype=np.float64), nan=0.0, posinf=0.0, neginf=0.0)
    out = _unit_rms(x)
    if not np.any(out):  # degenerate (e.g. silent babble sources): fall back to white noise
        out = _unit_rms(rng.standard_normal(n))
    return out


def usable_families(babble_sources: Sequence[np.ndarray] | None = None) -> tuple[str, ...]:
    """The families :func:`random_noise` may pick (all but ``babble`` without sources)."""
    if babble_sources:
        return NOISE_FAMILIES
    return tuple(f for f in NOISE_FAMILIES if f != "babble")


def random_noise(
    num_samples: int,
    rng: np.random.Generator,
    *,
    sample_rate: int = 16000,
    babble_sources: Sequence[np.ndarray] | None = None,
) -> tuple[str, np.ndarray]:
    """Pick a family by :data:`FAMILY_WEIGHTS` and make unit-RMS noise of it.

    With probability :data:`TWO_FAMILY_PROB` (0.25) a second, different family is added 0-12 dB
    below the first; the name is then ``"first+second"``. Returns ``(name, noise)``, noise
    float32 [num_samples] with RMS 1.0.
    """
    fams = usable_families(babble_sources)
    w = np.array([FAMILY_WEIGHTS[f] for f in fams], dtype=np.float64)
    w /= w.sum()
    first = fams[int(rng.choice(len(fams), p=w))]
    x = make_noise(first, num_samples, rng, sample_rate=sample_rate, babble_sources=babble_sources)
    if rng.random() >= TWO_FAMILY_PROB:
        return first, x
    keep = np.array([f != first for f in fams])
    w2 = w * keep
    w2 /= w2.sum()
    second = fams[int(rng.choice(len(fams), p=w2))]
    y = make_noise(second, num_samples, rng, sample_rate=sample_rate, babble_sources=babble_sources)
    gain = 10.0 ** (-rng.uniform(0.0, 12.0) / 20.0)
    return f"{first}+{second}", _unit_rms(x.astype(np.float64) + gain * y.astype(np.float64))


def benchmark(
    seconds: float = 10.0,
    repeats: int = 5,
    sample_rate: int = 16000,
    babble_sources: Sequence[np.ndarray] | None = None,
) -> dict[str, float]:
    """Real-time factor (audio seconds made per wall-clock second) of each family."""
    n = int(seconds * sample_rate)
    if babble_sources is None:
        src_rng = np.random.default_rng(123)
        babble_sources = [src_rng.standard_normal(sample_rate * 10).astype(np.float32) for _ in range(20)]
    out = {}
    for fam in NOISE_FAMILIES:
        rng = np.random.default_rng(0)
        make_noise(fam, n, rng, sample_rate=sample_rate, babble_sources=babble_sources)  # warm-up
        t0 = time.perf_counter()
        for _ in range(repeats):
            make_noise(fam, n, rng, sample_rate=sample_rate, babble_sources=babble_sources)
        dt = (time.perf_counter() - t0) / repeats
        out[fam] = seconds / dt
    return out


if __name__ == "__main__":  # pragma: no cover
    for fam, rtf in benchmark().items():
        print(f"{fam:10s} {rtf:8.0f}x real time")
