"""OpenADR 3 timing: RFC 3339 instants, ISO 8601 durations and where an event's intervals lie in time.

Pure functions (no clock: ``now`` is an argument). Instants are float seconds since 1970-01-01 UTC; ``inf`` is an
open end. The rules follow the 3.1.0 User Guide, section 7.3:

- a start of ``0001-01-01`` (the beginning of time) means: for the event's intervalPeriod, "now"; for the first
  interval, the event's start if there is one, else now; for later intervals, right after the previous one;
- an interval without a start follows the previous interval; the first takes the event's start (else now);
- an interval without a duration takes the event's duration; ``P9999Y`` (or more years) is infinity;
- ``randomizeStart`` shifts the first interval and every interval that follows it by one amount within
  ``±|randomizeStart|``; an interval with its own absolute start keeps the same shift unless it carries its own
  randomizeStart, which then sets the shift from there on. The caller draws the fraction (``randomize`` in
  [-1, 1]) so the function stays deterministic;
- ``event.duration`` (other than the default ``PT0S``) cuts the intervals short, or repeats them (the set of
  intervals as one period) until it ends; ``P9999Y`` repeats them for ever.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from dataclasses import dataclass
from typing import Any

import pandas as pd

from vgi.errors import VgiError

__all__ = [
    "INFINITE_YEARS",
    "Duration",
    "IntervalSpan",
    "add_duration",
    "check_datetime",
    "check_duration",
    "event_end_s",
    "event_spans",
    "format_datetime",
    "format_duration",
    "is_beginning_of_time",
    "parse_datetime",
    "parse_duration",
]

#: A duration of this many years or more is "infinity" (the spec's ``P9999Y``).
INFINITE_YEARS = 9999

_DURATION = re.compile(
    r"^(?P<sign>[-+]?)P(?=\d|T\d)(?:(?P<years>\d+)Y)?(?:(?P<months>\d+)M)?(?:(?P<weeks>\d+)W)?(?:(?P<days>\d+)D)?"
    r"(?:T(?=\d)(?:(?P<hours>\d+)H)?(?:(?P<minutes>\d+)M)?(?:(?P<seconds>\d+(?:\.\d+)?)S)?)?$"
)


@dataclass(frozen=True)
class Duration:
    """An ISO 8601 duration split into calendar (years, months) and exact (seconds) parts."""

    negative: bool
    years: int
    months: int
    seconds: float

    @property
    def infinite(self) -> bool:
        """True for ``P9999Y`` and longer."""
        return self.years >= INFINITE_YEARS

    def exact_seconds(self) -> float:
        """Length in seconds when there are no years or months (randomizeStart, time-zone offsets)."""
        if self.years or self.months:
            raise VgiError("a duration with years or months has no fixed length in seconds")
        return -self.seconds if self.negative else self.seconds


def parse_duration(text: str) -> Duration:
    """Parse an ISO 8601 duration such as ``PT1H``, ``P1DT12H``, ``PT0.5S``, ``P9999Y`` or ``-PT30M``."""
    match = _DURATION.match(str(text).strip())
    if match is None:
        raise VgiError(f"'{text}' is not an ISO 8601 duration (such as PT1H or P1D)")
    part = {k: v for k, v in match.groupdict().items() if k != "sign"}
    seconds = (
        int(part["weeks"] or 0) * 7 * 86400
        + int(part["days"] or 0) * 86400
        + int(part["hours"] or 0) * 3600
        + int(part["minutes"] or 0) * 60
        + float(part["seconds"] or 0.0)
    )
    return Duration(match["sign"] == "-", int(part["years"] or 0), int(part["months"] or 0), seconds)


def check_duration(text: str) -> str:
    """Pydantic check of a duration field: the text itself, or a ``ValueError`` saying what is wrong."""
    try:
        parse_duration(text)
    except VgiError as exc:
        raise ValueError(str(exc)) from exc
    return text


def format_duration(seconds: float) -> str:
    """An exact number of seconds as an ISO 8601 duration (``PT15M``, ``PT1H``, ``P1D``, ``PT0S``)."""
    if seconds < 0 or not math.isfinite(seconds):
        raise VgiError(f"cannot write {seconds} s as a duration")
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    text = "P" + (f"{int(days)}D" if days else "")
    clock = (f"{int(hours)}H" if hours else "") + (f"{int(minutes)}M" if minutes else "")
    if secs:
        clock += f"{secs:g}S"
    if clock:
        text += "T" + clock
    return text if text != "P" else "PT0S"


def is_beginning_of_time(text: str) -> bool:
    """True for the spec's "beginning of time" start (``0001-01-01``, ``0001-01-01T00:00:00`` ...)."""
    return str(text).strip().startswith(("0001-01-01", "0000-"))


def parse_datetime(text: str) -> float:
    """Seconds since 1970-01-01 UTC of an RFC 3339 date-time; a time without offset is read as UTC."""
    raw = str(text).strip()
    if is_beginning_of_time(raw):
        return -math.inf
    try:
        stamp = dt.datetime.fromisoformat(raw.replace("z", "Z").replace("Z", "+00:00"))
    except ValueError as exc:
        raise VgiError(f"'{text}' is not an RFC 3339 date-time (such as 2026-07-01T14:00:00Z)") from exc
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=dt.UTC)
    return stamp.timestamp()


def check_datetime(text: str) -> str:
    """Pydantic check of a date-time field: the text itself, or a ``ValueError`` saying what is wrong."""
    try:
        parse_datetime(text)
    except VgiError as exc:
        raise ValueError(str(exc)) from exc
    return text


def format_datetime(seconds: float | pd.Timestamp | dt.datetime) -> str:
    """An instant as RFC 3339 in UTC with a ``Z`` (``2026-07-01T14:00:00Z``; milliseconds when not whole)."""
    if isinstance(seconds, pd.Timestamp | dt.datetime):
        stamp = pd.Timestamp(seconds)
        if stamp.tzinfo is None:
            raise VgiError(f"time {seconds} has no time zone")
        value = stamp.tz_convert("UTC")
    else:
        value = pd.Timestamp(float(seconds), unit="s", tz="UTC")
    if value.microsecond or value.nanosecond:
        return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


def add_duration(start_s: float, duration: Duration) -> float:
    """The instant ``duration`` after (before, when negative) ``start_s``; ``inf`` for an infinite duration."""
    if duration.infinite:
        return math.inf
    if not math.isfinite(start_s):
        return start_s
    sign = -1 if duration.negative else 1
    if duration.years or duration.months:
        stamp = pd.Timestamp(start_s, unit="s", tz="UTC") + sign * pd.DateOffset(
            years=duration.years, months=duration.months
        )
        start_s = stamp.timestamp()
    return start_s + sign * duration.seconds


@dataclass(frozen=True)
class IntervalSpan:
    """Where one interval of an event lies: ``[start_s, end_s)`` in UTC seconds (``end_s`` may be ``inf``)."""

    interval_id: int
    start_s: float
    end_s: float
    payloads: tuple[Any, ...]


def _get(obj: Any, name: str) -> Any:
    return None if obj is None else getattr(obj, name, None)


def event_spans(event: Any, now_s: float, randomize: float = 0.0, until_s: float = math.inf) -> list[IntervalSpan]:
    """The intervals of ``event`` (a :class:`~vgi.service.openadr.models.Event`) placed in time.

    ``now_s`` replaces a "beginning of time" or missing start; ``randomize`` in [-1, 1] is the fraction of each
    randomizeStart to shift by; repeats asked for by ``event.duration`` stop at ``until_s`` (a grid's end).
    """
    if not -1.0 <= randomize <= 1.0:
        raise VgiError(f"randomize fraction {randomize} is outside [-1, 1]")
    name = f"event {event.id or event.event_name or '?'}"
    default = event.interval_period
    default_start_text = _get(default, "start")
    if default_start_text is None or is_beginning_of_time(default_start_text):
        default_start = None if default_start_text is None else now_s
    else:
        default_start = parse_datetime(default_start_text)
    default_duration = _get(default, "duration")
    shift = 0.0
    if _get(default, "randomize_start"):
        shift = randomize * abs(parse_duration(default.randomize_start).exact_seconds())

    spans: list[IntervalSpan] = []
    cursor: float | None = None
    for interval in event.intervals:
        period = interval.interval_period
        if _get(period, "randomize_start"):
            shift = randomize * abs(parse_duration(period.randomize_start).exact_seconds())
        start_text = _get(period, "start")
        if start_text is None or is_beginning_of_time(start_text):
            if cursor is None:
                start = (default_start if default_start is not None else now_s) + shift
            else:
                start = cursor
        else:
            start = parse_datetime(start_text) + shift
        duration_text = _get(period, "duration") or default_duration
        if duration_text is None:
            raise VgiError(f"{name}, interval {interval.id}: no duration (not in the interval, not in the event)")
        end = add_duration(start, parse_duration(duration_text))
        if end < start:
            raise VgiError(f"{name}, interval {interval.id}: negative duration '{duration_text}'")
        spans.append(IntervalSpan(interval.id, start, end, tuple(interval.payloads)))
        cursor = end

    if not spans or event.duration is None:
        return spans
    event_duration = parse_duration(event.duration)
    if not event_duration.infinite and not event_duration.years and not event_duration.months and (
        event_duration.seconds == 0
    ):
        return spans  # PT0S is the schema's default: no duration given
    first = min(s.start_s for s in spans)
    event_end = add_duration(first, event_duration)
    last = max(s.end_s for s in spans)
    period_s = last - first
    repeated = list(spans)
    stop = min(event_end, until_s)
    if math.isfinite(period_s) and period_s > 0 and event_end > last and math.isfinite(stop):
        k = 1
        while first + k * period_s < stop:
            repeated.extend(
                IntervalSpan(s.interval_id, s.start_s + k * period_s, s.end_s + k * period_s, s.payloads)
                for s in spans
            )
            k += 1
    return [
        IntervalSpan(s.interval_id, s.start_s, min(s.end_s, event_end), s.payloads)
        for s in repeated
        if s.start_s < event_end
    ]


def event_end_s(event: Any, now_s: float) -> float:
    """When ``event``'s lifespan ends (UTC seconds, ``inf`` for an open end); ``-inf`` for no intervals."""
    spans = event_spans(event, now_s)
    if not spans:
        return -math.inf
    last = max(s.end_s for s in spans)
    if event.duration is None:
        return last
    duration = parse_duration(event.duration)
    if duration.infinite:
        return math.inf
    if not duration.years and not duration.months and duration.seconds == 0:
        return last
    return add_duration(min(s.start_s for s in spans), duration)
