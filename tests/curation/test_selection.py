"""Selection, as a specification: the rules and their order, counts and hours that add up, the
policy as data (YAML and key=value), and selected.parquet written beside the results (locally
and on S3 through s3fs)."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from frcrn.config import ConfigError
from frcrn.curation import (
    PolicyNotApplicable,
    ResultsMissing,
    load_policy,
    row_seconds,
    select,
    select_output,
    tally,
)
from tests.curation.factories import error_row, results_table, row, write_results
from tests.jobs.conftest import ROOT

DEFAULT_POLICY = str(ROOT / "configs" / "select_default.yaml")


def frame(rows) -> pd.DataFrame:
    return results_table(rows).to_pandas()


def mixed() -> pd.DataFrame:
    """Whole files, segments (one to the end), errors with and without a length, metrics."""
    return frame([
        row("/c/in/a.wav", input_duration_s=10.0, dnsmos_ovrl_in=3.0, dnsmos_ovrl_out=3.4),
        row("/c/in/b.wav", input_duration_s=0.5, dnsmos_ovrl_in=3.0, dnsmos_ovrl_out=3.4),
        row("/c/in/c.wav", input_duration_s=20.0, dnsmos_ovrl_in=3.5, dnsmos_ovrl_out=2.2),
        row("/c/in/long.wav", input_duration_s=60.0, segment_offset_s=0.0, segment_duration_s=25.0,
            dnsmos_ovrl_in=2.0, dnsmos_ovrl_out=2.9),
        row("/c/in/long.wav", input_duration_s=60.0, segment_offset_s=25.0, segment_duration_s=None,
            dnsmos_ovrl_in=2.5, dnsmos_ovrl_out=1.6),
        row("/c/in/d.wav", input_duration_s=7.0, clip_fraction_in=0.2, dnsmos_ovrl_in=3.0, dnsmos_ovrl_out=3.1),
        row("/c/in/e.wav", input_duration_s=4.0, dnsmos_ovrl_in=np.nan, dnsmos_ovrl_out=np.nan),
        error_row("/c/in/bad.wav", "undecodable"),
        error_row("/c/in/huge.wav", "too_long", input_duration_s=7200.0),
    ])


def test_row_length_is_the_segment_else_the_rest_of_the_recording_else_the_recording():
    seconds = row_seconds(mixed())
    assert seconds.tolist()[:5] == [10.0, 0.5, 20.0, 25.0, 35.0]
    assert np.isnan(seconds[7]) and seconds[8] == 7200.0


def test_counts_and_hours_add_up_to_the_rows_and_the_total_hours():
    results = mixed()
    policy = load_policy(DEFAULT_POLICY, ["drop.min_duration_s=1", "drop_where=[]"])
    chosen = select(results, policy)
    counts = tally(results.assign(**chosen))
    assert counts["rows"].sum() == len(results)
    assert counts["hours"].sum() == pytest.approx(row_seconds(results).fillna(0).sum() / 3600)
    per_choice = counts.groupby("choice")["rows"].sum().to_dict()
    assert per_choice == {"enhanced": 3, "original": 2, "dropped": 4}
    assert set(chosen["choice"]) <= {"enhanced", "original", "dropped"}


def test_a_file_made_worse_by_enhancement_comes_out_original_with_the_fallback():
    results = frame([row("/c/in/good.wav", dnsmos_ovrl_in=3.0, dnsmos_ovrl_out=3.5),
                     row("/c/in/hurt.wav", dnsmos_ovrl_in=3.4, dnsmos_ovrl_out=2.1),
                     row("/c/in/slightly.wav", dnsmos_ovrl_in=3.0, dnsmos_ovrl_out=2.8)])
    chosen = select(results, load_policy(None, ["fallback_if_ovrl_drop=0.3"]))
    assert chosen["choice"].tolist() == ["enhanced", "original", "enhanced"]
    assert chosen["chosen_uri"].tolist() == ["/c/out/good.wav", "/c/in/hurt.wav", "/c/out/slightly.wav"]
    assert chosen.loc[1, "rule"] == "fallback_if_ovrl_drop"
    assert chosen.loc[1, "reason"] == "dnsmos_ovrl_out 2.1 < dnsmos_ovrl_in 3.4 - 0.3"
    assert select(results, load_policy())["choice"].tolist() == ["enhanced"] * 3  # no fallback: enhanced


def test_rules_apply_in_order_errors_then_drops_then_where_then_fallback():
    results = frame([
        error_row("/c/in/err.wav", "non_finite", dnsmos_ovrl_in=1.0, dnsmos_ovrl_out=1.0),
        row("/c/in/short.wav", input_duration_s=0.4, dnsmos_ovrl_in=3.5, dnsmos_ovrl_out=1.5),
        row("/c/in/poor.wav", input_duration_s=3.0, dnsmos_ovrl_in=3.5, dnsmos_ovrl_out=2.1),
        row("/c/in/spk2.wav", input_duration_s=3.0, dnsmos_ovrl_in=3.5, dnsmos_ovrl_out=2.6, speaker="spk2"),
        row("/c/in/worse.wav", input_duration_s=3.0, dnsmos_ovrl_in=3.5, dnsmos_ovrl_out=2.6),
    ])
    policy = load_policy(None, {"drop": {"min_duration_s": 1.0, "min_dnsmos_ovrl_out": 2.5},
                                "drop_where": ["speaker == 'spk2'"], "fallback_if_ovrl_drop": 0.3})
    chosen = select(results, policy)
    assert chosen["choice"].tolist() == ["dropped", "dropped", "dropped", "dropped", "original"]
    assert chosen["rule"].tolist() == ["error:non_finite", "drop.min_duration_s", "drop.min_dnsmos_ovrl_out",
                                       "drop_where[0]", "fallback_if_ovrl_drop"]
    assert chosen["reason"].tolist()[:4] == ["non_finite", "duration_s 0.4 < 1", "dnsmos_ovrl_out 2.1 < 2.5",
                                             "drop_where: speaker == 'spk2'"]
    assert (chosen["chosen_uri"][:4] == "").all()


def test_a_segment_row_keeps_its_slice_and_chooses_its_recordings_uri():
    results = frame([row("/c/in/long.wav", input_duration_s=60.0, segment_offset_s=10.0, segment_duration_s=5.0,
                         dnsmos_ovrl_in=3.0, dnsmos_ovrl_out=2.0),
                     row("/c/in/long.wav", input_duration_s=60.0, segment_offset_s=15.0, segment_duration_s=5.0,
                         dnsmos_ovrl_in=3.0, dnsmos_ovrl_out=3.3)])
    chosen = select(results, load_policy(None, ["fallback_if_ovrl_drop=0.5"]))
    assert chosen["chosen_uri"].tolist() == ["/c/in/long.wav", "/c/out/long.wav"]


def test_a_row_missing_a_thresholded_value_is_dropped_or_kept_as_the_policy_says():
    results = frame([row("/c/in/a.wav", dnsmos_ovrl_out=3.0), row("/c/in/b.wav", dnsmos_ovrl_out=None)])
    dropped = select(results, load_policy(None, ["drop.min_dnsmos_ovrl_out=2.5"]))
    assert dropped["choice"].tolist() == ["enhanced", "dropped"]
    assert dropped.loc[1, "reason"] == "dnsmos_ovrl_out missing (needs ≥ 2.5)"
    kept = select(results, load_policy(None, ["drop.min_dnsmos_ovrl_out=2.5", "missing=keep"]))
    assert kept["choice"].tolist() == ["enhanced", "enhanced"]


@pytest.mark.parametrize("override", ["drop.min_dnsmos_ovrl_out=2.5", "fallback_if_sig_drop=0.2",
                                      "drop.min_snr_db_in=0", "drop_where=['dnsmos_bak_out < 3']"])
def test_a_rule_on_a_column_without_any_value_is_an_error_naming_the_column_and_its_setting(override):
    results = frame([row("/c/in/a.wav", level_in_dbfs=-20.0), error_row("/c/in/bad.wav")])  # DNSMOS not computed
    with pytest.raises(PolicyNotApplicable) as caught:
        select(results, load_policy(None, [override]))
    message = str(caught.value)
    assert "\n" not in message
    column = {"drop.min_dnsmos_ovrl_out=2.5": "dnsmos_ovrl_out", "fallback_if_sig_drop=0.2": "dnsmos_sig_in",
              "drop.min_snr_db_in=0": "snr_db_in", "drop_where=['dnsmos_bak_out < 3']": "dnsmos_bak_out"}[override]
    assert f"column {column}" in message
    assert ("dnsmos.model" in message) == column.startswith("dnsmos")


def test_an_expression_that_does_not_evaluate_is_an_error_naming_it():
    with pytest.raises(PolicyNotApplicable, match=r"drop_where\[0\] 'no_such_column > 1'"):
        select(frame([row("/c/in/a.wav")]), load_policy(None, ["drop_where=[no_such_column > 1]"]))


def test_policy_from_yaml_and_key_value_overrides_on_top(tmp_path):
    path = tmp_path / "policy.yaml"
    path.write_text("drop:\n  min_duration_s: 2\n  max_clip_fraction_in: 0.05\nfallback_if_ovrl_drop: 0.4\n")
    policy = load_policy(str(path), ["drop.min_duration_s=3", "drop_where=[speaker == 'x']"])
    assert (policy.drop.min_duration_s, policy.drop.max_clip_fraction_in) == (3.0, 0.05)
    assert policy.fallback_if_ovrl_drop == 0.4 and policy.drop_where == ("speaker == 'x'",)
    only_overrides = load_policy(None, ["fallback_if_sig_drop=0.25", "missing=keep"])
    assert only_overrides.fallback_if_sig_drop == 0.25 and only_overrides.missing == "keep"
    shipped = load_policy(DEFAULT_POLICY)
    assert shipped.fallback_if_ovrl_drop == 0.3 and shipped.drop.min_duration_s == 1.0


@pytest.mark.parametrize(("override", "expected"), [
    ("drop.min_duraton_s=1", "unknown key 'drop.min_duraton_s'; did you mean 'drop.min_duration_s'?"),
    ("fallback_if_ovrl_drop=-1", "fallback_if_ovrl_drop: must be 0 or more"),
    ("drop.max_clip_fraction_in=5", "drop.max_clip_fraction_in: must be a fraction in [0, 1]"),
    ("missing=maybe", "missing: must be one of 'drop', 'keep'"),
    ("drop.min_level_in_dbfs=loud", "drop.min_level_in_dbfs: expected number or null"),
])
def test_a_bad_policy_is_one_config_error_naming_the_dotted_key(override, expected):
    with pytest.raises(ConfigError) as caught:
        load_policy(DEFAULT_POLICY, [override])
    assert expected in str(caught.value) and "\n" not in str(caught.value)


def test_selected_parquet_keeps_every_results_column_and_row_order(tmp_path):
    out = str(tmp_path / "clean")
    rows = [row(f"{tmp_path}/in/{i}.wav", input_duration_s=1.0 + i, dnsmos_ovrl_in=3.0,
                dnsmos_ovrl_out=2.0 if i == 1 else 3.5, speaker=f"s{i}") for i in range(4)]
    write_results(out, rows + [error_row(f"{tmp_path}/in/bad.wav")])
    selection = select_output(out, load_policy(None, ["fallback_if_ovrl_drop=0.5"]))
    assert selection.uri == f"{out}/_manifest/selected.parquet"
    written = pq.read_table(selection.uri)
    results = pq.read_table(f"{out}/_manifest/results.parquet")
    assert written.column_names == results.column_names + ["choice", "chosen_uri", "reason", "rule"]
    assert written.select(results.column_names).equals(results)  # values and types, row for row
    assert written["choice"].to_pylist() == ["enhanced", "original", "enhanced", "enhanced", "dropped"]
    assert "original" in selection.text and "total" in selection.text


def test_selecting_without_a_results_manifest_says_where_it_looked(tmp_path):
    with pytest.raises(ResultsMissing, match=r"no results manifest at .*/nothing/_manifest/results.parquet"):
        select_output(str(tmp_path / "nothing"), load_policy())


def test_selected_parquet_on_s3_through_s3fs(s3):
    out, options = f"s3://{s3['bucket']}/clean", s3["options"]
    rows = [row(f"s3://{s3['bucket']}/in/{i}.wav", dnsmos_ovrl_in=3.0, dnsmos_ovrl_out=2.0 + i) for i in range(3)]
    write_results(out, rows, options)
    selection = select_output(out, load_policy(None, ["fallback_if_ovrl_drop=0.3"]), options)
    assert selection.uri == f"{out}/_manifest/selected.parquet"
    head = s3["client"].head_object(Bucket=s3["bucket"], Key="clean/_manifest/selected.parquet")
    body = s3["client"].get_object(Bucket=s3["bucket"], Key="clean/_manifest/selected.parquet")["Body"].read()
    table = pq.read_table(io.BytesIO(body))
    assert table["choice"].to_pylist() == ["original", "enhanced", "enhanced"]
    assert table["chosen_uri"].to_pylist()[0] == f"s3://{s3['bucket']}/in/0.wav"
    assert head["ContentLength"] == len(body)
