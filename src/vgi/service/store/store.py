"""The store: charge points, EVSE status, sessions, meter values, plans, grid events, reports and settlements.

:class:`Store` is a thin typed shell over SQLAlchemy. Every method opens its own short transaction and returns
frozen records (:mod:`vgi.service.store.records`), so one :class:`Store` may be shared by many threads. From an
asyncio service call it through a worker thread, never directly on the event loop::

    store = Store.open("sqlite:///vgi.db")
    new = await asyncio.to_thread(store.add_meter_values, readings)

The engine's pool holds the connections (SQLite: one writer at a time, queued by ``BEGIN IMMEDIATE`` with a busy
timeout; PostgreSQL: row-level locking, ``ON CONFLICT`` for the idempotent writes).
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Engine, delete, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError, OperationalError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from vgi.service.store import migrate
from vgi.service.store.documents import SqlDocumentStore
from vgi.service.store.engine import DEFAULT_URL, StoreError, make_engine
from vgi.service.store.models import (
    ChargePoint,
    ChargingSession,
    EvseStatus,
    GridEvent,
    MeterValue,
    Plan,
    PlanSetpoint,
    Report,
    Settlement,
)
from vgi.service.store.passwords import hash_password, verify_password
from vgi.service.store.records import (
    ChargePointRecord,
    EvseStatusRecord,
    GridEventRecord,
    MeterReading,
    PlanRecord,
    ReportRecord,
    SessionRecord,
    SettlementRecord,
)

METER_BATCH_ROWS = 1000
"""Meter values are inserted in statements of at most this many rows."""


def _now() -> datetime:
    return datetime.now(UTC)


def _aware(value: datetime, name: str) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise StoreError(f"{name} {value.isoformat()}: a time needs a UTC offset")
    return value.astimezone(UTC)


def _finite(value: float, name: str) -> float:
    number = float(value)
    if not math.isfinite(number):
        raise StoreError(f"{name} must be a finite number, got {value!r}")
    return number


def _cp_record(row: ChargePoint) -> ChargePointRecord:
    return ChargePointRecord(
        id=row.id, site_id=row.site_id, protocol=row.protocol, max_charge_kw=row.max_charge_kw,
        max_discharge_kw=row.max_discharge_kw, vendor=row.vendor, model=row.model,
        firmware_version=row.firmware_version, serial_number=row.serial_number, created_at=row.created_at,
        boot_at=row.boot_at, last_seen_at=row.last_seen_at, connected=row.connected,
        has_password=row.password_hash is not None,
    )


def _session_record(row: ChargingSession) -> SessionRecord:
    assert row.transaction_id is not None
    return SessionRecord(
        id=row.id, charge_point_id=row.charge_point_id, evse_id=row.evse_id, connector_id=row.connector_id,
        transaction_id=row.transaction_id, id_tag=row.id_tag, started_at=row.started_at, stopped_at=row.stopped_at,
        meter_start_wh=row.meter_start_wh, meter_stop_wh=row.meter_stop_wh, stop_reason=row.stop_reason,
        departure_at=row.departure_at, energy_wanted_kwh=row.energy_wanted_kwh, v2g_consent=row.v2g_consent,
    )


def _event_record(row: GridEvent) -> GridEventRecord:
    return GridEventRecord(
        id=row.id, source=row.source, program_id=row.program_id, event_id=row.event_id, event_type=row.event_type,
        modification_number=row.modification_number, start_at=row.start_at, end_at=row.end_at,
        intervals=row.intervals, targets=row.targets, payload=row.payload, cancelled=row.cancelled,
        received_at=row.received_at,
    )


def _report_record(row: Report) -> ReportRecord:
    return ReportRecord(
        id=row.id, source=row.source, program_id=row.program_id, event_id=row.event_id, report_name=row.report_name,
        start_at=row.start_at, end_at=row.end_at, payload=row.payload, created_at=row.created_at, sent_at=row.sent_at,
    )


def _settlement_record(row: Settlement) -> SettlementRecord:
    return SettlementRecord(
        id=row.id, programme_id=row.programme_id, event_id=row.event_id, site_id=row.site_id, start_at=row.start_at,
        step_s=row.step_s, baseline_kw=tuple(float(v) for v in row.baseline_kw),
        measured_kw=tuple(float(v) for v in row.measured_kw), baseline_kwh=row.baseline_kwh,
        measured_kwh=row.measured_kwh, delivered_kwh=row.delivered_kwh, payment=row.payment, penalty=row.penalty,
        currency=row.currency, details=row.details, created_at=row.created_at,
    )


def _finite_list(values: Iterable[float], name: str) -> list[float]:
    array = np.asarray(list(values), dtype=float)
    if array.ndim != 1:
        raise StoreError(f"{name} must be a flat list of numbers")
    if not np.all(np.isfinite(array)):
        raise StoreError(f"{name} must hold finite numbers only")
    return [float(v) for v in array]


class Store:
    """The service's database. Make one with :meth:`open`; share it between threads; :meth:`close` at the end."""

    def __init__(self, engine: Engine) -> None:
        """Wrap an engine whose database is already at the code's schema (use :meth:`open` to get there)."""
        self.engine = engine
        self._sessions = sessionmaker(engine, expire_on_commit=False)
        self.documents = SqlDocumentStore(engine)
        """The OpenADR VTN's documents, in the same database (:class:`vgi.service.documents.DocumentStore`)."""

    @classmethod
    def open(cls, url: str | None = None, *, schema: str | None = None, upgrade: bool = True) -> Store:
        """Open the database at ``url`` (default :data:`~vgi.service.store.engine.DEFAULT_URL`, a SQLite file).

        With ``upgrade`` (the default) Alembic first brings the schema to the newest revision; without it, a database
        that is not at that revision is refused. ``schema`` (PostgreSQL only) keeps the tables in that schema,
        which must exist.
        """
        engine = make_engine(url or DEFAULT_URL, schema=schema)
        try:
            if upgrade:
                _upgrade_waiting_for_sqlite(engine)
            else:
                current, head = migrate.current_revision(engine), migrate.head_revision()
                if current != head:
                    raise StoreError(f"database is at revision {current}, vgi needs {head}: run `vgi db upgrade`")
        except SQLAlchemyError as exc:
            engine.dispose()
            raise StoreError(f"cannot open database {engine.url.render_as_string(hide_password=True)}: "
                             f"{str(getattr(exc, 'orig', None) or exc).strip().splitlines()[0]}") from None
        except BaseException:
            engine.dispose()
            raise
        return cls(engine)

    def close(self) -> None:
        """Close every pooled connection."""
        self.engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    @property
    def dialect(self) -> str:
        """``"sqlite"`` or ``"postgresql"``."""
        return self.engine.dialect.name

    @contextmanager
    def _transaction(self) -> Iterator[Session]:
        with self._sessions() as session, session.begin():
            yield session

    def _insert(self, table: Any) -> Any:
        return (postgresql.insert if self.dialect == "postgresql" else sqlite.insert)(table)

    # ------------------------------------------------------------------------------------------- charge points

    def upsert_charge_point(
        self,
        charge_point_id: str,
        *,
        password: str | None = None,
        site_id: str | None = None,
        protocol: str | None = None,
        max_charge_kw: float | None = None,
        max_discharge_kw: float | None = None,
    ) -> ChargePointRecord:
        """Add a charge point or change it; a field left ``None`` keeps its stored value. Powers in kW (>= 0)."""
        if not charge_point_id:
            raise StoreError("a charge point needs a non-empty id")
        for name, value in (("max_charge_kw", max_charge_kw), ("max_discharge_kw", max_discharge_kw)):
            if value is not None and not (math.isfinite(value) and value >= 0):
                raise StoreError(f"charge point {charge_point_id}: {name} must be a finite number >= 0, got {value}")
        changes: dict[str, Any] = {
            "site_id": site_id, "protocol": protocol,
            "max_charge_kw": float(max_charge_kw) if max_charge_kw is not None else None,
            "max_discharge_kw": float(max_discharge_kw) if max_discharge_kw is not None else None,
            "password_hash": hash_password(password) if password is not None else None,
        }
        changes = {k: v for k, v in changes.items() if v is not None}
        for attempt in range(2):
            try:
                with self._transaction() as session:
                    row = session.get(ChargePoint, charge_point_id, with_for_update=True)
                    if row is None:
                        row = ChargePoint(id=charge_point_id, created_at=_now(), connected=False, **changes)
                        session.add(row)
                    else:
                        for key, value in changes.items():
                            setattr(row, key, value)
                    session.flush()
                    return _cp_record(row)
            except IntegrityError:
                if attempt:  # pragma: no cover - a second racing insert of the same id
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    def charge_point(self, charge_point_id: str) -> ChargePointRecord | None:
        """The charge point, or ``None`` when it is not known."""
        with self._transaction() as session:
            row = session.get(ChargePoint, charge_point_id)
            return _cp_record(row) if row is not None else None

    def charge_points(self, site_id: str | None = None) -> list[ChargePointRecord]:
        """Every charge point (of ``site_id`` when given), by id."""
        query = select(ChargePoint).order_by(ChargePoint.id)
        if site_id is not None:
            query = query.where(ChargePoint.site_id == site_id)
        with self._transaction() as session:
            return [_cp_record(row) for row in session.scalars(query)]

    def delete_charge_point(self, charge_point_id: str) -> bool:
        """Remove a charge point with its status, sessions and meter values; False when it was not known."""
        with self._transaction() as session:
            result = session.execute(delete(ChargePoint).where(ChargePoint.id == charge_point_id))
            return bool(result.rowcount)  # type: ignore[attr-defined]

    def check_password(self, charge_point_id: str, password: str) -> bool:
        """True only for a known charge point with a password set and ``password`` equal to it."""
        with self._transaction() as session:
            hashed = session.scalar(select(ChargePoint.password_hash).where(ChargePoint.id == charge_point_id))
        return hashed is not None and verify_password(password, hashed)

    def _require_cp(self, session: Session, charge_point_id: str) -> ChargePoint:
        row = session.get(ChargePoint, charge_point_id, with_for_update=True)
        if row is None:
            raise StoreError(f"unknown charge point {charge_point_id!r}")
        return row

    def record_boot(
        self,
        charge_point_id: str,
        at: datetime,
        *,
        vendor: str | None = None,
        model: str | None = None,
        firmware_version: str | None = None,
        serial_number: str | None = None,
        protocol: str | None = None,
    ) -> ChargePointRecord:
        """A boot notification: vendor, model and firmware as the charge point reported them; marks it connected."""
        at = _aware(at, "boot time")
        with self._transaction() as session:
            row = self._require_cp(session, charge_point_id)
            row.vendor, row.model = vendor, model
            row.firmware_version, row.serial_number = firmware_version, serial_number
            if protocol is not None:
                row.protocol = protocol
            row.boot_at = at
            row.last_seen_at = max(at, row.last_seen_at) if row.last_seen_at else at
            row.connected = True
            session.flush()
            return _cp_record(row)

    def record_seen(self, charge_point_id: str, at: datetime, *, connected: bool = True) -> None:
        """A heartbeat or any message (``connected=True``) or a closed connection (``connected=False``)."""
        at = _aware(at, "time")
        with self._transaction() as session:
            row = self._require_cp(session, charge_point_id)
            row.last_seen_at = max(at, row.last_seen_at) if row.last_seen_at else at
            row.connected = connected

    def record_status(
        self,
        charge_point_id: str,
        evse_id: int,
        connector_id: int,
        status: str,
        at: datetime,
        *,
        error_code: str | None = None,
    ) -> None:
        """A status notification of one connector (kept as history; :meth:`evse_statuses` gives the latest)."""
        at = _aware(at, "status time")
        with self._transaction() as session:
            self._require_cp(session, charge_point_id)
            session.add(EvseStatus(charge_point_id=charge_point_id, evse_id=evse_id, connector_id=connector_id,
                                   status=status, error_code=error_code, at=at))

    def evse_statuses(self, charge_point_id: str | None = None) -> list[EvseStatusRecord]:
        """The latest status of every connector (by time of the notification, then by arrival)."""
        query = select(EvseStatus).order_by(EvseStatus.at, EvseStatus.id)
        if charge_point_id is not None:
            query = query.where(EvseStatus.charge_point_id == charge_point_id)
        latest: dict[tuple[str, int, int], EvseStatusRecord] = {}
        with self._transaction() as session:
            for row in session.scalars(query):
                latest[(row.charge_point_id, row.evse_id, row.connector_id)] = EvseStatusRecord(
                    charge_point_id=row.charge_point_id, evse_id=row.evse_id, connector_id=row.connector_id,
                    status=row.status, at=row.at, error_code=row.error_code)
        return [latest[key] for key in sorted(latest)]

    # ------------------------------------------------------------------------------------------------ sessions

    def start_session(
        self,
        charge_point_id: str,
        evse_id: int,
        started_at: datetime,
        meter_start_wh: float,
        *,
        transaction_id: str | None = None,
        connector_id: int | None = None,
        id_tag: str | None = None,
        departure_at: datetime | None = None,
        energy_wanted_kwh: float | None = None,
        v2g_consent: bool = False,
    ) -> SessionRecord:
        """Open a session and return it. Idempotent: a start sent again returns the session already stored.

        ``transaction_id`` is the charge point's (OCPP 2.x); without it (OCPP 1.6, where the CSMS assigns it) the
        store assigns the session's number, and a start with the same EVSE, start time and meter reading as a stored
        one is taken as the same start sent again.
        """
        started_at = _aware(started_at, "start time")
        meter_start_wh = _finite(meter_start_wh, "meter_start_wh")
        if departure_at is not None:
            departure_at = _aware(departure_at, "departure time")
        if energy_wanted_kwh is not None:
            energy_wanted_kwh = _finite(energy_wanted_kwh, "energy_wanted_kwh")
        with self._transaction() as session:
            self._require_cp(session, charge_point_id)
            same = select(ChargingSession).where(ChargingSession.charge_point_id == charge_point_id)
            if transaction_id is not None:
                same = same.where(ChargingSession.transaction_id == transaction_id)
            else:
                same = same.where(ChargingSession.evse_id == evse_id, ChargingSession.started_at == started_at,
                                  ChargingSession.meter_start_wh == meter_start_wh)
            existing = session.scalars(same.limit(1)).first()
            if existing is not None:
                return _session_record(existing)
            row = ChargingSession(
                charge_point_id=charge_point_id, evse_id=evse_id, connector_id=connector_id,
                transaction_id=transaction_id, id_tag=id_tag, started_at=started_at, meter_start_wh=meter_start_wh,
                departure_at=departure_at, energy_wanted_kwh=energy_wanted_kwh, v2g_consent=v2g_consent,
            )
            session.add(row)
            session.flush()
            if row.transaction_id is None:
                row.transaction_id = str(row.id)
                session.flush()
            return _session_record(row)

    def _require_session(self, session: Session, charge_point_id: str, transaction_id: str) -> ChargingSession:
        row = session.scalars(
            select(ChargingSession)
            .where(ChargingSession.charge_point_id == charge_point_id,
                   ChargingSession.transaction_id == transaction_id)
            .with_for_update()
        ).first()
        if row is None:
            raise StoreError(f"charge point {charge_point_id!r}: unknown transaction {transaction_id!r}")
        return row

    def stop_session(
        self,
        charge_point_id: str,
        transaction_id: str,
        stopped_at: datetime,
        meter_stop_wh: float,
        *,
        reason: str | None = None,
    ) -> SessionRecord:
        """Close a session. A stop sent again for a closed session changes nothing and returns it."""
        stopped_at = _aware(stopped_at, "stop time")
        meter_stop_wh = _finite(meter_stop_wh, "meter_stop_wh")
        with self._transaction() as session:
            row = self._require_session(session, charge_point_id, transaction_id)
            if row.stopped_at is None:
                if stopped_at < row.started_at:
                    raise StoreError(f"transaction {transaction_id!r}: stop {stopped_at.isoformat()} before "
                                     f"start {row.started_at.isoformat()}")
                row.stopped_at, row.meter_stop_wh, row.stop_reason = stopped_at, meter_stop_wh, reason
                session.flush()
            return _session_record(row)

    def update_session(
        self,
        charge_point_id: str,
        transaction_id: str,
        *,
        departure_at: datetime | None = None,
        energy_wanted_kwh: float | None = None,
        v2g_consent: bool | None = None,
    ) -> SessionRecord:
        """Record what became known during a session (departure, energy wanted in kWh, V2G consent)."""
        with self._transaction() as session:
            row = self._require_session(session, charge_point_id, transaction_id)
            if departure_at is not None:
                row.departure_at = _aware(departure_at, "departure time")
            if energy_wanted_kwh is not None:
                row.energy_wanted_kwh = _finite(energy_wanted_kwh, "energy_wanted_kwh")
            if v2g_consent is not None:
                row.v2g_consent = v2g_consent
            session.flush()
            return _session_record(row)

    def session(self, charge_point_id: str, transaction_id: str) -> SessionRecord | None:
        """One session by its transaction id, or ``None``."""
        with self._transaction() as session:
            row = session.scalars(select(ChargingSession).where(
                ChargingSession.charge_point_id == charge_point_id,
                ChargingSession.transaction_id == transaction_id)).first()
            return _session_record(row) if row is not None else None

    def open_sessions(self, charge_point_id: str | None = None) -> list[SessionRecord]:
        """Sessions not stopped yet (of one charge point when given), oldest first."""
        query = select(ChargingSession).where(ChargingSession.stopped_at.is_(None))
        if charge_point_id is not None:
            query = query.where(ChargingSession.charge_point_id == charge_point_id)
        with self._transaction() as session:
            return [_session_record(r) for r in session.scalars(query.order_by(ChargingSession.started_at,
                                                                               ChargingSession.id))]

    def sessions(self, start: datetime | None = None, end: datetime | None = None,
                 charge_point_id: str | None = None) -> list[SessionRecord]:
        """Sessions that overlap ``[start, end)`` (open ones reach to now and beyond), oldest first."""
        query = select(ChargingSession)
        if end is not None:
            query = query.where(ChargingSession.started_at < _aware(end, "end"))
        if start is not None:
            start = _aware(start, "start")
            query = query.where((ChargingSession.stopped_at.is_(None)) | (ChargingSession.stopped_at > start))
        if charge_point_id is not None:
            query = query.where(ChargingSession.charge_point_id == charge_point_id)
        with self._transaction() as session:
            return [_session_record(r) for r in session.scalars(query.order_by(ChargingSession.started_at,
                                                                               ChargingSession.id))]

    # -------------------------------------------------------------------------------------------- meter values

    def add_meter_values(self, readings: Iterable[MeterReading]) -> int:
        """Store meter readings; returns how many were new. A reading already stored (same charge point, EVSE,
        time, measurand, phase and location) is skipped, so a charge point may send its queue again after a
        restart without a value counted twice. All or none of ``readings`` are stored."""
        rows: dict[tuple[Any, ...], dict[str, Any]] = {}
        for number, reading in enumerate(readings):
            at = _aware(reading.at, f"meter reading {number}: time")
            value = _finite(reading.value, f"meter reading {number}: value")
            row = {
                "charge_point_id": reading.charge_point_id, "evse_id": int(reading.evse_id),
                "transaction_id": reading.transaction_id, "at": at, "measurand": reading.measurand,
                "phase": reading.phase or "", "location": reading.location or "", "context": reading.context,
                "value": value, "unit": reading.unit,
            }
            key = (row["charge_point_id"], row["evse_id"], at, row["measurand"], row["phase"], row["location"])
            rows.setdefault(key, row)
        if not rows:
            return 0
        unique = list(rows.values())
        statement = self._insert(MeterValue).on_conflict_do_nothing(
            index_elements=["charge_point_id", "evse_id", "at", "measurand", "phase", "location"]
        ).returning(MeterValue.id)
        new = 0
        try:
            with self._transaction() as session:
                for first in range(0, len(unique), METER_BATCH_ROWS):
                    batch = unique[first : first + METER_BATCH_ROWS]
                    new += len(session.execute(statement, batch).all())
        except IntegrityError as exc:
            known = {r["charge_point_id"] for r in unique}
            raise StoreError(f"meter values refused (unknown charge point among {sorted(known)}?): "
                             f"{str(exc.orig).strip().splitlines()[0]}") from None
        return new

    def _meter_query(self, columns: Any, start: datetime | None, end: datetime | None, charge_point_id: str | None,
                     evse_id: int | None, transaction_id: str | None, measurand: str | None) -> Any:
        query = select(*columns)
        if start is not None:
            query = query.where(MeterValue.at >= _aware(start, "start"))
        if end is not None:
            query = query.where(MeterValue.at < _aware(end, "end"))
        if charge_point_id is not None:
            query = query.where(MeterValue.charge_point_id == charge_point_id)
        if evse_id is not None:
            query = query.where(MeterValue.evse_id == evse_id)
        if transaction_id is not None:
            query = query.where(MeterValue.transaction_id == transaction_id)
        if measurand is not None:
            query = query.where(MeterValue.measurand == measurand)
        return query.order_by(MeterValue.at, MeterValue.id)

    def meter_values(
        self,
        start: datetime | None = None,
        end: datetime | None = None,
        *,
        charge_point_id: str | None = None,
        evse_id: int | None = None,
        transaction_id: str | None = None,
        measurand: str | None = None,
    ) -> list[MeterReading]:
        """Readings with time in ``[start, end)`` matching every filter given, by time then arrival."""
        query = self._meter_query([MeterValue], start, end, charge_point_id, evse_id, transaction_id, measurand)
        with self._transaction() as session:
            return [
                MeterReading(charge_point_id=r.charge_point_id, evse_id=r.evse_id, at=r.at, measurand=r.measurand,
                             value=r.value, unit=r.unit, phase=r.phase or None, location=r.location or None,
                             context=r.context, transaction_id=r.transaction_id)
                for r in session.scalars(query)
            ]

    def meter_frame(
        self,
        start: datetime | None = None,
        end: datetime | None = None,
        *,
        charge_point_id: str | None = None,
        evse_id: int | None = None,
        transaction_id: str | None = None,
        measurand: str | None = None,
    ) -> pd.DataFrame:
        """The readings of :meth:`meter_values` as columns, for fleets (no object per reading): ``charge_point_id``,
        ``evse_id`` (int64), ``transaction_id``, ``at`` (UTC), ``measurand``, ``phase``, ``location``, ``context``,
        ``value`` (float64, in ``unit``) and ``unit``; ``phase``/``location`` are ``None`` where not given."""
        columns = [MeterValue.charge_point_id, MeterValue.evse_id, MeterValue.transaction_id, MeterValue.at,
                   MeterValue.measurand, MeterValue.phase, MeterValue.location, MeterValue.context, MeterValue.value,
                   MeterValue.unit]
        query = self._meter_query(columns, start, end, charge_point_id, evse_id, transaction_id, measurand)
        with self._transaction() as session:
            rows = session.execute(query).all()
        names = [c.key for c in columns]
        frame = pd.DataFrame.from_records([tuple(r) for r in rows], columns=names)
        frame["evse_id"] = frame["evse_id"].astype("int64")
        frame["value"] = frame["value"].astype("float64")
        frame["at"] = pd.to_datetime(frame["at"], utc=True)
        for name in ("phase", "location"):
            frame[name] = frame[name].astype(object).where(frame[name] != "", None)
        return frame

    # --------------------------------------------------------------------------------------------------- plans

    def save_plan(
        self,
        grid_start_at: datetime,
        step_s: int,
        keys: Sequence[tuple[str, int]],
        power_kw: Any,
        *,
        for_time: datetime | None = None,
        site_id: str | None = None,
        meta: Mapping[str, Any] | None = None,
        created_at: datetime | None = None,
    ) -> PlanRecord:
        """Save a plan: ``power_kw`` is an array (len(keys), n_steps) of setpoints in kW, one row per
        (charge point, EVSE) of ``keys``, steps of ``step_s`` seconds from ``grid_start_at``. ``for_time`` is the
        moment it was made for (default ``grid_start_at``)."""
        grid_start_at = _aware(grid_start_at, "grid start")
        for_time = _aware(for_time, "for_time") if for_time is not None else grid_start_at
        created_at = _aware(created_at, "created_at") if created_at is not None else _now()
        if int(step_s) != step_s or step_s <= 0:
            raise StoreError(f"plan step must be a whole number of seconds > 0, got {step_s}")
        array = np.asarray(power_kw, dtype=float)
        if array.ndim != 2 or array.shape[0] != len(keys):
            raise StoreError(f"plan power_kw must have shape ({len(keys)}, n_steps), got {array.shape}")
        if not np.all(np.isfinite(array)):
            raise StoreError("plan power_kw must hold finite numbers only")
        key_list = [(str(cp), int(evse)) for cp, evse in keys]
        if len(set(key_list)) != len(key_list):
            raise StoreError("plan keys must name each (charge point, EVSE) once")
        with self._transaction() as session:
            plan = Plan(site_id=site_id, created_at=created_at, for_time=for_time, grid_start_at=grid_start_at,
                        step_s=int(step_s), n_steps=int(array.shape[1]), meta=dict(meta or {}))
            session.add(plan)
            session.flush()
            session.add_all(
                PlanSetpoint(plan_id=plan.id, charge_point_id=cp, evse_id=evse, position=i,
                             power_kw=array[i].tolist())
                for i, (cp, evse) in enumerate(key_list)
            )
            plan_id = plan.id
        frozen = array.copy()
        frozen.setflags(write=False)
        return PlanRecord(id=plan_id, site_id=site_id, created_at=created_at, for_time=for_time,
                          grid_start_at=grid_start_at, step_s=int(step_s), keys=tuple(key_list), power_kw=frozen,
                          meta=dict(meta or {}))

    def latest_plan(self, *, site_id: str | None = None, at: datetime | None = None) -> PlanRecord | None:
        """The newest plan (of ``site_id`` when given; made for a time at or before ``at`` when given)."""
        query = select(Plan).order_by(Plan.created_at.desc(), Plan.id.desc()).limit(1)
        if site_id is not None:
            query = query.where(Plan.site_id == site_id)
        if at is not None:
            query = query.where(Plan.for_time <= _aware(at, "at"))
        with self._transaction() as session:
            plan = session.scalars(query).first()
            if plan is None:
                return None
            setpoints = list(session.scalars(
                select(PlanSetpoint).where(PlanSetpoint.plan_id == plan.id).order_by(PlanSetpoint.position)))
            array = np.array([s.power_kw for s in setpoints], dtype=float).reshape(len(setpoints), plan.n_steps)
            array.setflags(write=False)
            return PlanRecord(id=plan.id, site_id=plan.site_id, created_at=plan.created_at, for_time=plan.for_time,
                              grid_start_at=plan.grid_start_at, step_s=plan.step_s,
                              keys=tuple((s.charge_point_id, s.evse_id) for s in setpoints), power_kw=array,
                              meta=plan.meta)

    def latest_plan_id(self) -> int | None:
        """The id of the plan :meth:`latest_plan` would return (None: no plan yet), read cheaply: the service's
        processes poll it to notice a plan another process made."""
        query = select(Plan.id).order_by(Plan.created_at.desc(), Plan.id.desc()).limit(1)
        with self._sessions() as session:
            found = session.scalar(query)
        return None if found is None else int(found)

    def sessions_marker(self) -> tuple[int, int]:
        """(the highest session id, the number of open sessions): it changes when a session starts or stops,
        in any process (the leader polls it to re-plan for a car that plugged in at another process)."""
        query = select(func.max(ChargingSession.id), func.count(ChargingSession.id).filter(
            ChargingSession.stopped_at.is_(None)))
        with self._sessions() as session:
            row = session.execute(query).one()
        return int(row[0] or 0), int(row[1] or 0)

    # ---------------------------------------------------------------------------------------------- grid events

    def save_event(
        self,
        source: str,
        event_id: str,
        event_type: str,
        start_at: datetime,
        end_at: datetime | None,
        *,
        program_id: str | None = None,
        modification_number: int = 0,
        intervals: Sequence[Any] = (),
        targets: Sequence[Any] = (),
        payload: Mapping[str, Any] | None = None,
        cancelled: bool = False,
        received_at: datetime | None = None,
    ) -> tuple[GridEventRecord, bool]:
        """Store a grid event from ``source``; returns the stored event and whether this call changed it.

        An event already stored with the same or a higher ``modification_number`` is kept as it is (a repeat or an
        older copy arriving late); a higher number replaces it.
        """
        start_at = _aware(start_at, "event start")
        if end_at is not None:
            end_at = _aware(end_at, "event end")
            if end_at <= start_at:
                raise StoreError(f"event {event_id!r}: end {end_at.isoformat()} not after start {start_at.isoformat()}")
        received_at = _aware(received_at, "received_at") if received_at is not None else _now()
        values: dict[str, Any] = {
            "source": source, "event_id": event_id, "event_type": event_type, "program_id": program_id,
            "modification_number": int(modification_number), "start_at": start_at, "end_at": end_at,
            "intervals": list(intervals), "targets": list(targets), "payload": dict(payload or {}),
            "cancelled": bool(cancelled), "received_at": received_at,
        }
        with self._transaction() as session:
            inserted = session.execute(
                self._insert(GridEvent).values(**values)
                .on_conflict_do_nothing(index_elements=["source", "event_id"]).returning(GridEvent.id)
            ).first()
            changed = inserted is not None
            if not changed:
                result = session.execute(
                    update(GridEvent)
                    .where(GridEvent.source == source, GridEvent.event_id == event_id,
                           GridEvent.modification_number < int(modification_number))
                    .values(**values)
                    .execution_options(synchronize_session=False)
                )
                changed = bool(result.rowcount)  # type: ignore[attr-defined]
            row = session.scalars(select(GridEvent).where(GridEvent.source == source,
                                                          GridEvent.event_id == event_id)).one()
            return _event_record(row), changed

    def cancel_event(self, source: str, event_id: str) -> bool:
        """Mark an event cancelled (it is no longer active); False when it is not known."""
        with self._transaction() as session:
            result = session.execute(update(GridEvent).where(GridEvent.source == source,
                                                             GridEvent.event_id == event_id).values(cancelled=True))
            return bool(result.rowcount)  # type: ignore[attr-defined]

    def event(self, source: str, event_id: str) -> GridEventRecord | None:
        """One event, or ``None``."""
        with self._transaction() as session:
            row = session.scalars(select(GridEvent).where(GridEvent.source == source,
                                                          GridEvent.event_id == event_id)).first()
            return _event_record(row) if row is not None else None

    def events(
        self,
        active_at: datetime | None = None,
        *,
        source: str | None = None,
        program_id: str | None = None,
        include_cancelled: bool = False,
    ) -> list[GridEventRecord]:
        """Events (active at ``active_at`` when given: start <= t < end, open-ended ones included), by start."""
        query = select(GridEvent)
        if active_at is not None:
            t = _aware(active_at, "active_at")
            query = query.where(GridEvent.start_at <= t, (GridEvent.end_at.is_(None)) | (GridEvent.end_at > t))
        if not include_cancelled:
            query = query.where(GridEvent.cancelled.is_(False))
        if source is not None:
            query = query.where(GridEvent.source == source)
        if program_id is not None:
            query = query.where(GridEvent.program_id == program_id)
        with self._transaction() as session:
            return [_event_record(r) for r in session.scalars(query.order_by(GridEvent.start_at, GridEvent.id))]

    # ------------------------------------------------------------------------------------------------- reports

    def save_report(
        self,
        source: str,
        start_at: datetime,
        end_at: datetime,
        payload: Mapping[str, Any],
        *,
        program_id: str | None = None,
        event_id: str | None = None,
        report_name: str | None = None,
        created_at: datetime | None = None,
    ) -> ReportRecord:
        """Keep a report covering ``[start_at, end_at)`` (not sent yet: see :meth:`mark_report_sent`)."""
        start_at, end_at = _aware(start_at, "report start"), _aware(end_at, "report end")
        if end_at < start_at:
            raise StoreError(f"report {report_name!r}: end before start")
        with self._transaction() as session:
            row = Report(source=source, program_id=program_id, event_id=event_id, report_name=report_name,
                         start_at=start_at, end_at=end_at, payload=dict(payload),
                         created_at=_aware(created_at, "created_at") if created_at else _now(), sent_at=None)
            session.add(row)
            session.flush()
            return _report_record(row)

    def mark_report_sent(self, report_id: int, at: datetime) -> None:
        """Record that the report went out at ``at``."""
        with self._transaction() as session:
            row = session.get(Report, report_id, with_for_update=True)
            if row is None:
                raise StoreError(f"unknown report {report_id}")
            row.sent_at = _aware(at, "sent time")

    def reports(self, *, event_id: str | None = None, unsent: bool = False) -> list[ReportRecord]:
        """Reports (of one event; only those not sent yet), oldest first."""
        query = select(Report)
        if event_id is not None:
            query = query.where(Report.event_id == event_id)
        if unsent:
            query = query.where(Report.sent_at.is_(None))
        with self._transaction() as session:
            return [_report_record(r) for r in session.scalars(query.order_by(Report.created_at, Report.id))]

    # --------------------------------------------------------------------------------------------- settlements

    def save_settlement(
        self,
        programme_id: str,
        event_id: str,
        start_at: datetime,
        step_s: int,
        baseline_kw: Iterable[float],
        measured_kw: Iterable[float],
        *,
        delivered_kwh: float,
        payment: float,
        penalty: float = 0.0,
        currency: str | None = None,
        site_id: str | None = None,
        details: Mapping[str, Any] | None = None,
        created_at: datetime | None = None,
    ) -> SettlementRecord:
        """Keep the settlement of an event: baseline and measured power per step (kW, steps of ``step_s`` s from
        ``start_at``), the energy delivered (kWh) as the programme counts it, and money. The baseline's and the
        measured energies (kWh) are worked out here from the arrays."""
        start_at = _aware(start_at, "settlement start")
        if int(step_s) != step_s or step_s <= 0:
            raise StoreError(f"settlement step must be a whole number of seconds > 0, got {step_s}")
        baseline, measured = _finite_list(baseline_kw, "baseline_kw"), _finite_list(measured_kw, "measured_kw")
        if len(baseline) != len(measured):
            raise StoreError(f"settlement {event_id!r}: {len(baseline)} baseline steps, {len(measured)} measured")
        hours = int(step_s) / 3600.0
        with self._transaction() as session:
            row = Settlement(
                programme_id=programme_id, event_id=event_id, site_id=site_id, start_at=start_at, step_s=int(step_s),
                baseline_kw=baseline, measured_kw=measured, baseline_kwh=float(np.sum(baseline) * hours),
                measured_kwh=float(np.sum(measured) * hours), delivered_kwh=_finite(delivered_kwh, "delivered_kwh"),
                payment=_finite(payment, "payment"), penalty=_finite(penalty, "penalty"), currency=currency,
                details=dict(details or {}), created_at=_aware(created_at, "created_at") if created_at else _now(),
            )
            session.add(row)
            session.flush()
            return _settlement_record(row)

    def settlements(self, *, programme_id: str | None = None, event_id: str | None = None) -> list[SettlementRecord]:
        """Settlements (of a programme, of an event), oldest first; a re-settlement is a newer row."""
        query = select(Settlement)
        if programme_id is not None:
            query = query.where(Settlement.programme_id == programme_id)
        if event_id is not None:
            query = query.where(Settlement.event_id == event_id)
        with self._transaction() as session:
            return [_settlement_record(r) for r in session.scalars(query.order_by(Settlement.created_at,
                                                                                  Settlement.id))]


def _upgrade_waiting_for_sqlite(engine: Engine, attempts: int = 8) -> None:
    """Bring the schema to head; on SQLite, try again a few times when another process holds the file's lock.

    SQLite's busy timeout does not cover every case: a connection that must upgrade its lock, or switch a new file
    to WAL, while another process migrates the same file is told "database is locked" at once.  The waits grow
    from 0.1 s to 1.6 s (about 5 s in all) before the error is passed on.
    """
    for attempt in range(attempts):
        try:
            migrate.upgrade(engine)
            return
        except OperationalError as exc:
            locked = engine.dialect.name == "sqlite" and "locked" in str(exc.orig or exc)
            if not locked or attempt == attempts - 1:
                raise
            engine.dispose()
            time.sleep(min(0.1 * 2**attempt, 1.6))
