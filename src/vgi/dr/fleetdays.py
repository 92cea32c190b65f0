"""A fleet cut into days: the sessions that touch each local day, on a grid around it, with their counterfactual.

Eligibility and offers look at what a fleet can do in a call window of a day.  A session plugged in on that day may
have arrived the evening before or leave the next morning, so each day's fleet sits on a three-day grid (the day
before, the day, the day after) and holds every session that overlaps the day; windows are then taken inside the
middle day.  The reference each response is measured against is the sessions' uncontrolled charging
(:func:`vgi.dr.baselines.ev_counterfactual`).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

from vgi.dr.programmes import ClockWindow
from vgi.errors import VgiError
from vgi.model.sessions import SessionTable
from vgi.model.timegrid import TimeGrid
from vgi.schedule.problem import FleetOnGrid

__all__ = ["DayFleet", "day_fleet", "fleet_mode", "local_days", "window_starts"]


@dataclass(frozen=True, eq=False)
class DayFleet:
    """One local day's fleet: sessions overlapping the day on a grid from the day before to the day after.

    Attributes:
        day: the local date.
        fleet: the sessions on the grid.
        reference_kw: their uncontrolled aggregate power per step (T,).
        reference_per_session_kw: per session (N x T).
        first_step: index of the day's first step on the grid; ``n_day_steps`` its steps (92-100 on DST days).
    """

    day: dt.date
    fleet: FleetOnGrid
    reference_kw: np.ndarray
    reference_per_session_kw: np.ndarray
    first_step: int
    n_day_steps: int


def fleet_mode(sessions: SessionTable, mode: str | None = None) -> Literal["v1g", "v2g"]:
    """``v2g`` when any session may discharge (or as asked), else ``v1g``."""
    if mode is not None:
        if mode not in ("v1g", "v2g"):
            raise VgiError(f"mode must be 'v1g' or 'v2g', got '{mode}'")
        return mode  # type: ignore[return-value]
    return "v2g" if bool(sessions.v2g_enabled.any()) else "v1g"


def local_days(sessions: SessionTable, timezone: str) -> list[dt.date]:
    """The days the data describes: every local day from the first to the last arrival (days without sessions
    included).  With three or more such days the first is left out: the sessions plugged in overnight before it
    are not in the data, so its morning would look emptier than it is."""
    if len(sessions) == 0:
        raise VgiError("the session table is empty")
    local = sessions.arrival.tz_convert(timezone)
    first = local.min().date()
    last = local.max().date()
    days = [first + dt.timedelta(days=i) for i in range((last - first).days + 1)]
    return days[1:] if len(days) >= 3 else days


def day_fleet(
    sessions: SessionTable,
    day: dt.date,
    timezone: str,
    mode: Literal["v1g", "v2g"],
    step_minutes: int = 15,
) -> DayFleet:
    """The sessions overlapping local ``day`` on a grid from the day before to the day after, with their
    uncontrolled counterfactual."""
    from vgi.dr.baselines import ev_counterfactual

    grid = TimeGrid.local_days(day - dt.timedelta(days=1), 3, step_minutes, timezone)
    day_start = pd.Timestamp(day).tz_localize(timezone)
    day_end = pd.Timestamp(day + dt.timedelta(days=1)).tz_localize(timezone)
    arr = sessions.arrival
    dep = sessions.departure
    mask = np.asarray((arr < day_end) & (dep > day_start))
    sub = sessions.subset(mask)
    fleet = FleetOnGrid.from_sessions(sub, grid, mode)
    first_step = int(grid.step_of(pd.DatetimeIndex([day_start]))[0])
    n_day = int(grid.step_of(pd.DatetimeIndex([day_end]))[0]) - first_step
    if len(sub):
        base = ev_counterfactual(fleet)
        per_session = np.asarray(base.per_session_kw)
        ref = per_session.sum(axis=0)
    else:
        per_session = np.zeros((0, grid.n_steps))
        ref = np.zeros(grid.n_steps)
    return DayFleet(day, fleet, ref, per_session, first_step, n_day)


def window_starts(
    day: DayFleet,
    call_windows: tuple[ClockWindow, ...],
    duration_steps: int,
    every_minutes: int = 60,
) -> list[tuple[int, str]]:
    """Window start steps inside the day, every ``every_minutes`` of local clock time, whose start lies in a call
    window (all starts when there are none); each with its local ``HH:MM`` label."""
    grid = day.fleet.grid
    local = grid.local_index[day.first_step: day.first_step + day.n_day_steps]
    minute = (local.hour * 60 + local.minute).to_numpy()
    on_clock = minute % every_minutes == 0
    inside = np.ones(len(local), dtype=bool)
    if call_windows:
        inside = np.zeros(len(local), dtype=bool)
        for w in call_windows:
            inside |= w.contains(minute)
    out: list[tuple[int, str]] = []
    for k in np.flatnonzero(on_clock & inside):
        s = day.first_step + int(k)
        if s + duration_steps <= grid.n_steps:
            out.append((s, f"{int(minute[k]) // 60:02d}:{int(minute[k]) % 60:02d}"))
    return out
