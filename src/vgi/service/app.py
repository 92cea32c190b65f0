"""The live service: the aggregator loop, the OCPP CSMS, the OpenADR VTN and VEN, the dashboard, started together.

:func:`build_service` makes a :class:`Service` from a :class:`~vgi.service.config.ServiceConfig`.  ``await
service.start()`` opens the database (migrating it), writes the configured charge points into it, and starts the
OCPP server, the HTTP server (the VTN under ``/openadr``, ``/api/state`` and the dashboard at ``/``) and, as
asyncio tasks, the aggregator loop (:func:`vgi.aggregator.driver.run_loop` on the service's clock with
:class:`~vgi.service.live.LiveFleet` as source and actuator), the VEN poller and a watcher that re-sends the plan
to charge points that reconnect; ``await service.stop()`` stops them all.  ``async with service:`` does both.

Tests drive it on a :class:`~vgi.aggregator.clock.SimulatedClock`: ``start(loop=False)`` starts the servers only,
and :meth:`Service.tick`, :meth:`Service.poll` and :meth:`Service.settle` run one pass of each by hand.

Every HTTP endpoint is authenticated: the VTN with its OAuth2 bearer tokens, the dashboard and ``/api`` with HTTP
Basic (``dashboard.user`` / ``dashboard.password``) or ``Authorization: Bearer <api token>``.  Passwords, the API
token and the VTN's token key that the configuration does not give are generated on first start and kept in the
database (:func:`vgi.service.shared.shared_secret`), so restarts and several processes share them.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import hmac
import logging
import math
import os
import socket
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd
import uvicorn
from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.responses import HTMLResponse

from vgi.aggregator.clock import Clock, SimulatedClock, WallClock
from vgi.aggregator.driver import LoopStep, loop_step, run_loop
from vgi.errors import VgiError
from vgi.model.timegrid import TimeGrid
from vgi.service.backend import ENERGY_REGISTER, StoreBackend
from vgi.service.config import ServiceConfig
from vgi.service.dashboard import DASHBOARD_HTML
from vgi.service.leader import LeaderLock, leader_lock, process_name
from vgi.service.live import EventFollower, LiveFleet, metered_kw
from vgi.service.ocpp import Csms
from vgi.service.openadr.auth import ClientConfig
from vgi.service.openadr.ven import VenClient
from vgi.service.openadr.vtn import create_vtn_app
from vgi.service.shared import shared_secret
from vgi.service.store import GridEventRecord, SettlementRecord, Store

__all__ = ["Service", "build_service"]

LOGGER = logging.getLogger("vgi.service")
FAR_FUTURE = pd.Timestamp("2200-01-01", tz="UTC")
#: hours of metered load /api/state shows before now
METERED_HOURS = 6
#: seconds a charge point's websocket or an HTTP connection is given to close when the service stops
CLOSE_TIMEOUT_S = 1.0


class _Server(uvicorn.Server):
    """uvicorn without its own signal handling: the service (or ``vgi serve``) decides when to stop."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


@dataclass
class Credentials:
    """What clients of the service use; ``generated`` names those made on this start (to print once)."""

    dashboard_user: str
    dashboard_password: str
    api_token: str
    vtn_key: bytes
    generated: list[str] = field(default_factory=list)


class Service:
    """The live service (see the module docstring).  Make it with :func:`build_service`."""

    def __init__(self, config: ServiceConfig, clock: Clock | None = None) -> None:
        self.config = config
        self.clock: Clock = clock or WallClock()
        self.store: Store | None = None
        self.csms: Csms | None = None
        self.fleet: LiveFleet | None = None
        self.follower: EventFollower | None = None
        self.credentials: Credentials | None = None
        self.app: FastAPI | None = None
        self.last_step: LoopStep | None = None
        self.backend: StoreBackend | None = None
        self._server: _Server | None = None
        self._socket: socket.socket | None = None
        self._tasks: list[asyncio.Task[Any]] = []
        self._known: dict[str, int] = {}
        self._reconnecting: set[str] = set()
        self._arrival = asyncio.Event()
        #: ``<host>:<pid>``, as /api/state and the other processes name this one
        self.process_name = process_name()
        self.leader_lock: LeaderLock | None = None
        #: whether this process holds the leader lock and runs the loop, the VEN poller and the settlement
        self.leading = False
        self._leader_tasks: list[asyncio.Task[Any]] = []
        self._lock_op: asyncio.Future[bool] | None = None
        self._sessions_marker: tuple[int, int] | None = None

    # ------------------------------------------------------------------------------------------- lifecycle
    async def start(self, *, loop: bool | None = None) -> None:
        """Open the database and start the servers, the reconnect watcher and the plan watcher (a newer stored
        plan to this process's charge points); with ``loop`` (default: the configuration's ``aggregator``), also
        the leader election: the process holding the fleet's leader lock runs the aggregator loop and the VEN
        poller.  ``loop=False`` starts the servers alone (tests then call :meth:`tick`, :meth:`poll`,
        :meth:`settle`)."""
        cfg = self.config
        watch = loop is None or loop
        loop = cfg.aggregator if loop is None else loop
        _check_references(cfg)
        if loop and isinstance(self.clock, SimulatedClock):
            raise VgiError("a simulated clock jumps to every moment it is asked to wait for: the loop would run "
                           "without end; start(loop=False) and call tick(), or give a clock that waits")
        self.store = store = await asyncio.to_thread(Store.open, cfg.database_url, schema=cfg.database_schema)
        try:
            self.credentials = await asyncio.to_thread(self._credentials, store)
            self.leader_lock = leader_lock(store.engine, cfg.database_schema, self.process_name)
            await asyncio.to_thread(self._sync_charge_points, store)
            self.backend = backend = StoreBackend(store, on_started=self._arrived,
                                                  on_authenticated=self._reconnecting.add)
            self.csms = Csms(backend, host=cfg.ocpp.host, port=cfg.ocpp.port, close_timeout_s=CLOSE_TIMEOUT_S)
            try:
                await self.csms.start()
            except OSError as exc:
                raise VgiError(f"ocpp: cannot listen on {cfg.ocpp.host}:{cfg.ocpp.port}: {exc.strerror}") from None
            self._socket = socket.socket(socket.AF_INET6 if ":" in cfg.http.host else socket.AF_INET)
            self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                self._socket.bind((cfg.http.host, cfg.http.port))
            except OSError as exc:
                raise VgiError(f"http: cannot listen on {cfg.http.host}:{cfg.http.port}: {exc.strerror}") from None
            ven_source = None
            if cfg.ven.enabled:
                assert cfg.ven.vtn_url and cfg.ven.client_id and cfg.ven.client_secret
                ven = VenClient(cfg.ven.vtn_url.replace("{http_port}", str(self.http_port)), cfg.ven.client_id,
                                cfg.ven.client_secret, cfg.ven.ven_name)
                self.follower = EventFollower(store, ven, cfg, flush=backend.flush)
                ven_source = self.follower.source
            self.fleet = LiveFleet(store, self.csms, cfg, events_source=ven_source, flush=backend.flush,
                                   process=self.process_name)
            self.app = self._make_app()
            self._server = _Server(uvicorn.Config(self.app, log_level="warning", lifespan="off", access_log=False,
                                                  timeout_graceful_shutdown=math.ceil(CLOSE_TIMEOUT_S)))
            self._tasks.append(asyncio.create_task(self._server.serve(sockets=[self._socket])))
            for _ in range(500):
                if self._server.started:
                    break
                await asyncio.sleep(0.01)
            if watch:
                self._tasks.append(asyncio.create_task(self._watch()))
                self._tasks.append(asyncio.create_task(self._watch_plans()))
            if loop:
                self._tasks.append(asyncio.create_task(self._elect()))
        except BaseException:
            await self.stop()
            raise

    async def stop(self) -> None:
        """Stop everything started: the loop's tasks, the HTTP server, the OCPP server (each charge point's
        connection closed with 1001 going away, its messages already received handled), the meter batcher
        (every value received committed), the database last.  A charge point or browser that does not answer the
        close is given up after ``CLOSE_TIMEOUT_S``."""
        for task in self._tasks[1:]:
            task.cancel()
        for task in self._tasks[1:]:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        await self._stop_leading()
        if self._lock_op is not None:  # a lock attempt under way in a worker thread: let it end, then release
            with contextlib.suppress(Exception):
                await self._lock_op
            self._lock_op = None
        if self.leader_lock is not None:
            with contextlib.suppress(Exception):
                await asyncio.to_thread(self.leader_lock.release)
        if self._server is not None:
            self._server.should_exit = True
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._tasks[0]
            self._server = None
        self._tasks.clear()
        if self._socket is not None:
            self._socket.close()
            self._socket = None
        if self.csms is not None:
            await self.csms.stop()
        if self.backend is not None:
            await self.backend.close()
        if self.follower is not None:
            self.follower.ven.http.close()
        if self.store is not None:
            self.store.close()

    async def __aenter__(self) -> Service:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @property
    def http_port(self) -> int:
        if self._socket is None:
            raise RuntimeError("the service is not started")
        return int(self._socket.getsockname()[1])

    @property
    def ocpp_port(self) -> int:
        if self.csms is None:
            raise RuntimeError("the service is not started")
        return self.csms.port

    @property
    def http_url(self) -> str:
        host = self.config.http.host
        return f"http://{host if ':' not in host else f'[{host}]'}:{self.http_port}"

    # ------------------------------------------------------------------------------------------- one pass each
    def _require(self) -> tuple[Store, LiveFleet]:
        if self.store is None or self.fleet is None:
            raise RuntimeError("the service is not started")
        return self.store, self.fleet

    async def tick(self, at: pd.Timestamp | None = None) -> LoopStep:
        """One pass of the aggregator loop at ``at`` (default: the clock's step): snapshot, re-plan, send."""
        _, fleet = self._require()
        step = pd.Timedelta(minutes=self.config.step_minutes)
        at = pd.Timestamp(at) if at is not None else self.clock.now().floor(step)
        try:
            self.last_step = await loop_step(fleet, fleet, at, at + step, offload=True)
        except BaseException:
            fleet.release()  # the pass failed between its snapshot and its plan
            raise
        return self.last_step

    async def poll(self) -> int:
        """Read the VTN's events once (0 without a VEN); how many were new or changed."""
        if self.follower is None:
            return 0
        return await self.follower.poll(self.clock.now())

    async def settle(self) -> list[SettlementRecord]:
        """Settle and report every event over by now that has no settlement yet."""
        if self.follower is None:
            return []
        return await self.follower.settle_due(self.clock.now())

    # ------------------------------------------------------------------------------------------- tasks
    async def _aggregate(self) -> None:
        _, fleet = self._require()
        step = pd.Timedelta(minutes=self.config.step_minutes)
        if self.follower is not None:  # a new leader's first plan heeds the events the VTN has now
            try:
                await asyncio.wait_for(self.poll(), timeout=max(self.config.ven.poll_seconds, 10.0))
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                LOGGER.warning("VEN poll before the first plan failed: %s", exc)
        while True:
            try:
                await run_loop(self.clock, fleet, fleet, step_minutes=self.config.step_minutes, until=FAR_FUTURE,
                               offload=True)
            except asyncio.CancelledError:
                fleet.release()  # stopped (or leadership lost) between a snapshot and its plan
                raise
            except Exception:
                fleet.release()
                LOGGER.exception("aggregator pass failed; trying again at the next step")
                await self.clock.sleep_until(self.clock.now().floor(step) + step)

    def _arrived(self, charge_point_id: str) -> None:
        self._arrival.set()

    async def _replan_on_arrival(self) -> None:
        """A transaction started: re-plan the current step at once (one pass for a burst of starts)."""
        while True:
            await self._arrival.wait()
            await asyncio.sleep(1.0)  # let a burst of starts (a depot at shift change) arrive first
            self._arrival.clear()
            try:
                await self.tick()
            except Exception:
                LOGGER.exception("re-plan after a transaction start failed")

    async def _follow(self) -> None:
        while True:
            try:
                await self.poll()
                await self.settle()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                LOGGER.warning("VEN poll failed: %s", exc)
            await asyncio.sleep(self.config.ven.poll_seconds)

    async def _elect(self) -> None:
        """Every ``leader_retry_seconds``: standing by, try to take the leader lock (and lead once it is taken);
        leading, check that the lock is still held (and stand by once it is not)."""
        lock = self.leader_lock
        assert lock is not None
        while True:
            try:
                if not self.leading:
                    self._lock_op = asyncio.ensure_future(asyncio.to_thread(lock.acquire))
                    got = await asyncio.shield(self._lock_op)
                    self._lock_op = None
                    if got:
                        self._start_leading()
                else:
                    self._lock_op = asyncio.ensure_future(asyncio.to_thread(lock.check))
                    held = await asyncio.shield(self._lock_op)
                    self._lock_op = None
                    if not held:
                        LOGGER.warning("%s: leader lock lost; standing by", self.process_name)
                        await self._stop_leading()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self._lock_op = None
                LOGGER.warning("leader lock: %s", exc)
            await asyncio.sleep(self.config.leader_retry_seconds)

    def _start_leading(self) -> None:
        LOGGER.info("%s leads: runs the aggregator loop%s", self.process_name,
                    " and the VEN poller" if self.follower is not None else "")
        self.leading = True
        self._sessions_marker = None
        self._arrival.clear()  # the loop's first pass plans every open session
        self._leader_tasks = [asyncio.create_task(self._aggregate()),
                              asyncio.create_task(self._replan_on_arrival())]
        if self.follower is not None:
            self._leader_tasks.append(asyncio.create_task(self._follow()))

    async def _stop_leading(self) -> None:
        tasks, self._leader_tasks = self._leader_tasks, []
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self.leading = False

    async def _watch_plans(self) -> None:
        """Every ``plan_poll_seconds``.  Standing by (or not an aggregator): a plan newer than the last one this
        process sent goes, from the current step, to the charge points connected here that have not had it.
        Leading: the leader sends its own plans as it makes them (not again here); a session started or stopped
        at another process (the store's sessions changed) asks for a re-plan, as a start here does."""
        store, fleet = self._require()
        while True:
            try:
                if self.leading:
                    marker = await asyncio.to_thread(store.sessions_marker)
                    if self._sessions_marker is not None and marker != self._sessions_marker:
                        self._arrival.set()
                    self._sessions_marker = marker
                else:
                    latest = await asyncio.to_thread(store.latest_plan_id)
                    if latest is not None and latest != fleet.newest_plan_id:
                        record = await asyncio.to_thread(store.latest_plan)
                        now = self.clock.now().to_pydatetime()
                        if record is not None and not self.leading:
                            fleet.newest_plan_id = record.id
                            if record.end_at > now:
                                await fleet.send(record, None, now, fresh_only=True)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                LOGGER.warning("plan watcher: %s", exc)
            await asyncio.sleep(self.config.plan_poll_seconds)

    async def _watch(self) -> None:
        """Twice a second: charge points that connected since the last look (or passed the handshake again,
        however quickly they came back) get the current plan."""
        _, fleet = self._require()
        assert self.csms is not None
        while True:
            now = self.csms.connections()  # a reconnect within the second is a new connection number
            fresh = {cp for cp, number in now.items() if self._known.get(cp) != number}
            fresh |= self._reconnecting & set(now)
            self._reconnecting -= fresh
            for cp in sorted(fresh):
                try:
                    await fleet.resend(cp, self.clock.now().to_pydatetime())
                except Exception as exc:
                    LOGGER.warning("%s: plan not re-sent: %s", cp, exc)
            self._known = now
            await asyncio.sleep(0.5)

    # ------------------------------------------------------------------------------------------- set-up
    def _credentials(self, store: Store) -> Credentials:
        cfg = self.config
        generated = []
        password = cfg.dashboard.password
        if password is None:
            password, new = shared_secret(store, "dashboard-password")
            if new:
                generated.append(f"dashboard user {cfg.dashboard.user!r}, password {password}")
        token, new = shared_secret(store, "api-token")
        if new:
            generated.append(f"API bearer token {token}")
        key_text = cfg.vtn.key or os.environ.get("VGI_SERVICE_KEY")
        if not key_text:
            key_text, _ = shared_secret(store, "vtn-key")
        return Credentials(cfg.dashboard.user, password, token, key_text.encode("utf-8"), generated)

    def _sync_charge_points(self, store: Store) -> None:
        for cp in self.config.charge_points:
            store.upsert_charge_point(cp.id, password=cp.resolved_password(), site_id=cp.site,
                                      max_charge_kw=cp.max_charge_kw, max_discharge_kw=cp.max_discharge_kw)

    # ------------------------------------------------------------------------------------------- HTTP
    def _authorised(self, request: Request) -> None:
        creds = self.credentials
        assert creds is not None
        scheme, _, value = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() == "bearer" and hmac.compare_digest(value.strip().encode(), creds.api_token.encode()):
            return
        if scheme.lower() == "basic":
            try:
                user, _, password = base64.b64decode(value.strip(), validate=True).decode("utf-8").partition(":")
            except (binascii.Error, UnicodeDecodeError):
                user, password = "", ""
            if (hmac.compare_digest(user.encode(), creds.dashboard_user.encode())
                    and hmac.compare_digest(password.encode(), creds.dashboard_password.encode())):
                return
        raise HTTPException(401, "credentials required", headers={"WWW-Authenticate": 'Basic realm="vgi"'})

    def _make_app(self) -> FastAPI:
        assert self.credentials is not None and self.store is not None
        app = FastAPI(title="vgi live service", docs_url=None, redoc_url=None, openapi_url=None)
        auth = Depends(self._authorised)

        @app.get("/", response_class=HTMLResponse, dependencies=[auth])
        def dashboard() -> HTMLResponse:
            return HTMLResponse(DASHBOARD_HTML, headers={"Cache-Control": "no-store"})

        @app.get("/api/state", dependencies=[auth])
        async def api_state() -> dict[str, Any]:
            if self.backend is not None:
                await self.backend.flush()
            return await asyncio.to_thread(self.state)

        if self.config.vtn.enabled:
            clients = [ClientConfig(c.client_id, c.secret, c.role, c.ven_name) for c in self.config.vtn.clients]
            app.mount("/openadr", create_vtn_app(self.store.documents, clients, key=self.credentials.vtn_key,
                                                 token_lifetime_s=self.config.vtn.token_lifetime_s,
                                                 api_docs=False))  # every route but discovery needs credentials
        return app

    # ------------------------------------------------------------------------------------------- state
    def state(self) -> dict[str, Any]:
        """What ``/api/state`` answers (times ISO 8601 UTC, power kW, energy kWh)."""
        store, fleet = self._require()
        cfg = self.config
        now = self.clock.now()
        step = pd.Timedelta(minutes=cfg.step_minutes)
        connected = self.csms.connected() if self.csms is not None else {}
        statuses = store.evse_statuses()
        cps = []
        for cp in store.charge_points():
            cps.append({
                "id": cp.id, "site": cp.site_id, "connected": cp.id in connected,
                "protocol": connected.get(cp.id, cp.protocol), "vendor": cp.vendor, "model": cp.model,
                "last_seen_at": _iso(cp.last_seen_at),
                "statuses": [{"evse_id": s.evse_id, "connector_id": s.connector_id, "status": s.status,
                              "at": _iso(s.at)} for s in statuses if s.charge_point_id == cp.id],
                "profiles": [{"evse_id": evse, "status": status} for (c, evse), status in sorted(fleet.sent.items())
                             if c == cp.id],
            })
        sessions = []
        for s in store.open_sessions():
            readings = [r for r in store.meter_values(charge_point_id=s.charge_point_id,
                                                      transaction_id=s.transaction_id, measurand=ENERGY_REGISTER)
                        if r.phase is None]
            last_wh = readings[-1].value * (1000.0 if readings[-1].unit == "kWh" else 1.0) if readings else None
            sessions.append({
                "charge_point_id": s.charge_point_id, "evse_id": s.evse_id, "transaction_id": s.transaction_id,
                "started_at": _iso(s.started_at), "departure_at": _iso(s.departure_at),
                "energy_kwh": 0.0 if last_wh is None else max(last_wh - s.meter_start_wh, 0.0) / 1000.0,
            })
        plan = None
        record = store.latest_plan()
        if record is not None:
            aggregate = np.asarray(record.meta.get("aggregate_kw") or np.asarray(record.power_kw).sum(axis=0))
            index = record.step_index(now.to_pydatetime())
            plan = {"id": record.id, "created_at": _iso(record.created_at),
                    "grid_start_at": _iso(record.grid_start_at), "step_s": record.step_s,
                    "aggregate_kw": [round(float(v), 6) for v in aggregate],
                    "now_kw": None if index is None else round(float(aggregate[index]), 6),
                    "n_sessions": len(record.keys)}
        end = now.floor(step)
        grid = TimeGrid(end - pd.Timedelta(hours=METERED_HOURS), end, cfg.step_minutes, cfg.timezone)
        still_open = {(str(s["charge_point_id"]), int(s["evse_id"])) for s in sessions}  # type: ignore[call-overload]
        metered = metered_kw(store.meter_values(grid.start.to_pydatetime(), (now + step).to_pydatetime(),
                                                measurand=ENERGY_REGISTER), grid, still_open)
        settlements = store.settlements()
        return {
            "now": _iso(now), "step_minutes": cfg.step_minutes, "mode": cfg.mode, "tariff": cfg.tariff,
            "charge_points": cps, "sessions": sessions, "plan": plan,
            "event": self._event_state(store, now, settlements),
            "metered": {"start": _iso(grid.start), "step_s": cfg.step_minutes * 60,
                        "power_kw": [None if not np.isfinite(v) else round(float(v), 6) for v in metered]},
            "settlements": [{"event_id": s.event_id, "programme_id": s.programme_id, "start_at": _iso(s.start_at),
                             "delivered_kwh": s.delivered_kwh, "payment": s.payment, "penalty": s.penalty,
                             "currency": s.currency} for s in settlements[-10:]],
            "last_plan_at": None if fleet.last_plan is None else _iso(fleet.last_plan.grid_start_at),
            "process": self.process_name, "leader": self.leading, "leader_process": self._leader_name(),
        }

    def _leader_name(self) -> str | None:
        """``<host>:<pid>`` of the process leading the fleet's loop (None: none leads, or it cannot be told)."""
        if self.leading:
            return self.process_name
        if self.leader_lock is None:
            return None
        try:
            return self.leader_lock.holder()
        except Exception as exc:
            LOGGER.info("leader not known: %s", exc)
            return None

    def _event_state(self, store: Store, now: pd.Timestamp, settlements: list[SettlementRecord]
                     ) -> dict[str, Any] | None:
        if self.follower is None or self.fleet is None:
            return None
        horizon_end = now + pd.Timedelta(hours=self.config.horizon_hours)
        chosen: GridEventRecord | None = None
        for record in store.events(source=self.follower.source):
            if record.active_at(now.to_pydatetime()) or (now < pd.Timestamp(record.start_at) < horizon_end):
                chosen = record
                break
        if chosen is None:
            return None
        step = pd.Timedelta(minutes=self.config.step_minutes)
        start = pd.Timestamp(chosen.start_at).floor(step)
        end = pd.Timestamp(chosen.end_at).ceil(step) if chosen.end_at else start + pd.Timedelta(
            hours=self.config.horizon_hours)
        grid = TimeGrid(start, end, self.config.step_minutes, self.config.timezone)
        sig = self.fleet.signals(grid, min(now, start), [chosen])
        # the level the event asks for: its DISPATCH_SETPOINT where it gives one, else its import limit
        level = None if sig is None else np.where(np.isfinite(sig.dispatch_setpoint_kw), sig.dispatch_setpoint_kw,
                                                  sig.import_limit_kw)
        target = None if level is None else [None if not np.isfinite(v) else float(v) for v in level]
        active = chosen.active_at(now.to_pydatetime())
        k = max(int((now.floor(step) - start) / step), 0) if active else 0
        baseline, baseline_start = self._baseline(store, chosen, grid, now, settlements)
        return {
            "event_id": chosen.event_id, "event_type": chosen.event_type, "program_id": chosen.program_id,
            "start": _iso(chosen.start_at), "end": _iso(chosen.end_at), "active": active, "target_kw": target,
            "target_now_kw": None if not target or k >= len(target) else target[k],
            "baseline_kw": baseline, "baseline_start": baseline_start,
            "baseline_now_kw": None if not baseline or k >= len(baseline) else baseline[k],
        }

    def _baseline(self, store: Store, event: GridEventRecord, grid: TimeGrid, now: pd.Timestamp,
                  settlements: list[SettlementRecord]) -> tuple[list[float] | None, str | None]:
        """The event's baseline: the settlement's once settled, else the programme's rule on the metered load so
        far (None where the programme or the data do not give one yet)."""
        for s in reversed(settlements):
            if s.event_id == event.event_id:
                return [float(v) for v in s.baseline_kw], _iso(s.start_at)
        if self.config.settle_programme is None or now <= grid.start:
            return None, None
        from vgi.dr.baselines import baseline_for
        from vgi.dr.programmes import get_programme

        prog = get_programme(self.config.settle_programme)
        lookback = pd.Timedelta(days=(prog.baseline.lookback_days or 1) + 1)
        step = pd.Timedelta(minutes=self.config.step_minutes)
        history_grid = TimeGrid(grid.start - lookback, max(now.floor(step), grid.start + step),
                                self.config.step_minutes, self.config.timezone)
        still_open = {(s.charge_point_id, s.evse_id) for s in store.open_sessions()}
        history = metered_kw(store.meter_values(history_grid.start.to_pydatetime(), (now + step).to_pydatetime(),
                                                measurand=ENERGY_REGISTER), history_grid, still_open).dropna()
        try:
            result = baseline_for(prog, history, grid.start, grid.end)
        except VgiError as exc:
            LOGGER.info("no baseline yet for event %s: %s", event.event_id, exc)
            return None, None
        series = result.baseline_kw
        return [float(v) for v in series], _iso(series.index[0])


def _check_references(cfg: ServiceConfig) -> None:
    """The tariff and the settlement programme exist (a one-line error naming the key otherwise)."""
    from vgi.dr.programmes import get_programme
    from vgi.io.tariff_library import get_tariff

    try:
        get_tariff(cfg.tariff)
    except VgiError as exc:
        raise VgiError(f"configuration key tariff: {exc}") from None
    if cfg.settle_programme is not None:
        try:
            get_programme(cfg.settle_programme)
        except VgiError as exc:
            raise VgiError(f"configuration key settle_programme: {exc}") from None


def _iso(value: datetime | pd.Timestamp | None) -> str | None:
    if value is None:
        return None
    return pd.Timestamp(value).tz_convert("UTC").isoformat().replace("+00:00", "Z")


def build_service(config: ServiceConfig | None = None, clock: Clock | None = None) -> Service:
    """A :class:`Service` for ``config`` (default: every default) on ``clock`` (default: the wall clock)."""
    return Service(config or ServiceConfig(), clock)
