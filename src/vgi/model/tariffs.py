"""Tariffs as validated, frozen data, and their prices on a time grid.

A :class:`Tariff` is read from a YAML file of the tariff library (``vgi/data/tariffs``) or built in code.  It
covers:

* energy (import) prices by named period, with seasons (month ranges), day types (weekday, weekend, holiday)
  and clock-time windows; a window may be limited to some months (SDG&E's March-April super off-peak);
* critical-peak rules: fixed months and windows, or triggered days (``trigger`` set: a caller passes the
  dates, e.g. Guangdong's 35 degC days or SCE's CPP events);
* consumption tiers (monthly or yearly blocks, each adding a price per kWh beyond its threshold);
* dynamic prices from a series with a formula ``(multiplier * spot + adder + window adders) * (1 + vat)``,
  optionally capped and floored (Octopus Agile, German spot tariffs);
* export / V2G discharge prices: none, fixed, by period, from a series, or a fraction of the import price;
* demand charges (per kW of a month's maximum demand, optionally only in some periods) and capacity
  subscriptions in blocks with an overage charge (PG&E BEV);
* fixed charges per day, per month or per bill; currency, source, verification status and the dates the tariff is
  in force (``valid_from``, optional ``valid_to``; :func:`check_validity` refuses a period outside them, and
  :func:`select_version` picks the version of a tariff in force for a period).

Prices are in the tariff's currency per kWh (or per kW for demand); local clock times are in the tariff's time
zone, intervals are ``[start, end)``, and ``end == "24:00"`` means midnight at the end of the day.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from functools import lru_cache
from typing import Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from vgi.errors import VgiError
from vgi.model.timegrid import TimezoneName

__all__ = [
    "CapacitySubscription",
    "CriticalPeak",
    "DayType",
    "DemandCharge",
    "DynamicFormula",
    "EnergySchedule",
    "ExportPrice",
    "FixedCharge",
    "PriceVectors",
    "Season",
    "Tariff",
    "TierBlock",
    "Tiers",
    "Window",
    "check_validity",
    "day_groups",
    "demand_mask",
    "holiday_dates",
    "holiday_mask",
    "local_hours",
    "schedule_rows",
    "select_version",
    "tariff_boundaries_minutes",
    "tariff_prices",
    "windows_for",
]

DayType = Literal["all", "weekday", "weekend", "holiday"]


def _parse_clock(value: str | int | float) -> float:
    """'HH:MM' (or hours as a number) to hours after midnight; '24:00' is 24."""
    if isinstance(value, int | float):
        hours = float(value)
    else:
        text = str(value).strip()
        try:
            hh, mm = text.split(":") if ":" in text else (text, "0")
            hours = int(hh) + int(mm) / 60.0
        except ValueError as exc:
            raise ValueError(f"'{value}' is not a clock time HH:MM") from exc
    if not 0.0 <= hours <= 24.0:
        raise ValueError(f"clock time {value} outside 00:00-24:00")
    return hours


def _months(value: object) -> tuple[int, ...]:
    """Months as 1-12; accepts [6, 7, 8] or ['6-9'] or '11-3' (wrapping)."""
    if value is None:
        return tuple(range(1, 13))
    items = value if isinstance(value, list | tuple) else [value]
    out: list[int] = []
    for item in items:
        if isinstance(item, str) and "-" in item:
            a, b = (int(x) for x in item.split("-"))
            out += list(range(a, b + 1)) if a <= b else list(range(a, 13)) + list(range(1, b + 1))
        else:
            out.append(int(str(item)))
    bad = [m for m in out if not 1 <= m <= 12]
    if bad:
        raise ValueError(f"months must be 1-12, got {bad}")
    return tuple(sorted(set(out)))


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Window(_Frozen):
    """A clock-time window ``[start, end)`` that maps to a named period; wraps midnight if end <= start."""

    start: float
    end: float
    period: str = ""
    months: tuple[int, ...] = tuple(range(1, 13))

    @field_validator("start", "end", mode="before")
    @classmethod
    def _clock(cls, v: object) -> float:
        return _parse_clock(v)  # type: ignore[arg-type]

    @field_validator("months", mode="before")
    @classmethod
    def _m(cls, v: object) -> tuple[int, ...]:
        return _months(v)

    def contains(self, hour: np.ndarray) -> np.ndarray:
        """Mask of local hours-of-day (float) inside the window."""
        if self.end > self.start:
            return (hour >= self.start) & (hour < self.end)
        return (hour >= self.start) | (hour < self.end)


class Season(_Frozen):
    """Months with their own period prices and day-type windows.

    ``windows`` maps a day type to its windows; hours not in any window take ``default_period``.  A holiday
    uses the ``holiday`` windows, else ``weekend``, else ``all``; a weekend day uses ``weekend`` else ``all``;
    a weekday uses ``weekday`` else ``all``.
    """

    name: str = "all year"
    months: tuple[int, ...] = tuple(range(1, 13))
    prices: dict[str, float] = Field(default_factory=dict)
    windows: dict[DayType, tuple[Window, ...]] = Field(default_factory=dict)
    default_period: str

    @field_validator("months", mode="before")
    @classmethod
    def _m(cls, v: object) -> tuple[int, ...]:
        return _months(v)


class EnergySchedule(_Frozen):
    """Period prices (currency/kWh) and the seasons that say which period applies when.

    ``prices`` are the defaults; a season's ``prices`` override them for its months.
    """

    prices: dict[str, float] = Field(default_factory=dict)
    seasons: tuple[Season, ...]

    @model_validator(mode="after")
    def _check(self) -> EnergySchedule:
        covered: list[int] = []
        for season in self.seasons:
            covered += list(season.months)
            known = {**self.prices, **season.prices}
            used = {season.default_period} | {w.period for ws in season.windows.values() for w in ws}
            missing = sorted(p for p in used if p not in known)
            if missing:
                raise ValueError(f"season '{season.name}' uses period(s) without a price: {missing}")
        dup = sorted({m for m in covered if covered.count(m) > 1})
        if dup:
            raise ValueError(f"months {dup} are in more than one season")
        gap = sorted(set(range(1, 13)) - set(covered))
        if gap:
            raise ValueError(f"months {gap} are in no season")
        return self


class CriticalPeak(_Frozen):
    """Critical-peak pricing: windows in which the price is replaced (``price``) or scaled (``multiplier``).

    Fixed rules apply on every matching day (``months``, ``day_types``).  With ``trigger`` set (e.g.
    ``"forecast max temperature >= 35 degC"`` or ``"utility event"``) the rule applies only on the dates a
    caller passes as ``critical_peak_days``.  ``applies: false`` documents rules that exist but do
    not bind the tariff's customers; such a rule is never applied.
    """

    name: str = "critical peak"
    months: tuple[int, ...] = tuple(range(1, 13))
    day_types: tuple[DayType, ...] = ("all",)
    windows: tuple[Window, ...]
    price: float | None = None
    multiplier: float | None = None
    adder: float | None = None
    trigger: str | None = None
    applies: bool = True

    @field_validator("months", mode="before")
    @classmethod
    def _m(cls, v: object) -> tuple[int, ...]:
        return _months(v)

    @model_validator(mode="after")
    def _one_rule(self) -> CriticalPeak:
        given = [x for x in (self.price, self.multiplier, self.adder) if x is not None]
        if len(given) != 1:
            raise ValueError("critical peak needs exactly one of price, multiplier, adder")
        return self


class TierBlock(_Frozen):
    """A consumption block: kWh up to ``up_to_kwh`` (cumulative over the counting period; None: unbounded)
    pay ``adder`` (currency/kWh) on top of the period price; ``period_adders`` overrides the adder for some
    periods (e.g. a tier that adds more to peak than to valley kWh)."""

    up_to_kwh: float | None = None
    adder: float = 0.0
    period_adders: dict[str, float] = Field(default_factory=dict)


class Tiers(_Frozen):
    """Consumption tiers counted per calendar ``month`` or ``year``; ``blocks`` by season name or 'all'.

    Blocks are cumulative thresholds: with blocks ``[{up_to_kwh: 200}, {up_to_kwh: 400, adder: 0.05},
    {adder: 0.30}]`` the first 200 kWh of a month pay the period price, the next 200 kWh 0.05 more and the
    rest 0.30 more.  Counting follows the season of each kWh (a month belongs to one season).  Tiers are
    counted per meter: bill each household's profile, not a fleet's sum.  ``applies: false`` documents blocks
    that exist for the customer class but are not applied by default (a caller may copy the tariff with
    ``applies`` set).
    """

    per: Literal["month", "year"] = "month"
    blocks: dict[str, tuple[TierBlock, ...]]
    applies: bool = True

    def blocks_for(self, season: str) -> tuple[TierBlock, ...]:
        return self.blocks.get(season, self.blocks.get("all", ()))


class DynamicFormula(_Frozen):
    """``price = clip((multiplier * spot + adder + window adders) * (1 + vat), floor, cap)``.

    ``spot`` is the series value converted to currency/kWh with ``series_to_currency_per_kwh`` (e.g. 0.001 for
    EUR/MWh to EUR/kWh, 0.01 for p/kWh to GBP/kWh).  ``cap`` and ``floor`` apply to the final price.
    """

    multiplier: float = 1.0
    adder: float = 0.0
    window_adders: tuple[Window, ...] = ()
    window_adder_values: tuple[float, ...] = ()
    vat: float = 0.0
    cap: float | None = None
    floor: float | None = None
    series_to_currency_per_kwh: float = 1.0
    series: str | None = None

    @model_validator(mode="after")
    def _lengths(self) -> DynamicFormula:
        if len(self.window_adders) != len(self.window_adder_values):
            raise ValueError("window_adders and window_adder_values must have the same length")
        return self

    def apply(self, spot: np.ndarray, local_hour: np.ndarray, local_month: np.ndarray | None = None) -> np.ndarray:
        """The price at each step from the series value, local hour and (for windows limited to some months,
        e.g. a grid fee's winter-quarter stages) local month 1-12."""
        price = self.multiplier * spot * self.series_to_currency_per_kwh + self.adder
        for window, value in zip(self.window_adders, self.window_adder_values, strict=True):
            hit = window.contains(local_hour)
            if len(window.months) < 12:
                if local_month is None:
                    raise VgiError("a dynamic window adder limited to some months needs the local month")
                hit = hit & np.isin(local_month, window.months)
            price = price + np.where(hit, value, 0.0)
        price = price * (1.0 + self.vat)
        if self.cap is not None:
            price = np.minimum(price, self.cap)
        if self.floor is not None:
            price = np.maximum(price, self.floor)
        return np.asarray(price, dtype=float)


class ExportPrice(_Frozen):
    """What exported (V2G discharged) energy earns, currency/kWh.

    kind: ``none`` (exports earn nothing), ``fixed`` (``price``), ``periods`` (``prices`` by import period
    name, missing periods earn ``price``), ``import_fraction`` (``fraction`` x the import price of that step,
    e.g. a discharge price equal to the catalogue price), ``series`` (``formula`` applied to an export price
    series).
    ``extra`` is added to every kWh exported (a subsidy, e.g. a city's per-kWh V2G discharge subsidy).
    """

    kind: Literal["none", "fixed", "periods", "import_fraction", "series"] = "none"
    price: float = 0.0
    prices: dict[str, float] = Field(default_factory=dict)
    fraction: float = 1.0
    formula: DynamicFormula | None = None
    extra: float = 0.0
    note: str | None = None


class DemandCharge(_Frozen):
    """Per kW of the billing month's maximum demand (average import power over ``interval_minutes``).

    ``periods`` limits the maximum to steps in those import periods (a peak-period demand charge); ``months``
    limits it to some months; ``windows`` (by day type, like a season's) limits it to clock windows of its own
    (URDB's demand schedules, which need not follow the energy periods).
    """

    name: str = "demand"
    price_per_kw: float
    periods: tuple[str, ...] | None = None
    months: tuple[int, ...] = tuple(range(1, 13))
    windows: dict[DayType, tuple[Window, ...]] | None = None
    interval_minutes: int = 15

    @field_validator("months", mode="before")
    @classmethod
    def _m(cls, v: object) -> tuple[int, ...]:
        return _months(v)


class CapacitySubscription(_Frozen):
    """A monthly subscription in blocks of ``block_kw`` at ``price_per_block``; demand above it pays
    ``overage_per_kw``.  The bill takes a subscribed number of blocks or, if none is given, the cheapest number that
    is at least ``min_blocks`` (a subscription of zero blocks is not offered)."""

    block_kw: float
    price_per_block: float
    overage_per_kw: float
    interval_minutes: int = 15
    min_blocks: int = Field(default=1, ge=0)


class FixedCharge(_Frozen):
    """A fixed amount per ``day``, per ``month`` (prorated by days for part months) or per ``bill``; may be
    negative (a credit)."""

    name: str
    amount: float
    per: Literal["day", "month", "bill"] = "month"


class Tariff(_Frozen):
    """A tariff: what a customer pays for import and earns for export, with its source.

    ``verification`` follows the research notes: ``verified-primary`` (the utility's own text),
    ``verified-secondary`` (a reprint or dataset citing it), ``secondary``, ``unverified``, ``assumption``;
    ``verification_detail`` gives the status of single items (e.g. a day rate taken from a proxy).
    ``hours_verified`` is false where the clock hours could not be confirmed for the stated date and customer
    class.  A tariff file is not ``hours_verified`` unless it says so, and the top-level ``verification`` may
    not claim more than the hours: ``verified-primary`` and ``verified-secondary`` need ``hours_verified: true``.

    Validity: ``valid_to`` (optional) is the last local day the tariff (this version of it) is in force; a
    period running past it is refused.  ``valid_from`` is the first day the recorded prices are known to apply;
    with ``starts_on_valid_from: true`` it is also the day the tariff (version) began, and a period starting
    before it is refused.  Without it (most library entries: ``valid_from`` is the date of the price source, e.g.
    the report's table "as of June 2024"), earlier days are billed at the recorded prices.  Versions of one
    tariff over time share an ``id``, do not overlap, and every version after the first starts on its
    ``valid_from`` (see :func:`select_version`).

    ``reference_prices`` keeps prices a source gives that no window of the schedule uses (e.g. a base
    price from which the period prices are derived, or a critical-peak price whose hours are unknown); they
    are shown, never billed.  ``reference_price_notes`` says, per reference price, why it is not billed (no
    window of its own in the rule, a suspended critical peak, ...); ``vgi tariffs show`` prints it.

    Holidays: ``holidays`` is a country code of the ``holidays`` package, ``holiday_names`` limits the
    calendar to the holidays the tariff names (prefix match, e.g. ``"Washington's Birthday"`` for Presidents'
    Day), and ``holiday_observance`` says which extra days count: ``library`` (the package's observed days),
    ``none`` (the dates themselves) or ``sunday_to_monday`` (a holiday on a Sunday is also observed the next
    Monday, the rule of the Californian utilities' tariffs).
    """

    id: str
    name: str
    region: str
    country: str
    currency: str
    timezone: TimezoneName
    valid_from: dt.date
    valid_to: dt.date | None = None
    starts_on_valid_from: bool = False
    source: str | tuple[str, ...]
    verification: Literal["verified-primary", "verified-secondary", "secondary", "unverified", "assumption"]
    hours_verified: bool = False
    verification_detail: dict[str, str] = Field(default_factory=dict)
    customer: str = "residential"
    notes: str = ""
    holidays: str | None = None
    holiday_names: tuple[str, ...] | None = None
    holiday_observance: Literal["library", "none", "sunday_to_monday"] = "library"
    reference_prices: dict[str, float] = Field(default_factory=dict)
    reference_price_notes: dict[str, str] = Field(default_factory=dict)
    energy: EnergySchedule | None = None
    dynamic: DynamicFormula | None = None
    critical_peaks: tuple[CriticalPeak, ...] = ()
    tiers: Tiers | None = None
    export: ExportPrice = ExportPrice()
    demand_charges: tuple[DemandCharge, ...] = ()
    subscription: CapacitySubscription | None = None
    fixed_charges: tuple[FixedCharge, ...] = ()

    @model_validator(mode="after")
    def _energy_or_dynamic(self) -> Tariff:
        if self.energy is None and self.dynamic is None:
            raise ValueError("a tariff needs 'energy' (period prices) or 'dynamic' (a price series formula)")
        return self

    @model_validator(mode="after")
    def _dates_and_labels(self) -> Tariff:
        if self.valid_to is not None and self.valid_to < self.valid_from:
            raise ValueError(f"valid_to {self.valid_to} is before valid_from {self.valid_from}")
        if self.verification.startswith("verified") and not self.hours_verified:
            raise ValueError(
                f"verification '{self.verification}' claims more than the hours (hours_verified is false); "
                "use 'secondary' or lower, or set hours_verified: true where the hours are confirmed"
            )
        unknown = sorted(set(self.reference_price_notes) - set(self.reference_prices))
        if unknown:
            raise ValueError(f"reference_price_notes for prices not in reference_prices: {unknown}")
        return self

    @property
    def validity_text(self) -> str:
        """'from 2024-10-01', 'until 2024-11-30', '2024-10-01 to 2025-04-30' or 'with no end date' (local dates,
        inclusive; a start only where the tariff began on ``valid_from``)."""
        start = self.valid_from.isoformat() if self.starts_on_valid_from else None
        end = None if self.valid_to is None else self.valid_to.isoformat()
        if start and end:
            return f"{start} to {end}"
        if start:
            return f"from {start}"
        if end:
            return f"until {end}"
        return "with no end date"

    def in_force(self, first_day: dt.date, last_day: dt.date) -> bool:
        """Whether the tariff may bill every local day from ``first_day`` to ``last_day`` (inclusive): none after
        ``valid_to``, none before ``valid_from`` where the tariff began on it."""
        starts_ok = not self.starts_on_valid_from or self.valid_from <= first_day
        return starts_ok and (self.valid_to is None or last_day <= self.valid_to)

    @property
    def period_names(self) -> list[str]:
        if self.energy is None:
            return ["dynamic"]
        names = list(self.energy.prices)
        for s in self.energy.seasons:
            names += [p for p in s.prices if p not in names]
        return names

    @property
    def is_dynamic(self) -> bool:
        return self.dynamic is not None


class PriceVectors(BaseModel):
    """Prices of a tariff on a set of steps (arrays of the steps' length)."""

    model_config = ConfigDict(arbitrary_types_allowed=True, frozen=True)

    import_price: np.ndarray  # currency/kWh, before tier adders
    export_price: np.ndarray  # currency/kWh earned per kWh exported
    period: np.ndarray  # period name per step (object array)
    season: np.ndarray  # season name per step
    critical: np.ndarray  # bool: a critical-peak rule set the price


@lru_cache(maxsize=64)
def holiday_dates(
    country: str, years: tuple[int, ...], names: tuple[str, ...] | None = None, observance: str = "library"
) -> frozenset[dt.date]:
    """The holiday dates of ``country`` in ``years``, limited to ``names`` (prefix match, case-insensitive).

    ``observance``: ``library`` keeps the ``holidays`` package's observed days, ``none`` only the dates
    themselves, ``sunday_to_monday`` adds the Monday after a holiday that falls on a Sunday.
    """
    import holidays as holidays_lib

    try:
        cal = holidays_lib.country_holidays(country, years=list(years), observed=observance == "library")
    except NotImplementedError as exc:
        raise VgiError(f"no holiday calendar for country '{country}'") from exc
    out: set[dt.date] = set()
    wanted = None if names is None else tuple(n.lower() for n in names)
    for day, label in cal.items():
        parts = [p.strip().lower() for p in str(label).split(";")]
        if wanted is None or any(any(p.startswith(w) for w in wanted) for p in parts):
            out.add(day)
    if observance == "sunday_to_monday":
        out |= {d + dt.timedelta(days=1) for d in out if d.weekday() == 6}
    return frozenset(out)


def holiday_mask(tariff: Tariff, local_index: pd.DatetimeIndex) -> np.ndarray:
    """True for steps on the tariff's holidays (``local_index`` in the tariff's time zone)."""
    if not tariff.holidays or len(local_index) == 0:
        return np.zeros(len(local_index), dtype=bool)
    years = tuple(sorted(set(local_index.year.tolist())))
    days = holiday_dates(tariff.holidays, years, tariff.holiday_names, tariff.holiday_observance)
    if not days:
        return np.zeros(len(local_index), dtype=bool)
    day_ns = local_index.normalize().tz_localize(None).as_unit("ns").asi8
    wanted = pd.DatetimeIndex(sorted(days)).as_unit("ns").asi8
    return np.isin(day_ns, wanted)


_FALLBACK: dict[str, tuple[DayType, ...]] = {
    "holiday": ("holiday", "weekend", "all"),
    "weekend": ("weekend", "all"),
    "weekday": ("weekday", "all"),
}


def windows_for(windows: dict[DayType, tuple[Window, ...]], day_group: str) -> tuple[Window, ...] | None:
    """The windows that apply to a day group (``weekday``, ``weekend``, ``holiday``), with the fallbacks of a
    season (holiday -> weekend -> all, weekend -> all, weekday -> all); None if no key applies."""
    for key in _FALLBACK[day_group]:
        if key in windows:
            return windows[key]
    return None


def day_groups(local: pd.DatetimeIndex, holiday: np.ndarray) -> dict[str, np.ndarray]:
    """Masks of holiday, weekend (not holiday) and weekday (not holiday) steps."""
    weekday = local.day_of_week.to_numpy() < 5
    return {"holiday": holiday, "weekend": ~holiday & ~weekday, "weekday": ~holiday & weekday}


def local_hours(local: pd.DatetimeIndex) -> np.ndarray:
    """Local clock time of each step as hours after midnight (float)."""
    return (local.hour + local.minute / 60.0 + local.second / 3600.0).to_numpy(dtype=float)


def demand_mask(
    charge: DemandCharge, tariff: Tariff, local: pd.DatetimeIndex, period: np.ndarray
) -> np.ndarray:
    """Steps whose demand counts for ``charge`` (months, periods and its own clock windows)."""
    ok = np.isin(local.month.to_numpy(), charge.months)
    if charge.periods is not None:
        ok &= np.isin(period, charge.periods)
    if charge.windows is not None:
        hour = local_hours(local)
        month = local.month.to_numpy()
        in_window = np.zeros(len(local), dtype=bool)
        for group, mask in day_groups(local, holiday_mask(tariff, local)).items():
            wins = windows_for(charge.windows, group)
            if wins is None or not mask.any():
                continue
            for w in wins:
                in_window |= mask & w.contains(hour) & np.isin(month, w.months)
        ok &= in_window
    return ok


def _period_days(tariff: Tariff, start: pd.Timestamp, end: pd.Timestamp) -> tuple[dt.date, dt.date]:
    """First and last local day (tariff's zone) of the period ``[start, end)``; tz-aware timestamps."""
    first = pd.Timestamp(start).tz_convert(tariff.timezone)
    last = (pd.Timestamp(end) - pd.Timedelta(microseconds=1)).tz_convert(tariff.timezone)
    return first.date(), max(first.date(), last.date())


def check_validity(tariff: Tariff, start: pd.Timestamp, end: pd.Timestamp) -> None:
    """Raise :class:`VgiError` unless ``tariff`` is in force over the whole period ``[start, end)`` (tz-aware).

    The message names the tariff, its validity dates and the period's local dates.
    """
    first, last = _period_days(tariff, start, end)
    if not tariff.in_force(first, last):
        raise VgiError(
            f"tariff '{tariff.id}' is in force {tariff.validity_text}; the period to bill runs {first} to {last}"
        )


def select_version(versions: Iterable[Tariff], start: pd.Timestamp, end: pd.Timestamp) -> Tariff:
    """The version of a tariff in force over the whole period ``[start, end)`` (tz-aware).

    ``versions`` are versions of one tariff (same ``id``, validity ranges that do not overlap, every version
    after the first with ``starts_on_valid_from``).  A period that
    spans two versions is refused (bill each part with its own version): monthly charges, demand charges and
    tiers are counted per calendar month or year and would be split between versions in ways the tariffs do
    not define.  A period that no version covers is refused too; both errors name the dates.
    """
    items = sorted(versions, key=lambda t: t.valid_from)
    if not items:
        raise VgiError("no tariff versions given")
    ids = sorted({t.id for t in items})
    if len(ids) > 1:
        raise VgiError(f"versions of one tariff must share an id, got {ids}")
    for t in items:
        first, last = _period_days(t, start, end)
        if t.in_force(first, last):
            return t
    first, last = _period_days(items[0], start, end)
    touched = [
        t for t in items
        if (t.valid_from <= last or not t.starts_on_valid_from) and (t.valid_to is None or t.valid_to >= first)
    ]
    ranges = "; ".join(t.validity_text for t in items)
    if len(touched) > 1:
        raise VgiError(
            f"the period {first} to {last} spans {len(touched)} versions of tariff '{ids[0]}' ({ranges}); "
            "bill each version's part separately"
        )
    raise VgiError(f"tariff '{ids[0]}' is in force {ranges}; the period to bill runs {first} to {last}")


def _as_local(index: pd.DatetimeIndex, tariff: Tariff) -> pd.DatetimeIndex:
    if index.tz is None:
        raise VgiError("load/price timestamps must be tz-aware (carry a UTC offset)")
    return index.tz_convert(tariff.timezone)


def tariff_prices(
    tariff: Tariff,
    index: pd.DatetimeIndex,
    spot: np.ndarray | pd.Series | None = None,
    export_spot: np.ndarray | pd.Series | None = None,
    critical_peak_days: Iterable[dt.date] | None = None,
) -> PriceVectors:
    """Import and export prices of ``tariff`` at each step start in ``index`` (tz-aware).

    The price of a step is the price at its start; :func:`vgi.settle.bills.bill` splits steps that straddle a
    window boundary before calling this.

    Args:
        spot: for dynamic tariffs, the series value at each step (same length as ``index``), in the unit the
            formula's ``series_to_currency_per_kwh`` converts from.
        export_spot: for ``series`` export prices.
        critical_peak_days: local dates on which triggered critical-peak rules apply.
    """
    local = _as_local(pd.DatetimeIndex(index), tariff)
    n = len(local)
    hour = local_hours(local)
    month = local.month.to_numpy()
    holiday = holiday_mask(tariff, local)
    groups_all = day_groups(local, holiday)
    period = np.empty(n, dtype=object)
    season_name = np.empty(n, dtype=object)
    price = np.full(n, np.nan)

    if tariff.dynamic is not None:
        if spot is None:
            raise VgiError(f"tariff '{tariff.id}' is dynamic: give a price series (--prices)")
        spot_arr = np.asarray(spot, dtype=float)
        if spot_arr.shape != (n,):
            raise VgiError(f"price series has {spot_arr.shape[0]} values for {n} steps")
        if np.isnan(spot_arr).any():
            first = int(np.flatnonzero(np.isnan(spot_arr))[0])
            raise VgiError(f"price series has no value at {local[first]}")
        price = tariff.dynamic.apply(spot_arr, hour, month)
        period[:] = "dynamic"
        season_name[:] = "all year"
    if tariff.energy is not None:
        for season in tariff.energy.seasons:
            in_season = np.isin(month, season.months)
            if not in_season.any():
                continue
            prices = {**tariff.energy.prices, **season.prices}
            season_name[in_season] = season.name
            for group, group_mask in groups_all.items():
                mask = in_season & group_mask
                if not mask.any():
                    continue
                windows = windows_for(season.windows, group) or ()
                label = np.full(n, season.default_period, dtype=object)
                assigned = np.zeros(n, dtype=bool)
                for w in windows:  # first matching window wins
                    hit = mask & ~assigned & w.contains(hour) & np.isin(month, w.months)
                    label[hit] = w.period
                    assigned |= hit
                period[mask] = label[mask]
                if tariff.dynamic is None:
                    for name, value in prices.items():
                        sel = mask & (label == name)
                        price[sel] = value
    critical = np.zeros(n, dtype=bool)
    day_ns = local.normalize().tz_localize(None).as_unit("ns").asi8 if n else np.zeros(0, dtype=np.int64)
    cpp_list = [pd.Timestamp(d).normalize() for d in (critical_peak_days or ())]
    cpp_ns = (
        pd.DatetimeIndex([d.tz_localize(None) if d.tzinfo else d for d in cpp_list]).as_unit("ns").asi8
        if cpp_list
        else np.zeros(0, dtype=np.int64)
    )
    for rule in tariff.critical_peaks:
        if not rule.applies:
            continue
        mask = np.isin(month, rule.months)
        if "all" not in rule.day_types:
            day_ok = np.zeros(n, dtype=bool)
            for group in ("weekday", "weekend", "holiday"):
                if group in rule.day_types:
                    day_ok |= groups_all[group]
            mask &= day_ok
        if rule.trigger is not None:
            mask &= np.isin(day_ns, cpp_ns)
        in_window = np.zeros(n, dtype=bool)
        for w in rule.windows:
            in_window |= w.contains(hour) & np.isin(month, w.months)
        mask &= in_window
        if rule.price is not None:
            price[mask] = rule.price
        elif rule.multiplier is not None:
            price[mask] = price[mask] * rule.multiplier
        elif rule.adder is not None:
            price[mask] = price[mask] + rule.adder
        critical |= mask
        period[mask] = "critical_peak"

    if np.isnan(price).any():
        first = int(np.flatnonzero(np.isnan(price))[0])
        raise VgiError(f"tariff '{tariff.id}' has no import price at {local[first]}")

    exp = tariff.export
    if exp.kind == "none":
        export = np.zeros(n)
    elif exp.kind == "fixed":
        export = np.full(n, exp.price)
    elif exp.kind == "periods":
        export = np.array([exp.prices.get(p, exp.price) for p in period], dtype=float)
    elif exp.kind == "import_fraction":
        export = exp.fraction * price
    else:
        if export_spot is None:
            raise VgiError(f"tariff '{tariff.id}' pays exports from a series: give an export price series")
        if exp.formula is None:
            raise VgiError(f"tariff '{tariff.id}': export kind 'series' needs a formula")
        export = exp.formula.apply(np.asarray(export_spot, dtype=float), hour, month)
    export = export + exp.extra if exp.kind != "none" else export
    return PriceVectors(
        import_price=price, export_price=np.asarray(export, dtype=float), period=period, season=season_name,
        critical=critical,
    )


def tariff_boundaries_minutes(tariff: Tariff) -> list[int]:
    """Every clock-time boundary of the tariff in minutes after midnight (window starts and ends of seasons,
    critical peaks, dynamic window adders and demand windows; 0 always included)."""
    wins: list[Window] = []
    if tariff.energy is not None:
        for season in tariff.energy.seasons:
            for ws in season.windows.values():
                wins += list(ws)
    for rule in tariff.critical_peaks:
        wins += list(rule.windows)
    if tariff.dynamic is not None:
        wins += list(tariff.dynamic.window_adders)
    if tariff.export.formula is not None:
        wins += list(tariff.export.formula.window_adders)
    for charge in tariff.demand_charges:
        for ws in (charge.windows or {}).values():
            wins += list(ws)
    out = {0}
    for w in wins:
        out.add(round(w.start * 60) % 1440)
        out.add(round(w.end * 60) % 1440)
    return sorted(out)


def _fmt_clock(hours: float) -> str:
    minutes = round(hours * 60)
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def _month_label(months: Iterable[int]) -> str:
    names = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
    ms = sorted(set(months))
    if ms == list(range(1, 13)):
        return "all year"
    runs: list[list[int]] = []
    for m in ms:
        if runs and m == runs[-1][-1] + 1:
            runs[-1].append(m)
        else:
            runs.append([m])
    if len(runs) > 1 and runs[0][0] == 1 and runs[-1][-1] == 12:  # wrap Dec-Jan
        runs[-1] += runs.pop(0)
    return ", ".join(
        names[r[0] - 1] if len(r) == 1 else f"{names[r[0] - 1]}-{names[r[-1] - 1]}" for r in runs
    )


def _ranges(mask: np.ndarray, resolution_min: int) -> list[str]:
    """Clock ranges where a per-minute-slot mask of one day is true, e.g. ['00:00-08:00', '22:00-24:00']."""
    out = []
    n = len(mask)
    i = 0
    while i < n:
        if mask[i]:
            j = i
            while j < n and mask[j]:
                j += 1
            out.append(f"{_fmt_clock(i * resolution_min / 60)}-{_fmt_clock(j * resolution_min / 60)}")
            i = j
        else:
            i += 1
    return out


def schedule_rows(tariff: Tariff, resolution_min: int = 15) -> list[dict[str, object]]:
    """The energy schedule as readable rows: season, months, day type, period, clock hours, price.

    Months of a season whose windows differ (a window limited to some months) get rows of their own; day types
    whose windows are the same are merged.  Dynamic tariffs give no rows (their price comes from a series).
    """
    if tariff.energy is None:
        return []
    slots = np.arange(0, 1440, resolution_min) / 60.0
    rows: list[dict[str, object]] = []
    for season in tariff.energy.seasons:
        prices = {**tariff.energy.prices, **season.prices}
        # coverage per (month, day group)
        by_key: dict[tuple[str, ...], tuple[list[int], list[str]]] = {}
        for m in season.months:
            labels_by_group: dict[str, tuple[str, ...]] = {}
            for group in ("weekday", "weekend", "holiday"):
                if group == "holiday" and not tariff.holidays:
                    continue
                windows = windows_for(season.windows, group) or ()
                label = np.full(len(slots), season.default_period, dtype=object)
                assigned = np.zeros(len(slots), dtype=bool)
                for w in windows:
                    if m not in w.months:
                        continue
                    hit = ~assigned & w.contains(slots)
                    label[hit] = w.period
                    assigned |= hit
                labels_by_group[group] = tuple(label.tolist())
            # merge day groups with equal labels
            groups: dict[tuple[str, ...], list[str]] = {}
            for group, lab in labels_by_group.items():
                groups.setdefault(lab, []).append(group)
            for lab, names in groups.items():
                key = (*lab, "|", *names)
                if key in by_key:
                    by_key[key][0].append(m)
                else:
                    by_key[key] = ([m], names)
        for key, (months, names) in by_key.items():
            lab_arr = np.array(key[: len(slots)], dtype=object)
            every_day = len(names) == 3 or (len(names) == 2 and not tariff.holidays)
            day = "all days" if every_day else " & ".join(names)
            for p in dict.fromkeys(lab_arr.tolist()):
                rows.append(
                    {
                        "season": season.name,
                        "months": _month_label(months),
                        "days": day,
                        "period": p,
                        "hours": ", ".join(_ranges(lab_arr == p, resolution_min)),
                        "price": prices.get(str(p)),
                    }
                )
    return rows
