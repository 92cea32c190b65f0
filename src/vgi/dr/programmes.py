"""Demand-response programmes and market products as validated, frozen data.

A :class:`Programme` says what a buyer (system operator, utility, supplier) pays an aggregator for, and on which
terms: the service bought (peak shaving, valley filling, energy, capacity, reserve, frequency response), the
direction (``down``: less import or more export; ``up``: more import), notice and gate closure, response time,
minimum duration, minimum and maximum size, location rules, metering and telemetry, the baseline the response is
measured against, payments (energy, capacity, per event), penalties for under- and over-delivery, eligibility rules
(plugged-in hours, monthly kWh caps, yearly discharge) and which other schemes may not pay for the same kWh.

Every shipped programme (``vgi/data/programmes/*.yaml``) names its sources and the date it applies from, gives
under ``value_sources`` the source and start date of single values that changed over time (a season's average
price, a first auction's clearing price), and lists under ``assumptions`` each value that the sources do not give
(key path -> why this value was chosen).  A reader can therefore tell a rule from an assumption;
``vgi programmes show ID`` prints both.

Units: power in kW, energy in kWh, money in the programme's currency (per kWh, per kW-month, per kW-hour of
availability, per event); durations in minutes; clock times local to the programme's time zone.
"""

from __future__ import annotations

import datetime as dt
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from vgi.errors import VgiError
from vgi.io.files import library_by_id, read_yaml_file, validate_mapping
from vgi.model.timegrid import TimezoneName

__all__ = [
    "BaselineSpec",
    "ClockWindow",
    "Eligibility",
    "Location",
    "Metering",
    "Payments",
    "Penalties",
    "PriceRule",
    "Programme",
    "Size",
    "Timing",
    "ValueSource",
    "get_programme",
    "load_programme",
    "load_programme_file",
    "programme_library",
]

Service = Literal[
    "peak_shaving", "valley_filling", "energy", "capacity", "reserve", "frequency_response", "constraint_management"
]
Direction = Literal["down", "up", "both"]
BaselineMethod = Literal[
    "x_of_y", "high_x_of_y", "caiso", "high_4_of_5", "similar_days", "declared", "meter_before_after",
    "ev_counterfactual", "none",
]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


def _clock_minutes(value: object) -> float:
    """'HH:MM' (or hours as a number) to minutes after local midnight; '24:00' is 1440."""
    if isinstance(value, int | float):
        minutes = float(value) * 60.0
    else:
        text = str(value).strip()
        try:
            hh, mm = text.split(":") if ":" in text else (text, "0")
            minutes = int(hh) * 60.0 + int(mm)
        except ValueError as exc:
            raise ValueError(f"'{value}' is not a clock time HH:MM") from exc
    if not 0.0 <= minutes <= 1440.0:
        raise ValueError(f"clock time {value} outside 00:00-24:00")
    return minutes


class ClockWindow(_Frozen):
    """A local clock window ``[start, end)``; ``end`` before ``start`` wraps past midnight."""

    start: str
    end: str

    @field_validator("start", "end", mode="before")
    @classmethod
    def _clock(cls, v: object) -> str:
        minutes = _clock_minutes(v)
        return f"{int(minutes // 60):02d}:{int(minutes % 60):02d}"

    @property
    def start_minutes(self) -> float:
        return _clock_minutes(self.start)

    @property
    def end_minutes(self) -> float:
        return _clock_minutes(self.end)

    def contains(self, minute_of_day: Any) -> Any:
        """Whether each local minute-of-day lies in the window (numpy arrays welcome)."""
        a, b = self.start_minutes, self.end_minutes
        if b > a:
            return (minute_of_day >= a) & (minute_of_day < b)
        return (minute_of_day >= a) | (minute_of_day < b)


class Timing(_Frozen):
    """When a product is traded and called, and how fast and long it must respond.

    Attributes:
        invitation: how a call reaches the aggregator: ``day_ahead`` (invitation or market the day before),
            ``intraday``, ``real_time`` (an instruction with ``response_minutes``), ``contracted`` (a reserved
            capacity called later), ``none`` (a retail scheme with no events).
        notice_minutes: least notice between the call and the start of delivery.
        gate_closure_minutes_before: offers close this long before delivery starts (UK BM: 60).
        gate_closure_local_time / gate_closure_days_before: offers for day D close at this local clock time on day
            D - days_before (GB DFS: 16:30 the day before).
        response_minutes: instruction to full response.
        min_duration_minutes / max_duration_minutes: how long a response must / may be held.
        settlement_period_minutes: the period over which delivery is measured and paid (GB: 30; CN: 15 or 60).
        call_windows: local clock windows in which calls are expected (eligibility and offers look there first);
            empty means any time of day.
    """

    invitation: Literal["day_ahead", "intraday", "real_time", "contracted", "none"] = "day_ahead"
    notice_minutes: float | None = None
    gate_closure_minutes_before: float | None = None
    gate_closure_local_time: str | None = None
    gate_closure_days_before: int = 1
    response_minutes: float | None = None
    min_duration_minutes: float = 60.0
    max_duration_minutes: float | None = None
    settlement_period_minutes: int = 60
    call_windows: tuple[ClockWindow, ...] = ()

    @field_validator("gate_closure_local_time", mode="before")
    @classmethod
    def _gate_clock(cls, v: object) -> str | None:
        if v is None:
            return None
        minutes = _clock_minutes(v)
        return f"{int(minutes // 60):02d}:{int(minutes % 60):02d}"

    @model_validator(mode="after")
    def _check(self) -> Timing:
        if self.min_duration_minutes <= 0:
            raise ValueError("min_duration_minutes must be positive")
        if self.max_duration_minutes is not None and self.max_duration_minutes < self.min_duration_minutes:
            raise ValueError("max_duration_minutes is below min_duration_minutes")
        if self.settlement_period_minutes <= 0 or 1440 % self.settlement_period_minutes:
            raise ValueError("settlement_period_minutes must divide a day")
        return self


class Size(_Frozen):
    """Size limits of one aggregation (kW of response, not of connected chargers)."""

    min_kw: float = 0.0
    max_kw: float | None = None
    increment_kw: float | None = None

    @model_validator(mode="after")
    def _check(self) -> Size:
        if self.min_kw < 0 or (self.max_kw is not None and self.max_kw < self.min_kw):
            raise ValueError("need 0 <= min_kw <= max_kw")
        return self


class Location(_Frozen):
    """Where the resources of one aggregation may sit.

    ``scope``: ``none`` (anywhere), ``single_site``, ``same_zone`` (one pricing or network zone: CAISO sub-LAP, a GB
    grid supply point group, a DNO constraint zone), ``same_province``.  ``zone_kind`` names the zone.
    """

    scope: Literal["none", "single_site", "same_zone", "same_province"] = "none"
    zone_kind: str | None = None
    description: str = ""


class Metering(_Frozen):
    """Metering and telemetry an aggregation needs.

    Attributes:
        interval_minutes: resolution of the settlement meter data required (30 = half-hourly; 1/60 = 1 Hz).
        per_resource: every resource must be metered directly (CAISO DERA).
        telemetry: ``none``, ``always`` (real-time data to the operator), or ``above_threshold``.
        telemetry_above_kw: size above which telemetry is needed (CAISO DERA: 10 MW).
        telemetry_interval_seconds: telemetry resolution.
        accuracy_fraction: metering accuracy (GB BM: 0.01).
    """

    interval_minutes: float | None = None
    per_resource: bool = False
    telemetry: Literal["none", "always", "above_threshold"] = "none"
    telemetry_above_kw: float | None = None
    telemetry_interval_seconds: float | None = None
    accuracy_fraction: float | None = None
    description: str = ""


class BaselineSpec(_Frozen):
    """The baseline a response is measured against (see :mod:`vgi.dr.baselines`).

    Attributes:
        method: ``caiso`` (CAISO's Customer Load Baseline: 10-in-10 on weekdays, 4-in-4 on weekends and holidays,
            capped load point adjustment; :func:`vgi.dr.baselines.caiso_10_in_10`), ``high_4_of_5`` (PJM's
            weekday rule, :func:`vgi.dr.baselines.high_4_of_5`), ``x_of_y`` (average of the x most recent of y
            similar days, the same x on every day type), ``high_x_of_y``
            (the x highest of the y most recent, PJM high 4 of 5), ``similar_days`` (average of the n most recent
            similar days, no adjustment: Chinese provincial rules), ``declared`` (a declared schedule, GB BM
            physical notification), ``meter_before_after`` (the meter reading before the instruction held flat),
            ``ev_counterfactual`` (the same sessions charged uncontrolled), ``none``.
        x, y, lookback_days, same_day_type: day selection.
        adjustment: day-of adjustment: ``none``, ``multiplicative`` (ratio of actual to baseline load in the
            adjustment window), ``additive`` (difference).
        adjustment_cap: the adjustment is capped at +/- this fraction of the baseline (CAISO: 0.2); None = uncapped.
        adjustment_window_minutes: window of the adjustment relative to the event start, e.g. (-240, -60): the
            three hours ending one hour before the event.
        before_minutes: meter-before window for ``meter_before_after``.
    """

    method: BaselineMethod = "none"
    x: int | None = None
    y: int | None = None
    lookback_days: int | None = None
    same_day_type: bool = True
    adjustment: Literal["none", "multiplicative", "additive"] = "none"
    adjustment_cap: float | None = None
    adjustment_window_minutes: tuple[float, float] | None = None
    before_minutes: float | None = None
    description: str = ""

    @model_validator(mode="after")
    def _check(self) -> BaselineSpec:
        if self.method in ("x_of_y", "high_x_of_y") and (self.x is None or self.y is None):
            raise ValueError(f"baseline method {self.method} needs x and y")
        if self.x is not None and self.y is not None and not 1 <= self.x <= self.y:
            raise ValueError("need 1 <= x <= y")
        if self.adjustment != "none" and self.adjustment_window_minutes is None:
            raise ValueError("a day-of adjustment needs adjustment_window_minutes")
        w = self.adjustment_window_minutes
        if w is not None and not w[0] < w[1] <= 0:
            raise ValueError("adjustment_window_minutes must be (start, end) with start < end <= 0 (before the event)")
        if self.method == "meter_before_after" and (self.before_minutes is None or self.before_minutes <= 0):
            raise ValueError("meter_before_after needs a positive before_minutes")
        return self


class PriceRule(_Frozen):
    """How the energy of a response is priced (per kWh of measured response).

    ``kind``: ``fixed`` (``price_per_kwh``), ``clearing`` (the event's clearing price; ``price_per_kwh`` is the
    reference used when an event gives none), ``pay_as_bid`` (the aggregator's offer price), ``none``.  The paid
    price is clipped to ``[floor_per_kwh, cap_per_kwh]``.
    """

    kind: Literal["fixed", "clearing", "pay_as_bid", "none"] = "fixed"
    price_per_kwh: float | None = None
    cap_per_kwh: float | None = None
    floor_per_kwh: float | None = None

    @model_validator(mode="after")
    def _check(self) -> PriceRule:
        if self.kind == "fixed" and self.price_per_kwh is None:
            raise ValueError("a fixed price rule needs price_per_kwh")
        if (
            self.cap_per_kwh is not None
            and self.floor_per_kwh is not None
            and self.cap_per_kwh < self.floor_per_kwh
        ):
            raise ValueError("cap_per_kwh is below floor_per_kwh")
        return self

    def price(self, event_price_per_kwh: float | None = None) -> float:
        """The price paid per kWh for an event (``event_price_per_kwh``: clearing or offer price)."""
        if self.kind == "none":
            return 0.0
        if self.kind == "fixed":
            value = float(self.price_per_kwh or 0.0)
        else:
            given = event_price_per_kwh if event_price_per_kwh is not None else self.price_per_kwh
            if given is None:
                raise VgiError(f"a {self.kind} price rule needs the event's price (none given and no reference)")
            value = float(given)
        if self.cap_per_kwh is not None:
            value = min(value, self.cap_per_kwh)
        if self.floor_per_kwh is not None:
            value = max(value, self.floor_per_kwh)
        return value


class Payments(_Frozen):
    """What a programme pays.

    Attributes:
        energy_down / energy_up: price of each kWh of measured response in each direction.
        capacity_per_kw_month: capacity (reservation) payment per kW contracted per month.
        capacity_basis: ``contracted`` (all contracted kW) or ``uncalled`` (only the part not called in the month,
            Hainan's contracted peak shaving).
        availability_per_kw_hour: availability payment per kW per hour made available (GB STOR).
        per_event: a fixed payment per event delivered (participation bonus).
        capacity_performance_scaled: the capacity payment is scaled by the performance ratio (at most 1).
    """

    energy_down: PriceRule | None = None
    energy_up: PriceRule | None = None
    capacity_per_kw_month: float = 0.0
    capacity_basis: Literal["contracted", "uncalled"] = "contracted"
    availability_per_kw_hour: float = 0.0
    per_event: float = 0.0
    capacity_performance_scaled: bool = False

    def energy_rule(self, direction: Literal["down", "up"]) -> PriceRule | None:
        return self.energy_down if direction == "down" else self.energy_up


class Penalties(_Frozen):
    """Rules for under- and over-delivery, applied per settlement period.

    ``performance`` is the measured response divided by the committed (cleared, instructed) response.

    Attributes:
        min_performance_paid: periods whose performance is below this share earn no energy payment ("invalid
            response"); 0 pays any positive response.
        over_delivery_paid_up_to: response above committed x this share is not paid (None: no cap).
        under_rule: ``none``; ``threshold_factor`` (penalty = max(0, committed x under_threshold - response) x
            price x under_factor: Guangdong's R1/M formula); ``non_delivery`` (the shortfall below committed pays
            back max(0, price - imbalance price) per kWh: GB BM non-delivery); ``fixed_rate`` (shortfall below
            committed x under_threshold x under_price_per_kwh).
        under_price_per_kwh: price of the penalty (None: the period's energy price).
        over_penalty_threshold / over_penalty_per_kwh: response above committed x threshold pays this per kWh.
        capacity_clawback_below: an event with performance below this share forfeits that month's capacity payment.
    """

    min_performance_paid: float = 0.0
    over_delivery_paid_up_to: float | None = None
    under_rule: Literal["none", "threshold_factor", "non_delivery", "fixed_rate"] = "none"
    under_threshold: float = 1.0
    under_factor: float = 1.0
    under_price_per_kwh: float | None = None
    over_penalty_threshold: float | None = None
    over_penalty_per_kwh: float = 0.0
    capacity_clawback_below: float | None = None
    description: str = ""

    @model_validator(mode="after")
    def _check(self) -> Penalties:
        if not 0.0 <= self.min_performance_paid <= 1.0:
            raise ValueError("min_performance_paid must be in [0, 1]")
        if self.over_delivery_paid_up_to is not None and self.over_delivery_paid_up_to < 1.0:
            raise ValueError("over_delivery_paid_up_to must be at least 1")
        if self.under_rule == "fixed_rate" and self.under_price_per_kwh is None:
            raise ValueError("the fixed_rate penalty needs under_price_per_kwh")
        return self


class Eligibility(_Frozen):
    """Conditions on the participants and their behaviour.

    Attributes:
        v2g_required: the scheme needs bidirectional charging (discharge to the grid).
        min_plugged_hours: a qualifying plug-in lasts at least this long.
        plug_in_every_days: a vehicle has a qualifying plug-in at least once every this many days.
        max_monthly_kwh: a vehicle charges less than this per calendar month.
        min_annual_discharge_kwh: the aggregation (project) discharges at least this much per year.
        hardware: required equipment (free text, listed for the user).
        exclusive_with: schemes that may not pay for the same kWh (ids or kinds such as ``retail_dr``): the
            double-compensation rule.
    """

    v2g_required: bool = False
    min_plugged_hours: float | None = None
    plug_in_every_days: float | None = None
    max_monthly_kwh: float | None = None
    min_annual_discharge_kwh: float | None = None
    hardware: tuple[str, ...] = ()
    exclusive_with: tuple[str, ...] = ()
    description: str = ""


ProgrammeKind = Literal[
    "wholesale", "balancing", "ancillary", "demand_response", "flexibility", "retail", "pilot_rule"
]


class ValueSource(_Frozen):
    """Where one value of a programme comes from and the date it applies from.

    Attributes:
        source: the document or page (with its date where known).
        applies_from: the first day the value applies (a season's start, a first auction, a code change going live).
        detail: how the value follows from the source's figures (e.g. "GBP 1.2 m / 3,917.7 MWh = GBP 306/MWh").
    """

    source: str
    applies_from: dt.date
    detail: str = ""


class Programme(_Frozen):
    """A demand-response programme or market product (see the module docstring).

    ``assumptions`` maps a key path (``payments.energy_down.cap_per_kwh``) to the reason the value is an assumption
    rather than a rule from the sources; every path must name a field of the programme.  ``value_sources`` maps a
    key path to the source of that one value and the date it applies from; a path is either sourced or assumed,
    never both.
    """

    id: str
    name: str
    region: str
    country: str
    operator: str = ""
    level: Literal["wholesale", "retail"] = "wholesale"
    kind: ProgrammeKind
    currency: str
    timezone: TimezoneName
    valid_from: dt.date
    valid_to: dt.date | None = None
    source: tuple[str, ...]
    verification: Literal["verified-primary", "verified-secondary", "secondary", "unverified", "assumption"]
    services: tuple[Service, ...]
    direction: Direction
    export_counts: bool = True
    timing: Timing = Timing()
    size: Size = Size()
    location: Location = Location()
    metering: Metering = Metering()
    baseline: BaselineSpec = BaselineSpec()
    payments: Payments = Payments()
    penalties: Penalties = Penalties()
    eligibility: Eligibility = Eligibility()
    assumptions: dict[str, str] = Field(default_factory=dict)
    value_sources: dict[str, ValueSource] = Field(default_factory=dict)
    notes: str = ""

    @field_validator("source", mode="before")
    @classmethod
    def _sources(cls, v: object) -> object:
        return (v,) if isinstance(v, str) else v

    @model_validator(mode="after")
    def _check(self) -> Programme:
        if not self.source:
            raise ValueError("a programme must name at least one source")
        if not self.services:
            raise ValueError("a programme must name the services it buys")
        for path in self.assumptions:
            if not _has_path(self, path):
                raise ValueError(f"assumption '{path}' does not name a field of the programme")
        for path in self.value_sources:
            if not _has_path(self, path):
                raise ValueError(f"value_sources '{path}' does not name a field of the programme")
            if self.is_assumption(path):
                raise ValueError(f"'{path}' is both sourced (value_sources) and an assumption")
        return self

    @property
    def directions(self) -> tuple[Literal["down", "up"], ...]:
        """The directions a response may take: ``("down",)``, ``("up",)`` or both."""
        if self.direction == "both":
            return ("down", "up")
        return (self.direction,)

    def is_assumption(self, path: str) -> bool:
        """Whether the value at ``path`` (or a parent of it) is an assumption rather than a sourced rule."""
        return any(path == key or path.startswith(key + ".") for key in self.assumptions)

    def summary(self) -> dict[str, Any]:
        """A short dict for tables: id, name, region, kind, services, size and timing."""
        return {
            "id": self.id,
            "name": self.name,
            "region": self.region,
            "kind": self.kind,
            "services": ",".join(self.services),
            "direction": self.direction,
            "min_kw": self.size.min_kw,
            "max_kw": self.size.max_kw,
            "min_duration_minutes": self.timing.min_duration_minutes,
            "currency": self.currency,
            "valid_from": self.valid_from.isoformat(),
        }


def _has_path(model: BaseModel, path: str) -> bool:
    obj: Any = model
    for part in path.split("."):
        if isinstance(obj, BaseModel):
            if part not in type(obj).model_fields:
                return False
            obj = getattr(obj, part)
        elif isinstance(obj, dict):
            if part not in obj:
                return False
            obj = obj[part]
        elif isinstance(obj, tuple | list) and part.isdigit() and int(part) < len(obj):
            obj = obj[int(part)]
        else:
            return False
    return True


def load_programme(data: dict[str, Any], source: str = "<memory>") -> Programme:
    """Validate a programme given as a mapping (the YAML layout); errors name the source and key path."""
    return validate_mapping(Programme, data, source, "programme")


def load_programme_file(path: str | Path) -> Programme:
    """Read a programme YAML (or JSON) file."""
    p = Path(path)
    return load_programme(read_yaml_file(p, "programme"), str(p))


@lru_cache(maxsize=1)
def programme_library() -> dict[str, Programme]:
    """Every shipped programme, by id (file name = id + ``.yaml``)."""
    return library_by_id("programmes", load_programme_file, "programme")


def get_programme(id_or_path: str | Programme) -> Programme:
    """A shipped programme by id, or a programme file by path."""
    if isinstance(id_or_path, Programme):
        return id_or_path
    lib = programme_library()
    if id_or_path in lib:
        return lib[id_or_path]
    p = Path(id_or_path)
    if p.suffix.lower() in (".yaml", ".yml", ".json") and p.exists():
        return load_programme_file(p)
    close = [k for k in lib if id_or_path.lower() in k]
    hint = f"; did you mean {', '.join(close[:5])}?" if close else "; `vgi programmes list` shows them"
    raise VgiError(f"unknown programme '{id_or_path}'{hint}")
