"""The report in real headless Chromium: it loads with no console output at all (no error,
warning, uncaught exception or Content-Security-Policy refusal), every plot and every audio clip
decodes, and the plots are visible on a 1200x3000 screenshot (many distinct colours, and the
report's input and output colours covering real areas). How the console is watched: the DevTools
protocol over a pipe (tests/curation/browser.py). Skipped only when no chromium binary exists;
.ci/run installs it.
"""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from frcrn.curation.figures import IN_COLOUR, OUT_COLOUR
from frcrn.curation.page import CSP
from tests.curation.browser import chromium, open_page

pytestmark = pytest.mark.skipif(chromium() is None, reason="no chromium binary (apt-get install chromium)")


def pixels_near(image: np.ndarray, colour: str, tolerance: int = 30) -> int:
    rgb = np.array([int(colour[i:i + 2], 16) for i in (1, 3, 5)])
    return int((np.abs(image.astype(int) - rgb).sum(axis=-1) < tolerance).sum())


def test_the_report_loads_without_console_errors_and_its_plots_and_players_work(realistic_report, tmp_path):
    check = open_page(realistic_report.html, width=1200, height=3000)
    assert check.console == []
    assert check.images == len(realistic_report.report.figures) and check.broken_images == []
    assert check.audios == 20 and check.broken_audios == []
    assert check.height > 3000  # the page goes on below the screenshot
    shot = Image.open(io.BytesIO(check.screenshot)).convert("RGB")
    (tmp_path / "report.png").write_bytes(check.screenshot)  # kept with the test's files for a look
    assert shot.size == (1200, 3000)
    image = np.asarray(shot)
    packed = (image[..., 0].astype(np.uint32) << 16) | (image[..., 1].astype(np.uint32) << 8) | image[..., 2]
    assert np.unique(packed).size > 300  # distinct colours: a blank or text-only page has far fewer
    assert pixels_near(image, IN_COLOUR) > 2000 and pixels_near(image, OUT_COLOUR) > 2000  # histograms drawn


def test_the_check_itself_sees_console_errors_blocked_loads_and_broken_media(tmp_path):
    """A page that must fail every check: the same CSP as the report, a remote image (refused),
    an image and a clip that do not decode, and a script error."""
    page = tmp_path / "bad.html"
    page.write_text(
        f'<!DOCTYPE html><html><head><meta http-equiv="Content-Security-Policy" content="{CSP}"></head><body>'
        '<img alt="remote" src="https://example.com/x.png"><img alt="garbage" src="data:image/png;base64,AAAA">'
        '<audio controls src="data:audio/flac;base64,AAAA"></audio><script>missing()</script></body></html>',
        encoding="utf-8")
    check = open_page(page, width=400, height=300, media_wait_ms=5000)
    assert any("example.com" in line and "Content Security Policy" in line for line in check.console)
    assert any("inline script" in line for line in check.console)  # the CSP allows no script either
    assert check.broken_images == ["remote", "garbage"] and check.broken_audios == [0]
