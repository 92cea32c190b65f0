"""Fleet-state snapshots: what the aggregator knows at a moment.

A :class:`FleetSnapshot` holds the sessions plugged in at ``at`` (and, where the caller knows or forecasts them,
those still to come), each with the battery energy it has had so far, on the grid from ``at`` to the end of the
horizon, with the prices and coupling terms of that grid.  :func:`snapshot_at` builds one from a session table and
the energy metered so far: the scenario runner from simulated sessions, the service from its database.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import pandas as pd

from vgi.errors import VgiError
from vgi.model.sessions import SessionTable
from vgi.model.timegrid import TimeGrid
from vgi.schedule.prices import PriceInputs
from vgi.schedule.problem import FleetOnGrid, Mode
from vgi.schedule.terms import CouplingTerms

__all__ = ["FleetSnapshot", "battery_gain_kwh", "snapshot_at"]


@dataclass(frozen=True, eq=False)
class FleetSnapshot:
    """The fleet as the aggregator sees it at ``at`` (tz-aware).

    Attributes:
        at: the moment, the start of ``fleet.grid``.
        fleet: the sessions on the grid from ``at`` to the horizon's end; ``e_init_kwh`` is each battery's energy
            at ``at`` (its arrival energy plus what it has gained), ``e_need_kwh`` its need at departure.
        prices: import and export prices per step of that grid.
        terms: the coupling terms on that grid.
        departed: session ids that had left by ``at`` (not planned any more).
    """

    at: pd.Timestamp
    fleet: FleetOnGrid
    prices: PriceInputs
    terms: CouplingTerms
    departed: tuple[str, ...] = ()

    @property
    def grid(self) -> TimeGrid:
        return self.fleet.grid


def battery_gain_kwh(
    imported_kwh: np.ndarray, exported_kwh: np.ndarray, charge_efficiency: np.ndarray,
    discharge_efficiency: np.ndarray,
) -> np.ndarray:
    """Battery energy gained from metered grid-side energy: imported x charge efficiency - exported / discharge
    efficiency, kWh."""
    return (np.asarray(imported_kwh, dtype=float) * np.asarray(charge_efficiency, dtype=float)
            - np.asarray(exported_kwh, dtype=float) / np.asarray(discharge_efficiency, dtype=float))


def snapshot_at(
    sessions: SessionTable,
    grid: TimeGrid,
    at: pd.Timestamp,
    prices: PriceInputs,
    terms: CouplingTerms | None = None,
    *,
    mode: Mode = "v1g",
    gained_kwh: np.ndarray | None = None,
    include_future: bool = False,
) -> FleetSnapshot:
    """The snapshot at ``at`` of ``sessions`` planned on ``grid`` (prices and terms on ``grid``).

    Args:
        sessions: every session known (plugged in, or declared and still to come).
        grid: the plan's whole grid; ``at`` must be one of its step boundaries (the snapshot's grid is its tail).
        at: the moment, tz-aware.
        prices, terms: on ``grid``; cut to the tail.
        mode: ``v1g`` or ``v2g``.
        gained_kwh: battery energy each session has gained since its arrival (battery side; see
            :func:`battery_gain_kwh`), in the order of ``sessions``; default none.
        include_future: also plan the sessions that arrive after the first step (a forecast or perfect
            foresight); otherwise only those plugged in by the end of the first step, each from its arrival.
    """
    at = pd.Timestamp(at)
    if at.tzinfo is None:
        raise VgiError("a snapshot's moment must carry a time zone")
    step = pd.Timedelta(minutes=grid.step_minutes)
    offset = (at - grid.start) / step
    if offset < 0 or offset >= grid.n_steps or abs(offset - round(offset)) > 1e-9:
        raise VgiError(f"{at} is not a step boundary inside the plan's grid {grid.start} - {grid.end}")
    t = round(offset)
    tail = grid if t == 0 else TimeGrid(at, grid.end, grid.step_minutes, grid.timezone)
    prices.check_grid(grid)
    frame = sessions.frame
    n = len(frame)
    gained = np.zeros(n) if gained_kwh is None else np.asarray(gained_kwh, dtype=float)
    if gained.shape != (n,) or not np.isfinite(gained).all():
        raise VgiError(f"energy gained so far: expected {n} finite values, got shape {gained.shape}")
    at_ns = at.as_unit("ns").value
    arrival = sessions.arrival_ns
    departure = sessions.departure_ns
    # at the grid's start nothing has left the plan: a session wholly before the grid keeps its (empty) row, so its
    # need is reported unmet rather than dropped; later, the sessions that have left are listed in ``departed``
    gone = (departure <= at_ns) & (t > 0)
    # a car arriving during the first step is planned from its arrival (the plan covers that step)
    first_step_end_ns = (at + step).as_unit("ns").value
    keep = ~gone & (include_future | (arrival < first_step_end_ns))
    kept = sessions.subset(keep)
    fleet = FleetOnGrid.from_sessions(kept, tail, mode)
    # energy at `at`: the arrival energy plus what was gained (never above the battery); the need stays absolute
    battery = fleet.e_max_kwh
    e_now = np.minimum(fleet.e_init_kwh + gained[keep], battery)
    fleet = dataclasses.replace(fleet, e_init_kwh=e_now, e_floor_kwh=np.minimum(fleet.e_floor_kwh, e_now))
    price_tail = PriceInputs(prices.buy[t:], prices.sell[t:], prices.currency)
    terms = (terms or CouplingTerms()).from_step(t).for_sites({str(s) for s in fleet.site_id})
    departed = tuple(str(s) for s in frame["session_id"].to_numpy()[gone])
    return FleetSnapshot(at, fleet, price_tail, terms, departed)
