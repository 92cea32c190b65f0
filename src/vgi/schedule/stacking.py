"""Revenue stacking: a direct-V2G plan that holds capacity for a frequency service beside its energy trades.

An aggregator controls a V2G fleet directly (its own meter, buying and selling energy at ``buy`` / ``sell``
prices) and may offer part of the fleet's flexibility to a symmetric frequency-response service (GB dynamic
containment or regulation, a Chinese provincial frequency-regulation market) that pays for capacity held, per kW
and hour.  :func:`plan_stacked` solves one linear programme (HiGHS) over the horizon and reports each revenue
stream separately: energy bought, energy sold, capacity payments and battery wear.

The fleet is given as one aggregate battery on the time grid (arrays of the steps' length): power limits of the
plugged-in vehicles, the energy band the fleet must stay in, and the energy at the start and the least at the end
(drivers' needs).  Variables per step ``t`` (kW, constant within the step): charge ``c``, discharge ``d`` and
capacity held ``r``; energy ``e`` (kWh) at step boundaries.

* energy: ``e[t+1] = e[t] + (eta_c * c[t] - d[t] / eta_d) * h``;
* capacity held must be deliverable both ways on top of the plan: ``c - d + r <= charge_max`` (more import) and
  ``d - c + r <= discharge_max`` (more export);
* and sustainable for ``duration_hours`` from either end of the step: ``e - r * duration / eta_d >= e_min`` and
  ``e + r * duration * eta_c <= e_max`` at ``e[t]`` and ``e[t+1]``;
* ``e[0] = energy_start``, ``e[T] >= energy_end_min``.

Objective: maximise ``sum((sell * d - buy * c) * h) + sum(capacity_price * r * h) - wear * sum(d * h)``.  Utilisation
payments for energy actually delivered by the service are left out (symmetric services deliver little net
energy); a service that pays them can add them to ``sell``/``buy``.

Units: kW, kWh, hours; prices in one currency per kWh (energy), per kW and hour (capacity) and per kWh discharged
(wear).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from vgi.errors import VgiError

__all__ = ["FrequencyService", "StackedPlan", "StackingFleet", "plan_stacked"]


@dataclass(frozen=True)
class FrequencyService:
    """A symmetric frequency-response service paying for capacity held.

    Attributes:
        name: e.g. "GB dynamic regulation".
        capacity_price_per_kw_hour: price per kW held per hour, a scalar or one value per step.
        duration_hours: how long the full capacity must be sustainable in either direction (energy reserve).
    """

    name: str
    capacity_price_per_kw_hour: float | np.ndarray
    duration_hours: float


@dataclass(frozen=True)
class StackingFleet:
    """A V2G fleet as one aggregate battery on ``n`` steps of ``step_hours`` each (arrays of length ``n``).

    Attributes:
        charge_max_kw / discharge_max_kw: power limits of the vehicles plugged in during each step.
        energy_min_kwh / energy_max_kwh: the band the fleet's energy must stay in at the end of each step.
        energy_start_kwh: energy at the start; energy_end_min_kwh: least energy at the end (drivers' needs).
        charge_efficiency / discharge_efficiency: one-way efficiencies.
    """

    charge_max_kw: np.ndarray
    discharge_max_kw: np.ndarray
    energy_min_kwh: np.ndarray
    energy_max_kwh: np.ndarray
    energy_start_kwh: float
    energy_end_min_kwh: float
    step_hours: float
    charge_efficiency: float = 1.0
    discharge_efficiency: float = 1.0


@dataclass(frozen=True)
class StackedPlan:
    """The plan (kW per step) and its revenue streams (currency; costs negative in ``total``).

    Attributes:
        charge_kw / discharge_kw / capacity_kw: the plan; energy_kwh: energy at the n + 1 step boundaries.
        energy_cost: paid for energy bought; export_revenue: earned for energy sold; capacity_revenue: capacity
        payments; wear_cost: battery wear; total: export + capacity - energy cost - wear.
    """

    service: str
    charge_kw: np.ndarray
    discharge_kw: np.ndarray
    capacity_kw: np.ndarray
    energy_kwh: np.ndarray
    energy_cost: float
    export_revenue: float
    capacity_revenue: float
    wear_cost: float

    @property
    def total(self) -> float:
        return self.export_revenue + self.capacity_revenue - self.energy_cost - self.wear_cost

    def streams(self) -> dict[str, float]:
        """Each revenue stream by name (costs as negative amounts) and the total."""
        return {"energy bought": -self.energy_cost, "energy sold": self.export_revenue,
                f"capacity ({self.service})": self.capacity_revenue, "battery wear": -self.wear_cost,
                "total": self.total}


def _steps(name: str, value: float | np.ndarray, n: int) -> np.ndarray:
    arr = np.broadcast_to(np.asarray(value, dtype=float), (n,)).copy() if np.ndim(value) == 0 else \
        np.asarray(value, dtype=float)
    if arr.shape != (n,):
        raise VgiError(f"{name} has {arr.size} values for {n} steps")
    if not np.isfinite(arr).all():
        raise VgiError(f"{name} has a value that is not finite")
    return arr


def plan_stacked(
    fleet: StackingFleet,
    buy_per_kwh: float | np.ndarray,
    sell_per_kwh: float | np.ndarray,
    service: FrequencyService | None = None,
    wear_cost_per_kwh: float = 0.0,
) -> StackedPlan:
    """The revenue-maximising direct-V2G plan with (optionally) capacity held for ``service``.

    Raises :class:`VgiError` for inconsistent inputs or an infeasible fleet (e.g. an end energy it cannot reach).
    """
    from vgi.schedule.lp import new_highs

    n = len(np.asarray(fleet.charge_max_kw))
    if n == 0:
        raise VgiError("no steps")
    h = float(fleet.step_hours)
    if h <= 0:
        raise VgiError("step_hours must be positive")
    eta_c, eta_d = float(fleet.charge_efficiency), float(fleet.discharge_efficiency)
    if not (0 < eta_c <= 1 and 0 < eta_d <= 1):
        raise VgiError("efficiencies must be in (0, 1]")
    pc = _steps("charge_max_kw", fleet.charge_max_kw, n)
    pd_ = _steps("discharge_max_kw", fleet.discharge_max_kw, n)
    emin = _steps("energy_min_kwh", fleet.energy_min_kwh, n)
    emax = _steps("energy_max_kwh", fleet.energy_max_kwh, n)
    if (pc < 0).any() or (pd_ < 0).any() or (emin > emax).any():
        raise VgiError("power limits must be >= 0 and energy_min_kwh <= energy_max_kwh")
    buy = _steps("buy_per_kwh", buy_per_kwh, n)
    sell = _steps("sell_per_kwh", sell_per_kwh, n)
    cap = np.zeros(n) if service is None else _steps("capacity_price_per_kw_hour",
                                                    service.capacity_price_per_kw_hour, n)
    dur = 0.0 if service is None else float(service.duration_hours)
    if dur < 0:
        raise VgiError("duration_hours must be >= 0")

    # columns: c[0:n], d[n:2n], r[2n:3n], e[3n:4n+1]
    ic, id_, ir, ie = 0, n, 2 * n, 3 * n
    n_cols = 4 * n + 1
    t = np.arange(n)
    cost = np.zeros(n_cols)  # HiGHS minimises: negative revenue
    cost[ic:ic + n] = buy * h
    cost[id_:id_ + n] = -(sell - wear_cost_per_kwh) * h
    cost[ir:ir + n] = -cap * h
    lower = np.zeros(n_cols)
    upper = np.concatenate([pc, pd_, np.full(n, np.inf) if service is not None else np.zeros(n),
                            np.full(n + 1, np.inf)])
    lower[ie] = upper[ie] = float(fleet.energy_start_kwh)
    lower[ie + 1:] = np.concatenate([emin[:-1], [max(emin[-1], fleet.energy_end_min_kwh)]])
    upper[ie + 1:] = emax
    if lower[ie] < 0 or (lower[ie + 1:] > upper[ie + 1:]).any():
        raise VgiError("the end energy the drivers need is above the fleet's energy band")

    rows: list[sp.coo_matrix] = []
    row_lo: list[np.ndarray] = []
    row_hi: list[np.ndarray] = []

    def add(entries: list[tuple[int | np.ndarray, float | np.ndarray]], lo: np.ndarray, hi: np.ndarray) -> None:
        r_idx, c_idx, vals = [], [], []
        for col, val in entries:
            r_idx.append(t)
            c_idx.append(np.broadcast_to(col, (n,)))
            vals.append(np.broadcast_to(val, (n,)))
        rows.append(sp.coo_matrix((np.concatenate(vals), (np.concatenate(r_idx), np.concatenate(c_idx))),
                                  shape=(n, n_cols)))
        row_lo.append(lo)
        row_hi.append(hi)

    inf = np.full(n, np.inf)
    # energy balance: e[t+1] - e[t] - eta_c h c + h/eta_d d = 0
    add([(ie + t + 1, 1.0), (ie + t, -1.0), (ic + t, -eta_c * h), (id_ + t, h / eta_d)], np.zeros(n), np.zeros(n))
    if service is not None:
        add([(ic + t, 1.0), (id_ + t, -1.0), (ir + t, 1.0)], -inf, pc)  # more import on top of the plan
        add([(id_ + t, 1.0), (ic + t, -1.0), (ir + t, 1.0)], -inf, pd_)  # more export on top of the plan
        e_lo_start = np.concatenate([emin[:1], emin[:-1]])  # the band at the start of each step
        e_hi_start = np.concatenate([emax[:1], emax[:-1]])
        for offset, lo_band, hi_band in ((0, e_lo_start, e_hi_start), (1, emin, emax)):
            add([(ie + t + offset, 1.0), (ir + t, -dur / eta_d)], lo_band, inf)  # sustain export
            add([(ie + t + offset, 1.0), (ir + t, dur * eta_c)], -inf, hi_band)  # sustain import
    mat = sp.vstack(rows).tocsc()
    mat.sort_indices()

    import highspy

    big = highspy.kHighsInf
    lp = highspy.HighsLp()
    lp.num_col_ = n_cols
    lp.num_row_ = mat.shape[0]
    lp.col_cost_ = cost
    lp.col_lower_ = np.where(np.isinf(lower), -big, lower)
    lp.col_upper_ = np.where(np.isinf(upper), big, upper)
    lo_all, hi_all = np.concatenate(row_lo), np.concatenate(row_hi)
    lp.row_lower_ = np.where(np.isinf(lo_all), -big, lo_all)
    lp.row_upper_ = np.where(np.isinf(hi_all), big, hi_all)
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.start_ = mat.indptr.astype(np.int32)
    lp.a_matrix_.index_ = mat.indices.astype(np.int32)
    lp.a_matrix_.value_ = mat.data.astype(float)
    solver = new_highs()
    solver.setOptionValue("output_flag", False)
    solver.passModel(lp)
    solver.run()
    status = solver.getModelStatus()
    if status != highspy.HighsModelStatus.kOptimal:
        raise VgiError(f"no stacked plan: HiGHS ended with {solver.modelStatusToString(status)} (check that the "
                       "fleet can reach the end energy within its power limits)")
    x = np.asarray(solver.getSolution().col_value, dtype=float)
    c, d, r, e = x[ic:ic + n], x[id_:id_ + n], x[ir:ir + n], x[ie:]
    return StackedPlan(
        service=service.name if service is not None else "none",
        charge_kw=c, discharge_kw=d, capacity_kw=r, energy_kwh=e,
        energy_cost=float(np.sum(buy * c) * h), export_revenue=float(np.sum(sell * d) * h),
        capacity_revenue=float(np.sum(cap * r) * h), wear_cost=float(wear_cost_per_kwh * np.sum(d) * h),
    )
