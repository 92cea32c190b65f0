"""Rolling-horizon (online) scheduling: sessions become known when they arrive, the plan is recomputed as time
goes on, and only the current step is ever committed.

At the start of each step ``t`` the scheduler knows the cars plugged in at ``t`` (a car arriving during step ``t`` is
known at ``t``; the charge point reacts within the step), each car's battery energy now, and for each car its
departure and energy need *as declared or forecast*:

* ``declared``: the driver's declared departure and energy, taken as true (a truthful driver);
* ``noisy``: the driver's declaration with errors: departure shifted by a normal draw (``departure_noise_hours``,
  standard deviation) and energy scaled by ``1 + N(0, energy_noise)``, seeded;
* ``hourly_mean``: no declaration; a history (another fleet on the same step length, by default this fleet itself,
  i.e. an in-sample history) gives the mean plug-in time and energy of sessions by local arrival hour.

A car still plugged in after its forecast departure is assumed to leave at the end of the current step; a car that
leaves before its forecast simply stops (its plan for later steps is dropped).  The plan covers ``[t, end of the
grid)`` for the known cars only, with the inner strategy: ``price`` (each car alone, exact) or ``coupled`` (the
fleet's limits, peak, target and event over what is known, with the peak already reached carried as a floor).  The
scheduler re-plans every ``replan_every`` steps and whenever a car arrives; between re-plans cars follow the last
plan.  What is committed goes through :meth:`FleetOnGrid.clip_power` with the car's true plug-in share of the step
and its battery energy now (a forecast departure later than the true one can only lose power, never break a limit
of the car: power, time-sharing, battery bounds).

The ``coupled`` planner also (a) takes the earlier of two steps that cost the same (:data:`EARLY_TIE_BREAK`), which
leaves later capacity to cars not yet known; (b) where given a history (``arrival_history``), plans with the
arrivals it expects in the next ``lookahead_hours`` (:class:`ArrivalForecast`: one charge-only aggregate car per
site and hour, never committed); (c) where it re-plans by the decomposition, starts each re-plan from the shadow
prices of the previous one.

**Regret** is the online schedule's objective (with the true needs) minus the offline optimum of the same inner
strategy with full knowledge.  The online schedule is feasible for the offline problem, so the regret is never
negative where the offline problem is solved exactly (``price``, or ``coupled`` by the LP); with the decomposition it
is reported against both the offline schedule and its certified lower bound.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd

from vgi.errors import VgiError
from vgi.model.timegrid import TimeGrid
from vgi.schedule import decompose, exact
from vgi.schedule.options import ScheduleOptions, default_unmet_penalty
from vgi.schedule.prices import PriceInputs
from vgi.schedule.problem import FleetOnGrid, Schedule
from vgi.schedule.terms import CouplingTerms

__all__ = [
    "EARLY_TIE_BREAK",
    "ArrivalForecast",
    "Forecast",
    "OnlineResult",
    "forecast_departures",
    "online_strategy",
    "solve_online",
]

#: price added per step ahead in a plan, relative to the largest price: of two steps that cost the same, the plan
#: takes the earlier, leaving later capacity to cars not yet known (adacharge's "quick charge" term does the same)
EARLY_TIE_BREAK = 1e-6
Forecast = Literal["declared", "noisy", "hourly_mean"]
Inner = Literal["auto", "price", "coupled"]


@dataclass(frozen=True)
class _Forecast:
    """What the planner believes of each session: departure position (in steps) and need (battery kWh)."""

    departure_pos: np.ndarray  # (N,) steps from the grid start, fractional
    need_kwh: np.ndarray  # (N,)


def _positions(fleet: FleetOnGrid) -> tuple[np.ndarray, np.ndarray]:
    """Arrival and departure positions in steps from the grid's start (fractional; from the window and its
    first/last fractions)."""
    has = fleet.stop > fleet.start
    arrival = np.where(has, fleet.start + 1.0 - fleet.first_fraction, fleet.start.astype(float))
    # a one-step window knows only its share of the step: it is placed at the end of the step
    one = fleet.stop - fleet.start == 1
    departure = np.where(one, fleet.start + 1.0, fleet.stop - 1.0 + fleet.last_fraction)
    departure = np.where(has, departure, arrival)
    return arrival, departure


def forecast_departures(
    fleet: FleetOnGrid,
    forecast: Forecast = "declared",
    *,
    departure_noise_hours: float = 1.0,
    energy_noise: float = 0.2,
    seed: int = 0,
    history: FleetOnGrid | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Forecast departure position (steps from the grid's start, fractional) and need (battery kWh) per session.

    See the module docstring for the three forecasts.  Forecast departures are at least a minute after arrival
    and never after the grid's end; forecast needs are at least the energy at arrival.
    """
    arrival, departure = _positions(fleet)
    need = fleet.e_need_kwh.copy()
    steps_per_hour = 1.0 / fleet.step_hours
    if forecast == "declared":
        pass
    elif forecast == "noisy":
        rng = np.random.default_rng(seed)
        departure = departure + rng.normal(0.0, departure_noise_hours, len(fleet)) * steps_per_hour
        wanted = fleet.e_need_kwh - fleet.e_init_kwh
        need = fleet.e_init_kwh + np.maximum(wanted * (1.0 + rng.normal(0.0, energy_noise, len(fleet))), 0.0)
    elif forecast == "hourly_mean":
        hist = fleet if history is None else history
        if abs(hist.step_hours - fleet.step_hours) > 1e-12:
            raise VgiError("the history's time step differs from the fleet's")
        h_arr, h_dep = _positions(hist)
        h_hour = _arrival_hour(hist)
        dwell_h = (h_dep - h_arr) * hist.step_hours
        energy = hist.e_need_kwh - hist.e_init_kwh
        counts = np.bincount(h_hour, minlength=24).astype(float)
        if counts.sum() == 0:
            raise VgiError("the history for the hourly-mean forecast has no sessions")
        mean_dwell = np.bincount(h_hour, dwell_h, minlength=24) / np.maximum(counts, 1.0)
        mean_energy = np.bincount(h_hour, energy, minlength=24) / np.maximum(counts, 1.0)
        # hours without history fall back to the overall mean
        mean_dwell = np.where(counts > 0, mean_dwell, dwell_h.mean())
        mean_energy = np.where(counts > 0, mean_energy, energy.mean())
        hour = _arrival_hour(fleet)
        departure = arrival + mean_dwell[hour] * steps_per_hour
        need = fleet.e_init_kwh + np.maximum(mean_energy[hour], 0.0)
    else:
        raise VgiError(f"unknown forecast '{forecast}' (declared, noisy or hourly_mean)")
    minute = 1.0 / (60.0 * fleet.step_hours)
    departure = np.clip(departure, arrival + minute, float(fleet.n_steps))
    need = np.maximum(need, fleet.e_init_kwh)
    return departure, need


def _arrival_hour(fleet: FleetOnGrid) -> np.ndarray:
    """Local hour of each session's first step (0-23)."""
    index = fleet.grid.local_index
    hours = np.asarray(index.hour, dtype=np.int64)
    step = np.clip(fleet.start, 0, max(fleet.n_steps - 1, 0))
    return hours[step] if len(hours) else np.zeros(len(fleet), dtype=np.int64)


@dataclass(frozen=True)
class ArrivalForecast:
    """Expected arrivals by site, local day type (weekday / weekend) and local hour, learnt from a history.

    Arrays are (sites, 2, 24): ``per_day`` mean arrivals in that hour per day of that type, ``dwell_hours``,
    ``energy_kwh`` (battery side), ``power_kw`` (charging limit) and ``charge_efficiency`` the means of those
    sessions (the overall mean of the site where an hour has none).
    """

    sites: tuple[str, ...]
    per_day: np.ndarray
    dwell_hours: np.ndarray
    energy_kwh: np.ndarray
    power_kw: np.ndarray
    charge_efficiency: np.ndarray

    @classmethod
    def from_history(cls, history: FleetOnGrid) -> ArrivalForecast:
        """Learn the arrival pattern of ``history`` (sessions wholly on its grid; days counted on its grid)."""
        has = (history.stop > history.start) & (history.e_need_kwh > history.e_init_kwh - 1e-12)
        if not has.any():
            raise VgiError("the history for the arrival forecast has no sessions on its grid")
        arr, dep = _positions(history)
        index = history.grid.local_index
        step = np.clip(history.start, 0, max(history.n_steps - 1, 0))
        hour = np.asarray(index.hour, dtype=np.int64)[step]
        weekend = (np.asarray(index.day_of_week, dtype=np.int64) >= 5).astype(np.int64)
        kind = weekend[step]
        day_kind = pd.Series(weekend, index=index.normalize()).groupby(level=0).first()
        n_days = np.array([(day_kind == 0).sum(), (day_kind == 1).sum()], dtype=float)
        sites = tuple(sorted({str(x) for x in history.site_id}))
        site_of = {name: i for i, name in enumerate(sites)}
        site = np.array([site_of[str(x)] for x in history.site_id], dtype=np.int64)
        shape = (len(sites), 2, 24)
        key = np.ravel_multi_index((site[has], kind[has], hour[has]), shape)
        count = np.bincount(key, minlength=int(np.prod(shape))).reshape(shape).astype(float)

        def mean(values: np.ndarray) -> np.ndarray:
            total = np.bincount(key, values[has], minlength=count.size).reshape(shape)
            overall = np.bincount(site[has], values[has], minlength=len(sites)) / np.maximum(
                np.bincount(site[has], minlength=len(sites)), 1
            )
            return np.where(count > 0, total / np.maximum(count, 1.0), overall[:, None, None])

        return cls(
            sites=sites,
            per_day=count / np.maximum(n_days, 1.0)[None, :, None],
            dwell_hours=mean((dep - arr) * history.step_hours),
            energy_kwh=mean(np.maximum(history.e_need_kwh - history.e_init_kwh, 0.0)),
            power_kw=mean(history.max_charge_kw),
            charge_efficiency=mean(history.charge_efficiency),
        )

    def phantoms(self, fleet: FleetOnGrid, grid: TimeGrid, t: int, lookahead_steps: int) -> FleetOnGrid | None:
        """The arrivals expected in steps ``t + 1 .. t + lookahead_steps`` of ``fleet``'s grid, one charge-only
        aggregate session per site and hour (expected count x mean power and energy), on ``grid`` (which starts at
        step ``t``); None when none is expected."""
        index = fleet.grid.local_index
        stop = min(fleet.n_steps, t + 1 + lookahead_steps)
        steps = np.arange(t + 1, stop)
        if not len(steps):
            return None
        hour = np.asarray(index.hour, dtype=np.int64)[steps]
        kind = (np.asarray(index.day_of_week, dtype=np.int64)[steps] >= 5).astype(np.int64)
        # a step takes its share of the hour's arrivals; the steps of one local hour are merged into one aggregate
        # car arriving at the first of them
        first = np.r_[True, hour[1:] != hour[:-1]]
        group = np.cumsum(first) - 1
        at_all, h_all, k_all = steps[first], hour[first], kind[first]
        parts = []
        for s_i in range(len(self.sites)):
            count = np.bincount(group, self.per_day[s_i, kind, hour] * fleet.step_hours)
            keep = count > 1e-9
            if keep.any():
                parts.append((s_i, at_all[keep], count[keep], h_all[keep], k_all[keep]))
        if not parts:
            return None
        site = np.concatenate([np.full(len(p[1]), p[0]) for p in parts])
        at = np.concatenate([p[1] for p in parts]) - t
        count = np.concatenate([p[2] for p in parts])
        h = np.concatenate([p[3] for p in parts])
        k = np.concatenate([p[4] for p in parts])
        dwell = np.maximum(self.dwell_hours[site, k, h] / grid.step_hours, 1e-6)
        n_left = grid.n_steps
        dep = np.minimum(at + dwell, float(n_left))
        start = at.astype(np.int64)
        stop_ = np.maximum(np.ceil(dep - 1e-9).astype(np.int64), start + 1)
        last = np.clip(dep - (stop_ - 1), 1e-9, 1.0)
        first_f = np.where(stop_ - start == 1, last, 1.0)
        energy = count * self.energy_kwh[site, k, h]
        n = len(site)
        return FleetOnGrid(
            grid=grid,
            mode=fleet.mode,
            session_id=np.array([f"forecast:{i}" for i in range(n)], dtype=object),
            site_id=np.array([self.sites[i] for i in site], dtype=object),
            start=start,
            stop=stop_,
            first_fraction=first_f,
            last_fraction=last,
            max_charge_kw=count * self.power_kw[site, k, h],
            max_discharge_kw=np.zeros(n),
            charge_efficiency=self.charge_efficiency[site, k, h],
            discharge_efficiency=np.ones(n),
            e_init_kwh=np.zeros(n),
            e_floor_kwh=np.zeros(n),
            e_max_kwh=energy,
            e_need_kwh=energy,
        )


def _stack(a: FleetOnGrid, b: FleetOnGrid) -> FleetOnGrid:
    """Sessions of ``a`` then ``b`` (same grid and mode)."""
    names = [f.name for f in dataclasses.fields(FleetOnGrid) if f.name not in ("grid", "mode")]
    joined: dict[str, Any] = {name: np.concatenate([getattr(a, name), getattr(b, name)]) for name in names}
    return dataclasses.replace(a, **joined)


@dataclass
class OnlineResult:
    """Figures of an online run (also in :attr:`Schedule.stats`)."""

    objective: float = 0.0
    offline_objective: float = float("nan")
    offline_lower_bound: float = float("nan")
    regret: float = float("nan")
    n_replans: int = 0
    plan_seconds: float = 0.0


def _sub_fleet(
    fleet: FleetOnGrid,
    rows: np.ndarray,
    t: int,
    e_now: np.ndarray,
    dep_pos: np.ndarray,
    need: np.ndarray,
    grid: TimeGrid,
) -> FleetOnGrid:
    """The sessions ``rows`` (plugged in at step ``t``) as the planner sees them on the grid from ``t``."""
    sub = decompose.subset_fleet(fleet, rows)
    start = sub.start
    first_now = np.where(start == t, sub.first_fraction, 1.0)
    # the planner's departure: the forecast; one already past (the car is still here) becomes the end of this step
    dep = np.where(dep_pos[rows] > t, dep_pos[rows], t + 1.0) - t
    stop = np.maximum(np.ceil(dep - 1e-9).astype(np.int64), 1)
    last = np.clip(dep - (stop - 1), 1e-9, 1.0)
    one = stop == 1
    # one step left: the share of it plugged in runs from the arrival (or the step's start) to the departure
    entered = np.where(start == t, 1.0 - sub.first_fraction, 0.0)
    share = np.clip(dep - entered, 1e-9, 1.0)
    first = np.where(one, share, first_now)
    last = np.where(one, share, last)
    return dataclasses.replace(
        sub,
        grid=grid,
        start=np.zeros(len(rows), dtype=np.int64),
        stop=stop,
        first_fraction=first,
        last_fraction=last,
        e_init_kwh=e_now[rows].copy(),
        e_need_kwh=need[rows].copy(),
    )


def _sub_options(options: ScheduleOptions, fleet: FleetOnGrid, sub: FleetOnGrid, t: int) -> ScheduleOptions:
    """The options for the horizon from step ``t``: the coupling terms (:class:`~vgi.schedule.terms.CouplingTerms`)
    cut to it — arrays sliced, the event shifted, limits and shared meters of absent sites kept out."""
    terms = CouplingTerms.from_options(options, fleet.n_steps).from_step(t).for_sites({str(s) for s in sub.site_id})
    return terms.options(options, sub)


def solve_online(
    fleet: FleetOnGrid,
    prices: PriceInputs,
    options: ScheduleOptions | None = None,
    *,
    inner: Inner = "auto",
    forecast: Forecast = "declared",
    replan_every: int = 1,
    departure_noise_hours: float = 1.0,
    energy_noise: float = 0.2,
    seed: int = 0,
    history: FleetOnGrid | None = None,
    compute_regret: bool = True,
    arrival_history: FleetOnGrid | ArrivalForecast | None = None,
    lookahead_hours: float = 24.0,
    early_tie_break: bool = True,
    warm_start: bool = True,
) -> Schedule:
    """Schedule ``fleet`` step by step, knowing each session only from its arrival (see the module docstring).

    Args:
        fleet: the sessions as they truly happen.
        prices: import / export prices per step of the fleet's grid.
        options: as for the other strategies; coupled terms are honoured by the ``coupled`` inner strategy.
        inner: ``price``, ``coupled`` or ``auto`` (coupled when an option ties sessions together).
        forecast: ``declared``, ``noisy`` or ``hourly_mean``.
        replan_every: steps between re-plans (a re-plan also happens whenever a car arrives).
        departure_noise_hours, energy_noise, seed: the ``noisy`` forecast's errors.
        history: sessions the ``hourly_mean`` forecast learns from (default: this fleet).
        compute_regret: also solve the offline problem and report ``regret``.
        arrival_history: sessions (or an :class:`ArrivalForecast` learnt from them) whose arrival pattern the
            ``coupled`` planner expects in the next ``lookahead_hours``: it plans the known cars together with one
            aggregate car per site and hour of expected arrivals, so that it leaves them the capacity they will
            need (their plans are never committed).  None: the planner sees only the known cars.
        lookahead_hours: how far ahead arrivals are expected.
        early_tie_break: of two steps that cost the same, the ``coupled`` planner takes the earlier
            (:data:`EARLY_TIE_BREAK`).
        warm_start: where the ``coupled`` planner uses the decomposition, each re-plan starts from the shadow
            prices of the previous one (False: from the virtual battery's each time).

    Returns:
        a :class:`Schedule` (strategy ``online``) with ``stats``: ``objective`` (with the true needs),
        ``offline_objective``, ``regret`` (and ``relative_regret``), ``offline_lower_bound`` and
        ``regret_vs_bound`` where the offline solve is a decomposition, ``n_replans``, ``plan_seconds``.
    """
    options = options or ScheduleOptions()
    prices.check_grid(fleet.grid)
    if replan_every < 1:
        raise VgiError(f"replan_every must be at least 1, got {replan_every}")
    t0 = time.perf_counter()
    if inner == "auto":
        inner = "coupled" if options.is_coupled else "price"
    if inner not in ("price", "coupled"):
        raise VgiError(f"unknown inner strategy '{inner}' for online (price or coupled)")
    # penalties fixed on the whole horizon, so that every re-plan prices unmet energy and limits the same
    pen = (
        default_unmet_penalty(prices, fleet)
        if options.unmet_penalty_per_kwh is None
        else float(options.unmet_penalty_per_kwh)
    )
    limit_pen = 1000.0 * pen if options.limit_penalty_per_kw is None else float(options.limit_penalty_per_kw)
    options = options.with_(unmet_penalty_per_kwh=pen, limit_penalty_per_kw=limit_pen)
    n, T, dt = len(fleet), fleet.n_steps, fleet.step_hours
    arrivals = (
        ArrivalForecast.from_history(arrival_history)
        if isinstance(arrival_history, FleetOnGrid)
        else arrival_history
    )
    lookahead = round(max(lookahead_hours, 0.0) / dt)
    tie_break = early_tie_break and inner == "coupled"
    warm: dict[str, Any] | None = {} if warm_start else None
    dep_pos, need = forecast_departures(
        fleet,
        forecast,
        departure_noise_hours=departure_noise_hours,
        energy_noise=energy_noise,
        seed=seed,
        history=history,
    )
    can_discharge = bool((fleet.max_discharge_kw > 0).any())
    charge = np.zeros((n, T))
    discharge = np.zeros((n, T)) if can_discharge else None
    e_now = fleet.e_init_kwh.astype(float).copy()
    step = pd.Timedelta(minutes=fleet.grid.step_minutes)
    res = OnlineResult()
    plan_rows = np.zeros(0, dtype=np.int64)
    plan_c = np.zeros((0, 0))
    plan_d = np.zeros((0, 0))
    plan_t = 0
    fleet_net = np.zeros(T)
    scale = float(max(np.abs(prices.buy).max(initial=0.0), np.abs(prices.sell).max(initial=0.0), 1e-9))
    for t in range(T):
        present = np.flatnonzero((fleet.start <= t) & (t < fleet.stop))
        arrived = bool(np.any(fleet.start[present] == t))
        if len(present) and (arrived or (t - plan_t) % replan_every == 0 or plan_c.shape[1] <= t - plan_t):
            tp = time.perf_counter()
            grid = TimeGrid(fleet.grid.start + t * step, fleet.grid.end, fleet.grid.step_minutes, fleet.grid.timezone)
            sub = _sub_fleet(fleet, present, t, e_now, dep_pos, need, grid)
            ramp = EARLY_TIE_BREAK * scale * np.arange(T - t) if tie_break else 0.0
            sub_prices = PriceInputs(prices.buy[t:] + ramp, prices.sell[t:] + ramp, prices.currency)
            ahead = None
            if arrivals is not None and inner == "coupled":
                ahead = arrivals.phantoms(fleet, grid, t, lookahead)
            planned = sub if ahead is None else _stack(sub, ahead)
            plan_c, plan_d = _plan(
                planned, sub_prices, options, fleet, t, inner, float(fleet_net[:t].max(initial=0.0)), warm
            )
            plan_c = plan_c[: len(present)]
            plan_d = plan_d[: len(present)] if plan_d.size else plan_d
            plan_rows, plan_t = present, t
            res.n_replans += 1
            res.plan_seconds += time.perf_counter() - tp
        if not len(present):
            continue
        # commit step t: the plan's column for t, for the cars still here, clipped to their true share of the step
        pos = np.searchsorted(plan_rows, present)
        in_plan = (pos < len(plan_rows)) & (plan_rows[np.minimum(pos, len(plan_rows) - 1)] == present)
        rows = present[in_plan]
        k = t - plan_t
        c = plan_c[pos[in_plan], k]
        d = plan_d[pos[in_plan], k] if plan_d.size else np.zeros(len(rows))
        # every bound of the car as it truly is: its share of the step, power, time-sharing, battery
        c2, d2 = fleet.clip_power(c[:, None], d[:, None], rows=rows, first_step=t, e_start_kwh=e_now[rows])
        assert d2 is not None
        c, d = c2[:, 0], d2[:, 0]
        gain = (c * fleet.charge_efficiency[rows] - d / fleet.discharge_efficiency[rows]) * dt
        e_now[rows] += gain
        charge[rows, t] = c
        if discharge is not None:
            discharge[rows, t] = d
        fleet_net[t] = c.sum() - d.sum()
    coupled = inner == "coupled"
    terms = decompose.coupled_objective(fleet, prices, options, charge, discharge)
    res.objective = float(terms["objective"] if coupled else terms["cost"] + terms["wear_cost"] + terms["unmet_cost"])
    stats: dict[str, float | int | str] = {
        "objective": res.objective,
        "cost": float(terms["cost"] + terms["wear_cost"]),
        "inner": inner,
        "forecast": forecast,
        "replan_every": replan_every,
        "n_replans": res.n_replans,
        "plan_seconds": res.plan_seconds,
        "unmet_penalty_per_kwh": pen,
        "limit_violation_kwh": float(terms["limit_violation_kwh"]),
        "status": "done",
    }
    if compute_regret:
        offline = _offline(fleet, prices, options, inner)
        off_terms = decompose.coupled_objective(fleet, prices, options, offline.charge_kw, offline.discharge_kw)
        res.offline_objective = float(
            off_terms["objective"] if coupled else off_terms["cost"] + off_terms["wear_cost"] + off_terms["unmet_cost"]
        )
        res.regret = res.objective - res.offline_objective
        stats["offline_objective"] = res.offline_objective
        stats["regret"] = res.regret
        stats["relative_regret"] = res.regret / max(abs(res.offline_objective), 1e-9)
        if "lower_bound" in offline.stats:
            res.offline_lower_bound = float(offline.stats["lower_bound"])
            stats["offline_lower_bound"] = res.offline_lower_bound
            stats["regret_vs_bound"] = res.objective - res.offline_lower_bound
    unmet = terms["unmet_kwh"]
    stats["unmet_kwh"] = float(unmet.sum())
    stats["n_short_sessions"] = int((unmet > 1e-6).sum())
    stats["solve_seconds"] = time.perf_counter() - t0
    details = {
        "net_kw": terms["net_kw"],
        "limit_violation_kw": terms["limit_violation_kw"],
        "binding_steps": terms["binding_steps"],
    }
    return Schedule(fleet, "online", charge, discharge, unmet, stats, details)


def _plan(
    sub: FleetOnGrid,
    prices: PriceInputs,
    options: ScheduleOptions,
    fleet: FleetOnGrid,
    t: int,
    inner: str,
    peak_so_far_kw: float,
    warm: dict[str, Any] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Charge and discharge plans (n_known x steps left) of the known sessions.

    ``warm`` (a dict, updated here) carries the decomposition's shadow prices from one re-plan to the next: the next
    starts from them, shifted to its first step, instead of from the virtual battery's (None: always cold)."""
    if inner == "price":
        r = exact.price_response(
            sub,
            prices.buy,
            prices.sell,
            wear_cost_per_kwh=options.wear_cost_per_kwh,
            unmet_penalty_per_kwh=options.unmet_penalty_per_kwh,
        )
        d = r.discharge_kw if r.discharge_kw is not None else np.zeros((0, 0))
        return r.charge_kw, d
    sub_opts = _sub_options(options, fleet, sub, t)
    peak_weight = float(options.minimise_peak) + float(options.demand_charge_per_kw)
    from vgi.schedule.api import AUTO_LP_MAX_SESSION_STEPS

    by_decomposition = options.solver == "decomposition" or (
        options.solver == "auto" and int(np.sum(sub.stop - sub.start)) > AUTO_LP_MAX_SESSION_STEPS
    )
    if (peak_weight > 0 and peak_so_far_kw > 0) or by_decomposition:
        # the peak already reached is sunk: plan with it as a floor (only the decomposition takes one)
        start = None
        if warm is not None and warm.get("prices") is not None:
            lam = np.asarray(warm["prices"])[:, t - int(warm["t"]) :]
            names = decompose.Coupling.from_options(sub, prices, sub_opts).node_names
            if tuple(warm["names"]) == tuple(names) and lam.shape[1] == sub.n_steps:
                start = lam
        s = decompose.solve_coupled(
            sub, prices, sub_opts, peak_floor_kw=max(peak_so_far_kw, 0.0), warm_prices=start
        )
        if warm is not None:
            warm.update(prices=s.details.get("shadow_prices"), names=s.details.get("node_names", ()), t=t)
    else:
        from vgi.schedule import api

        s = api.schedule(sub, "coupled", prices, sub_opts)
    d = s.discharge_kw if s.discharge_kw is not None else np.zeros((0, 0))
    return s.charge_kw, d


def _offline(fleet: FleetOnGrid, prices: PriceInputs, options: ScheduleOptions, inner: str) -> Schedule:
    """The offline optimum of the inner strategy, with full knowledge."""
    from vgi.schedule import api

    return api.schedule(fleet, inner, prices, options)


def online_strategy(fleet: FleetOnGrid, prices: PriceInputs, options: ScheduleOptions) -> Schedule:
    """The ``online`` strategy: :func:`solve_online` with the declared departures and needs, re-planning every
    step (options ``online_forecast``, ``online_replan_every``, ``online_inner``)."""
    return solve_online(
        fleet,
        prices,
        options,
        inner=options.online_inner,
        forecast=options.online_forecast,
        replan_every=options.online_replan_every,
    )


def _register() -> None:
    from vgi.schedule import api

    api.register_strategy("online", online_strategy, replace_existing=True)


_register()
