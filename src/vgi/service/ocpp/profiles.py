"""Pure translation between a planned power series and OCPP charging profiles / composite schedules.

A plan for one EVSE is a :class:`SetpointSeries`: kW per step on a regular grid (positive = charge, negative =
discharge, the opposite of IEEE 2030.5's sign).  :func:`charging_profile` turns it into the wire payload of a
SetChargingProfile request for one OCPP version (chargingRateUnit W, consecutive equal steps merged into one
period); :func:`composite_to_series` turns a GetCompositeSchedule response back into kW per step.  No I/O here.

Discharge: OCPP 1.6 and 2.0.1 cannot express it (a limit is a non-negative ceiling).  ``discharge="refuse"``
raises :class:`ProfileError` naming the first negative step; ``discharge="clamp"`` sends 0 W for those steps and
lists them in :attr:`ProfilePayload.clamped_steps`.  OCPP 2.1 expresses it: a negative step becomes a period with
``operationMode`` CentralSetpoint, ``setpoint`` and ``dischargeLimit`` both the (negative) power in W.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from vgi.errors import VgiError
from vgi.service.ocpp.meter import SampleError, parse_time

Discharge = Literal["refuse", "clamp"]
Purpose = Literal["TxDefaultProfile", "TxProfile", "ChargePointMaxProfile", "ChargingStationMaxProfile"]
VERSIONS = ("1.6", "2.0.1", "2.1")


class ProfileError(VgiError):
    """A setpoint series or a composite schedule that cannot be translated (one line, names the step/field)."""


@dataclass(frozen=True)
class SetpointSeries:
    """Planned power for one EVSE: ``power_kw[k]`` holds from ``start + k*step_s`` for ``step_s`` seconds."""

    start: datetime  # tz-aware
    step_s: int
    power_kw: tuple[float, ...]

    def __post_init__(self) -> None:
        if self.start.tzinfo is None or self.start.utcoffset() is None:
            raise ProfileError(f"setpoint series start {self.start.isoformat()} has no time zone")
        if self.step_s <= 0:
            raise ProfileError(f"setpoint series step_s must be positive, got {self.step_s}")
        if not self.power_kw:
            raise ProfileError("setpoint series is empty")
        for k, p in enumerate(self.power_kw):
            if not math.isfinite(p):
                raise ProfileError(f"setpoint series step {k}: power_kw {p} is not finite")

    @classmethod
    def of(cls, start: datetime, step_s: int, power_kw: Sequence[float]) -> SetpointSeries:
        """Build from any sequence of numbers (a list, a numpy column)."""
        return cls(start, int(step_s), tuple(float(p) for p in power_kw))

    @property
    def duration_s(self) -> int:
        return self.step_s * len(self.power_kw)


@dataclass(frozen=True)
class ProfilePayload:
    """A SetChargingProfile request payload (camelCase, as on the wire) and what the translation changed."""

    version: str
    payload: dict[str, Any]
    clamped_steps: tuple[int, ...] = ()  # steps whose negative setpoint was sent as 0 W (1.6 / 2.0.1, clamp)

    @property
    def note(self) -> str | None:
        """A one-line statement of the clamping, None when nothing was clamped."""
        if not self.clamped_steps:
            return None
        return (
            f"OCPP {self.version} cannot express discharge: {len(self.clamped_steps)} negative step(s) "
            f"(first: step {self.clamped_steps[0]}) sent as 0 W"
        )


def iso_utc(at: datetime) -> str:
    """An OCPP timestamp: UTC, ISO 8601 with a ``Z`` suffix, whole milliseconds at most."""
    text = at.astimezone(UTC).isoformat(timespec="milliseconds")
    text = text.replace("+00:00", "Z")
    return text.replace(".000Z", "Z")


def _watts(power_kw: float) -> float:
    """kW to W on OCPP 1.6's 0.1 grid (its schema requires multipleOf 0.1); the same rounding for every version."""
    watts = round(power_kw * 1000.0, 1)
    return 0.0 if watts == 0 else watts  # no "-0.0" on the wire


def _periods(values_w: Sequence[float], step_s: int) -> list[tuple[int, float]]:
    """(startPeriod s, W) for each run of equal consecutive values."""
    out: list[tuple[int, float]] = []
    for k, w in enumerate(values_w):
        if not out or out[-1][1] != w:
            out.append((k * step_s, w))
    return out


def charging_profile(
    series: SetpointSeries,
    *,
    version: str,
    evse_id: int,
    profile_id: int,
    stack_level: int = 0,
    purpose: Purpose = "TxDefaultProfile",
    transaction_id: str | None = None,
    discharge: Discharge = "refuse",
) -> ProfilePayload:
    """The SetChargingProfile request for ``series`` on ``evse_id`` (1.6: connectorId) in OCPP ``version``.

    An Absolute profile starting at the series' start, lasting its duration, chargingRateUnit W.  ``purpose``
    TxProfile needs ``transaction_id`` (an integer in 1.6).  See the module docstring for discharge.
    """
    if version not in VERSIONS:
        raise ProfileError(f"unknown OCPP version {version!r} (expected one of {', '.join(VERSIONS)})")
    if purpose == "TxProfile" and transaction_id is None:
        raise ProfileError("a TxProfile needs the transaction id")
    if version == "1.6" and purpose == "ChargingStationMaxProfile":
        purpose = "ChargePointMaxProfile"
    elif version != "1.6" and purpose == "ChargePointMaxProfile":
        purpose = "ChargingStationMaxProfile"
    watts = [_watts(p) for p in series.power_kw]
    clamped: list[int] = []
    if version != "2.1":
        for k, w in enumerate(watts):
            if w < 0:
                if discharge == "refuse":
                    raise ProfileError(
                        f"step {k} asks {series.power_kw[k]} kW (discharge), which OCPP {version} cannot express; "
                        "use OCPP 2.1 or discharge='clamp'"
                    )
                clamped.append(k)
                watts[k] = 0.0
    periods = _periods(watts, series.step_s)
    start = iso_utc(series.start)
    if version == "1.6":
        profile: dict[str, Any] = {
            "chargingProfileId": profile_id,
            "stackLevel": stack_level,
            "chargingProfilePurpose": purpose,
            "chargingProfileKind": "Absolute",
            "chargingSchedule": {
                "duration": series.duration_s,
                "startSchedule": start,
                "chargingRateUnit": "W",
                "chargingSchedulePeriod": [{"startPeriod": s, "limit": w} for s, w in periods],
            },
        }
        if transaction_id is not None:
            try:
                profile["transactionId"] = int(transaction_id)
            except ValueError:
                raise ProfileError(f"OCPP 1.6 transaction ids are integers, got {transaction_id!r}") from None
        return ProfilePayload(version, {"connectorId": evse_id, "csChargingProfiles": profile}, tuple(clamped))
    rows: list[dict[str, Any]] = []
    for s, w in periods:
        if w < 0:  # 2.1 only: the 2.0.1 branch has clamped or refused already
            rows.append({"startPeriod": s, "operationMode": "CentralSetpoint", "setpoint": w, "dischargeLimit": w})
        else:
            rows.append({"startPeriod": s, "limit": w})
    profile = {
        "id": profile_id,
        "stackLevel": stack_level,
        "chargingProfilePurpose": purpose,
        "chargingProfileKind": "Absolute",
        "chargingSchedule": [
            {
                "id": profile_id,
                "startSchedule": start,
                "duration": series.duration_s,
                "chargingRateUnit": "W",
                "chargingSchedulePeriod": rows,
            }
        ],
    }
    if transaction_id is not None:
        profile["transactionId"] = str(transaction_id)
    return ProfilePayload(version, {"evseId": evse_id, "chargingProfile": profile}, tuple(clamped))


def _parse_time(text: Any, field: str) -> datetime:
    try:
        return parse_time(text, field)
    except SampleError as exc:
        raise ProfileError(f"composite schedule: {exc}") from None


def composite_to_series(
    response: dict[str, Any],
    *,
    version: str,
    step_s: int,
    voltage_v: float = 230.0,
) -> SetpointSeries:
    """kW per ``step_s`` step from a GetCompositeSchedule response (wire payload) of OCPP ``version``.

    Each step is the time-weighted mean of the periods in force during it (exact for OCPP's piecewise-constant
    schedules); a last step the schedule's duration covers only partly is averaged over the covered part.  A
    period's power is its ``setpoint`` when it has one (2.1 CentralSetpoint, negative = discharge), else its
    ``limit``.  Amperes are converted with ``voltage_v`` per phase and the period's numberPhases (3 when absent,
    as the specifications say).
    """
    if step_s <= 0:
        raise ProfileError(f"step_s must be positive, got {step_s}")
    if response.get("status") != "Accepted":
        raise ProfileError(f"composite schedule status is {response.get('status')!r}, not Accepted")
    if version == "1.6":
        schedule = response.get("chargingSchedule")
        if not isinstance(schedule, dict):
            raise ProfileError("composite schedule: chargingSchedule is missing")
        start_text = schedule.get("startSchedule", response.get("scheduleStart"))
        field = "chargingSchedule.startSchedule" if "startSchedule" in schedule else "scheduleStart"
    else:
        schedule = response.get("schedule")
        if not isinstance(schedule, dict):
            raise ProfileError("composite schedule: schedule is missing")
        start_text = schedule.get("scheduleStart")
        field = "schedule.scheduleStart"
    start = _parse_time(start_text, field)
    duration = schedule.get("duration")
    if not isinstance(duration, int) or duration <= 0:
        raise ProfileError(f"composite schedule: duration {duration!r} is not a positive whole number of seconds")
    unit = schedule.get("chargingRateUnit")
    if unit not in ("W", "A"):
        raise ProfileError(f"composite schedule: chargingRateUnit {unit!r} is neither W nor A")
    raw = schedule.get("chargingSchedulePeriod") or []
    periods: list[tuple[int, float]] = []
    for i, row in enumerate(raw):
        begin = row.get("startPeriod")
        if not isinstance(begin, int) or begin < 0:
            raise ProfileError(f"composite schedule: period {i} startPeriod {begin!r} is invalid")
        if periods and begin <= periods[-1][0]:
            raise ProfileError(f"composite schedule: period {i} starts at {begin} s, not after the one before")
        value = row.get("setpoint", row.get("limit"))
        if value is None:
            raise ProfileError(f"composite schedule: period {i} has neither limit nor setpoint")
        watts = float(value)
        if unit == "A":
            watts *= voltage_v * int(row.get("numberPhases", 3))
        periods.append((begin, watts / 1000.0))
    if not periods or periods[0][0] != 0:
        raise ProfileError("composite schedule: the first period must start at 0 s")
    n = math.ceil(duration / step_s)
    bounds = [b for b, _ in periods[1:]] + [duration]
    out: list[float] = []
    for k in range(n):
        lo, hi = k * step_s, min((k + 1) * step_s, duration)
        energy = 0.0
        for (b, kw), e in zip(periods, bounds, strict=True):
            overlap = min(hi, e) - max(lo, b)
            if overlap > 0:
                energy += kw * overlap
        out.append(energy / (hi - lo))
    return SetpointSeries(start, step_s, tuple(out))


def series_end(series: SetpointSeries) -> datetime:
    """When the series' last step ends."""
    return series.start + timedelta(seconds=series.duration_s)
