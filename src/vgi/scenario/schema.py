"""The scenario file: a frozen, validated description of one study.

A scenario names a fleet (a session file, or the session generator with an archetype mix, a count and a seed),
the tariffs its drivers pay (a default and rules per site or driver group), who may discharge (V2G share and
consent rules), the demand-response programmes and events, price and generation series, site and feeder
limits, the horizon and step, the time zone, and the control modes to compare.  The YAML layout is exactly
this model; every key is documented on its field, and ``docs/scenarios.md`` shows complete files.

Units are in the names: ``_kw`` (kW), ``_kwh`` (kWh), ``_per_kwh`` (the tariffs' currency per kWh),
``_per_kw``. Clock times are local ``HH:MM`` in the scenario's ``timezone``; ``24:00`` is the end of the day.

The loader (:mod:`vgi.scenario.loader`) applies ``extends:`` and overrides before this model validates, and
checks what needs the outside world (tariff ids, files, programmes) after.  Every error names the file, the
key path and what is expected.
"""

from __future__ import annotations

import datetime as dt
import re
import types
import typing
from typing import Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from vgi.model.tariffs import ExportPrice
from vgi.model.timegrid import TimezoneName, check_step_minutes

__all__ = [
    "ALL_MODES",
    "ARCHETYPES",
    "MODE_LABELS",
    "Aggregator",
    "Event",
    "Fleet",
    "Generator",
    "Grid",
    "Horizon",
    "Mode",
    "Options",
    "Prices",
    "Scenario",
    "Series",
    "TariffRule",
    "Tariffs",
    "V2GRules",
    "allowed_keys",
    "clock_hours",
]

Mode = Literal["uncontrolled", "indirect-v1g", "indirect-v2g", "direct-v1g", "direct-v2g"]
ALL_MODES: tuple[Mode, ...] = ("uncontrolled", "indirect-v1g", "indirect-v2g", "direct-v1g", "direct-v2g")
MODE_LABELS: dict[str, str] = {
    "uncontrolled": "uncontrolled charging",
    "indirect-v1g": "indirect V1G (price signal)",
    "indirect-v2g": "indirect V2G (price signal)",
    "direct-v1g": "direct V1G (aggregator)",
    "direct-v2g": "direct V2G (aggregator)",
}
ARCHETYPES = ("home", "workplace", "public_ac", "public_dc", "depot")
BaselineName = Literal[
    "uncontrolled",
    "same-mode",
    "programme",
    "x_of_y",
    "high_x_of_y",
    "caiso",
    "high_4_of_5",
    "similar_days",
    "meter_before_after",
]
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


def clock_hours(value: str) -> float:
    """``HH:MM`` (00:00-24:00) to hours after midnight; raises ValueError with what is expected."""
    text = str(value).strip()
    m = re.fullmatch(r"(\d{1,2}):(\d{2})", text)
    if not m:
        raise ValueError(f"'{value}' is not a clock time (expected HH:MM, e.g. '18:00')")
    hours = int(m.group(1)) + int(m.group(2)) / 60.0
    if int(m.group(2)) >= 60 or not 0.0 <= hours <= 24.0:
        raise ValueError(f"'{value}' is not a clock time between 00:00 and 24:00 (expected HH:MM, e.g. '18:00')")
    return hours


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Horizon(_Model):
    """The period simulated: ``days`` local calendar days from midnight of ``start``, in steps of
    ``step_minutes``."""

    start: dt.date = Field(description="first local day, YYYY-MM-DD")
    days: int = Field(7, ge=1, le=366, description="number of local days")
    step_minutes: int = Field(15, description="step length in minutes; divides an hour or a day")

    @field_validator("step_minutes")
    @classmethod
    def _step(cls, v: int) -> int:
        from vgi.errors import VgiError

        try:
            return check_step_minutes(v)
        except VgiError as exc:
            raise ValueError(f"{exc} (expected e.g. 5, 15, 30 or 60)") from exc


class Generator(_Model):
    """Synthetic sessions from :func:`vgi.model.generator.generate_sessions`.

    ``count`` and ``archetypes`` are passed as they are; ``archetypes`` is one name or a mapping name ->
    share.
    """

    count: int = Field(gt=0, description="vehicles (as the generator counts them)")
    archetypes: str | dict[str, float] = Field("home", description=f"one of {', '.join(ARCHETYPES)} or shares")
    seed: int = 0
    site_prefix: str = ""

    @field_validator("archetypes")
    @classmethod
    def _arch(cls, v: str | dict[str, float]) -> str | dict[str, float]:
        names = [v] if isinstance(v, str) else list(v)
        bad = [n for n in names if n not in ARCHETYPES]
        if bad:
            raise ValueError(f"unknown archetype(s) {bad} (expected {', '.join(ARCHETYPES)})")
        if isinstance(v, dict):
            if not v:
                raise ValueError(f"empty archetype mix (expected shares of {', '.join(ARCHETYPES)})")
            neg = [k for k, x in v.items() if not x >= 0]
            if neg:
                raise ValueError(f"archetype share(s) {neg} negative (expected shares >= 0)")
            if sum(v.values()) <= 0:
                raise ValueError("archetype shares add up to 0 (expected positive shares)")
        return v


class V2GRules(_Model):
    """Who may discharge, and how far.

    ``share``: the share of vehicles that are V2G-capable and consent (the generator draws them; for a session
    file, vehicles are drawn with ``seed``); None keeps what the sessions say.  ``max_discharge_kw`` gives V2G
    vehicles that lack a discharge power one.  ``min_soc``: the state of charge a driver always keeps (consent
    rule).  ``sites``: discharge is allowed only at sites matching these patterns (glob on ``site_id``), e.g.
    only at home or at the depot.
    """

    share: float | None = Field(None, ge=0.0, le=1.0)
    seed: int = 0
    max_discharge_kw: float | None = Field(None, gt=0.0)
    min_soc: float | None = Field(None, ge=0.0, le=1.0)
    sites: tuple[str, ...] | None = None


class Fleet(_Model):
    """The sessions: a file (``sessions``, relative to the scenario file) or the ``generator``; exactly one.

    ``vehicles``: how many vehicles the sessions belong to, for the per-EV-per-year figures (the generator
    draws a new vehicle for every session; a fleet of 300 cars that each charge once a day over a week is
    2,100 sessions of 300 vehicles).  Default: the number of distinct ``vehicle_id``.
    """

    sessions: str | None = Field(None, description="CSV or Parquet session file in vgi's generic layout")
    mapping: dict[str, str] | None = Field(None, description="{our column: their column} renaming for the file")
    generator: Generator | None = None
    v2g: V2GRules = V2GRules()
    vehicles: int | None = Field(None, gt=0, description="vehicles the sessions belong to, for per-EV figures")

    @model_validator(mode="after")
    def _one_source(self) -> Fleet:
        if (self.sessions is None) == (self.generator is None):
            raise ValueError("give exactly one of 'sessions' (a file) or 'generator'")
        if self.mapping is not None and self.sessions is None:
            raise ValueError("'mapping' renames columns of a 'sessions' file; there is none")
        return self


class TariffRule(_Model):
    """Sessions at sites matching ``sites`` or of vehicles matching ``vehicles`` (glob patterns) pay
    ``tariff``."""

    tariff: str
    sites: tuple[str, ...] = ()
    vehicles: tuple[str, ...] = ()

    @model_validator(mode="after")
    def _some_match(self) -> TariffRule:
        if not self.sites and not self.vehicles:
            raise ValueError("a rule needs 'sites' or 'vehicles' patterns (expected e.g. sites: ['work*'])")
        return self


class Tariffs(_Model):
    """What drivers pay: ``default`` for every session no rule matches (first matching rule wins).

    ``export`` replaces the export (V2G discharge) price of every tariff of the scenario: a policy lever
    (``{kind: fixed, price: 0.8}``, ``{kind: import_fraction, fraction: 1.0}``...).  ``critical_peak_days``:
    local dates on which triggered critical-peak rules apply.
    """

    default: str
    rules: tuple[TariffRule, ...] = ()
    export: ExportPrice | None = None
    critical_peak_days: tuple[dt.date, ...] = ()


class Series(_Model):
    """A time series: ``shipped`` (a series id of ``vgi/data/series``) or ``file`` (CSV
    ``timestamp,<value>``).

    Values are multiplied by ``scale``.  ``daily: true`` reads the series as a daily profile: only the local
    time of day counts and the profile repeats every day of the horizon.  Otherwise the series must cover the
    horizon; values are taken at each step start (the last value at or before it).
    """

    shipped: str | None = None
    file: str | None = None
    column: str | None = None
    scale: float = 1.0
    daily: bool = False

    @model_validator(mode="after")
    def _one(self) -> Series:
        if (self.shipped is None) == (self.file is None):
            raise ValueError("give exactly one of 'shipped' (a series id) or 'file' (a CSV)")
        return self


class Prices(_Model):
    """Series beside the tariffs.

    ``spot``: the series a dynamic tariff's formula reads (in its unit, e.g. EUR/MWh) and, with
    ``aggregator.prices: spot``, what the aggregator optimises against.  ``export_spot``: for series-based
    export prices.  ``renewable_kw``: generation available to absorb (kW).  ``base_load_kw``: other load on
    the same feeder (kW), for valley filling and peak-to-valley on the total.
    """

    spot: Series | None = None
    export_spot: Series | None = None
    renewable_kw: Series | None = None
    base_load_kw: Series | None = None


class Grid(_Model):
    """Limits the direct (aggregator) modes respect: per site (id or glob pattern -> kW import limit), on the
    whole fleet (feeder import and export limits, kW), and a transformer shared with the base load
    (``transformer_kw``: the fleet may import at most ``transformer_kw - base load`` at each step; needs
    ``prices.base_load_kw``).

    ``shared_meter``: which sites' cars sit behind one meter, so that the direct modes pay the import price on
    the site's net import and earn the export price on its net export (per step) instead of pricing each car
    apart: ``true`` (every site), ``false`` (none: each car has its own meter) or a list of site ids / glob
    patterns.  Default (unset): the sites with an import limit in ``site_limits_kw``, since a limit on a site's
    net power says its cars share one connection; other site ids (e.g. the generator's ``home``, which stands for
    many homes) are taken as a label for many meters.
    """

    site_limits_kw: dict[str, float] = Field(default_factory=dict)
    feeder_import_limit_kw: float | None = Field(None, gt=0.0)
    feeder_export_limit_kw: float | None = Field(None, ge=0.0)
    transformer_kw: float | None = Field(None, gt=0.0)
    shared_meter: bool | tuple[str, ...] | None = Field(
        None, description="sites whose cars share one meter: true, false or site ids / glob patterns"
    )

    @field_validator("shared_meter")
    @classmethod
    def _patterns(cls, v: bool | tuple[str, ...] | None) -> bool | tuple[str, ...] | None:
        if isinstance(v, tuple) and any(not str(p).strip() for p in v):
            raise ValueError("empty site pattern (expected site ids or glob patterns, e.g. ['depot*'])")
        return v

    @field_validator("site_limits_kw")
    @classmethod
    def _pos(cls, v: dict[str, float]) -> dict[str, float]:
        bad = [k for k, x in v.items() if not x > 0]
        if bad:
            raise ValueError(f"site limit(s) for {bad} not positive (expected kW > 0)")
        return v


class Event(_Model):
    """A demand-response call: on local ``day`` from ``start`` to ``end``, reduce the fleet's import.

    The request is ``reduction_kw`` or ``reduction_share`` of the baseline's average in the window (one of
    them). ``baseline``: ``uncontrolled`` (the same sessions charged uncontrolled, the EV counterfactual),
    ``same-mode`` (the mode's own schedule planned without the events), ``programme`` (the method of the
    event's programme) or a method of :mod:`vgi.dr.baselines` (``x_of_y``, ``high_x_of_y``, ``caiso``,
    ``high_4_of_5``, ``similar_days``, ``meter_before_after``) applied to the mode's own schedule planned
    without the events; the day-matching methods need enough earlier days in the horizon.

    Money: with a ``programme``, the programme's settlement rules (:func:`vgi.dr.settlement.settle_arrays`)
    with ``price_per_kwh`` as the event's clearing price (0: the programme's reference price); without one,
    the scenario rule: ``price_per_kwh`` per kWh reduced (capped at the request unless ``pay_over_delivery``)
    plus ``capacity_price_per_kw`` per kW requested, less ``penalty_per_kwh`` per kWh short.  ``notice`` is
    recorded (the aggregator plans with the call known in both cases).
    """

    id: str | None = None
    programme: str | None = None
    day: dt.date
    start: str
    end: str
    reduction_kw: float | None = Field(None, gt=0.0)
    reduction_share: float | None = Field(None, gt=0.0, le=1.0)
    price_per_kwh: float = Field(0.0, ge=0.0)
    capacity_price_per_kw: float = Field(0.0, ge=0.0)
    penalty_per_kwh: float = Field(0.0, ge=0.0)
    pay_over_delivery: bool = False
    notice: Literal["day-ahead", "intraday"] = "day-ahead"
    baseline: BaselineName = "uncontrolled"

    @field_validator("start", "end")
    @classmethod
    def _clock(cls, v: str) -> str:
        clock_hours(v)
        return v

    @model_validator(mode="after")
    def _check(self) -> Event:
        if (self.reduction_kw is None) == (self.reduction_share is None):
            raise ValueError("give exactly one of 'reduction_kw' or 'reduction_share'")
        if self.baseline == "programme" and self.programme is None:
            raise ValueError("baseline 'programme' needs the event's 'programme' (expected a programme id)")
        if clock_hours(self.end) <= clock_hours(self.start):
            raise ValueError(f"event end {self.end} is not after start {self.start} (expected a window within the day)")
        return self

    @property
    def start_hours(self) -> float:
        return clock_hours(self.start)

    @property
    def end_hours(self) -> float:
        return clock_hours(self.end)


class Aggregator(_Model):
    """The aggregator of the direct modes.

    ``prices``: what it minimises in direct modes, the default tariff's prices (``tariff``) or the ``spot``
    series (converted with ``spot_to_currency_per_kwh``).  ``driver_share``: share of its net demand-response
    revenue passed on to the drivers.  ``peak_weight_per_kw``: weight on the fleet's peak (a valley-filling
    aggregator). ``thresholds_kw``: aggregation thresholds (market minimum sizes) for which the report counts
    the EVs needed.  ``events_per_year``: how many calls like the horizon's a year brings, to put the
    demand-response money on a yearly basis (None: the horizon's events are counted once a year, not scaled by
    365 / days as energy is: calls are rare).  ``replan_every_minutes``: None plans the horizon once with every
    session known (the offline plan); a number re-plans online on a simulated clock (a multiple of the step).
    """

    prices: Literal["tariff", "spot"] = "tariff"
    spot_to_currency_per_kwh: float = 0.001
    driver_share: float = Field(0.5, ge=0.0, le=1.0)
    peak_weight_per_kw: float = Field(0.0, ge=0.0)
    thresholds_kw: tuple[float, ...] = (100.0, 500.0, 1000.0)
    events_per_year: float | None = Field(None, ge=0.0)
    replan_every_minutes: int | None = Field(
        None, gt=0, description="None: the direct modes plan the horizon once knowing every session (the offline "
        "plan); a number: the aggregator re-plans every so many minutes on a simulated clock, knowing only the "
        "cars plugged in, as the live service does",
    )

    @field_validator("thresholds_kw")
    @classmethod
    def _pos(cls, v: tuple[float, ...]) -> tuple[float, ...]:
        if any(not x > 0 for x in v):
            raise ValueError("thresholds must be positive kW")
        return v


class Options(_Model):
    """Solver and cost settings shared by every mode."""

    wear_cost_per_kwh: float = Field(0.0, ge=0.0, description="battery wear per battery-side kWh discharged")
    unmet_penalty_per_kwh: float | None = Field(None, gt=0.0)
    solver: Literal["auto", "lp", "decomposition"] = "auto"
    time_limit_s: float | None = Field(None, gt=0.0)


class Scenario(_Model):
    """One study: a fleet, its tariffs, programmes and events, prices, limits, horizon and modes to
    compare."""

    name: str
    description: str = ""
    extends: str | None = None
    sources: tuple[str, ...] = ()
    timezone: TimezoneName
    horizon: Horizon
    fleet: Fleet
    tariffs: Tariffs
    prices: Prices = Prices()
    grid: Grid = Grid()
    programmes: tuple[str, ...] = ()
    events: tuple[Event, ...] = ()
    aggregator: Aggregator = Aggregator()
    options: Options = Options()
    modes: tuple[Mode, ...] = ALL_MODES

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not _NAME.match(v):
            raise ValueError(f"'{v}' is not a usable name (expected letters, digits, '.', '_' or '-', e.g. 'my-study')")
        return v

    @field_validator("modes")
    @classmethod
    def _modes(cls, v: tuple[Mode, ...]) -> tuple[Mode, ...]:
        if not v:
            raise ValueError(f"no modes (expected some of {', '.join(ALL_MODES)})")
        dup = sorted({m for m in v if v.count(m) > 1})
        if dup:
            raise ValueError(f"mode(s) {dup} listed twice")
        # uncontrolled charging is the reference of every comparison: always run, always first
        return ("uncontrolled", *[m for m in ALL_MODES if m in v and m != "uncontrolled"])

    @model_validator(mode="after")
    def _events(self) -> Scenario:
        first = self.horizon.start
        last = first + dt.timedelta(days=self.horizon.days - 1)
        for i, event in enumerate(self.events):
            if not first <= event.day <= last:
                raise ValueError(
                    f"events[{i}].day {event.day} is outside the horizon {first} .. {last} "
                    "(expected a day of the horizon)"
                )
            for key in ("start", "end"):
                minutes = round(clock_hours(getattr(event, key)) * 60)
                if minutes % self.horizon.step_minutes:
                    raise ValueError(
                        f"events[{i}].{key} {getattr(event, key)} is not on a step boundary "
                        f"(expected a multiple of {self.horizon.step_minutes} min)"
                    )
        if self.grid.transformer_kw is not None and self.prices.base_load_kw is None:
            raise ValueError("grid.transformer_kw is shared with the base load: set prices.base_load_kw too")
        ids = [e.id for e in self.events if e.id is not None]
        dup = sorted({i for i in ids if ids.count(i) > 1})
        if dup:
            raise ValueError(f"event id(s) {dup} used twice")
        return self

    def event_ids(self) -> list[str]:
        """Each event's id (``event-1``, ... where none was given)."""
        return [e.id or f"event-{i + 1}" for i, e in enumerate(self.events)]


def _unwrap(annotation: Any) -> list[Any]:
    """The model classes an annotation can hold (through Optional, unions, tuples and dict values)."""
    origin = typing.get_origin(annotation)
    if origin in (Union, types.UnionType):
        out: list[Any] = []
        for arg in typing.get_args(annotation):
            out += _unwrap(arg)
        return out
    if origin in (tuple, list):
        return _unwrap(typing.get_args(annotation)[0]) if typing.get_args(annotation) else []
    if origin is dict:
        return _unwrap(typing.get_args(annotation)[1])
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return []


def allowed_keys(loc: tuple[str | int, ...], root: type[BaseModel] = Scenario) -> list[str]:
    """The keys the model accepts at key path ``loc`` (for 'unknown key' messages); [] if not a mapping."""
    models: list[type[BaseModel]] = [root]
    for item in loc:
        if isinstance(item, int):
            continue
        nxt: list[type[BaseModel]] = []
        for model in models:
            field = model.model_fields.get(str(item))
            if field is not None:
                nxt += _unwrap(field.annotation)
        if not nxt:
            return []
        models = nxt
    keys: list[str] = []
    for model in models:
        keys += [k for k in model.model_fields if k not in keys]
    return keys
