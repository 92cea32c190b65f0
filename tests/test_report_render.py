"""The report opens offline in headless Chromium with every figure decoded and no console error.

Chromium is driven over the DevTools protocol on a pipe (``--remote-debugging-pipe``: NUL-separated JSON on file
descriptors 3 and 4), so no extra package is needed.  Skipped where Chromium is not installed
(``apt-get install -y chromium``).
"""

from __future__ import annotations

import json
import os
import re
import select
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from vgi.api import run

CHROMIUM = next((shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome") if shutil.which(n)), None)
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
    cmd_r, cmd_w = os.pipe()  # we write commands; Chromium reads them on fd 3
    out_r, out_w = os.pipe()  # Chromium writes replies on fd 4

    def child_fds() -> None:
        a, b = os.dup(cmd_r), os.dup(out_w)
        os.dup2(a, 3)
        os.dup2(b, 4)

    assert CHROMIUM is not None
    proc = subprocess.Popen(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--no-first-run", f"--user-data-dir={user_data_dir}",
         "--remote-debugging-pipe"],
        preexec_fn=child_fds, close_fds=False, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    os.close(cmd_r)
    os.close(out_w)
    buf = b""
    messages: list[dict[str, Any]] = []
    counter = [0]

    def send(method: str, params: dict[str, Any] | None = None, session: str | None = None) -> int:
        counter[0] += 1
        msg: dict[str, Any] = {"id": counter[0], "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        os.write(cmd_w, json.dumps(msg).encode() + b"\0")
        return counter[0]

    def wait_for(pred: Any, seconds: float = timeout) -> dict[str, Any]:
        nonlocal buf
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            while b"\0" in buf:
                raw, buf = buf.split(b"\0", 1)
                msg = json.loads(raw)
                messages.append(msg)
                if pred(msg):
                    return msg
            ready, _, _ = select.select([out_r], [], [], 0.5)
            if ready:
                chunk = os.read(out_r, 1 << 20)
                if not chunk:
                    raise RuntimeError("Chromium closed the DevTools pipe")
                buf += chunk
        raise TimeoutError("no answer from Chromium")

    def call(method: str, params: dict[str, Any] | None = None, session: str | None = None) -> dict[str, Any]:
        i = send(method, params, session)
        reply = wait_for(lambda m: m.get("id") == i)
        assert "error" not in reply, reply
        return reply.get("result", {})

    try:
        target = call("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        for method in ("Runtime.enable", "Log.enable", "Page.enable"):
            call(method, session=session)
        call("Page.navigate", {"url": url}, session)
        wait_for(lambda m: m.get("method") == "Page.loadEventFired" and m.get("sessionId") == session)
        time.sleep(0.3)  # let late console messages arrive
        result = call("Runtime.evaluate", {"expression": CHECK, "returnByValue": True}, session)
        check = json.loads(result["result"]["value"])
        send("Browser.close")
        proc.wait(timeout=15)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(cmd_w)
        os.close(out_r)
    errors = [
        m for m in messages
        if m.get("method") == "Runtime.exceptionThrown"
        or (m.get("method") == "Runtime.consoleAPICalled" and m["params"]["type"] in ("error", "assert"))
        or (m.get("method") == "Log.entryAdded" and m["params"]["entry"]["level"] == "error")
    ]
    return check, errors


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
