"""What the store gives back: frozen dataclasses, never ORM objects. Units in names; every time tz-aware UTC."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import numpy as np


@dataclass(frozen=True)
class ChargePointRecord:
    """A charge point known to the CSMS; vendor, model, firmware and serial come from its last boot."""

    id: str
    site_id: str | None
    protocol: str | None
    max_charge_kw: float | None
    max_discharge_kw: float | None
    vendor: str | None
    model: str | None
    firmware_version: str | None
    serial_number: str | None
    created_at: datetime
    boot_at: datetime | None
    last_seen_at: datetime | None
    connected: bool
    has_password: bool


@dataclass(frozen=True)
class EvseStatusRecord:
    """A status notification of one connector of one EVSE (OCPP 1.6 has connector ids only: ``evse_id`` = it)."""

    charge_point_id: str
    evse_id: int
    connector_id: int
    status: str
    at: datetime
    error_code: str | None = None


@dataclass(frozen=True)
class SessionRecord:
    """A charging session (an OCPP transaction). Meter readings in Wh, energy wanted in kWh."""

    id: int
    charge_point_id: str
    evse_id: int
    connector_id: int | None
    transaction_id: str
    id_tag: str | None
    started_at: datetime
    stopped_at: datetime | None
    meter_start_wh: float
    meter_stop_wh: float | None
    stop_reason: str | None
    departure_at: datetime | None
    energy_wanted_kwh: float | None
    v2g_consent: bool

    @property
    def energy_kwh(self) -> float | None:
        """Energy through the meter during the session, kWh (``None`` while it is open)."""
        if self.meter_stop_wh is None:
            return None
        return (self.meter_stop_wh - self.meter_start_wh) / 1000.0


@dataclass(frozen=True)
class MeterReading:
    """One sampled value of a charge point's meter (OCPP ``SampledValue``), in the unit given by ``unit``.

    ``phase`` and ``location`` are ``None`` when the charge point did not say; together with the charge point,
    EVSE, time and measurand they identify the reading, so sending it again stores nothing new.
    """

    charge_point_id: str
    evse_id: int
    at: datetime
    measurand: str
    value: float
    unit: str
    phase: str | None = None
    location: str | None = None
    context: str | None = None
    transaction_id: str | None = None


@dataclass(frozen=True, eq=False)
class PlanRecord:
    """A saved plan: ``power_kw[i, t]`` is the setpoint of ``keys[i]`` = (charge point, EVSE) in step ``t``.

    Step ``t`` covers ``[grid_start_at + t * step_s, grid_start_at + (t + 1) * step_s)``; positive kW charge,
    negative kW discharge (V2G). ``power_kw`` is read-only.
    """

    id: int
    site_id: str | None
    created_at: datetime
    for_time: datetime
    grid_start_at: datetime
    step_s: int
    keys: tuple[tuple[str, int], ...]
    power_kw: np.ndarray
    meta: Mapping[str, Any] = field(default_factory=dict)

    @property
    def n_steps(self) -> int:
        """Number of steps."""
        return int(self.power_kw.shape[1])

    @property
    def end_at(self) -> datetime:
        """End of the last step (UTC)."""
        return self.grid_start_at + timedelta(seconds=self.step_s * self.n_steps)

    def step_index(self, at: datetime) -> int | None:
        """The step that contains ``at`` (``None`` outside the plan)."""
        offset_s = (at - self.grid_start_at).total_seconds()
        if offset_s < 0:
            return None
        step = math.floor(offset_s / self.step_s)
        return step if step < self.n_steps else None

    def setpoint_kw(self, charge_point_id: str, evse_id: int, at: datetime) -> float | None:
        """The setpoint of one EVSE at ``at``, kW (``None`` when the plan has no such EVSE or time)."""
        step = self.step_index(at)
        if step is None:
            return None
        try:
            row = self.keys.index((charge_point_id, evse_id))
        except ValueError:
            return None
        return float(self.power_kw[row, step])


@dataclass(frozen=True)
class GridEventRecord:
    """A grid event (an OpenADR 3 event, a programme's dispatch); ``intervals``/``targets`` as received (JSON)."""

    id: int
    source: str
    program_id: str | None
    event_id: str
    event_type: str
    modification_number: int
    start_at: datetime
    end_at: datetime | None
    intervals: Sequence[Any]
    targets: Sequence[Any]
    payload: Mapping[str, Any]
    cancelled: bool
    received_at: datetime

    def active_at(self, at: datetime) -> bool:
        """True when ``at`` lies in ``[start_at, end_at)`` and the event is not cancelled."""
        return not self.cancelled and self.start_at <= at and (self.end_at is None or at < self.end_at)


@dataclass(frozen=True)
class ReportRecord:
    """A report (of usage, of delivery) for a programme or event; ``payload`` is the report as sent (JSON)."""

    id: int
    source: str
    program_id: str | None
    event_id: str | None
    report_name: str | None
    start_at: datetime
    end_at: datetime
    payload: Mapping[str, Any]
    created_at: datetime
    sent_at: datetime | None


@dataclass(frozen=True)
class SettlementRecord:
    """The settlement of one event: baseline and measured kW per step, energies in kWh, money in ``currency``."""

    id: int
    programme_id: str
    event_id: str
    site_id: str | None
    start_at: datetime
    step_s: int
    baseline_kw: tuple[float, ...]
    measured_kw: tuple[float, ...]
    baseline_kwh: float
    measured_kwh: float
    delivered_kwh: float
    payment: float
    penalty: float
    currency: str | None
    details: Mapping[str, Any]
    created_at: datetime

    @property
    def net_payment(self) -> float:
        """Payment less penalty, in ``currency``."""
        return self.payment - self.penalty


__all__ = [
    "ChargePointRecord",
    "EvseStatusRecord",
    "GridEventRecord",
    "MeterReading",
    "PlanRecord",
    "ReportRecord",
    "SessionRecord",
    "SettlementRecord",
]

