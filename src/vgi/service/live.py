"""The live aggregator's shell: snapshots from the database, plans to charge points, events from the grid.

* :class:`LiveFleet` is the :class:`~vgi.aggregator.driver.FleetSource` and the
  :class:`~vgi.aggregator.driver.Actuator` of :func:`vgi.aggregator.driver.run_loop` on the real clock.  Its
  snapshot holds the open sessions (arrival = the transaction's start, departure = the driver's or
  ``defaults.dwell_hours`` later), the battery energy gained so far from each session's energy register, the
  tariff's prices overridden by OpenADR PRICE / EXPORT_PRICE, and :class:`~vgi.schedule.terms.CouplingTerms` from
  the configured site limits, the OpenADR IMPORT/EXPORT_CAPACITY_LIMIT (fleet limits) and DISPATCH_SETPOINT (the
  fleet's target curve in its steps, each kWh off it priced at ``dispatch_penalty_per_kwh``, none elsewhere).
  ``apply`` saves the plan and sends each connected charge point's EVSEs their setpoints for the whole horizon as a
  TxDefaultProfile (a charge point cut off from the service keeps following it; in a step a car is plugged in for
  part of, the power to draw while it is there); ``resend`` sends the latest stored plan to a charge point that
  reconnects.
* :class:`EventFollower` polls the VTN through a :class:`~vgi.service.openadr.ven.VenClient`, keeps the events in
  the store, and when an event is over settles it from the metered energy with the programme's baseline (earlier
  event days excluded) and reports the usage back to the VTN.
* :func:`metered_kw` turns energy-register readings into mean power per step (pure).
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd

from vgi.aggregator.core import Plan
from vgi.aggregator.dispatch import dispatch_penalties
from vgi.aggregator.snapshot import FleetSnapshot, battery_gain_kwh, snapshot_at
from vgi.errors import VgiError
from vgi.model.sessions import sessions_from_frame
from vgi.model.timegrid import TimeGrid
from vgi.schedule.prices import PriceInputs
from vgi.schedule.terms import CouplingTerms
from vgi.service.backend import ENERGY_REGISTER
from vgi.service.config import ServiceConfig
from vgi.service.ocpp import Csms, SetpointSeries
from vgi.service.ocpp.csms import OcppCallError
from vgi.service.ocpp.profiles import ProfileError
from vgi.service.openadr.models import Event as AdrEvent
from vgi.service.openadr.models import Program, to_wire
from vgi.service.openadr.signals import GridSignals, grid_signals, usage_report
from vgi.service.openadr.timing import event_end_s, event_spans
from vgi.service.openadr.ven import VenClient
from vgi.service.store import GridEventRecord, MeterReading, PlanRecord, SessionRecord, SettlementRecord, Store

__all__ = ["EXPORT_REGISTER", "EventFollower", "LiveFleet", "metered_kw", "plan_grid"]

LOGGER = logging.getLogger("vgi.service.live")
EXPORT_REGISTER = "Energy.Active.Export.Register"
#: profile id of the plan on each EVSE: a new plan replaces the old one instead of stacking on it
PLAN_PROFILE_ID_BASE = 7000


def plan_grid(config: ServiceConfig, at: pd.Timestamp) -> TimeGrid:
    """The plan's grid: ``horizon_hours`` of ``step_minutes`` steps from ``at`` (a step boundary)."""
    return TimeGrid(at, at + pd.Timedelta(hours=config.horizon_hours), config.step_minutes, config.timezone)


def metered_kw(readings: Iterable[MeterReading], grid: TimeGrid, still_open: Iterable[tuple[str, int]] = ()
               ) -> pd.Series:
    """Mean power per step of ``grid`` (kW) of all EVSEs together, from energy-register readings (Wh).

    Each EVSE's register is interpolated linearly between its readings at the step boundaries.  Before its first
    reading an EVSE drew nothing; after its last one it is flat unless it is in ``still_open`` (an open session
    whose later readings have not arrived): those steps are NaN, missing rather than guessed.
    """
    bounds = np.append(grid.epoch_seconds.astype(float), grid.epoch_seconds[-1] + grid.step_minutes * 60.0)
    total = np.zeros(grid.n_steps)
    by_evse: dict[tuple[str, int], list[tuple[float, float]]] = {}
    for r in readings:
        if r.measurand != ENERGY_REGISTER or r.phase is not None:
            continue
        wh = r.value * (1000.0 if r.unit == "kWh" else 1.0)
        by_evse.setdefault((r.charge_point_id, r.evse_id), []).append((r.at.timestamp(), wh))
    open_keys = set(still_open)
    for key, points in by_evse.items():
        points.sort()
        t = np.array([p[0] for p in points])
        values_wh = np.array([p[1] for p in points])
        register = np.interp(bounds, t, values_wh)  # flat before the first and after the last reading
        if key in open_keys:
            register[bounds > t[-1]] = np.nan
        total += np.diff(register)
    return pd.Series(total / 1000.0 / grid.step_hours, index=grid.utc_index, name="metered_kw")


def _stored_event(record: GridEventRecord) -> AdrEvent | None:
    try:
        return AdrEvent.model_validate(dict(record.payload))
    except Exception:  # an event stored by another source, not an OpenADR document
        return None


@dataclass(eq=False)
class LiveFleet:
    """The live :class:`~vgi.aggregator.driver.FleetSource` and :class:`~vgi.aggregator.driver.Actuator`."""

    store: Store
    csms: Csms | None
    config: ServiceConfig
    events_source: str | None = None
    sent: dict[tuple[str, int], str] = field(default_factory=dict)
    last_plan: PlanRecord | None = None
    #: id of the newest stored plan this process made or sent on (the plan watcher sends a newer one)
    newest_plan_id: int | None = None
    #: id of the plan each charge point connected here was last sent
    plan_sent: dict[str, int] = field(default_factory=dict)
    #: held from a snapshot until its plan is applied, so that two passes (the loop's, and one a newly started
    #: transaction asks for) never interleave and an older snapshot's plan never replaces a newer one's
    pass_lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    #: awaited before a snapshot reads the store: commits the meter values received so far (the batcher's flush)
    flush: Callable[[], Awaitable[None]] | None = None

    #: ``<host>:<pid>`` of this process, kept in each plan's meta as ``process`` (who made it)
    process: str | None = None

    _holder: asyncio.Task[Any] | None = None

    def release(self) -> None:
        """Give up the pass lock if this task holds it (after a pass failed between its snapshot and its plan)."""
        if self.pass_lock.locked() and self._holder is asyncio.current_task():
            self._holder = None
            self.pass_lock.release()

    # ------------------------------------------------------------------------------------------- snapshot
    def _read(self, at: pd.Timestamp) -> tuple[list[SessionRecord], dict[str, Any], np.ndarray, np.ndarray,
                                                list[GridEventRecord]]:
        # a car plugged in during the first step is planned from its arrival
        first_step_end = (at + pd.Timedelta(minutes=self.config.step_minutes)).to_pydatetime()
        sessions = [s for s in self.store.open_sessions() if s.started_at < first_step_end]
        cps = {cp.id: cp for cp in self.store.charge_points()}
        imported = np.zeros(len(sessions))
        exported = np.zeros(len(sessions))
        # the latest import register of every session, in one read of the last hour; a session with no reading in
        # it (a charge point that reports seldom) is read on its own
        upto = (at + pd.Timedelta(milliseconds=1)).to_pydatetime()  # a reading at `at` itself counts
        recent = self.store.meter_frame((at - pd.Timedelta(hours=1)).to_pydatetime(), upto, measurand=ENERGY_REGISTER)
        recent = recent[recent["phase"].isna()]
        latest = recent.groupby(["charge_point_id", "transaction_id"], sort=False)["value"].last().to_dict()
        for i, s in enumerate(sessions):
            wh = latest.get((s.charge_point_id, s.transaction_id))
            if wh is None:
                found = [r for r in self.store.meter_values(end=upto, charge_point_id=s.charge_point_id,
                                                            transaction_id=s.transaction_id, measurand=ENERGY_REGISTER)
                         if r.phase is None]
                wh = found[-1].value if found else None
            if wh is not None:  # registers are stored in Wh (the CSMS normalises kWh)
                imported[i] = max(float(wh) - s.meter_start_wh, 0.0) / 1000.0
            if self.config.mode == "v2g":
                back = [r for r in self.store.meter_values(end=upto, charge_point_id=s.charge_point_id,
                                                           transaction_id=s.transaction_id, measurand=EXPORT_REGISTER)
                        if r.phase is None]
                if back:
                    exported[i] = max(back[-1].value - back[0].value, 0.0) / 1000.0
        events = self.store.events(source=self.events_source) if self.events_source else []
        return sessions, cps, imported, exported, events

    def signals(self, grid: TimeGrid, at: pd.Timestamp, events: Sequence[GridEventRecord]) -> GridSignals | None:
        """The OpenADR signals of the stored events on ``grid`` (None when no event was received)."""
        parsed = [e for e in (_stored_event(r) for r in events if not r.cancelled) if e is not None]
        if not parsed:
            return None
        return grid_signals(parsed, grid, at)  # only the followed programmes' events are stored

    async def snapshot(self, at: pd.Timestamp) -> FleetSnapshot:
        """The fleet at ``at`` as the database knows it."""
        at = pd.Timestamp(at).tz_convert("UTC")
        await self.pass_lock.acquire()
        self._holder = asyncio.current_task()
        try:
            if self.flush is not None:
                await self.flush()
            sessions, cps, imported, exported, events = await asyncio.to_thread(self._read, at)
            return self.build_snapshot(at, sessions, cps, imported, exported, events)
        except BaseException:
            self.release()
            raise

    def build_snapshot(self, at: pd.Timestamp, sessions: Sequence[SessionRecord], cps: dict[str, Any],
                       imported_kwh: np.ndarray, exported_kwh: np.ndarray, events: Sequence[GridEventRecord]
                       ) -> FleetSnapshot:
        """The snapshot from what was read (pure apart from the tariff library)."""
        from vgi.io.tariff_library import get_tariff
        from vgi.model.tariffs import tariff_prices

        cfg, d = self.config, self.config.defaults
        grid = plan_grid(cfg, at)
        step = pd.Timedelta(minutes=cfg.step_minutes)
        rows: list[dict[str, Any]] = []
        for s in sessions:
            cp = cps.get(s.charge_point_id)
            departure = pd.Timestamp(s.departure_at) if s.departure_at else (
                pd.Timestamp(s.started_at) + pd.Timedelta(hours=d.dwell_hours))
            departure = min(max(departure, at + step), grid.end)  # overstayed: one more step; beyond: the horizon
            energy = s.energy_wanted_kwh if s.energy_wanted_kwh is not None else d.energy_kwh
            max_kw = cp.max_charge_kw if cp is not None and cp.max_charge_kw else d.max_charge_kw
            discharge_kw = (cp.max_discharge_kw or 0.0) if cp is not None and cfg.mode == "v2g" else 0.0
            rows.append({
                "session_id": f"{s.charge_point_id}/{s.evse_id}/{s.transaction_id}",
                "site_id": (cp.site_id if cp is not None and cp.site_id else "site"),
                "arrival": pd.Timestamp(s.started_at), "departure": departure, "energy_kwh": energy,
                "battery_kwh": d.battery_kwh, "initial_soc": min(d.initial_soc, max(1.0 - energy / d.battery_kwh, 0.0)),
                "max_charge_kw": max_kw, "max_discharge_kw": discharge_kw, "charge_efficiency": d.charge_efficiency,
                "discharge_efficiency": d.discharge_efficiency, "v2g": discharge_kw > 0, "timezone": cfg.timezone,
            })
        columns = ["session_id", "site_id", "arrival", "departure", "energy_kwh", "battery_kwh", "initial_soc",
                   "max_charge_kw", "max_discharge_kw", "charge_efficiency", "discharge_efficiency", "v2g",
                   "timezone"]
        frame = pd.DataFrame(rows, columns=columns)
        if not rows:
            frame["arrival"] = pd.to_datetime(frame["arrival"], utc=True)
            frame["departure"] = pd.to_datetime(frame["departure"], utc=True)
        table = sessions_from_frame(frame, source="open sessions")
        gained = battery_gain_kwh(imported_kwh, exported_kwh, np.full(len(rows), d.charge_efficiency),
                                  np.full(len(rows), d.discharge_efficiency))
        tariff = get_tariff(cfg.tariff)
        pv = tariff_prices(tariff, grid.utc_index)
        buy, sell = np.asarray(pv.import_price, dtype=float), np.asarray(pv.export_price, dtype=float)
        sig = self.signals(grid, at, events)
        terms = CouplingTerms(site_limit_kw=dict(cfg.site_limits_kw) or None)
        if sig is not None:
            buy = np.where(np.isfinite(sig.import_price_per_kwh), sig.import_price_per_kwh, buy)
            sell = np.where(np.isfinite(sig.export_price_per_kwh), sig.export_price_per_kwh, sell)
            import_limit = sig.import_limit_kw
            changes: dict[str, Any] = {}
            # steps no event limits: a level the fleet cannot reach
            far = 10.0 * sum(r["max_charge_kw"] + r["max_discharge_kw"] for r in rows) + 1.0
            if np.isfinite(import_limit).any():
                changes["fleet_import_limit_kw"] = np.where(np.isfinite(import_limit), import_limit, far)
            if np.isfinite(sig.export_limit_kw).any():
                changes["fleet_export_limit_kw"] = np.where(np.isfinite(sig.export_limit_kw), sig.export_limit_kw,
                                                            far)
            setpoint = sig.dispatch_setpoint_kw  # NaN where no event asks for a level
            if cfg.mode == "v1g":
                setpoint = np.maximum(setpoint, 0.0)  # a V1G fleet cannot export; NaN stays NaN
            if np.isfinite(setpoint).any():
                # the curve to follow in its steps only; a driver's need still comes first
                penalty, unmet = dispatch_penalties(PriceInputs(buy, sell, tariff.currency), d.charge_efficiency,
                                                    cfg.dispatch_penalty_per_kwh)
                changes.update(target_kw=setpoint, over_penalty_per_kwh=penalty, under_penalty_per_kwh=penalty,
                               unmet_penalty_per_kwh=unmet)
            terms = terms.with_(**changes)
        prices = PriceInputs(buy, sell, tariff.currency)
        return snapshot_at(table, grid, at, prices, terms, mode=cfg.mode, gained_kwh=gained)

    # --------------------------------------------------------------------------------------------- actuator
    async def apply(self, plan: Plan, until: pd.Timestamp) -> None:
        """Save ``plan`` and send every connected charge point its EVSEs' setpoints for the plan's horizon."""
        try:
            await self._apply(plan, until)
        finally:
            self.release()

    async def _apply(self, plan: Plan, until: pd.Timestamp) -> None:
        keys: list[tuple[str, int]] = []
        for sid in plan.session_id:
            cp, evse, _ = str(sid).split("/", 2)
            keys.append((cp, int(evse)))
        fleet = plan.schedule.fleet
        mean_kw = np.asarray(plan.schedule.net_kw, dtype=float).reshape(len(keys), fleet.n_steps)
        # the plan's power is a mean over each step; a car plugged in for part of a step (it arrives or leaves
        # in it) is told the power to draw while it is there, so that the step's energy is the plan's
        share = fleet.availability()
        power = np.where(share > 0, mean_kw / np.where(share > 0, share, 1.0), 0.0)
        power = np.clip(power, -fleet.max_discharge_kw[:, None], fleet.max_charge_kw[:, None])
        grid = fleet.grid
        meta = {"n_sessions": len(keys), "objective": float(plan.schedule.stats.get("objective", 0.0)),
                "aggregate_kw": mean_kw.sum(axis=0).round(6).tolist(), "until": pd.Timestamp(until).isoformat()}
        if self.process is not None:
            meta["process"] = self.process
        record = await asyncio.to_thread(self.store.save_plan, grid.start.to_pydatetime(), grid.step_minutes * 60,
                                         keys, power, meta=meta)
        self.last_plan = record
        self.newest_plan_id = record.id
        await self.send(record, None)

    async def send(self, record: PlanRecord, only: str | None, at: datetime | None = None, *,
                   fresh_only: bool = False) -> None:
        """Send the rows of ``record`` (of charge point ``only`` when given) from the step holding ``at`` to the
        charge points connected to this process (with ``fresh_only``, to those not yet sent this plan)."""
        if self.csms is None:
            return
        connected = self.csms.connected()
        first = 0 if at is None else (record.step_index(at) or 0)
        start = record.grid_start_at + pd.Timedelta(seconds=record.step_s * first).to_pytimedelta()
        had = {cp for cp, plan_id in self.plan_sent.items() if plan_id == record.id} if fresh_only else set()
        jobs = []
        for row, (cp, evse) in enumerate(record.keys):
            if cp not in connected or (only is not None and cp != only) or cp in had:
                continue
            self.plan_sent[cp] = record.id
            series = SetpointSeries.of(start, record.step_s, [float(v) for v in record.power_kw[row, first:]])
            jobs.append(self._send_one(cp, evse, series, connected[cp]))
        await asyncio.gather(*jobs)

    async def _send_one(self, cp: str, evse: int, series: SetpointSeries, version: str) -> None:
        try:
            result = await self.csms.send_profile(  # type: ignore[union-attr]
                cp, evse, series, purpose="TxDefaultProfile", profile_id=PLAN_PROFILE_ID_BASE + evse,
                discharge="clamp" if version != "2.1" else "refuse")
            self.sent[(cp, evse)] = result.status
            if not result.accepted:
                LOGGER.warning("%s EVSE %d: charging profile %s", cp, evse, result.status)
        except (OcppCallError, ProfileError) as exc:
            self.sent[(cp, evse)] = f"failed: {exc}"
            LOGGER.warning("%s EVSE %d: charging profile not delivered: %s", cp, evse, exc)

    async def resend(self, charge_point_id: str, at: datetime) -> None:
        """Send the latest stored plan (from any process) to a charge point that has just connected."""
        record = await asyncio.to_thread(self.store.latest_plan)
        if record is None or record.end_at <= at:
            return
        await self.send(record, charge_point_id, at)


@dataclass(eq=False)
class EventFollower:
    """Follows a VTN's events (saved in the store), settles them when over, and reports usage back."""

    store: Store
    ven: VenClient
    config: ServiceConfig
    programs: dict[str, Program] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)
    #: awaited before a settlement reads the metered data: commits the meter values received so far
    flush: Callable[[], Awaitable[None]] | None = None

    @property
    def source(self) -> str:
        return self.ven.base_url

    def _poll(self, now: pd.Timestamp) -> int:
        if self.ven.ven_id is None:  # register once (a VTN may target events at registered VENs only)
            try:
                self.ven.register()
            except VgiError as exc:
                LOGGER.warning("VEN %s not registered: %s", self.ven.ven_name, exc)
        ids = list(self.config.ven.program_ids)
        self.programs = {p.id: p for p in self.ven.programs() if p.id in ids}
        # programmes are followed by name or by id
        by_name = {p.program_name: p.id for p in self.ven.programs() if p.id}
        joined = [by_name.get(i, i) for i in ids]
        changed = 0
        now_s = now.timestamp()
        events = self.ven.events(joined)
        # an event the VTN no longer has (deleted: the utility called it off) is cancelled if still to come
        present = {e.id for e in events}
        for kept in self.store.events(source=self.source):
            if kept.event_id not in present and (kept.end_at is None or pd.Timestamp(kept.end_at) > now):
                changed += int(self.store.cancel_event(self.source, kept.event_id))
        for event in events:
            spans = event_spans(event, now_s)
            if not event.id or not spans:
                continue
            start_s = min(s.start_s for s in spans)
            end_s = event_end_s(event, now_s)
            types = sorted({p.type for iv in event.intervals for p in iv.payloads})
            wire = to_wire(event)
            stored = self.store.event(self.source, event.id)
            if stored is not None and dict(stored.payload) == wire:
                continue
            # a changed event (the VTN stamps a new modificationDateTime) replaces the stored one
            number = 0 if stored is None else stored.modification_number + 1
            _, did = self.store.save_event(
                self.source, event.id, ",".join(types) or "EVENT",
                pd.Timestamp(start_s, unit="s", tz="UTC").to_pydatetime(),
                None if not math.isfinite(end_s) else pd.Timestamp(end_s, unit="s", tz="UTC").to_pydatetime(),
                program_id=event.program_id, modification_number=number,
                intervals=wire.get("intervals", []), targets=wire.get("targets", []), payload=wire)
            changed += int(did)
        return changed

    async def poll(self, now: pd.Timestamp) -> int:
        """Read the followed programmes' events and keep them; how many were new or changed."""
        return await asyncio.to_thread(self._poll, pd.Timestamp(now))

    def _settle(self, record: GridEventRecord) -> SettlementRecord:
        from vgi.aggregator.core import settle
        from vgi.dr.baselines import baseline_timezone
        from vgi.dr.events import Event, event_days
        from vgi.dr.programmes import get_programme

        assert self.config.settle_programme is not None and record.end_at is not None
        prog = get_programme(self.config.settle_programme)
        start, end = pd.Timestamp(record.start_at), pd.Timestamp(record.end_at)
        step = pd.Timedelta(minutes=self.config.step_minutes)
        lookback = pd.Timedelta(days=(prog.baseline.lookback_days or 1) + 1)
        grid = TimeGrid((start - lookback).floor(step), end.ceil(step), self.config.step_minutes,
                        self.config.timezone)
        # a reading at or after the window's end is needed to know the last step's energy
        readings = self.store.meter_values(grid.start.to_pydatetime(), (grid.end + step).to_pydatetime(),
                                           measurand=ENERGY_REGISTER)
        still_open = {(s.charge_point_id, s.evse_id) for s in self.store.open_sessions()}
        metered = metered_kw(readings, grid, still_open)
        adr = _stored_event(record)
        price = None
        if adr is not None:
            prices = [float(v) for iv in adr.intervals for p in iv.payloads if p.type == "PRICE" for v in p.values
                      if isinstance(v, int | float)]
            price = float(np.mean(prices)) if prices else None
        event = Event(start, end, 0.0, "down", price, record.event_id)
        earlier = [Event(pd.Timestamp(e.start_at), pd.Timestamp(e.end_at), 0.0, event_id=e.event_id)
                   for e in self.store.events(source=record.source)
                   if e.end_at is not None and e.start_at < record.start_at and e.event_id != record.event_id]
        # earlier event days are not normal days: the local dates they cover where the baseline takes its days
        days = event_days(earlier, baseline_timezone(prog) or prog.timezone)
        result = settle(prog, event, metered.dropna(), exclude_days=days, uncommitted=True)
        assert result.baseline is not None
        baseline = result.baseline.baseline_kw
        measured = metered.reindex(baseline.index)
        return self.store.save_settlement(
            prog.id, record.event_id, baseline.index[0].to_pydatetime(), int(step.total_seconds()),
            baseline.to_numpy(dtype=float), measured.to_numpy(dtype=float), delivered_kwh=result.response_kwh,
            payment=result.payments, penalty=result.penalties, currency=result.currency,
            details={"paid_kwh": result.paid_kwh, "baseline_method": result.baseline.method,
                     "excluded_days": [d.isoformat() for d in days], "notes": list(result.notes),
                     "source": record.source})

    def _report(self, record: GridEventRecord, settled: SettlementRecord) -> None:
        n = len(settled.measured_kw)
        start = pd.Timestamp(settled.start_at)
        grid = TimeGrid(start, start + pd.Timedelta(seconds=settled.step_s * n), settled.step_s // 60,
                        self.config.timezone)
        report = usage_report(grid, record.event_id, self.config.ven.ven_name, power_kw=list(settled.measured_kw),
                              program_id=record.program_id, report_name=f"usage-{record.event_id}")
        payload = to_wire(report)
        saved = self.store.save_report(self.source, grid.start.to_pydatetime(), grid.end.to_pydatetime(), payload,
                                       program_id=record.program_id, event_id=record.event_id,
                                       report_name=report.report_name)
        self.ven.post_report(report)
        self.store.mark_report_sent(saved.id, pd.Timestamp.now(tz="UTC").to_pydatetime())

    def _settle_due(self, now: pd.Timestamp) -> list[SettlementRecord]:
        if self.config.settle_programme is None:
            return []
        out = []
        for record in self.store.events(source=self.source):
            if record.end_at is None or pd.Timestamp(record.end_at) > now or record.event_id in self.failed:
                continue
            if self.store.settlements(event_id=record.event_id):
                continue
            try:
                settled = self._settle(record)
            except VgiError as exc:
                self.failed[record.event_id] = str(exc)
                LOGGER.warning("event %s not settled: %s", record.event_id, exc)
                continue
            out.append(settled)
            if self.config.ven.report:
                try:
                    self._report(record, settled)
                except VgiError as exc:
                    LOGGER.warning("usage report of event %s not sent: %s", record.event_id, exc)
        return out

    async def settle_due(self, now: pd.Timestamp) -> list[SettlementRecord]:
        """Settle (and report) every stored event that ended by ``now`` and has no settlement yet."""
        if self.flush is not None:
            await self.flush()
        return await asyncio.to_thread(self._settle_due, pd.Timestamp(now))

