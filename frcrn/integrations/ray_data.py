"""FRCRN in your Ray Data pipeline: :class:`EnhanceAudio` for ``map_batches`` on an actor pool,
and :func:`enhance_dataset`, which adds the usual three stages to a dataset.

    import ray
    from ray.data import ActorPoolStrategy
    from frcrn.integrations.ray_data import EnhanceAudio, enhance_dataset

    ds = ray.data.read_binary_files("s3://bucket/raw/", include_paths=True)     # a "bytes" column
    ds = ds.map_batches(EnhanceAudio, fn_constructor_kwargs={"audio_column": "bytes"},
                        batch_size=8, batch_format="pyarrow",
                        compute=ActorPoolStrategy(size=2), num_gpus=1)
    # or: decode on CPU tasks -> enhance on the actor pool -> encode on CPU tasks
    ds = enhance_dataset(ds, audio_column="bytes", output_format="flac", replicas=2, num_gpus=1)

Input column (``audio_column``), per row: encoded bytes (any format the project's codec reads:
what ``read_binary_files`` gives), or a float array with its rate from ``sample_rate_column`` or
the fixed ``sample_rate``; also a ``{"bytes", "path"}`` / ``{"array", "sampling_rate"}`` struct.
Any batch format works (numpy, pandas, pyarrow; pyarrow saves a conversion).

Output columns, added to (or replacing) the batch's own, returned as an Arrow table:

* ``output_column``: the enhanced audio, ``large_list<float32>`` samples, or ``large_binary``
  16-bit WAV/FLAC bytes with ``output_format``; at 16 kHz (``output_rate="model"``), at each
  row's input rate (``"input"``) or at a fixed rate; null when the row failed;
* ``<output_column>_sampling_rate`` (int32): the output's rate, null when the row failed;
* ``<output_column>_error`` (string, or ``error_column``): null when the row is fine, else
  ``"kind: message"``; a bad row never fails the block. Rows whose error column is already set
  (by an earlier stage) are passed through untouched.

The model is loaded once per actor, in ``__init__``; the windows of all rows in a batch share
model batches (``Enhancer.enhance_many``; a window's result never depends on its neighbours),
and a failing batch is re-run row by row (:class:`frcrn.integrations.core.BatchEnhancer`, the
same replica the bulk job's model stage is).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pyarrow as pa

from ..audio import SAMPLE_RATE
from ..enhance_config import EnhanceConfig
from .core import BatchEnhancer, Enhanced, RowError, check_output, finish, to_model_rate

__all__ = ["EnhanceAudio", "decode_batch", "enhance_dataset", "finish_batch"]

SAMPLES, INPUT_RATE, ENHANCED = "__frcrn_samples", "__frcrn_input_rate", "__frcrn_enhanced"
"""Working columns of :func:`enhance_dataset` between its stages (dropped by the last one)."""
FLOATS, ENCODED = pa.large_list(pa.float32()), pa.large_binary()


class EnhanceAudio(BatchEnhancer):
    """A callable class for ``Dataset.map_batches(EnhanceAudio, fn_constructor_kwargs=...)``.

    ``checkpoint`` (path or fsspec URL; None: the shipped default), ``config``
    (``EnhanceConfig`` or a mapping of its fields) and ``storage_options`` choose the model;
    the keywords choose the columns (see the module doc). ``enhancer``: a ready enhancer instead.
    """

    def __init__(self, checkpoint: str | None = None, config: EnhanceConfig | Mapping[str, Any] = EnhanceConfig(),
                 storage_options: Mapping[str, Any] | None = None, *, audio_column: str = "audio",
                 output_column: str = "enhanced", sample_rate_column: str | None = None,
                 sample_rate: int | None = None, output_rate: str | int = "model", output_format: str | None = None,
                 error_column: str | None = None, keep_audio: bool = True, max_seconds: float | None = None,
                 enhancer: Any = None) -> None:
        check_output(output_rate, output_format)
        _check_rate_source(sample_rate_column, sample_rate)
        super().__init__(checkpoint, config, storage_options, enhancer=enhancer)
        self.audio_column, self.output_column = audio_column, output_column
        self.sample_rate_column, self.sample_rate = sample_rate_column, sample_rate
        self.output_rate, self.output_format = output_rate, output_format
        self.error_column = error_column or f"{output_column}_error"
        self.keep_audio, self.max_seconds = keep_audio, max_seconds
        self.storage_options = dict(storage_options or {})

    def __call__(self, batch: Any) -> pa.Table:
        table = to_arrow(batch)
        values = column_values(table, self.audio_column)
        rates = _rates(table, self.sample_rate_column, self.sample_rate)
        prior = _errors(table, self.error_column)
        todo = [i for i, e in enumerate(prior) if e is None]
        done = self.enhance_values([values[i] for i in todo], [rates[i] for i in todo],
                                   output_rate=self.output_rate, output_format=self.output_format,
                                   max_seconds=self.max_seconds, storage_options=self.storage_options)
        results = [Enhanced(None, None, e) for e in prior]
        for i, result in zip(todo, done):
            results[i] = result
        drop = [] if self.keep_audio or self.audio_column == self.output_column else [self.audio_column]
        return with_results(table, results, self.output_column, self.error_column,
                            encoded=self.output_format is not None, drop=drop)


# --------------------------------------------------------------------------- the three stages


def enhance_dataset(ds: Any, *, audio_column: str = "bytes", output_column: str = "enhanced",
                    sample_rate_column: str | None = None, sample_rate: int | None = None,
                    output_rate: str | int = "model", output_format: str | None = None, keep_audio: bool = True,
                    max_seconds: float | None = None, checkpoint: str | None = None,
                    config: EnhanceConfig | Mapping[str, Any] = EnhanceConfig(),
                    storage_options: Mapping[str, Any] | None = None, replicas: int | tuple[int, int] = 1,
                    num_gpus: float = 0, num_cpus: float | None = None, rows_per_model_batch: int = 8,
                    rows_per_task: int = 8, task_cpus: float = 1.0) -> Any:
    """``ds`` with the enhancement added as three stages: :func:`decode_batch` on CPU tasks
    (bytes decoded, arrays checked, both resampled to 16 kHz), :class:`EnhanceAudio` on an
    actor pool of ``replicas`` (a number, or (min, max) to autoscale) with ``num_gpus`` /
    ``num_cpus`` each, :func:`finish_batch` on CPU tasks (back to ``output_rate``, encoded when
    ``output_format`` is given). The output columns are :class:`EnhanceAudio`'s.

    CPU replicas (``num_gpus`` 0) take ``num_cpus`` (default 1) each and, unless
    ``config.num_threads`` says otherwise, as many torch threads.
    """
    from ray.data import ActorPoolStrategy

    check_output(output_rate, output_format)
    _check_rate_source(sample_rate_column, sample_rate)
    if isinstance(config, Mapping):
        config = EnhanceConfig(**config)
    if num_gpus == 0:
        num_cpus = 1.0 if num_cpus is None else num_cpus
        if config.num_threads is None:
            config = dataclasses.replace(config, num_threads=max(1, int(num_cpus)))
    low, high = (replicas, replicas) if isinstance(replicas, int) else replicas
    error_column = f"{output_column}_error"
    ds = ds.map_batches(decode_batch, fn_kwargs=dict(
        audio_column=audio_column, sample_rate_column=sample_rate_column, sample_rate=sample_rate,
        error_column=error_column, keep_audio=keep_audio, max_seconds=max_seconds),
        batch_size=rows_per_task, batch_format="pyarrow", num_cpus=task_cpus, udf_modifying_row_count=False)
    model_resources: dict[str, Any] = {"num_gpus": num_gpus} if num_gpus else {}
    if num_cpus is not None:
        model_resources["num_cpus"] = num_cpus
    ds = ds.map_batches(EnhanceAudio, fn_constructor_kwargs=dict(
        checkpoint=checkpoint, config=config, storage_options=dict(storage_options or {}), audio_column=SAMPLES,
        sample_rate=SAMPLE_RATE, output_column=ENHANCED, error_column=error_column, keep_audio=False),
        batch_size=rows_per_model_batch, batch_format="pyarrow", udf_modifying_row_count=False,
        compute=ActorPoolStrategy(min_size=low, max_size=high, max_tasks_in_flight_per_actor=2), **model_resources)
    return ds.map_batches(finish_batch, fn_kwargs=dict(
        output_column=output_column, error_column=error_column, output_rate=output_rate,
        output_format=output_format), batch_size=rows_per_task, batch_format="pyarrow", num_cpus=task_cpus,
        udf_modifying_row_count=False)


def decode_batch(batch: Any, *, audio_column: str, sample_rate_column: str | None = None,
                 sample_rate: int | None = None, error_column: str = "enhanced_error", keep_audio: bool = True,
                 max_seconds: float | None = None) -> pa.Table:
    """Stage 1 (CPU): each row's audio as 16 kHz float32 (``__frcrn_samples``) and its own
    rate (``__frcrn_input_rate``), or its error in ``error_column``."""
    table = to_arrow(batch)
    values = column_values(table, audio_column)
    rates = _rates(table, sample_rate_column, sample_rate)
    errors = _errors(table, error_column)
    samples: list[np.ndarray | None] = [None] * len(values)
    input_rates: list[int | None] = [None] * len(values)
    for i, (value, rate) in enumerate(zip(values, rates)):
        if errors[i] is not None:
            continue
        try:
            samples[i], input_rates[i] = to_model_rate(value, rate, max_seconds=max_seconds)
        except RowError as err:
            errors[i] = str(err)
    if not keep_audio:
        table = table.drop_columns([audio_column])
    table = _put(table, SAMPLES, float_lists(samples))
    table = _put(table, INPUT_RATE, pa.array(input_rates, pa.int32()))
    return _put(table, error_column, pa.array(errors, pa.string()))


def finish_batch(batch: Any, *, output_column: str = "enhanced", error_column: str | None = None,
                 output_rate: str | int = "model", output_format: str | None = None) -> pa.Table:
    """Stage 3 (CPU): the enhanced 16 kHz audio at ``output_rate``, encoded when
    ``output_format`` is given, in ``output_column``; the working columns dropped."""
    table = to_arrow(batch)
    error_column = error_column or f"{output_column}_error"
    enhanced = column_values(table, ENHANCED)
    rates = table.column(INPUT_RATE).to_pylist()
    results = [Enhanced(None, None, e) if e is not None or y is None
               else finish(np.asarray(y, dtype=np.float32), rate, output_rate, output_format)
               for y, rate, e in zip(enhanced, rates, _errors(table, error_column))]
    working = [c for c in table.column_names if c.startswith("__frcrn_")]
    return with_results(table, results, output_column, error_column, encoded=output_format is not None, drop=working)


# --------------------------------------------------------------------------- Arrow plumbing


def to_arrow(batch: Any) -> pa.Table:
    """A batch in any Ray batch format as an Arrow table (Ray's own conversion: tensors stay tensors)."""
    if isinstance(batch, pa.Table):
        return batch
    from ray.data.block import BlockAccessor

    return BlockAccessor.batch_to_block(batch)


def column_values(table: pa.Table, name: str) -> list[Any]:
    """One Python value per row: binary as a zero-copy memoryview, lists and tensors as numpy
    arrays, structs as dicts, nulls as None."""
    if name not in table.column_names:
        raise KeyError(f"no column {name!r} in the batch (columns: {', '.join(table.column_names)})")
    out: list[Any] = []
    for chunk in table.column(name).chunks:
        if pa.types.is_binary(chunk.type) or pa.types.is_large_binary(chunk.type):
            out += [memoryview(v.as_buffer()) if v.is_valid else None for v in chunk]
        else:
            values = chunk.to_numpy(zero_copy_only=False)
            out += list(values)
    return out


def float_lists(arrays: Sequence[np.ndarray | None]) -> pa.Array:
    """Ragged float32 samples as ``large_list<float32>`` (one copy; None -> null)."""
    lengths = np.array([0 if a is None else a.size for a in arrays], dtype=np.int64)
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    present = [np.asarray(a, dtype=np.float32) for a in arrays if a is not None]
    values = np.concatenate(present) if present else np.zeros(0, dtype=np.float32)
    mask = pa.array([a is None for a in arrays], pa.bool_())
    return pa.LargeListArray.from_arrays(pa.array(offsets), pa.array(values), mask=mask)


def with_results(table: pa.Table, results: Sequence[Enhanced], output_column: str, error_column: str, *,
                 encoded: bool, drop: Sequence[str] = ()) -> pa.Table:
    """``table`` with the output, its rate and the error column set (replaced when present; the
    error column goes last)."""
    table = table.drop_columns([c for c in [*drop, error_column] if c in table.column_names])
    outputs = [r.output for r in results]
    column = pa.array(outputs, ENCODED) if encoded else float_lists(outputs)  # type: ignore[arg-type]
    table = _put(table, output_column, column)
    table = _put(table, f"{output_column}_sampling_rate", pa.array([r.sample_rate for r in results], pa.int32()))
    return _put(table, error_column, pa.array([r.error for r in results], pa.string()))


def _put(table: pa.Table, name: str, column: pa.Array) -> pa.Table:
    if name in table.column_names:
        return table.set_column(table.column_names.index(name), name, column)
    return table.append_column(name, column)


def _errors(table: pa.Table, error_column: str) -> list[str | None]:
    if error_column in table.column_names:
        return table.column(error_column).to_pylist()
    return [None] * table.num_rows


def _rates(table: pa.Table, column: str | None, fixed: int | None) -> list[int | None]:
    if column is not None:
        if column not in table.column_names:
            raise KeyError(f"no sampling-rate column {column!r} in the batch "
                           f"(columns: {', '.join(table.column_names)})")
        return table.column(column).to_pylist()
    return [fixed] * table.num_rows


def _check_rate_source(column: str | None, fixed: int | None) -> None:
    if column is not None and fixed is not None:
        raise ValueError("give sample_rate_column or sample_rate, not both")
