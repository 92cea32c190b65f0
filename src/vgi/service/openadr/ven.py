"""An OpenADR 3 VEN client (httpx): the aggregator's side of a VTN.

It gets a token (client credentials, sent as HTTP Basic; the token URL from ``/auth/server`` when not given),
registers the VEN and its resources, reads programmes and events (following skip/limit pages), subscribes with
a callback URL when it has one, posts reports, and turns what it read into :class:`GridSignals` through the pure
:func:`~vgi.service.openadr.signals.grid_signals`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Literal

import httpx
import numpy as np
import pandas as pd

from vgi.errors import VgiError
from vgi.model.timegrid import TimeGrid
from vgi.service.openadr.models import Event, Program, Report, to_wire
from vgi.service.openadr.signals import GridSignals, grid_signals
from vgi.service.openadr.vtn import MAX_LIMIT

__all__ = ["VenClient"]

Version = Literal["3.0.1", "3.1.0"]


class VenClient:
    """A VEN talking to one VTN.

    Args:
        base_url: the VTN's base URL (``http://host:port`` or with a mount prefix).
        client_id, client_secret: the VEN's OAuth2 credentials.
        ven_name: the venName to register under.
        token_url: the token endpoint; None: discovered from ``/auth/server`` (3.1.0).
        version: ``3.1.0`` (default) or ``3.0.1``: how VEN and resource requests are shaped and where
            resources live (``/resources`` or ``/vens/{venID}/resources``).
        http: an ``httpx.Client`` to use (tests pass one bound to an app); None: a new one.
        clock: UTC seconds, for token expiry.
    """

    def __init__(
        self,
        base_url: str,
        client_id: str,
        client_secret: str,
        ven_name: str,
        token_url: str | None = None,
        version: Version = "3.1.0",
        http: httpx.Client | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if version not in ("3.0.1", "3.1.0"):
            raise VgiError(f"OpenADR version {version!r} is not 3.0.1 or 3.1.0")
        self.base_url = base_url.rstrip("/")
        self.client_id = client_id
        self.client_secret = client_secret
        self.ven_name = ven_name
        self.token_url = token_url
        self.version = version
        self.http = http or httpx.Client(timeout=10.0)
        self.clock = clock
        self._token: tuple[str, float] | None = None
        self.ven_id: str | None = None

    # ---- transport ----------------------------------------------------------------------------------------
    def token(self) -> str:
        """A bearer token, fetched again when the cached one is within a minute of expiry."""
        if self._token is not None and self._token[1] - 60 > self.clock():
            return self._token[0]
        if self.token_url is None:
            found = self.http.get(f"{self.base_url}/auth/server")
            self._check(found, "token discovery")
            self.token_url = str(found.json()["tokenURL"])
        response = self.http.post(
            self.token_url,
            data={"grant_type": "client_credentials"},
            auth=(self.client_id, self.client_secret),
        )
        if response.status_code != 200:
            raise VgiError(f"OpenADR token request refused ({response.status_code}): {response.text[:200]}")
        body = response.json()
        self._token = (str(body["access_token"]), self.clock() + float(body.get("expires_in", 3600)))
        return self._token[0]

    @staticmethod
    def _check(response: httpx.Response, what: str) -> None:
        if response.status_code >= 400:
            try:
                detail = response.json().get("detail") or response.text
            except ValueError:
                detail = response.text
            raise VgiError(f"OpenADR {what} failed ({response.status_code}): {str(detail)[:300]}")

    def request(self, method: str, path: str, what: str, **kwargs: Any) -> Any:
        """One authenticated request; the JSON answer, or :class:`VgiError` naming ``what`` and the problem."""
        headers = {"Authorization": f"Bearer {self.token()}"}
        response = self.http.request(method, f"{self.base_url}{path}", headers=headers, **kwargs)
        self._check(response, what)
        return response.json()

    def search(self, path: str, params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        """Every object a search returns, page by page (``skip``/``limit``)."""
        found: list[dict[str, Any]] = []
        while True:
            page = self.request("GET", path, f"GET {path}", params={**(params or {}), "skip": len(found),
                                                                      "limit": MAX_LIMIT})
            found.extend(page)
            if len(page) < MAX_LIMIT:
                return found

    # ---- registration -------------------------------------------------------------------------------------
    def register(
        self, resource_names: Sequence[str] = (), callback_url: str | None = None, program_id: str | None = None
    ) -> dict[str, Any]:
        """Register the VEN (or find it registered) and its resources; the VEN object.

        With a ``callback_url`` it also subscribes (once: an existing subscription of this VEN with that URL is
        kept) to events and programmes, of ``program_id`` only when given.
        """
        existing = self.search("/vens", {"venName": self.ven_name})
        if existing:
            ven = existing[0]
        else:
            body: dict[str, Any] = {"venName": self.ven_name}
            if self.version == "3.1.0":
                body["objectType"] = "VEN_VEN_REQUEST"
            ven = self.request("POST", "/vens", "VEN registration", json=body)
        self.ven_id = str(ven["id"])
        have = {r["resourceName"] for r in self.resources()}
        for name in resource_names:
            if name in have:
                continue
            if self.version == "3.1.0":
                self.request("POST", "/resources", f"resource {name!r} registration",
                             json={"objectType": "VEN_RESOURCE_REQUEST", "resourceName": name, "venID": self.ven_id})
            else:
                self.request("POST", f"/vens/{self.ven_id}/resources", f"resource {name!r} registration",
                             json={"resourceName": name})
        if callback_url is not None:
            mine = self.search("/subscriptions", {"clientName": self.ven_name})
            urls = {op.get("callbackUrl") for sub in mine for op in sub.get("objectOperations") or ()}
            if callback_url not in urls:
                self.subscribe(callback_url, program_id)
        return ven

    def resources(self) -> list[dict[str, Any]]:
        """The registered VEN's resources."""
        if self.ven_id is None:
            raise VgiError("register the VEN before listing its resources")
        if self.version == "3.1.0":
            return self.search("/resources", {"venID": self.ven_id})
        return self.search(f"/vens/{self.ven_id}/resources")

    # ---- reading ------------------------------------------------------------------------------------------
    def programs(self) -> list[Program]:
        """Every programme the VTN shows this VEN."""
        return [Program.model_validate(p) for p in self.search("/programs")]

    def events(self, program_ids: Iterable[str] | None = None, active: bool | None = None) -> list[Event]:
        """Events of the given programmes (None: all); ``active=True`` asks the VTN for untranspired ones only."""
        params: dict[str, Any] = {} if active is None else {"active": str(active).lower()}
        if program_ids is None:
            return [Event.model_validate(e) for e in self.search("/events", params)]
        return [
            Event.model_validate(e)
            for pid in dict.fromkeys(program_ids)
            for e in self.search("/events", {**params, "programID": pid})
        ]

    def subscribe(
        self,
        callback_url: str,
        program_id: str | None = None,
        objects: Sequence[str] = ("EVENT", "PROGRAM"),
        bearer_token: str | None = None,
    ) -> dict[str, Any]:
        """Ask to be called back at ``callback_url`` when the ``objects`` are created, updated or deleted."""
        operations = ["CREATE", "UPDATE", "DELETE"] if self.version == "3.1.0" else ["POST", "PUT", "DELETE"]
        body: dict[str, Any] = {
            "clientName": self.ven_name,
            "objectOperations": [{"objects": list(objects), "operations": operations, "callbackUrl": callback_url}],
        }
        if bearer_token:
            body["objectOperations"][0]["bearerToken"] = bearer_token
        if program_id:
            body["programID"] = program_id
        return dict(self.request("POST", "/subscriptions", "subscription", json=body))

    def poll(
        self,
        grid: TimeGrid,
        program_ids: Iterable[str],
        now: pd.Timestamp | None = None,
        rng: np.random.Generator | None = None,
    ) -> GridSignals:
        """Read the joined programmes and their events and turn them into signals on ``grid``.

        ``rng`` draws each event's randomizeStart fraction (uniform in [-1, 1]); None: no shift.
        """
        joined = list(program_ids)
        moment = pd.Timestamp(self.clock(), unit="s", tz="UTC") if now is None else pd.Timestamp(now)
        programs = [p for p in self.programs() if p.id in set(joined)]
        events = self.events(joined)
        randomize = {e.id: float(rng.uniform(-1.0, 1.0)) for e in events if e.id} if rng is not None else None
        return grid_signals(events, grid, moment, joined, programs, randomize)

    # ---- reporting ----------------------------------------------------------------------------------------
    def post_report(self, report: Report) -> dict[str, Any]:
        """Post a report (for example from :func:`~vgi.service.openadr.signals.usage_report`)."""
        return dict(self.request("POST", "/reports", "report", json=to_wire(report)))
