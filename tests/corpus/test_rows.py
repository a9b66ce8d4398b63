"""The manifest-rows contract: every reader's rows have the same columns, order and types."""

from __future__ import annotations

import math

import pandas as pd

from frcrn.corpus.rows import (
    CONTRACT_COLUMNS,
    DURATION,
    ENTRY,
    ERROR,
    ERROR_TYPE,
    FORMATS,
    LINE,
    MALFORMED_LINE,
    OFFSET,
    contract_frame,
    error_row,
    row,
    rows_frame,
)


def test_the_contract_names_its_columns_and_formats():
    assert CONTRACT_COLUMNS == ("__entry", "__base", "__member", "__name", "__offset", "__duration", "__line",
                                "__error_type", "__error")
    assert FORMATS == ("csv", "parquet", "jsonl", "nemo", "lhotse", "kaldi", "hf", "tsv")


def test_rows_fill_every_contract_column_then_the_carried_ones():
    table = rows_frame([
        row(entry="a.wav", base="/m", line=1, offset=1.5, duration=2.0, carried={"text": "hi"}),
        error_row("/m", 2, MALFORMED_LINE, "line 2 of /m/x.jsonl: not valid JSON"),
    ])
    assert list(table.columns) == [*CONTRACT_COLUMNS, "text"]
    ok, bad = table.iloc[0], table.iloc[1]
    assert (ok[ENTRY], ok[OFFSET], ok[DURATION], ok[ERROR_TYPE], ok["__member"], ok["__name"]) == \
        ("a.wav", 1.5, 2.0, "", "", "")
    assert bad[ENTRY] is None and math.isnan(bad[OFFSET]) and math.isnan(bad[DURATION])
    assert (bad[ERROR_TYPE], bad[ERROR]) == (MALFORMED_LINE, "line 2 of /m/x.jsonl: not valid JSON")
    assert table[LINE].dtype == "int64" and table[OFFSET].dtype == "float64"


def test_a_carried_field_named_like_a_contract_column_loses():
    table = rows_frame([row(entry="a.wav", base="/m", line=1, carried={"__entry": "other.wav", "__line": 9})])
    assert table.iloc[0][ENTRY] == "a.wav" and table.iloc[0][LINE] == 1


def test_no_rows_is_an_empty_table_with_the_contract_columns():
    assert list(rows_frame([]).columns) == list(CONTRACT_COLUMNS)


def test_a_whole_table_at_once_matches_row_by_row():
    carried = pd.DataFrame({"speaker": ["s1", "s2"]}, index=[10, 11])
    whole = contract_frame(carried, entry=["a.wav", float("nan")], base="/m", line=[2, 3])
    by_row = rows_frame([row(entry="a.wav", base="/m", line=2, carried={"speaker": "s1"}),
                         row(entry=None, base="/m", line=3, carried={"speaker": "s2"})])
    pd.testing.assert_frame_equal(whole, by_row, check_dtype=False)
    assert whole.iloc[1][ENTRY] is None  # a missing cell is None, never NaN
