"""The utility's side in the service tests: a business-logic client of the VTN that publishes a programme and an
import-limit event, as a utility or a pilot would."""

from __future__ import annotations

from typing import Any

import httpx


async def publish_import_limit(http: httpx.AsyncClient, start_iso: str, limit_kw: float, event_name: str,
                               credentials: tuple[str, str] = ("utility", "utility-secret")
                               ) -> tuple[dict[str, Any], dict[str, Any], dict[str, str]]:
    """Get a BL token, create the programme ``flex`` and a one-hour IMPORT_CAPACITY_LIMIT event of ``limit_kw``
    from ``start_iso``; ``http`` has the VTN's base URL.  Returns the event and the programme as the VTN stored them,
    and the BL's authorisation headers for further calls."""
    token = (await http.post("/auth/token", data={"grant_type": "client_credentials"},
                             auth=credentials)).json()["access_token"]
    bl = {"Authorization": f"Bearer {token}"}
    program = (await http.post("/programs", json={"programName": "flex"}, headers=bl)).json()
    created = await http.post("/events", headers=bl, json={
        "programID": program["id"], "eventName": event_name,
        "intervalPeriod": {"start": start_iso, "duration": "PT1H"},
        "payloadDescriptors": [{"objectType": "EVENT_PAYLOAD_DESCRIPTOR",
                                "payloadType": "IMPORT_CAPACITY_LIMIT", "units": "KW"}],
        "intervals": [{"id": 0, "payloads": [{"type": "IMPORT_CAPACITY_LIMIT", "values": [limit_kw]}]}]})
    assert created.status_code == 201, created.text
    return dict(created.json()), dict(program), bl
