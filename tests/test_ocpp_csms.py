"""The CSMS on loopback, with the ``ocpp`` package's own ChargePoint (1.6, 2.0.1, 2.1) and raw websockets as peers."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
import websockets
from ocpp.routing import on
from ocpp.v16 import ChargePoint as Cp16
from ocpp.v16 import call as call16
from ocpp.v21 import ChargePoint as Cp21
from ocpp.v21 import call as call21
from ocpp.v201 import ChargePoint as Cp201
from ocpp.v201 import call as call201
from websockets.exceptions import InvalidStatus

from vgi.service.ocpp import (
    CallTimeout,
    ChargePointDisconnected,
    ChargePointNotConnected,
    Csms,
    MemoryBackend,
    ProfileError,
    SetpointSeries,
)

PASSWORDS = {"CP1": "secret-password-16chars", "CP2": "another-password-xyz"}
T0 = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)


def _auth(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def _run(body: Callable[[Csms, MemoryBackend], Awaitable[None]], **backend_kw: Any) -> MemoryBackend:
    backend = MemoryBackend(passwords=dict(PASSWORDS), **backend_kw)

    async def main() -> None:
        async with Csms(backend, port=0, response_timeout_s=5.0) as csms:
            await asyncio.wait_for(body(csms, backend), 30)

    asyncio.run(main())
    return backend


async def _until(pred: Callable[[], bool], timeout_s: float = 5.0) -> None:
    for _ in range(int(timeout_s / 0.01)):
        if pred():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("condition not reached")


def _floats(x: Any) -> Any:
    """The 1.6 client's validator turns numbers into Decimal; back to plain JSON numbers."""
    if isinstance(x, dict):
        return {k: _floats(v) for k, v in x.items()}
    if isinstance(x, list):
        return [_floats(v) for v in x]
    return float(x) if isinstance(x, Decimal) else x


def _composite_from_profile(profile: dict[str, Any], version: str, evse_id: int) -> dict[str, Any]:
    """What a charge point holding only this profile answers to GetCompositeSchedule (snake_case)."""
    profile = _floats(profile)
    if version == "1.6":
        sched = profile["charging_schedule"]
        return {"status": "Accepted", "connector_id": evse_id, "schedule_start": sched["start_schedule"],
                "charging_schedule": sched}
    sched = profile["charging_schedule"][0]
    return {"status": "Accepted", "schedule": {
        "evse_id": evse_id, "duration": sched["duration"], "schedule_start": sched["start_schedule"],
        "charging_rate_unit": sched["charging_rate_unit"],
        "charging_schedule_period": sched["charging_schedule_period"]}}


class Client16(Cp16):
    profiles: list[dict[str, Any]]

    @on("SetChargingProfile")
    def on_set(self, connector_id: int, cs_charging_profiles: dict[str, Any]) -> Any:
        self.profiles.append(cs_charging_profiles)
        return __import__("ocpp.v16.call_result", fromlist=["x"]).SetChargingProfile(status="Accepted")

    @on("GetCompositeSchedule")
    def on_composite(self, connector_id: int, duration: int, charging_rate_unit: str | None = None) -> Any:
        from ocpp.v16 import call_result

        return call_result.GetCompositeSchedule(**_composite_from_profile(self.profiles[-1], "1.6", connector_id))

    @on("ClearChargingProfile")
    def on_clear(self, **kw: Any) -> Any:
        from ocpp.v16 import call_result

        self.profiles.clear()
        return call_result.ClearChargingProfile(status="Accepted")


def _client2(base: type, version: str) -> type:
    mod = __import__(f"ocpp.{'v201' if version == '2.0.1' else 'v21'}.call_result", fromlist=["x"])

    class Client2(base):  # type: ignore[misc, valid-type]
        profiles: list[dict[str, Any]]

        @on("SetChargingProfile")
        def on_set(self, evse_id: int, charging_profile: dict[str, Any], **kw: Any) -> Any:
            self.profiles.append(charging_profile)
            return mod.SetChargingProfile(status="Accepted")

        @on("GetCompositeSchedule")
        def on_composite(self, duration: int, evse_id: int, **kw: Any) -> Any:
            return mod.GetCompositeSchedule(**_composite_from_profile(self.profiles[-1], version, evse_id))

        @on("ClearChargingProfile")
        def on_clear(self, **kw: Any) -> Any:
            self.profiles.clear()
            return mod.ClearChargingProfile(status="Accepted")

    return Client2


def _now() -> str:
    return datetime.now(UTC).isoformat()


async def _session_16(cp: Any) -> str:
    await cp.call(call16.BootNotification(charge_point_model="M1", charge_point_vendor="V1"), suppress=False)
    await cp.call(call16.Heartbeat(), suppress=False)
    await cp.call(call16.StatusNotification(connector_id=1, error_code="NoError", status="Preparing",
                                            timestamp=_now()), suppress=False)
    auth = await cp.call(call16.Authorize(id_tag="TAG1"), suppress=False)
    assert auth.id_tag_info["status"] == "Accepted"
    start = await cp.call(call16.StartTransaction(connector_id=1, id_tag="TAG1", meter_start=1000,
                                                  timestamp="2026-03-01T08:00:00Z"), suppress=False)
    tx = start.transaction_id
    await cp.call(call16.MeterValues(connector_id=1, transaction_id=tx, meter_value=[
        {"timestamp": "2026-03-01T08:15:00Z", "sampledValue": [
            {"value": "2.85", "unit": "kWh", "measurand": "Energy.Active.Import.Register"},
            {"value": "7.4", "unit": "kW", "measurand": "Power.Active.Import"}]}]), suppress=False)
    return str(tx)


async def _stop_16(cp: Any, tx: str) -> None:
    await cp.call(call16.StopTransaction(meter_stop=4700, timestamp="2026-03-01T08:30:00Z", transaction_id=int(tx),
                                         reason="EVDisconnected"), suppress=False)


async def _session_2(cp: Any, mod: Any) -> str:
    await cp.call(mod.BootNotification(charging_station={"model": "M2", "vendor_name": "V2"}, reason="PowerUp"),
                  suppress=False)
    await cp.call(mod.Heartbeat(), suppress=False)
    await cp.call(mod.StatusNotification(timestamp=_now(), connector_status="Occupied", evse_id=1, connector_id=1),
                  suppress=False)
    auth = await cp.call(mod.Authorize(id_token={"id_token": "TAG1", "type": "ISO14443"}), suppress=False)
    assert auth.id_token_info["status"] == "Accepted"
    await cp.call(mod.TransactionEvent(
        event_type="Started", timestamp="2026-03-01T08:00:00Z", trigger_reason="Authorized", seq_no=0,
        transaction_info={"transaction_id": "tx-A"}, evse={"id": 1, "connector_id": 1},
        id_token={"id_token": "TAG1", "type": "ISO14443"},
        meter_value=[{"timestamp": "2026-03-01T08:00:00Z", "sampled_value": [
            {"value": 1000, "context": "Transaction.Begin", "measurand": "Energy.Active.Import.Register"}]}]),
        suppress=False)
    await cp.call(mod.TransactionEvent(
        event_type="Updated", timestamp="2026-03-01T08:15:00Z", trigger_reason="MeterValuePeriodic", seq_no=1,
        transaction_info={"transaction_id": "tx-A", "charging_state": "Charging"},
        meter_value=[{"timestamp": "2026-03-01T08:15:00Z", "sampled_value": [
            {"value": 2.85, "measurand": "Energy.Active.Import.Register", "unit_of_measure": {"unit": "kWh"}},
            {"value": 7400, "measurand": "Power.Active.Import", "unit_of_measure": {"unit": "W"}}]}]),
        suppress=False)
    return "tx-A"


async def _stop_2(cp: Any, mod: Any) -> None:
    await cp.call(mod.TransactionEvent(
        event_type="Ended", timestamp="2026-03-01T08:30:00Z", trigger_reason="EVCommunicationLost", seq_no=2,
        transaction_info={"transaction_id": "tx-A", "stopped_reason": "EVDisconnected"},
        meter_value=[{"timestamp": "2026-03-01T08:30:00Z", "sampled_value": [
            {"value": 4700, "context": "Transaction.End", "measurand": "Energy.Active.Import.Register"}]}]),
        suppress=False)


@pytest.mark.parametrize("version", ["1.6", "2.0.1", "2.1"])
def test_full_session_with_the_ocpp_package_charge_point(version: str) -> None:
    kw = [7.4, 7.4, 3.0, 0.0] if version != "2.1" else [7.4, -5.0, -5.0, 0.0]
    sub = {"1.6": "ocpp1.6", "2.0.1": "ocpp2.0.1", "2.1": "ocpp2.1"}[version]

    async def body(csms: Csms, backend: MemoryBackend) -> None:
        async with websockets.connect(csms.url("CP1"), subprotocols=[sub],  # type: ignore[list-item]
                                      additional_headers=_auth("CP1", PASSWORDS["CP1"])) as ws:
            assert ws.subprotocol == sub
            if version == "1.6":
                cp: Any = Client16("CP1", ws)
            else:
                cp = _client2(Cp201 if version == "2.0.1" else Cp21, version)("CP1", ws)
            cp.profiles = []
            task = asyncio.create_task(cp.start())
            mod = call201 if version == "2.0.1" else call21
            tx = await (_session_16(cp) if version == "1.6" else _session_2(cp, mod))
            assert csms.connected() == {"CP1": version}
            series = SetpointSeries.of(T0, 900, kw)
            result = await csms.send_profile("CP1", 1, series, purpose="TxProfile", transaction_id=tx, profile_id=11)
            assert result.accepted and result.profile.clamped_steps == ()
            assert len(cp.profiles) == 1
            composite = await csms.get_composite_schedule("CP1", 1, 3600, step_s=900)
            assert composite.status == "Accepted" and composite.series == series
            assert await csms.clear_profile("CP1", profile_id=11) == "Accepted"
            assert cp.profiles == []
            await (_stop_16(cp, tx) if version == "1.6" else _stop_2(cp, mod))
            task.cancel()

    backend = _run(body)
    assert [b.vendor for b in backend.boots] == ["V1" if version == "1.6" else "V2"]
    assert backend.statuses[0].evse_id == 1
    (started,) = backend.started
    assert started.meter_start_wh == 1000.0 and started.evse_id == 1 and started.id_token == "TAG1"
    assert started.at == T0
    (ended,) = backend.ended
    assert ended.meter_stop_wh == 4700.0 and ended.reason == "EVDisconnected"
    periodic = [(s.measurand, s.value, s.unit, s.evse_id) for s in backend.samples if s.context == "Sample.Periodic"]
    assert periodic == [("Energy.Active.Import.Register", 2850.0, "Wh", 1), ("Power.Active.Import", 7400.0, "W", 1)]
    assert all(s.transaction_id == started_id for s in backend.samples for started_id in [ended.transaction_id])


def test_handshake_refusals() -> None:
    async def status_of(url: str, headers: dict[str, str] | None, subs: list[str] | None = None) -> int:
        try:
            async with websockets.connect(url, subprotocols=subs or ["ocpp1.6"],  # type: ignore[arg-type]
                                          additional_headers=headers):
                return 101
        except InvalidStatus as exc:
            return exc.response.status_code

    async def body(csms: Csms, backend: MemoryBackend) -> None:
        good = _auth("CP1", PASSWORDS["CP1"])
        assert await status_of(csms.url("CP1"), None) == 401
        assert await status_of(csms.url("CP1"), _auth("CP1", "wrong")) == 401
        assert await status_of(csms.url("CP9"), _auth("CP9", "whatever")) == 401  # unknown charge point
        assert await status_of(csms.url("CP1"), _auth("CP2", PASSWORDS["CP2"])) == 401  # username is not the id
        assert await status_of(csms.url("CP1"), {"Authorization": "Basic !!notbase64"}) == 401
        assert await status_of(csms.url(""), good) == 404
        assert await status_of(f"ws://127.0.0.1:{csms.port}/other/CP1", good) == 404
        assert await status_of(csms.url("CP1"), good, ["ocpp1.5"]) == 400
        assert await status_of(csms.url("CP1"), good) == 101
        # both offered: the newest common version wins
        async with websockets.connect(csms.url("CP1"), subprotocols=["ocpp1.6", "ocpp2.0.1"],  # type: ignore[list-item]
                                      additional_headers=good) as ws:
            assert ws.subprotocol == "ocpp2.0.1"

    backend = _run(body)
    assert backend.boots == []


async def _raw(csms: Csms, cp: str, sub: str) -> Any:
    return await websockets.connect(csms.url(cp), subprotocols=[sub],  # type: ignore[list-item]
                                    additional_headers=_auth(cp, PASSWORDS[cp]))


async def _ask(ws: Any, frame: Any) -> list[Any]:
    await ws.send(frame if isinstance(frame, str) else json.dumps(frame))
    return json.loads(await asyncio.wait_for(ws.recv(), 5))


@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
def test_malformed_and_out_of_order_messages_get_callerror_and_the_connection_stays(version: str) -> None:
    v16 = version == "1.6"
    fmt = "FormationViolation" if v16 else "FormatViolation"

    async def body(csms: Csms, backend: MemoryBackend) -> None:
        ws = await _raw(csms, "CP1", "ocpp1.6" if v16 else "ocpp2.0.1")
        assert await _ask(ws, "{not json") == [4, "-1", "FormationViolation" if v16 else "RpcFrameworkError",
                                               "message is not valid JSON", {}]
        reply = await _ask(ws, [2, "a1", "BootNotification", {"chargePointVendor": "V"}] if v16 else
                           [2, "a1", "BootNotification", {"reason": "PowerUp"}])
        assert reply[:3] == [4, "a1", "ProtocolError"]  # a required field is missing
        boot = ({"chargePointVendor": "V", "chargePointModel": "M"} if v16 else
                {"reason": "PowerUp", "chargingStation": {"model": "M", "vendorName": "V"}})
        reply = await _ask(ws, [2, "a2", "BootNotification", {**boot, "colour": "red"}])
        assert reply[:3] == [4, "a2", fmt]
        bad_type = {"connectorId": "one", "errorCode": "NoError", "status": "Available"} if v16 else {
            "timestamp": _now(), "connectorStatus": "Available", "evseId": "one", "connectorId": 1}
        assert (await _ask(ws, [2, "a3", "StatusNotification", bad_type]))[:3] == [4, "a3", "TypeConstraintViolation"]
        assert (await _ask(ws, [2, "a4", "Teleport", {}]))[:3] == [4, "a4", "NotSupported"]
        assert (await _ask(ws, [2, "a5", "DataTransfer", {"vendorId": "x"}]))[:3] == [4, "a5", "NotImplemented"]
        assert (await _ask(ws, [9, "a6", "Heartbeat", {}]))[:3] == [4, "a6",
                                                                      "NotSupported" if v16 else
                                                                      "MessageTypeNotSupported"]
        assert (await _ask(ws, [2, "a7", "Heartbeat"]))[:3] == [4, "a7", fmt]
        if v16:
            stop = {"meterStop": 5, "timestamp": _now(), "transactionId": 777}
            reply = await _ask(ws, [2, "a8", "StopTransaction", stop])
            assert reply[:3] == [4, "a8", "PropertyConstraintViolation"] and "777" in reply[3]
            reply = await _ask(ws, [2, "a9", "TransactionEvent", {}])
            assert reply[:3] == [4, "a9", "NotSupported"]
            reply = await _ask(ws, [2, "a10", "MeterValues", {"connectorId": 1, "meterValue": [
                {"timestamp": "2026-03-01T08:00:00", "sampledValue": [{"value": "1"}]}]}])
            assert reply[:3] == [4, "a10", "PropertyConstraintViolation"] and "no UTC offset" in reply[3]
        else:
            upd = {"eventType": "Updated", "timestamp": _now(), "triggerReason": "MeterValuePeriodic", "seqNo": 3,
                   "transactionInfo": {"transactionId": "ghost"}}
            reply = await _ask(ws, [2, "a8", "TransactionEvent", upd])
            assert reply[:3] == [4, "a8", "PropertyConstraintViolation"] and "ghost" in reply[3]
            started = {**upd, "eventType": "Started", "triggerReason": "CablePluggedIn"}
            reply = await _ask(ws, [2, "a9", "TransactionEvent", started])
            assert reply[:3] == [4, "a9", "OccurrenceConstraintViolation"]  # a Started event must name its evse
            assert (await _ask(ws, [2, "a10", "StartTransaction", {}]))[:3] == [4, "a10", "NotSupported"]
        # a response nobody asked for is logged and ignored, and the connection still answers
        await ws.send(json.dumps([3, "zz", {}]))
        reply = await _ask(ws, [2, "ok", "Heartbeat", {}])
        assert reply[0] == 3 and reply[1] == "ok" and "currentTime" in reply[2]
        await ws.close()

    backend = _run(body)
    assert backend.boots == [] and backend.ended == [] and backend.samples == []


def test_rejected_boot_then_other_messages_get_security_error() -> None:
    async def body(csms: Csms, backend: MemoryBackend) -> None:
        ws = await _raw(csms, "CP2", "ocpp1.6")
        reply = await _ask(ws, [2, "b", "BootNotification", {"chargePointVendor": "V", "chargePointModel": "M"}])
        assert reply[2]["status"] == "Rejected"
        assert (await _ask(ws, [2, "h", "Heartbeat", {}]))[:3] == [4, "h", "SecurityError"]
        await ws.close()

    _run(body, rejected_boots=frozenset({"CP2"}))


def test_reconnect_replaces_the_connection_and_pending_calls_fail_cleanly() -> None:
    series = SetpointSeries.of(T0, 900, [3.0])

    async def body(csms: Csms, backend: MemoryBackend) -> None:
        with pytest.raises(ChargePointNotConnected):
            await csms.send_profile("CP1", 1, series)
        old = await _raw(csms, "CP1", "ocpp1.6")
        await _until(lambda: "CP1" in csms.connected())
        # the old connection never answers: the call is pending when the charge point reconnects
        pending = asyncio.create_task(csms.send_profile("CP1", 1, series, timeout_s=20))
        frame = json.loads(await asyncio.wait_for(old.recv(), 5))
        assert frame[0] == 2 and frame[2] == "SetChargingProfile"
        t0 = asyncio.get_running_loop().time()
        new = await _raw(csms, "CP1", "ocpp2.0.1")
        with pytest.raises(ChargePointDisconnected):
            await pending
        assert asyncio.get_running_loop().time() - t0 < 5  # failed at once, not at the 20 s timeout
        await _until(lambda: csms.connected() == {"CP1": "2.0.1"})
        with pytest.raises(websockets.ConnectionClosed):
            await asyncio.wait_for(old.recv(), 5)
        # the new connection serves calls
        answer = asyncio.create_task(csms.send_profile("CP1", 1, series))
        frame = json.loads(await asyncio.wait_for(new.recv(), 5))
        assert frame[3]["chargingProfile"]["chargingSchedule"][0]["chargingSchedulePeriod"] == [
            {"startPeriod": 0, "limit": 3000.0}]
        await new.send(json.dumps([3, frame[1], {"status": "Accepted"}]))
        assert (await answer).accepted
        # a call left unanswered times out; one cut by a disconnect fails with ChargePointDisconnected
        with pytest.raises(CallTimeout):
            await csms.clear_profile("CP1", timeout_s=0.2)
        await new.recv()
        pending = asyncio.create_task(csms.clear_profile("CP1", timeout_s=20))
        await new.recv()
        await new.close()
        with pytest.raises(ChargePointDisconnected):
            await pending
        await _until(lambda: csms.connected() == {})

    _run(body)


def test_discharge_on_16_is_refused_before_sending() -> None:
    async def body(csms: Csms, backend: MemoryBackend) -> None:
        ws = await _raw(csms, "CP1", "ocpp1.6")
        await _until(lambda: "CP1" in csms.connected())
        with pytest.raises(ProfileError, match=r"OCPP 1\.6 cannot express"):
            await csms.send_profile("CP1", 1, SetpointSeries.of(T0, 900, [2.0, -1.0]))
        task = asyncio.create_task(csms.send_profile("CP1", 1, SetpointSeries.of(T0, 900, [2.0, -1.0]),
                                                     discharge="clamp"))
        frame = json.loads(await asyncio.wait_for(ws.recv(), 5))
        assert frame[3]["csChargingProfiles"]["chargingSchedule"]["chargingSchedulePeriod"] == [
            {"startPeriod": 0, "limit": 2000.0}, {"startPeriod": 900, "limit": 0.0}]
        await ws.send(json.dumps([3, frame[1], {"status": "Accepted"}]))
        result = await task
        assert result.accepted and result.profile.clamped_steps == (1,)
        await ws.close()

    _run(body)


def test_backend_may_call_the_charge_point_while_handling_its_request() -> None:
    """A re-plan on a transaction start sends a profile to the same charge point before StartTransaction is answered.

    The charge point's CALLRESULT must be read while the StartTransaction handler still runs (it used to wait
    behind the handler until the call timed out).
    """
    outcome: list[bool] = []

    class ReplanningBackend(MemoryBackend):
        csms: Csms | None = None

        async def on_transaction_started(self, event: Any) -> str:
            tx = await super().on_transaction_started(event)
            assert self.csms is not None
            result = await self.csms.send_profile(event.charge_point_id, event.evse_id,
                                                  SetpointSeries.of(T0, 900, [3.7]), timeout_s=3)
            outcome.append(result.accepted)
            return tx

    backend = ReplanningBackend(passwords=dict(PASSWORDS))

    async def main() -> None:
        async with Csms(backend, port=0) as csms:
            backend.csms = csms
            async with websockets.connect(csms.url("CP1"), subprotocols=["ocpp1.6"],  # type: ignore[list-item]
                                          additional_headers=_auth("CP1", PASSWORDS["CP1"])) as ws:
                cp = Client16("CP1", ws)
                cp.profiles = []
                task = asyncio.create_task(cp.start())
                start = await asyncio.wait_for(cp.call(call16.StartTransaction(
                    connector_id=1, id_tag="T", meter_start=0, timestamp="2026-03-01T08:00:00Z"), suppress=False), 10)
                assert start.transaction_id == 1
                assert len(cp.profiles) == 1
                task.cancel()

    asyncio.run(main())
    assert outcome == [True]
