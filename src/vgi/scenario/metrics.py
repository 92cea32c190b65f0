"""The figures a scenario reports per mode, as pure functions of arrays.

Definitions (P_t: the fleet's net power at step t, kW, positive import; dt: step length in hours; the
*horizon* is the scenario's days without the run-out; sums run over the whole simulation grid unless the
horizon is named):

* ``peak_kw`` = max_t P_t; ``peak_reduction_kw`` = peak of uncontrolled charging - peak,
  ``peak_reduction_pct`` the same in % of the uncontrolled peak.
* ``valley_kw`` = min of P_t over the horizon; ``load_factor`` = mean / max of P_t over the horizon;
  ``daily_load_factor`` = mean over the horizon's local days of (day's mean / day's max);
  ``peak_to_valley_ratio`` = max / min over the horizon (None when the valley is <= 0: an EV fleet alone often
  draws nothing at some step), ``peak_valley_difference_kw`` = max - min, ``peak_valley_difference_rate`` =
  (max - min) / max (the 峰谷差率 of Chinese grid statistics).  With a base load (``prices.base_load_kw``)
  the same figures of base + fleet are reported with the prefix ``total_``.
* ``energy_shifted_kwh`` = sum_t max(0, P_t(uncontrolled) - P_t) dt: energy moved away from when it would have
  been drawn.
* ``offpeak_share``: share of charging energy (grid side) drawn at steps where the session's tariff is at its
  cheapest price of that local day; ``onpeak_share``: at its dearest price of the day (comparable with PG&E's
  60-80 % off-peak shares, which count energy outside the peak periods: ``1 - onpeak_share``).
* ``low_price_share`` (with a spot series): share of charging energy at steps whose spot price is in the
  cheapest quarter of the simulated steps.
* renewable (with ``prices.renewable_kw`` R_t and base load B_t, 0 if none): surplus S_t = max(R_t - B_t, 0);
  ``renewable_absorbed_kwh`` = sum_t min(max(P_t, 0), S_t) dt; ``renewable_absorbed_share`` = that / sum_t S_t
  dt; ``charging_renewable_share`` = that / sum_t max(P_t, 0) dt.
* driver cost (currency of the tariffs): per session sum_t (c_t buy_t - d_t sell_t) dt at its own tariff's
  prices; ``driver_cost_per_ev_year`` = total / vehicles x 365 / horizon days; ``battery_wear_cost`` = wear
  price x battery-side kWh discharged (sum_t d_t / eta_d dt); ``driver_net_cost_per_ev_year`` adds wear (both
  x 365 / days) and subtracts the demand-response payout passed to drivers in a year
  (``driver_dr_payout_per_ev_year``: the horizon's payout x ``aggregator.events_per_year`` / events, or once
  when that is not given); ``driver_savings_per_ev_year`` = uncontrolled net cost - net cost.
* ``site_charges``: what the tariffs bill beyond energy at the sites' meters (demand charges, subscriptions,
  overage, consumption-tier adders; fixed charges excluded as they do not depend on charging), over the horizon:
  monthly demand charges and subscriptions prorated by the days of each month the horizon covers.
* V2G: ``v2g_discharge_kwh`` = sum d_t dt (grid side), ``v2g_export_revenue`` = sum d_t sell_t dt.
* ``aggregator_energy_cost`` (direct modes): the fleet's net energy at the aggregator's prices, sum_t
  (max(P_t, 0) buy_t - max(-P_t, 0) sell_t) dt: what the energy costs an aggregator that buys it
  (``aggregator.prices``).
* ``flex_down_kw`` (with events): what the fleet can hold below uncontrolled charging through each event window
  with every need met (:func:`vgi.flex.envelope.adjustable_potential`, a deliverable lower bound), averaged over
  the events; ``flex_down_kw_per_ev`` per vehicle; ``evs_for_<X>_kw`` = ceil(X / per vehicle), the EVs it takes
  to reach an aggregation threshold of X kW.
* events (see :func:`event_settlement`): requested, delivered and short kWh, payment, penalty; the aggregator
  keeps ``1 - driver_share`` of the net and passes the rest to drivers.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

__all__ = [
    "EventOutcome",
    "energy_shifted_kwh",
    "event_settlement",
    "load_shape",
    "per_ev_year",
    "period_share",
    "renewable_absorption",
]

YEAR_DAYS = 365.0


def _none_if_nan(x: float) -> float | None:
    return None if x is None or not math.isfinite(x) else float(x)


def load_shape(
    power_kw: np.ndarray, horizon_steps: int, local_days: np.ndarray, prefix: str = ""
) -> dict[str, float | None]:
    """Peak, valley, load factors and peak-to-valley figures of a load curve (kW)."""
    p = np.asarray(power_kw, dtype=float)
    h = p[:horizon_steps]
    peak_all = float(p.max())
    top, low = float(h.max()), float(h.min())
    mean = float(h.mean())
    days = pd.Series(h).groupby(np.asarray(local_days[:horizon_steps]))
    day_max = days.max().to_numpy()
    day_mean = days.mean().to_numpy()
    with np.errstate(divide="ignore", invalid="ignore"):
        daily_lf = np.where(day_max > 0, day_mean / day_max, np.nan)
    return {
        f"{prefix}peak_kw": peak_all,
        f"{prefix}valley_kw": low,
        f"{prefix}load_factor": _none_if_nan(mean / top) if top > 0 else None,
        f"{prefix}daily_load_factor": _none_if_nan(float(np.nanmean(daily_lf)))
        if np.isfinite(daily_lf).any()
        else None,
        f"{prefix}peak_to_valley_ratio": top / low if low > 1e-9 else None,
        f"{prefix}peak_valley_difference_kw": top - low,
        f"{prefix}peak_valley_difference_rate": (top - low) / top if top > 0 else None,
    }


def energy_shifted_kwh(power_kw: np.ndarray, reference_kw: np.ndarray, step_hours: float) -> float:
    """Energy moved away from when the reference drew it: sum_t max(0, ref_t - P_t) dt."""
    return float(np.clip(np.asarray(reference_kw) - np.asarray(power_kw), 0.0, None).sum() * step_hours)


def period_share(charge_by_group_kw: np.ndarray, mask: np.ndarray) -> float | None:
    """Share of charging energy at masked steps: charge (K, T) per tariff group, mask (K, T) or (T,)."""
    total = float(charge_by_group_kw.sum())
    if total <= 0:
        return None
    return float((charge_by_group_kw * mask).sum() / total)


def renewable_absorption(
    power_kw: np.ndarray, renewable_kw: np.ndarray, base_load_kw: np.ndarray | None, step_hours: float
) -> dict[str, float | None]:
    """Renewable surplus absorbed by the fleet (see the module docstring)."""
    base = np.zeros_like(renewable_kw) if base_load_kw is None else base_load_kw
    surplus = np.clip(renewable_kw - base, 0.0, None)
    draw = np.clip(power_kw, 0.0, None)
    absorbed = float(np.minimum(draw, surplus).sum() * step_hours)
    surplus_kwh = float(surplus.sum() * step_hours)
    draw_kwh = float(draw.sum() * step_hours)
    return {
        "renewable_surplus_kwh": surplus_kwh,
        "renewable_absorbed_kwh": absorbed,
        "renewable_absorbed_share": absorbed / surplus_kwh if surplus_kwh > 0 else None,
        "charging_renewable_share": absorbed / draw_kwh if draw_kwh > 0 else None,
    }


def per_ev_year(total: float, n_vehicles: int, horizon_days: int) -> float:
    """A horizon total per vehicle per year (x 365 / days)."""
    return float(total) / max(n_vehicles, 1) * YEAR_DAYS / horizon_days


@dataclass(frozen=True)
class EventOutcome:
    """What one event measured and earned in one mode (kWh, kW, currency)."""

    event: str
    mode: str
    rule: str
    participates: bool
    start: str
    end: str
    hours: float
    baseline: str
    baseline_kwh: float
    actual_kwh: float
    requested_kw: float
    requested_kwh: float
    delivered_kwh: float
    delivered_kw: float
    shortfall_kwh: float
    paid_kwh: float
    energy_payment: float
    capacity_payment: float
    penalty: float
    net: float
    participants: int

    def as_dict(self) -> dict[str, object]:
        return dict(self.__dict__)


def event_settlement(
    *,
    event: str,
    mode: str,
    participates: bool,
    start: pd.Timestamp,
    end: pd.Timestamp,
    window: slice,
    power_kw: np.ndarray,
    baseline_kw: np.ndarray,
    baseline: str,
    step_hours: float,
    reduction_kw: float | None,
    reduction_share: float | None,
    price_per_kwh: float,
    capacity_price_per_kw: float,
    penalty_per_kwh: float,
    pay_over_delivery: bool,
    participants: int,
) -> EventOutcome:
    """Settle an event by the scenario's rule.

    baseline and actual energy in the window; requested = reduction_kw x hours (or share x baseline energy);
    delivered = baseline - actual; paid kWh = delivered clipped to [0, requested] (no cap with
    ``pay_over_delivery``); short kWh = max(requested - delivered, 0); payment = paid x price + capacity price
    x requested kW; penalty = short x penalty price; only a participating (direct) mode is paid or penalised.
    """
    hours = (window.stop - window.start) * step_hours
    base_kwh = float(np.sum(baseline_kw[window]) * step_hours)
    actual_kwh = float(np.sum(power_kw[window]) * step_hours)
    if reduction_kw is not None:
        req_kw = float(reduction_kw)
    else:
        req_kw = float(reduction_share or 0.0) * (base_kwh / hours if hours > 0 else 0.0)
    req_kwh = req_kw * hours
    delivered = base_kwh - actual_kwh
    paid = max(delivered, 0.0) if pay_over_delivery else min(max(delivered, 0.0), req_kwh)
    short = max(req_kwh - delivered, 0.0)
    energy_pay = paid * price_per_kwh if participates else 0.0
    cap_pay = capacity_price_per_kw * req_kw if participates else 0.0
    pen = short * penalty_per_kwh if participates else 0.0
    return EventOutcome(
        event=event,
        mode=mode,
        rule="scenario",
        participates=participates,
        start=start.isoformat(),
        end=end.isoformat(),
        hours=hours,
        baseline=baseline,
        baseline_kwh=base_kwh,
        actual_kwh=actual_kwh,
        requested_kw=req_kw,
        requested_kwh=req_kwh,
        delivered_kwh=delivered,
        delivered_kw=delivered / hours if hours > 0 else 0.0,
        shortfall_kwh=short,
        paid_kwh=paid if participates else 0.0,
        energy_payment=energy_pay,
        capacity_payment=cap_pay,
        penalty=pen,
        net=energy_pay + cap_pay - pen,
        participants=participants,
    )


def session_energy_cost(
    charge_kw: np.ndarray,
    discharge_kw: np.ndarray | None,
    tariff_index: np.ndarray,
    buy: np.ndarray,
    sell: np.ndarray,
    step_hours: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Per session: import cost and export credit at its own tariff's prices (currency), each (N,)."""
    import_cost = np.einsum("nt,nt->n", charge_kw, buy[tariff_index]) * step_hours
    if discharge_kw is None:
        return import_cost, np.zeros_like(import_cost)
    credit = np.einsum("nt,nt->n", discharge_kw, sell[tariff_index]) * step_hours
    return import_cost, credit


def group_sum(values: np.ndarray, codes: np.ndarray, n_groups: int) -> np.ndarray:
    """Sum rows of ``values`` (N,) or (N, T) by integer ``codes`` (N,) into ``n_groups``."""
    if values.ndim == 1:
        return np.bincount(codes, weights=values, minlength=n_groups)
    out = np.zeros((n_groups, values.shape[1]))
    np.add.at(out, codes, values)
    return out


def summary_order(keys: Sequence[str]) -> list[str]:
    """Metric keys in the order the summary table shows them."""
    first = [
        "peak_kw",
        "peak_reduction_kw",
        "peak_reduction_pct",
        "load_factor",
        "daily_load_factor",
        "valley_kw",
        "peak_to_valley_ratio",
        "peak_valley_difference_kw",
        "energy_shifted_kwh",
        "offpeak_share",
        "onpeak_share",
        "low_price_share",
        "charge_kwh",
        "discharge_kwh",
        "unmet_kwh",
        "driver_cost_per_ev_year",
        "driver_net_cost_per_ev_year",
        "driver_savings_per_ev_year",
        "v2g_discharge_kwh",
        "v2g_export_revenue",
        "battery_wear_cost",
        "dr_delivered_kwh",
        "aggregator_revenue",
        "aggregator_penalties",
        "aggregator_net_revenue",
    ]
    return [k for k in first if k in keys] + [k for k in keys if k not in first]
