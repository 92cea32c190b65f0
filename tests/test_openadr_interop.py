"""Interop: vgi's VTN against the independent PyPI client openadr3-client (business logic and VEN, 3.1.0 and 3.0.1).

The peer runs in ``.venv312`` (openadr3-client needs Python 3.12). Skipped locally when that venv is missing;
a failure in CI (env ``CI`` set).
"""

from __future__ import annotations

import json
import math
import os
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

uvicorn = pytest.importorskip("uvicorn")

from vgi.model.timegrid import TimeGrid  # noqa: E402
from vgi.service.documents import MemoryDocumentStore  # noqa: E402
from vgi.service.openadr import ClientConfig, VenClient, create_vtn_app  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
PEER_PYTHON = ROOT / ".venv312" / "bin" / "python"
PEER_SCRIPT = ROOT / "tests" / "interop" / "openadr_peer.py"

CLIENTS = [
    ClientConfig("bl", "bl-secret", "BL"),
    ClientConfig("ven-a", "ven-a-secret", "VEN", ven_name="depot-a"),
    ClientConfig("vgi-ven", "vgi-ven-secret", "VEN", ven_name="vgi-agg"),
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture()
def vtn() -> Iterator[tuple[str, MemoryDocumentStore]]:
    store = MemoryDocumentStore()
    app = create_vtn_app(store, CLIENTS, key=b"interop-key")
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the VTN did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}", store
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@pytest.mark.parametrize("version", ["3.1.0", "3.0.1"])
def test_openadr3_client_as_business_logic_and_ven(vtn: tuple[str, MemoryDocumentStore], version: str) -> None:
    if not PEER_PYTHON.exists():
        if os.environ.get("CI"):
            pytest.fail(".venv312 with openadr3-client is missing (see .ci/run)")
        pytest.skip(".venv312 with openadr3-client is missing")
    base_url, store = vtn
    # vgi's VEN registers first, with a webhook on a loopback HTTP server, to hear of the peer's event.
    heard: list[dict[str, object]] = []

    class Callback(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            heard.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            return None

    receiver = HTTPServer(("127.0.0.1", 0), Callback)
    threading.Thread(target=receiver.serve_forever, daemon=True).start()
    client = VenClient(base_url, "vgi-ven", "vgi-ven-secret", "vgi-agg")
    client.register(["site-meter"], callback_url=f"http://127.0.0.1:{receiver.server_address[1]}/openadr")

    start = pd.Timestamp("2030-07-01T17:00:00Z")
    run = subprocess.run(
        [str(PEER_PYTHON), str(PEER_SCRIPT), base_url, start.isoformat(), version],
        capture_output=True, text=True, timeout=120, check=False,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    seen = json.loads(run.stdout.strip().splitlines()[-1])

    # What the VTN stored from the peer's business logic.
    program = store.get("program", seen["program_id"])
    assert program is not None and program["programName"] == "interop-dr" and program["objectType"] == "PROGRAM"
    assert program["targets"] == (["north"] if version == "3.1.0" else [{"type": "GROUP", "values": ["north"]}])
    event = store.get("event", seen["event_id"])
    assert event is not None and event["programID"] == seen["program_id"] and event["priority"] == 1
    assert event["objectType"] == "EVENT" and event["createdDateTime"].endswith("Z")
    assert [i["id"] for i in event["intervals"]] == [0, 1]
    # From the peer's VEN: the VEN (clientID stamped by the VTN), its resource and the report.
    ven = store.get("ven", seen["ven_id"])
    assert ven is not None and ven["venName"] == "depot-a" and ven["clientID"] == "ven-a"
    assert seen["ven_client_id"] == ("ven-a" if version == "3.1.0" else None)  # 3.0.1 models have no clientID
    resource = store.get("resource", seen["resource_id"])
    assert resource is not None and resource["venID"] == seen["ven_id"] and resource["resourceName"] == "cp-1"
    report = store.get("report", seen["report_id"])
    assert report is not None and report["clientID"] == "ven-a" and report["eventID"] == seen["event_id"]
    assert report.get("programID") == (None if version == "3.1.0" else seen["program_id"])
    usage = [p["values"][0] for i in report["resources"][0]["intervals"] for p in i["payloads"]]
    assert usage == [11.5, 9.0]
    assert seen["events_seen"] == [seen["event_id"]]
    assert seen["event_seen_price"] == [0.42, 0.30]
    assert seen["reports_seen_by_bl"] == [seen["report_id"]]

    # The webhook: the peer's programme and event, created (callbacks run after each answer).
    deadline = time.monotonic() + 10
    while len(heard) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    receiver.shutdown()
    # (callbacks of different requests may arrive in either order)
    assert sorted((n["objectType"], n["operation"], n["object"]["id"]) for n in heard) == [  # type: ignore[index]
        ("EVENT", "CREATE", seen["event_id"]), ("PROGRAM", "CREATE", seen["program_id"])]

    # vgi's own VEN reads the same event and turns it into grid signals on a 15-min grid 16:30-19:00 UTC.
    grid = TimeGrid(pd.Timestamp("2030-07-01T16:30:00Z"), pd.Timestamp("2030-07-01T19:00:00Z"), 15)
    signals = client.poll(grid, [seen["program_id"]], now=pd.Timestamp("2030-07-01T12:00:00Z"))
    nan = math.nan
    # By hand: 16:30, 16:45 before the event; 17:00-17:45 interval 0 (0.42 EUR/kWh, 250 kW);
    # 18:00, 18:15 interval 1 (0.30 EUR/kWh, no limit); 18:30, 18:45 after it.
    price = [nan, nan, 0.42, 0.42, 0.42, 0.42, 0.30, 0.30, nan, nan]
    np.testing.assert_array_equal(signals.import_price_per_kwh, price)
    np.testing.assert_array_equal(signals.import_limit_kw, [nan, nan, 250, 250, 250, 250, nan, nan, nan, nan])
    assert np.isnan(signals.export_price_per_kwh).all() and np.isnan(signals.dispatch_setpoint_kw).all()
    assert signals.currency == "EUR"
    assert signals.event_of("import_limit_kw")[2] == seen["event_id"]
    assert signals.event_of("import_limit_kw")[6] is None
