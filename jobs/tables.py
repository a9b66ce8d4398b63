"""Large columns on the driver: Arrow helpers that keep a million-row job's memory and time in
check. pandas' own ``isin`` on its pyarrow-backed ``str`` dtype converts every value of the pool
one at a time, and Arrow's and glibc's allocators keep what a big step freed; these are the
driver's ways around both (``jobs.results``, ``jobs.inputs``, ``jobs.pipeline``, ``jobs.summary``).
"""

from __future__ import annotations

import ctypes
import gc
from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

__all__ = ["LARGE_STEP_ROWS", "is_in", "release_memory", "text_array"]


#: Steps over fewer rows than this free too little to be worth a full collection.
LARGE_STEP_ROWS = 50_000


def release_memory(rows: int) -> None:
    """Give memory freed by a large step (over ``rows`` rows) back to the system. Arrow's
    allocator (mimalloc or jemalloc) keeps freed blocks for reuse, and glibc's malloc keeps freed
    blocks inside its heap: after reading a million-line manifest the driver held twice what it
    used. Called between the driver's steps, so each step's peak does not stack on the last one's
    garbage. Below ``LARGE_STEP_ROWS`` it does nothing: a full garbage collection costs 0.1-0.2 s
    in a process holding many objects, and a one-file job spent 2 s of its 6 in ten of them."""
    if rows < LARGE_STEP_ROWS:
        return
    gc.collect()
    pa.default_memory_pool().release_unused()
    if _LIBC is not None:
        _LIBC.malloc_trim(0)


def _glibc() -> Any:
    try:
        libc = ctypes.CDLL("libc.so.6")
        return libc if hasattr(libc, "malloc_trim") else None
    except OSError:  # not glibc (macOS, musl): nothing to trim
        return None


_LIBC = _glibc()


def text_array(values: Any) -> pa.Array:
    """A pandas text column (or any sequence of text) as one Arrow string array (pandas' own
    pyarrow-backed columns come out chunked)."""
    array = pa.array(values, type=pa.string(), from_pandas=True)
    return array.combine_chunks() if isinstance(array, pa.ChunkedArray) else array


def is_in(values: Any, pool: Iterable[str]) -> np.ndarray:
    """Per text value (a pandas Series, an array or a list), whether it is in ``pool``: a hash
    join in Arrow (pandas' own ``isin`` on its pyarrow-backed ``str`` dtype converts every pool
    value one at a time, seconds for a million)."""
    if not isinstance(pool, (pa.Array, pa.ChunkedArray, np.ndarray, pd.Series, list)):
        pool = list(pool)
    found = pc.is_in(pa.array(values, type=pa.string(), from_pandas=True),
                     value_set=pa.array(pool, type=pa.string(), from_pandas=True))
    return found.to_numpy(zero_copy_only=False)
