"""Clocks: the aggregator asks a clock for the time and waits on it, so the same loop runs simulated or live."""

from __future__ import annotations

import asyncio
from typing import Protocol

import pandas as pd

from vgi.errors import VgiError

__all__ = ["Clock", "SimulatedClock", "WallClock", "next_step_start"]


class Clock(Protocol):
    """What the aggregator needs of time: the present (tz-aware UTC) and a way to wait until a moment."""

    def now(self) -> pd.Timestamp: ...

    async def sleep_until(self, moment: pd.Timestamp) -> None: ...


class WallClock:
    """The real time (UTC)."""

    def now(self) -> pd.Timestamp:
        return pd.Timestamp.now(tz="UTC")

    async def sleep_until(self, moment: pd.Timestamp) -> None:
        seconds = (pd.Timestamp(moment) - self.now()).total_seconds()
        if seconds > 0:
            await asyncio.sleep(seconds)


class SimulatedClock:
    """A clock that stands still until it is moved: ``sleep_until`` jumps straight to the moment asked for.

    Tests and the scenario runner use it to run a day of 15-minute steps in milliseconds; time never goes back.
    """

    def __init__(self, start: pd.Timestamp) -> None:
        start = pd.Timestamp(start)
        if start.tzinfo is None:
            raise VgiError("a simulated clock starts at a tz-aware time")
        self._now = start.tz_convert("UTC")

    def now(self) -> pd.Timestamp:
        return self._now

    def advance_to(self, moment: pd.Timestamp) -> None:
        moment = pd.Timestamp(moment).tz_convert("UTC")
        if moment < self._now:
            raise VgiError(f"a clock cannot go back from {self._now} to {moment}")
        self._now = moment

    async def sleep_until(self, moment: pd.Timestamp) -> None:
        self.advance_to(moment)
        await asyncio.sleep(0)


def next_step_start(moment: pd.Timestamp, step_minutes: int) -> pd.Timestamp:
    """The first step boundary strictly after ``moment`` on steps of ``step_minutes`` counted from midnight UTC."""
    step = pd.Timedelta(minutes=step_minutes)
    moment = pd.Timestamp(moment).tz_convert("UTC")
    return moment.floor(step) + step
