"""What every pipeline integration shares: the model replica and one row's audio on its way
to and from the model.

* :class:`BatchEnhancer` holds one model replica (loaded once: a checkpoint path or fsspec URL,
  or None for the shipped default) and enhances a group of 16 kHz waveforms with one
  ``Enhancer.enhance_many`` call, which packs the windows of all of them into model batches (a
  window's result never depends on its batch neighbours). When the group fails (a pathological
  file, GPU out of memory) it is re-run file by file, so only the culprit fails; every output is
  checked (length, finite) before it is handed on. The bulk job's model stage
  (``jobs.stages.Enhance``) and the Ray Data, Hugging Face and lhotse integrations are all built
  on it.
* :func:`to_model_rate` turns one row's audio -- encoded bytes (any format the project's codec
  reads), a float array with its rate, a Hugging Face ``{"bytes", "path"}`` or ``{"array",
  "sampling_rate"}`` value, or a torchcodec ``AudioDecoder`` -- into 16 kHz mono float32 with
  the codec's checks (:mod:`frcrn.audio.codec`); :func:`finish` brings the enhanced 16 kHz
  signal to the wanted rate and, when asked, encodes it (16-bit WAV/FLAC).
* A row that cannot be done is a :class:`RowError` value (``kind`` to count by, a message a
  person can act on), never an exception that stops the rest of the batch.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..audio import MAX_SAMPLE_RATE, MIN_SAMPLE_RATE, SAMPLE_RATE, AudioError, decode_audio, encode_audio, resample
from ..enhance_config import EnhanceConfig

__all__ = [
    "OUTPUT_FORMATS",
    "BatchEnhancer",
    "Enhanced",
    "RowError",
    "check_output",
    "finish",
    "to_model_rate",
]

log = logging.getLogger(__name__)

OUTPUT_FORMATS = ("wav", "flac")
"""Encoded outputs: 16-bit PCM (``frcrn.audio.encode_audio``)."""


class RowError(Exception):
    """One row that cannot be enhanced: ``kind`` is short and stable (the codec's kinds, plus
    ``invalid_input``, ``sample_rate`` and ``enhance_error``), ``message`` is for a person."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind, self.message = kind, message

    def __str__(self) -> str:
        return f"{self.kind}: {self.message}"

    def __reduce__(self) -> tuple[Any, ...]:  # survives pickling (Ray ships errors between processes)
        return (type(self), (self.kind, self.message))


@dataclass(frozen=True)
class Enhanced:
    """One row's result: the output (float32 samples, or encoded bytes) at ``sample_rate``, or
    the error (``"kind: message"``) and no output."""

    output: np.ndarray | bytes | None
    sample_rate: int | None
    error: str | None = None

    @classmethod
    def failed(cls, err: RowError) -> Enhanced:
        return cls(None, None, str(err))


def check_output(output_rate: str | int, output_format: str | None) -> None:
    """Refuse unusable output settings at construction time (ValueError), not per row."""
    if output_format is not None and output_format not in OUTPUT_FORMATS:
        raise ValueError(f"output_format must be None (float32 samples) or one of {list(OUTPUT_FORMATS)}, "
                         f"got {output_format!r}")
    if output_rate in ("model", "input"):
        return
    if isinstance(output_rate, bool) or not isinstance(output_rate, (int, np.integer)) or not (
            MIN_SAMPLE_RATE <= output_rate <= MAX_SAMPLE_RATE):
        raise ValueError(f"output_rate must be 'model' (16 kHz), 'input' (each row's own rate) or a rate in "
                         f"[{MIN_SAMPLE_RATE}, {MAX_SAMPLE_RATE}] Hz, got {output_rate!r}")


# --------------------------------------------------------------------------- one row's audio


def to_model_rate(value: Any, sample_rate: int | None = None, *, max_seconds: float | None = None,
                  storage_options: Mapping[str, Any] | None = None) -> tuple[np.ndarray, int]:
    """One row's audio as (16 kHz mono float32 samples, the rate it came at); RowError if unusable.

    ``value``: encoded bytes (``bytes``, ``bytearray``, ``memoryview``); a mapping with
    ``"bytes"`` (or only ``"path"``, read with fsspec and ``storage_options``) or with
    ``"array"`` and ``"sampling_rate"``; a torchcodec ``AudioDecoder`` (channels averaged); or a
    1-D float array at ``sample_rate``. Decoding is the project's codec (``decode_audio``), so
    the checks and messages are the bulk job's.
    """
    if value is None:
        raise RowError("empty", "no audio: the value is null")
    if isinstance(value, (bytes, bytearray, memoryview)):
        return _decode(value, max_seconds)
    if isinstance(value, Mapping):
        if value.get("bytes") is not None:
            return _decode(value["bytes"], max_seconds)
        if value.get("array") is not None:
            return _samples(value["array"], value.get("sampling_rate"), max_seconds)
        if value.get("path"):
            return _decode(_read(str(value["path"]), storage_options), max_seconds)
        raise RowError("empty", f"no audio: the value has neither bytes, array nor path (keys: {sorted(value)})")
    if hasattr(value, "get_all_samples"):  # torchcodec AudioDecoder (datasets >= 4 decoded Audio)
        got = value.get_all_samples()
        data = np.asarray(got.data.float().numpy() if hasattr(got.data, "numpy") else got.data, dtype=np.float32)
        return _samples(data.mean(axis=0) if data.ndim == 2 else data, int(got.sample_rate), max_seconds)
    return _samples(value, sample_rate, max_seconds)


def _decode(data: Any, max_seconds: float | None) -> tuple[np.ndarray, int]:
    try:
        decoded = decode_audio(data, max_seconds=max_seconds)
    except AudioError as err:
        raise RowError(err.kind, str(err)) from None
    return decoded.samples, decoded.source.sample_rate


def _read(path: str, storage_options: Mapping[str, Any] | None) -> bytes:
    import fsspec

    try:
        with fsspec.open(path, "rb", **dict(storage_options or {})) as f:
            return f.read()
    except (OSError, ValueError) as err:
        raise RowError("read_error", f"{path}: cannot read it: {type(err).__name__}: {err}") from None


def _samples(array: Any, rate: Any, max_seconds: float | None) -> tuple[np.ndarray, int]:
    """A float array at ``rate`` -> 16 kHz mono float32, with the codec's checks."""
    x = np.asarray(array)
    if x.ndim == 2 and 1 in x.shape:
        x = x.reshape(-1)
    if x.ndim != 1:
        raise RowError("invalid_input", f"expected a 1-D mono array of samples, got shape {x.shape}; "
                       "average the channels first (or give encoded bytes, which are downmixed)")
    if not np.issubdtype(x.dtype, np.floating):
        raise RowError("invalid_input", f"expected float samples in [-1, 1], got dtype {x.dtype} "
                       "(integer PCM: divide by 32768 first)")
    if rate is None:
        raise RowError("sample_rate", "no sampling rate for this array: give a sampling-rate column or a fixed rate")
    if isinstance(rate, bool) or not float(rate).is_integer() or not MIN_SAMPLE_RATE <= int(rate) <= MAX_SAMPLE_RATE:
        raise RowError("sample_rate", f"unusable sampling rate {rate!r}: expected an integer in "
                       f"[{MIN_SAMPLE_RATE}, {MAX_SAMPLE_RATE}] Hz")
    rate = int(rate)
    if x.size == 0:
        raise RowError("empty", "no audio: the array is empty")
    if max_seconds is not None and x.size / rate > max_seconds:
        raise RowError("too_long", f"too long: {x.size / rate:.1f} s exceeds the limit of {max_seconds:g} s")
    if not np.isfinite(x).all():
        raise RowError("non_finite", f"corrupt samples: {int(x.size - np.isfinite(x).sum())} NaN or infinite "
                       f"values among {x.size}")
    samples = resample(x, rate, SAMPLE_RATE)
    if samples.size == 0:
        raise RowError("empty", f"no audio: {x.size} sample(s) at {rate} Hz is shorter than one sample at 16 kHz")
    return samples, rate


def finish(samples: np.ndarray, input_rate: int, output_rate: str | int = "model",
           output_format: str | None = None) -> Enhanced:
    """The enhanced 16 kHz signal at the wanted rate (``"model"``, ``"input"`` or a number),
    encoded when ``output_format`` is given; an encoding problem is the row's error."""
    rate = SAMPLE_RATE if output_rate == "model" else int(input_rate if output_rate == "input" else output_rate)
    try:
        out = resample(samples, SAMPLE_RATE, rate)
        if output_format is None:
            return Enhanced(out, rate)
        return Enhanced(encode_audio(out, rate, output_format), rate)
    except (AudioError, ValueError) as err:
        return Enhanced.failed(RowError(getattr(err, "kind", "encode_error"),
                                        f"cannot encode the enhanced audio: {err}"))


# --------------------------------------------------------------------------- the model replica


class BatchEnhancer:
    """One FRCRN replica: loaded once, then enhances groups of 16 kHz waveforms.

    ``checkpoint``: path or fsspec URL, None for the shipped default; ``config``: an
    :class:`~frcrn.enhance_config.EnhanceConfig` (or a mapping of its fields);
    ``storage_options``: fsspec options for the checkpoint. ``enhancer``: an already built
    enhancer (anything with ``enhance_many`` and ``enhance``) instead of loading one.
    """

    def __init__(self, checkpoint: str | None = None, config: EnhanceConfig | Mapping[str, Any] = EnhanceConfig(),
                 storage_options: Mapping[str, Any] | None = None, *, enhancer: Any = None) -> None:
        t0 = time.perf_counter()
        if enhancer is None:
            from ..enhance import Enhancer

            if isinstance(config, Mapping):
                config = EnhanceConfig(**config)
            enhancer = Enhancer.from_checkpoint(checkpoint, config=config, storage_options=storage_options or None)
        self.enhancer = enhancer
        self.model_id = str(getattr(enhancer, "model_id", "frcrn"))
        self.checkpoint_sha256 = str(getattr(enhancer, "checkpoint_sha256", ""))
        settings = getattr(enhancer, "config", None)
        self.strength = (getattr(settings, "atten_lim_db", None), float(getattr(settings, "dry", 0.0)))
        log.info("model replica ready in %.1f s (%s on %s)", time.perf_counter() - t0, self.model_id,
                 getattr(enhancer, "device", "?"))

    def enhance_group(self, waves: Sequence[np.ndarray]) -> tuple[list[np.ndarray | RowError], list[float]]:
        """Each wave's enhanced samples (or its RowError) and its share of the time taken.

        One packed ``enhance_many`` call; if it fails, file by file so only the culprit fails."""
        if not waves:
            return [], []
        t0 = time.perf_counter()
        try:
            results: list[Any] = list(self.enhancer.enhance_many(list(waves)))
            total = sum(w.size for w in waves) or 1
            elapsed = time.perf_counter() - t0
            times = [elapsed * w.size / total for w in waves]
        except Exception as err:  # isolate the culprit file by file
            log.warning("batch enhancement failed (%s: %s); retrying file by file", type(err).__name__, err)
            free_accelerator_memory()
            results, times = [], []
            for w in waves:
                t1 = time.perf_counter()
                try:
                    results.append(self.enhancer.enhance(w))
                except Exception as e:
                    free_accelerator_memory()
                    results.append(e)
                times.append(time.perf_counter() - t1)
        return [_checked(w, out) for w, out in zip(waves, results)], times

    def enhance_values(self, values: Sequence[Any], rates: Sequence[int | None], *, output_rate: str | int = "model",
                       output_format: str | None = None, max_seconds: float | None = None,
                       storage_options: Mapping[str, Any] | None = None) -> list[Enhanced]:
        """Rows of audio (see :func:`to_model_rate`) -> one :class:`Enhanced` each, in order; the
        usable ones enhanced together in one group."""
        results: list[Enhanced | None] = [None] * len(values)
        todo: list[tuple[int, np.ndarray, int]] = []
        for i, (value, rate) in enumerate(zip(values, rates)):
            try:
                x, input_rate = to_model_rate(value, rate, max_seconds=max_seconds, storage_options=storage_options)
            except RowError as err:
                results[i] = Enhanced.failed(err)
            else:
                todo.append((i, x, input_rate))
        outs, _ = self.enhance_group([x for _, x, _ in todo])
        for (i, _, input_rate), out in zip(todo, outs):
            results[i] = (Enhanced.failed(out) if isinstance(out, RowError)
                          else finish(out, input_rate, output_rate, output_format))
        return results  # type: ignore[return-value]


def _checked(wave: np.ndarray, out: Any) -> np.ndarray | RowError:
    if isinstance(out, BaseException):
        return RowError("enhance_error", f"the model failed on this file: {type(out).__name__}: {out}")
    y = np.asarray(out, dtype=np.float32).reshape(-1)
    if y.size != wave.size:
        return RowError("enhance_error", f"the model returned {y.size} samples for {wave.size}; "
                        "this is a bug in the enhancer")
    if not np.isfinite(y).all():
        return RowError("enhance_error", "the model produced NaN/infinite samples (try precision=fp32)")
    return y


def free_accelerator_memory() -> None:
    try:
        import torch

        if torch.cuda.is_available():
            torch.cuda.empty_cache()
    except Exception:
        pass
