"""Time grids: tz-aware, regular steps in absolute time.

A :class:`TimeGrid` is a half-open interval ``[start, end)`` cut into steps of ``step_minutes``.  Steps are
regular in absolute (UTC) time, so a local day with a daylight-saving change has 92 or 100 quarter hours,
not 96.  Local wall-clock labels (for tariff periods) come from :meth:`TimeGrid.local_index`.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from dataclasses import dataclass
from functools import cached_property
from typing import Annotated

import numpy as np
import pandas as pd
from pydantic import AfterValidator

from vgi.errors import VgiError

__all__ = ["TimeGrid", "TimezoneName", "check_step_minutes", "check_timezone", "day_grid"]


def check_timezone(name: str) -> zoneinfo.ZoneInfo:
    """Return the IANA time zone ``name`` or raise :class:`VgiError` naming it."""
    try:
        return zoneinfo.ZoneInfo(str(name))
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, TypeError) as exc:
        raise VgiError(f"unknown time zone '{name}' (expected an IANA name such as 'Asia/Shanghai')") from exc


def _timezone_field(name: str) -> str:
    """Pydantic check of a time-zone field: the same message as :func:`check_timezone`, as a ``ValueError``."""
    try:
        check_timezone(name)
    except VgiError as exc:
        raise ValueError(str(exc)) from exc
    return name


#: A model field holding an IANA time-zone name, checked on validation.
TimezoneName = Annotated[str, AfterValidator(_timezone_field)]


def check_step_minutes(step_minutes: int) -> int:
    """Accept a step that divides an hour (1, 2, 3, 4, 5, 6, 10, 12, 15, 20, 30, 60) or a day (120, ..., 1440)."""
    step = int(step_minutes)
    if step != step_minutes or step <= 0 or (60 % step != 0 and 1440 % step != 0):
        raise VgiError(f"step of {step_minutes} min does not divide an hour or a day")
    return step


@dataclass(frozen=True)
class TimeGrid:
    """Regular steps from ``start`` (tz-aware) to ``end`` (exclusive).

    Attributes:
        start: first step's start, tz-aware.
        end: end of the last step, tz-aware, exclusive.
        step_minutes: step length in minutes; must divide an hour or a day.
        timezone: IANA name used for local (wall-clock) labels.
    """

    start: pd.Timestamp
    end: pd.Timestamp
    step_minutes: int = 15
    timezone: str = "UTC"

    def __post_init__(self) -> None:
        check_step_minutes(self.step_minutes)
        check_timezone(self.timezone)
        start = pd.Timestamp(self.start)
        end = pd.Timestamp(self.end)
        if start.tzinfo is None or end.tzinfo is None:
            raise VgiError("time grid start and end must carry a time zone or UTC offset")
        if end <= start:
            raise VgiError(f"time grid end {end} is not after start {start}")
        span = (end - start) / pd.Timedelta(minutes=self.step_minutes)
        if abs(span - round(span)) > 1e-9:
            raise VgiError(f"time grid span {end - start} is not a whole number of {self.step_minutes}-min steps")
        object.__setattr__(self, "start", start)
        object.__setattr__(self, "end", end)

    @classmethod
    def local_days(
        cls, first_day: str | dt.date, n_days: int = 1, step_minutes: int = 15, timezone: str = "UTC"
    ) -> TimeGrid:
        """The grid covering ``n_days`` local calendar days from midnight of ``first_day`` in ``timezone``."""
        check_timezone(timezone)
        day = pd.Timestamp(first_day).normalize()
        start = day.tz_localize(timezone) if day.tzinfo is None else day.tz_convert(timezone)
        end = (day + pd.Timedelta(days=n_days)).tz_localize(timezone) if day.tzinfo is None else (
            start + pd.Timedelta(days=n_days)
        )
        return cls(start=start, end=end, step_minutes=step_minutes, timezone=timezone)

    @property
    def step_hours(self) -> float:
        """Step length in hours (energy_kwh = power_kw * step_hours)."""
        return self.step_minutes / 60.0

    @cached_property
    def n_steps(self) -> int:
        """Number of steps."""
        return round((self.end - self.start) / pd.Timedelta(minutes=self.step_minutes))

    def __len__(self) -> int:
        return self.n_steps

    @cached_property
    def utc_index(self) -> pd.DatetimeIndex:
        """Step starts in UTC."""
        return pd.date_range(
            self.start.tz_convert("UTC"), periods=self.n_steps, freq=pd.Timedelta(minutes=self.step_minutes)
        )

    @cached_property
    def local_index(self) -> pd.DatetimeIndex:
        """Step starts in the grid's local time zone (wall clock; repeated or skipped hours on DST days)."""
        return self.utc_index.tz_convert(self.timezone)

    @cached_property
    def epoch_seconds(self) -> np.ndarray:
        """Step starts as int64 seconds since 1970-01-01 UTC."""
        return (self.utc_index.as_unit("ns").asi8 // 1_000_000_000).astype(np.int64)

    def step_of(self, times: pd.DatetimeIndex | pd.Series | np.ndarray, side: str = "floor") -> np.ndarray:
        """Index of the step that contains each time (``floor``) or the first step starting at or after it (``ceil``).

        Returned indices are not clipped: times before the grid give negative values, after it values >= n_steps.
        """
        if isinstance(times, pd.Series):
            times = pd.DatetimeIndex(times)
        ts = pd.DatetimeIndex(times)
        if ts.tz is None:
            raise VgiError("times must be tz-aware")
        seconds = ts.tz_convert("UTC").as_unit("ns").asi8 // 1_000_000_000
        offset = seconds - int(self.epoch_seconds[0]) if self.n_steps else seconds
        step_s = self.step_minutes * 60
        if side == "floor":
            return np.floor_divide(offset, step_s).astype(np.int64)
        if side == "ceil":
            return (-np.floor_divide(-offset, step_s)).astype(np.int64)
        raise ValueError("side must be 'floor' or 'ceil'")


def day_grid(day: str | dt.date, timezone: str, step_minutes: int = 15) -> TimeGrid:
    """One local calendar day: 96 quarter hours, or 92/100 on a daylight-saving change."""
    return TimeGrid.local_days(day, 1, step_minutes, timezone)
