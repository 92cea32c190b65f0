"""Charge points for the service tests: the ``ocpp`` package's own ChargePoint classes that keep every charging
profile they are sent, and what such a profile lets a car draw at a moment."""

from __future__ import annotations

import asyncio
import base64
from datetime import datetime
from decimal import Decimal
from typing import Any

from ocpp.routing import on
from ocpp.v16 import ChargePoint as Cp16
from ocpp.v16 import call_result as result16
from ocpp.v201 import ChargePoint as Cp201
from ocpp.v201 import call_result as result201


def plain(x: Any) -> Any:
    if isinstance(x, dict):
        return {k: plain(v) for k, v in x.items()}
    if isinstance(x, list):
        return [plain(v) for v in x]
    return float(x) if isinstance(x, Decimal) else x


def limit_kw_at(profile: dict[str, Any], at: datetime) -> float:
    """What a charge point holding ``profile`` (snake_case, as the ocpp package hands it) may draw at ``at``."""
    sched = profile["charging_schedule"]
    sched = sched[0] if isinstance(sched, list) else sched
    start = datetime.fromisoformat(sched["start_schedule"].replace("Z", "+00:00"))
    offset = (at - start).total_seconds()
    assert 0 <= offset < sched["duration"], (at, start)
    assert sched["charging_rate_unit"] == "W"
    limit = None
    for period in sched["charging_schedule_period"]:
        if period["start_period"] <= offset:
            limit = period["limit"]
    assert limit is not None
    return float(limit) / 1000.0


class Charger16(Cp16):
    profiles: list[dict[str, Any]]

    @on("SetChargingProfile")
    def on_set(self, connector_id: int, cs_charging_profiles: dict[str, Any]) -> Any:
        self.profiles.append(plain(cs_charging_profiles))
        return result16.SetChargingProfile(status="Accepted")


class Charger201(Cp201):
    profiles: list[dict[str, Any]]

    @on("SetChargingProfile")
    def on_set(self, evse_id: int, charging_profile: dict[str, Any], **kw: Any) -> Any:
        self.profiles.append(plain(charging_profile))
        return result201.SetChargingProfile(status="Accepted")


def basic_auth(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


async def connect_pair(csms: Any, passwords: dict[str, str]) -> tuple[Charger16, Charger201, list[asyncio.Task[Any]]]:
    """CP1 (OCPP 1.6) and CP2 (OCPP 2.0.1) connected to ``csms`` with basic auth, each recording its profiles, and
    the tasks that run them (cancel them when done)."""
    import websockets

    ws1 = await websockets.connect(csms.url("CP1"), subprotocols=["ocpp1.6"],  # type: ignore[list-item]
                                   additional_headers=basic_auth("CP1", passwords["CP1"]))
    ws2 = await websockets.connect(csms.url("CP2"), subprotocols=["ocpp2.0.1"],  # type: ignore[list-item]
                                   additional_headers=basic_auth("CP2", passwords["CP2"]))
    cp1, cp2 = Charger16("CP1", ws1), Charger201("CP2", ws2)
    cp1.profiles, cp2.profiles = [], []
    return cp1, cp2, [asyncio.create_task(cp1.start()), asyncio.create_task(cp2.start())]
