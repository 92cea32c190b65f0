"""Headless Chromium driven over the DevTools protocol on a pipe, for the tests that look at a page as a person would.

``--remote-debugging-pipe`` makes Chromium read NUL-separated JSON commands on file descriptor 3 and write replies
and events on descriptor 4, so no extra package is needed.  :class:`Browser` starts it, opens a page in a fresh
target, evaluates expressions there, and collects every console error and exception the page raised.
"""

from __future__ import annotations

import json
import os
import select
import shutil
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

CHROMIUM = next((shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome") if shutil.which(n)), None)


class Browser:
    """One headless Chromium; use as a context manager.  ``timeout`` bounds each wait for an answer, seconds."""

    def __init__(self, user_data_dir: Path, timeout: float = 60.0) -> None:
        assert CHROMIUM is not None, "Chromium is not installed (apt-get install -y chromium)"
        self.timeout = timeout
        cmd_r, self._cmd_w = os.pipe()  # we write commands; Chromium reads them on fd 3
        self._out_r, out_w = os.pipe()  # Chromium writes replies on fd 4

        def child_fds() -> None:
            a, b = os.dup(cmd_r), os.dup(out_w)
            os.dup2(a, 3)
            os.dup2(b, 4)

        self._proc = subprocess.Popen(
            [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
             "--disable-component-update", "--disable-sync", "--no-first-run", f"--user-data-dir={user_data_dir}",
             "--remote-debugging-pipe"],
            preexec_fn=child_fds, close_fds=False, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        os.close(cmd_r)
        os.close(out_w)
        self._buf = b""
        self._counter = 0
        self.messages: list[dict[str, Any]] = []

    def __enter__(self) -> Browser:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def send(self, method: str, params: dict[str, Any] | None = None, session: str | None = None) -> int:
        self._counter += 1
        msg: dict[str, Any] = {"id": self._counter, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        os.write(self._cmd_w, json.dumps(msg).encode() + b"\0")
        return self._counter

    def wait_for(self, pred: Callable[[dict[str, Any]], bool], seconds: float | None = None) -> dict[str, Any]:
        """The first message (reply or event) for which ``pred`` holds; every message read is kept."""
        end = time.monotonic() + (self.timeout if seconds is None else seconds)
        while time.monotonic() < end:
            while b"\0" in self._buf:
                raw, self._buf = self._buf.split(b"\0", 1)
                msg = json.loads(raw)
                self.messages.append(msg)
                if pred(msg):
                    return msg
            ready, _, _ = select.select([self._out_r], [], [], 0.5)
            if ready:
                chunk = os.read(self._out_r, 1 << 20)
                if not chunk:
                    raise RuntimeError("Chromium closed the DevTools pipe")
                self._buf += chunk
        raise TimeoutError("no answer from Chromium")

    def call(self, method: str, params: dict[str, Any] | None = None, session: str | None = None) -> dict[str, Any]:
        i = self.send(method, params, session)
        reply = self.wait_for(lambda m: m.get("id") == i)
        assert "error" not in reply, reply
        return dict(reply.get("result", {}))

    def open(self, url: str, headers: dict[str, str] | None = None) -> str:
        """Open ``url`` in a new target (sending ``headers`` with every request) and wait for its load event;
        returns the session id."""
        target = self.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = str(self.call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"])
        for method in ("Runtime.enable", "Log.enable", "Page.enable", "Network.enable"):
            self.call(method, session=session)
        if headers:
            self.call("Network.setExtraHTTPHeaders", {"headers": headers}, session)
        self.call("Page.navigate", {"url": url}, session)
        self.wait_for(lambda m: m.get("method") == "Page.loadEventFired" and m.get("sessionId") == session)
        return session

    def evaluate_json(self, expression: str, session: str) -> Any:
        """The value of a JavaScript expression that returns a JSON string, decoded."""
        result = self.call("Runtime.evaluate", {"expression": expression, "returnByValue": True}, session)
        return json.loads(result["result"]["value"])

    def errors(self) -> list[dict[str, Any]]:
        """Every exception, console error and log error the pages raised so far."""
        return [
            m for m in self.messages
            if m.get("method") == "Runtime.exceptionThrown"
            or (m.get("method") == "Runtime.consoleAPICalled" and m["params"]["type"] in ("error", "assert"))
            or (m.get("method") == "Log.entryAdded" and m["params"]["entry"]["level"] == "error")
        ]

    def close(self) -> None:
        try:
            if self._proc.poll() is None:
                self.send("Browser.close")
                self._proc.wait(timeout=15)
        except (OSError, subprocess.TimeoutExpired):
            pass
        finally:
            if self._proc.poll() is None:
                self._proc.kill()
                self._proc.wait()
            for fd in (self._cmd_w, self._out_r):
                try:
                    os.close(fd)
                except OSError:
                    pass
