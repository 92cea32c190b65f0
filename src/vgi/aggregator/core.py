"""The aggregator's operations: re-plan, deliver events, settle.  Pure functions of snapshots and arrays."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from vgi.aggregator.snapshot import FleetSnapshot
from vgi.errors import VgiError
from vgi.schedule.options import ScheduleOptions
from vgi.schedule.prices import PriceInputs
from vgi.schedule.problem import FleetOnGrid, Schedule
from vgi.schedule.terms import CouplingTerms, EventTarget

if TYPE_CHECKING:
    from vgi.dr.events import Event
    from vgi.dr.programmes import Programme
    from vgi.dr.settlement import Settlement

__all__ = ["Plan", "deliver_event", "event_target", "event_window", "replan", "settle", "simultaneous_kwh"]


@dataclass(frozen=True, eq=False)
class Plan:
    """A plan from a snapshot: the schedule of every session planned, and what to send now.

    Attributes:
        at: the moment the plan starts (its grid's start).
        schedule: per session and step, on the snapshot's grid.
        terms: the coupling terms it was planned with.
    """

    at: pd.Timestamp
    schedule: Schedule
    terms: CouplingTerms

    @property
    def session_id(self) -> np.ndarray:
        return self.schedule.fleet.session_id

    def setpoints_kw(self, step: int = 0) -> np.ndarray:
        """Net power of each session at ``step`` of the plan (positive charge, negative discharge), kW."""
        return np.asarray(self.schedule.net_kw[:, step], dtype=float)

    def setpoints_by_session(self, step: int = 0) -> dict[str, float]:
        return {str(s): float(v) for s, v in zip(self.session_id, self.setpoints_kw(step), strict=True)}


def replan(snapshot: FleetSnapshot, options: ScheduleOptions | None = None, strategy: str | None = None) -> Plan:
    """Plan the snapshot's fleet from its moment to the end of its grid.

    The strategy is ``coupled`` when a term ties the cars together and the exact per-EV ``price`` strategy
    otherwise (the same optimum, much faster), unless ``strategy`` says.  ``options`` carries the solver settings
    (solver, gap, time limit); the terms override its coupling fields.
    """
    from vgi.schedule.api import schedule

    fleet = snapshot.fleet
    opts = snapshot.terms.options(options, fleet)
    chosen = strategy or ("coupled" if opts.is_coupled else "price")
    if len(fleet) == 0:
        empty = np.zeros((0, fleet.n_steps))
        sched = Schedule(fleet, chosen, empty, empty.copy() if fleet.mode == "v2g" else None, np.zeros(0))
        return Plan(snapshot.at, sched, snapshot.terms)
    return Plan(snapshot.at, schedule(fleet, chosen, snapshot.prices, opts), snapshot.terms)


def event_window(grid_index: pd.DatetimeIndex, step_minutes: int, event: Event) -> tuple[int, int]:
    """The steps ``[a, b)`` of ``event`` on a grid; the event must lie on the grid's step boundaries."""
    mask = event.mask(grid_index)
    if not mask.any():
        raise VgiError(f"event {event.start} - {event.end} lies outside the fleet's time grid")
    steps = np.flatnonzero(mask)
    a, b = int(steps[0]), int(steps[-1]) + 1
    step = pd.Timedelta(minutes=step_minutes)
    if grid_index[a] != event.start or grid_index[b - 1] + step != event.end:
        raise VgiError(f"event {event.start} - {event.end} is not on the fleet's {step_minutes}-min steps")
    return a, b


def event_target(
    fleet: FleetOnGrid, event: Event, baseline_kw: np.ndarray, shortfall_price_per_kwh: float
) -> EventTarget:
    """An :class:`~vgi.dr.events.Event` on the fleet's grid as an :class:`EventTarget`."""
    a, b = event_window(fleet.grid.utc_index, fleet.grid.step_minutes, event)
    committed = event.committed_kw
    if isinstance(committed, tuple):
        request = np.asarray(committed, dtype=float)
        if request.shape != (b - a,):
            raise VgiError(f"{request.size} committed values for {b - a} steps of the event window")
    else:
        request = np.full(b - a, float(committed))
    baseline = np.asarray(baseline_kw, dtype=float)
    if baseline.shape != (fleet.n_steps,):
        raise VgiError(f"baseline has {baseline.size} values for {fleet.n_steps} steps")
    return EventTarget(event.event_id, a, b, event.direction, request, baseline, shortfall_price_per_kwh)


def simultaneous_kwh(schedule: Schedule) -> float:
    """Energy (grid side, kWh) a schedule has the same car charge and discharge in the same step: an LP relaxation
    burns energy that way through the losses, which no car can do."""
    if schedule.discharge_kw is None:
        return 0.0
    both = np.minimum(schedule.charge_kw, schedule.discharge_kw)
    return float(both.sum() * schedule.fleet.step_hours)


def deliver_event(
    fleet: FleetOnGrid,
    targets: Sequence[EventTarget],
    prices: PriceInputs,
    terms: CouplingTerms | None = None,
    options: ScheduleOptions | None = None,
) -> tuple[Schedule, list[str]]:
    """Plan the fleet to deliver ``targets`` (events with their baselines) under ``terms``.

    Returns the schedule and notes.  An ``up`` event that the plan meets by charging and discharging one car in the
    same step (which no car can do) is planned again without discharge, and a note says so.
    """
    from vgi.schedule.api import schedule

    terms = (terms or CouplingTerms()).with_(events=tuple(targets))
    opts = terms.options(options, fleet)
    sched = schedule(fleet, "coupled", prices, opts)
    notes: list[str] = []
    if any(t.direction == "up" for t in targets) and simultaneous_kwh(sched) > 1e-6:
        v1g = replace(fleet, mode="v1g", max_discharge_kw=np.zeros(len(fleet)))
        sched = schedule(v1g, "coupled", prices, opts)
        sched = replace(sched, fleet=fleet, discharge_kw=np.zeros_like(sched.charge_kw))
        notes.append("re-planned without discharge: the first plan charged and discharged cars at once to raise "
                     "import, which no car can do")
    return sched, notes


def settle(
    programme: Programme | str,
    event: Event,
    metered_kw: pd.Series,
    *,
    baseline_kw: pd.Series | None = None,
    history_kw: pd.Series | None = None,
    exclude_days: Iterable[Any] = (),
    **kwargs: Any,
) -> Settlement:
    """What ``programme`` pays for ``event``, from metered net import (a series on the metering steps, kW).

    The baseline is ``baseline_kw`` where given (e.g. a simulation's counterfactual over the window), else the
    programme's own rule on ``history_kw`` (default: the metered series itself), skipping ``exclude_days`` (earlier
    event days).  Further keyword arguments go to :func:`vgi.dr.settlement.settle_event`.
    """
    from vgi.dr.baselines import BaselineResult
    from vgi.dr.settlement import settle_event

    baseline = None
    if baseline_kw is not None:
        series = pd.Series(baseline_kw, dtype=float)
        baseline = BaselineResult(series, "given", notes=("baseline given by the caller",))
    return settle_event(programme, event, metered_kw, history_kw=history_kw, baseline=baseline,
                        exclude_days=exclude_days, **kwargs)
