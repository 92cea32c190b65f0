"""The aggregator loop on a clock: take a snapshot, re-plan, act, wait for the next step.

:func:`run_loop` is the same loop for a simulation and for the live service; what differs is where snapshots come
from and where plans go (a :class:`FleetSource` and an :class:`Actuator`) and the clock.  :class:`SimulatedFleet` is
both for a simulation: it holds the sessions as they truly happen, commits each plan's next steps as the meters would
see them, and builds each snapshot from what was committed so far.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import pandas as pd

from vgi.aggregator.clock import Clock
from vgi.aggregator.core import Plan, replan
from vgi.aggregator.snapshot import FleetSnapshot, snapshot_at
from vgi.errors import VgiError
from vgi.model.sessions import SessionTable
from vgi.model.timegrid import TimeGrid
from vgi.schedule.options import ScheduleOptions
from vgi.schedule.prices import PriceInputs
from vgi.schedule.problem import FleetOnGrid, Mode, Schedule
from vgi.schedule.terms import CouplingTerms

__all__ = ["Actuator", "FleetSource", "LoopStep", "SimulatedFleet", "loop_step", "run_loop", "simulate"]


class FleetSource(Protocol):
    """Where snapshots come from: simulated sessions, or the service's database.  ``snapshot`` may be a coroutine
    (the live service reads its database off the event loop); the loop awaits it then."""

    def snapshot(self, at: pd.Timestamp) -> FleetSnapshot | Awaitable[FleetSnapshot]: ...


class Actuator(Protocol):
    """Where plans go: a simulated meter, or charge points.  ``apply`` is told the plan and the moment the next
    plan will replace it; it may be a coroutine (the live service sends charging profiles), awaited by the loop."""

    def apply(self, plan: Plan, until: pd.Timestamp) -> Awaitable[None] | None: ...


@dataclass(frozen=True)
class LoopStep:
    """One pass of the loop: when, how many sessions were planned, and how long planning took (s)."""

    at: pd.Timestamp
    n_sessions: int
    plan_seconds: float
    objective: float


async def run_loop(
    clock: Clock,
    source: FleetSource,
    actuator: Actuator,
    *,
    step_minutes: int,
    until: pd.Timestamp,
    replan_every: int = 1,
    options: ScheduleOptions | None = None,
    offload: bool = False,
) -> list[LoopStep]:
    """Every ``replan_every`` steps until ``until``: snapshot, re-plan, apply, wait.  Returns what each pass did.
    ``offload`` solves in a worker thread (the live service: the event loop keeps serving meanwhile)."""
    if replan_every < 1:
        raise VgiError(f"replan_every must be at least 1, got {replan_every}")
    period = pd.Timedelta(minutes=step_minutes * replan_every)
    done: list[LoopStep] = []
    at = clock.now().floor(pd.Timedelta(minutes=step_minutes))
    until = pd.Timestamp(until)
    while at < until:
        following = min(at + period, until)
        done.append(await loop_step(source, actuator, at, following, options, offload=offload))
        await clock.sleep_until(following)
        at = following
    return done


async def loop_step(
    source: FleetSource,
    actuator: Actuator,
    at: pd.Timestamp,
    following: pd.Timestamp,
    options: ScheduleOptions | None = None,
    *,
    offload: bool = False,
) -> LoopStep:
    """One pass of the loop at ``at``: snapshot, re-plan, apply until ``following``.  ``snapshot`` and ``apply``
    are awaited when they return awaitables (the live service), called plainly otherwise (a simulation);
    ``offload`` solves in a worker thread so that the event loop keeps serving charge points meanwhile."""
    t0 = time.perf_counter()
    found = source.snapshot(at)
    snap: FleetSnapshot = await found if inspect.isawaitable(found) else found
    plan = await asyncio.to_thread(replan, snap, options) if offload else replan(snap, options)
    elapsed = time.perf_counter() - t0
    applied = actuator.apply(plan, following)
    if inspect.isawaitable(applied):
        await applied
    return LoopStep(at, len(snap.fleet), elapsed, float(plan.schedule.stats.get("objective", 0.0)))


@dataclass(eq=False)
class SimulatedFleet:
    """Sessions as they truly happen on ``grid``, metered as the plans say (a :class:`FleetSource` and an
    :class:`Actuator` at once).

    ``foresight`` plans the sessions still to come as well (the offline optimum when planned once); without it a
    plan sees only the cars plugged in.  ``committed`` holds grid-side charge and discharge per session and step.
    """

    sessions: SessionTable
    grid: TimeGrid
    prices: PriceInputs
    terms: CouplingTerms = field(default_factory=CouplingTerms)
    mode: Mode = "v1g"
    foresight: bool = False
    fleet: FleetOnGrid = field(init=False)
    charge_kw: np.ndarray = field(init=False)
    discharge_kw: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        self.fleet = FleetOnGrid.from_sessions(self.sessions, self.grid, self.mode)
        self.charge_kw = np.zeros((len(self.fleet), self.grid.n_steps))
        self.discharge_kw = np.zeros_like(self.charge_kw)
        self._row = {str(s): i for i, s in enumerate(self.fleet.session_id)}

    def _step(self, at: pd.Timestamp) -> int:
        return round((pd.Timestamp(at) - self.grid.start) / pd.Timedelta(minutes=self.grid.step_minutes))

    def snapshot(self, at: pd.Timestamp) -> FleetSnapshot:
        t = self._step(at)
        dt_h = self.grid.step_hours
        fl = self.fleet
        gained = (self.charge_kw[:, :t].sum(axis=1) * fl.charge_efficiency
                  - self.discharge_kw[:, :t].sum(axis=1) / fl.discharge_efficiency) * dt_h
        return snapshot_at(self.sessions, self.grid, at, self.prices, self.terms, mode=self.mode,
                           gained_kwh=gained, include_future=self.foresight)

    def apply(self, plan: Plan, until: pd.Timestamp) -> None:
        a, b = self._step(plan.at), self._step(until)
        if b <= a:
            return
        rows = np.array([self._row[str(s)] for s in plan.session_id], dtype=np.int64)
        sched = plan.schedule
        self.charge_kw[rows, a:b] = sched.charge_kw[:, : b - a]
        if sched.discharge_kw is not None:
            self.discharge_kw[rows, a:b] = sched.discharge_kw[:, : b - a]

    def schedule(self, strategy: str = "aggregator") -> Schedule:
        """What the meters saw, as a schedule of the whole fleet on the whole grid."""
        fl = self.fleet
        dt_h = self.grid.step_hours
        gained = (self.charge_kw.sum(axis=1) * fl.charge_efficiency
                  - self.discharge_kw.sum(axis=1) / fl.discharge_efficiency) * dt_h
        unmet = np.maximum(fl.e_need_kwh - fl.e_init_kwh - gained, 0.0)
        discharge = self.discharge_kw if self.mode == "v2g" else None
        return Schedule(fl, strategy, self.charge_kw.copy(), None if discharge is None else discharge.copy(), unmet)


def simulate(
    sim: SimulatedFleet,
    *,
    replan_every: int = 1,
    options: ScheduleOptions | None = None,
) -> tuple[Schedule, list[LoopStep]]:
    """Run the aggregator loop over ``sim``'s whole grid on a :class:`~vgi.aggregator.clock.SimulatedClock`, without
    an event loop (callable from anywhere, an async service included): a pass every ``replan_every`` steps and at
    the start of every step in which a car arrives (the live service re-plans when a charge point starts a
    transaction).

    Returns what the meters saw (a schedule with ``stats``: ``n_replans``, ``plan_seconds``, ``solve_seconds``)
    and the passes."""
    import time

    from vgi.aggregator.clock import SimulatedClock

    if replan_every < 1:
        raise VgiError(f"replan_every must be at least 1, got {replan_every}")
    clock = SimulatedClock(sim.grid.start)
    step = pd.Timedelta(minutes=sim.grid.step_minutes)
    # re-plan every `replan_every` steps, and at the start of each step in which a car arrives
    n = sim.grid.n_steps
    regular = set(range(0, n, replan_every))
    arrivals = {int(s) for s, e in zip(sim.fleet.start, sim.fleet.stop, strict=True) if e > s and s < n}
    starts = sorted(regular | arrivals)
    passes: list[LoopStep] = []
    solve = 0.0
    for k, first in enumerate(starts):
        at = sim.grid.start + first * step
        clock.advance_to(at)
        t0 = time.perf_counter()
        plan = replan(sim.snapshot(at), options)
        elapsed = time.perf_counter() - t0
        solve += float(plan.schedule.stats.get("solve_seconds", 0.0))
        following = sim.grid.start + (starts[k + 1] if k + 1 < len(starts) else n) * step
        sim.apply(plan, following)
        passes.append(LoopStep(at, len(plan.session_id), elapsed, float(plan.schedule.stats.get("objective", 0.0))))
    from vgi.schedule.api import complete_stats

    opts = sim.terms.options(options, sim.fleet)
    done = complete_stats(sim.schedule("aggregator-online"), sim.prices, opts,
                          sum(p.plan_seconds for p in passes), coupled=True)
    done.stats.update({"n_replans": len(passes), "plan_seconds": sum(p.plan_seconds for p in passes),
                       "solve_seconds": solve})
    return done, passes
