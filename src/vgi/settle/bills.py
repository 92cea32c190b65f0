"""Bills: what a load profile costs under a tariff, line by line.

A load profile is power in kW at each step start (positive import, negative export), tz-aware.  Each step lasts
until the next timestamp; the last step lasts as long as the one before it (or ``step_minutes``).

Rules, in the tariff's currency:

* energy: import kWh x the period price of its step (critical peak included), one line per season and period;
* tiers: kWh beyond each block threshold of the calendar month (or year), counted in time order, pay the block's
  adder;
* export: exported kWh x the export price (a negative amount, a credit);
* demand charges: price x the month's highest average import over ``interval_minutes`` (limited to the
  charge's periods and months); charged once per calendar month touched, not prorated;
* capacity subscription (PG&E BEV): blocks x block price plus overage x kW above the subscribed kW, per month;
  the subscribed blocks are given or, by default, the cheapest number for the month's peak;
* fixed charges: per day and per month prorated by the fraction of each local day or month covered (a 23-hour
  DST day counts as one day), per bill once.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from vgi.errors import VgiError
from vgi.model.tariffs import Tariff, TierBlock, tariff_prices

__all__ = ["Bill", "BillLine", "bill", "bill_totals", "load_profile_from_frame", "step_hours_of"]


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
    """Duration of each step in hours: until the next timestamp; the last as the one before (or step_minutes)."""
    n = len(index)
    if n == 0:
        return np.zeros(0)
    secs = index.as_unit("ns").asi8 // 1_000_000_000
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
    text = frame["timestamp"].astype("string")
    naive = ~text.str.contains(r"(?:Z|[+-]\d\d:?\d\d)$", regex=True, na=False)
    if naive.any():
        row = int(np.flatnonzero(naive.to_numpy())[0]) + 1
        raise VgiError(f"{source}: row {row}, field 'timestamp': '{text.iloc[row - 1]}' has no UTC offset")
    ts = pd.to_datetime(text, utc=True, errors="coerce", format="ISO8601")
    if ts.isna().any():
        row = int(np.flatnonzero(ts.isna().to_numpy())[0]) + 1
        raise VgiError(f"{source}: row {row}, field 'timestamp': not an ISO 8601 time")
    power = pd.to_numeric(frame["power_kw"], errors="coerce")
    if power.isna().any():
        row = int(np.flatnonzero(power.isna().to_numpy())[0]) + 1
        raise VgiError(f"{source}: row {row}, field 'power_kw': not a number ({frame['power_kw'].iloc[row - 1]!r})")
    series = pd.Series(power.to_numpy(dtype=float), index=pd.DatetimeIndex(ts), name="power_kw")
    if not series.index.is_monotonic_increasing or series.index.has_duplicates:
        raise VgiError(f"{source}: timestamps must increase strictly")
    return series


def _tier_adders(
    import_kwh: np.ndarray, bucket: np.ndarray, blocks_per_step: list[tuple[TierBlock, ...]]
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
        lower = 0.0
        for block in blocks:
            upper = np.inf if block.up_to_kwh is None else float(block.up_to_kwh)
            in_block = np.clip(np.minimum(cum, upper) - np.maximum(prev, lower), 0.0, None)
            amount[..., sel] += in_block * block.adder
            if lower > 0:
                above[..., sel] += in_block
            lower = upper
    return amount, above


def _calendar_fraction(local: pd.DatetimeIndex, hours: np.ndarray, per: str) -> float:
    """How many local days (or months) the steps cover, counting DST days as one day."""
    if len(local) == 0:
        return 0.0
    start = local.normalize() if per == "day" else local.to_period("M").to_timestamp().tz_localize(local.tz)
    if per == "day":
        nxt = (local.normalize().tz_localize(None) + pd.Timedelta(days=1)).tz_localize(local.tz)
    else:
        nxt = (start.tz_localize(None) + pd.offsets.MonthBegin(1)).tz_localize(local.tz)
    length_h = (nxt - start).total_seconds().to_numpy() / 3600.0
    return float(np.sum(hours / length_h))


def _month_keys(local: pd.DatetimeIndex) -> np.ndarray:
    return (local.year * 100 + local.month).to_numpy()


def _interval_demand(
    import_kw: np.ndarray, local: pd.DatetimeIndex, hours: np.ndarray, interval_minutes: int
) -> tuple[np.ndarray, np.ndarray]:
    """Average import power per demand interval (time-weighted); returns (demand per step, interval id)."""
    offset_ns = int(local[0].utcoffset().total_seconds() * 1e9) if len(local) else 0
    ids = ((local.as_unit("ns").asi8 + offset_ns) // (interval_minutes * 60 * 1_000_000_000)).astype(np.int64)
    uniq, inverse = np.unique(ids, return_inverse=True)
    energy = np.zeros(import_kw.shape[:-1] + (len(uniq),))
    duration = np.zeros(len(uniq))
    np.add.at(duration, inverse, hours)
    np.add.at(energy.T, inverse, (import_kw * hours).T)
    avg = energy / np.maximum(duration, 1e-12)
    return avg[..., inverse], inverse


def bill(
    load_kw: pd.Series,
    tariff: Tariff,
    spot: np.ndarray | pd.Series | None = None,
    export_spot: np.ndarray | pd.Series | None = None,
    critical_peak_days: Iterable[dt.date] | None = None,
    subscribed_blocks: int | None = None,
    step_minutes: float | None = None,
) -> Bill:
    """The bill of a power profile (kW, positive import) under ``tariff``.

    Args:
        load_kw: power at each step start, tz-aware index.
        spot: dynamic tariffs: the series at each step (see :class:`~vgi.model.tariffs.DynamicFormula`).
        export_spot: series-based export prices: the export series at each step.
        critical_peak_days: local dates of triggered critical peaks.
        subscribed_blocks: capacity-subscription blocks; default the cheapest for each month.
        step_minutes: length of the last step when the index has one row.
    """
    index = pd.DatetimeIndex(load_kw.index)
    if index.tz is None:
        raise VgiError("load timestamps must be tz-aware")
    if len(index) == 0:
        raise VgiError("empty load profile")
    power = np.asarray(load_kw, dtype=float)
    hours = step_hours_of(index, step_minutes)
    local = index.tz_convert(tariff.timezone)
    if isinstance(spot, pd.Series):
        spot = spot.reindex(index).to_numpy(dtype=float)
    if isinstance(export_spot, pd.Series):
        export_spot = export_spot.reindex(index).to_numpy(dtype=float)
    prices = tariff_prices(tariff, index, spot, export_spot, critical_peak_days)
    imp_kwh = np.clip(power, 0.0, None) * hours
    exp_kwh = np.clip(-power, 0.0, None) * hours
    lines: list[BillLine] = []
    cur = tariff.currency

    # energy by season and period
    labels = pd.DataFrame(
        {"season": prices.season, "period": prices.period, "kwh": imp_kwh, "cost": imp_kwh * prices.import_price}
    )
    for (season, period), grp in labels.groupby(["season", "period"], sort=False):
        kwh = float(grp["kwh"].sum())
        cost = float(grp["cost"].sum())
        if kwh == 0.0 and cost == 0.0:
            continue
        label = str(period) if len(set(prices.season)) == 1 else f"{season}: {period}"
        lines.append(BillLine("energy", label, kwh, "kWh", cost / kwh if kwh else 0.0, cost))

    if tariff.tiers is not None:
        bucket = _month_keys(local) if tariff.tiers.per == "month" else local.year.to_numpy()
        blocks = [tariff.tiers.blocks_for(str(s)) for s in prices.season]
        amount, above = _tier_adders(imp_kwh, bucket, blocks)
        if float(above.sum()) > 0:
            lines.append(BillLine("tier", "consumption above tier 1", float(above.sum()), "kWh",
                                  float(amount.sum() / above.sum()), float(amount.sum())))

    export_credit = float(np.sum(exp_kwh * prices.export_price))
    if float(exp_kwh.sum()) > 0:
        lines.append(BillLine("export", "export / V2G discharge credit", float(exp_kwh.sum()), "kWh",
                              export_credit / float(exp_kwh.sum()), -export_credit))

    months = _month_keys(local)
    month_list = list(dict.fromkeys(months.tolist()))
    imp_kw = np.clip(power, 0.0, None)
    for charge in tariff.demand_charges:
        demand, _ = _interval_demand(imp_kw, local, hours, charge.interval_minutes)
        ok = np.isin(local.month.to_numpy(), charge.months)
        if charge.periods is not None:
            ok &= np.isin(prices.period, charge.periods)
        for m in month_list:
            sel = ok & (months == m)
            if not sel.any():
                continue
            peak = float(demand[sel].max())
            lines.append(BillLine("demand", f"{charge.name} {m // 100}-{m % 100:02d}", peak, "kW",
                                  charge.price_per_kw, peak * charge.price_per_kw))
    if tariff.subscription is not None:
        sub = tariff.subscription
        demand, _ = _interval_demand(imp_kw, local, hours, sub.interval_minutes)
        for m in month_list:
            peak = float(demand[months == m].max())
            if subscribed_blocks is None:
                top = int(np.ceil(peak / sub.block_kw - 1e-12))
                options = np.arange(top + 1)
                costs = options * sub.price_per_block + sub.overage_per_kw * np.clip(
                    peak - options * sub.block_kw, 0.0, None
                )
                blocks_m = int(options[int(np.argmin(np.round(costs, 9)))])
            else:
                blocks_m = int(subscribed_blocks)
            over = max(0.0, peak - blocks_m * sub.block_kw)
            lines.append(BillLine("subscription", f"{blocks_m} x {sub.block_kw:g} kW {m // 100}-{m % 100:02d}",
                                  blocks_m, "blocks", sub.price_per_block, blocks_m * sub.price_per_block))
            if over > 1e-12:
                lines.append(BillLine("overage", f"demand above subscription {m // 100}-{m % 100:02d}", over,
                                      "kW", sub.overage_per_kw, over * sub.overage_per_kw))
    for fixed in tariff.fixed_charges:
        qty = 1.0 if fixed.per == "bill" else _calendar_fraction(local, hours, fixed.per)
        unit = {"day": "days", "month": "months", "bill": "bill"}[fixed.per]
        lines.append(BillLine("fixed", fixed.name, qty, unit, fixed.amount, qty * fixed.amount))

    end = index[-1] + pd.Timedelta(hours=float(hours[-1]))
    return Bill(tariff.id, cur, index[0], end, tuple(lines), float(imp_kwh.sum()), float(exp_kwh.sum()))


def bill_totals(
    power_kw: np.ndarray,
    index: pd.DatetimeIndex,
    tariff: Tariff,
    spot: np.ndarray | None = None,
    export_spot: np.ndarray | None = None,
    critical_peak_days: Iterable[dt.date] | None = None,
) -> np.ndarray:
    """Bill totals of many profiles on one index at once: ``power_kw`` is (profiles x steps).

    Same rules as :func:`bill` (cheapest subscription per month); vectorised over profiles.
    """
    power = np.atleast_2d(np.asarray(power_kw, dtype=float))
    index = pd.DatetimeIndex(index)
    hours = step_hours_of(index)
    local = index.tz_convert(tariff.timezone)
    prices = tariff_prices(tariff, index, spot, export_spot, critical_peak_days)
    imp_kwh = np.clip(power, 0.0, None) * hours
    exp_kwh = np.clip(-power, 0.0, None) * hours
    total = imp_kwh @ prices.import_price - exp_kwh @ prices.export_price
    if tariff.tiers is not None:
        bucket = _month_keys(local) if tariff.tiers.per == "month" else local.year.to_numpy()
        blocks = [tariff.tiers.blocks_for(str(s)) for s in prices.season]
        amount, _ = _tier_adders(imp_kwh, bucket, blocks)
        total = total + amount.sum(axis=1)
    months = _month_keys(local)
    imp_kw = np.clip(power, 0.0, None)
    for charge in tariff.demand_charges:
        demand, _ = _interval_demand(imp_kw, local, hours, charge.interval_minutes)
        ok = np.isin(local.month.to_numpy(), charge.months)
        if charge.periods is not None:
            ok &= np.isin(prices.period, charge.periods)
        for m in dict.fromkeys(months.tolist()):
            sel = ok & (months == m)
            if sel.any():
                total = total + demand[:, sel].max(axis=1) * charge.price_per_kw
    if tariff.subscription is not None:
        sub = tariff.subscription
        demand, _ = _interval_demand(imp_kw, local, hours, sub.interval_minutes)
        for m in dict.fromkeys(months.tolist()):
            peak = demand[:, months == m].max(axis=1)
            top = int(np.ceil(peak.max() / sub.block_kw - 1e-12)) if len(peak) else 0
            options = np.arange(top + 1)
            costs = options[None, :] * sub.price_per_block + sub.overage_per_kw * np.clip(
                peak[:, None] - options[None, :] * sub.block_kw, 0.0, None
            )
            total = total + costs.min(axis=1)
    for fixed in tariff.fixed_charges:
        qty = 1.0 if fixed.per == "bill" else _calendar_fraction(local, hours, fixed.per)
        total = total + qty * fixed.amount
    return np.asarray(total, dtype=float)
