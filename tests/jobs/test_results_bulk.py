"""Result records at scale (jobs.results, jobs.tables): the faster paths give the old answers.

``latest_per_row`` is compared with the sort-and-group it replaced on random tables (ties,
null times, -0.0 offsets, chunked input); ``load_state`` reads Arrow IPC parts and the Parquet
parts an earlier version left, and its ``only`` filter gives exactly the records of those URIs.
"""

from __future__ import annotations

import io
import random

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from fsspec.implementations.local import LocalFileSystem

from jobs.paths import Location, parse_location
from jobs.pipeline import _listed_sizes
from jobs.results import PART_SUFFIX, latest_per_row, load_state, new_row, row_keys, rows_to_table, write_part
from jobs.tables import is_in, text_array


def reference_latest(table: pa.Table) -> pa.Table:
    """The implementation latest_per_row replaced: sort the whole table, group, take."""
    if table.num_rows == 0:
        return table
    numbered = table.append_column("__i", pa.array(np.arange(table.num_rows))).append_column(
        "__key", row_keys(table))
    order = pc.sort_indices(numbered, sort_keys=[("finished_at", "ascending", "at_start"),
                                                 ("__i", "ascending", "at_end")])
    ranked = numbered.take(order).append_column("__rank", pa.array(np.arange(table.num_rows)))
    last = ranked.group_by("__key", use_threads=False).aggregate([("__rank", "max")])
    return ranked.take(pc.take(last["__rank_max"], pc.sort_indices(last["__rank_max"]))).select(table.column_names)


def records(rng: random.Random, n: int) -> pa.Table:
    rows = []
    for i in range(n):
        r = new_row(rng.choice("abcd"), "o", rng.choice(["j1", "j2"]))
        r.update(segment_offset_s=rng.choice([None, 0.0, -0.0, 5.0]), segment_duration_s=rng.choice([None, 5.0]),
                 finished_at=rng.choice([None, 1.0, 2.0, 3.0]), processing_s=float(i))
        rows.append(r)
    return rows_to_table(rows)


def chosen(table: pa.Table) -> list:
    """Which record (processing_s numbers them) stands for each key: order does not matter."""
    return sorted(zip(row_keys(table).to_pylist(), table.column("processing_s").to_pylist()))


@pytest.mark.parametrize("seed", range(4))
def test_latest_per_row_picks_what_sorting_picked(seed):
    rng = random.Random(seed)
    for _ in range(100):
        table = records(rng, rng.randint(1, 30))
        if rng.random() < 0.5:
            half = table.num_rows // 2
            table = pa.concat_tables([table.slice(0, half), table.slice(half)])
        assert chosen(latest_per_row(table)) == chosen(reference_latest(table))


def test_latest_per_row_returns_a_table_of_distinct_keys_as_it_is():
    table = records(random.Random(9), 1).append_column("x", pa.array([1]))
    assert latest_per_row(table) is table


def test_load_state_reads_arrow_and_legacy_parquet_parts_and_filters_by_uri(tmp_path):
    fs, manifest_dir = LocalFileSystem(), str(tmp_path / "_manifest")
    rng = random.Random(3)
    first = records(rng, 40)
    (tmp_path / "_manifest").mkdir()
    pq.write_table(first, f"{manifest_dir}/results.parquet")
    newer = records(rng, 30).to_pylist()
    for r in newer:
        r["finished_at"] = 10.0
    path = write_part(fs, f"{manifest_dir}/_parts", "j2", newer[:20], retries=0)
    assert path.endswith(PART_SUFFIX)
    legacy = io.BytesIO()
    pq.write_table(rows_to_table(newer[20:]), legacy)  # a part an earlier version wrote
    (tmp_path / "_manifest" / "_parts" / "j1").mkdir()
    (tmp_path / "_manifest" / "_parts" / "j1" / "old.parquet").write_bytes(legacy.getvalue())
    (tmp_path / "_manifest" / "_parts" / "j1" / "torn.arrow").write_bytes(b"ARROW1 not really")
    state, parts = load_state(fs, manifest_dir, retries=0)
    everything = pa.concat_tables([first, rows_to_table(newer[20:]), rows_to_table(newer[:20])])  # path order
    assert len(parts) == 3 and chosen(state) == chosen(reference_latest(everything))
    only = pa.array(["a", "c"])
    some, _ = load_state(fs, manifest_dir, retries=0, only=only)
    assert chosen(some) == [c for c in chosen(state) if c[0].split("\x1f")[0] in ("a", "c")]


def test_is_in_and_text_array_take_pandas_text_columns():
    values = pd.Series(["a", "b", "c", "a"])
    assert is_in(values, {"a", "c"}).tolist() == [True, False, True, True]
    assert is_in(values, pd.Series(["b"], dtype=object)).tolist() == [False, True, False, False]
    chunked = pa.table({"x": pa.chunked_array([["a"], ["b", None]])}).to_pandas()["x"]
    assert text_array(chunked).to_pylist() == ["a", "b", None]


def test_listed_sizes_are_looked_up_by_parse_location_path():
    """Output URIs are canonical (Location.child); their listing key is parse_location's path."""
    outs = [Location(p, r).child(k).uri for p, r in (("s3", "b/out"), ("file", "/local/out"), ("gs", "b"))
            for k in ("a.wav", "sub/b.wav", "c:d/e.wav", "sp ace/%20.wav")]
    existing = {parse_location(o).path: i for i, o in enumerate(outs) if i % 3}
    got = _listed_sizes(pa.chunked_array([outs]), existing)
    expected = [existing.get(parse_location(o).path) for o in outs]
    assert [None if np.isnan(g) else int(g) for g in got] == expected
    assert np.isnan(_listed_sizes(pa.chunked_array([outs]), {})).all()


def reference_summary_counts(final: pd.DataFrame, processed: np.ndarray) -> dict:
    """What build_summary counted before it worked column by column."""
    from collections import Counter

    processed = pd.Series(processed, index=final.index)
    this_run = final[processed]
    ok_now = this_run[this_run["status"] == "ok"].drop_duplicates("input_uri")
    errors = final[final["status"] == "error"]
    return {
        "recordings": int(final["input_uri"].nunique()), "ok": int((this_run["status"] == "ok").sum()),
        "error": int((this_run["status"] == "error").sum()), "skipped": int((~processed).sum()),
        "recordings_processed": int(this_run["input_uri"].nunique()),
        "manifest_counts": {str(k): int(v) for k, v in Counter(final["status"]).items()},
        "errors_by_type": {str(k): int(v) for k, v in Counter(errors["error_type"]).most_common()},
        "hours_in": round(float(ok_now["input_duration_s"].fillna(0).sum()) / 3600, 6),
        "hours_out": round(float(ok_now["output_duration_s"].fillna(0).sum()) / 3600, 6),
        "files": len(ok_now),
    }


@pytest.mark.parametrize("seed", range(3))
def test_summary_counts_as_before(seed):
    from jobs.summary import build_summary

    rng = random.Random(seed)
    n = 300
    status = [rng.choice(["ok", "ok", "error"]) for _ in range(n)]
    final = pa.table({
        "input_uri": [rng.choice("abcdefghij") for _ in range(n)], "status": status,
        "error_type": [rng.choice(["decode_error", "too_long", "unsafe_path"]) if s == "error" else ""
                       for s in status],
        "input_duration_s": [rng.choice([None, 1.5, 2.0]) for _ in range(n)],
        "output_duration_s": [rng.choice([None, 1.0, 2.5]) for _ in range(n)],
    }).to_pandas()
    processed = np.array([rng.random() < 0.6 for _ in range(n)])
    got = build_summary(job_id="j", final=final, processed=pd.Series(processed), started_at="", finished_at="",
                        wall_seconds=2.0, duplicates=0, input_uri="", sources=[], formats=[], output_uri="",
                        manifest_uri="", failure=None, config={})
    want = reference_summary_counts(final, processed)
    assert got["input"]["recordings"] == want["recordings"]
    assert got["counts"] == {k: want[k] for k in ("ok", "error", "skipped", "recordings_processed")}
    assert list(got["manifest_counts"].items()) == list(want["manifest_counts"].items())
    assert list(got["errors_by_type"].items()) == list(want["errors_by_type"].items())
    assert (got["hours_in"], got["hours_out"]) == (want["hours_in"], want["hours_out"])
    assert got["files_per_second"] == round(want["files"] / 2.0, 3)


@pytest.mark.parametrize("values", [["b", "a", "b", None, "c", "a"], [None, None], ["x"], [], ["a", "a"]])
def test_recordings_are_numbered_like_factorize(values):
    from jobs.summary import _number

    series = pd.Series(values, dtype="str")
    number, (codes, uniques) = _number(series), pd.factorize(series)
    assert number.max(initial=-1) + 1 == len(uniques)
    assert ((number == -1) == (codes == -1)).all()
    pairs = [(i, j) for i in range(len(values)) for j in range(len(values))]
    assert all((number[i] == number[j]) == (codes[i] == codes[j]) for i, j in pairs)
