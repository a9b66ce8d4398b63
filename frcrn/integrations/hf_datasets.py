"""FRCRN in a Hugging Face ``datasets`` pipeline: :class:`EnhanceAudioColumn` for
``Dataset.map(fn, batched=True)`` and :func:`enhance_dataset`, which keeps the feature type.

    from datasets import load_dataset
    from frcrn.integrations.hf_datasets import EnhanceAudioColumn, enhance_dataset

    ds = load_dataset("audiofolder", data_dir="noisy/", split="train")
    ds = enhance_dataset(ds, "audio")                       # same Audio feature, enhanced audio
    ds.save_to_disk("clean/")                               # or push_to_hub
    # or by hand; features= types the new columns up front (datasets types a column from its
    # first batch, and an error column that is all None there would refuse later errors)
    fn = EnhanceAudioColumn(column="audio")
    ds = ds.map(fn, batched=True, batch_size=8, features=fn.output_features(ds.features))

Two kinds of column:

* an ``Audio`` column (the default): values ``{"bytes", "path"}`` (``Audio(decode=False)``, or
  only a path, read with fsspec), ``{"array", "sampling_rate"}`` or a torchcodec
  ``AudioDecoder`` (decoded ``Audio`` in datasets >= 4). The output is ``{"bytes", "path"}``:
  16-bit WAV (or FLAC: ``output_format``) bytes, the path's name with the new suffix, which an
  ``Audio`` feature stores and decodes like any other. :func:`enhance_dataset` maps over the
  column's ``Audio(decode=False)`` view, so decoded ``Audio`` columns need no audio decoder
  (torchcodec) here: the stored bytes go through the project's codec, and the output column
  gets the input column's ``Audio`` feature (``decode``, ``sampling_rate``) back;
* a plain float-array column, chosen by giving its rate (``sample_rate_column`` or a fixed
  ``sample_rate``): the output is float32 samples (``List(float32)``) plus
  ``<output_column>_sampling_rate``.

Either way ``<output_column>_error`` is None for a good row, else ``"kind: message"`` (and the
output is None): a bad row never stops the map. The output is at 16 kHz (``output_rate="model"``),
at each row's own rate (``"input"``) or at a fixed rate. The model is loaded once, when the
object is made; pickling it (``num_proc`` workers) sends the checkpoint's name, not the weights,
and the dataset fingerprint is the settings plus the checkpoint's sha256, so the cache is right.
"""

from __future__ import annotations

import dataclasses
import posixpath
from collections.abc import Mapping, Sequence
from typing import Any

from ..enhance_config import EnhanceConfig
from .core import BatchEnhancer, check_output

__all__ = ["EnhanceAudioColumn", "enhance_dataset"]


class EnhanceAudioColumn(BatchEnhancer):
    """A function object for ``Dataset.map(fn, batched=True)`` (see the module doc).

    ``output_column`` defaults to ``column`` (enhanced in place); give ``map`` the
    ``features=`` of :meth:`output_features`. ``checkpoint`` (path or fsspec URL; None: the
    shipped default), ``config`` and ``storage_options`` choose the model (``storage_options``
    also reads path-only values); ``enhancer``: a ready enhancer instead.
    """

    def __init__(self, checkpoint: str | None = None, config: EnhanceConfig | Mapping[str, Any] = EnhanceConfig(),
                 storage_options: Mapping[str, Any] | None = None, *, column: str = "audio",
                 output_column: str | None = None, sample_rate_column: str | None = None,
                 sample_rate: int | None = None, output_rate: str | int = "model", output_format: str = "wav",
                 max_seconds: float | None = None, enhancer: Any = None) -> None:
        if sample_rate_column is not None and sample_rate is not None:
            raise ValueError("give sample_rate_column or sample_rate, not both")
        self.arrays = sample_rate_column is not None or sample_rate is not None
        check_output(output_rate, None if self.arrays else output_format)
        if not self.arrays and output_format is None:
            raise ValueError("an Audio column needs an output_format ('wav' or 'flac')")
        self._load = None if enhancer is not None else (checkpoint, config, dict(storage_options or {}))
        super().__init__(checkpoint, config, storage_options, enhancer=enhancer)
        self.column, self.output_column = column, output_column or column
        self.error_column = f"{self.output_column}_error"
        self.sample_rate_column, self.sample_rate = sample_rate_column, sample_rate
        self.output_rate, self.output_format = output_rate, (None if self.arrays else output_format)
        self.max_seconds, self.storage_options = max_seconds, dict(storage_options or {})

    def __call__(self, batch: Mapping[str, Sequence[Any]]) -> dict[str, list[Any]]:
        values = list(batch[self.column])
        if self.sample_rate_column is not None:
            rates = list(batch[self.sample_rate_column])
        else:
            rates = [self.sample_rate] * len(values)
        results = self.enhance_values(values, rates, output_rate=self.output_rate, output_format=self.output_format,
                                      max_seconds=self.max_seconds, storage_options=self.storage_options)
        out: dict[str, list[Any]] = {self.output_column: [], self.error_column: [r.error for r in results]}
        if self.arrays:
            out[self.output_column] = [r.output for r in results]
            out[f"{self.output_column}_sampling_rate"] = [r.sample_rate for r in results]
        else:
            out[self.output_column] = [None if r.output is None else {"bytes": r.output, "path": self._path(v)}
                                       for r, v in zip(results, values)]
        return out

    def _path(self, value: Any) -> str | None:
        """The output's name: the input's file name with the output format's suffix."""
        path = value.get("path") if isinstance(value, Mapping) else None
        if not path:
            return None
        stem, _ = posixpath.splitext(posixpath.basename(str(path)))
        return f"{stem}.{self.output_format}"

    def output_features(self, features: Any) -> Any:
        """The mapped dataset's ``Features``: ``features`` plus the output columns."""
        from datasets import Audio, Features, List, Value

        new = dict(features)
        if self.arrays:
            new[self.output_column] = List(Value("float32"))
            new[f"{self.output_column}_sampling_rate"] = Value("int32")
        else:
            given = features.get(self.column)
            new[self.output_column] = given if isinstance(given, Audio) else Audio(decode=False)
        new[self.error_column] = Value("string")
        return Features(new)

    # Pickled for num_proc workers and hashed for the cache fingerprint: the checkpoint's name,
    # settings and sha256 travel, the weights are loaded again on the other side.
    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        if self._load is not None:
            state["enhancer"] = None
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        if self.enhancer is None and self._load is not None:
            checkpoint, config, options = self._load
            BatchEnhancer.__init__(self, checkpoint, config, options)


def enhance_dataset(ds: Any, column: str = "audio", *, output_column: str | None = None,
                    checkpoint: str | None = None, config: EnhanceConfig | Mapping[str, Any] = EnhanceConfig(),
                    storage_options: Mapping[str, Any] | None = None, sample_rate_column: str | None = None,
                    sample_rate: int | None = None, output_rate: str | int = "model", output_format: str = "wav",
                    max_seconds: float | None = None, batch_size: int = 8, enhancer: Any = None,
                    **map_kwargs: Any) -> Any:
    """``ds`` with ``column`` enhanced into ``output_column`` (default: in place), through
    ``Dataset.map(batched=True)`` with the output's ``Features`` given, so the column keeps its
    type (a decoded ``Audio`` column is read through its ``Audio(decode=False)`` view and gets
    its own feature back). ``map_kwargs`` go to ``map`` (``num_proc``, ``desc``, ...)."""
    from datasets import Audio

    fn = EnhanceAudioColumn(checkpoint, config, storage_options, column=column, output_column=output_column,
                            sample_rate_column=sample_rate_column, sample_rate=sample_rate, output_rate=output_rate,
                            output_format=output_format, max_seconds=max_seconds, enhancer=enhancer)
    feature = ds.features.get(column)
    decoded = isinstance(feature, Audio) and feature.decode and not fn.arrays
    view = ds.cast_column(column, dataclasses.replace(feature, decode=False)) if decoded else ds
    out = view.map(fn, batched=True, batch_size=batch_size, features=fn.output_features(view.features), **map_kwargs)
    if decoded:
        for name in dict.fromkeys((column, fn.output_column)):
            out = out.cast_column(name, feature)
    return out
