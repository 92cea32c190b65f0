"""From OpenADR 3 events to grid signals on a vgi time grid, and from metered energy to USAGE reports.

Pure functions: no clock (``now`` is an argument), no network. :func:`grid_signals` is what the aggregator's
planner reads; :func:`usage_report` is what the VEN posts back.

Rules (3.1.0 User Guide, sections 7.1 and 7.3):

- Only events of the joined programmes count, and only those that have not transpired (lifespan ends after now).
- Interval timing is :func:`vgi.service.openadr.timing.event_spans` (starts, durations, randomizeStart, repeats).
- A payload with n values (PRICE, EXPORT_PRICE ... packed "compact" intervals) splits its interval into n equal
  sub-intervals.
- Where events overlap with the same payload type, the one with the highest priority (lowest number; no priority
  ranks below every number) wins the step; between equal priorities, the most recently modified (then the smaller
  id) wins, since the spec leaves that case open.
- Within a step, the winning event's values are combined over the part of the step it covers: prices and the
  dispatch setpoint by time-weighted mean, capacity limits by their minimum (the strictest), SIMPLE by its
  maximum. Steps no event speaks for are NaN.
- Units: power in ``KW`` (also ``W`` and ``MW``, converted; no units read as KW); prices per ``KWH`` (``MWH``
  converted; no units read as per kWh), in the currency of the payload descriptor (event, else programme).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from vgi.errors import VgiError
from vgi.model.timegrid import TimeGrid
from vgi.service.openadr.models import (
    Event,
    EventPayloadDescriptor,
    Interval,
    IntervalPeriod,
    Program,
    Report,
    ReportPayloadDescriptor,
    ReportResource,
    ValuesMap,
)
from vgi.service.openadr.timing import event_end_s, event_spans, format_datetime, format_duration, parse_datetime

__all__ = ["SIGNAL_PAYLOADS", "GridSignals", "grid_signals", "usage_report"]

#: Payload type -> (GridSignals field, how values in one step combine, kind of unit).
SIGNAL_PAYLOADS: dict[str, tuple[str, str, str]] = {
    "PRICE": ("import_price_per_kwh", "mean", "price"),
    "EXPORT_PRICE": ("export_price_per_kwh", "mean", "price"),
    "IMPORT_CAPACITY_LIMIT": ("import_limit_kw", "min", "power"),
    "EXPORT_CAPACITY_LIMIT": ("export_limit_kw", "min", "power"),
    "DISPATCH_SETPOINT": ("dispatch_setpoint_kw", "mean", "power"),
    "SIMPLE": ("simple_level", "max", "level"),
}

_POWER_FACTOR_TO_KW: dict[str | None, float] = {None: 1.0, "KW": 1.0, "W": 1e-3, "MW": 1e3}
_PRICE_FACTOR_TO_PER_KWH: dict[str | None, float] = {None: 1.0, "KWH": 1.0, "MWH": 1e-3, "WH": 1e3}


@dataclass(frozen=True)
class GridSignals:
    """Grid signals per step of ``grid`` (NaN where no event says anything).

    Attributes:
        grid: the time grid the arrays follow.
        import_price_per_kwh: PRICE, in ``currency`` per kWh.
        export_price_per_kwh: EXPORT_PRICE, in ``currency`` per kWh.
        import_limit_kw: IMPORT_CAPACITY_LIMIT, kW (site import at most this).
        export_limit_kw: EXPORT_CAPACITY_LIMIT, kW (site export at most this).
        dispatch_setpoint_kw: DISPATCH_SETPOINT, kW of consumption asked for.
        simple_level: SIMPLE level 0-3.
        currency: currency of the prices (None when no price or no currency given).
        event_ids: the events that speak for at least one step.
        source: per signal field, the index into ``event_ids`` of the event that set each step (-1: none).
    """

    grid: TimeGrid
    import_price_per_kwh: np.ndarray
    export_price_per_kwh: np.ndarray
    import_limit_kw: np.ndarray
    export_limit_kw: np.ndarray
    dispatch_setpoint_kw: np.ndarray
    simple_level: np.ndarray
    currency: str | None = None
    event_ids: tuple[str, ...] = ()
    source: Mapping[str, np.ndarray] = field(default_factory=dict)

    def event_of(self, signal: str) -> list[str | None]:
        """For one signal field, the id of the event that set each step (None where none did)."""
        return [self.event_ids[i] if i >= 0 else None for i in self.source[signal]]


def _descriptor(
    payload_type: str, event: Event, program: Program | None
) -> EventPayloadDescriptor | None:
    for owner in (event, program):
        for d in (owner.payload_descriptors or ()) if owner is not None else ():
            if isinstance(d, EventPayloadDescriptor) and d.payload_type == payload_type:
                return d
    return None


def _factor(payload_type: str, kind: str, descriptor: EventPayloadDescriptor | None, name: str) -> float:
    units = None if descriptor is None or descriptor.units is None else descriptor.units.upper()
    table: dict[str | None, float] = (
        _POWER_FACTOR_TO_KW if kind == "power" else _PRICE_FACTOR_TO_PER_KWH if kind == "price" else {None: 1.0}
    )
    if units not in table:
        raise VgiError(f"{name}: {payload_type} in units '{descriptor.units if descriptor else ''}' is not supported"
                       f" (expected {', '.join(str(u) for u in table if u)})")
    return table[units]


def _numbers(values: ValuesMap, name: str, minimum: float | None) -> list[float]:
    out = []
    for v in values.values:
        if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(float(v)):
            raise VgiError(f"{name}: {values.type} value {v!r} is not a finite number")
        if minimum is not None and float(v) < minimum:
            raise VgiError(f"{name}: {values.type} value {v} is below {minimum:g}")
        out.append(float(v))
    return out


def grid_signals(
    events: Iterable[Event],
    grid: TimeGrid,
    now: pd.Timestamp,
    program_ids: Iterable[str] | None = None,
    programs: Sequence[Program] = (),
    randomize: Mapping[str, float] | None = None,
) -> GridSignals:
    """The signals of the active ``events`` of the joined programmes (``program_ids``; None: all) on ``grid``.

    ``programs`` give payload descriptors an event lacks; ``randomize`` maps an event id to its randomizeStart
    fraction in [-1, 1] (drawn by the caller; absent: no shift).
    """
    now_ts = pd.Timestamp(now)
    if now_ts.tzinfo is None:
        raise VgiError("now must be tz-aware")
    now_s = now_ts.timestamp()
    joined = None if program_ids is None else set(program_ids)
    by_program = {p.id: p for p in programs if p.id}
    n = grid.n_steps
    step_s = grid.step_minutes * 60.0
    starts = grid.epoch_seconds.astype(np.float64)
    ends = starts + step_s
    grid_end_s = float(ends[-1]) if n else now_s

    fields = [f for f, _, _ in SIGNAL_PAYLOADS.values()]
    values = {f: np.full(n, np.nan) for f in fields}
    rank_best: dict[str, list[tuple[float, float, str] | None]] = {f: [None] * n for f in fields}
    source = {f: np.full(n, -1, dtype=np.int64) for f in fields}
    event_ids: list[str] = []
    currencies: set[str] = set()

    for event in events:
        if joined is not None and event.program_id not in joined:
            continue
        if event_end_s(event, now_s) <= now_s:
            continue
        name = f"event {event.id or event.event_name or '?'}"
        shift = (randomize or {}).get(event.id or "", 0.0)
        spans = event_spans(event, now_s, shift, until_s=grid_end_s)
        program = by_program.get(event.program_id)
        modified = parse_datetime(event.modification_date_time) if event.modification_date_time else -math.inf
        rank = (float(event.priority) if event.priority is not None else math.inf, -modified, event.id or "")
        # per signal: weighted sum, covered seconds, min, max over this event's pieces
        acc: dict[str, list[np.ndarray]] = {}
        for span in spans:
            for payload in span.payloads:
                if payload.type not in SIGNAL_PAYLOADS:
                    continue
                target, _, kind = SIGNAL_PAYLOADS[payload.type]
                descriptor = _descriptor(payload.type, event, program)
                factor = _factor(payload.type, kind, descriptor, name)
                if kind == "price" and descriptor is not None and descriptor.currency:
                    currencies.add(descriptor.currency)
                minimum = 0.0 if kind == "power" and payload.type != "DISPATCH_SETPOINT" else None
                numbers = _numbers(payload, name, minimum)
                if kind == "level" and any(v not in (0.0, 1.0, 2.0, 3.0) for v in numbers):
                    raise VgiError(f"{name}: SIMPLE level {numbers} is not 0, 1, 2 or 3")
                if not numbers:
                    raise VgiError(f"{name}, interval {span.interval_id}: {payload.type} has no value")
                if len(numbers) > 1 and not math.isfinite(span.end_s - span.start_s):
                    raise VgiError(f"{name}, interval {span.interval_id}: {len(numbers)} values in an endless interval")
                piece_s = (span.end_s - span.start_s) / len(numbers)
                if target not in acc:
                    acc[target] = [np.zeros(n), np.zeros(n), np.full(n, np.inf), np.full(n, -np.inf)]
                wsum, covered, low, high = acc[target]
                for k, number in enumerate(numbers):
                    a = span.start_s + k * piece_s if k else span.start_s
                    b = span.end_s if k == len(numbers) - 1 else a + piece_s
                    overlap = np.clip(np.minimum(ends, b) - np.maximum(starts, a), 0.0, None)
                    hit = overlap > 0
                    wsum += overlap * number * factor
                    covered += overlap
                    low[hit] = np.minimum(low[hit], number * factor)
                    high[hit] = np.maximum(high[hit], number * factor)
        for target, (wsum, covered, low, high) in acc.items():
            how = next(h for f, h, _ in SIGNAL_PAYLOADS.values() if f == target)
            value = wsum / np.where(covered > 0, covered, 1.0) if how == "mean" else low if how == "min" else high
            best = rank_best[target]
            for i in np.flatnonzero(covered > 0):
                if best[i] is None or rank < best[i]:  # type: ignore[operator]
                    best[i] = rank
                    values[target][i] = value[i]
                    if event.id not in event_ids:
                        event_ids.append(event.id or "")
                    source[target][i] = event_ids.index(event.id or "")

    if len(currencies) > 1:
        raise VgiError(f"events price in more than one currency: {', '.join(sorted(currencies))}")
    used = sorted({int(i) for f in fields for i in source[f] if i >= 0})
    remap = np.full(len(event_ids) + 1, -1, dtype=np.int64)
    for new, old in enumerate(used):
        remap[old] = new
    return GridSignals(
        grid=grid,
        currency=next(iter(currencies), None),
        event_ids=tuple(event_ids[i] for i in used),
        source={f: remap[source[f]] for f in fields},
        **values,
    )


def usage_report(
    grid: TimeGrid,
    event_id: str,
    client_name: str,
    resource_name: str = "AGGREGATED_REPORT",
    energy_kwh: Sequence[float] | np.ndarray | None = None,
    power_kw: Sequence[float] | np.ndarray | None = None,
    program_id: str | None = None,
    report_name: str | None = None,
    reading_type: str = "DIRECT_READ",
) -> Report:
    """A USAGE report: one interval per step of ``grid`` with the energy used in it (kWh).

    Give either ``energy_kwh`` per step or ``power_kw`` per step (mean power; energy = power x step hours).
    ``program_id`` is for 3.0.1 VTNs, which require it. Non-finite readings are refused, not skipped.
    """
    if (energy_kwh is None) == (power_kw is None):
        raise VgiError("give either energy_kwh or power_kw for a usage report")
    series = np.asarray(energy_kwh if energy_kwh is not None else power_kw, dtype=np.float64)
    if power_kw is not None:
        series = series * grid.step_hours
    if series.shape != (grid.n_steps,):
        raise VgiError(f"usage series has {series.size} values for {grid.n_steps} steps")
    bad = np.flatnonzero(~np.isfinite(series))
    if bad.size:
        raise VgiError(f"usage series: step {int(bad[0])} is not a finite number")
    step = format_duration(grid.step_minutes * 60)
    intervals = tuple(
        Interval(
            id=i,
            interval_period=IntervalPeriod(start=format_datetime(float(t)), duration=step),
            payloads=(ValuesMap(type="USAGE", values=(float(v),)),),
        )
        for i, (t, v) in enumerate(zip(grid.epoch_seconds, series, strict=True))
    )
    return Report(
        event_id=event_id,
        client_name=client_name,
        program_id=program_id,
        report_name=report_name,
        payload_descriptors=(
            ReportPayloadDescriptor(
                object_type="REPORT_PAYLOAD_DESCRIPTOR", payload_type="USAGE", reading_type=reading_type, units="KWH"
            ),
        ),
        resources=(ReportResource(resource_name=resource_name, intervals=intervals),),
    )
