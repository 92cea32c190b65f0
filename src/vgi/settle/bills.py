"""Bills: what a load profile costs under a tariff, line by line.

A load profile is power in kW at each step start (positive import, negative export), tz-aware.  Each step
lasts until the next timestamp; the last step lasts as long as the one before it (or ``step_minutes``).  Power
is constant within a step.

Rules, in the tariff's currency:

* energy: import kWh x the period price (critical peak included), one line per season and period.  A step
  that straddles a tariff boundary (an hourly row across a 00:30 window start) is split at the boundary first,
  so its kWh are priced in the right periods;
* tiers (when the tariff's tiers apply): kWh beyond each block threshold of the calendar month (or year),
  counted in time order, pay the block's adder;
* export: exported kWh x the export price (a negative amount, a credit);
* demand charges: price x the month's highest average import over ``interval_minutes`` (limited to the
  charge's periods, months and clock windows); charged once per calendar month touched, not prorated;
* capacity subscription (PG&E BEV): blocks x block price plus overage x kW above the subscribed kW, per month;
  the subscribed blocks are given or, by default, the cheapest number for the month's peak;
* fixed charges: per day prorated by the fraction of each local day covered (a 23-hour DST day counts as one
  day); per month by the days covered over the days in the month (one day of March is 1/31); per bill once.

Validity: a tariff bills only periods inside its ``valid_from`` / ``valid_to`` dates (local days, inclusive); a
load outside them is refused with a one-line error naming the tariff and the dates.  For a shipped tariff with
versions, :func:`vgi.io.tariff_library.tariff_for_period` picks the version in force; a period spanning two
versions is refused (bill each part with its own version).

Price series (dynamic tariffs, series-based export prices) given as a ``pandas.Series`` are aligned to the
load: each value holds from its timestamp until the next one (an hourly day-ahead series prices four quarter
hours).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from vgi.errors import VgiError
from vgi.io.series import parse_timestamps, parse_values
from vgi.model.tariffs import (
    Tariff,
    TierBlock,
    check_validity,
    demand_mask,
    tariff_boundaries_minutes,
    tariff_prices,
)

__all__ = [
    "Bill",
    "BillLine",
    "align_series",
    "bill",
    "bill_totals",
    "load_profile_from_frame",
    "step_hours_of",
]


@dataclass(frozen=True)
class BillLine:
    """One line of a bill; ``amount`` in the bill's currency (negative for credits)."""

    category: str  # energy | tier | export | demand | subscription | overage | fixed
    label: str
    quantity: float
    unit: str  # kWh | kW | blocks | days | months | bill
    rate: float
    amount: float


@dataclass(frozen=True)
class Bill:
    """A bill: lines, total and currency."""

    tariff_id: str
    currency: str
    start: pd.Timestamp
    end: pd.Timestamp
    lines: tuple[BillLine, ...] = field(default_factory=tuple)
    import_kwh: float = 0.0
    export_kwh: float = 0.0

    @property
    def total(self) -> float:
        return float(sum(line.amount for line in self.lines))

    def amount(self, category: str) -> float:
        """Sum of the lines of one category."""
        return float(sum(line.amount for line in self.lines if line.category == category))

    def line(self, label: str) -> BillLine:
        """The line with this label (KeyError if none)."""
        for line in self.lines:
            if line.label == label:
                return line
        raise KeyError(label)

    def to_dict(self) -> dict[str, object]:
        return {
            "tariff": self.tariff_id,
            "currency": self.currency,
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "import_kwh": self.import_kwh,
            "export_kwh": self.export_kwh,
            "total": self.total,
            "by_category": {c: self.amount(c) for c in dict.fromkeys(line.category for line in self.lines)},
            "lines": [line.__dict__ for line in self.lines],
        }


def step_hours_of(index: pd.DatetimeIndex, step_minutes: float | None = None) -> np.ndarray:
    """Duration of each step in hours: until the next timestamp; the last as the one before (or
    ``step_minutes``)."""
    n = len(index)
    if n == 0:
        return np.zeros(0)
    secs = index.as_unit("ns").asi8 / 1e9
    diff = np.diff(secs).astype(float) / 3600.0
    if (diff <= 0).any():
        bad = int(np.flatnonzero(diff <= 0)[0]) + 1
        raise VgiError(f"timestamps must increase strictly (row {bad + 1}: {index[bad]})")
    if step_minutes is not None:
        last = step_minutes / 60.0
    elif n > 1:
        last = float(diff[-1])
    else:
        raise VgiError("a one-row load profile needs its step length (step_minutes)")
    return np.append(diff, last)


def load_profile_from_frame(frame: pd.DataFrame, source: str = "<load>") -> pd.Series:
    """A ``timestamp,power_kw`` frame as a tz-aware power series (kW); errors name the file and row."""
    missing = [c for c in ("timestamp", "power_kw") if c not in frame.columns]
    if missing:
        raise VgiError(f"{source}: missing column(s) {missing}; expected 'timestamp,power_kw'")
    if len(frame) == 0:
        raise VgiError(f"{source}: no data rows")
    text = frame["timestamp"].astype("string").str.strip()
    index = parse_timestamps(text, source)
    power = parse_values(frame["power_kw"], source, "power_kw")
    secs = index.as_unit("ns").asi8
    step_back = np.flatnonzero(np.diff(secs) <= 0)
    if len(step_back):
        row = int(step_back[0]) + 2
        raise VgiError(
            f"{source}: row {row}, field 'timestamp': {text.iloc[row - 1]} does not come after the row before"
        )
    return pd.Series(power, index=index, name="power_kw")


def align_series(series: pd.Series, index: pd.DatetimeIndex, what: str = "price series") -> np.ndarray:
    """Values of a tz-aware ``series`` at each time of ``index``: each value holds from its timestamp until
    the next (its last value for one more of its own steps).  Raises :class:`VgiError` if the series does not
    cover the index."""
    s_index = pd.DatetimeIndex(series.index)
    if s_index.tz is None:
        raise VgiError(f"{what}: timestamps must carry a UTC offset")
    if len(series) == 0:
        raise VgiError(f"{what}: empty")
    order = np.argsort(s_index.as_unit("ns").asi8, kind="stable")
    s_ns = s_index.as_unit("ns").asi8[order]
    if (np.diff(s_ns) == 0).any():
        dup = s_index[order][int(np.flatnonzero(np.diff(s_ns) == 0)[0])]
        raise VgiError(f"{what}: timestamp {dup} appears twice")
    values = np.asarray(series, dtype=float)[order]
    t_ns = pd.DatetimeIndex(index).as_unit("ns").asi8
    last_step = int(s_ns[-1] - s_ns[-2]) if len(s_ns) > 1 else 0
    if t_ns[0] < s_ns[0] or t_ns[-1] >= s_ns[-1] + max(last_step, 1):
        first, last = pd.Timestamp(s_ns[0], tz="UTC"), pd.Timestamp(s_ns[-1] + last_step, tz="UTC")
        raise VgiError(
            f"{what} covers {first} to {last} (UTC) but the load runs from "
            f"{pd.Timestamp(t_ns[0], tz='UTC')} to {pd.Timestamp(t_ns[-1], tz='UTC')}"
        )
    pos = np.searchsorted(s_ns, t_ns, side="right") - 1
    out = values[pos]
    if np.isnan(out).any():
        at = pd.DatetimeIndex(index)[int(np.flatnonzero(np.isnan(out))[0])]
        raise VgiError(f"{what} has no value at {at}")
    return out


@dataclass(frozen=True)
class _Steps:
    """A load's steps after splitting at tariff boundaries (``counts[i]`` sub-steps for step ``i``)."""

    index: pd.DatetimeIndex
    hours: np.ndarray
    counts: np.ndarray | None  # None: no split

    def expand(self, values: np.ndarray | None) -> np.ndarray | None:
        if values is None or self.counts is None:
            return values
        return np.repeat(values, self.counts, axis=-1)


def _split_steps(index: pd.DatetimeIndex, hours: np.ndarray, tariff: Tariff) -> _Steps:
    """Split steps so that none straddles a clock boundary of the tariff (or local midnight).

    Works with whole-minute steps starting on whole minutes; otherwise steps are priced at their start.
    """
    minutes = hours * 60.0
    local = index.tz_convert(tariff.timezone)
    if len(index) == 0 or not np.allclose(minutes, np.round(minutes)) or (local.second != 0).any():
        return _Steps(index, hours, None)
    step_min = np.round(minutes).astype(np.int64)
    minute_of_day = np.unique((local.hour * 60 + local.minute).to_numpy(dtype=np.int64))
    bounds = np.asarray(tariff_boundaries_minutes(tariff), dtype=np.int64)
    offsets = np.unique((bounds[:, None] - minute_of_day[None, :]) % 1440)
    g = int(np.gcd.reduce(np.concatenate([np.unique(step_min), offsets])))
    if g <= 0 or (step_min == g).all():
        return _Steps(index, hours, None)
    counts = step_min // g
    total = int(counts.sum())
    starts = np.repeat(index.as_unit("ns").asi8, counts)
    within = np.arange(total) - np.repeat(np.cumsum(counts) - counts, counts)
    sub_ns = starts + within * (g * 60 * 1_000_000_000)
    sub_index = pd.DatetimeIndex(pd.to_datetime(sub_ns, utc=True)).tz_convert(index.tz)
    return _Steps(sub_index, np.full(total, g / 60.0), counts)


def _as_step_array(
    values: np.ndarray | pd.Series | None, index: pd.DatetimeIndex, what: str
) -> np.ndarray | None:
    if values is None:
        return None
    if isinstance(values, pd.Series):
        return align_series(values, index, what)
    arr = np.asarray(values, dtype=float)
    if arr.shape != (len(index),):
        raise VgiError(f"{what} has {arr.shape[0] if arr.ndim else 1} values for {len(index)} steps")
    return arr


def _tier_adders(
    import_kwh: np.ndarray,
    bucket: np.ndarray,
    blocks_per_step: list[tuple[TierBlock, ...]],
    period: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Adder amount per step and the kWh above the first block, counting cumulative kWh per bucket.

    ``import_kwh`` may be 2-D (profiles x steps); buckets are along the last axis.
    """
    amount = np.zeros_like(import_kwh)
    above = np.zeros_like(import_kwh)
    for key in pd.unique(bucket):
        sel = bucket == key
        kwh = import_kwh[..., sel]
        cum = np.cumsum(kwh, axis=-1)
        prev = cum - kwh
        blocks = blocks_per_step[int(np.flatnonzero(sel)[0])]
        periods_sel = period[sel]
        lower = 0.0
        for block in blocks:
            upper = np.inf if block.up_to_kwh is None else float(block.up_to_kwh)
            in_block = np.clip(np.minimum(cum, upper) - np.maximum(prev, lower), 0.0, None)
            adder = np.full(int(sel.sum()), block.adder)
            for name, value in block.period_adders.items():
                adder[periods_sel == name] = value
            amount[..., sel] += in_block * adder
            if lower > 0:
                above[..., sel] += in_block
            lower = upper
    return amount, above


def _calendar_fraction(local: pd.DatetimeIndex, hours: np.ndarray, per: str) -> float:
    """How many local days (or months) the steps cover, counting DST days as one day.

    A month is prorated by days: each local day covered counts 1 / (days in its month), so one day of March
    is 1/31 of the month whether or not the clocks change in March.
    """
    if len(local) == 0:
        return 0.0
    naive = local.tz_localize(None)
    start_naive = naive.normalize()
    next_naive = start_naive + pd.Timedelta(days=1)
    tz = local.tz
    start = start_naive.tz_localize(tz, ambiguous="NaT", nonexistent="shift_forward")
    nxt = next_naive.tz_localize(tz, ambiguous="NaT", nonexistent="shift_forward")
    length_h = (nxt - start).total_seconds().to_numpy() / 3600.0
    # a midnight that is ambiguous (rare zones) gives NaT: fall back to a 24 h day
    nominal = (next_naive - start_naive).total_seconds().to_numpy() / 3600.0
    length_h = np.where(np.isnan(length_h), nominal, length_h)
    days = hours / length_h
    if per == "month":
        days = days / naive.days_in_month.to_numpy(dtype=float)
    return float(np.sum(days))


def _month_keys(local: pd.DatetimeIndex) -> np.ndarray:
    return (local.year * 100 + local.month).to_numpy()


def _interval_demand(
    import_kw: np.ndarray, local: pd.DatetimeIndex, hours: np.ndarray, interval_minutes: int
) -> np.ndarray:
    """Average import power (kW) of the demand interval of each step (time-weighted), per step.

    Intervals are clock intervals of ``interval_minutes`` in local time (aligned to the first step's UTC
    offset, which keeps quarter hours aligned across DST changes).
    """
    offset = local[0].utcoffset()
    offset_ns = int(offset.total_seconds() * 1e9) if offset is not None else 0
    ids = (local.as_unit("ns").asi8 + offset_ns) // (interval_minutes * 60 * 1_000_000_000)
    _, inverse = np.unique(ids, return_inverse=True)
    n_int = int(inverse.max()) + 1
    duration = np.bincount(inverse, weights=hours, minlength=n_int)
    energy = np.zeros((*import_kw.shape[:-1], n_int))
    np.add.at(energy.T, inverse, (import_kw * hours).T)
    avg = energy / np.maximum(duration, 1e-12)
    return np.asarray(avg[..., inverse])


def _cheapest_blocks(
    peak_kw: np.ndarray, block_kw: float, price_per_block: float, overage: float, min_blocks: int = 1
) -> np.ndarray:
    """Cost-minimising number of subscription blocks (at least ``min_blocks``) for each peak (kW)."""
    top = int(np.ceil(float(np.max(peak_kw)) / block_kw - 1e-12)) if peak_kw.size else 0
    options = np.arange(min_blocks, max(top, min_blocks) + 1)
    costs = options[None, :] * price_per_block + overage * np.clip(
        peak_kw[:, None] - options[None, :] * block_kw, 0.0, None
    )
    return np.asarray(options[np.argmin(np.round(costs, 9), axis=1)])


def _month_shares(
    local: pd.DatetimeIndex, hours: np.ndarray, months: np.ndarray, prorate: bool
) -> dict[int, float]:
    """Share of each calendar month (key yyyymm) that monthly charges bill: 1, or the days covered when prorating."""
    out: dict[int, float] = {}
    for m in dict.fromkeys(months.tolist()):
        sel = months == m
        out[m] = min(1.0, _calendar_fraction(local[sel], hours[sel], "month")) if prorate else 1.0
    return out


def _share_tag(share: float) -> str:
    return "" if share >= 1.0 - 1e-12 else f" (x {share:.4g} of the month)"


def bill(
    load_kw: pd.Series,
    tariff: Tariff,
    spot: np.ndarray | pd.Series | None = None,
    export_spot: np.ndarray | pd.Series | None = None,
    critical_peak_days: Iterable[dt.date] | None = None,
    subscribed_blocks: int | None = None,
    step_minutes: float | None = None,
    prorate_monthly: bool = False,
) -> Bill:
    """The bill of a power profile (kW, positive import, negative export) under ``tariff``.

    Args:
        load_kw: power at each step start, tz-aware index.
        spot: dynamic tariffs: the price series (a tz-aware ``Series``, aligned to the load, or an array with
            one value per load step) in the unit of the tariff's formula (e.g. EUR/MWh).
        export_spot: series-based export prices: the export price series (same forms as ``spot``).
        critical_peak_days: local dates of triggered critical peaks.
        subscribed_blocks: capacity-subscription blocks; default the cheapest for each month.
        step_minutes: length of the last step when the index has one row.
        prorate_monthly: charge demand charges and subscriptions (with overage) in proportion to the share of
            each calendar month the load covers (days covered / days in the month), as for a simulation horizon
            shorter than a billing month; by default each month touched is charged in full, as a utility bills it.

    Returns:
        A :class:`Bill` in the tariff's currency.

    Raises:
        VgiError: the load lies (partly) outside the tariff's validity dates, among other input errors.
    """
    index = pd.DatetimeIndex(load_kw.index)
    if index.tz is None:
        raise VgiError("load timestamps must be tz-aware")
    if len(index) == 0:
        raise VgiError("empty load profile")
    if subscribed_blocks is not None and subscribed_blocks < 0:
        raise VgiError(f"subscribed blocks must be >= 0, got {subscribed_blocks}")
    hours0 = step_hours_of(index, step_minutes)
    check_validity(tariff, index[0], index[-1] + pd.Timedelta(hours=float(hours0[-1])))
    power0 = np.asarray(load_kw, dtype=float)
    spot0 = _as_step_array(spot, index, "price series")
    export0 = _as_step_array(export_spot, index, "export price series")
    steps = _split_steps(index, hours0, tariff)
    index, hours = steps.index, steps.hours
    power = np.asarray(steps.expand(power0))
    local = index.tz_convert(tariff.timezone)
    cpp_days = list(critical_peak_days or ())
    prices = tariff_prices(tariff, index, steps.expand(spot0), steps.expand(export0), cpp_days)
    imp_kwh = np.clip(power, 0.0, None) * hours
    exp_kwh = np.clip(-power, 0.0, None) * hours
    lines: list[BillLine] = []

    # energy by season and period
    labels = pd.DataFrame(
        {
            "season": prices.season,
            "period": prices.period,
            "kwh": imp_kwh,
            "cost": imp_kwh * prices.import_price,
        }
    )
    one_season = len(set(prices.season.tolist())) == 1
    for (season, period), grp in labels.groupby(["season", "period"], sort=False):
        kwh = float(grp["kwh"].sum())
        cost = float(grp["cost"].sum())
        if kwh == 0.0 and cost == 0.0:
            continue
        label = str(period) if one_season else f"{season}: {period}"
        lines.append(BillLine("energy", label, kwh, "kWh", cost / kwh if kwh else 0.0, cost))

    if tariff.tiers is not None and tariff.tiers.applies:
        bucket = _month_keys(local) if tariff.tiers.per == "month" else local.year.to_numpy()
        blocks = [tariff.tiers.blocks_for(str(s)) for s in prices.season]
        amount, above = _tier_adders(imp_kwh, bucket, blocks, prices.period)
        if float(above.sum()) > 0:
            lines.append(
                BillLine("tier", "consumption above tier 1", float(above.sum()), "kWh",
                         float(amount.sum() / above.sum()), float(amount.sum()))
            )

    if float(exp_kwh.sum()) > 0:
        credit = float(np.sum(exp_kwh * prices.export_price))
        total_exp = float(exp_kwh.sum())
        lines.append(
            BillLine("export", "export / V2G discharge credit", total_exp, "kWh", credit / total_exp,
                     0.0 - credit)
        )

    months = _month_keys(local)
    month_list = list(dict.fromkeys(months.tolist()))
    share = _month_shares(local, hours, months, prorate_monthly)
    imp_kw = np.clip(power, 0.0, None)
    for charge in tariff.demand_charges:
        demand = _interval_demand(imp_kw, local, hours, charge.interval_minutes)
        ok = demand_mask(charge, tariff, local, prices.period)
        for m in month_list:
            sel = ok & (months == m)
            if not sel.any():
                continue
            peak = float(demand[sel].max())
            lines.append(BillLine("demand", f"{charge.name} {m // 100}-{m % 100:02d}{_share_tag(share[m])}", peak,
                                  "kW", charge.price_per_kw, peak * charge.price_per_kw * share[m]))
    if tariff.subscription is not None:
        sub = tariff.subscription
        demand = _interval_demand(imp_kw, local, hours, sub.interval_minutes)
        for m in month_list:
            peak = float(demand[months == m].max())
            if subscribed_blocks is None:
                blocks_m = int(_cheapest_blocks(np.array([peak]), sub.block_kw, sub.price_per_block,
                                                sub.overage_per_kw, sub.min_blocks)[0])
            else:
                blocks_m = int(subscribed_blocks)
            over = max(0.0, peak - blocks_m * sub.block_kw)
            tag = f"{m // 100}-{m % 100:02d}{_share_tag(share[m])}"
            lines.append(BillLine("subscription", f"{blocks_m} x {sub.block_kw:g} kW {tag}", blocks_m,
                                  "blocks", sub.price_per_block, blocks_m * sub.price_per_block * share[m]))
            if over > 1e-12:
                lines.append(BillLine("overage", f"demand above subscription {tag}", over, "kW",
                                      sub.overage_per_kw, over * sub.overage_per_kw * share[m]))
    for fixed in tariff.fixed_charges:
        qty = 1.0 if fixed.per == "bill" else _calendar_fraction(local, hours, fixed.per)
        unit = {"day": "days", "month": "months", "bill": "bill"}[fixed.per]
        lines.append(BillLine("fixed", fixed.name, qty, unit, fixed.amount, qty * fixed.amount))

    end = (index[-1] + pd.Timedelta(hours=float(hours[-1]))).tz_convert(tariff.timezone)
    return Bill(tariff.id, tariff.currency, index[0].tz_convert(tariff.timezone), end, tuple(lines),
                float(imp_kwh.sum()), float(exp_kwh.sum()))


def bill_totals(
    power_kw: np.ndarray,
    index: pd.DatetimeIndex,
    tariff: Tariff,
    spot: np.ndarray | pd.Series | None = None,
    export_spot: np.ndarray | pd.Series | None = None,
    critical_peak_days: Iterable[dt.date] | None = None,
    subscribed_blocks: int | None = None,
    step_minutes: float | None = None,
    prorate_monthly: bool = False,
) -> np.ndarray:
    """Bill totals of many profiles on one index at once: ``power_kw`` is (profiles x steps), kW.

    Same rules as :func:`bill` (the cheapest subscription per month unless ``subscribed_blocks`` is given, monthly
    demand and subscription charges prorated when ``prorate_monthly``); vectorised over profiles.  Returns one
    total per profile in the tariff's currency.
    """
    power0 = np.atleast_2d(np.asarray(power_kw, dtype=float))
    index = pd.DatetimeIndex(index)
    if index.tz is None:
        raise VgiError("load timestamps must be tz-aware")
    if power0.shape[1] != len(index):
        raise VgiError(f"power has {power0.shape[1]} steps for an index of {len(index)}")
    hours0 = step_hours_of(index, step_minutes)
    check_validity(tariff, index[0], index[-1] + pd.Timedelta(hours=float(hours0[-1])))
    spot0 = _as_step_array(spot, index, "price series")
    export0 = _as_step_array(export_spot, index, "export price series")
    steps = _split_steps(index, hours0, tariff)
    index, hours = steps.index, steps.hours
    power = np.asarray(steps.expand(power0))
    local = index.tz_convert(tariff.timezone)
    prices = tariff_prices(tariff, index, steps.expand(spot0), steps.expand(export0),
                           list(critical_peak_days or ()))
    imp_kwh = np.clip(power, 0.0, None) * hours
    exp_kwh = np.clip(-power, 0.0, None) * hours
    total = imp_kwh @ prices.import_price - exp_kwh @ prices.export_price
    if tariff.tiers is not None and tariff.tiers.applies:
        bucket = _month_keys(local) if tariff.tiers.per == "month" else local.year.to_numpy()
        blocks = [tariff.tiers.blocks_for(str(s)) for s in prices.season]
        amount, _ = _tier_adders(imp_kwh, bucket, blocks, prices.period)
        total = total + amount.sum(axis=1)
    months = _month_keys(local)
    share = _month_shares(local, hours, months, prorate_monthly)
    imp_kw = np.clip(power, 0.0, None)
    for charge in tariff.demand_charges:
        demand = _interval_demand(imp_kw, local, hours, charge.interval_minutes)
        ok = demand_mask(charge, tariff, local, prices.period)
        for m in dict.fromkeys(months.tolist()):
            sel = ok & (months == m)
            if sel.any():
                total = total + demand[:, sel].max(axis=1) * charge.price_per_kw * share[m]
    if tariff.subscription is not None:
        sub = tariff.subscription
        demand = _interval_demand(imp_kw, local, hours, sub.interval_minutes)
        for m in dict.fromkeys(months.tolist()):
            peak = demand[:, months == m].max(axis=1)
            if subscribed_blocks is None:
                blocks_m = _cheapest_blocks(peak, sub.block_kw, sub.price_per_block, sub.overage_per_kw, sub.min_blocks)
            else:
                blocks_m = np.full(len(peak), int(subscribed_blocks))
            total = total + share[m] * (
                blocks_m * sub.price_per_block
                + sub.overage_per_kw * np.clip(peak - blocks_m * sub.block_kw, 0.0, None)
            )
    for fixed in tariff.fixed_charges:
        qty = 1.0 if fixed.per == "bill" else _calendar_fraction(local, hours, fixed.per)
        total = total + qty * fixed.amount
    return np.asarray(total, dtype=float)
