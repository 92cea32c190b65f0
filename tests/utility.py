"""The utility's side in the service tests: a business-logic client of the VTN that publishes a programme and
events (an import limit, a dispatch setpoint, a price), as a utility or a pilot would."""

from __future__ import annotations

from typing import Any

import httpx


async def bl_headers(http: httpx.AsyncClient, credentials: tuple[str, str] = ("utility", "utility-secret")
                     ) -> dict[str, str]:
    """A business-logic client's authorisation headers (``http`` has the VTN's base URL)."""
    token = (await http.post("/auth/token", data={"grant_type": "client_credentials"},
                             auth=credentials)).json()["access_token"]
    return {"Authorization": f"Bearer {token}"}


async def create_program(http: httpx.AsyncClient, bl: dict[str, str], name: str = "flex") -> dict[str, Any]:
    """Create the programme ``name``; returns it as the VTN stored it."""
    created = await http.post("/programs", json={"programName": name}, headers=bl)
    assert created.status_code == 201, created.text
    return dict(created.json())


async def publish_event(http: httpx.AsyncClient, bl: dict[str, str], program_id: str, start_iso: str,
                        payload_type: str, value: float, event_name: str, units: str = "KW",
                        currency: str | None = None, duration: str = "PT1H") -> dict[str, Any]:
    """A one-interval event of ``payload_type`` (``value`` in ``units``; prices also in ``currency``) from
    ``start_iso`` for ``duration``; returns it as the VTN stored it."""
    descriptor: dict[str, Any] = {"objectType": "EVENT_PAYLOAD_DESCRIPTOR", "payloadType": payload_type,
                                  "units": units}
    if currency is not None:
        descriptor["currency"] = currency
    created = await http.post("/events", headers=bl, json={
        "programID": program_id, "eventName": event_name,
        "intervalPeriod": {"start": start_iso, "duration": duration},
        "payloadDescriptors": [descriptor],
        "intervals": [{"id": 0, "payloads": [{"type": payload_type, "values": [value]}]}]})
    assert created.status_code == 201, created.text
    return dict(created.json())


async def publish_import_limit(http: httpx.AsyncClient, start_iso: str, limit_kw: float, event_name: str,
                               credentials: tuple[str, str] = ("utility", "utility-secret")
                               ) -> tuple[dict[str, Any], dict[str, Any], dict[str, str]]:
    """Get a BL token, create the programme ``flex`` and a one-hour IMPORT_CAPACITY_LIMIT event of ``limit_kw``
    from ``start_iso``; ``http`` has the VTN's base URL.  Returns the event and the programme as the VTN stored them,
    and the BL's authorisation headers for further calls."""
    bl = await bl_headers(http, credentials)
    program = await create_program(http, bl)
    event = await publish_event(http, bl, program["id"], start_iso, "IMPORT_CAPACITY_LIMIT", limit_kw, event_name)
    return event, program, bl
