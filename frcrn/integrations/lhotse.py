"""FRCRN for lhotse manifests: enhanced recordings written to a folder, and a manifest that
points at them.

    from lhotse import CutSet
    from frcrn.integrations.lhotse import enhance_cuts

    cuts = CutSet.from_file("cuts.jsonl.gz")
    clean = enhance_cuts(cuts, "clean_audio/")             # or s3://bucket/clean_audio/
    clean.to_file("cuts_clean.jsonl.gz")

:func:`enhance_recordings` reads each recording with lhotse itself (``Recording.load_audio``:
every source type and transform lhotse supports), enhances it (each channel on its own: FRCRN is
mono; the windows of ``recordings_per_batch`` recordings share model batches), writes one 16-bit
WAV/FLAC file per recording (``<output_dir>/<recording id>.<format>``, the id percent-quoted,
through ``frcrn.storage.atomic_write``: local or any fsspec URL) and returns a ``RecordingSet``
with the same ids whose single source is that file (``file`` or ``url``), at 16 kHz
(``output_rate="model"``), at the recording's own rate (``"input"``) or a fixed rate.

:func:`enhance_cuts` does that for the recordings its cuts use (each once, however many cuts
share it) and returns the cuts referencing the new recordings: ids, times, channels and
supervisions unchanged; mixed cuts have each track's recording replaced. Precomputed features
describe the noisy audio, so they are dropped (compute them again on the enhanced recordings).

A recording that cannot be read or enhanced does not stop the others; at the end
:class:`EnhanceFailures` lists them (``on_error="raise"``, the default), or they are left out of
the returned manifest, with their cuts (``on_error="skip"``).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import quote

import numpy as np

from ..audio import AudioError, encode_audio
from ..enhance_config import EnhanceConfig
from ..storage import atomic_write, is_url
from .core import OUTPUT_FORMATS, BatchEnhancer, RowError, check_output, finish, to_model_rate

__all__ = ["EnhanceFailures", "enhance_cuts", "enhance_recordings"]


class EnhanceFailures(RuntimeError):
    """Some recordings could not be enhanced; ``failures`` maps their ids to ``"kind: message"``."""

    def __init__(self, failures: Mapping[str, str], written: int) -> None:
        self.failures = dict(failures)
        shown = "; ".join(f"{k}: {v}" for k, v in list(self.failures.items())[:5])
        more = f" (and {len(self.failures) - 5} more)" if len(self.failures) > 5 else ""
        super().__init__(f"{len(self.failures)} recording(s) could not be enhanced, {written} were written: "
                         f"{shown}{more}; on_error='skip' leaves them out of the manifest instead")


def enhance_recordings(recordings: Iterable[Any], output_dir: str, *, checkpoint: str | None = None,
                       config: EnhanceConfig | Mapping[str, Any] = EnhanceConfig(),
                       storage_options: Mapping[str, Any] | None = None, output_format: str = "wav",
                       output_rate: str | int = "model", recordings_per_batch: int = 8, on_error: str = "raise",
                       enhancer: Any = None) -> Any:
    """Enhance every recording of ``recordings`` (a ``RecordingSet`` or any iterable of
    ``Recording``) into ``output_dir``; returns the ``RecordingSet`` of the written files.
    ``storage_options``: fsspec options for the checkpoint and the outputs; ``enhancer``: a
    ready enhancer (or ``BatchEnhancer``) instead of loading ``checkpoint``."""
    from lhotse import RecordingSet

    check_output(output_rate, output_format)
    if output_format not in OUTPUT_FORMATS:
        raise ValueError(f"output_format must be one of {list(OUTPUT_FORMATS)}, got {output_format!r}")
    if on_error not in ("raise", "skip"):
        raise ValueError(f"on_error must be 'raise' or 'skip', got {on_error!r}")
    model = enhancer if isinstance(enhancer, BatchEnhancer) else BatchEnhancer(
        checkpoint, config, storage_options, enhancer=enhancer)
    written: dict[str, Any] = {}
    failures: dict[str, str] = {}
    order: list[str] = []
    group: list[Any] = []
    for rec in recordings:
        order.append(rec.id)
        group.append(rec)
        if len(group) == recordings_per_batch:
            _enhance_group(model, group, output_dir, output_format, output_rate, storage_options, written, failures)
            group = []
    _enhance_group(model, group, output_dir, output_format, output_rate, storage_options, written, failures)
    if failures and on_error == "raise":
        raise EnhanceFailures(failures, len(written))
    return RecordingSet.from_recordings([written[i] for i in order if i in written])


def enhance_cuts(cuts: Iterable[Any], output_dir: str, **kwargs: Any) -> Any:
    """Enhance the recordings ``cuts`` use (see :func:`enhance_recordings`, same keywords) and
    return the cuts pointing at them, supervisions unchanged."""
    from lhotse import CutSet

    if not hasattr(cuts, "to_file"):  # a plain iterable: read twice below
        cuts = list(cuts)
    used: dict[str, Any] = {}
    for cut in cuts:
        for rec in _recordings_of(cut):
            used.setdefault(rec.id, rec)
    new = {rec.id: rec for rec in enhance_recordings(used.values(), output_dir, **kwargs)}
    out = [c for c in (_with_recordings(cut, new) for cut in cuts) if c is not None]
    return CutSet.from_cuts(out)


def _enhance_group(model: BatchEnhancer, group: list[Any], output_dir: str, output_format: str,
                   output_rate: str | int, storage_options: Mapping[str, Any] | None,
                   written: dict[str, Any], failures: dict[str, str]) -> None:
    """Read a group of recordings (every channel at 16 kHz), enhance all their channels in one
    group, write each recording's file."""
    waves: list[np.ndarray] = []
    spans: list[tuple[Any, int, int]] = []
    for rec in group:
        try:
            audio = np.atleast_2d(rec.load_audio())
            channels = [to_model_rate(np.asarray(ch, dtype=np.float32), rec.sampling_rate)[0] for ch in audio]
        except RowError as err:
            failures[rec.id] = str(err)
            continue
        except Exception as err:  # lhotse could not load it (missing file, bad source, ...)
            failures[rec.id] = f"read_error: {type(err).__name__}: {err}"
            continue
        spans.append((rec, len(waves), len(channels)))
        waves += channels
    outs, _ = model.enhance_group(waves)
    for rec, start, count in spans:
        parts = outs[start:start + count]
        bad = next((p for p in parts if isinstance(p, RowError)), None)
        if bad is not None:
            failures[rec.id] = str(bad)
            continue
        try:
            written[rec.id] = _write(rec, parts, output_dir, output_format, output_rate, storage_options)
        except (AudioError, OSError, ValueError) as err:
            failures[rec.id] = f"write_error: {type(err).__name__}: {err}"


def _write(rec: Any, channels: list[np.ndarray], output_dir: str, output_format: str, output_rate: str | int,
           storage_options: Mapping[str, Any] | None) -> Any:
    """One recording's enhanced channels as a file, and the Recording pointing at it."""
    from lhotse import Recording
    from lhotse.audio import AudioSource

    done = [finish(y, rec.sampling_rate, output_rate) for y in channels]
    for d in done:
        if d.error is not None:
            raise ValueError(d.error)
    rate = int(done[0].sample_rate or 0)
    data = np.stack([d.output for d in done], axis=1)  # [frames, channels]
    location = _location(output_dir, rec.id, output_format)
    atomic_write(location, encode_audio(data, rate, output_format), storage_options=storage_options)
    kind = "url" if is_url(location) else "file"
    ids = list(rec.channel_ids)
    return Recording(id=rec.id, sources=[AudioSource(type=kind, channels=ids, source=location)], sampling_rate=rate,
                     num_samples=data.shape[0], duration=data.shape[0] / rate, channel_ids=ids)


def _location(output_dir: str, recording_id: str, output_format: str) -> str:
    name = f"{quote(recording_id, safe='')}.{output_format}"
    if is_url(output_dir):
        return f"{output_dir.rstrip('/')}/{name}"
    return os.path.join(os.path.abspath(output_dir), name)


def _recordings_of(cut: Any) -> list[Any]:
    if hasattr(cut, "tracks"):  # MixedCut
        return [rec for track in cut.tracks for rec in _recordings_of(track.cut)]
    recording = getattr(cut, "recording", None)
    return [recording] if recording is not None else []


def _with_recordings(cut: Any, new: Mapping[str, Any]) -> Any:
    """``cut`` with its recording(s) replaced (features dropped), or None when one is missing."""
    from lhotse.utils import fastcopy

    if hasattr(cut, "tracks"):
        tracks = [fastcopy(t, cut=_with_recordings(t.cut, new)) for t in cut.tracks]
        return None if any(t.cut is None for t in tracks) else fastcopy(cut, tracks=tracks)
    recording = getattr(cut, "recording", None)
    if recording is None:
        return cut  # padding, or features only: no audio to replace
    if recording.id not in new:
        return None
    return fastcopy(cut, recording=new[recording.id], features=None)
