"""The live service end to end on loopback: OCPP charge points (the ``ocpp`` package's own), a business-logic
client of our VTN publishing an IMPORT_CAPACITY_LIMIT event, the aggregator loop on a simulated clock, settlement
from metered data; against SQLite and PostgreSQL.  Also ``vgi serve`` as a subprocess."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
import websockets
from ocpp.v16 import call as call16
from ocpp.v201 import call as call201

from chargers import Charger16, basic_auth, connect_pair, limit_kw_at
from utility import publish_import_limit
from vgi.aggregator.clock import SimulatedClock
from vgi.errors import VgiError
from vgi.service.app import Service, build_service
from vgi.service.backend import ENERGY_REGISTER
from vgi.service.config import (
    ChargePointConfig,
    DashboardConfig,
    ListenConfig,
    ServiceConfig,
    SessionDefaults,
    VenConfig,
    VtnClientConfig,
    VtnConfig,
    load_config,
    parse_config,
)

T0 = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)  # a Monday
STEP = timedelta(minutes=15)
EVENT_START, EVENT_END = T0 + 4 * STEP, T0 + 8 * STEP  # 11:00-12:00 UTC
LIMIT_KW = 6.0
CP_KW = 7.0
PASSWORDS = {"CP1": "cp1-password-123", "CP2": "cp2-password-456"}
DASH = ("operator", "dashboard-password")
STOR_PRICE_PER_KWH = 0.15  # uk-stor's reference utilisation price (src/vgi/data/programmes/uk-stor.yaml)


# ------------------------------------------------------------------------------------------------------ fixtures


def service_config(url: str, schema: str | None) -> ServiceConfig:
    return ServiceConfig(
        database_url=url, database_schema=schema, http=ListenConfig(port=0), ocpp=ListenConfig(port=0),
        horizon_hours=6, timezone="Europe/London", tariff="uk-octopus-go",
        # 40 kWh in 6 h at 7 kW x 0.95 cannot all be delivered: the plan charges flat out wherever it may
        defaults=SessionDefaults(dwell_hours=6, energy_kwh=40, battery_kwh=60),
        charge_points=tuple(ChargePointConfig(id=cp, password=pw, site="depot", max_charge_kw=CP_KW)
                            for cp, pw in PASSWORDS.items()),
        vtn=VtnConfig(clients=(VtnClientConfig(client_id="utility", secret="utility-secret", role="BL"),
                               VtnClientConfig(client_id="aggregator", secret="aggregator-secret", role="VEN"))),
        ven=VenConfig(enabled=True, vtn_url="http://127.0.0.1:{http_port}/openadr", client_id="aggregator",
                      client_secret="aggregator-secret", ven_name="depot-ven", program_ids=("flex",)),
        settle_programme="uk-stor", dashboard=DashboardConfig(user=DASH[0], password=DASH[1]),
    )


# ------------------------------------------------------------------------------------------------ charge points


def _iso(at: datetime) -> str:
    return at.isoformat().replace("+00:00", "Z")


async def _until(pred: Any, timeout_s: float = 10.0) -> None:
    for _ in range(int(timeout_s / 0.02)):
        if pred():
            return
        await asyncio.sleep(0.02)
    raise AssertionError("condition not reached")


# -------------------------------------------------------------------------------------------------- the story


async def _story(service: Service, clock: SimulatedClock) -> dict[str, Any]:
    assert service.csms is not None and service.store is not None
    csms = service.csms
    cp1, cp2, tasks = await connect_pair(csms, PASSWORDS)
    out: dict[str, Any] = {}
    try:
        await cp1.call(call16.BootNotification(charge_point_model="M1", charge_point_vendor="V1"), suppress=False)
        await cp1.call(call16.StatusNotification(connector_id=1, error_code="NoError", status="Charging",
                                                 timestamp=_iso(T0)), suppress=False)
        start = await cp1.call(call16.StartTransaction(connector_id=1, id_tag="TAG1", meter_start=0,
                                                       timestamp=_iso(T0)), suppress=False)
        tx1 = start.transaction_id
        await cp2.call(call201.BootNotification(charging_station={"model": "M2", "vendor_name": "V2"},
                                                reason="PowerUp"), suppress=False)
        await cp2.call(call201.StatusNotification(timestamp=_iso(T0), connector_status="Occupied", evse_id=1,
                                                  connector_id=1), suppress=False)
        await cp2.call(call201.TransactionEvent(
            event_type="Started", timestamp=_iso(T0), trigger_reason="Authorized", seq_no=0,
            transaction_info={"transaction_id": "tx-2"}, evse={"id": 1, "connector_id": 1},
            id_token={"id_token": "TAG2", "type": "ISO14443"},
            meter_value=[{"timestamp": _iso(T0), "sampled_value": [
                {"value": 0, "context": "Transaction.Begin", "measurand": ENERGY_REGISTER}]}]), suppress=False)

        # the utility publishes a programme and an import limit for 11:00-12:00
        async with httpx.AsyncClient(base_url=f"{service.http_url}/openadr") as http:
            event, program, bl = await publish_import_limit(http, _iso(EVENT_START), LIMIT_KW, "evening-limit")
            out["event_id"] = event["id"]
            assert await service.poll() == 1
            assert await service.poll() == 0  # the same event again changes nothing
            # an event the utility deletes before it starts is cancelled in the store
            later = await http.post("/events", headers=bl, json={
                "programID": program["id"], "intervalPeriod": {"start": _iso(T0 + 16 * STEP), "duration": "PT1H"},
                "intervals": [{"id": 0, "payloads": [{"type": "IMPORT_CAPACITY_LIMIT", "values": [1.0]}]}]})
            assert await service.poll() == 1
            assert (await http.delete(f"/events/{later.json()['id']}", headers=bl)).status_code == 200
            assert await service.poll() == 1
            gone = service.store.event(f"{service.http_url}/openadr", later.json()["id"])
            assert gone is not None and gone.cancelled

            registers = {"CP1": 0.0, "CP2": 0.0}  # Wh
            following: dict[str, list[float]] = {"CP1": [], "CP2": []}  # kW per step, as each charge point drew
            t = T0
            while t <= EVENT_END:
                clock.advance_to(t)
                if t > T0:  # each charge point drew what its last profile allowed in the step that just ended
                    for cp, client in (("CP1", cp1), ("CP2", cp2)):
                        kw = limit_kw_at(client.profiles[-1], t - STEP)
                        following[cp].append(kw)
                        registers[cp] += kw * 250.0  # kW x 0.25 h, in Wh
                    await cp1.call(call16.MeterValues(connector_id=1, transaction_id=tx1, meter_value=[
                        {"timestamp": _iso(t), "sampledValue": [
                            {"value": f"{registers['CP1']:.3f}", "unit": "Wh", "measurand": ENERGY_REGISTER}]}]),
                        suppress=False)
                    await cp2.call(call201.TransactionEvent(
                        event_type="Updated", timestamp=_iso(t), trigger_reason="MeterValuePeriodic",
                        seq_no=int((t - T0) / STEP), transaction_info={"transaction_id": "tx-2"},
                        meter_value=[{"timestamp": _iso(t), "sampled_value": [
                            {"value": registers["CP2"], "measurand": ENERGY_REGISTER}]}]), suppress=False)
                if t < EVENT_END:
                    sent = (len(cp1.profiles), len(cp2.profiles))
                    step = await service.tick()
                    assert step.n_sessions == 2
                    await _until(lambda sent=sent: len(cp1.profiles) > sent[0] and len(cp2.profiles) > sent[1])
                t += STEP
            # a meter value sent again (a lost answer) is not stored twice
            before = len(service.store.meter_values(measurand=ENERGY_REGISTER))
            await cp1.call(call16.MeterValues(connector_id=1, transaction_id=tx1, meter_value=[
                {"timestamp": _iso(EVENT_END), "sampledValue": [
                    {"value": f"{registers['CP1']:.3f}", "unit": "Wh", "measurand": ENERGY_REGISTER}]}]),
                suppress=False)
            out["meter_counts"] = (before, len(service.store.meter_values(measurand=ENERGY_REGISTER)))
            out["settled"] = await service.settle()
            out["settled_again"] = await service.settle()
            out["reports"] = (await http.get("/reports", headers=bl)).json()
        out["following"] = following
        out["profiles"] = {"CP1": list(cp1.profiles), "CP2": list(cp2.profiles)}
        async with httpx.AsyncClient(base_url=service.http_url) as http:
            out["state"] = (await http.get("/api/state", auth=DASH)).json()
            out["state_bearer"] = (await http.get("/api/state", headers={
                "Authorization": f"Bearer {service.credentials.api_token}"})).status_code  # type: ignore[union-attr]
            out["refused"] = [(await http.get(path)).status_code for path in ("/", "/api/state")]
            out["wrong"] = (await http.get("/api/state", auth=(DASH[0], "not-the-password"))).status_code
            out["vtn_refused"] = (await http.get("/openadr/programs")).status_code
    finally:
        for task in tasks:
            task.cancel()
        await cp1._connection.close()
        await cp2._connection.close()
    return out


def test_service_end_to_end(database: tuple[str, str | None]) -> None:
    url, schema = database
    clock = SimulatedClock(T0)
    service = build_service(service_config(url, schema), clock)

    async def main() -> dict[str, Any]:
        await service.start(loop=False)
        try:
            return await asyncio.wait_for(_story(service, clock), 120)
        finally:
            await service.stop()

    out = asyncio.run(main())
    following = {cp: np.array(v) for cp, v in out["following"].items()}
    total = following["CP1"] + following["CP2"]
    # before the event both charge flat out; in it, their sum keeps to the limit (to OCPP 1.6's 0.1 W grid) and
    # no more is given up than the limit asks (the drivers' need is unmet, so every kW allowed is used)
    np.testing.assert_allclose(total[:4], 2 * CP_KW, atol=1e-3)
    assert (total[4:] <= LIMIT_KW + 1e-3).all()
    np.testing.assert_allclose(total[4:], LIMIT_KW, atol=1e-3)
    # every profile received after the event was known keeps the sum to the limit in every event step
    for k in range(4):
        at = EVENT_START + k * STEP
        assert limit_kw_at(out["profiles"]["CP1"][k], at) + limit_kw_at(out["profiles"]["CP2"][k], at) \
            <= LIMIT_KW + 1e-3
    before, after = out["meter_counts"]
    assert before == after == 2 * 9  # the start register and 8 periodic values per charge point

    # the settlement, worked out by hand: uk-stor's baseline is the metered demand of the 15 minutes before the
    # event (10:45-11:00: both at 7 kW), held flat; every kWh below it is paid at the utilisation price
    [settled] = out["settled"]
    assert out["settled_again"] == []
    baseline_kw = total[3]
    metered_kwh = total[4:] * 0.25
    response_kwh = float(np.sum(baseline_kw * 0.25 - metered_kwh))
    assert settled.event_id == out["event_id"] and settled.programme_id == "uk-stor"
    np.testing.assert_allclose(settled.baseline_kw, [baseline_kw] * 4, atol=1e-9)
    np.testing.assert_allclose(settled.measured_kw, total[4:], atol=1e-9)
    assert settled.delivered_kwh == pytest.approx(response_kwh, abs=1e-9)
    assert response_kwh == pytest.approx((2 * CP_KW - LIMIT_KW) * 1.0, abs=1e-3)  # 8 kW for an hour
    assert settled.payment == pytest.approx(STOR_PRICE_PER_KWH * response_kwh, abs=1e-9)
    assert settled.penalty == 0 and settled.currency == "GBP"
    # the usage went back to the VTN: one report for the event, kWh per step = the metered power x 0.25 h
    [report] = out["reports"]
    assert report["eventID"] == out["event_id"]
    usage = [iv["payloads"][0]["values"][0] for iv in report["resources"][0]["intervals"]]
    np.testing.assert_allclose(usage, metered_kwh, atol=1e-9)

    state = out["state"]
    assert {c["id"]: c["connected"] for c in state["charge_points"]} == {"CP1": True, "CP2": True}
    assert {s["transaction_id"] for s in state["sessions"]} >= {"tx-2"}
    energy = {s["charge_point_id"]: s["energy_kwh"] for s in state["sessions"]}
    assert energy["CP1"] == pytest.approx(float(following["CP1"].sum() * 0.25), abs=1e-6)
    assert state["plan"]["n_sessions"] == 2
    assert out["state_bearer"] == 200
    assert out["refused"] == [401, 401] and out["wrong"] == 401 and out["vtn_refused"] == 401


# ---------------------------------------------------------------------------------------------- configuration


def test_config_defaults_and_one_line_errors(tmp_path: Path) -> None:
    cfg = load_config(None)
    assert cfg.database_url == "sqlite:///vgi.db" and (cfg.http.port, cfg.ocpp.port) == (8080, 9000)
    bad = tmp_path / "bad.yaml"
    bad.write_text("http:\n  prot: 80\n")
    with pytest.raises(VgiError, match=r"bad.yaml: http.prot: unknown key"):
        load_config(bad)
    with pytest.raises(VgiError, match=r"step_minutes: .*divide an hour"):
        parse_config({"step_minutes": 7}, "c.yaml")
    with pytest.raises(VgiError, match=r"ven: .*needs vtn_url"):
        parse_config({"ven": {"enabled": True}}, "c.yaml")
    with pytest.raises(VgiError, match=r"timezone"):
        parse_config({"timezone": "Mars/Base"}, "c.yaml")
    with pytest.raises(VgiError, match=r"charge point 'A' is listed twice"):
        parse_config({"charge_points": [{"id": "A", "password": "12345678"}, {"id": "A", "password": "12345678"}]})


# ------------------------------------------------------------------------------------------------- vgi serve


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_vgi_serve_subprocess_on_sqlite_with_no_config(tmp_path: Path) -> None:
    http_port, ocpp_port = _free_port(), _free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("VGI_DATABASE_URL", "VGI_SERVICE_KEY")}
    proc = subprocess.Popen([sys.executable, "-m", "vgi", "serve", "--http-port", str(http_port), "--ocpp-port",
                             str(ocpp_port)], cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        lines: list[str] = []
        deadline = time.monotonic() + 60
        assert proc.stdout is not None
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            lines.append(line)
            if "API bearer token" in line:
                break
        text_out = "".join(lines)
        assert f"http://127.0.0.1:{http_port}/" in text_out, text_out
        password = next(ln for ln in lines if "dashboard user" in ln).rsplit("password ", 1)[1].strip()
        token = next(ln for ln in lines if "API bearer token" in ln).rsplit(" ", 1)[1].strip()
        base = f"http://127.0.0.1:{http_port}"
        assert httpx.get(f"{base}/api/state", timeout=10).status_code == 401
        ok = httpx.get(f"{base}/api/state", auth=("admin", password), timeout=10)
        assert ok.status_code == 200 and ok.json()["charge_points"] == []
        assert httpx.get(f"{base}/api/state", headers={"Authorization": f"Bearer {token}"},
                         timeout=10).status_code == 200
        assert (tmp_path / "vgi.db").exists()
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
        assert proc.returncode == 0, err
        assert "stopped" in out
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()


def test_add_charge_point_command(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from vgi.cli import cli
    from vgi.service.store import Store

    db = f"sqlite:///{tmp_path / 'v.db'}"
    (tmp_path / "pw").write_text("a-long-password\n")
    runner = CliRunner()
    ok = runner.invoke(cli, ["serve", "--db", db, "add-charge-point", "CP9", "--password-file",
                             str(tmp_path / "pw"), "--site", "north", "--max-charge-kw", "11"])
    assert ok.exit_code == 0, ok.output
    with Store.open(db) as store:
        assert store.check_password("CP9", "a-long-password")
        assert not store.check_password("CP9", "a-long-password\n")
        record = store.charge_point("CP9")
        assert record is not None and record.site_id == "north" and record.max_charge_kw == 11
    short = runner.invoke(cli, ["serve", "--db", db, "add-charge-point", "CP9", "--password-env", "NOPE_UNSET"])
    assert short.exit_code != 0


# ------------------------------------------------------------------------------- the loop on its own tasks


class SteppedClock:
    """A clock that only the test moves; ``sleep_until`` waits (really) until the test has moved it that far."""

    def __init__(self, start: datetime) -> None:
        import pandas as pd

        self._now = pd.Timestamp(start).tz_convert("UTC")
        self._moved = asyncio.Condition()

    def now(self) -> Any:
        return self._now

    async def sleep_until(self, moment: Any) -> None:
        async with self._moved:
            await self._moved.wait_for(lambda: self._now >= moment)

    async def advance_to(self, moment: datetime) -> None:
        import pandas as pd

        async with self._moved:
            self._now = pd.Timestamp(moment).tz_convert("UTC")
            self._moved.notify_all()


def test_loop_tasks_replan_on_arrival_resend_on_reconnect_and_follow_the_clock(tmp_path: Path) -> None:
    cfg = service_config(f"sqlite:///{tmp_path / 'loop.db'}", None).with_(ven={"enabled": False})
    clock = SteppedClock(T0)
    service = build_service(cfg, clock)  # type: ignore[arg-type]

    async def connect() -> tuple[Any, Charger16, asyncio.Task[Any]]:
        assert service.csms is not None
        ws = await websockets.connect(service.csms.url("CP1"), subprotocols=["ocpp1.6"],  # type: ignore[list-item]
                                      additional_headers=basic_auth("CP1", PASSWORDS["CP1"]))
        cp = Charger16("CP1", ws)
        cp.profiles = []
        return ws, cp, asyncio.create_task(cp.start())

    async def main() -> None:
        await service.start()  # the loop, the reconnect watcher and the arrival trigger run as tasks
        try:
            assert service.store is not None
            await _until(lambda: service.store.latest_plan() is not None)  # the loop's first pass, no car yet
            ws, cp, task = await connect()
            await cp.call(call16.BootNotification(charge_point_model="M", charge_point_vendor="V"), suppress=False)
            await cp.call(call16.StartTransaction(connector_id=1, id_tag="T", meter_start=0,
                                                  timestamp=_iso(T0 + timedelta(minutes=3))), suppress=False)
            # a transaction start re-plans at once, the clock standing still: the car arrived in the first step
            await _until(lambda: len(cp.profiles) >= 1)
            assert limit_kw_at(cp.profiles[-1], T0 + timedelta(minutes=3)) == pytest.approx(CP_KW)
            # reconnecting: the current plan is sent again, with no new pass
            plans = service.store.latest_plan()
            task.cancel()
            await ws.close()
            ws, cp, task = await connect()
            await _until(lambda: len(cp.profiles) >= 1)
            assert service.store.latest_plan().id == plans.id  # type: ignore[union-attr]
            assert limit_kw_at(cp.profiles[-1], T0 + timedelta(minutes=5)) == pytest.approx(CP_KW)
            # the next step: the loop's own pass sends a new plan from 10:15
            await clock.advance_to(T0 + STEP)
            await _until(lambda: len(cp.profiles) >= 2)
            start = cp.profiles[-1]["charging_schedule"]["start_schedule"]
            assert start.startswith("2026-03-02T10:15:00")
            task.cancel()
            await ws.close()
        finally:
            await service.stop()

    asyncio.run(asyncio.wait_for(main(), 60))


# --------------------------------------------------------------------------------------- the live snapshot


def test_live_snapshot_from_the_store(tmp_path: Path) -> None:
    """Energy so far from the register (the reading at the snapshot's moment included), assumed departure and
    need, an OpenADR import limit as the fleet's limit and an OpenADR price over the tariff's."""
    import pandas as pd

    from vgi.service.live import LiveFleet
    from vgi.service.store import MeterReading, Store

    cfg = service_config(f"sqlite:///{tmp_path / 's.db'}", None).with_(
        defaults={"dwell_hours": 5, "energy_kwh": 20, "battery_kwh": 60, "initial_soc": 0.2,
                  "charge_efficiency": 0.9})
    with Store.open(cfg.database_url) as store:
        store.upsert_charge_point("CP1", password="cp1-password-123", site_id="depot", max_charge_kw=11)
        store.start_session("CP1", 1, T0, 1000.0, transaction_id="A")
        store.start_session("CP1", 2, T0 + 3 * STEP, 0.0, transaction_id="B")  # not plugged in yet at 10:30
        store.add_meter_values([MeterReading("CP1", 1, T0 + k * STEP, ENERGY_REGISTER, w, "Wh", transaction_id="A")
                                for k, w in ((1, 2750.0), (2, 4500.0))])
        event = {"id": "e1", "programID": "p", "intervalPeriod": {"start": _iso(T0 + 4 * STEP), "duration": "PT30M"},
                 "intervals": [{"id": 0, "payloads": [{"type": "IMPORT_CAPACITY_LIMIT", "values": [3.0]},
                                                      {"type": "PRICE", "values": [0.5]}]}]}
        store.save_event("vtn", "e1", "IMPORT_CAPACITY_LIMIT", T0 + 4 * STEP, T0 + 6 * STEP, payload=event)
        fleet = LiveFleet(store, None, cfg, events_source="vtn")
        at = pd.Timestamp(T0 + 2 * STEP)

        async def take() -> Any:
            found = await fleet.snapshot(at)
            fleet.release()  # a snapshot holds the pass lock until its plan is applied
            return found

        snap = asyncio.run(take())
    assert list(snap.fleet.session_id) == ["CP1/1/A"]
    # 12 kWh at plug-in (0.2 x 60) + (4500 - 1000) Wh x 0.9
    assert snap.fleet.e_init_kwh[0] == pytest.approx(12.0 + 3.5 * 0.9)
    assert snap.fleet.e_need_kwh[0] == pytest.approx(12.0 + 20.0)
    assert snap.grid.start == at and snap.fleet.max_charge_kw[0] == 11
    assert snap.fleet.stop[0] == 20 - 2  # departs 5 h after 10:00, i.e. step 18 of a grid from 10:30
    limit = np.asarray(snap.terms.fleet_import_limit_kw)
    np.testing.assert_allclose(limit[2:4], 3.0)  # 11:00-11:30
    assert (np.delete(limit, [2, 3]) > 100).all()  # no limit elsewhere
    tariff_now = snap.prices.buy[0]
    np.testing.assert_allclose(snap.prices.buy[2:4], 0.5)
    assert tariff_now != 0.5


def test_two_processes_share_the_generated_secrets(database: tuple[str, str | None]) -> None:
    """Two services on one database (as two processes would be): a VTN token one issued is accepted by the other,
    and the generated dashboard password and API token are the same; only the first start reports them new."""
    url, schema = database
    cfg = service_config(url, schema).with_(ven={"enabled": False}, dashboard={"user": "admin"})
    first, second = build_service(cfg, SimulatedClock(T0)), build_service(cfg, SimulatedClock(T0))

    async def main() -> None:
        await first.start(loop=False)
        await second.start(loop=False)
        try:
            a, b = first.credentials, second.credentials
            assert a is not None and b is not None
            assert len(a.generated) == 2 and b.generated == []
            assert (a.dashboard_password, a.api_token, a.vtn_key) == (b.dashboard_password, b.api_token, b.vtn_key)
            async with httpx.AsyncClient() as http:
                token = (await http.post(f"{first.http_url}/openadr/auth/token",
                                         data={"grant_type": "client_credentials"},
                                         auth=("utility", "utility-secret"))).json()["access_token"]
                other = await http.get(f"{second.http_url}/openadr/programs",
                                       headers={"Authorization": f"Bearer {token}"})
                assert other.status_code == 200
                flipped = token[:-5] + ("A" if token[-5] != "A" else "B") + token[-4:]  # a signature bit changed
                forged = await http.get(f"{second.http_url}/openadr/programs",
                                        headers={"Authorization": f"Bearer {flipped}"})
                assert forged.status_code == 401
        finally:
            await second.stop()
            await first.stop()

    asyncio.run(main())
