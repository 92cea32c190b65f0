"""The report opens offline in headless Chromium with every figure decoded and no console error.

Chromium is driven over the DevTools protocol on a pipe (``--remote-debugging-pipe``: NUL-separated JSON on file
descriptors 3 and 4), so no extra package is needed.  Skipped where Chromium is not installed
(``apt-get install -y chromium``).
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any

import pytest

from devtools import CHROMIUM, Browser
from vgi.api import run

pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed")

SMALL: dict[str, Any] = {
    "extends": "guangzhou-default",
    "name": "render-check",
    "horizon": {"start": "2024-07-01", "days": 2},
    "fleet": {"generator": {"count": 60, "seed": 11}, "vehicles": 30, "v2g": {"share": 0.3}},
    "programmes": ["cn-v2g-pilot-2024"],
    "events": [{"id": "evening", "day": "2024-07-02", "start": "18:00", "end": "19:00", "reduction_kw": 10,
                "price_per_kwh": 2.0}],
}

CHECK = """JSON.stringify({
  figures: document.querySelectorAll('figure.vgi-figure').length,
  images: [...document.querySelectorAll('figure.vgi-figure img')].map(
      i => ({complete: i.complete, width: i.naturalWidth, height: i.naturalHeight,
             inline: i.getAttribute('src').startsWith('data:image/png;base64,')})),
  tables: document.querySelectorAll('table').length,
  external: [...document.querySelectorAll('[src],[href]')].map(e => e.getAttribute('src') || e.getAttribute('href'))
      .filter(u => !u.startsWith('data:') && !u.startsWith('#')),
  title: document.title,
  text: document.body.innerText.length
})"""


def inspect_page(url: str, user_data_dir: Path, timeout: float = 60.0) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Open ``url`` in headless Chromium; return the page check and every console/log error and exception."""
    with Browser(user_data_dir, timeout) as browser:
        session = browser.open(url)
        time.sleep(0.3)  # let late console messages arrive
        check = browser.evaluate_json(CHECK, session)
        return check, browser.errors()


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("render") / "out"
    run(SMALL, out=out)
    return out / "report.html"


def test_report_renders_every_figure_without_console_errors(report: Path, tmp_path: Path) -> None:
    html = report.read_text(encoding="utf-8")
    expected = len(re.findall(r'<figure id="fig-\d+" class="vgi-figure">', html))
    # overview bars + average day + one figure per controlled mode (4) + one per event (1)
    assert expected == 2 + 4 + 1
    check, errors = inspect_page(report.resolve().as_uri(), tmp_path / "profile")
    assert errors == [], errors
    assert check["figures"] == expected
    assert len(check["images"]) == expected
    for img in check["images"]:
        assert img["complete"] and img["inline"], img
        assert img["width"] > 300 and img["height"] > 150, img  # decoded, not a broken image
    assert check["external"] == []  # nothing to fetch: opens offline
    assert check["tables"] >= 4  # inputs, summary, settlement, eligibility, drivers
    assert check["title"] == "vgi: render-check"


def test_the_checker_sees_broken_images_and_console_errors(tmp_path: Path) -> None:
    """The check above is not vacuous: a page with a broken figure and a console error fails it."""
    page = tmp_path / "broken.html"
    page.write_text(
        '<!DOCTYPE html><html><head><link rel="icon" href="data:,"><title>x</title></head><body>'
        '<figure class="vgi-figure"><img src="data:image/png;base64,iVBORw0KGgo="></figure>'
        '<script>console.error("deliberate")</script></body></html>'
    )
    check, errors = inspect_page(page.as_uri(), tmp_path / "profile")
    assert check["figures"] == 1 and check["images"][0]["width"] == 0
    assert any("deliberate" in json.dumps(e) for e in errors)
