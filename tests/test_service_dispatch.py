"""The live service follows an OpenADR DISPATCH_SETPOINT as a dispatch curve in its steps (not as an import cap),
and plans on the tariff's prices elsewhere: two OCPP charge points, a business-logic client of the service's own VTN
publishing the setpoint and a cheap PRICE hour, one pass of the aggregator on a simulated clock."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from ocpp.v16 import call as call16
from ocpp.v201 import call as call201

from chargers import connect_pair, limit_kw_at
from test_service import CP_KW, PASSWORDS, STEP, T0, _iso, _until, service_config
from utility import bl_headers, create_program, publish_event
from vgi.aggregator.clock import SimulatedClock
from vgi.errors import VgiError
from vgi.service.app import Service, build_service
from vgi.service.backend import ENERGY_REGISTER
from vgi.service.config import parse_config

SETPOINT_KW = 10.0
SETPOINT_STEPS = [4, 5, 6, 7]  # 11:00-12:00 UTC on the plan's grid from 10:00
CHEAP_STEPS = [12, 13, 14, 15]  # 13:00-14:00 UTC
CHEAP_PRICE = 0.05  # GBP/kWh, below uk-octopus-go's day rate (0.2236) that holds over the rest of the horizon
ENERGY_KWH = 10.0  # battery kWh each car wants
EFFICIENCY = 0.95


async def _one_pass(service: Service) -> dict[str, Any]:
    assert service.csms is not None
    csms = service.csms
    cp1, cp2, tasks = await connect_pair(csms, PASSWORDS)
    try:
        await cp1.call(call16.BootNotification(charge_point_model="M1", charge_point_vendor="V1"), suppress=False)
        await cp1.call(call16.StartTransaction(connector_id=1, id_tag="TAG1", meter_start=0, timestamp=_iso(T0)),
                       suppress=False)
        await cp2.call(call201.BootNotification(charging_station={"model": "M2", "vendor_name": "V2"},
                                                reason="PowerUp"), suppress=False)
        await cp2.call(call201.TransactionEvent(
            event_type="Started", timestamp=_iso(T0), trigger_reason="Authorized", seq_no=0,
            transaction_info={"transaction_id": "tx-2"}, evse={"id": 1, "connector_id": 1},
            id_token={"id_token": "TAG2", "type": "ISO14443"},
            meter_value=[{"timestamp": _iso(T0), "sampled_value": [
                {"value": 0, "context": "Transaction.Begin", "measurand": ENERGY_REGISTER}]}]), suppress=False)
        async with httpx.AsyncClient(base_url=f"{service.http_url}/openadr") as http:
            bl = await bl_headers(http)
            program = await create_program(http, bl)
            await publish_event(http, bl, program["id"], _iso(T0 + 4 * STEP), "DISPATCH_SETPOINT", SETPOINT_KW,
                                "follow-me")
            await publish_event(http, bl, program["id"], _iso(T0 + 12 * STEP), "PRICE", CHEAP_PRICE, "cheap-hour",
                                units="KWH", currency="GBP")
            assert await service.poll() == 2
        step = await service.tick()
        assert step.n_sessions == 2
        await _until(lambda: cp1.profiles and cp2.profiles)
        return {"CP1": list(cp1.profiles), "CP2": list(cp2.profiles)}
    finally:
        for task in tasks:
            task.cancel()
        await cp1._connection.close()
        await cp2._connection.close()


def test_two_cars_follow_a_dispatch_setpoint_and_the_tariff_elsewhere(tmp_path: Path) -> None:
    cfg = service_config(f"sqlite:///{tmp_path / 'dispatch.db'}", None).with_(
        defaults={"dwell_hours": 6, "energy_kwh": ENERGY_KWH, "battery_kwh": 60,
                  "charge_efficiency": EFFICIENCY})
    service = build_service(cfg, SimulatedClock(T0))

    async def main() -> dict[str, Any]:
        await service.start(loop=False)
        try:
            return await asyncio.wait_for(_one_pass(service), 60)
        finally:
            await service.stop()

    profiles = asyncio.run(main())
    n_steps = 6 * 4
    total = np.array([sum(limit_kw_at(profiles[cp][-1], T0 + k * STEP + timedelta(minutes=1)) for cp in profiles)
                      for k in range(n_steps)])
    # worked out by hand: each car needs 10 / 0.95 = 10.526 grid kWh, 21.053 kWh together.  Off the setpoint a kWh
    # costs the setpoint penalty (10 x 0.2236 + 10 = 12.24 GBP), far above any price, so 11:00-12:00 is 10 kW
    # exactly (to OCPP 1.6's 0.1 W grid): 10 kWh.  The other 11.053 kWh go where they are cheapest, the PRICE hour
    # 13:00-14:00 at 0.05 (two 7 kW cars can take 14 kWh there), and nothing is drawn at the day rate elsewhere.
    # As an import cap (the old reading) the setpoint would have let the cars draw nothing in 11:00-12:00.
    np.testing.assert_allclose(total[SETPOINT_STEPS], SETPOINT_KW, atol=1e-3)
    rest_kwh = 2 * ENERGY_KWH / EFFICIENCY - SETPOINT_KW * 1.0
    assert float(total[CHEAP_STEPS].sum() * 0.25) == pytest.approx(rest_kwh, abs=1e-3)
    assert (total[CHEAP_STEPS] <= 2 * CP_KW + 1e-3).all()
    elsewhere = np.setdiff1d(np.arange(n_steps), SETPOINT_STEPS + CHEAP_STEPS)
    np.testing.assert_allclose(total[elsewhere], 0.0, atol=1e-3)


def test_live_snapshot_takes_the_setpoint_as_the_target_curve(tmp_path: Path) -> None:
    """A DISPATCH_SETPOINT is the fleet's target in its steps (NaN elsewhere), priced at
    ``dispatch_penalty_per_kwh``, with a driver's need priced above it; in V1G a negative setpoint is 0."""
    import pandas as pd

    from vgi.service.live import LiveFleet
    from vgi.service.store import Store

    cfg = service_config(f"sqlite:///{tmp_path / 's.db'}", None).with_(dispatch_penalty_per_kwh=3.0)
    with Store.open(cfg.database_url) as store:
        store.upsert_charge_point("CP1", password="cp1-password-123", site_id="depot", max_charge_kw=11)
        store.start_session("CP1", 1, T0, 0.0, transaction_id="A")
        event = {"id": "e1", "programID": "p", "intervalPeriod": {"start": _iso(T0 + 2 * STEP), "duration": "PT30M"},
                 "intervals": [{"id": 0, "payloads": [{"type": "DISPATCH_SETPOINT", "values": [-5.0]}]}]}
        store.save_event("vtn", "e1", "DISPATCH_SETPOINT", T0 + 2 * STEP, T0 + 4 * STEP, payload=event)
        fleet = LiveFleet(store, None, cfg, events_source="vtn")

        async def take() -> Any:
            found = await fleet.snapshot(pd.Timestamp(T0))
            fleet.release()
            return found

        snap = asyncio.run(take())
    terms = snap.terms
    assert terms.target_kw is not None and terms.fleet_import_limit_kw is None  # a curve, not a cap
    np.testing.assert_array_equal(terms.target_kw[2:4], [0.0, 0.0])  # V1G: a car cannot export
    assert np.isnan(np.delete(terms.target_kw, [2, 3])).all()
    assert terms.over_penalty_per_kwh == terms.under_penalty_per_kwh == 3.0
    # drivers first: 100 x (3 + the largest price) / 0.95 + 1, with uk-octopus-go's day rate 0.2236 the largest
    assert terms.unmet_penalty_per_kwh == pytest.approx(100.0 * (3.0 + 0.2236) / 0.95 + 1.0)
    with pytest.raises(VgiError, match="dispatch_penalty_per_kwh"):
        parse_config({"dispatch_penalty_per_kwh": -1}, "service.yaml")
