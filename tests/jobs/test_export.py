"""`frcrn job export`: a finished job's results as a corpus manifest, through the real command line.

The results manifests are built by hand (tests/corpus/writers/support.py) over tiny real output
files (and, for ``--selection``, the input recordings, selected by the real `frcrn job select`);
every failure must be ONE line on stderr with the documented exit status, never a traceback.
"""

from __future__ import annotations

import io
import json
import os

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import soundfile as sf
from lhotse import load_manifest
from lhotse.qa import validate_recordings_and_supervisions

from frcrn.cli import main as frcrn_main
from jobs.cli import main
from tests.corpus.writers.support import (
    FILES,
    INPUT_RATE,
    RATE,
    STEREO,
    job_row,
    nemo_rows,
    originals,
    outputs,
    read_pcm,
)
from tests.support.s3 import list_keys


def _results_parquet(rows) -> bytes:
    names = list(dict.fromkeys(k for row in rows for k in row))
    buf = io.BytesIO()
    pq.write_table(pa.Table.from_pylist([{k: row.get(k) for k in names} for row in rows]), buf)
    return buf.getvalue()


def _job_output(tmp_path, rows=None):
    """A finished job's output folder: enhanced files, and results with one error row."""
    out = outputs(tmp_path / "out")
    rows = rows if rows is not None else [*nemo_rows(out), job_row(out, "a.wav", status="error")]
    (out / "_manifest").mkdir()
    (out / "_manifest" / "results.parquet").write_bytes(_results_parquet(rows))
    return out


def _export(capsys, *args, entry=main):
    code = entry(list(args))
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err, out + err
    return code, out, err


def _one_line(text: str) -> str:
    lines = text.strip().splitlines()
    assert len(lines) == 1, text
    return lines[0]


def test_exports_the_ok_rows_to_the_default_destination(tmp_path, capsys):
    out = _job_output(tmp_path)
    code, stdout, stderr = _export(capsys, "export", str(out), "--to", "nemo")
    assert code == 0 and stderr == ""
    dest = out / "_manifest" / "export" / "nemo"
    assert _one_line(stdout) == f"exported 4 rows (3 recordings, 0.00 h) as nemo to {dest}"
    lines = (dest / "manifest.jsonl").read_text().splitlines()
    assert [json.loads(x)["text"] for x in lines] == ["hello world", "first part", "second part", "third"]


def test_where_selects_rows_by_any_results_column(tmp_path, capsys):
    out = _job_output(tmp_path, [job_row(tmp_path / "out", "a.wav", dnsmos=3.5, text="good"),
                                 job_row(tmp_path / "out", "sub dir/c.wav", dnsmos=2.1, text="noisy"),
                                 job_row(tmp_path / "out", "spk2/b.flac", status="error")])
    dest = tmp_path / "kaldi"
    code, stdout, _ = _export(capsys, "export", str(out), "--to", "kaldi", "-o", str(dest),
                              "--where", "status == 'ok' and dnsmos_ovrl_out >= 3")
    assert code == 0
    assert _one_line(stdout) == f"exported 1 rows (1 recordings, 0.00 h) as kaldi to {dest}"
    assert (dest / "text").read_text() == "a good\n"


def test_a_bad_where_is_one_line_naming_the_expression_and_the_columns(tmp_path, capsys):
    out = _job_output(tmp_path)
    for where, reason in (("status ==", "SyntaxError"), ("dnsmos_ovrll > 3", "'dnsmos_ovrll' is not defined")):
        code, stdout, stderr = _export(capsys, "export", str(out), "--to", "nemo", "--where", where)
        line = _one_line(stderr)
        assert code == 2 and stdout == "", stderr
        assert line.startswith(f"frcrn-job: input error: --where {where!r} is not a condition"), line
        assert reason in line and "columns: input_uri, output_uri, status," in line and "dnsmos_ovrl_out" in line
    assert not (out / "_manifest" / "export").exists()


def test_a_missing_results_manifest_is_one_line(tmp_path, capsys):
    code, stdout, stderr = _export(capsys, "export", str(tmp_path / "nowhere"), "--to", "lhotse")
    assert code == 2 and stdout == ""
    assert _one_line(stderr) == (f"frcrn-job: input error: no results manifest at {tmp_path}/nowhere/_manifest/"
                                 "results.parquet: OUTPUT_URI must be a job's output.uri where `frcrn job run` "
                                 "has finished")


def test_selecting_no_row_writes_nothing_and_exits_4(tmp_path, capsys):
    out = _job_output(tmp_path)
    code, stdout, stderr = _export(capsys, "export", str(out), "--to", "hf", "--where", "dnsmos_ovrl_out > 5")
    assert code == 4 and stdout == ""
    assert _one_line(stderr) == ("frcrn-job: nothing to export: --where 'dnsmos_ovrl_out > 5' selects none of "
                                 "the 5 rows (status: ok 4, error 1); nothing exported")
    assert not (out / "_manifest" / "export").exists()


def test_selected_rows_the_format_cannot_describe_are_a_spec_error(tmp_path, capsys):
    out = _job_output(tmp_path)
    code, _, stderr = _export(capsys, "export", str(out), "--to", "nemo", "--where", "input_channels == 1")
    assert code == 2
    assert "--to nemo: 1 of the 5 rows are not ok (error: 1)" in _one_line(stderr)
    code, _, stderr = _export(capsys, "export", str(out), "--to", "hf-audiofolder")
    assert code == 2 and "rows are segments of a file" in _one_line(stderr) and "--to hf" in stderr


def test_hf_audiofolder_writes_its_metadata_at_the_output_root(tmp_path, capsys):
    root = tmp_path / "out"
    out = _job_output(tmp_path, [job_row(root, rel, text=rel) for rel in FILES])
    code, stdout, _ = _export(capsys, "export", str(out), "--to", "hf-audiofolder")
    assert code == 0 and _one_line(stdout).endswith(f"as hf-audiofolder to {out}")
    assert (out / "metadata.csv").read_text().splitlines() == [
        "file_name,text", "a.wav,a.wav", "spk2/b.flac,spk2/b.flac", "sub dir/c.wav,sub dir/c.wav"]


def test_frcrn_job_export_is_the_same_command(tmp_path, capsys):
    out = _job_output(tmp_path)
    code, stdout, _ = _export(capsys, "job", "export", str(out), "--to", "lhotse", entry=frcrn_main)
    assert code == 0 and "as lhotse to" in stdout
    assert (out / "_manifest" / "export" / "lhotse" / "supervisions.jsonl.gz").exists()


@pytest.mark.parametrize("options_from", ["environment", "config"])
def test_results_and_export_in_object_storage(s3, tmp_path, capsys, monkeypatch, options_from):
    client, bucket = s3["client"], s3["bucket"]
    local = outputs(tmp_path / "local")
    for rel in FILES:
        client.put_object(Bucket=bucket, Key=f"clean/{rel}", Body=(local / rel).read_bytes())
    uri = f"s3://{bucket}/clean"
    client.put_object(Bucket=bucket, Key="clean/_manifest/results.parquet", Body=_results_parquet(nemo_rows(uri)))
    if options_from == "environment":
        monkeypatch.setenv("FRCRN_STORAGE_OPTIONS", json.dumps(s3["options"]))
        args = ["export", uri, "--to", "hf"]
    else:
        config = tmp_path / "job.yaml"
        config.write_text(f"output:\n  uri: {uri}\n  storage_options: {json.dumps(s3['options'])}\n")
        args = ["export", "--config", str(config), "--to", "hf"]
    code, stdout, stderr = _export(capsys, *args)
    assert code == 0, stderr
    assert _one_line(stdout) == f"exported 4 rows (3 recordings, 0.00 h) as hf to {uri}/_manifest/export/hf"
    assert "clean/_manifest/export/hf/data/train-00000-of-00001.parquet" in list_keys(client, bucket)


def test_a_storage_failure_is_one_line_naming_the_endpoint(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("FRCRN_STORAGE_OPTIONS", json.dumps({"endpoint_url": "http://127.0.0.1:9", "key": "k",
                                                            "secret": "s", "config_kwargs": {
                                                                "retries": {"max_attempts": 1},
                                                                "connect_timeout": 1}}))
    code, _, stderr = _export(capsys, "export", "s3://bucket/clean", "--to", "nemo")
    assert code == 5
    assert _one_line(stderr).startswith("frcrn-job: storage error: OUTPUT_URI s3://bucket/clean: cannot reach "
                                        "the storage endpoint http://127.0.0.1:9")


# --------------------------------------------------------------------------- --selection

POLICY = ["--policy", "fallback_if_ovrl_drop=0.3", "drop.min_dnsmos_ovrl_out=2.5"]


def _selection_rows(root, inputs):
    """Enhanced, original (a segment, and a stereo whole file), and dropped (by DNSMOS, and an error) rows;
    two lines of spk2/b.flac choose differently."""
    return [job_row(root, "a.wav", inputs=inputs, text="one"),
            job_row(root, "spk2/b.flac", segment=(0.25, 0.5), inputs=inputs, dnsmos_ovrl_in=3.8, text="two"),
            job_row(root, "spk2/b.flac", segment=(1.0, 0.75), inputs=inputs, text="three"),
            job_row(root, STEREO, inputs=inputs, dnsmos_ovrl_in=3.9, dnsmos=3.3, text="four"),
            job_row(root, "spk2/b.flac", segment=(0.0, 0.2), inputs=inputs, dnsmos=2.2, text="five"),
            job_row(root, "a.wav", status="error", inputs=inputs, text="six")]


def _selected_output(tmp_path, capsys, inputs=None):
    """A finished job (originals under tmp_path/corpus unless ``inputs``) and `frcrn job select` run on it."""
    inputs = inputs or originals(tmp_path / "corpus")
    out = _job_output(tmp_path, _selection_rows(tmp_path / "out", inputs))
    code, _, stderr = _export(capsys, "select", str(out), *POLICY)
    assert code == 0, stderr
    return out, inputs


def test_a_selection_exports_its_choices_and_leaves_out_the_dropped_rows(tmp_path, capsys):
    out, inputs = _selected_output(tmp_path, capsys)
    code, stdout, stderr = _export(capsys, "export", str(out), "--to", "nemo", "--selection")
    dest = out / "_manifest" / "export" / "nemo"
    assert code == 0 and stderr == ""
    assert _one_line(stdout) == (f"exported 4 rows (enhanced 2, original 2; 4 recordings, 0.00 h) of the selection "
                                 f"as nemo to {dest}")
    lines = [json.loads(x) for x in (dest / "manifest.jsonl").read_text().splitlines()]
    assert [(x["text"], x["audio_filepath"], x["duration"], x.get("offset")) for x in lines] == [
        ("one", f"{out}/a.wav", 1.0, None), ("two", f"{inputs}/spk2/b.flac", 0.5, 0.25),
        ("three", f"{out}/spk2/b.flac", 0.75, 1.0), ("four", f"{inputs}/{STEREO}", 0.5, None)]


def test_a_selection_as_lhotse_loads_validates_and_reads_the_original_audio(tmp_path, capsys):
    out, inputs = _selected_output(tmp_path, capsys)
    code, _, stderr = _export(capsys, "export", str(out), "--to", "lhotse", "--selection")
    assert code == 0, stderr
    dest = out / "_manifest" / "export" / "lhotse"
    recordings = load_manifest(dest / "recordings.jsonl.gz")
    supervisions = load_manifest(dest / "supervisions.jsonl.gz")
    validate_recordings_and_supervisions(recordings, supervisions)
    assert list(recordings.ids) == ["a", "spk2_b-original", "spk2_b", "sub_dir_c-original"]
    expected = [(f"{out}/a.wav", RATE), (f"{inputs}/spk2/b.flac", INPUT_RATE), (f"{out}/spk2/b.flac", RATE),
                (f"{inputs}/{STEREO}", INPUT_RATE)]
    for sup, (path, rate) in zip(supervisions, expected):
        rec = recordings[sup.recording_id]
        assert (rec.sources[0].source, rec.sampling_rate) == (path, rate)
        audio = rec.load_audio(offset=sup.start, duration=sup.duration)
        np.testing.assert_allclose(audio, np.atleast_2d(read_pcm(path, sup.start, sup.duration).T) / 32768.0,
                                   atol=1e-6)


def test_a_selection_as_hf_embeds_the_original_bytes(tmp_path, capsys):
    out, inputs = _selected_output(tmp_path, capsys)
    code, _, stderr = _export(capsys, "export", str(out), "--to", "hf", "--selection")
    assert code == 0, stderr
    shard = out / "_manifest" / "export" / "hf" / "data" / "train-00000-of-00001.parquet"
    audio = pq.read_table(shard).column("audio").to_pylist()
    assert audio[0]["bytes"] == (out / "a.wav").read_bytes()
    assert audio[3] == {"bytes": (inputs / STEREO).read_bytes(), "path": "c.wav"}
    samples, rate = sf.read(io.BytesIO(audio[1]["bytes"]), dtype="int16")
    assert rate == INPUT_RATE and np.array_equal(samples, read_pcm(inputs / "spk2/b.flac", 0.25, 0.5))


def test_where_applies_on_top_of_the_selection(tmp_path, capsys):
    out, inputs = _selected_output(tmp_path, capsys)
    dest = tmp_path / "originals"
    code, stdout, _ = _export(capsys, "export", str(out), "--to", "kaldi", "--selection", "-o", str(dest),
                              "--where", "choice == 'original' and dnsmos_ovrl_out > 3.25")
    assert code == 0 and _one_line(stdout).startswith("exported 1 rows (original 1; 1 recordings")
    assert (dest / "wav.scp").read_text() == f"sub_dir_c-original {inputs}/{STEREO}\n"
    code, stdout, stderr = _export(capsys, "export", str(out), "--to", "nemo", "--selection",
                                   "--where", "text == 'five'")  # a dropped row stays out
    assert code == 4 and stdout == ""
    assert _one_line(stderr) == ("frcrn-job: nothing to export: --where \"text == 'five'\" selects none of the 4 "
                                 "rows the selection keeps (enhanced 2, original 2); nothing exported")


def test_a_selection_that_drops_every_row_exports_nothing_and_exits_4(tmp_path, capsys):
    out = _job_output(tmp_path, _selection_rows(tmp_path / "out", originals(tmp_path / "corpus")))
    assert _export(capsys, "select", str(out), "--policy", "drop.min_dnsmos_ovrl_out=5")[0] == 0
    code, stdout, stderr = _export(capsys, "export", str(out), "--to", "lhotse", "--selection")
    assert code == 4 and stdout == ""
    assert _one_line(stderr) == "frcrn-job: nothing to export: the selection drops all 6 rows; nothing exported"
    assert not (out / "_manifest" / "export").exists()


def test_without_a_selection_file_selection_is_one_line_naming_frcrn_job_select(tmp_path, capsys):
    out = _job_output(tmp_path)
    code, stdout, stderr = _export(capsys, "export", str(out), "--to", "nemo", "--selection")
    assert code == 2 and stdout == ""
    assert _one_line(stderr) == (f"frcrn-job: input error: no selection at {out}/_manifest/selected.parquet: make "
                                 f"one with `frcrn job select {out} --policy FILE` (or export without --selection)")
    assert not (out / "_manifest" / "export").exists()


def _rewrite_results(out, rows):
    (out / "_manifest" / "results.parquet").write_bytes(_results_parquet(rows))


@pytest.mark.parametrize("change, reason", [
    ("a row more", "it has 6 rows and the results 7: the job ran again since the selection"),
    ("another order", "its row 0 is "),
    ("a later run", "its output_uri differs from the results' (first at row 5): the results were rewritten since "
                    "the selection (the job ran again)"),
    ("remeasured", "its dnsmos_ovrl_out differs from the results' (first at row 0): the results were rewritten"),
])
def test_a_stale_selection_is_one_line_saying_to_select_again(tmp_path, capsys, change, reason):
    out, inputs = _selected_output(tmp_path, capsys)
    rows = _selection_rows(out, inputs)
    if change == "a row more":
        rows.append(job_row(out, "sub dir/c.wav", inputs=inputs, segment=(0.1, 0.2)))
    elif change == "another order":
        rows = rows[1:] + rows[:1]
    elif change == "a later run":  # the error row was retried and is ok now, the others kept: same rows, same order
        rows[5] = job_row(out, "a.wav", inputs=inputs, text="six", finished_at=pd.Timestamp("2026-12-01T08:00:00Z"))
    else:  # a row redone (e.g. another checkpoint): new measurements and finish time
        rows[0] = job_row(out, "a.wav", inputs=inputs, text="one", dnsmos=3.0,
                          finished_at=pd.Timestamp("2026-12-01T08:00:00Z"))
    _rewrite_results(out, rows)
    code, stdout, stderr = _export(capsys, "export", str(out), "--to", "lhotse", "--selection")
    line = _one_line(stderr)
    assert code == 2 and stdout == ""
    assert line.startswith(f"frcrn-job: input error: {out}/_manifest/selected.parquet does not match "
                           f"results.parquet: {reason}"), line
    assert line.endswith(f"; run `frcrn job select {out} --policy FILE` again")
    assert not (out / "_manifest" / "export").exists()


def test_results_rewritten_unchanged_keep_their_selection(tmp_path, capsys):
    """Staleness is judged on the contents, not on file times: a run that rewrote the same results
    (or a copy of the output location) leaves the selection usable."""
    out, inputs = _selected_output(tmp_path, capsys)
    _rewrite_results(out, _selection_rows(out, inputs))
    selected = out / "_manifest" / "selected.parquet"
    os.utime(selected, (1_000_000_000, 1_000_000_000))  # older than the results
    code, stdout, stderr = _export(capsys, "export", str(out), "--to", "nemo", "--selection")
    assert code == 0 and "exported 4 rows" in stdout, stderr


def test_an_audiofolder_refuses_originals_outside_its_folder(tmp_path, capsys):
    root = tmp_path / "out"
    inputs = originals(tmp_path / "corpus")
    out = _job_output(tmp_path, [job_row(root, "a.wav", inputs=inputs, text="one"),
                                 job_row(root, STEREO, inputs=inputs, dnsmos_ovrl_in=3.9, dnsmos=3.3, text="two")])
    assert _export(capsys, "select", str(out), *POLICY)[0] == 0
    code, stdout, stderr = _export(capsys, "export", str(out), "--to", "hf-audiofolder", "--selection")
    assert code == 2 and stdout == ""
    assert _one_line(stderr).startswith(f"frcrn-job: input error: --to hf-audiofolder: 1 row(s) choose the original "
                                        f"recording, and {inputs}/{STEREO} is not below {out}")
    assert not (out / "metadata.csv").exists()


def test_originals_in_object_storage_are_read_with_the_configs_input_storage_options(s3, tmp_path, capsys):
    """Outputs here, inputs in a bucket: the hf export reads each original with --config's
    input.storage_options (the options the job read it with), the outputs with output's."""
    client, bucket = s3["client"], s3["bucket"]
    local = originals(tmp_path / "local")
    for rel in FILES:
        client.put_object(Bucket=bucket, Key=f"corpus/{rel}", Body=(local / rel).read_bytes())
    out, _ = _selected_output(tmp_path, capsys, inputs=f"s3://{bucket}/corpus")
    config = tmp_path / "job.yaml"
    config.write_text(f"input:\n  storage_options: {json.dumps(s3['options'])}\n")
    code, _, stderr = _export(capsys, "export", str(out), "--to", "hf", "--selection", "--config", str(config))
    assert code == 0, stderr
    shard = out / "_manifest" / "export" / "hf" / "data" / "train-00000-of-00001.parquet"
    audio = pq.read_table(shard).column("audio").to_pylist()
    assert audio[3]["bytes"] == (local / STEREO).read_bytes()
