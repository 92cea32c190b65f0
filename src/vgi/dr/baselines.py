"""Baselines: what the load would have been without the call.  Pure functions on a metered history.

A metered history is a :class:`pandas.Series` of average power in kW per step (positive import, negative export),
indexed by tz-aware step starts at a regular step.  Each function returns a :class:`BaselineResult` on the steps of
the event window ``[start, end)`` at the history's step.

Methods (each with its source; ``docs/demand-response.md`` works an example of each):

* :func:`day_matching` — average of days like the event day, optionally with a day-of adjustment:

  - ``x`` of the ``y`` most recent similar non-event days in ``lookback_days`` (``select="recent"``): CAISO's
    Customer Load Baseline, 10-in-10 on working days (4-in-4 on weekends and holidays), 45-day lookback, with a
    *load point adjustment*: the ratio of the actual load to the baseline in the three hours before the hour that
    precedes the event (hours -4 to -2: a one-hour buffer before the start), capped at +/-20 %; with fewer than 10
    eligible weekdays at least 5 are used (CAISO tariff 4.13.4, BPM for Demand Response / Metering, performance
    evaluation methodologies) — :func:`caiso_10_in_10`;
  - the ``x`` highest (by average load over the event window) of the ``y`` most recent: PJM's "high 4 of 5" customer
    baseline with a symmetric additive adjustment from the three hours ending one hour before the event (PJM Manual
    11, section 10) — :func:`high_4_of_5`;
  - the ``n`` most recent similar days, no adjustment: the similar-days average of Chinese provincial rules (e.g.
    Jiangsu 2015: the 5 most recent normal working days before the invitation day) — :func:`similar_days_average`.

* :func:`declared_schedule` — a schedule declared before gate closure: the GB Balancing Mechanism's final physical
  notification (FPN), a piecewise-linear curve through spot points (BSC Section Q/T); the step value is its exact
  average over the step.
* :func:`meter_before_after` — the average metered load in a window just before the instruction, held flat through
  delivery: NAESB WEQ-015's "meter before / meter after" type, used for fast reserve.
* :func:`ev_counterfactual` — the EV-specific baseline: the same sessions charged uncontrolled (full power from
  arrival until the need is met), computed by :func:`vgi.schedule.api.schedule` with the ``uncontrolled`` strategy.

Day types: ``working`` (Monday-Friday and not a holiday) and ``non-working``; pass the holidays that apply (a
country's public holidays: :func:`country_holidays`).  Days are local days in the history's time zone (or the one
given).  A day with missing or non-finite data at a needed step is skipped and named in ``notes``; never silently
dropped.  Too few days is an error.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd

from vgi.errors import VgiError

if TYPE_CHECKING:
    from vgi.dr.programmes import BaselineSpec, Programme
    from vgi.schedule.prices import PriceInputs
    from vgi.schedule.problem import FleetOnGrid

__all__ = [
    "BaselineResult",
    "baseline_for",
    "baseline_timezone",
    "caiso_10_in_10",
    "check_history",
    "country_holidays",
    "day_matching",
    "declared_schedule",
    "ev_counterfactual",
    "high_4_of_5",
    "meter_before_after",
    "similar_days_average",
]


@dataclass(frozen=True, eq=False)
class BaselineResult:
    """A baseline over the event window.

    Attributes:
        baseline_kw: baseline power per step of the window (tz-aware index, step starts).
        method: the method's name.
        unadjusted_kw: the baseline before a day-of adjustment (equal to ``baseline_kw`` without one).
        days_used: local dates averaged (day-matching methods), most recent first.
        adjustment: the day-of adjustment applied: a ratio (multiplicative), kW (additive), or None.
        adjustment_uncapped: the adjustment before its cap.
        notes: skipped days and other facts a reader should see.
        per_session_kw: for the EV counterfactual, each session's power (N x T on the fleet grid).
    """

    baseline_kw: pd.Series
    method: str
    unadjusted_kw: pd.Series | None = None
    days_used: tuple[dt.date, ...] = ()
    adjustment: float | None = None
    adjustment_uncapped: float | None = None
    notes: tuple[str, ...] = ()
    per_session_kw: np.ndarray | None = field(default=None, repr=False)

    def to_dict(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "days_used": [d.isoformat() for d in self.days_used],
            "adjustment": self.adjustment,
            "adjustment_uncapped": self.adjustment_uncapped,
            "notes": list(self.notes),
            "baseline_kw": [float(v) for v in self.baseline_kw.to_numpy()],
        }


# ----------------------------------------------------------------------------------------------- helpers


def check_history(history_kw: pd.Series, what: str = "metered history") -> tuple[pd.Series, pd.Timedelta]:
    """Validate a power history (tz-aware, strictly increasing, regular step); returns it and its step.

    Non-finite values are kept (as missing data) so that the methods can skip and name the days they fall on.
    """
    if not isinstance(history_kw, pd.Series) or not isinstance(history_kw.index, pd.DatetimeIndex):
        raise VgiError(f"{what} must be a series indexed by time")
    if history_kw.index.tz is None:
        raise VgiError(f"{what}: timestamps must be tz-aware")
    if len(history_kw) < 2:
        raise VgiError(f"{what}: needs at least two readings")
    idx = history_kw.index
    diffs = np.diff(idx.as_unit("ns").asi8)
    if (diffs <= 0).any():
        bad = int(np.flatnonzero(diffs <= 0)[0]) + 1
        raise VgiError(f"{what}: timestamps must increase strictly (row {bad + 1}: {idx[bad]})")
    step_ns = int(np.min(diffs))
    if (diffs % step_ns).any():
        bad = int(np.flatnonzero(diffs % step_ns)[0]) + 1
        raise VgiError(f"{what}: irregular step at row {bad + 1} ({idx[bad]})")
    values = pd.to_numeric(history_kw, errors="coerce").astype(float)
    return pd.Series(values.to_numpy(), index=idx, name=history_kw.name), pd.Timedelta(step_ns, unit="ns")


def country_holidays(country: str, years: Iterable[int]) -> frozenset[dt.date]:
    """Public holidays of ``country`` (ISO code) in ``years``, from the ``holidays`` package."""
    import holidays as hol

    try:
        table = hol.country_holidays(country, years=sorted(set(years)))
    except NotImplementedError as exc:
        raise VgiError(f"no holiday calendar for country '{country}'") from exc
    return frozenset(table.keys())


def _window_index(start: pd.Timestamp, end: pd.Timestamp, step: pd.Timedelta, anchor: pd.Timestamp,
                  what: str) -> pd.DatetimeIndex:
    """Steps of ``[start, end)`` on the grid of ``anchor + k * step`` (start and end must lie on it)."""
    for t, name in ((start, "start"), (end, "end")):
        if (t - anchor) % step != pd.Timedelta(0):
            raise VgiError(f"{what} {name} {t} is not on the metering step ({step}) of the history")
    return pd.date_range(start, end, freq=step, inclusive="left")


def _local_dates(values: Iterable[Any], timezone: str) -> list[dt.date]:
    """Dates as local dates: a date stays as it is; a tz-aware time gives its local date in ``timezone``."""
    out: list[dt.date] = []
    for v in values:
        if isinstance(v, dt.datetime):
            ts = pd.Timestamp(v)
            out.append((ts.tz_convert(timezone) if ts.tzinfo is not None else ts).date())
        elif isinstance(v, dt.date):
            out.append(v)
        else:
            try:
                out.append(dt.date.fromisoformat(str(v)))
            except ValueError as exc:
                raise VgiError(f"'{v}' is not a date YYYY-MM-DD") from exc
    return out


def _is_working(dates: Iterable[dt.date], holidays: frozenset[dt.date]) -> np.ndarray:
    return np.array([d.weekday() < 5 and d not in holidays for d in dates], dtype=bool)


@dataclass(frozen=True)
class _DayTable:
    """Power by local date (rows) and minute of day (columns); repeated DST minutes averaged."""

    table: pd.DataFrame
    timezone: str

    @classmethod
    def build(cls, history: pd.Series, timezone: str) -> _DayTable:
        local = pd.DatetimeIndex(history.index).tz_convert(timezone)
        frame = pd.DataFrame(
            {
                "date": [d.date() for d in local],
                "tod": (local.hour * 60 + local.minute).to_numpy(),
                "kw": history.to_numpy(dtype=float),
            }
        )
        table = frame.pivot_table(index="date", columns="tod", values="kw", aggfunc="mean", dropna=False)
        return cls(table, timezone)

    def positions(self, times: pd.DatetimeIndex, event_day: dt.date) -> tuple[np.ndarray, np.ndarray]:
        """Day offsets from the event day and minutes of day of ``times`` (local)."""
        local = times.tz_convert(self.timezone)
        offsets = np.array([(t.date() - event_day).days for t in local], dtype=int)
        tods = (local.hour * 60 + local.minute).to_numpy()
        return offsets, tods

    def values(self, days: list[dt.date], offsets: np.ndarray, tods: np.ndarray) -> np.ndarray:
        """Matrix (days x steps): value at (day + offset, tod); NaN where absent."""
        out = np.full((len(days), len(tods)), np.nan)
        if not days:
            return out
        for off in np.unique(offsets):
            cols = np.flatnonzero(offsets == off)
            rows = [d + dt.timedelta(days=int(off)) for d in days]
            sub = self.table.reindex(index=rows, columns=tods[cols])
            out[:, cols] = sub.to_numpy(dtype=float)
        return out


# ----------------------------------------------------------------------------------------------- day matching


def day_matching(
    history_kw: pd.Series,
    start: pd.Timestamp,
    end: pd.Timestamp,
    *,
    x: int,
    y: int,
    lookback_days: int = 45,
    select: Literal["recent", "highest"] = "recent",
    same_day_type: bool = True,
    adjustment: Literal["none", "multiplicative", "additive"] = "none",
    adjustment_cap: float | None = None,
    adjustment_window_minutes: tuple[float, float] | None = None,
    exclude_days: Iterable[dt.date] = (),
    holidays: Iterable[dt.date] = (),
    timezone: str | None = None,
    min_days: int | None = None,
    method: str | None = None,
) -> BaselineResult:
    """Average of days like the event day at the same clock times, with an optional day-of adjustment.

    Args:
        history_kw: metered power history (kW per step); must hold the candidate days, and the event day's
            adjustment window when an adjustment is asked for.
        start, end: event window (tz-aware, on the history's step).
        x, y: average ``x`` days out of the ``y`` most recent candidates (``select="recent"``: the ``x`` most
            recent; ``"highest"``: the ``x`` with the highest average load over the event window).
        lookback_days: candidates lie in the ``lookback_days`` local days before the event day.
        same_day_type: candidates have the event day's type (working / non-working).
        adjustment: ``multiplicative`` (baseline x actual/baseline in the adjustment window) or ``additive``
            (baseline + actual - baseline); ``adjustment_cap``: ratio kept in [1 - cap, 1 + cap], or the additive
            term within +/- cap x the window's baseline.
        adjustment_window_minutes: ``(a, b)`` minutes relative to the event start, e.g. ``(-240, -60)``.
        exclude_days: days not to use (earlier event days, outages).
        holidays: dates that count as non-working.
        timezone: local time zone of the day boundaries (default: the history index's zone).
        min_days: fewest days accepted when fewer than ``y`` candidates exist (default ``x``).
    """
    history, step = check_history(history_kw)
    tz = timezone or str(pd.DatetimeIndex(history.index).tz)
    start, end = pd.Timestamp(start), pd.Timestamp(end)
    if start.tzinfo is None or end.tzinfo is None:
        raise VgiError("event start and end must be tz-aware")
    if not 1 <= x <= y:
        raise VgiError(f"day matching needs 1 <= x <= y, got x={x}, y={y}")
    window = _window_index(start, end, step, history.index[0], "event")
    name = method or (f"{'high ' if select == 'highest' else ''}{x}-of-{y}")
    table = _DayTable.build(history, tz)
    event_day = start.tz_convert(tz).date()
    offsets, tods = table.positions(window, event_day)

    adj_times: pd.DatetimeIndex | None = None
    if adjustment != "none":
        if adjustment_window_minutes is None:
            raise VgiError("a day-of adjustment needs adjustment_window_minutes")
        a, b = adjustment_window_minutes
        adj_times = _window_index(start + pd.Timedelta(minutes=a), start + pd.Timedelta(minutes=b), step,
                                  history.index[0], "adjustment window")
        adj_off, adj_tods = table.positions(adj_times, event_day)

    holiday_set = frozenset(_local_dates(holidays, tz))
    excluded = set(_local_dates(exclude_days, tz))
    first = event_day - dt.timedelta(days=lookback_days)
    all_days = [d for d in table.table.index if first <= d < event_day]
    notes: list[str] = []
    candidates: list[dt.date] = []
    event_working = bool(_is_working([event_day], holiday_set)[0])
    for d in sorted(all_days, reverse=True):
        if d in excluded:
            notes.append(f"{d}: excluded (event or excluded day)")
            continue
        if same_day_type and bool(_is_working([d], holiday_set)[0]) != event_working:
            continue
        candidates.append(d)
    # completeness at the needed steps
    need_off = offsets if adj_times is None else np.concatenate([offsets, adj_off])
    need_tod = tods if adj_times is None else np.concatenate([tods, adj_tods])
    vals = table.values(candidates, need_off, need_tod)
    complete = np.isfinite(vals).all(axis=1)
    for d, ok in zip(candidates, complete, strict=True):
        if not ok:
            notes.append(f"{d}: skipped (missing data at a needed step)")
    pool = [d for d, ok in zip(candidates, complete, strict=True) if ok][:y]
    needed = x if min_days is None else min_days
    if len(pool) < needed:
        kind = ("working" if event_working else "non-working") if same_day_type else "any"
        raise VgiError(
            f"{name} baseline for {event_day}: only {len(pool)} complete {kind} day(s) in the {lookback_days} days "
            f"before the event, need at least {needed}"
        )
    if len(pool) < y:
        notes.append(f"only {len(pool)} of {y} candidate days available")
    pool_vals = table.values(pool, offsets, tods)
    if select == "highest":
        means = pool_vals.mean(axis=1)
        order = np.argsort(-means, kind="stable")  # ties: the more recent first (pool is newest first)
        chosen_idx = np.sort(order[: min(x, len(pool))])
    else:
        chosen_idx = np.arange(min(x, len(pool)))
    chosen = [pool[i] for i in chosen_idx]
    base = pool_vals[chosen_idx].mean(axis=0)
    unadjusted = pd.Series(base, index=window, name="baseline_kw")

    adj_value: float | None = None
    adj_uncapped: float | None = None
    result = base.copy()
    if adj_times is not None:
        actual = history.reindex(adj_times).to_numpy(dtype=float)
        if not np.isfinite(actual).all():
            raise VgiError(
                f"{name} baseline: the event day's metered data is missing in the adjustment window "
                f"{adj_times[0]} - {adj_times[-1] + step}"
            )
        base_adj = table.values(chosen, adj_off, adj_tods).mean(axis=0)
        actual_mean = float(actual.mean())
        base_mean = float(base_adj.mean())
        if adjustment == "multiplicative":
            if base_mean <= 0:
                notes.append("adjustment window baseline is zero or negative: no multiplicative adjustment")
                adj_uncapped = adj_value = 1.0
            else:
                adj_uncapped = actual_mean / base_mean
                adj_value = adj_uncapped
                if adjustment_cap is not None:
                    adj_value = float(np.clip(adj_uncapped, 1.0 - adjustment_cap, 1.0 + adjustment_cap))
            result = base * adj_value
        else:
            adj_uncapped = actual_mean - base_mean
            adj_value = adj_uncapped
            if adjustment_cap is not None:
                limit = adjustment_cap * abs(base_mean)
                adj_value = float(np.clip(adj_uncapped, -limit, limit))
            result = base + adj_value
        if adj_value != adj_uncapped:
            notes.append(f"day-of adjustment capped: {adj_uncapped:.6g} -> {adj_value:.6g}")
    return BaselineResult(
        pd.Series(result, index=window, name="baseline_kw"),
        name,
        unadjusted,
        tuple(chosen),
        adj_value,
        adj_uncapped,
        tuple(notes),
    )


def caiso_10_in_10(
    history_kw: pd.Series,
    start: pd.Timestamp,
    end: pd.Timestamp,
    *,
    holidays: Iterable[dt.date] = (),
    exclude_days: Iterable[dt.date] = (),
    adjustment_cap: float = 0.2,
    timezone: str | None = None,
) -> BaselineResult:
    """CAISO Customer Load Baseline (CAISO tariff section 4.13.4; BPM for Demand Response, performance evaluation
    methodologies; the rule as summarised in CAISO's Baseline Accuracy Work Group material):

    * weekday event (Monday-Friday, not a holiday): the average, hour by hour (step by step), of the **10 most
      recent** weekdays that are neither holidays nor event days (``exclude_days``) within the **45 days** before
      the event day; when fewer than 10 exist, those available are used, **at least 5** (fewer is an error);
    * weekend or holiday event: the **4 most recent** weekend days or holidays, same lookback (4 required);
    * **load point adjustment**, multiplicative: ``LPA = mean(actual) / mean(baseline)`` over the three hours
      before the hour preceding the event (minutes -240 to -60 from the start: a one-hour buffer), clipped to
      ``[1 - cap, 1 + cap]`` with ``cap`` = 0.2; the baseline of every event step is multiplied by it.
    """
    history, _ = check_history(history_kw)
    tz = timezone or str(pd.DatetimeIndex(history.index).tz)
    event_day = pd.Timestamp(start).tz_convert(tz).date()
    holidays = tuple(_local_dates(holidays, tz))
    working = bool(_is_working([event_day], frozenset(holidays))[0])
    n = 10 if working else 4
    return day_matching(
        history, start, end, x=n, y=n, lookback_days=45, select="recent", same_day_type=True,
        adjustment="multiplicative", adjustment_cap=adjustment_cap, adjustment_window_minutes=(-240.0, -60.0),
        exclude_days=exclude_days, holidays=holidays, timezone=tz, min_days=5 if working else 4,
        method=f"CAISO {n}-in-{n}",
    )


def high_4_of_5(
    history_kw: pd.Series,
    start: pd.Timestamp,
    end: pd.Timestamp,
    *,
    holidays: Iterable[dt.date] = (),
    exclude_days: Iterable[dt.date] = (),
    lookback_days: int = 45,
    timezone: str | None = None,
) -> BaselineResult:
    """PJM-style high 4 of 5: the 4 highest of the 5 most recent similar days (by load over the event window), with
    an uncapped symmetric additive adjustment from the three hours ending one hour before the event."""
    return day_matching(
        history_kw, start, end, x=4, y=5, lookback_days=lookback_days, select="highest", same_day_type=True,
        adjustment="additive", adjustment_cap=None, adjustment_window_minutes=(-240.0, -60.0),
        exclude_days=exclude_days, holidays=holidays, timezone=timezone, method="high 4-of-5",
    )


def similar_days_average(
    history_kw: pd.Series,
    start: pd.Timestamp,
    end: pd.Timestamp,
    *,
    n_days: int = 5,
    lookback_days: int = 30,
    same_day_type: bool = True,
    holidays: Iterable[dt.date] = (),
    exclude_days: Iterable[dt.date] = (),
    timezone: str | None = None,
) -> BaselineResult:
    """Average of the ``n_days`` most recent days of the event day's type, no adjustment (Chinese provincial
    rules such as Jiangsu's: the response-period load of the 5 most recent normal working days)."""
    return day_matching(
        history_kw, start, end, x=n_days, y=n_days, lookback_days=lookback_days, select="recent",
        same_day_type=same_day_type, exclude_days=exclude_days, holidays=holidays, timezone=timezone,
        method=f"similar days ({n_days})",
    )


# ----------------------------------------------------------------------------------------------- declared, MBMA


def declared_schedule(
    declared_kw: pd.Series,
    start: pd.Timestamp,
    end: pd.Timestamp,
    step_minutes: float,
    interpolation: Literal["linear", "step"] = "linear",
) -> BaselineResult:
    """A declared schedule as the baseline (GB BM final physical notification).

    ``declared_kw`` holds spot points (time, kW); ``linear`` joins them by straight lines (as BM physical
    notifications are defined), ``step`` holds each value until the next point.  The baseline of each step of
    ``[start, end)`` is the exact average of that curve over the step.  The points must cover the window.
    """
    pts, _ = _points(declared_kw)
    start, end = pd.Timestamp(start), pd.Timestamp(end)
    step = pd.Timedelta(minutes=step_minutes)
    window = _window_index(start, end, step, start, "event")
    t = pd.DatetimeIndex(pts.index).as_unit("ns").asi8.astype(np.int64)
    v = pts.to_numpy(dtype=float)
    s_ns = np.append(window.as_unit("ns").asi8, end.as_unit("ns").value)
    if s_ns[0] < t[0] or (interpolation == "linear" and s_ns[-1] > t[-1]):
        raise VgiError(
            f"declared schedule covers {pts.index[0]} - {pts.index[-1]}, not the whole window {start} - {end}"
        )
    if interpolation == "step":
        # value at each instant: the last point at or before it
        knots = np.union1d(s_ns, t[(t > s_ns[0]) & (t < s_ns[-1])])
        left = knots[:-1]
        seg_val = v[np.searchsorted(t, left, side="right") - 1]
        seg_energy = seg_val * np.diff(knots)
    else:
        knots = np.union1d(s_ns, t[(t > s_ns[0]) & (t < s_ns[-1])])
        kv = np.interp(knots.astype(float), t.astype(float), v)
        seg_energy = 0.5 * (kv[:-1] + kv[1:]) * np.diff(knots)
    starts_pos = np.searchsorted(knots, s_ns[:-1])
    energy = np.add.reduceat(seg_energy, starts_pos)
    avg = energy / np.diff(s_ns)
    series = pd.Series(avg, index=window, name="baseline_kw")
    return BaselineResult(series, f"declared ({interpolation})", series)


def _points(declared_kw: pd.Series) -> tuple[pd.Series, None]:
    if not isinstance(declared_kw, pd.Series) or not isinstance(declared_kw.index, pd.DatetimeIndex):
        raise VgiError("a declared schedule must be a series of kW indexed by time")
    if declared_kw.index.tz is None:
        raise VgiError("declared schedule timestamps must be tz-aware")
    s = declared_kw.sort_index()
    if s.index.has_duplicates:
        raise VgiError(f"declared schedule repeats the time {s.index[s.index.duplicated()][0]}")
    values = pd.to_numeric(s, errors="coerce")
    if values.isna().any():
        raise VgiError(f"declared schedule has a non-numeric value at {s.index[values.isna().to_numpy()][0]}")
    if len(s) == 0:
        raise VgiError("declared schedule is empty")
    return values.astype(float), None


def meter_before_after(
    history_kw: pd.Series,
    start: pd.Timestamp,
    end: pd.Timestamp,
    before_minutes: float,
) -> BaselineResult:
    """Meter before / meter after: the average metered load in ``[start - before_minutes, start)`` held flat
    over the window (NAESB WEQ-015; fast reserve)."""
    history, step = check_history(history_kw)
    start, end = pd.Timestamp(start), pd.Timestamp(end)
    window = _window_index(start, end, step, history.index[0], "event")
    before = _window_index(start - pd.Timedelta(minutes=before_minutes), start, step, history.index[0],
                           "meter-before window")
    if len(before) == 0:
        raise VgiError(f"meter-before window of {before_minutes} min is shorter than the metering step {step}")
    vals = history.reindex(before).to_numpy(dtype=float)
    if not np.isfinite(vals).all():
        raise VgiError(f"no complete metered data in the {before_minutes} min before {start}")
    level = float(vals.mean())
    series = pd.Series(np.full(len(window), level), index=window, name="baseline_kw")
    return BaselineResult(series, f"meter before/after ({before_minutes:g} min)", series,
                          notes=(f"meter-before level {level:.6g} kW from {before[0]} to {start}",))


# ----------------------------------------------------------------------------------------------- EV counterfactual


def ev_counterfactual(
    fleet: FleetOnGrid,
    prices: PriceInputs | None = None,
    window: tuple[pd.Timestamp, pd.Timestamp] | None = None,
) -> BaselineResult:
    """The same sessions charged uncontrolled (full power from arrival until each need is met).

    Computed by :func:`vgi.schedule.api.schedule` with the ``uncontrolled`` strategy on the fleet's grid.  The
    result's ``baseline_kw`` covers ``window`` (default: the whole grid); ``per_session_kw`` holds each session's
    power on the whole grid (N x T), which settlement uses to split a response between drivers.
    """
    from vgi.schedule.api import schedule
    from vgi.schedule.prices import PriceInputs as _Prices

    grid = fleet.grid
    if prices is None:
        prices = _Prices.flat(grid.n_steps, 0.0)
    sched = schedule(fleet, "uncontrolled", prices)
    per_session = np.asarray(sched.net_kw, dtype=float)
    agg = per_session.sum(axis=0) if per_session.size else np.zeros(grid.n_steps)
    index = grid.utc_index
    series = pd.Series(agg, index=index, name="baseline_kw")
    if window is not None:
        mask = (index >= pd.Timestamp(window[0])) & (index < pd.Timestamp(window[1]))
        if not mask.any():
            raise VgiError(f"event window {window[0]} - {window[1]} is outside the fleet's time grid")
        series = series[mask]
    return BaselineResult(series, "EV counterfactual (uncontrolled)", series, per_session_kw=per_session)


# ----------------------------------------------------------------------------------------------- dispatcher


def baseline_timezone(
    spec: BaselineSpec | Programme, history_kw: pd.Series | None = None, timezone: str | None = None
) -> str | None:
    """The time zone whose local days :func:`baseline_for` uses: ``timezone`` where given, else the programme's
    own zone, else (a bare :class:`~vgi.dr.programmes.BaselineSpec`) the zone of the history's index; None when
    none is known.  Event days to leave out of a baseline are local dates of this zone
    (:func:`vgi.dr.events.event_days`)."""
    from vgi.dr.programmes import Programme

    if timezone:
        return timezone
    if isinstance(spec, Programme):
        return spec.timezone
    if history_kw is not None and isinstance(history_kw.index, pd.DatetimeIndex) and history_kw.index.tz is not None:
        return str(history_kw.index.tz)
    return None


def baseline_for(
    spec: BaselineSpec | Programme,
    history_kw: pd.Series | None,
    start: pd.Timestamp,
    end: pd.Timestamp,
    *,
    declared_kw: pd.Series | None = None,
    fleet: FleetOnGrid | None = None,
    holidays: Iterable[dt.date] | None = None,
    exclude_days: Iterable[dt.date] = (),
    method: str | None = None,
    timezone: str | None = None,
) -> BaselineResult:
    """The baseline a programme (or a :class:`~vgi.dr.programmes.BaselineSpec`) prescribes for an event window.

    ``method`` overrides the programme's method (``x_of_y``, ``caiso``, ``high_4_of_5``, ``similar_days``,
    ``declared``, ``meter_before_after``, ``ev_counterfactual``).  Day-matching methods work on local days of
    ``timezone``, by default the programme's own time zone (with a bare :class:`BaselineSpec`: the history index's
    zone): the event day, its type (working / weekend / holiday), the candidate days, the lookback and the
    day-of adjustment window are all local, whatever zone the history and the event times are written in.
    Holidays default to the programme's country's public holidays of the local years the lookback spans.
    ``exclude_days`` are local dates not to use (earlier event days of the programme, outages).
    """
    from vgi.dr.programmes import BaselineSpec, Programme

    country = None
    if isinstance(spec, Programme):
        country = spec.country
        spec_ = spec.baseline
    else:
        spec_ = spec
    tz = baseline_timezone(spec, history_kw, timezone)
    chosen = method or spec_.method
    if holidays is None and country and chosen not in ("declared", "meter_before_after", "ev_counterfactual"):
        start_ts = pd.Timestamp(start)
        if start_ts.tzinfo is None:
            raise VgiError("event start and end must be tz-aware")
        # the local year of the event day (an evening event in Asia/Shanghai on 1 January starts in the previous
        # UTC year) and the year before it, which the lookback may reach
        local_year = start_ts.tz_convert(tz or "UTC").year
        holidays = country_holidays(country, range(local_year - 1, local_year + 1))
    hol = tuple(holidays or ())
    if chosen in ("x_of_y", "high_x_of_y", "caiso", "high_4_of_5", "similar_days") and history_kw is None:
        raise VgiError(f"the {chosen} baseline needs a metered history")
    assert isinstance(spec_, BaselineSpec)
    if chosen == "caiso":
        assert history_kw is not None
        cap = 0.2 if spec_.adjustment_cap is None else spec_.adjustment_cap
        return caiso_10_in_10(history_kw, start, end, holidays=hol, exclude_days=exclude_days, adjustment_cap=cap,
                              timezone=tz)
    if chosen == "high_4_of_5":
        assert history_kw is not None
        return high_4_of_5(history_kw, start, end, holidays=hol, exclude_days=exclude_days, timezone=tz)
    if chosen in ("x_of_y", "high_x_of_y"):
        assert history_kw is not None
        x = spec_.x or 10
        y = spec_.y or x
        return day_matching(
            history_kw, start, end, x=x, y=y, lookback_days=spec_.lookback_days or 45,
            select="highest" if chosen == "high_x_of_y" else "recent", same_day_type=spec_.same_day_type,
            adjustment=spec_.adjustment, adjustment_cap=spec_.adjustment_cap,
            adjustment_window_minutes=spec_.adjustment_window_minutes, exclude_days=exclude_days, holidays=hol,
            timezone=tz,
        )
    if chosen == "similar_days":
        assert history_kw is not None
        return similar_days_average(
            history_kw, start, end, n_days=spec_.y or spec_.x or 5, lookback_days=spec_.lookback_days or 30,
            same_day_type=spec_.same_day_type, holidays=hol, exclude_days=exclude_days, timezone=tz,
        )
    if chosen == "declared":
        if declared_kw is None:
            raise VgiError("the declared-schedule baseline needs the declared schedule (physical notification)")
        step_minutes = 15.0
        if history_kw is not None:
            _, step = check_history(history_kw)
            step_minutes = step.total_seconds() / 60.0
        return declared_schedule(declared_kw, start, end, step_minutes)
    if chosen == "meter_before_after":
        if history_kw is None:
            raise VgiError("the meter-before/meter-after baseline needs a metered history")
        return meter_before_after(history_kw, start, end, spec_.before_minutes or 15.0)
    if chosen == "ev_counterfactual":
        if fleet is None:
            raise VgiError("the EV counterfactual baseline needs the sessions (a fleet)")
        return ev_counterfactual(fleet, window=(pd.Timestamp(start), pd.Timestamp(end)))
    raise VgiError(f"programme baseline method '{chosen}' cannot measure a response; choose one with --baseline")
