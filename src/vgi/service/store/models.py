"""The store's tables as SQLAlchemy 2 typed ORM classes (internal: callers get :mod:`records`, never these).

Units are in column names (``_kw``, ``_wh``, ``_kwh``, ``_s``); every ``_at`` column is a UTC timestamp
(:class:`~vgi.service.store.types.UtcDateTime`). Arrays (plan setpoints, event intervals, baselines) are JSON.
The Alembic migrations in ``migrations/versions`` create exactly these tables; a test checks that they agree.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from vgi.service.store.types import UtcDateTime

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# 64-bit ids on PostgreSQL; SQLite's rowid is already 64-bit and autoincrements only as INTEGER PRIMARY KEY
BigId = BigInteger().with_variant(Integer(), "sqlite")


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {datetime: UtcDateTime(), dict[str, Any]: JSON(), list[Any]: JSON()}


class ChargePoint(Base):
    __tablename__ = "charge_points"

    id: Mapped[str] = mapped_column(String(128), primary_key=True)
    password_hash: Mapped[str | None] = mapped_column(String(255))
    site_id: Mapped[str | None] = mapped_column(String(128), index=True)
    protocol: Mapped[str | None] = mapped_column(String(32))
    max_charge_kw: Mapped[float | None] = mapped_column(Float)
    max_discharge_kw: Mapped[float | None] = mapped_column(Float)
    vendor: Mapped[str | None] = mapped_column(String(128))
    model: Mapped[str | None] = mapped_column(String(128))
    firmware_version: Mapped[str | None] = mapped_column(String(128))
    serial_number: Mapped[str | None] = mapped_column(String(128))
    created_at: Mapped[datetime]
    boot_at: Mapped[datetime | None]
    last_seen_at: Mapped[datetime | None]
    connected: Mapped[bool] = mapped_column(Boolean, default=False)


class EvseStatus(Base):
    __tablename__ = "evse_status"
    __table_args__ = (Index("ix_evse_status_cp_evse_at", "charge_point_id", "evse_id", "connector_id", "at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    charge_point_id: Mapped[str] = mapped_column(ForeignKey("charge_points.id", ondelete="CASCADE"))
    evse_id: Mapped[int] = mapped_column(Integer)
    connector_id: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(32))
    error_code: Mapped[str | None] = mapped_column(String(64))
    at: Mapped[datetime]


class ChargingSession(Base):
    __tablename__ = "charging_sessions"
    __table_args__ = (UniqueConstraint("charge_point_id", "transaction_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    charge_point_id: Mapped[str] = mapped_column(ForeignKey("charge_points.id", ondelete="CASCADE"))
    evse_id: Mapped[int] = mapped_column(Integer)
    connector_id: Mapped[int | None] = mapped_column(Integer)
    transaction_id: Mapped[str | None] = mapped_column(String(64))
    id_tag: Mapped[str | None] = mapped_column(String(64))
    started_at: Mapped[datetime] = mapped_column(index=True)
    stopped_at: Mapped[datetime | None]
    meter_start_wh: Mapped[float] = mapped_column(Float)
    meter_stop_wh: Mapped[float | None] = mapped_column(Float)
    stop_reason: Mapped[str | None] = mapped_column(String(64))
    departure_at: Mapped[datetime | None]
    energy_wanted_kwh: Mapped[float | None] = mapped_column(Float)
    v2g_consent: Mapped[bool] = mapped_column(Boolean, default=False)


class MeterValue(Base):
    __tablename__ = "meter_values"
    __table_args__ = (
        # one reading per charge point, EVSE, instant, measurand, phase and location: a re-sent value is not stored
        # twice. Phase and location are '' when absent, since NULLs never collide in a unique key.
        UniqueConstraint("charge_point_id", "evse_id", "at", "measurand", "phase", "location",
                         name="uq_meter_values_reading"),
        Index("ix_meter_values_transaction", "charge_point_id", "transaction_id"),
        Index("ix_meter_values_at", "at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    charge_point_id: Mapped[str] = mapped_column(ForeignKey("charge_points.id", ondelete="CASCADE"))
    evse_id: Mapped[int] = mapped_column(Integer)
    transaction_id: Mapped[str | None] = mapped_column(String(64))
    at: Mapped[datetime]
    measurand: Mapped[str] = mapped_column(String(64))
    phase: Mapped[str] = mapped_column(String(8))
    location: Mapped[str] = mapped_column(String(16))
    context: Mapped[str | None] = mapped_column(String(32))
    value: Mapped[float] = mapped_column(Float)
    unit: Mapped[str] = mapped_column(String(16))


class Plan(Base):
    __tablename__ = "plans"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    site_id: Mapped[str | None] = mapped_column(String(128), index=True)
    created_at: Mapped[datetime]
    for_time: Mapped[datetime] = mapped_column(index=True)
    grid_start_at: Mapped[datetime]
    step_s: Mapped[int] = mapped_column(Integer)
    n_steps: Mapped[int] = mapped_column(Integer)
    meta: Mapped[dict[str, Any]]


class PlanSetpoint(Base):
    __tablename__ = "plan_setpoints"

    plan_id: Mapped[int] = mapped_column(ForeignKey("plans.id", ondelete="CASCADE"), primary_key=True)
    charge_point_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    evse_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    position: Mapped[int] = mapped_column(Integer)
    power_kw: Mapped[list[Any]]


class GridEvent(Base):
    __tablename__ = "grid_events"
    __table_args__ = (
        UniqueConstraint("source", "event_id"),
        Index("ix_grid_events_window", "start_at", "end_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    source: Mapped[str] = mapped_column(String(255))
    program_id: Mapped[str | None] = mapped_column(String(128))
    event_id: Mapped[str] = mapped_column(String(128))
    event_type: Mapped[str] = mapped_column(String(64))
    modification_number: Mapped[int] = mapped_column(Integer)
    start_at: Mapped[datetime]
    end_at: Mapped[datetime | None]
    intervals: Mapped[list[Any]]
    targets: Mapped[list[Any]]
    payload: Mapped[dict[str, Any]]
    cancelled: Mapped[bool] = mapped_column(Boolean, default=False)
    received_at: Mapped[datetime]


class Report(Base):
    __tablename__ = "reports"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    source: Mapped[str] = mapped_column(String(255))
    program_id: Mapped[str | None] = mapped_column(String(128))
    event_id: Mapped[str | None] = mapped_column(String(128), index=True)
    report_name: Mapped[str | None] = mapped_column(String(255))
    start_at: Mapped[datetime]
    end_at: Mapped[datetime]
    payload: Mapped[dict[str, Any]]
    created_at: Mapped[datetime]
    sent_at: Mapped[datetime | None]


class Settlement(Base):
    __tablename__ = "settlements"
    __table_args__ = (Index("ix_settlements_event", "programme_id", "event_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    programme_id: Mapped[str] = mapped_column(String(128))
    event_id: Mapped[str] = mapped_column(String(128))
    site_id: Mapped[str | None] = mapped_column(String(128))
    start_at: Mapped[datetime]
    step_s: Mapped[int] = mapped_column(Integer)
    baseline_kw: Mapped[list[Any]]
    measured_kw: Mapped[list[Any]]
    baseline_kwh: Mapped[float] = mapped_column(Float)
    measured_kwh: Mapped[float] = mapped_column(Float)
    delivered_kwh: Mapped[float] = mapped_column(Float)
    payment: Mapped[float] = mapped_column(Float)
    penalty: Mapped[float] = mapped_column(Float)
    currency: Mapped[str | None] = mapped_column(String(3))
    details: Mapped[dict[str, Any]]
    created_at: Mapped[datetime]


class Document(Base):
    """An OpenADR 3 VTN object (program, event, report, subscription, ven, resource) as a JSON document."""

    __tablename__ = "documents"
    __table_args__ = (
        UniqueConstraint("kind", "object_id"),
        Index("ix_documents_kind_program", "kind", "program_id"),
        Index("ix_documents_kind_event", "kind", "event_id"),
        Index("ix_documents_kind_ven", "kind", "ven_id"),
        Index("ix_documents_kind_client", "kind", "client_name"),
    )

    seq: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(16))
    object_id: Mapped[str] = mapped_column(String(255))
    program_id: Mapped[str | None] = mapped_column(String(255))
    event_id: Mapped[str | None] = mapped_column(String(255))
    ven_id: Mapped[str | None] = mapped_column(String(255))
    client_name: Mapped[str | None] = mapped_column(String(255))
    document: Mapped[dict[str, Any]]
    created_at: Mapped[datetime]
    modified_at: Mapped[datetime]
