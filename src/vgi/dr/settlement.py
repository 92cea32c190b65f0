"""Settlement: measured response against the baseline, payments and penalties, and who gets what.

The core, :func:`settle_arrays`, works on arrays over the event window so that a scenario runner can call it
without files; :func:`settle_event` adds the baseline from a metered history; :func:`settle_fleet` settles a
dispatched fleet and splits the money between the aggregator and the drivers, with each driver's bill change and
battery wear.

Rules, per settlement period ``p`` of the programme (``Timing.settlement_period_minutes``), energy in kWh:

* response ``r_p = sum_t s * (baseline_t - metered_t) * dt`` with ``s = +1`` for ``down`` and ``-1`` for ``up``;
  where the programme does not count exports (``export_counts: false``) metered export is taken as zero load;
* committed ``c_p = committed_kw_p * period hours``; performance ``r_p / c_p``;
* energy paid ``q_p = min(max(r_p, 0), c_p * over_delivery_paid_up_to)``, zero when the performance is below
  ``min_performance_paid``; a kWh already paid by a scheme the programme excludes (double compensation, CAISO DERA
  vs retail DR) is removed from ``q_p`` (:class:`CompensationLedger`);
* energy payment ``q_p * price_p``, where ``price_p`` is the programme's price rule applied to the event's price;
* under-delivery, by ``Penalties.under_rule``:
  ``threshold_factor``: ``max(0, c_p * threshold - r_p) * price * factor`` (Guangdong's R1/M formula);
  ``non_delivery``: the committed (accepted) volume is paid, and the shortfall ``max(0, c_p - r_p)`` pays a
  non-delivery charge ``max(0, price - imbalance price)`` per kWh plus its imbalance cost at the imbalance price (GB
  BSC Section T; with no imbalance price given it is taken equal to the energy price, so only delivered kWh earn);
  ``fixed_rate``: ``max(0, c_p * threshold - r_p) * under_price_per_kwh``;
* over-delivery: ``max(0, r_p - c_p * over_penalty_threshold) * over_penalty_per_kwh``;
* per event: ``per_event`` when the event's overall performance reaches ``min_performance_paid``;
* capacity: ``capacity_per_kw_month * kW * months`` (``uncalled`` basis: the kW not called), scaled by the
  performance (at most 1) where ``capacity_performance_scaled``, forfeited below ``capacity_clawback_below``;
  availability: ``availability_per_kw_hour * kW-hours made available``.

Money is in the programme's currency; positive amounts are paid to the aggregator, penalties are listed as
positive amounts and subtracted in ``net``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from vgi.dr.baselines import BaselineResult, baseline_for, baseline_timezone, check_history
from vgi.dr.events import Direction, Event, event_days
from vgi.dr.programmes import Programme, get_programme
from vgi.errors import VgiError

if TYPE_CHECKING:
    from vgi.model.tariffs import Tariff
    from vgi.schedule.problem import Schedule

__all__ = [
    "CompensationLedger",
    "DriverSplit",
    "Settlement",
    "capacity_payment",
    "conflicts",
    "settle_arrays",
    "settle_event",
    "settle_events",
    "settle_fleet",
]


# ----------------------------------------------------------------------------------------------- double compensation


def conflicts(a: Programme, b: Programme) -> bool:
    """Whether ``a`` and ``b`` may not both pay for the same kWh (either names the other's id, level or kind in
    ``eligibility.exclusive_with``)."""

    def names(p: Programme) -> set[str]:
        return {p.id, p.level, p.kind}

    return bool(set(a.eligibility.exclusive_with) & names(b)) or bool(set(b.eligibility.exclusive_with) & names(a))


class CompensationLedger:
    """kWh already paid per resource and time interval, and by which programme.

    A programme settled later gets nothing for a kWh that a conflicting programme (:func:`conflicts`) already paid
    for the same resource and time: nothing is paid twice for the same kWh.  Paid kWh are kept with the interval
    they were measured over, so programmes metered at different steps (an hourly retail programme and a 15-minute
    wholesale one) are compared by time overlap: a kWh paid over an interval counts, spread evenly, against each
    later step by the share of the interval that step covers.
    """

    def __init__(self) -> None:
        # resource -> (programme, start ns, end ns, kWh)
        self._paid: dict[str, list[tuple[Programme, int, int, float]]] = defaultdict(list)

    @staticmethod
    def _bounds(step_starts: pd.DatetimeIndex, step_hours: float | None) -> tuple[np.ndarray, np.ndarray]:
        starts = pd.DatetimeIndex(step_starts).as_unit("ns").asi8.astype(np.int64)
        if step_hours is None:
            if len(starts) < 2:
                raise VgiError("the ledger needs step_hours for a single step")
            step_ns = int(np.min(np.diff(starts)))
        else:
            step_ns = round(step_hours * 3600e9)
        return starts, starts + step_ns

    def already_paid(self, programme: Programme, resource: str, step_starts: pd.DatetimeIndex,
                     step_hours: float | None = None) -> np.ndarray:
        """kWh per step paid to programmes that conflict with ``programme`` (time-overlap pro rata)."""
        starts, ends = self._bounds(step_starts, step_hours)
        out = np.zeros(len(starts))
        for other, a, b, kwh in self._paid.get(resource, []):
            if not conflicts(programme, other) or b <= a:
                continue
            overlap = np.clip(np.minimum(ends, b) - np.maximum(starts, a), 0, None)
            out += kwh * overlap / (b - a)
        return out

    def record(self, programme: Programme, resource: str, step_starts: pd.DatetimeIndex, kwh: np.ndarray,
               step_hours: float | None = None) -> None:
        """Record ``kwh`` (one value per step) paid by ``programme`` for ``resource``."""
        starts, ends = self._bounds(step_starts, step_hours)
        for a, b, value in zip(starts, ends, np.asarray(kwh, dtype=float), strict=True):
            if value > 0:
                self._paid[resource].append((programme, int(a), int(b), float(value)))

    def total_paid_kwh(self, resource: str | None = None) -> float:
        return float(sum(kwh for res, items in self._paid.items() if resource in (None, res)
                         for _, _, _, kwh in items))


# ----------------------------------------------------------------------------------------------- results


@dataclass(frozen=True, eq=False)
class DriverSplit:
    """Each session's part of a settlement (one row per session in ``table``).

    Columns: ``session_id``, ``response_kwh`` (its response against its own counterfactual),
    ``revenue`` (its share of the drivers' pot), ``discharged_kwh`` (battery side), ``wear_cost``,
    ``bill_controlled``, ``bill_baseline``, ``bill_change`` (controlled - baseline; negative = saving), and
    ``net_benefit`` = revenue - wear_cost - bill_change.
    """

    table: pd.DataFrame
    driver_pot: float
    aggregator_revenue: float
    total_wear_cost: float


@dataclass(frozen=True, eq=False)
class Settlement:
    """The settlement of one event (see the module docstring for the rules).

    ``periods`` has one row per settlement period: ``period_start``, ``hours``, ``baseline_kwh``, ``metered_kwh``,
    ``response_kwh``, ``committed_kwh``, ``performance``, ``valid``, ``paid_kwh``, ``excluded_kwh`` (removed as
    already paid elsewhere), ``price_per_kwh``, ``energy_payment``, ``under_penalty``, ``imbalance_cost``,
    ``over_penalty``.
    """

    programme_id: str
    currency: str
    event_id: str
    direction: Direction
    periods: pd.DataFrame
    energy_payment: float
    under_penalty: float
    imbalance_cost: float
    over_penalty: float
    event_payment: float
    capacity_payment: float
    availability_payment: float
    response_kwh: float
    committed_kwh: float | None
    paid_kwh: float
    excluded_kwh: float
    baseline: BaselineResult | None = None
    drivers: DriverSplit | None = None
    notes: tuple[str, ...] = ()
    step_response_kw: pd.Series | None = field(default=None, repr=False)

    @property
    def payments(self) -> float:
        return self.energy_payment + self.event_payment + self.capacity_payment + self.availability_payment

    @property
    def penalties(self) -> float:
        return self.under_penalty + self.imbalance_cost + self.over_penalty

    @property
    def net(self) -> float:
        """Payments minus penalties, in the programme's currency."""
        return self.payments - self.penalties

    @property
    def performance(self) -> float | None:
        if not self.committed_kwh:
            return None
        return self.response_kwh / self.committed_kwh

    @property
    def shortfall_kwh(self) -> float:
        """Committed energy not delivered (0 without a commitment)."""
        if self.committed_kwh is None:
            return 0.0
        return float(np.clip(self.periods["committed_kwh"] - self.periods["response_kwh"], 0.0, None).sum())

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "programme": self.programme_id,
            "event": self.event_id,
            "direction": self.direction,
            "currency": self.currency,
            "response_kwh": self.response_kwh,
            "committed_kwh": self.committed_kwh,
            "performance": self.performance,
            "shortfall_kwh": self.shortfall_kwh,
            "paid_kwh": self.paid_kwh,
            "excluded_kwh": self.excluded_kwh,
            "energy_payment": self.energy_payment,
            "event_payment": self.event_payment,
            "capacity_payment": self.capacity_payment,
            "availability_payment": self.availability_payment,
            "under_penalty": self.under_penalty,
            "imbalance_cost": self.imbalance_cost,
            "over_penalty": self.over_penalty,
            "net": self.net,
            "notes": list(self.notes),
            "periods": [
                {k: (v.isoformat() if isinstance(v, pd.Timestamp) else v) for k, v in row.items()}
                for row in self.periods.to_dict(orient="records")
            ],
        }
        if self.baseline is not None:
            out["baseline"] = {k: v for k, v in self.baseline.to_dict().items() if k != "baseline_kw"}
        if self.drivers is not None:
            out["drivers"] = {
                "driver_pot": self.drivers.driver_pot,
                "aggregator_revenue": self.drivers.aggregator_revenue,
                "total_wear_cost": self.drivers.total_wear_cost,
                "sessions": self.drivers.table.to_dict(orient="records"),
            }
        return out


# ----------------------------------------------------------------------------------------------- capacity


def capacity_payment(
    programme: Programme,
    contracted_kw: float,
    months: float = 1.0,
    called_kw: float = 0.0,
    performance: float | None = None,
) -> float:
    """Capacity payment for ``months`` months: ``capacity_per_kw_month x kW x months``.

    With ``capacity_basis: uncalled`` only ``contracted_kw - called_kw`` earns it (Hainan).  ``performance`` (the
    month's delivered / committed) scales it where ``capacity_performance_scaled`` and forfeits it below
    ``capacity_clawback_below``.
    """
    pay = programme.payments
    if pay.capacity_per_kw_month == 0 or contracted_kw <= 0:
        return 0.0
    kw = contracted_kw
    if pay.capacity_basis == "uncalled":
        kw = max(0.0, contracted_kw - called_kw)
    amount = pay.capacity_per_kw_month * kw * months
    if performance is not None:
        clawback = programme.penalties.capacity_clawback_below
        if clawback is not None and performance < clawback:
            return 0.0
        if pay.capacity_performance_scaled:
            amount *= min(1.0, max(0.0, performance))
    return float(amount)


# ----------------------------------------------------------------------------------------------- core


def _period_ids(step_starts: pd.DatetimeIndex, period_minutes: int, timezone: str) -> tuple[np.ndarray, list]:
    """Settlement period of each step (periods aligned to local clock multiples of ``period_minutes``)."""
    local = step_starts.tz_convert(timezone)
    offset = np.array([pd.Timestamp(t).utcoffset().total_seconds() for t in local])  # type: ignore[union-attr]
    secs = step_starts.as_unit("ns").asi8 // 1_000_000_000 + offset.astype(np.int64)
    key = secs // (period_minutes * 60)
    uniq, inverse = np.unique(key, return_inverse=True)
    first_steps = [int(np.flatnonzero(inverse == i)[0]) for i in range(len(uniq))]
    return inverse, [step_starts[i] for i in first_steps]


def settle_arrays(
    programme: Programme | str,
    step_starts: pd.DatetimeIndex,
    baseline_kw: np.ndarray | Sequence[float],
    metered_kw: np.ndarray | Sequence[float],
    step_hours: float,
    committed_kw: float | Sequence[float] | np.ndarray | None,
    *,
    direction: Direction = "down",
    price_per_kwh: float | None = None,
    imbalance_price_per_kwh: float | None = None,
    event_id: str = "event",
    ledger: CompensationLedger | None = None,
    resource: str = "aggregate",
    capacity_kw: float = 0.0,
    capacity_months: float = 0.0,
    called_kw: float = 0.0,
    availability_kw_hours: float = 0.0,
    baseline: BaselineResult | None = None,
    step_fraction: np.ndarray | Sequence[float] | None = None,
) -> Settlement:
    """Settle an event from arrays over its window (the scenario runner's entry point).

    Args:
        programme: a :class:`Programme` or its id.
        step_starts: tz-aware starts of the window's metering steps (length W).
        baseline_kw, metered_kw: baseline and metered power per step, kW (positive import).
        step_hours: length of a metering step, hours.
        committed_kw: committed response, kW: one number, one value per settlement period, or None when the
            programme pays any response without a commitment (retail DR).
        direction: ``down`` or ``up``.
        price_per_kwh: the event's clearing or offer price (programme rules cap and floor it).
        imbalance_price_per_kwh: price of the shortfall under the ``non_delivery`` rule (default: the energy price).
        ledger / resource: double-compensation ledger and the resource (meter) id under which kWh are recorded.
        capacity_kw / capacity_months / called_kw: the capacity line (see :func:`capacity_payment`).
        availability_kw_hours: kW x hours made available, for availability payments.
        baseline: the baseline's details, kept in the result.
        step_fraction: share of each metering step inside the event (default 1): an event that starts or ends
            inside a step counts that step's response, baseline and metered energy, and its committed energy, only
            for the part of the step inside the event (average power assumed flat within a step).
    """
    prog = get_programme(programme) if isinstance(programme, str) else programme
    idx = pd.DatetimeIndex(step_starts)
    if idx.tz is None:
        raise VgiError("settlement steps must be tz-aware")
    base = np.asarray(baseline_kw, dtype=float)
    meter = np.asarray(metered_kw, dtype=float)
    if base.shape != (len(idx),) or meter.shape != (len(idx),):
        raise VgiError(f"baseline ({base.size}) and metered ({meter.size}) must have one value per step ({len(idx)})")
    for name, arr in (("baseline", base), ("metered", meter)):
        if not np.isfinite(arr).all():
            raise VgiError(f"{name} power is missing at {idx[int(np.flatnonzero(~np.isfinite(arr))[0])]}")
    if direction not in prog.directions:
        raise VgiError(f"programme {prog.id} buys {prog.direction} responses, not '{direction}'")
    if step_fraction is None:
        frac = np.ones(len(idx))
    else:
        frac = np.asarray(step_fraction, dtype=float)
        if frac.shape != (len(idx),) or not np.isfinite(frac).all() or (frac < 0).any() or (frac > 1).any():
            raise VgiError(f"step_fraction needs {len(idx)} values in [0, 1]")
    notes: list[str] = []
    if (frac < 1).any():
        notes.append("the event starts or ends inside a metering step: those steps count pro rata")
    sign = 1.0 if direction == "down" else -1.0
    meter_eff = meter if prog.export_counts or direction == "up" else np.maximum(meter, 0.0)
    if not prog.export_counts and direction == "down" and (meter < 0).any():
        notes.append("metered export does not count towards the response in this programme (taken as zero load)")
    step_response_kwh = sign * (base - meter_eff) * step_hours * frac

    period_minutes = prog.timing.settlement_period_minutes
    step_minutes = step_hours * 60.0
    if step_minutes > period_minutes + 1e-9:
        raise VgiError(
            f"metering step of {step_minutes:g} min is longer than {prog.id}'s settlement period of "
            f"{period_minutes} min"
        )
    pid, pstarts = _period_ids(idx, period_minutes, prog.timezone)
    n_p = len(pstarts)
    hours = np.bincount(pid, weights=frac, minlength=n_p) * step_hours
    if np.any(np.abs(hours * 60 - period_minutes) > 1e-6):
        notes.append("the event window covers part of a settlement period; committed energy is prorated")
    resp = np.bincount(pid, weights=step_response_kwh, minlength=n_p)
    base_kwh = np.bincount(pid, weights=base * step_hours * frac, minlength=n_p)
    meter_kwh = np.bincount(pid, weights=meter * step_hours * frac, minlength=n_p)

    pen = prog.penalties
    rule = prog.payments.energy_rule(direction)
    if rule is None:
        notes.append(f"{prog.id} pays nothing per kWh for a '{direction}' response")
        price = 0.0
    else:
        price = rule.price(price_per_kwh)
    imb = price if imbalance_price_per_kwh is None else float(imbalance_price_per_kwh)

    if committed_kw is None:
        committed = None
        perf = np.full(n_p, np.nan)
        valid = np.ones(n_p, dtype=bool)
        paid = np.maximum(resp, 0.0)
    else:
        if isinstance(committed_kw, int | float):
            committed_p = np.full(n_p, float(committed_kw))
        else:
            committed_p = np.asarray(committed_kw, dtype=float)
            if committed_p.shape != (n_p,):
                raise VgiError(f"{committed_p.size} committed values for {n_p} settlement periods")
        if (committed_p < 0).any():
            raise VgiError("committed kW must not be negative")
        committed = committed_p * hours
        with np.errstate(divide="ignore", invalid="ignore"):
            perf = np.where(committed > 0, resp / np.where(committed > 0, committed, 1.0), np.nan)
        valid = ~(perf < pen.min_performance_paid)  # NaN (nothing committed) counts as valid
        cap = np.inf if pen.over_delivery_paid_up_to is None else pen.over_delivery_paid_up_to
        paid = np.where(valid, np.minimum(np.maximum(resp, 0.0), committed * cap), 0.0)
        if pen.under_rule == "non_delivery":
            paid = committed.copy()  # the accepted volume is paid; the shortfall is charged back below

    # double compensation: remove kWh already paid by a conflicting scheme for the same resource and steps
    excluded = np.zeros(n_p)
    if ledger is not None:
        prior_steps = ledger.already_paid(prog, resource, idx, step_hours)
        prior = np.bincount(pid, weights=prior_steps, minlength=n_p)
        excluded = np.minimum(paid, prior)
        paid = paid - excluded
        if excluded.sum() > 0:
            notes.append(f"{excluded.sum():.6g} kWh already paid by a scheme {prog.id} excludes: not paid again")
    energy_payment = paid * price

    under = np.zeros(n_p)
    imbalance = np.zeros(n_p)
    over = np.zeros(n_p)
    if committed is not None:
        if pen.under_rule == "threshold_factor":
            under_price = price if pen.under_price_per_kwh is None else pen.under_price_per_kwh
            under = np.maximum(0.0, committed * pen.under_threshold - resp) * under_price * pen.under_factor
        elif pen.under_rule == "non_delivery":
            short = np.maximum(0.0, committed - np.maximum(resp, 0.0))
            short = np.minimum(short, committed)
            under = short * max(0.0, price - imb)
            imbalance = short * imb
        elif pen.under_rule == "fixed_rate":
            assert pen.under_price_per_kwh is not None
            under = np.maximum(0.0, committed * pen.under_threshold - resp) * pen.under_price_per_kwh
        if pen.over_penalty_threshold is not None and pen.over_penalty_per_kwh:
            over = np.maximum(0.0, resp - committed * pen.over_penalty_threshold) * pen.over_penalty_per_kwh

    total_resp = float(resp.sum())
    total_committed = None if committed is None else float(committed.sum())
    overall = None if not total_committed else total_resp / total_committed
    event_pay = 0.0
    if prog.payments.per_event:
        if overall is None or overall >= pen.min_performance_paid:
            event_pay = float(prog.payments.per_event)
        else:
            notes.append("per-event payment withheld: performance below the programme's minimum")
    cap_pay = capacity_payment(prog, capacity_kw, capacity_months, called_kw, overall) if capacity_months else 0.0
    avail_pay = prog.payments.availability_per_kw_hour * availability_kw_hours

    if ledger is not None:
        # record what this programme paid, spread over steps in proportion to their positive response
        pos = np.maximum(step_response_kwh, 0.0)
        per_period_pos = np.bincount(pid, weights=pos, minlength=n_p)
        with np.errstate(divide="ignore", invalid="ignore"):
            share = np.where(per_period_pos[pid] > 0, pos / per_period_pos[pid], 0.0)
        ledger.record(prog, resource, idx, share * np.minimum(paid, np.maximum(resp, 0.0))[pid], step_hours)

    periods = pd.DataFrame(
        {
            "period_start": pstarts,
            "hours": hours,
            "baseline_kwh": base_kwh,
            "metered_kwh": meter_kwh,
            "response_kwh": resp,
            "committed_kwh": committed if committed is not None else np.full(n_p, np.nan),
            "performance": perf,
            "valid": valid,
            "paid_kwh": paid,
            "excluded_kwh": excluded,
            "price_per_kwh": np.full(n_p, price),
            "energy_payment": energy_payment,
            "under_penalty": under,
            "imbalance_cost": imbalance,
            "over_penalty": over,
        }
    )
    return Settlement(
        programme_id=prog.id,
        currency=prog.currency,
        event_id=event_id,
        direction=direction,
        periods=periods,
        energy_payment=float(energy_payment.sum()),
        under_penalty=float(under.sum()),
        imbalance_cost=float(imbalance.sum()),
        over_penalty=float(over.sum()),
        event_payment=event_pay,
        capacity_payment=cap_pay,
        availability_payment=float(avail_pay),
        response_kwh=total_resp,
        committed_kwh=total_committed,
        paid_kwh=float(paid.sum()),
        excluded_kwh=float(excluded.sum()),
        baseline=baseline,
        notes=tuple(notes),
        step_response_kw=pd.Series(step_response_kwh / step_hours, index=idx, name="response_kw"),
    )


def settle_event(
    programme: Programme | str,
    event: Event,
    metered_kw: pd.Series,
    *,
    history_kw: pd.Series | None = None,
    baseline_method: str | None = None,
    declared_kw: pd.Series | None = None,
    baseline: BaselineResult | None = None,
    holidays: Iterable[Any] | None = None,
    exclude_days: Iterable[Any] = (),
    imbalance_price_per_kwh: float | None = None,
    ledger: CompensationLedger | None = None,
    resource: str = "aggregate",
    capacity_kw: float = 0.0,
    capacity_months: float = 0.0,
    uncommitted: bool = False,
) -> Settlement:
    """Settle an event from metered data.

    ``metered_kw`` covers at least the event window (and the day-of adjustment window where the baseline has one);
    ``history_kw`` (default: ``metered_kw`` itself) holds the days the baseline is built from.  The baseline follows
    the programme (or ``baseline_method``), unless ``baseline`` is given; its days are local days of the programme's
    time zone, and ``exclude_days`` (local dates) are not used: pass the days of the programme's earlier events, or
    settle several events with :func:`settle_events`, which does so itself.  ``uncommitted`` settles without a
    committed volume (every kWh of response paid, no penalties).
    """
    prog = get_programme(programme) if isinstance(programme, str) else programme
    metered, step = check_history(metered_kw, "metered data")
    history = metered if history_kw is None else _merge(history_kw, metered)
    # an event that starts or ends inside a metering step: the baseline covers the whole steps that hold the event
    # (the day-of adjustment window is placed relative to the first of them) and the edge steps count pro rata
    anchor = metered.index[0]
    first = anchor + ((event.start - anchor) // step) * step
    last = anchor + -((anchor - event.end) // step) * step
    if baseline is None:
        baseline = baseline_for(prog, history, first, last, declared_kw=declared_kw,
                                holidays=holidays, exclude_days=exclude_days, method=baseline_method)
    window = pd.DatetimeIndex(baseline.baseline_kw.index)
    fraction = _step_fractions(window, step, event)
    keep = fraction > 0
    window = window[keep]
    fraction = fraction[keep]
    baseline_kw = baseline.baseline_kw.to_numpy(dtype=float)[keep]
    meter_vals = metered.reindex(window).to_numpy(dtype=float)
    if not np.isfinite(meter_vals).all():
        missing = window[~np.isfinite(meter_vals)]
        raise VgiError(f"metered data is missing in the event window at {missing[0]}")
    step_hours = step.total_seconds() / 3600.0
    pid, _ = _period_ids(window, prog.timing.settlement_period_minutes, prog.timezone)
    n_p = int(pid.max()) + 1
    committed: float | np.ndarray | None = None if uncommitted else event.committed_per_period(n_p)
    return settle_arrays(
        prog, window, baseline_kw, meter_vals, step_hours, committed,
        direction=event.direction, price_per_kwh=event.price_per_kwh,
        imbalance_price_per_kwh=imbalance_price_per_kwh, event_id=event.event_id, ledger=ledger,
        resource=resource, capacity_kw=capacity_kw, capacity_months=capacity_months, baseline=baseline,
        step_fraction=fraction,
    )


def settle_events(
    programme: Programme | str,
    events: Sequence[Event],
    metered_kw: pd.Series,
    *,
    history_kw: pd.Series | None = None,
    baseline_method: str | None = None,
    declared_kw: pd.Series | None = None,
    holidays: Iterable[Any] | None = None,
    exclude_days: Iterable[Any] = (),
    imbalance_price_per_kwh: float | None = None,
    ledger: CompensationLedger | None = None,
    resource: str = "aggregate",
    capacity_kw: float = 0.0,
    capacity_months: float = 0.0,
    uncommitted: bool = False,
) -> list[Settlement]:
    """Settle several events of one programme on the same meter (:func:`settle_event` for each, in the order given).

    The baseline of each event leaves out the local days (in the programme's time zone) of every event that starts
    before it: an earlier event day was curtailed and is not a normal day (CAISO, PJM and the Chinese provincial
    rules all exclude event days).  ``exclude_days`` adds local dates the caller knows were events of earlier
    calls, or are otherwise abnormal.  One ledger (``ledger``, or a new one) carries the kWh paid across the events;
    the capacity line (``capacity_kw`` x ``capacity_months``) is paid once, with the first event given.
    """
    prog = get_programme(programme) if isinstance(programme, str) else programme
    ledger = CompensationLedger() if ledger is None else ledger
    given = tuple(exclude_days)
    tz = baseline_timezone(prog) or prog.timezone
    out: list[Settlement] = []
    for i, ev in enumerate(events):
        earlier = event_days([other for other in events if other.start < ev.start], tz)
        out.append(settle_event(
            prog, ev, metered_kw, history_kw=history_kw, baseline_method=baseline_method, declared_kw=declared_kw,
            holidays=holidays, exclude_days=(*given, *earlier), imbalance_price_per_kwh=imbalance_price_per_kwh,
            ledger=ledger, resource=resource, capacity_kw=capacity_kw,
            capacity_months=capacity_months if i == 0 else 0.0, uncommitted=uncommitted,
        ))
    return out


def _step_fractions(step_starts: pd.DatetimeIndex, step: pd.Timedelta, event: Event) -> np.ndarray:
    """Share of each step ``[t, t + step)`` inside the event window ``[start, end)``."""
    starts = pd.DatetimeIndex(step_starts).as_unit("ns").asi8.astype(np.int64)
    step_ns = int(step.value)
    a = pd.Timestamp(event.start).as_unit("ns").value
    b = pd.Timestamp(event.end).as_unit("ns").value
    overlap = np.clip(np.minimum(starts + step_ns, b) - np.maximum(starts, a), 0, None)
    return np.asarray(overlap / step_ns, dtype=float)


def _merge(history: pd.Series, metered: pd.Series) -> pd.Series:
    """History and metered data as one series (metered values win where both have a step)."""
    hist, step_h = check_history(history, "history")
    _, step_m = check_history(metered, "metered data")
    if step_h != step_m:
        raise VgiError(f"history step {step_h} differs from the metered data's step {step_m}")
    merged = pd.concat([hist[~hist.index.isin(metered.index)], metered]).sort_index()
    return merged


# ----------------------------------------------------------------------------------------------- fleets


def settle_fleet(
    programme: Programme | str,
    event: Event,
    dispatched: Schedule,
    baseline_per_session_kw: np.ndarray,
    *,
    settlement_baseline_kw: np.ndarray | None = None,
    driver_share: float = 0.5,
    wear_cost_per_kwh: float = 0.0,
    tariff: Tariff | None = None,
    imbalance_price_per_kwh: float | None = None,
    ledger: CompensationLedger | None = None,
    resource: str = "aggregate",
    capacity_kw: float = 0.0,
    capacity_months: float = 0.0,
) -> Settlement:
    """Settle a dispatched fleet and split the money between the aggregator and the drivers.

    Args:
        dispatched: the schedule that ran (its ``net_kw`` is what the meters saw).
        baseline_per_session_kw: each session's counterfactual power on the same grid (N x T), e.g.
            :func:`vgi.dr.baselines.ev_counterfactual`'s ``per_session_kw``; it measures each driver's part.
        settlement_baseline_kw: the aggregate baseline the programme settles against, (T,) on the grid (default:
            the sum of the per-session counterfactuals).
        driver_share: share of the net settlement (after penalties) passed to the drivers, in proportion to their
            positive response; the aggregator keeps the rest.
        wear_cost_per_kwh: battery wear per battery-side kWh discharged, borne by each driver.
        tariff: the drivers' tariff; each driver's bill with and without the dispatch is computed
            (:func:`vgi.settle.bills.bill_totals`).
    """
    prog = get_programme(programme) if isinstance(programme, str) else programme
    if not 0.0 <= driver_share <= 1.0:
        raise VgiError(f"driver_share must be in [0, 1], got {driver_share}")
    fleet = dispatched.fleet
    grid = fleet.grid
    index = grid.utc_index
    net = np.asarray(dispatched.net_kw, dtype=float)
    base_sessions = np.asarray(baseline_per_session_kw, dtype=float)
    if base_sessions.shape != net.shape:
        raise VgiError(f"per-session baseline has shape {base_sessions.shape}, the schedule {net.shape}")
    fraction_all = _step_fractions(index, pd.Timedelta(hours=grid.step_hours), event)
    mask = fraction_all > 0
    if not mask.any():
        raise VgiError(f"event {event.start} - {event.end} lies outside the fleet's time grid")
    fraction = fraction_all[mask]
    agg_base = base_sessions.sum(axis=0) if settlement_baseline_kw is None else np.asarray(settlement_baseline_kw)
    if agg_base.shape != (grid.n_steps,):
        raise VgiError(f"settlement baseline has {agg_base.size} values for {grid.n_steps} steps")
    window = index[mask]
    step_hours = grid.step_hours
    pid, _ = _period_ids(window, prog.timing.settlement_period_minutes, prog.timezone)
    committed = event.committed_per_period(int(pid.max()) + 1)
    result = settle_arrays(
        prog, window, agg_base[mask], net.sum(axis=0)[mask], step_hours, committed,
        direction=event.direction, price_per_kwh=event.price_per_kwh,
        imbalance_price_per_kwh=imbalance_price_per_kwh, event_id=event.event_id, ledger=ledger,
        resource=resource, capacity_kw=capacity_kw, capacity_months=capacity_months, step_fraction=fraction,
    )

    sign = event.sign
    session_resp = sign * ((base_sessions[:, mask] - net[:, mask]) @ fraction) * step_hours
    positive = np.maximum(session_resp, 0.0)
    pot = max(0.0, result.net) * driver_share
    total_pos = positive.sum()
    revenue = pot * positive / total_pos if total_pos > 0 else np.zeros(len(positive))
    if dispatched.discharge_kw is not None:
        discharged = dispatched.discharge_kw.sum(axis=1) * step_hours / fleet.discharge_efficiency
    else:
        discharged = np.zeros(len(fleet))
    wear = discharged * wear_cost_per_kwh
    table = pd.DataFrame(
        {
            "session_id": fleet.session_id.astype(str),
            "response_kwh": session_resp,
            "revenue": revenue,
            "discharged_kwh": discharged,
            "wear_cost": wear,
        }
    )
    if tariff is not None:
        from vgi.settle.bills import bill_totals

        controlled = bill_totals(net, index, tariff)
        counterfactual = bill_totals(base_sessions, index, tariff)
        table["bill_controlled"] = controlled
        table["bill_baseline"] = counterfactual
        table["bill_change"] = controlled - counterfactual
    else:
        table["bill_controlled"] = np.nan
        table["bill_baseline"] = np.nan
        table["bill_change"] = 0.0
    table["net_benefit"] = table["revenue"] - table["wear_cost"] - table["bill_change"]
    split = DriverSplit(table, float(pot), float(result.net - pot), float(wear.sum()))
    notes = list(result.notes)
    if result.net < 0:
        notes.append("net settlement negative: the aggregator bears the penalty, drivers receive nothing")
    return Settlement(
        **{**result.__dict__, "drivers": split, "notes": tuple(notes)},
    )
