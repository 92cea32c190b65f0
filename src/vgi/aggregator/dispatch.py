"""Dispatch: schedule the fleet to deliver an event or follow a dispatch curve, and say honestly how much it did.

:func:`dispatch_event` asks the scheduler's coupled strategy (:func:`vgi.schedule.api.schedule` with
``ScheduleOptions.dr_event``) for a schedule whose net import stays ``reduction_kw`` below the baseline in the event
window (``down``), or ``reduction_kw`` above it (``up``, as a target curve with an under-delivery penalty).  The
event's shortfall is priced (``shortfall_penalty_per_kwh``) far below a driver's unmet need (``unmet_penalty``: at
least 100 x the shortfall penalty per kWh, divided by the lowest charge efficiency), so the solver never buys event
delivery with a driver's energy: a fleet that cannot deliver reports a shortfall instead.  The result is
disaggregated to sessions (each one's response against its own counterfactual) and checked: every need the fleet
could meet uncontrolled is met, and no battery goes below its minimum SoC.

:func:`dispatch_curve` follows an aggregate curve (the operator's dispatch curve) with asymmetric penalties.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd

from vgi.aggregator.core import deliver_event, event_target, event_window, simultaneous_kwh
from vgi.dr.events import Event
from vgi.errors import VgiError
from vgi.schedule.prices import PriceInputs
from vgi.schedule.problem import FleetOnGrid, Schedule
from vgi.schedule.terms import CouplingTerms

__all__ = [
    "DispatchResult",
    "check_drivers_kept",
    "dispatch_curve",
    "dispatch_event",
    "dispatch_penalties",
    "simultaneous_kwh",
]

NEED_TOLERANCE_KWH = 1e-6


@dataclass(frozen=True, eq=False)
class DispatchResult:
    """A dispatched fleet.

    Attributes:
        schedule: the schedule (per session and step).
        baseline_kw: the aggregate baseline the event is measured against (T,).
        baseline_per_session_kw: each session's counterfactual (N x T) where known.
        requested_kw: requested response per step (T,; zero outside the window).
        delivered_kw: delivered response per step (T,; sign: ``down`` = baseline - load, ``up`` = load - baseline).
        shortfall_kwh: energy requested but not delivered, over the window.
        sessions: per session: ``session_id``, ``response_kwh`` (against its counterfactual), ``charged_kwh``,
            ``discharged_kwh`` (grid side), ``unmet_kwh`` (battery side), ``inherent_shortfall_kwh`` (what no
            schedule could deliver).
        direction: ``down`` or ``up``.
        notes: the honest summary.
    """

    schedule: Schedule
    baseline_kw: np.ndarray
    baseline_per_session_kw: np.ndarray | None
    requested_kw: np.ndarray
    delivered_kw: np.ndarray
    shortfall_kwh: float
    sessions: pd.DataFrame
    direction: Literal["down", "up"]
    window: tuple[int, int] | None = None
    notes: tuple[str, ...] = field(default=())
    simultaneous_kwh: float = 0.0

    @property
    def requested_kwh(self) -> float:
        return float(self.requested_kw.sum() * self.schedule.fleet.step_hours)

    @property
    def delivered_kwh(self) -> float:
        """Delivered energy in the window, counting each step at most at its request."""
        dt_h = self.schedule.fleet.step_hours
        return float(np.minimum(np.maximum(self.delivered_kw, 0.0), self.requested_kw).sum() * dt_h)

    def to_dict(self) -> dict[str, Any]:
        return {
            "direction": self.direction,
            "requested_kwh": self.requested_kwh,
            "delivered_kwh": self.delivered_kwh,
            "shortfall_kwh": self.shortfall_kwh,
            "unmet_kwh": float(self.sessions["unmet_kwh"].sum()),
            "inherent_shortfall_kwh": float(self.sessions["inherent_shortfall_kwh"].sum()),
            "notes": list(self.notes),
        }


def _event_steps(fleet: FleetOnGrid, event: Event) -> tuple[int, int]:
    return event_window(fleet.grid.utc_index, fleet.grid.step_minutes, event)


def check_drivers_kept(schedule: Schedule, tolerance_kwh: float = NEED_TOLERANCE_KWH) -> list[str]:
    """Problems with a schedule from the drivers' side: a need short beyond what no schedule could meet, a battery
    below its floor or above its capacity, power beyond a limit or outside the plug-in window.  Empty = kept."""
    fleet = schedule.fleet
    problems: list[str] = []
    unmet = np.zeros(len(fleet)) if schedule.unmet_kwh is None else np.asarray(schedule.unmet_kwh)
    delivered = schedule.delivered_kwh()
    short = fleet.e_need_kwh - fleet.e_init_kwh - delivered
    broken = short > fleet.shortfall_kwh + tolerance_kwh
    if broken.any():
        i = int(np.flatnonzero(broken)[0])
        problems.append(f"session {fleet.session_id[i]}: need short by {short[i]:.6g} kWh, "
                        f"only {fleet.shortfall_kwh[i]:.6g} kWh is unavoidable")
    if (unmet > fleet.shortfall_kwh + tolerance_kwh).any():
        i = int(np.flatnonzero(unmet > fleet.shortfall_kwh + tolerance_kwh)[0])
        problems.append(f"session {fleet.session_id[i]}: reported unmet {unmet[i]:.6g} kWh beyond the unavoidable")
    energy = schedule.battery_energy_kwh()
    if (energy < fleet.e_floor_kwh[:, None] - tolerance_kwh).any():
        i = int(np.flatnonzero((energy < fleet.e_floor_kwh[:, None] - tolerance_kwh).any(axis=1))[0])
        problems.append(f"session {fleet.session_id[i]}: battery below its minimum SoC")
    if (energy > fleet.e_max_kwh[:, None] + tolerance_kwh).any():
        i = int(np.flatnonzero((energy > fleet.e_max_kwh[:, None] + tolerance_kwh).any(axis=1))[0])
        problems.append(f"session {fleet.session_id[i]}: battery above its capacity")
    tol_kw = 1e-6
    if (schedule.charge_kw > fleet.charge_limit_kw() + tol_kw).any():
        problems.append("charging beyond a session's limit or outside its plug-in window")
    if schedule.discharge_kw is not None and (schedule.discharge_kw > fleet.discharge_limit_kw() + tol_kw).any():
        problems.append("discharging beyond a session's limit, consent or plug-in window")
    return problems


def dispatch_penalties(
    prices: PriceInputs, min_charge_efficiency: float, penalty_per_kwh: float | None = None
) -> tuple[float, float]:
    """The price of each kWh off an event or a dispatch curve, and the price of each battery kWh of a driver's need
    left unmet, per kWh in the prices' currency.

    The first is ``penalty_per_kwh``, or by default 10 x the largest absolute import or export price + 10; the second
    100 x (that + the largest price) / ``min_charge_efficiency`` + 1, so that a driver's need always comes first."""
    top = float(max(np.abs(prices.buy).max(initial=0.0), np.abs(prices.sell).max(initial=0.0)))
    dr = penalty_per_kwh if penalty_per_kwh is not None else 10.0 * top + 10.0
    unmet = 100.0 * (dr + top) / max(min_charge_efficiency, 1e-3) + 1.0
    return dr, unmet


def _penalties(prices: PriceInputs, fleet: FleetOnGrid, shortfall_penalty: float | None) -> tuple[float, float]:
    eta = float(fleet.charge_efficiency.min()) if len(fleet) else 1.0
    return dispatch_penalties(prices, eta, shortfall_penalty)


def _finish(
    fleet: FleetOnGrid,
    sched: Schedule,
    baseline: np.ndarray,
    base_sessions: np.ndarray | None,
    requested: np.ndarray,
    direction: Literal["down", "up"],
    window: tuple[int, int] | None,
    notes: list[str],
) -> DispatchResult:
    dt_h = fleet.step_hours
    agg = sched.aggregate_kw
    sign = 1.0 if direction == "down" else -1.0
    delivered = sign * (baseline - agg)
    in_window = requested > 0
    delivered = np.where(in_window, delivered, 0.0)
    shortfall = float(np.maximum(requested - delivered, 0.0)[in_window].sum() * dt_h)
    net = sched.net_kw
    if base_sessions is not None and window is not None:
        a, b = window
        resp = sign * (base_sessions[:, a:b] - net[:, a:b]).sum(axis=1) * dt_h
    else:
        resp = np.full(len(fleet), np.nan)
    discharged = (np.zeros(len(fleet)) if sched.discharge_kw is None
                  else sched.discharge_kw.sum(axis=1) * dt_h)
    unmet = np.zeros(len(fleet)) if sched.unmet_kwh is None else np.asarray(sched.unmet_kwh, dtype=float)
    table = pd.DataFrame(
        {
            "session_id": fleet.session_id.astype(str),
            "response_kwh": resp,
            "charged_kwh": sched.charge_kw.sum(axis=1) * dt_h,
            "discharged_kwh": discharged,
            "unmet_kwh": unmet,
            "inherent_shortfall_kwh": fleet.shortfall_kwh,
        }
    )
    requested_kwh = float(requested.sum() * dt_h)
    if requested_kwh > 0:
        if shortfall > 1e-6 * max(1.0, requested_kwh):
            notes.append(
                f"shortfall: delivered {requested_kwh - shortfall:,.3f} of {requested_kwh:,.3f} kWh requested "
                f"({(requested_kwh - shortfall) / requested_kwh:.1%}); the fleet cannot deliver more without "
                "breaking a driver's need or a limit"
            )
        else:
            notes.append(f"delivered the {requested_kwh:,.3f} kWh requested in full")
    problems = check_drivers_kept(sched)
    if problems:
        notes.append("DRIVER CONSTRAINTS BROKEN: " + "; ".join(problems))
    both = simultaneous_kwh(sched)
    if both > 1e-6:
        notes.append(f"the schedule charges and discharges the same car in the same step ({both:,.3f} kWh): no car "
                     "can do that; the delivered figure counts it")
    return DispatchResult(sched, baseline, base_sessions, requested, delivered, shortfall, table, direction, window,
                          tuple(notes), both)


def dispatch_event(
    fleet: FleetOnGrid,
    event: Event,
    *,
    prices: PriceInputs | None = None,
    baseline_kw: np.ndarray | None = None,
    baseline_per_session_kw: np.ndarray | None = None,
    shortfall_penalty_per_kwh: float | None = None,
    wear_cost_per_kwh: float = 0.0,
    options: Any = None,
) -> DispatchResult:
    """Schedule the fleet to deliver ``event`` (V1G or V2G by the fleet's mode).

    Args:
        fleet: sessions on a grid covering the event.
        event: window, direction and the committed kW (one number, or one per step of the window).
        prices: import/export prices on the grid (default: zero, so only the event and the needs matter).
        baseline_kw: the aggregate baseline (T,); default: the sessions' uncontrolled counterfactual.
        baseline_per_session_kw: per-session counterfactual (N x T) for the per-session split; computed when the
            baseline is the counterfactual.
        shortfall_penalty_per_kwh: price of each kWh of the event not delivered (default: 10 x the largest price +
            10); a driver's unmet need always costs far more.
        wear_cost_per_kwh: battery wear per battery-side kWh discharged.
        options: a :class:`vgi.schedule.options.ScheduleOptions` with further limits (site limits, ...).
    """
    from vgi.dr.baselines import ev_counterfactual
    from vgi.schedule.options import ScheduleOptions

    grid = fleet.grid
    prices = prices or PriceInputs.flat(grid.n_steps, 0.0)
    _event_steps(fleet, event)
    notes: list[str] = []
    if baseline_kw is None:
        cf = ev_counterfactual(fleet, prices)
        base_sessions = cf.per_session_kw if baseline_per_session_kw is None else baseline_per_session_kw
        baseline = np.asarray(cf.baseline_kw.to_numpy(), dtype=float)
        notes.append("baseline: the sessions' uncontrolled charging")
    else:
        baseline = np.asarray(baseline_kw, dtype=float)
        base_sessions = baseline_per_session_kw
        if baseline.shape != (grid.n_steps,):
            raise VgiError(f"baseline has {baseline.size} values for {grid.n_steps} steps")
    dr_pen, unmet_pen = _penalties(prices, fleet, shortfall_penalty_per_kwh)
    target = event_target(fleet, event, baseline, dr_pen)
    a, b = target.start_step, target.stop_step
    requested = np.zeros(grid.n_steps)
    requested[a:b] = target.requested_kw
    base_opts = options if options is not None else ScheduleOptions()
    terms = CouplingTerms(
        site_limit_kw=base_opts.site_limit_kw,
        fleet_import_limit_kw=base_opts.fleet_import_limit_kw,
        fleet_export_limit_kw=base_opts.fleet_export_limit_kw,
        peak_weight_per_kw=base_opts.minimise_peak,
        unmet_penalty_per_kwh=unmet_pen,
        wear_cost_per_kwh=wear_cost_per_kwh or base_opts.wear_cost_per_kwh,
    )
    sched, more = deliver_event(fleet, [target], prices, terms, base_opts)
    notes += more
    return _finish(fleet, sched, baseline, base_sessions, requested, event.direction, (a, b), notes)


def dispatch_curve(
    fleet: FleetOnGrid,
    target_kw: np.ndarray,
    *,
    prices: PriceInputs | None = None,
    over_penalty_per_kwh: float | None = None,
    under_penalty_per_kwh: float | None = None,
    wear_cost_per_kwh: float = 0.0,
    options: Any = None,
) -> DispatchResult:
    """Follow an aggregate dispatch curve ``target_kw`` (T,, kW): energy above it costs ``over_penalty_per_kwh``,
    below it ``under_penalty_per_kwh`` (defaults: 10 x the largest price + 10 each); drivers' needs come first.

    A NaN step has no target: the fleet plans there on prices alone, and the tracking figures (the notes and
    ``shortfall_kwh``, the absolute deviation in kWh) count only the steps with a target."""
    from vgi.schedule.api import schedule
    from vgi.schedule.options import ScheduleOptions

    grid = fleet.grid
    prices = prices or PriceInputs.flat(grid.n_steps, 0.0)
    target = np.asarray(target_kw, dtype=float)
    if target.shape != (grid.n_steps,):
        raise VgiError(f"dispatch curve has {target.size} values for {grid.n_steps} steps")
    if np.isinf(target).any():
        raise VgiError(f"dispatch curve has an infinite value at step {int(np.flatnonzero(np.isinf(target))[0])}")
    dr_pen, unmet_pen = _penalties(prices, fleet, None)
    over = dr_pen if over_penalty_per_kwh is None else over_penalty_per_kwh
    under = dr_pen if under_penalty_per_kwh is None else under_penalty_per_kwh
    unmet_pen = max(unmet_pen, 100.0 * (max(over, under) + 1.0) / max(float(fleet.charge_efficiency.min()), 1e-3))
    base_opts = options if options is not None else ScheduleOptions()
    opts = base_opts.with_(target_kw=target, over_penalty_per_kwh=over, under_penalty_per_kwh=under,
                           unmet_penalty_per_kwh=unmet_pen,
                           wear_cost_per_kwh=wear_cost_per_kwh or base_opts.wear_cost_per_kwh)
    sched = schedule(fleet, "coupled", prices, opts)
    dt_h = fleet.step_hours
    dev = np.where(np.isfinite(target), sched.aggregate_kw - target, 0.0)  # no target (NaN): no deviation
    notes = [f"tracking: {np.maximum(dev, 0).sum() * dt_h:,.3f} kWh above and "
             f"{np.maximum(-dev, 0).sum() * dt_h:,.3f} kWh below the curve"]
    problems = check_drivers_kept(sched)
    if problems:
        notes.append("DRIVER CONSTRAINTS BROKEN: " + "; ".join(problems))
    both = simultaneous_kwh(sched)
    if both > 1e-6:
        notes.append(f"the schedule charges and discharges the same car in the same step ({both:,.3f} kWh): no car "
                     "can do that")
    table = pd.DataFrame(
        {
            "session_id": fleet.session_id.astype(str),
            "response_kwh": np.full(len(fleet), np.nan),
            "charged_kwh": sched.charge_kw.sum(axis=1) * dt_h,
            "discharged_kwh": (np.zeros(len(fleet)) if sched.discharge_kw is None
                               else sched.discharge_kw.sum(axis=1) * dt_h),
            "unmet_kwh": np.zeros(len(fleet)) if sched.unmet_kwh is None else np.asarray(sched.unmet_kwh),
            "inherent_shortfall_kwh": fleet.shortfall_kwh,
        }
    )
    shortfall = float(np.abs(dev).sum() * dt_h)
    return DispatchResult(sched, target, None, np.zeros(grid.n_steps), np.zeros(grid.n_steps), shortfall, table,
                          "down", None, tuple(notes), both)
