"""The report, as a specification: one self-contained page (no network at view time), bounded in
size, with every section; plots also as PNG files; players that play the row's own slice; the
most-hurt table; errors by type; the selection when there is one (and a note when it is stale);
results and audio read from S3 through s3fs."""

from __future__ import annotations

import base64
import io
import re

import numpy as np
import pytest
import soundfile as sf

from frcrn.curation import build_report, load_policy, select_output, write_report
from frcrn.curation.page import CSP
from tests.curation.factories import audio_pair, error_row, put, row, wav_bytes, write_results

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
SECTIONS = ("summary", "selection", "metrics", "thresholds", "errors", "hurt", "listen")
CLIP_BOUND = 4 * (44 + 10 * 16000 * 2) / 3  # one clip: 10 s of 16-bit 16 kHz mono, even uncompressed, as base64


def clips(html: str) -> list[tuple[np.ndarray, int]]:
    return [sf.read(io.BytesIO(base64.b64decode(data)))
            for data in re.findall(r'<audio[^>]* src="data:audio/flac;base64,([^"]+)"', html)]


def test_the_page_is_self_contained_has_every_section_and_is_bounded(realistic_report):
    html = realistic_report.report.html
    references = re.findall(r'(?:src|href)="([^"]*)"', html)
    assert references and all(r.startswith(("data:image/png;base64,", "data:audio/flac;base64,", "#"))
                              for r in references)
    assert f'content="{CSP}"' in html  # the browser itself refuses any network load
    assert not re.search(r"<script|<link|@import|url\(", html)
    for anchor in SECTIONS:
        assert f'<section id="{anchor}">' in html and f'href="#{anchor}"' in html
    players = clips(html)
    assert len(players) == 20  # 10 players: input and output
    assert all(rate == 16000 and samples.ndim == 1 and 0 < len(samples) <= 10 * 16000 for samples, rate in players)
    figures_size = sum(len(f.png) for f in realistic_report.report.figures) * 4 / 3
    assert len(html.encode()) < 200_000 + figures_size + len(players) * CLIP_BOUND < 10_000_000
    assert "passed every rule" in html.split('<section id="selection">')[1].split("</section>")[0]


def test_each_plot_is_also_a_png_file(realistic_report):
    names = sorted(p.name for p in realistic_report.png_dir.iterdir())
    assert names == sorted(f"{f.name}.png" for f in realistic_report.report.figures)
    assert {"selection.png", "metric_dnsmos_ovrl.png", "metric_level.png", "hours_by_threshold_1.png"} <= set(names)
    assert all((realistic_report.png_dir / n).read_bytes().startswith(PNG_SIGNATURE) for n in names)
    assert realistic_report.html.read_text(encoding="utf-8") == realistic_report.report.html


def test_a_player_plays_the_rows_slice_of_input_and_output_at_most_10_s(tmp_path):
    rate = 8000  # not 16 kHz: the clip is resampled
    ramp = np.linspace(-0.9, 0.9, 40 * rate, dtype=np.float32)  # 40 s whose every sample says where it is
    inp = put(f"{tmp_path}/in/long.wav", wav_bytes(ramp, rate))
    out = put(f"{tmp_path}/out/long.wav", wav_bytes(-ramp, rate))
    out_uri = str(tmp_path / "clean")
    write_results(out_uri, [row(inp, out, input_duration_s=40.0, segment_offset_s=12.0, segment_duration_s=3.0),
                            row(inp, out, input_duration_s=40.0, segment_offset_s=20.0, segment_duration_s=None)])
    (a_in, rate_in), (a_out, _), (b_in, _), _ = clips(build_report(out_uri, players=2).html)
    assert rate_in == 16000 and len(a_in) == 3 * 16000 and len(b_in) == 10 * 16000  # the rest is 20 s: first 10
    expected = np.interp(np.arange(3 * 16000) / 16000 + 12.0, np.arange(ramp.size) / rate, ramp)
    assert np.abs(a_in[100:-100] - expected[100:-100]).max() < 2e-3  # resampling's edges aside
    assert np.abs(a_out[100:-100] + expected[100:-100]).max() < 2e-3
    assert b_in[8000] == pytest.approx(np.interp(20.5, np.arange(ramp.size) / rate, ramp), abs=2e-3)


def level_rows(tmp_path, changes: list[float]) -> list[dict]:
    """Rows with real audio and only the job's own measurements (no DNSMOS, SNR...)."""
    rows = []
    for i, change in enumerate(changes):
        inp, out = audio_pair(str(tmp_path), f"f{i}", 0.5, seed=i)
        rows.append(row(inp, out, input_duration_s=0.5, level_in_dbfs=-20.0, level_out_dbfs=-20.0 + change))
    return rows


def test_most_hurt_lists_the_rows_that_got_worse_worst_first_by_level_without_dnsmos(tmp_path):
    out = str(tmp_path / "clean")
    write_results(out, level_rows(tmp_path, [-1.0, 2.0, -6.0, -0.5]))
    html = build_report(out, players=0).html
    hurt = html.split('<section id="hurt">')[1].split("</section>")[0]
    order = re.findall(r"/in/(f\d)\.wav", hurt)
    assert order == ["f2", "f0", "f3"]  # f1 got louder: not hurt
    assert "ranked by level" in hurt and "level_in_dbfs" in hurt
    summary = html.split('<section id="summary">')[1].split("</section>")[0]
    assert "DNSMOS OVRL" in summary and "dnsmos.model" in summary  # says what is missing and what fills it


def test_errors_by_type_with_three_example_messages_each(tmp_path):
    out = str(tmp_path / "clean")
    errors = [error_row(f"{tmp_path}/in/u{i}.wav", "undecodable", f"not audio #{i}") for i in range(5)]
    write_results(out, level_rows(tmp_path, [-1.0]) + errors + [error_row(f"{tmp_path}/in/e.wav", "empty", "0 frames")])
    section = build_report(out, players=0).html.split('<section id="errors">')[1].split("</section>")[0]
    undecodable = section.split("<td>undecodable</td>")[1].split("</tr>")[0]
    assert re.findall(r"not audio #(\d)", undecodable) == ["0", "1", "2"]
    assert "<td>empty</td>" in section and "0 frames" in section
    assert section.index("undecodable") < section.index("empty")  # most frequent first


def test_the_selection_is_shown_when_it_matches_the_results_and_called_stale_when_not(tmp_path):
    out = str(tmp_path / "clean")
    rows = level_rows(tmp_path, [-1.0, 1.0])
    write_results(out, rows)
    assert "No selection" in build_report(out, players=0).html
    select_output(out, load_policy(None, ["drop.min_level_in_dbfs=-19"]))
    html = build_report(out, players=0).html
    selection = html.split('<section id="selection">')[1].split("</section>")[0]
    assert "selected.parquet" in selection and "drop.min_level_in_dbfs" in selection
    assert "level_in_dbfs -20 &lt; -19" in selection  # the example reason
    write_results(out, rows + level_rows(tmp_path / "more", [0.0]))  # the job ran again
    assert "does not match results.parquet" in build_report(out, players=0).html


def test_a_clip_that_cannot_be_read_is_a_note_not_a_failed_report(tmp_path):
    out = str(tmp_path / "clean")
    rows = level_rows(tmp_path, [-1.0])
    (tmp_path / "out" / "f0.wav").unlink()
    write_results(out, rows)
    html = build_report(out, players=1).html
    assert len(clips(html)) == 1 and "cannot read" in html and "f0.wav" in html


def test_report_from_s3_results_and_audio_written_to_s3(s3):
    base, options = f"s3://{s3['bucket']}/corpus", s3["options"]
    inp, out = audio_pair(base, "a", 0.5, storage_options=options)
    write_results(f"{base}/clean", [row(inp, out, input_duration_s=0.5, dnsmos_ovrl_in=3.0, dnsmos_ovrl_out=2.5)],
                  options)
    report = build_report(f"{base}/clean", options, players=1)
    assert len(clips(report.html)) == 2 and "cannot read" not in report.html
    written = write_report(report, f"{base}/report/index.html", f"{base}/report/png", options)
    assert len(written) == 1 + len(report.figures)
    head = s3["client"].head_object(Bucket=s3["bucket"], Key="corpus/report/index.html")
    assert head["ContentType"].startswith("text/html")
    png = s3["client"].get_object(Bucket=s3["bucket"], Key=f"corpus/report/png/{report.figures[0].name}.png")
    assert png["Body"].read().startswith(PNG_SIGNATURE)
