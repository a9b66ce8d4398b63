"""write_corpus: the one entry point, its summary, and what it never imports."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from frcrn.corpus.writers import EXPORT_FORMATS, ExportError, write_corpus

from .support import job_row, nemo_rows, outputs, results

ROOT = Path(__file__).resolve().parents[3]


def test_the_formats():
    assert EXPORT_FORMATS == ("nemo", "lhotse", "kaldi", "hf", "hf-audiofolder")


def test_the_summary_counts_rows_recordings_hours_and_files(tmp_path):
    root = outputs(tmp_path / "out")
    summary = write_corpus(results(nemo_rows(root)), "lhotse", str(tmp_path / "x" / ".." / "lhotse"))
    assert (summary.to, summary.dest, summary.rows, summary.recordings) == ("lhotse", str(tmp_path / "lhotse"), 4, 3)
    assert summary.hours == pytest.approx((1.0 + 0.5 + 0.75 + 0.5) / 3600)  # segments count their own length
    assert summary.files == (f"{tmp_path}/lhotse/recordings.jsonl.gz", f"{tmp_path}/lhotse/supervisions.jsonl.gz")


def test_an_unknown_format_or_an_empty_table_is_refused(tmp_path):
    root = outputs(tmp_path / "out")
    frame = results([job_row(root, "a.wav")])
    with pytest.raises(ExportError, match="unknown export format 'espnet'; one of nemo, lhotse"):
        write_corpus(frame, "espnet", str(tmp_path / "x"))
    with pytest.raises(ExportError, match="no rows to export"):
        write_corpus(frame.iloc[:0], "nemo", str(tmp_path / "x"))
    assert not (tmp_path / "x").exists()


def test_writers_import_neither_torch_ray_lhotse_nor_datasets():
    code = ("import sys, frcrn.corpus.writers; "
            "bad = sorted({m.split('.')[0] for m in sys.modules} & {'torch', 'ray', 'lhotse', 'datasets'}); "
            "assert not bad, bad; print('ok')")
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120,
                       env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert r.returncode == 0 and r.stdout.strip() == "ok", r.stderr
