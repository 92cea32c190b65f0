"""Events: a programme's call on an aggregation.

An :class:`Event` is a window ``[start, end)`` (tz-aware), a direction (``down``: reduce import / export more;
``up``: import more), the committed response in kW (the cleared, invited or instructed volume; one number or one
value per settlement period) and, where the programme prices it per event, the clearing or offer price per kWh.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal, Protocol

import numpy as np
import pandas as pd

from vgi.errors import VgiError

__all__ = ["Direction", "Event", "event_days", "parse_event", "window_local_days"]

Direction = Literal["down", "up"]


@dataclass(frozen=True)
class Event:
    """A call: window ``[start, end)``, direction, committed kW (>= 0) and optional price per kWh.

    Attributes:
        start, end: tz-aware bounds of the delivery window.
        committed_kw: response asked for, kW: a number, or one value per settlement period of the window.
        direction: ``down`` (peak shaving, turn-down, V2G export) or ``up`` (valley filling, turn-up).
        price_per_kwh: the event's clearing (or offer) price, in the programme's currency; None uses the
            programme's rule.
        event_id: a label for reports.
    """

    start: pd.Timestamp
    end: pd.Timestamp
    committed_kw: float | tuple[float, ...]
    direction: Direction = "down"
    price_per_kwh: float | None = None
    event_id: str = "event"

    def __post_init__(self) -> None:
        start, end = pd.Timestamp(self.start), pd.Timestamp(self.end)
        if start.tzinfo is None or end.tzinfo is None:
            raise VgiError("event start and end must carry a time zone or UTC offset")
        if end <= start:
            raise VgiError(f"event end {end} is not after its start {start}")
        if self.direction not in ("down", "up"):
            raise VgiError(f"event direction must be 'down' or 'up', got '{self.direction}'")
        committed = self.committed_kw
        if isinstance(committed, list | tuple | np.ndarray):
            committed = tuple(float(v) for v in committed)
            if any(v < 0 or not np.isfinite(v) for v in committed):
                raise VgiError("committed_kw must be finite and non-negative")
        else:
            committed = float(committed)
            if committed < 0 or not np.isfinite(committed):
                raise VgiError(f"committed_kw must be finite and non-negative, got {committed}")
        object.__setattr__(self, "start", start)
        object.__setattr__(self, "end", end)
        object.__setattr__(self, "committed_kw", committed)

    @property
    def duration_hours(self) -> float:
        return (self.end - self.start).total_seconds() / 3600.0

    @property
    def sign(self) -> float:
        """+1 for ``down`` (response = baseline - metered), -1 for ``up`` (response = metered - baseline)."""
        return 1.0 if self.direction == "down" else -1.0

    def committed_per_period(self, n_periods: int) -> np.ndarray:
        """Committed kW for each of the window's ``n_periods`` settlement periods."""
        if isinstance(self.committed_kw, tuple):
            if len(self.committed_kw) != n_periods:
                raise VgiError(
                    f"event {self.event_id}: {len(self.committed_kw)} committed values for {n_periods} settlement "
                    "periods"
                )
            return np.asarray(self.committed_kw, dtype=float)
        return np.full(n_periods, float(self.committed_kw))

    def local_days(self, timezone: str) -> tuple[dt.date, ...]:
        """The local dates in ``timezone`` that the window ``[start, end)`` touches (one, or more for an event
        across local midnight): :func:`window_local_days`."""
        return window_local_days(self.start, self.end, timezone)

    def mask(self, index: pd.DatetimeIndex) -> np.ndarray:
        """Steps of ``index`` (step starts) inside the window."""
        return np.asarray((index >= self.start) & (index < self.end))


class TimeWindow(Protocol):
    """Anything with a tz-aware window ``[start, end)``: an :class:`Event`, a scenario's event on its grid."""

    @property
    def start(self) -> pd.Timestamp: ...

    @property
    def end(self) -> pd.Timestamp: ...


def window_local_days(start: pd.Timestamp, end: pd.Timestamp, timezone: str) -> tuple[dt.date, ...]:
    """The local dates in ``timezone`` that the window ``[start, end)`` touches, first to last.

    An event from 23:00 to 01:00 local time touches two days; one that ends at midnight touches only its own day.
    """
    start, end = pd.Timestamp(start), pd.Timestamp(end)
    if start.tzinfo is None or end.tzinfo is None:
        raise VgiError("event start and end must be tz-aware")
    first = start.tz_convert(timezone).date()
    last = max(end - pd.Timedelta(1, unit="ns"), start).tz_convert(timezone).date()
    return tuple(first + dt.timedelta(days=i) for i in range((last - first).days + 1))


def event_days(events: Iterable[TimeWindow], timezone: str) -> tuple[dt.date, ...]:
    """The distinct local dates in ``timezone`` that any of ``events`` touches, in order: the days a baseline
    built on local days of ``timezone`` (:func:`vgi.dr.baselines.baseline_timezone`) must leave out as event
    days.  The zone is the baseline's (the programme's), not the one the events were written in: an evening event
    in California is on the next day in Shanghai."""
    return tuple(sorted({d for ev in events for d in window_local_days(ev.start, ev.end, timezone)}))


def parse_event(text: str, timezone: str = "UTC", direction: Direction = "down",
                price_per_kwh: float | None = None) -> Event:
    """An event from ``START/END/KW`` (ISO times; a naive time is read in ``timezone``), e.g.
    ``2024-05-20T18:00+08:00/2024-05-20T19:00+08:00/4000``; ``START/END/KW/up`` sets the direction."""
    parts = [p.strip() for p in text.split("/")]
    if len(parts) not in (3, 4):
        raise VgiError(f"event '{text}': expected START/END/KW[/down|up]")
    try:
        start = pd.Timestamp(parts[0])
        end = pd.Timestamp(parts[1])
        kw = float(parts[2])
    except ValueError as exc:
        raise VgiError(f"event '{text}': {exc}") from exc
    if start.tzinfo is None:
        start = start.tz_localize(timezone)
    if end.tzinfo is None:
        end = end.tz_localize(timezone)
    if len(parts) == 4:
        if parts[3] not in ("down", "up"):
            raise VgiError(f"event '{text}': direction must be 'down' or 'up'")
        direction = parts[3]  # type: ignore[assignment]
    return Event(start, end, kw, direction, price_per_kwh)
