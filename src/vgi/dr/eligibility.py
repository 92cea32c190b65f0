"""Eligibility: does an aggregation of EVs qualify for a programme, and what would it take?

:func:`assess` checks a fleet (a session table, typically several days of real or generated sessions) against a
:class:`~vgi.dr.programmes.Programme`:

* **size at the needed hours, with a stated confidence**: for every day of the data and every call start in the
  programme's call windows (every hour when it has none), the largest response the fleet can hold for the
  programme's minimum duration against its uncontrolled counterfactual, without breaking any driver's need
  (:func:`vgi.dr.capability.window_capability`).  The size at confidence ``p`` at a start hour is the largest
  ``q`` that at least a share ``p`` of the days reach (the ``floor(S (1 - p))``-th smallest of the ``S`` daily
  values).  With call windows the fleet must reach the minimum size at every needed hour; without, at some hour;
* response time, duration, metering, telemetry and location rules;
* behaviour and project rules: V2G required, plugged-in hours and frequency, a monthly kWh cap, a yearly discharge;
* the smallest qualifying fleet (vehicles, scaling the per-vehicle size at confidence linearly: with more vehicles
  the relative spread shrinks, so this is on the safe side), and the effect of the size threshold (1 MW, 500 kW,
  100 kW and the programme's own) on how many of the fleet's sites, taken as separate aggregations, qualify.

Checks are ``pass``, ``fail`` or ``unknown`` (the information was not given); ``qualifies`` is True only when no
check fails and none is unknown, False when one fails, None otherwise.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd

from vgi.dr.capability import window_capability
from vgi.dr.fleetdays import DayFleet, day_fleet, fleet_mode, local_days, window_starts
from vgi.dr.programmes import Programme, get_programme
from vgi.errors import VgiError
from vgi.model.sessions import SessionTable

__all__ = [
    "Check",
    "EligibilityReport",
    "assess",
    "confidence_quantile",
    "scenario_eligibility",
    "size_at_confidence",
    "yearly_discharge_estimate_kwh",
]

DEFAULT_THRESHOLDS_KW = (1000.0, 500.0, 100.0)
#: assumed response time of directly controlled chargers (OCPP smart-charging profiles), minutes
DEFAULT_FLEET_RESPONSE_MINUTES = 1.0
MAX_SITES_ANALYSED = 100


def confidence_quantile(values: np.ndarray, probability: float, axis: int = 0) -> np.ndarray:
    """The largest ``q`` with P(value >= q) >= ``probability`` in the sample: the ``floor(S (1 - p))``-th smallest.

    E.g. 10 values 1..10: p = 0.9 gives 2 (9 of 10 reach it), p = 0.8 gives 3, p = 1 gives the minimum.
    """
    if not 0.0 < probability <= 1.0:
        raise VgiError(f"probability must be in (0, 1], got {probability}")
    arr = np.sort(np.asarray(values, dtype=float), axis=axis)
    s = arr.shape[axis]
    if s == 0:
        raise VgiError("no samples to take a quantile of")
    k = min(s - 1, math.floor(s * (1.0 - probability) + 1e-9))
    return np.take(arr, k, axis=axis)


@dataclass(frozen=True)
class Check:
    """One eligibility check: ``status`` is ``pass``, ``fail`` or ``unknown``."""

    name: str
    status: Literal["pass", "fail", "unknown"]
    detail: str


@dataclass(frozen=True, eq=False)
class EligibilityReport:
    """The outcome of :func:`assess`.

    Attributes:
        programme_id: the programme.
        qualifies: True, False, or None when some information is unknown (and nothing fails).
        checks: every check with its detail.
        confidence: the probability the sizes are stated with.
        threshold_kw: the minimum size used.
        sizes: per direction and call start (local clock), the size at confidence, kW, and the mean (DataFrame
            columns ``direction``, ``start``, ``size_kw``, ``mean_kw``, ``days``).
        needed_size_kw: per direction, the size the fleet offers at confidence over the needed hours.
        vehicles: distinct vehicles in the data.
        smallest_fleet_vehicles: vehicles needed to reach the threshold (None when the fleet delivers nothing).
        thresholds: per threshold (kW): fleet qualifies on size, vehicles needed, sites qualifying of sites analysed.
        notes: facts a reader should see (assumptions, sample sizes).
    """

    programme_id: str
    qualifies: bool | None
    checks: tuple[Check, ...]
    confidence: float
    threshold_kw: float
    sizes: pd.DataFrame
    needed_size_kw: dict[str, float]
    vehicles: int
    smallest_fleet_vehicles: int | None
    thresholds: pd.DataFrame
    notes: tuple[str, ...] = field(default=())

    def to_dict(self) -> dict[str, Any]:
        return {
            "programme": self.programme_id,
            "qualifies": self.qualifies,
            "confidence": self.confidence,
            "threshold_kw": self.threshold_kw,
            "needed_size_kw": self.needed_size_kw,
            "vehicles": self.vehicles,
            "smallest_fleet_vehicles": self.smallest_fleet_vehicles,
            "checks": [c.__dict__ for c in self.checks],
            "sizes": self.sizes.to_dict(orient="records"),
            "thresholds": self.thresholds.to_dict(orient="records"),
            "notes": list(self.notes),
        }


def _sizes(
    items: list[tuple[Any, np.ndarray, list[tuple[int, str]]]],
    duration_steps: int,
    direction: Literal["down", "up"],
    confidence: float,
) -> pd.DataFrame:
    """Size at confidence per call start; ``items`` holds per day (fleet, reference, [(start step, label)])."""
    values: dict[str, list[float]] = {}
    for fleet, reference, starts in items:
        for s, label in starts:
            cap = window_capability(fleet, reference, s, s + duration_steps, direction).capability_kw
            values.setdefault(label, []).append(cap)
    rows = []
    for label in sorted(values):
        v = np.asarray(values[label])
        # a day without this start (DST, grid edge) counts as a day the fleet offers nothing
        if len(v) < len(items):
            v = np.concatenate([v, np.zeros(len(items) - len(v))])
        rows.append({"start": label, "size_kw": float(confidence_quantile(v, confidence)),
                     "mean_kw": float(v.mean()), "days": len(v)})
    return pd.DataFrame(rows, columns=["start", "size_kw", "mean_kw", "days"])


def size_at_confidence(
    days: list[DayFleet],
    programme: Programme,
    direction: Literal["down", "up"],
    confidence: float,
) -> pd.DataFrame:
    """Size at confidence per call start over ``days`` (columns ``start``, ``size_kw``, ``mean_kw``, ``days``)."""
    step_minutes = days[0].fleet.grid.step_minutes if days else 15
    duration_steps = max(1, math.ceil(programme.timing.min_duration_minutes / step_minutes))
    items = [(d.fleet, d.reference_kw, window_starts(d, programme.timing.call_windows, duration_steps))
             for d in days]
    return _sizes(items, duration_steps, direction, confidence)


def yearly_discharge_estimate_kwh(sessions: SessionTable, n_days: int) -> float:
    """Grid-side kWh a year the V2G sessions could discharge in routine operation (one cycle per plug-in).

    Per consenting session with dwell ``T``: discharge in the first half and recharge in the second, so the battery
    energy out is ``min(P_d T/2 / eta_d, e_init - e_floor, P_c T/2 eta_c - need)`` (>= 0), delivered to the grid
    x ``eta_d``; summed over the data's ``n_days`` and scaled to 365 days.  An upper estimate of routine operation.
    """
    f = sessions.frame
    v2g = sessions.v2g_enabled
    if not v2g.any() or n_days <= 0:
        return 0.0
    half_h = ((sessions.departure - sessions.arrival).total_seconds().to_numpy() / 3600.0) / 2.0
    battery = f["battery_kwh"].to_numpy(dtype=float)
    e_init = f["initial_soc"].to_numpy(dtype=float) * battery
    e_floor = np.minimum(f["min_soc"].to_numpy(dtype=float), f["initial_soc"].to_numpy(dtype=float)) * battery
    eta_c = f["charge_efficiency"].to_numpy(dtype=float)
    eta_d = f["discharge_efficiency"].to_numpy(dtype=float)
    p_d = f["max_discharge_kw"].to_numpy(dtype=float)
    p_c = f["max_charge_kw"].to_numpy(dtype=float)
    need = f["energy_kwh"].to_numpy(dtype=float)
    out = np.minimum.reduce([p_d * half_h / eta_d, e_init - e_floor, p_c * half_h * eta_c - need])
    out = np.where(v2g, np.maximum(out, 0.0) * eta_d, 0.0)
    return float(out.sum() / n_days * 365.0)


def _plug_in_rule(sessions: SessionTable, min_hours: float | None, every_days: float | None) -> tuple[float, int]:
    """Share of vehicles whose qualifying plug-ins (>= ``min_hours``) are never more than ``every_days`` apart
    over the data's span, and the number of vehicles."""
    f = sessions.frame
    dwell_h = (sessions.departure - sessions.arrival).total_seconds().to_numpy() / 3600.0
    ok = dwell_h >= (min_hours or 0.0)
    frame = pd.DataFrame({"vehicle": f["vehicle_id"].astype(str).to_numpy(),
                          "arrival": sessions.arrival, "ok": ok})
    start, end = sessions.arrival.min(), sessions.departure.max()
    vehicles = frame["vehicle"].unique()
    if every_days is None:
        good = frame.groupby("vehicle")["ok"].any()
        return float(good.mean()), len(vehicles)
    limit_ns = pd.Timedelta(days=every_days).value
    q = frame[frame["ok"]].sort_values(["vehicle", "arrival"])
    if len(q) == 0:
        return 0.0, len(vehicles)
    t = pd.DatetimeIndex(q["arrival"]).as_unit("ns").asi8
    veh = q["vehicle"].to_numpy()
    gaps = pd.Series(np.diff(t, prepend=t[0]), index=veh)
    new_vehicle = np.r_[True, veh[1:] != veh[:-1]]
    gaps[new_vehicle] = 0
    inner = gaps.groupby(level=0).max()
    first = pd.Series(t, index=veh).groupby(level=0).min() - start.value
    last = end.value - pd.Series(t, index=veh).groupby(level=0).max()
    worst = pd.concat([inner, first, last], axis=1).max(axis=1)
    return float((worst <= limit_ns).sum()) / len(vehicles), len(vehicles)


def _monthly_cap(sessions: SessionTable, cap_kwh: float, timezone: str) -> tuple[float, float]:
    """Share of vehicle-months below the cap (grid-side kWh) and the largest vehicle-month, kWh."""
    f = sessions.frame
    grid_kwh = f["energy_kwh"].to_numpy(dtype=float) / f["charge_efficiency"].to_numpy(dtype=float)
    local = sessions.arrival.tz_convert(timezone)
    frame = pd.DataFrame({"vehicle": f["vehicle_id"].astype(str).to_numpy(),
                          "month": (local.year * 100 + local.month).to_numpy(), "kwh": grid_kwh})
    per = frame.groupby(["vehicle", "month"])["kwh"].sum()
    return float((per < cap_kwh).mean()), float(per.max())


def _site_sizes(
    sessions: SessionTable,
    programme: Programme,
    direction: Literal["down", "up"],
    days: list,
    mode: Literal["v1g", "v2g"],
    confidence: float,
    start_label: str,
    notes: list[str],
) -> np.ndarray:
    """Size at confidence of each site as its own aggregation, at one call start."""
    sites = sessions.frame["site_id"].astype(str)
    counts = sites.value_counts()
    chosen = list(counts.index[:MAX_SITES_ANALYSED])
    if len(counts) > MAX_SITES_ANALYSED:
        notes.append(f"threshold effect: {MAX_SITES_ANALYSED} largest of {len(counts)} sites analysed")
    step_minutes = 15
    duration_steps = max(1, math.ceil(programme.timing.min_duration_minutes / step_minutes))
    hh, mm = (int(x) for x in start_label.split(":"))
    sizes = np.zeros(len(chosen))
    for j, site in enumerate(chosen):
        sub = sessions.subset((sites == site).to_numpy())
        vals = []
        for d in days:
            df = day_fleet(sub, d, programme.timezone, mode, step_minutes)
            if len(df.fleet) == 0:
                vals.append(0.0)
                continue
            local = df.fleet.grid.local_index
            hits = np.flatnonzero((local.hour == hh) & (local.minute == mm))
            ks = [int(s) for s in hits if df.first_step <= s < df.first_step + df.n_day_steps
                  and s + duration_steps <= df.fleet.n_steps]
            if not ks:
                vals.append(0.0)
                continue
            s = ks[0]
            vals.append(window_capability(df.fleet, df.reference_kw, s, s + duration_steps, direction).capability_kw)
        sizes[j] = float(confidence_quantile(np.asarray(vals), confidence))
    return sizes


def assess(
    sessions: SessionTable,
    programme: Programme | str,
    *,
    confidence: float = 0.9,
    threshold_kw: float | None = None,
    mode: str | None = None,
    fleet_response_minutes: float | None = DEFAULT_FLEET_RESPONSE_MINUTES,
    metering_interval_minutes: float | None = None,
    per_resource_metering: bool | None = None,
    telemetry: bool | None = None,
    zones: Mapping[str, str] | None = None,
    thresholds_kw: tuple[float, ...] = DEFAULT_THRESHOLDS_KW,
    site_analysis: bool = True,
    step_minutes: int = 15,
) -> EligibilityReport:
    """Check a fleet against a programme (see the module docstring).

    Args:
        sessions: the fleet's sessions (several days give the confidence a meaning).
        programme: a programme or its id.
        confidence: probability the size is stated with (0.9: reached on 90 % of days).
        threshold_kw: minimum size to test instead of the programme's (e.g. 100 kW instead of 1 MW).
        mode: ``v1g`` or ``v2g`` (default: v2g where any session may discharge).
        fleet_response_minutes: how fast the fleet responds (default: 1 minute, assumed for directly controlled
            chargers); None = unknown.
        metering_interval_minutes / per_resource_metering / telemetry: what the aggregator has; None = unknown.
        zones: ``{site_id: zone}`` for location rules (sub-LAP, GSP group, province).
        thresholds_kw: thresholds for the threshold-effect table.
        site_analysis: also size each site as a separate aggregation (the threshold effect on aggregations).
    """
    prog = get_programme(programme) if isinstance(programme, str) else programme
    if not 0.0 < confidence <= 1.0:
        raise VgiError(f"confidence must be in (0, 1], got {confidence}")
    mode_ = fleet_mode(sessions, mode)
    threshold = prog.size.min_kw if threshold_kw is None else float(threshold_kw)
    if threshold < 0:
        raise VgiError(f"threshold must not be negative, got {threshold}")
    notes: list[str] = []
    checks: list[Check] = []
    days = local_days(sessions, prog.timezone)
    first_arrival = sessions.arrival.min().tz_convert(prog.timezone).date()
    last_arrival = sessions.arrival.max().tz_convert(prog.timezone).date()
    local_days_all = range((last_arrival - first_arrival).days + 1)
    if len(days) < 1.0 / max(1e-9, 1.0 - confidence) and confidence < 1.0:
        notes.append(
            f"{len(days)} day(s) of data: a confidence of {confidence:g} is resolved only to 1/{len(days)}; "
            "the size is the smallest daily value"
        )
    day_fleets = [day_fleet(sessions, d, prog.timezone, mode_, step_minutes) for d in days]

    # size at the needed hours
    frames = []
    needed: dict[str, float] = {}
    best_start: dict[str, str] = {}
    for direction in prog.directions:
        sizes = size_at_confidence(day_fleets, prog, direction, confidence)
        sizes.insert(0, "direction", direction)
        frames.append(sizes)
        if len(sizes) == 0:
            needed[direction] = 0.0
            continue
        values = sizes["size_kw"].to_numpy(dtype=float)
        pick = int(np.argmin(values)) if prog.timing.call_windows else int(np.argmax(values))
        needed[direction] = float(values[pick])
        best_start[direction] = str(sizes["start"].iloc[pick])
    size_table = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    best_dir: Literal["down", "up"] = prog.directions[0]
    for direction in prog.directions:
        if needed.get(direction, 0.0) > needed.get(best_dir, 0.0):
            best_dir = direction
    offered = needed.get(best_dir, 0.0)
    where = "at every needed hour" if prog.timing.call_windows else "at its best hour"
    dur = prog.timing.min_duration_minutes
    if offered >= threshold:
        checks.append(Check("size", "pass", f"{offered:,.1f} kW ({best_dir}) held {dur:g} min {where} with "
                                            f"confidence {confidence:g} >= minimum {threshold:,.1f} kW"))
    else:
        checks.append(Check("size", "fail", f"{offered:,.1f} kW ({best_dir}) held {dur:g} min {where} with "
                                            f"confidence {confidence:g} < minimum {threshold:,.1f} kW"))
    if prog.size.max_kw is not None and offered > prog.size.max_kw:
        notes.append(f"the offer is capped at the programme's maximum of {prog.size.max_kw:,.0f} kW")
    checks.append(Check("duration", "pass" if offered >= threshold else "fail",
                        f"sizes are held for the minimum duration of {dur:g} min"))

    # response time
    need_resp = prog.timing.response_minutes
    if need_resp is None:
        checks.append(Check("response time", "pass", "the programme sets no fixed response time"))
    elif fleet_response_minutes is None:
        checks.append(Check("response time", "unknown", f"needs a full response within {need_resp:g} min"))
    else:
        checks.append(Check("response time", "pass" if fleet_response_minutes <= need_resp else "fail",
                            f"fleet responds in {fleet_response_minutes:g} min (assumed for direct charger control "
                            f"unless given), needs {need_resp:g} min"))

    # metering and telemetry
    met = prog.metering
    if met.interval_minutes is not None:
        if metering_interval_minutes is None:
            checks.append(Check("metering", "unknown", f"needs {met.interval_minutes:g}-min metering"))
        else:
            ok = metering_interval_minutes <= met.interval_minutes + 1e-9
            checks.append(Check("metering", "pass" if ok else "fail",
                                f"has {metering_interval_minutes:g}-min metering, needs {met.interval_minutes:g} min"))
    if met.per_resource:
        checks.append(Check("per-resource metering",
                            "unknown" if per_resource_metering is None else ("pass" if per_resource_metering
                                                                             else "fail"),
                            "every resource must be metered directly"))
    needs_telemetry = met.telemetry == "always" or (
        met.telemetry == "above_threshold" and met.telemetry_above_kw is not None
        and min(offered, prog.size.max_kw or np.inf) > met.telemetry_above_kw
    )
    if needs_telemetry:
        why = "always" if met.telemetry == "always" else f"above {met.telemetry_above_kw:,.0f} kW"
        checks.append(Check("telemetry", "unknown" if telemetry is None else ("pass" if telemetry else "fail"),
                            f"real-time telemetry needed ({why})"))
    elif met.telemetry == "above_threshold":
        checks.append(Check("telemetry", "pass", f"not needed at {offered:,.0f} kW "
                                                 f"(needed above {met.telemetry_above_kw:,.0f} kW)"))

    # location
    loc = prog.location
    sites = sessions.frame["site_id"].astype(str).unique()
    if loc.scope == "single_site":
        checks.append(Check("location", "pass" if len(sites) == 1 else "fail", f"{len(sites)} site(s); one allowed"))
    elif loc.scope in ("same_zone", "same_province"):
        if zones is not None:
            missing = [s for s in sites if s not in zones]
            if missing:
                checks.append(Check("location", "unknown", f"no zone given for site(s) {', '.join(missing[:5])}"))
            else:
                n_z = len({zones[s] for s in sites})
                checks.append(Check("location", "pass" if n_z == 1 else "fail",
                                    f"sites lie in {n_z} {loc.zone_kind or 'zone'}(s); one allowed"))
        elif len(sites) == 1:
            checks.append(Check("location", "pass", "a single site"))
        else:
            checks.append(Check("location", "unknown",
                                f"{len(sites)} sites: all must lie in one {loc.zone_kind or 'zone'} (give zones)"))

    # behaviour and project rules
    el = prog.eligibility
    if el.v2g_required:
        n_v2g = int(sessions.v2g_enabled.sum())
        checks.append(Check("V2G", "pass" if n_v2g and mode_ == "v2g" else "fail",
                            f"{n_v2g} of {len(sessions)} sessions can discharge (mode {mode_})"))
    if el.min_plugged_hours is not None or el.plug_in_every_days is not None:
        share, n_veh = _plug_in_rule(sessions, el.min_plugged_hours, el.plug_in_every_days)
        rule = f"plugged in >= {el.min_plugged_hours or 0:g} h"
        if el.plug_in_every_days is not None:
            rule += f" at least every {el.plug_in_every_days:g} days"
        checks.append(Check("plug-in behaviour", "pass" if share >= 1.0 - 1e-12 else "fail",
                            f"{share:.0%} of {n_veh} vehicles meet '{rule}'"))
    if el.max_monthly_kwh is not None:
        share, top = _monthly_cap(sessions, el.max_monthly_kwh, prog.timezone)
        checks.append(Check("monthly energy", "pass" if share >= 1.0 - 1e-12 else "fail",
                            f"{share:.0%} of vehicle-months charge under {el.max_monthly_kwh:g} kWh "
                            f"(largest {top:,.1f} kWh; partial months count as they are)"))
    if el.min_annual_discharge_kwh is not None:
        yearly = yearly_discharge_estimate_kwh(sessions, len(days))
        checks.append(Check("yearly discharge", "pass" if yearly >= el.min_annual_discharge_kwh else "fail",
                            f"about {yearly:,.0f} kWh a year (one cycle per plug-in, upper estimate) vs "
                            f"{el.min_annual_discharge_kwh:,.0f} kWh required"))
    if el.hardware:
        notes.append("equipment needed: " + "; ".join(el.hardware))
    if el.exclusive_with:
        notes.append("may not be paid for the same kWh as: " + ", ".join(el.exclusive_with))

    # smallest fleet and threshold effect
    vehicles = int(sessions.frame["vehicle_id"].astype(str).nunique())
    if vehicles == len(sessions) and len(days) > 1:
        vehicles = max(1, round(len(sessions) / len(local_days_all)))
        notes.append(f"every session has its own vehicle id: vehicles taken as sessions per day ({vehicles})")
    per_vehicle = offered / vehicles if vehicles else 0.0
    smallest = None if per_vehicle <= 0 else max(1, math.ceil(threshold / per_vehicle - 1e-9))
    if smallest is None and threshold > 0:
        notes.append("the fleet offers nothing at the needed hours: no fleet size of this kind qualifies")
    th_values = sorted({*thresholds_kw, threshold, prog.size.min_kw}, reverse=True)
    site_sizes = None
    if site_analysis and best_start.get(best_dir) is not None and len(sites) > 1:
        site_sizes = _site_sizes(sessions, prog, best_dir, days, mode_, confidence, best_start[best_dir], notes)
    rows = []
    for th in th_values:
        row: dict[str, Any] = {
            "threshold_kw": th,
            "fleet_qualifies_on_size": bool(offered >= th),
            "vehicles_needed": None if per_vehicle <= 0 else max(1, math.ceil(th / per_vehicle - 1e-9)),
        }
        if site_sizes is not None:
            row["sites_qualifying"] = int((site_sizes >= th).sum())
            row["sites_analysed"] = len(site_sizes)
        rows.append(row)
    thresholds = pd.DataFrame(rows)

    statuses = [c.status for c in checks]
    qualifies: bool | None = False if "fail" in statuses else (None if "unknown" in statuses else True)
    return EligibilityReport(
        prog.id, qualifies, tuple(checks), confidence, threshold, size_table, needed, vehicles, smallest,
        thresholds, tuple(notes),
    )


def scenario_eligibility(
    programme: Programme | str,
    schedule: Any,
    grid: Any = None,
    confidence: float = 0.9,
) -> dict[str, Any]:
    """Eligibility of a scenario's fleet (the fleet of ``schedule``, in its mode) for a programme, as one flat row.

    The size is measured as in :func:`assess`, on each whole local day of the grid in the programme's time zone
    (call windows are local clock times there too) against the sessions' uncontrolled counterfactual over the whole
    horizon.  Returns ``eligible`` (True / False), ``reason``,
    ``size_kw`` (at ``confidence`` over the needed hours), ``min_kw``, ``max_kw``, ``direction``, ``days``,
    ``vehicles_needed`` (at the programme's minimum size, taking sessions per day as vehicles) and ``rules`` (the
    behaviour and project rules checked).
    """
    from vgi.dr.baselines import ev_counterfactual

    prog = get_programme(programme) if isinstance(programme, str) else programme
    fleet = schedule.fleet
    grid = grid or fleet.grid
    # local days and clock times of the programme's time zone (the scenario's grid may be labelled in another)
    local = pd.DatetimeIndex(grid.utc_index).tz_convert(prog.timezone)
    dates = np.asarray([t.date() for t in local])
    minute = (local.hour * 60 + local.minute).to_numpy()
    whole_days = [d for d in dict.fromkeys(dates.tolist()) if minute[np.flatnonzero(dates == d)[0]] == 0]
    if not whole_days:
        return {"eligible": None, "reason": "the horizon holds no whole local day", "size_kw": None,
                "min_kw": prog.size.min_kw, "max_kw": prog.size.max_kw, "direction": None, "days": 0,
                "vehicles_needed": None, "rules": ""}
    reference = np.asarray(ev_counterfactual(fleet).baseline_kw.to_numpy(), dtype=float) if len(fleet) else (
        np.zeros(grid.n_steps))
    duration_steps = max(1, math.ceil(prog.timing.min_duration_minutes / grid.step_minutes))
    items = []
    for d in whole_days:
        steps = np.flatnonzero(dates == d)
        starts = []
        for k in steps:
            if minute[k] % 60:
                continue
            if prog.timing.call_windows and not any(bool(w.contains(np.array([minute[k]]))[0])
                                                    for w in prog.timing.call_windows):
                continue
            if k + duration_steps <= grid.n_steps:
                starts.append((int(k), f"{minute[k] // 60:02d}:00"))
        items.append((fleet, reference, starts))
    best_dir, best = prog.directions[0], -1.0
    for direction in prog.directions:
        table = _sizes(items, duration_steps, direction, confidence)
        if len(table) == 0:
            continue
        size = float(table["size_kw"].min() if prog.timing.call_windows else table["size_kw"].max())
        if size > best:
            best_dir, best = direction, size
    best = max(best, 0.0)
    reasons = []
    eligible = best >= prog.size.min_kw
    where = "every needed hour" if prog.timing.call_windows else "its best hour"
    reasons.append(f"{best:,.1f} kW {best_dir} at {where} (confidence {confidence:g}) vs minimum "
                   f"{prog.size.min_kw:,.1f} kW")
    rules = []
    el = prog.eligibility
    if el.v2g_required:
        ok = fleet.mode == "v2g" and bool((fleet.max_discharge_kw > 0).any())
        rules.append(f"V2G {'yes' if ok else 'no'}")
        eligible = eligible and ok
    if el.min_annual_discharge_kwh is not None:
        dt_h = grid.step_hours
        discharged = 0.0 if schedule.discharge_kw is None else float(schedule.discharge_kw.sum() * dt_h)
        yearly = discharged / max(len(whole_days), 1) * 365.0
        ok = yearly >= el.min_annual_discharge_kwh
        rules.append(f"discharge {yearly:,.0f} kWh/yr at this mode's schedule (need "
                     f"{el.min_annual_discharge_kwh:,.0f})")
        eligible = eligible and ok
    # the fleet on a grid has no vehicle ids: a daily-charging fleet has about one session per vehicle a day
    vehicles = len(fleet) / max(len(whole_days), 1)
    per_vehicle = best / vehicles if vehicles else 0.0
    needed = None if per_vehicle <= 0 else max(1, math.ceil(prog.size.min_kw / per_vehicle - 1e-9))
    return {
        "eligible": bool(eligible),
        "reason": "; ".join(reasons + rules),
        "size_kw": best,
        "min_kw": prog.size.min_kw,
        "max_kw": prog.size.max_kw,
        "direction": best_dir,
        "days": len(whole_days),
        "vehicles_needed": needed,
        "rules": "; ".join(rules),
    }
