"""`frcrn job export`: a finished job's results as a corpus manifest, through the real command line.

The results manifests are built by hand (tests/corpus/writers/support.py) over tiny real output
files; every failure must be ONE line on stderr with the documented exit status, never a traceback.
"""

from __future__ import annotations

import io
import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from frcrn.cli import main as frcrn_main
from jobs.cli import main
from tests.corpus.writers.support import FILES, job_row, nemo_rows, outputs
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
