"""The live dashboard in headless Chromium against a running service with a charge point and an active event: the
rendered page shows the numbers /api/state gives.  Skipped without Chromium, except under ``CI``."""

from __future__ import annotations

import asyncio
import base64
import os
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets
from ocpp.v16 import ChargePoint as Cp16
from ocpp.v16 import call as call16

from devtools import CHROMIUM, Browser
from vgi.aggregator.clock import SimulatedClock
from vgi.service.app import build_service
from vgi.service.backend import ENERGY_REGISTER
from vgi.service.config import (
    ChargePointConfig,
    DashboardConfig,
    ListenConfig,
    ServiceConfig,
    VenConfig,
    VtnClientConfig,
    VtnConfig,
)

T0 = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
STEP = timedelta(minutes=15)
DASH = ("operator", "dashboard-password")

pytestmark = pytest.mark.skipif(CHROMIUM is None and not os.environ.get("CI"),
                                reason="headless Chromium is not installed (apt-get install -y chromium)")

READ_DOM = """JSON.stringify({
  status: document.getElementById('status').textContent,
  ids: Object.fromEntries(['cp-count', 'cp-connected', 'session-count', 'energy-total', 'plan-now', 'metered-last',
    'event-id', 'event-target', 'event-baseline'].map(i => [i, (document.getElementById(i) || {}).textContent])),
  paths: document.querySelectorAll('#chart path').length,
  cpRows: [...document.querySelectorAll('#charge-points tbody tr')].map(r => r.innerText),
  external: [...document.querySelectorAll('[src],[href]')].map(e => e.getAttribute('src') || e.getAttribute('href'))
      .filter(u => !u.startsWith('data:'))
})"""


def dashboard_dom(url: str, authorization: str, profile: Path, timeout_s: float = 60.0) -> tuple[dict[str, Any],
                                                                                                    list[Any]]:
    """Open ``url`` in headless Chromium (DevTools over a pipe) sending ``authorization`` with every request; wait
    until the page says it is live; return what it shows and every console error or exception."""
    assert CHROMIUM is not None, "Chromium is required under CI"
    with Browser(profile, timeout_s) as browser:
        session = browser.open(url, {"Authorization": authorization})
        dom: dict[str, Any] = {}
        end = time.monotonic() + timeout_s
        while time.monotonic() < end:
            dom = browser.evaluate_json(READ_DOM, session)
            if dom["status"] != "loading":
                break
            time.sleep(0.2)
        return dom, browser.errors()


def _iso(at: datetime) -> str:
    return at.isoformat().replace("+00:00", "Z")


def _fmt(x: float | None) -> str:
    return "-" if x is None else f"{x:.2f}"


def test_dashboard_shows_the_state(tmp_path: Path) -> None:
    cfg = ServiceConfig(
        database_url=f"sqlite:///{tmp_path / 'd.db'}", http=ListenConfig(port=0), ocpp=ListenConfig(port=0),
        horizon_hours=6, charge_points=(ChargePointConfig(id="CP1", password="cp1-password-123", max_charge_kw=7.0),),
        vtn=VtnConfig(clients=(VtnClientConfig(client_id="utility", secret="utility-secret", role="BL"),
                               VtnClientConfig(client_id="aggregator", secret="aggregator-secret", role="VEN"))),
        ven=VenConfig(enabled=True, vtn_url="http://127.0.0.1:{http_port}/openadr", client_id="aggregator",
                      client_secret="aggregator-secret", program_ids=("flex",)),
        settle_programme="uk-stor", dashboard=DashboardConfig(user=DASH[0], password=DASH[1]))
    clock = SimulatedClock(T0)
    service = build_service(cfg, clock)
    basic = "Basic " + base64.b64encode(f"{DASH[0]}:{DASH[1]}".encode()).decode()

    async def main() -> tuple[dict[str, Any], dict[str, Any], list[Any]]:
        await service.start(loop=False)
        assert service.csms is not None
        try:
            ws = await websockets.connect(
                service.csms.url("CP1"), subprotocols=["ocpp1.6"],  # type: ignore[list-item]
                additional_headers={"Authorization": "Basic " + base64.b64encode(b"CP1:cp1-password-123").decode()})
            cp = Cp16("CP1", ws)
            task = asyncio.create_task(cp.start())
            await cp.call(call16.BootNotification(charge_point_model="M", charge_point_vendor="V"), suppress=False)
            await cp.call(call16.StatusNotification(connector_id=1, error_code="NoError", status="Charging",
                                                    timestamp=_iso(T0)), suppress=False)
            tx = (await cp.call(call16.StartTransaction(connector_id=1, id_tag="T", meter_start=0,
                                                        timestamp=_iso(T0)), suppress=False)).transaction_id
            async with httpx.AsyncClient(base_url=f"{service.http_url}/openadr") as http:
                token = (await http.post("/auth/token", data={"grant_type": "client_credentials"},
                                         auth=("utility", "utility-secret"))).json()["access_token"]
                bl = {"Authorization": f"Bearer {token}"}
                program = (await http.post("/programs", json={"programName": "flex"}, headers=bl)).json()
                r = await http.post("/events", headers=bl, json={
                    "programID": program["id"], "intervalPeriod": {"start": _iso(T0 + 4 * STEP), "duration": "PT1H"},
                    "intervals": [{"id": 0, "payloads": [{"type": "IMPORT_CAPACITY_LIMIT", "values": [4.5]}]}]})
                assert r.status_code == 201, r.text
            await service.poll()
            register = 0.0
            for k in range(1, 6):  # 7 kW until 11:00, then 4.4 kW (under the 4.5 kW limit) until 11:15
                register += (7.0 if k <= 4 else 4.4) * 250.0
                clock.advance_to(T0 + k * STEP)
                await cp.call(call16.MeterValues(connector_id=1, transaction_id=tx, meter_value=[
                    {"timestamp": _iso(T0 + k * STEP), "sampledValue": [
                        {"value": f"{register:.1f}", "unit": "Wh", "measurand": ENERGY_REGISTER}]}]), suppress=False)
            await service.tick()
            async with httpx.AsyncClient(base_url=service.http_url) as http:
                state = (await http.get("/api/state", headers={"Authorization": basic})).json()
            dom, errors = await asyncio.to_thread(dashboard_dom, f"{service.http_url}/", basic,
                                                  tmp_path / "profile")
            task.cancel()
            await ws.close()
            return state, dom, errors
        finally:
            await service.stop()

    state, dom, errors = asyncio.run(main())
    assert errors == [], errors
    assert dom["status"] == "live", dom
    ids = dom["ids"]
    event = state["event"]
    assert event["active"] and event["target_now_kw"] == pytest.approx(4.5)
    assert event["baseline_now_kw"] == pytest.approx(7.0)  # uk-stor: the 15 minutes before the event
    metered = [v for v in state["metered"]["power_kw"] if v is not None]
    assert metered[-1] == pytest.approx(4.4)
    assert ids["cp-count"] == "1" and ids["cp-connected"] == "1" and ids["session-count"] == "1"
    assert ids["energy-total"] == _fmt(state["sessions"][0]["energy_kwh"]) == _fmt(4 * 1.75 + 1.1)
    assert ids["plan-now"] == _fmt(state["plan"]["now_kw"])
    assert ids["metered-last"] == _fmt(metered[-1]) == "4.40"
    assert ids["event-id"] == event["event_id"]
    assert ids["event-target"] == "4.50" and ids["event-baseline"] == "7.00"
    assert dom["paths"] == 4  # metered, plan, target, baseline
    assert "connected" in dom["cpRows"][0]
    assert dom["external"] == []  # nothing fetched from elsewhere
