"""Exact price response of each EV alone (the indirect mode), vectorised over the fleet.

(Implementation in progress; the signature and :class:`ExactResult` below are the published contract.)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vgi.schedule.problem import FleetOnGrid

__all__ = ["ExactResult", "price_response"]


@dataclass(frozen=True, eq=False)
class ExactResult:
    """Optimal per-EV schedules under given prices.

    Attributes:
        charge_kw: grid-side charging power, (N, T); or (n_aggregate, T) group sums when ``aggregate_by`` was given.
        discharge_kw: grid-side discharging power, same shape as ``charge_kw`` (zeros in V1G).
        unmet_kwh: battery-side energy short of each session's need at departure, (N,) (always per session).
        cost: each session's objective value (energy cost - export revenue + wear + penalty), (N,); or per group
            (n_aggregate,) when ``aggregate_by`` was given.
        objective: total objective (sum of ``cost``).
        aggregated: True when the power arrays are group sums.
    """

    charge_kw: np.ndarray
    discharge_kw: np.ndarray
    unmet_kwh: np.ndarray
    cost: np.ndarray
    objective: float
    aggregated: bool = False


def price_response(
    fleet: FleetOnGrid,
    buy_price: np.ndarray,
    sell_price: np.ndarray | None = None,
    *,
    group: np.ndarray | None = None,
    wear_cost_per_kwh: float = 0.0,
    unmet_penalty_per_kwh: float | None = None,
    aggregate_by: np.ndarray | None = None,
    n_aggregate: int | None = None,
) -> ExactResult:
    """Each EV's cost-minimising schedule, exactly (equal to the LP optimum), vectorised over the fleet.

    Each EV solves: minimise sum_t (buy_t c_t - sell_t d_t) dt + wear * (sum_t d_t dt / eta_d) + penalty * unmet
    subject to 0 <= c_t <= charge limit, 0 <= d_t <= discharge limit, e_t = e_{t-1} + eta_c c_t dt - d_t dt / eta_d
    in [e_floor, e_max], e_T >= e_need - unmet, unmet >= 0.

    Args:
        fleet: sessions on a grid of T steps.
        buy_price: import price per kWh, (T,) or (G, T) with ``group``.
        sell_price: export price per kWh, same shape; None = the buy price.
        group: (N,) int row of the price arrays for each session (e.g. per-site duals of a coupled solver).
        wear_cost_per_kwh: battery wear per battery-side kWh discharged.
        unmet_penalty_per_kwh: price of each battery kWh short of the need; None = 10 x max |price| + 1.
        aggregate_by: (N,) int in [0, n_aggregate): return group sums of power and cost instead of N x T arrays.
        n_aggregate: number of aggregate groups.
    """
    raise NotImplementedError("price_response is being implemented")
