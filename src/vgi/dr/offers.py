"""Day-ahead offers: per hour, the kW up and down (and a price) a fleet can deliver with a stated probability.

The fleet of the offer day is not known when the offer is made (at gate closure), so :func:`build_offer` draws
**scenarios** of it from the session data known by then: each scenario takes a historical day of the offer day's
type (working / non-working), resamples its arrivals, and those of the evening before, with replacement (each day's
count kept; arrival, departure, energy and vehicle travel together) and moves them to the offer day. For each
scenario and each offered hour it computes the fleet's capability against the scenario's own uncontrolled
counterfactual over a window of ``max(60 min, the programme's minimum duration)`` from the hour's start
(:mod:`vgi.dr.capability`). The offered quantity is the largest ``q`` reached in at least a share ``probability`` of
the scenarios (:func:`vgi.dr.eligibility.confidence_quantile`); the probability is per hour, not joint over hours.

The offer respects the product: hours outside the programme's call windows are not offered (all hours when it has
none); a quantity below the minimum size is not offered (``status`` says so), one above the maximum is capped, and
quantities are rounded down to the size increment; offers made after gate closure (a clock time on an earlier day,
or minutes before each hour) are refused for the hours concerned.

Price: where the programme pays a fixed price the offer takes it; otherwise the offer carries the aggregator's
reservation price per kWh, clipped to the programme's floor and cap: the energy cost of moving the charging (with a
tariff: the import price ``refill_hours`` after the call minus the price in the called hour for ``down``, the
reverse for ``up``, at least 0), plus the battery wear of the share of the response that must come from discharge
(the part above the counterfactual's own load), plus a margin. It is the least the aggregator should accept, not a
market forecast.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd

from vgi.dr.capability import window_capability
from vgi.dr.eligibility import confidence_quantile
from vgi.dr.fleetdays import DayFleet, day_fleet, fleet_mode
from vgi.dr.programmes import Programme, get_programme
from vgi.errors import VgiError
from vgi.model.sessions import SessionTable, sessions_from_frame

if TYPE_CHECKING:
    from vgi.model.tariffs import Tariff

__all__ = ["Offer", "build_offer", "gate_closure", "scenario_sessions"]


@dataclass(frozen=True, eq=False)
class Offer:
    """A day-ahead offer.

    ``hours`` has one row per offered hour and direction: ``direction``, ``start`` (tz-aware), ``label`` (local
    HH:MM), ``quantity_kw`` (offered), ``capability_kw`` (at the probability, before size rules), ``mean_kw`` (over
    scenarios), ``achieved_probability`` (share of scenarios reaching the quantity), ``price_per_kwh``, ``status``.
    """

    programme_id: str
    day: dt.date
    probability: float
    n_scenarios: int
    gate_closure: pd.Timestamp | None
    currency: str
    hours: pd.DataFrame
    notes: tuple[str, ...] = field(default=())

    def to_dict(self) -> dict[str, Any]:
        rows = []
        for row in self.hours.to_dict(orient="records"):
            rows.append({k: (v.isoformat() if isinstance(v, pd.Timestamp) else v) for k, v in row.items()})
        return {
            "programme": self.programme_id,
            "day": self.day.isoformat(),
            "probability": self.probability,
            "scenarios": self.n_scenarios,
            "gate_closure": None if self.gate_closure is None else self.gate_closure.isoformat(),
            "currency": self.currency,
            "hours": rows,
            "notes": list(self.notes),
        }

    def total_kwh(self, direction: Literal["down", "up"] = "down") -> float:
        h = self.hours[self.hours["direction"] == direction]
        return float(h["quantity_kw"].sum())


def gate_closure(programme: Programme, day: dt.date) -> pd.Timestamp | None:
    """When offers for ``day`` close (a clock time on an earlier day); None for per-hour or no gate closure."""
    t = programme.timing
    if t.gate_closure_local_time is None:
        return None
    hh, mm = (int(x) for x in t.gate_closure_local_time.split(":"))
    d = day - dt.timedelta(days=t.gate_closure_days_before)
    return pd.Timestamp(dt.datetime(d.year, d.month, d.day, hh, mm)).tz_localize(programme.timezone)


def _day_type(d: dt.date, holidays: frozenset[dt.date]) -> bool:
    return d.weekday() < 5 and d not in holidays


def scenario_sessions(
    sessions: SessionTable,
    day: dt.date,
    timezone: str,
    n_scenarios: int,
    seed: int = 0,
    known_before: pd.Timestamp | None = None,
    holidays: frozenset[dt.date] = frozenset(),
) -> tuple[list[SessionTable], list[dt.date], list[str]]:
    """Scenarios of the fleet on ``day``: per scenario, one historical day of the same type, its arrivals and the
    previous day's each resampled with replacement and moved to ``day`` (local clock times kept).  Sessions
    arriving at or after ``known_before`` are not used.  Returns the scenarios, the source days and notes."""
    notes: list[str] = []
    f = sessions.frame
    arrival_local = sessions.arrival.tz_convert(timezone)
    if known_before is not None:
        known = np.asarray(sessions.arrival < known_before)
        if not known.all():
            notes.append(f"{int((~known).sum())} session(s) arriving after gate closure not used for the scenarios")
    else:
        known = np.ones(len(sessions), dtype=bool)
    arr_days = np.array([t.date() for t in arrival_local])
    candidates = sorted({d for d, k in zip(arr_days, known, strict=True) if k and d != day})
    if known_before is not None:
        # a day only partly known at gate closure would look emptier than it was
        whole = [d for d in candidates
                 if pd.Timestamp(d + dt.timedelta(days=1)).tz_localize(timezone) <= known_before]
        if len(whole) < len(candidates):
            notes.append(f"{len(candidates) - len(whole)} day(s) only partly known at gate closure not drawn")
        candidates = whole
    if not candidates:
        raise VgiError("no historical days in the session data to draw offer scenarios from")
    same = [d for d in candidates if _day_type(d, holidays) == _day_type(day, holidays)]
    if not same:
        notes.append("no historical day of the offer day's type: all days used")
        same = candidates
    rng = np.random.default_rng(seed)
    picks = rng.choice(len(same), size=n_scenarios, replace=True)
    out: list[SessionTable] = []
    src_days: list[dt.date] = []
    for j, p in enumerate(picks):
        src = same[int(p)]
        # the source day's arrivals and the evening before's (overnight sessions touch the day), each resampled
        # with replacement within its own day so that the count of each stays as observed
        parts = [np.flatnonzero(known & (arr_days == d)) for d in (src - dt.timedelta(days=1), src)]
        if sum(len(x) for x in parts) == 0:
            out.append(sessions.subset(np.zeros(len(sessions), dtype=bool)))
            src_days.append(src)
            continue
        draw = np.concatenate([rng.choice(x, size=len(x), replace=True) for x in parts if len(x)])
        sub = f.iloc[draw].reset_index(drop=True).copy()
        shift = day - src
        for col in ("arrival", "departure"):
            local = pd.DatetimeIndex(sub[col]).tz_convert(timezone).tz_localize(None) + shift
            sub[col] = local.tz_localize(timezone, ambiguous="NaT", nonexistent="shift_forward").tz_convert("UTC")
        bad = (sub["arrival"].isna() | sub["departure"].isna()).to_numpy()
        if bad.any():
            notes.append(f"scenario {j}: {int(bad.sum())} session(s) fall on a clock time the offer day does not "
                         "have (daylight saving) and are left out")
        sub = sub.loc[~bad]
        sub["session_id"] = [f"s{j}-{i}" for i in range(len(sub))]
        sub = sub.drop(columns=["shortfall_kwh"])
        out.append(sessions_from_frame(sub, f"scenario {j}"))
        src_days.append(src)
    return out, src_days, notes


def _hour_starts(dayf: DayFleet, programme: Programme) -> list[tuple[int, str, pd.Timestamp]]:
    grid = dayf.fleet.grid
    local = grid.local_index
    out = []
    for k in range(dayf.first_step, dayf.first_step + dayf.n_day_steps):
        t = local[k]
        if t.minute != 0:
            continue
        minute = t.hour * 60
        if programme.timing.call_windows and not any(
            bool(w.contains(np.array([minute]))[0]) for w in programme.timing.call_windows
        ):
            continue
        out.append((k, f"{t.hour:02d}:00", grid.utc_index[k]))
    return out


def build_offer(
    sessions: SessionTable,
    programme: Programme | str,
    day: dt.date | str,
    *,
    probability: float = 0.9,
    n_scenarios: int = 30,
    seed: int = 0,
    mode: str | None = None,
    now: pd.Timestamp | None = None,
    tariff: Tariff | None = None,
    wear_cost_per_kwh: float = 0.0,
    margin_per_kwh: float = 0.0,
    refill_hours: float = 6.0,
    holidays: frozenset[dt.date] | None = None,
    step_minutes: int = 15,
) -> Offer:
    """The day-ahead offer of a fleet for ``day`` (see the module docstring).

    Args:
        sessions: session history (several days; only what arrived before gate closure is used).
        programme: the product offered into.
        day: the delivery day (local date in the programme's time zone).
        probability: the probability each hour's quantity is delivered with.
        n_scenarios: scenarios drawn; ``seed`` makes them reproducible.
        mode: ``v1g`` or ``v2g`` (default: v2g where sessions may discharge).
        now: when the offer is made (default: at gate closure); hours whose gate has closed are not offered.
        tariff: the import tariff, for the energy cost of moving charging; wear and margin per kWh add to it.
        holidays: local dates that count as non-working when scenario days of the offer day's type are drawn
            (default: the public holidays of the programme's country in the offer day's year and the one before).
    """
    prog = get_programme(programme) if isinstance(programme, str) else programme
    target = pd.Timestamp(day).date() if isinstance(day, str) else day
    if not 0.0 < probability <= 1.0:
        raise VgiError(f"probability must be in (0, 1], got {probability}")
    if n_scenarios < 1:
        raise VgiError("need at least one scenario")
    mode_ = fleet_mode(sessions, mode)
    notes: list[str] = []
    if holidays is None:
        from vgi.dr.baselines import country_holidays

        try:
            holidays = country_holidays(prog.country, range(target.year - 1, target.year + 1))
        except VgiError as exc:
            notes.append(f"{exc}: only weekends make a day non-working")
            holidays = frozenset()
    gate = gate_closure(prog, target)
    submitted = now if now is not None else gate
    if now is None and gate is not None:
        notes.append(f"offer taken as made at gate closure {gate.isoformat()}")
    scen, src_days, scen_notes = scenario_sessions(sessions, target, prog.timezone, n_scenarios, seed,
                                                   known_before=submitted, holidays=holidays)
    notes += scen_notes
    if n_scenarios < 1.0 / max(1e-9, 1.0 - probability) and probability < 1.0:
        notes.append(f"{n_scenarios} scenarios resolve a probability of {probability:g} only to 1/{n_scenarios}")
    fleets = [day_fleet(s, target, prog.timezone, mode_, step_minutes) for s in scen]
    duration_steps = max(1, math.ceil(max(60.0, prog.timing.min_duration_minutes) / step_minutes))
    starts = _hour_starts(fleets[0], prog)
    if prog.timing.call_windows:
        notes.append("only hours in the programme's call windows are offered")

    buy = None
    if tariff is not None:
        from vgi.schedule.prices import price_inputs

        buy = price_inputs(tariff, fleets[0].fleet.grid).buy
    refill = max(1, round(refill_hours * 60 / step_minutes))

    rows = []
    for direction in prog.directions:
        rule = prog.payments.energy_rule(direction)
        for k, label, t0 in starts:
            caps = np.zeros(len(fleets))
            ref_min = np.zeros(len(fleets))
            for j, fl in enumerate(fleets):
                if k + duration_steps > fl.fleet.n_steps:
                    continue
                res = window_capability(fl.fleet, fl.reference_kw, k, k + duration_steps, direction)
                caps[j] = res.capability_kw
                ref_min[j] = float(res.reference_kw.min())
            cap_q = float(confidence_quantile(caps, probability))
            qty = cap_q
            status = "offered"
            if prog.size.max_kw is not None and qty > prog.size.max_kw:
                qty = prog.size.max_kw
                status = "capped at maximum size"
            if prog.size.increment_kw:
                qty = math.floor(qty / prog.size.increment_kw + 1e-9) * prog.size.increment_kw
            if qty < prog.size.min_kw or qty <= 0:
                status = "below minimum size" if qty > 0 or prog.size.min_kw > 0 else "nothing deliverable"
                qty = 0.0
            hour_gate = gate
            if prog.timing.gate_closure_minutes_before is not None:
                hour_gate = t0 - pd.Timedelta(minutes=prog.timing.gate_closure_minutes_before)
            if now is not None and hour_gate is not None and now > hour_gate:
                status = "after gate closure"
                qty = 0.0
            achieved = float((caps >= qty - 1e-9).mean()) if qty > 0 else 1.0
            # price
            if rule is None:
                price = 0.0
            elif rule.kind == "fixed":
                price = rule.price(None)
            else:
                energy_cost = 0.0
                if buy is not None:
                    p_h = float(buy[k: k + duration_steps].mean())
                    later = buy[k + duration_steps: k + duration_steps + refill]
                    p_alt = float(later.mean()) if len(later) else p_h
                    energy_cost = max(0.0, (p_alt - p_h) if direction == "down" else (p_h - p_alt))
                v2g_share = 0.0
                if direction == "down" and cap_q > 0:
                    v2g_share = float(np.clip((cap_q - float(np.quantile(ref_min, 0.5))) / cap_q, 0.0, 1.0))
                price = energy_cost + wear_cost_per_kwh * v2g_share + margin_per_kwh
                if rule.floor_per_kwh is not None:
                    price = max(price, rule.floor_per_kwh)
                if rule.cap_per_kwh is not None:
                    price = min(price, rule.cap_per_kwh)
            rows.append(
                {
                    "direction": direction,
                    "start": t0.tz_convert(prog.timezone),
                    "label": label,
                    "quantity_kw": float(qty),
                    "capability_kw": cap_q,
                    "mean_kw": float(caps.mean()),
                    "achieved_probability": achieved,
                    "price_per_kwh": float(price),
                    "status": status,
                }
            )
    hours = pd.DataFrame(rows, columns=["direction", "start", "label", "quantity_kw", "capability_kw", "mean_kw",
                                        "achieved_probability", "price_per_kwh", "status"])
    notes.append(f"scenario days drawn from: {', '.join(sorted({d.isoformat() for d in src_days}))}")
    return Offer(prog.id, target, probability, n_scenarios, gate, prog.currency, hours, tuple(notes))
