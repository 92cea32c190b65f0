"""Coupled scheduling of large fleets by Dantzig-Wolfe column generation, with a certified optimality gap.

The coupled problem (the direct, aggregator mode) is

    minimise  sum_i f_i(x_i) + G(y)    subject to  x_i in X_i (each EV),  y[r, t] = sum_{i in node r} net_i[t]

where ``f_i`` is an EV's own cost (energy bought - energy sold + battery wear + the penalty on its unmet need),
``X_i`` its power, window and state-of-charge limits, ``net_i = charge - discharge`` its grid-side power, and ``G``
the convex piecewise-linear cost of the aggregate ``y`` per *node* (a site with an import limit or a shared meter, or
the rest of the fleet): the energy of a shared meter's net power where export pays less than import,
import limits per site, fleet import/export limits, a peak weight and demand charge on the fleet's highest import,
asymmetric penalties for leaving a target curve, and a demand-response cap (baseline - reduction) over an event.
Hard limits are soft with a very large price (``limit_penalty_per_kw`` of :class:`ScheduleOptions`) so that an
impossible limit is reported instead of failing; a feasible limit is always kept.

Method (details and measured figures: ``docs/scheduling-coupled.md``)
------
* The EVs are cut into groups (within a node, sorted by window) and the problem is solved over the convex hull of
  each group's *columns*: group sums of per-EV optimal schedules under shadow prices.  The *pricing* step is the
  exact per-EV solver (:func:`vgi.schedule.exact.price_response`) with the prices ``buy + lambda`` and
  ``sell + lambda`` (``lambda`` per node and step, currency/kWh), aggregated by group inside the solver, so no
  N x T array is built while iterating.  Tiny per-session price perturbations break the ties of piecewise-constant
  tariffs; what they can be worth is taken off the bound.
* The *master* is a small LP (HiGHS, primal simplex warm-started as columns are added) over the column weights,
  the aggregate ``y`` and the penalty variables of ``G``; its duals on ``y = sum of columns`` are the next shadow
  prices, smoothed toward the best dual point found (Wentges).
* **Samples.**  The fleet is first solved on nested random samples (factor 4 down to about 1,000 sessions, limits
  scaled to the sample's share); the smallest starts from the aggregate "virtual battery" LP's prices, each level
  warm-starts the next with its best prices and, group by group, the prices of the columns its solution uses.
* **Certificate.**  For any ``lambda`` the Lagrangian dual
  ``L(lambda) = sum_i min_{x_i in X_i} [f_i(x_i) + lambda . net_i dt] + min_y [G(y) - lambda . y dt]``
  is a lower bound on the optimum (weak duality); the first term is what the exact pricing returns, the second a
  small LP over ``y`` in the box of physically possible aggregates.  The upper bound is the objective of the
  feasible schedule returned.  ``certified_gap = (upper - lower) / |upper|`` is reported on every run.
* **Primal schedule.**  The master's solution is a convex combination of columns per group; applying the same
  weights to the member EVs' schedules (re-priced at the stored prices of the columns used) gives per-EV schedules
  that keep every EV's limits (each ``X_i`` is convex) and the master's aggregate, hence the coupling limits.  Float
  residue above a limit is repaired by scaling the node's schedules toward idle (a convex combination with the
  always-feasible idle schedule).
* **Several sites** are solved one by one without the fleet's terms (a relaxation: the bounds add up); if those
  terms then cost nothing that is the answer, else the sites' solutions warm-start a joint solve.

Entry points: :func:`solve_coupled` (registered as the ``decomposition`` solver of the ``coupled`` strategy) and
:func:`coupled_objective` (the objective of any schedule under the same options, used for bounds and regret).
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from typing import Any

import highspy
import numpy as np
import scipy.sparse as sp

from vgi.errors import VgiError
from vgi.schedule import exact
from vgi.schedule.lp import new_highs
from vgi.schedule.options import (
    DrEvent,
    ScheduleOptions,
    default_unmet_penalty,
    fleet_limit_array,
    netting_credit,
    shared_meter_sites,
    site_limit_arrays,
    target_curve_array,
)
from vgi.schedule.prices import PriceInputs
from vgi.schedule.problem import FleetOnGrid, Schedule

__all__ = [
    "Coupling",
    "DecompositionResult",
    "coupled_objective",
    "decomposition_strategy",
    "solve_coupled",
    "subset_fleet",
]

INF = highspy.kHighsInf
#: round of a column made from given schedules (``warm_schedule``), not from pricing; -1 is the idle column
SCHEDULE = -2
#: rows of EVs priced at once when per-EV schedules are rebuilt (bounds temporary memory)
CHUNK_ROWS = 65_536


# ---------------------------------------------------------------------------------------------------------------
# the coupling: what ties sessions together, on the fleet's grid
# ---------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class Coupling:
    """The coupling terms of a coupled problem, as arrays on the fleet's grid.

    A *node* is an aggregate whose net power the terms constrain: each site that has an import limit is its own node
    and every other session belongs to one node for the rest of the fleet (a fleet without site limits is one node).

    Attributes:
        node_of_session: (N,) node index of each session.
        node_names: label of each node (site id, or ``"*"`` for the rest).
        node_import_kw: (R, T) import limit of each node's net power, +inf where none.
        fleet_import_kw, fleet_export_kw: (T,) limits on the fleet's net import / export (>= 0 means export
            at most that much), or None.
        peak_weight_per_kw: weight of the fleet's highest net import (peak weight + demand charge).
        peak_floor_kw: highest import already reached (rolling horizon), the peak term never goes below it.
        target_kw, over_penalty_per_kwh, under_penalty_per_kwh: curve to follow (T,), NaN in the steps without a
            target, and the price of each kWh above / below it.
        dr_steps: (T,) bool, steps of a demand-response event; ``dr_cap_kw`` (T,) the net import allowed there
            (baseline - reduction), ``dr_penalty_per_kwh`` the price of each kWh above it.
        limit_penalty_per_kwh: price of each kWh a hard limit is exceeded by.
        unmet_penalty_per_kwh: price of each battery kWh short of a need.
        wear_cost_per_kwh: battery wear per battery-side kWh discharged.
        node_netted: (R,) bool, nodes that are one shared meter (``options.shared_meter``) where netting can
            matter (some car there may discharge); None = none.  Each such site is its own node.
        meter_buy_per_kwh, meter_sell_per_kwh: (T,) import and export prices of the shared meters.  In the steps
            where export pays less than import (``netting_steps``) a netted node's energy is priced on its net
            power in ``G`` (import price on net import, export price on net export) and its cars see only the
            shadow price there; elsewhere each car pays its own import and earns its own export as usual.
    """

    node_of_session: np.ndarray
    node_names: tuple[str, ...]
    node_import_kw: np.ndarray
    fleet_import_kw: np.ndarray | None
    fleet_export_kw: np.ndarray | None
    peak_weight_per_kw: float
    peak_floor_kw: float
    target_kw: np.ndarray | None
    over_penalty_per_kwh: float
    under_penalty_per_kwh: float
    dr_steps: np.ndarray | None
    dr_cap_kw: np.ndarray | None
    dr_penalty_per_kwh: float
    limit_penalty_per_kwh: float
    unmet_penalty_per_kwh: float
    wear_cost_per_kwh: float
    node_netted: np.ndarray | None = None
    meter_buy_per_kwh: np.ndarray | None = None
    meter_sell_per_kwh: np.ndarray | None = None

    @property
    def n_nodes(self) -> int:
        return len(self.node_names)

    @property
    def has_netting(self) -> bool:
        return self.node_netted is not None and bool(self.node_netted.any()) and bool(self.netting_steps.any())

    @property
    def netting_steps(self) -> np.ndarray:
        """(T,) bool: the steps where a shared meter nets (export pays less than import)."""
        if self.meter_buy_per_kwh is None or self.meter_sell_per_kwh is None:
            return np.zeros(0, dtype=bool)
        return self.meter_buy_per_kwh > self.meter_sell_per_kwh

    def netted_mask(self) -> np.ndarray:
        """(R, T) bool: node and step priced at the node's meter (in ``G``) rather than per car."""
        if not self.has_netting:
            return np.zeros((self.n_nodes, 0), dtype=bool)
        assert self.node_netted is not None
        return self.node_netted[:, None] & self.netting_steps[None, :]

    def ev_prices(self, buy: np.ndarray, sell: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The cars' own import and export prices per node, (R, T) each: zero where the meter prices the node."""
        T = len(buy)
        b = np.broadcast_to(np.asarray(buy, float), (self.n_nodes, T)).copy()
        s = np.broadcast_to(np.asarray(sell, float), (self.n_nodes, T)).copy()
        if self.has_netting:
            mask = self.netted_mask()
            b[mask] = 0.0
            s[mask] = 0.0
        return b, s

    @property
    def has_fleet_terms(self) -> bool:
        return (
            self.fleet_import_kw is not None
            or self.fleet_export_kw is not None
            or self.peak_weight_per_kw > 0
            or self.target_kw is not None
            or self.dr_steps is not None
        )

    @classmethod
    def from_options(
        cls, fleet: FleetOnGrid, prices: PriceInputs, options: ScheduleOptions, peak_floor_kw: float = 0.0
    ) -> Coupling:
        """Read the coupling terms of ``options`` for ``fleet`` (a :class:`VgiError` names a bad option)."""
        n_steps = fleet.n_steps
        limits = site_limit_arrays(fleet, options.site_limit_kw)
        site = np.asarray([str(s) for s in fleet.site_id], dtype=object)
        # shared meters where netting can matter: some car there may discharge and export pays less than import
        metered = set()
        if bool((prices.buy > prices.sell).any()):
            for name in shared_meter_sites(fleet, options.shared_meter):
                if bool((fleet.max_discharge_kw[site == name] > 0).any()):
                    metered.add(name)
        names = sorted(set(limits) | metered)
        node = np.full(len(fleet), len(names), dtype=np.int64)
        for k, name in enumerate(names):
            node[site == name] = k
        rows = [limits.get(n, np.full(n_steps, np.inf)) for n in names]
        netted = [n in metered for n in names]
        if (node == len(names)).any() or not names:
            names.append("*")
            rows.append(np.full(n_steps, np.inf))
            netted.append(False)
        unmet = options.unmet_penalty_per_kwh
        unmet_pen = default_unmet_penalty(prices, fleet) if unmet is None else float(unmet)
        limit_pen = options.limit_penalty_per_kw
        limit_pen = 1000.0 * unmet_pen if limit_pen is None else float(limit_pen)
        fleet_export = fleet_limit_array(options.fleet_export_limit_kw, n_steps, "fleet_export_limit_kw")
        target = target_curve_array(options.target_kw, n_steps, "target_kw")
        dr_steps = dr_cap = None
        dr_pen = 0.0
        if options.dr_event is not None:
            ev = options.dr_event if isinstance(options.dr_event, DrEvent) else DrEvent(*options.dr_event)
            start, stop = int(ev.start_step), int(ev.stop_step)
            if not 0 <= start < stop <= n_steps:
                raise VgiError(f"dr_event steps [{start}, {stop}) are not inside the grid's {n_steps} steps")
            base = fleet_limit_array(ev.baseline_kw, n_steps, "dr_event baseline_kw")
            assert base is not None
            dr_steps = np.zeros(n_steps, dtype=bool)
            dr_steps[start:stop] = True
            dr_cap = base - float(ev.reduction_kw)
            dr_pen = float(ev.shortfall_penalty_per_kwh)
        for name, value in (
            ("minimise_peak", options.minimise_peak),
            ("demand_charge_per_kw", options.demand_charge_per_kw),
            ("over_penalty_per_kwh", options.over_penalty_per_kwh),
            ("under_penalty_per_kwh", options.under_penalty_per_kwh),
        ):
            if value < 0:
                raise VgiError(f"{name} must not be negative, got {value}")
        return cls(
            node_of_session=node,
            node_names=tuple(names),
            node_import_kw=np.vstack(rows),
            fleet_import_kw=fleet_limit_array(options.fleet_import_limit_kw, n_steps, "fleet_import_limit_kw"),
            fleet_export_kw=fleet_export,
            peak_weight_per_kw=float(options.minimise_peak) + float(options.demand_charge_per_kw),
            peak_floor_kw=float(peak_floor_kw),
            target_kw=target,
            over_penalty_per_kwh=float(options.over_penalty_per_kwh),
            under_penalty_per_kwh=float(options.under_penalty_per_kwh),
            dr_steps=dr_steps,
            dr_cap_kw=dr_cap,
            dr_penalty_per_kwh=dr_pen,
            limit_penalty_per_kwh=limit_pen,
            unmet_penalty_per_kwh=unmet_pen,
            wear_cost_per_kwh=float(options.wear_cost_per_kwh),
            node_netted=np.asarray(netted, dtype=bool) if metered else None,
            meter_buy_per_kwh=prices.buy.copy() if metered else None,
            meter_sell_per_kwh=prices.sell.copy() if metered else None,
        )

    def node_sums(self, per_session: np.ndarray) -> np.ndarray:
        """(R, T) node sums of an (N, T) array (no copy of it)."""
        if self.n_nodes == 1:
            return per_session.sum(axis=0)[None, :]
        n = len(self.node_of_session)
        onehot = sp.csr_matrix((np.ones(n), (self.node_of_session, np.arange(n))), shape=(self.n_nodes, n))
        return np.asarray(onehot @ per_session)

    def aggregate_terms(self, node_net_kw: np.ndarray, step_hours: float) -> dict[str, Any]:
        """Cost of the coupling terms for node net powers (R, T): each term and the steps where limits bind.

        Returns a dict with ``total`` and the parts ``limit_violation_kwh``, ``limit_cost``, ``peak_kw``,
        ``peak_cost``, ``over_kwh``, ``under_kwh``, ``tracking_cost``, ``dr_shortfall_kwh``, ``dr_cost`` and
        ``binding_steps`` / ``violated_steps`` (sorted step indices).
        """
        dt = step_hours
        fleet_net = node_net_kw.sum(axis=0)
        tol = 1e-6 * max(1.0, float(np.abs(node_net_kw).max(initial=0.0)))
        viol_steps = np.zeros(node_net_kw.shape[1], dtype=bool)
        bind_steps = np.zeros(node_net_kw.shape[1], dtype=bool)
        lim = self.node_import_kw
        finite = np.isfinite(lim)
        over_node = np.where(finite, np.maximum(node_net_kw - np.where(finite, lim, 0.0), 0.0), 0.0)
        viol_kw = over_node.sum(axis=0)
        node_viol_kwh = float(viol_kw.sum() * dt)
        bind_steps |= (finite & (node_net_kw >= np.where(finite, lim, 0.0) - tol)).any(axis=0)
        for limit, sign in ((self.fleet_import_kw, 1.0), (self.fleet_export_kw, -1.0)):
            if limit is None:
                continue
            excess = np.maximum(sign * fleet_net - limit, 0.0)
            viol_kw = viol_kw + excess
            bind_steps |= sign * fleet_net >= limit - tol
        viol_steps |= viol_kw > tol
        out: dict[str, Any] = {"limit_violation_kw": viol_kw, "net_kw": fleet_net}
        out["limit_violation_kwh"] = float(viol_kw.sum() * dt)
        out["limit_cost"] = self.limit_penalty_per_kwh * out["limit_violation_kwh"]
        out["fleet_terms_cost"] = out["limit_cost"] - self.limit_penalty_per_kwh * node_viol_kwh
        peak = max(float(fleet_net.max(initial=0.0)), 0.0, self.peak_floor_kw)
        out["peak_kw"] = peak
        out["peak_cost"] = self.peak_weight_per_kw * peak
        over = under = 0.0
        if self.target_kw is not None:
            has = np.isfinite(self.target_kw)  # a step without a target (NaN) counts nothing
            dev = fleet_net[has] - self.target_kw[has]
            over = float(np.maximum(dev, 0.0).sum() * dt)
            under = float(np.maximum(-dev, 0.0).sum() * dt)
        out["over_kwh"], out["under_kwh"] = over, under
        out["tracking_cost"] = self.over_penalty_per_kwh * over + self.under_penalty_per_kwh * under
        short = 0.0
        if self.dr_steps is not None and self.dr_cap_kw is not None:
            short = float(np.maximum(fleet_net - self.dr_cap_kw, 0.0)[self.dr_steps].sum() * dt)
        out["dr_shortfall_kwh"] = short
        out["dr_cost"] = self.dr_penalty_per_kwh * short
        out["total"] = out["limit_cost"] + out["peak_cost"] + out["tracking_cost"] + out["dr_cost"]
        out["fleet_terms_cost"] += out["peak_cost"] + out["tracking_cost"] + out["dr_cost"]
        out["binding_steps"] = np.flatnonzero(bind_steps)
        out["violated_steps"] = np.flatnonzero(viol_steps)
        return out


def _session_costs(
    fleet: FleetOnGrid, prices: PriceInputs, coupling: Coupling, charge_kw: np.ndarray, discharge_kw: np.ndarray | None
) -> tuple[float, float, float, np.ndarray]:
    """Energy cost - export revenue, wear, unmet penalty (totals) and unmet kWh per session."""
    dt = fleet.step_hours
    energy = float(charge_kw.sum(axis=0) @ prices.buy) * dt
    wear = 0.0
    gain = charge_kw.sum(axis=1) * fleet.charge_efficiency
    if discharge_kw is not None:
        energy -= float(discharge_kw.sum(axis=0) @ prices.sell) * dt
        battery_out = discharge_kw.sum(axis=1) / fleet.discharge_efficiency
        wear = coupling.wear_cost_per_kwh * float(battery_out.sum()) * dt
        gain = gain - battery_out
    final = fleet.e_init_kwh + gain * dt
    unmet = np.maximum(fleet.e_need_kwh - final, 0.0)
    return energy, wear, coupling.unmet_penalty_per_kwh * float(unmet.sum()), unmet


def coupled_objective(
    fleet: FleetOnGrid,
    prices: PriceInputs,
    options: ScheduleOptions,
    charge_kw: np.ndarray,
    discharge_kw: np.ndarray | None = None,
    coupling: Coupling | None = None,
) -> dict[str, Any]:
    """The coupled problem's objective for a given schedule, split into its parts.

    ``objective = cost + wear + unmet penalty + limit penalty + peak term + tracking penalties + DR penalty``;
    ``cost`` is energy bought minus energy sold (currency), at shared meters on the meter's net power
    (``netting_credit`` is what that saves over pricing each car apart).  Limits and needs are evaluated, not assumed.
    """
    coupling = coupling or Coupling.from_options(fleet, prices, options)
    energy, wear, unmet_cost, unmet = _session_costs(fleet, prices, coupling, charge_kw, discharge_kw)
    node_net = coupling.node_sums(charge_kw)
    credit = 0.0
    if discharge_kw is not None:
        node_d = coupling.node_sums(discharge_kw)
        if coupling.has_netting:
            # a shared meter bills the node's net power: what that saves over pricing each car apart
            assert coupling.node_netted is not None
            rows = np.flatnonzero(coupling.node_netted)
            credit = netting_credit(prices.buy, prices.sell, node_net[rows], node_d[rows], fleet.step_hours)
        node_net = node_net - node_d
    terms = coupling.aggregate_terms(node_net, fleet.step_hours)
    energy -= credit
    out = dict(terms)
    out.update(
        netting_credit=credit,
        cost=energy,
        wear_cost=wear,
        unmet_cost=unmet_cost,
        unmet_kwh=unmet,
        objective=energy + wear + unmet_cost + terms["total"],
    )
    return out


# ---------------------------------------------------------------------------------------------------------------
# fleet helpers
# ---------------------------------------------------------------------------------------------------------------


def subset_fleet(fleet: FleetOnGrid, rows: np.ndarray) -> FleetOnGrid:
    """The sessions ``rows`` (index or bool mask) of ``fleet`` as a fleet on the same grid."""
    n = len(fleet)
    changes = {}
    for f in dataclasses.fields(fleet):
        value = getattr(fleet, f.name)
        if isinstance(value, np.ndarray) and value.ndim >= 1 and value.shape[0] == n:
            changes[f.name] = value[rows]
    return dataclasses.replace(fleet, **changes)


def _window_sums(fleet: FleetOnGrid, index: np.ndarray, n_index: int, weight: np.ndarray) -> np.ndarray:
    """(n_index, T) sums of ``weight x share of the step plugged in`` over the sessions of each index, in O(N + T).

    Interior steps of a window count fully (a difference array), the first and last step by their fractions.
    """
    T = fleet.n_steps
    start, stop = fleet.start, fleet.stop
    length = stop - start
    width = T + 1
    inner = weight * (length >= 2)
    size = n_index * width
    diff = np.bincount(index * width + np.minimum(start + 1, stop), weights=inner, minlength=size)
    diff -= np.bincount(index * width + np.maximum(stop - 1, start), weights=inner, minlength=size)
    out = np.cumsum(diff.reshape(n_index, width), axis=1)[:, :T]
    has = length > 0
    two = length >= 2
    ends = np.bincount(index[has] * T + start[has], (weight * fleet.first_fraction)[has], minlength=n_index * T)
    ends += np.bincount(index[two] * T + stop[two] - 1, (weight * fleet.last_fraction)[two], minlength=n_index * T)
    return out + ends.reshape(n_index, T)


@dataclass(frozen=True, eq=False)
class _NodeEnvelope:
    """Per node and step: power bounds, cumulative battery-energy bounds and mean efficiencies."""

    charge_kw: np.ndarray  # (R, T) sum of charge limits
    discharge_kw: np.ndarray  # (R, T)
    energy_up_kwh: np.ndarray  # (R, T) upper bound of the energy added by the end of each step
    energy_low_kwh: np.ndarray  # (R, T) lower bound (needs that can be met, SoC floor)
    eta_c: np.ndarray  # (R, T)
    eta_d: np.ndarray  # (R, T)


def _node_envelope(fleet: FleetOnGrid, node: np.ndarray, n_nodes: int) -> _NodeEnvelope:
    """Sum the per-session envelopes by node, CHUNK_ROWS sessions at a time (no N x T array)."""
    n, T, dt = len(fleet), fleet.n_steps, fleet.step_hours
    acc = {k: np.zeros((n_nodes, T)) for k in ("c", "d", "up", "low", "ce", "dd")}
    for lo in range(0, n, CHUNK_ROWS):
        sel = slice(lo, min(n, lo + CHUNK_ROWS))
        avail = fleet.availability(sel)
        eta_c = fleet.charge_efficiency[sel][:, None]
        eta_d = fleet.discharge_efficiency[sel][:, None]
        cmax = avail * fleet.max_charge_kw[sel][:, None]
        dmax = avail * fleet.max_discharge_kw[sel][:, None]
        gain = np.cumsum(cmax * eta_c * dt, axis=1)
        loss = np.cumsum(dmax / eta_d * dt, axis=1)
        e_init = fleet.e_init_kwh[sel][:, None]
        head = (fleet.e_max_kwh[sel][:, None] - e_init).clip(min=0.0)
        up = np.minimum(gain, head)
        down = np.maximum(-loss, (fleet.e_floor_kwh[sel][:, None] - e_init).clip(max=0.0))
        need = np.minimum(fleet.e_need_kwh[sel][:, None] - e_init, up[:, -1:])
        low = np.minimum(np.maximum(down, need - (gain[:, -1:] - gain)), up)
        parts = {"c": cmax, "d": dmax, "up": up, "low": low, "ce": cmax * eta_c, "dd": dmax / eta_d}
        if n_nodes == 1:
            for k, v in parts.items():
                acc[k][0] += v.sum(axis=0)
        else:
            m = sp.csr_matrix(
                (np.ones(sel.stop - sel.start), (node[sel], np.arange(sel.stop - sel.start))),
                shape=(n_nodes, sel.stop - sel.start),
            )
            for k, v in parts.items():
                acc[k] += m @ v
    with np.errstate(invalid="ignore", divide="ignore"):
        eta_c_mean = np.where(acc["c"] > 0, acc["ce"] / acc["c"], 1.0)
        eta_d_mean = np.where(acc["dd"] > 0, acc["d"] / acc["dd"], 1.0)
    return _NodeEnvelope(acc["c"], acc["d"], acc["up"], acc["low"], eta_c_mean, eta_d_mean)


# ---------------------------------------------------------------------------------------------------------------
# the aggregate part: variables y (R x T), penalty variables and their rows, as a block of an LP
# ---------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class _AggregateBlock:
    """LP block of ``G``: its columns (node powers, penalty variables), rows over them (CSR), bounds and costs.

    ``link`` (R*T x n_cols) says which block columns make up each node's net power: ``y[r, t]`` (kept within the
    node's import limit) plus, where the node has a limit, ``v[r, t]`` (the excess over it, priced at the limit
    penalty).  Every solver ties ``link @ block columns`` to the sum of the sessions' net powers.
    """

    cost: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    rows: sp.csr_matrix  # (m, n_cols)
    row_lower: np.ndarray
    row_upper: np.ndarray
    link: sp.csr_matrix  # (R*T, n_cols)

    @property
    def n_cols(self) -> int:
        return len(self.cost)


def _aggregate_block(coupling: Coupling, y_lower: np.ndarray, y_upper: np.ndarray, dt: float) -> _AggregateBlock:
    """Build ``G`` over node powers within the box ``[y_lower, y_upper]`` (R, T) of what the sessions can do."""
    R, T = y_lower.shape
    n_y = R * T
    lim = coupling.node_import_kw
    finite = np.isfinite(lim)
    cap = np.where(finite, lim, np.inf)
    cost: list[np.ndarray] = [np.zeros(n_y)]
    lower: list[np.ndarray] = [np.minimum(y_lower, cap).ravel()]
    upper: list[np.ndarray] = [np.minimum(y_upper, cap).ravel()]
    r_idx: list[np.ndarray] = []
    c_idx: list[np.ndarray] = []
    vals: list[np.ndarray] = []
    r_lo: list[np.ndarray] = []
    r_hi: list[np.ndarray] = []
    state = {"col": n_y, "row": 0}

    def add_cols(c: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
        k = len(c)
        cost.append(np.asarray(c, float))
        lower.append(np.asarray(lo, float))
        upper.append(np.asarray(hi, float))
        idx = np.arange(state["col"], state["col"] + k)
        state["col"] += k
        return idx

    def add_rows(k: int, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
        r_lo.append(np.asarray(lo, float))
        r_hi.append(np.asarray(hi, float))
        idx = np.arange(state["row"], state["row"] + k)
        state["row"] += k
        return idx

    def coef(rows: np.ndarray, cols: np.ndarray, v: float | np.ndarray) -> None:
        r_idx.append(rows)
        c_idx.append(cols)
        vals.append(np.broadcast_to(np.asarray(v, float), rows.shape).copy())

    lim_pen = coupling.limit_penalty_per_kwh * dt
    link_rows = [np.arange(n_y)]
    link_cols = [np.arange(n_y)]
    rr, tt = np.nonzero(finite)
    v_of = np.full((R, T), -1, dtype=np.int64)
    if len(rr):  # excess over a node's import limit
        excess_max = np.maximum(y_upper[rr, tt] - lim[rr, tt], 0.0)
        v = add_cols(np.full(len(rr), lim_pen), np.zeros(len(rr)), excess_max)
        link_rows.append(rr * T + tt)
        link_cols.append(v)
        v_of[rr, tt] = v
    if coupling.has_netting:  # a shared meter: the node's net power y + v = import - export, priced at the meter
        assert coupling.meter_buy_per_kwh is not None and coupling.meter_sell_per_kwh is not None
        nr, nt = np.nonzero(coupling.netted_mask())
        k = len(nr)
        imp = add_cols(coupling.meter_buy_per_kwh[nt] * dt, np.zeros(k), np.maximum(y_upper[nr, nt], 0.0))
        exp = add_cols(-coupling.meter_sell_per_kwh[nt] * dt, np.zeros(k), np.maximum(-y_lower[nr, nt], 0.0))
        rows = add_rows(k, np.zeros(k), np.zeros(k))
        coef(rows, nr * T + nt, 1.0)
        has_v = v_of[nr, nt] >= 0
        coef(rows[has_v], v_of[nr, nt][has_v], 1.0)
        coef(rows, imp, -1.0)
        coef(rows, exp, 1.0)
    if coupling.has_fleet_terms:
        fleet_lo = np.minimum(y_lower, cap).sum(axis=0)
        fleet_hi = y_upper.sum(axis=0)
        if R == 1 and not len(rr):
            fleet_cols = np.arange(T)
        else:  # Y_t = sum_r (y_rt + v_rt) as explicit variables
            fleet_cols = add_cols(np.zeros(T), fleet_lo, fleet_hi)
            rows = add_rows(T, np.zeros(T), np.zeros(T))
            coef(rows, fleet_cols, 1.0)
            lr = np.concatenate(link_rows)
            coef(rows[lr % T], np.concatenate(link_cols), -1.0)
        if coupling.fleet_import_kw is not None:
            v = add_cols(np.full(T, lim_pen), np.zeros(T), np.full(T, INF))
            rows = add_rows(T, np.full(T, -INF), coupling.fleet_import_kw)
            coef(rows, fleet_cols, 1.0)
            coef(rows, v, -1.0)
        if coupling.fleet_export_kw is not None:
            v = add_cols(np.full(T, lim_pen), np.zeros(T), np.full(T, INF))
            rows = add_rows(T, -coupling.fleet_export_kw, np.full(T, INF))
            coef(rows, fleet_cols, 1.0)
            coef(rows, v, 1.0)
        if coupling.target_kw is not None:  # rows only in the steps with a target (NaN: none)
            ts = np.flatnonzero(np.isfinite(coupling.target_kw))
            k = len(ts)
            over = add_cols(np.full(k, coupling.over_penalty_per_kwh * dt), np.zeros(k), np.full(k, INF))
            under = add_cols(np.full(k, coupling.under_penalty_per_kwh * dt), np.zeros(k), np.full(k, INF))
            rows = add_rows(k, coupling.target_kw[ts], coupling.target_kw[ts])
            coef(rows, fleet_cols[ts], 1.0)
            coef(rows, over, -1.0)
            coef(rows, under, 1.0)
        if coupling.dr_steps is not None and coupling.dr_cap_kw is not None:
            ev = np.flatnonzero(coupling.dr_steps)
            k = len(ev)
            s = add_cols(np.full(k, coupling.dr_penalty_per_kwh * dt), np.zeros(k), np.full(k, INF))
            rows = add_rows(k, np.full(k, -INF), coupling.dr_cap_kw[ev])
            coef(rows, fleet_cols[ev], 1.0)
            coef(rows, s, -1.0)
        if coupling.peak_weight_per_kw > 0:
            floor = max(0.0, coupling.peak_floor_kw)
            p = add_cols(
                np.array([coupling.peak_weight_per_kw]),
                np.array([floor]),
                np.array([max(floor, float(fleet_hi.max(initial=0.0)))]),
            )
            rows = add_rows(T, np.full(T, -INF), np.zeros(T))
            coef(rows, fleet_cols, 1.0)
            coef(rows, np.repeat(p, T), -1.0)
    n_cols = state["col"]
    m = state["row"]
    if r_idx:
        mat = sp.csr_matrix((np.concatenate(vals), (np.concatenate(r_idx), np.concatenate(c_idx))), shape=(m, n_cols))
    else:
        mat = sp.csr_matrix((0, n_cols))
    lr, lc = np.concatenate(link_rows), np.concatenate(link_cols)
    link = sp.csr_matrix((np.ones(len(lr)), (lr, lc)), shape=(n_y, n_cols))
    return _AggregateBlock(
        cost=np.concatenate(cost),
        lower=np.concatenate(lower),
        upper=np.concatenate(upper),
        rows=mat,
        row_lower=np.concatenate(r_lo) if r_lo else np.zeros(0),
        row_upper=np.concatenate(r_hi) if r_hi else np.zeros(0),
        link=link,
    )


def _highs() -> highspy.Highs:
    h = new_highs()  # banner silenced, output off
    h.silent()
    h.setOptionValue("output_flag", False)
    return h


def _pass_lp(
    h: highspy.Highs,
    cost: np.ndarray,
    lower: np.ndarray,
    upper: np.ndarray,
    mat: sp.spmatrix,
    row_lower: np.ndarray,
    row_upper: np.ndarray,
) -> None:
    csc = sp.csc_matrix(mat)
    csc.sort_indices()
    lp = highspy.HighsLp()
    lp.num_col_ = len(cost)
    lp.num_row_ = csc.shape[0]
    lp.col_cost_ = np.asarray(cost, float)
    lp.col_lower_ = np.where(np.isinf(lower), -INF, lower).astype(float)
    lp.col_upper_ = np.where(np.isinf(upper), INF, upper).astype(float)
    lp.row_lower_ = np.where(np.isinf(row_lower), -INF, row_lower).astype(float)
    lp.row_upper_ = np.where(np.isinf(row_upper), INF, row_upper).astype(float)
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.start_ = csc.indptr.astype(np.int32)
    lp.a_matrix_.index_ = csc.indices.astype(np.int32)
    lp.a_matrix_.value_ = csc.data.astype(float)
    h.passModel(lp)


def _run_optimal(h: highspy.Highs, what: str) -> None:
    h.run()
    status = h.getModelStatus()
    if status != highspy.HighsModelStatus.kOptimal:
        raise RuntimeError(f"{what}: HiGHS ended with {h.modelStatusToString(status)}")


class _DualFunction:
    """``phi(lambda) = min_y G(y) - dt * lambda . y`` over the box of possible aggregates (a small warm LP)."""

    def __init__(self, block: _AggregateBlock, dt: float) -> None:
        self.block = block
        self.dt = dt
        self.h = _highs()
        _pass_lp(self.h, block.cost, block.lower, block.upper, block.rows, block.row_lower, block.row_upper)

    def __call__(self, lam: np.ndarray) -> float:
        b = self.block
        cost = b.cost - self.dt * (b.link.T @ lam.ravel())
        self.h.changeColsCost(b.n_cols, np.arange(b.n_cols, dtype=np.int32), cost)
        _run_optimal(self.h, "dual function")
        return float(self.h.getInfo().objective_function_value)


# ---------------------------------------------------------------------------------------------------------------
# the virtual battery: first shadow prices
# ---------------------------------------------------------------------------------------------------------------


def _virtual_battery_prices(
    env: _NodeEnvelope, block: _AggregateBlock, prices: PriceInputs, coupling: Coupling, dt: float
) -> np.ndarray:
    """Shadow prices (R, T) of ``y`` in the aggregate LP where each node is one battery with summed bounds.

    The summed bounds are an outer approximation of the node's feasible set, so these prices are a start, not a
    bound; the certificate never relies on them.
    """
    R, T = env.charge_kw.shape
    nb = block.n_cols
    # VB columns per node: C (R*T), D (R*T), Q (R*T), U (R)
    c0, d0, q0, u0 = nb, nb + R * T, nb + 2 * R * T, nb + 3 * R * T
    n_cols = u0 + R
    buy, sell = coupling.ev_prices(prices.buy, prices.sell)  # the meters' prices are in the block
    cost = np.concatenate(
        [
            block.cost,
            (buy * dt).ravel(),
            ((-sell + coupling.wear_cost_per_kwh / env.eta_d) * dt).ravel(),
            np.zeros(R * T),
            np.full(R, coupling.unmet_penalty_per_kwh),
        ]
    )
    lower = np.concatenate([block.lower, np.zeros(2 * R * T), np.full(R * T, -INF), np.zeros(R)])
    upper = np.concatenate(
        [block.upper, env.charge_kw.ravel(), env.discharge_kw.ravel(), env.energy_up_kwh.ravel(), np.full(R, INF)]
    )
    rt = np.arange(R * T)
    t_of = rt % T
    r_of = rt // T
    # link rows: C - D - (node power of the block) = 0
    link = block.link.tocoo()
    rows_i = [rt, rt, link.row]
    cols_i = [c0 + rt, d0 + rt, link.col]
    vals_i = [np.ones(R * T), -np.ones(R * T), -link.data]
    # dynamics: Q_t - Q_{t-1} - eta_c dt C_t + dt / eta_d D_t = 0
    dyn_r = R * T + rt
    has_prev = t_of > 0
    rows_i += [dyn_r, dyn_r[has_prev], dyn_r, dyn_r]
    cols_i += [q0 + rt, q0 + rt[has_prev] - 1, c0 + rt, d0 + rt]
    vals_i += [
        np.ones(R * T),
        -np.ones(int(has_prev.sum())),
        -(env.eta_c * dt).ravel(),
        (dt / env.eta_d).ravel(),
    ]
    # soft lower energy bounds: Q_t + U_r >= low_t
    low_r = 2 * R * T + rt
    rows_i += [low_r, low_r]
    cols_i += [q0 + rt, u0 + r_of]
    vals_i += [np.ones(R * T), np.ones(R * T)]
    vb = sp.csr_matrix(
        (np.concatenate(vals_i), (np.concatenate(rows_i), np.concatenate(cols_i))), shape=(3 * R * T, n_cols)
    )
    blk = sp.hstack([block.rows, sp.csr_matrix((block.rows.shape[0], n_cols - nb))])
    mat = sp.vstack([vb, blk]).tocsr()
    row_lower = np.concatenate([np.zeros(2 * R * T), env.energy_low_kwh.ravel(), block.row_lower])
    row_upper = np.concatenate([np.zeros(2 * R * T), np.full(R * T, INF), block.row_upper])
    h = _highs()
    _pass_lp(h, cost, lower, upper, mat, row_lower, row_upper)
    _run_optimal(h, "virtual battery LP")
    duals = np.asarray(h.getSolution().row_dual)[: R * T]
    # a unit more of y on the link row C - D - y = 0 lowers the objective by the row's dual: lambda = -dual / dt
    return (-duals / dt).reshape(R, T)


# ---------------------------------------------------------------------------------------------------------------
# Dantzig-Wolfe
# ---------------------------------------------------------------------------------------------------------------


@dataclass
class DecompositionResult:
    """Diagnostics of a decomposition solve (also copied into :attr:`Schedule.stats`)."""

    iterations: int = 0
    lower_bound: float = -np.inf
    upper_bound: float = np.inf
    master_objective: float = np.inf
    certified_gap: float = np.inf
    n_groups: int = 0
    n_columns: int = 0
    pricing_seconds: float = 0.0
    master_seconds: float = 0.0
    recover_seconds: float = 0.0
    repair_factor: float = 0.0
    perturbation_bound: float = 0.0
    levels: str = ""
    status: str = ""
    #: best dual point (R, T) of the last solve, currency/kWh: a warm start for the next (rolling horizon)
    shadow_prices: np.ndarray | None = None
    history: list[tuple[int, float, float, float]] = dataclasses.field(default_factory=list)


def _groups(fleet: FleetOnGrid, node: np.ndarray, n_groups: int | None) -> tuple[np.ndarray, np.ndarray]:
    """Cut sessions into groups within nodes, sorted by window; (group of session, node of group).

    ``n_groups`` is the total (shared by the nodes in proportion to their sessions); None gives each node
    :func:`_default_groups` of its own.
    """
    n = len(fleet)
    order = np.lexsort((fleet.e_need_kwh - fleet.e_init_kwh, fleet.stop, fleet.start, node))
    counts = np.bincount(node, minlength=int(node.max(initial=0)) + 1)
    size = max(1, int(np.ceil(n / max(1, n_groups)))) if n_groups is not None else 0
    group_sorted = np.empty(n, dtype=np.int64)
    node_of_group: list[int] = []
    pos = 0
    for r, cnt in enumerate(counts):
        if cnt == 0:
            continue
        k = max(1, int(np.ceil(cnt / size))) if size else _default_groups(int(cnt), fleet.n_steps)
        group_sorted[pos : pos + cnt] = len(node_of_group) + (np.arange(cnt) * k) // cnt
        node_of_group.extend([r] * k)
        pos += cnt
    group = np.empty(n, dtype=np.int64)
    group[order] = group_sorted
    return group, np.asarray(node_of_group, dtype=np.int64)


def _scaled_coupling(coupling: Coupling, rows: np.ndarray, node_ratio: np.ndarray, ratio: float) -> Coupling:
    """The coupling of a sample ``rows`` of the sessions: limits, targets and caps scaled to the sample's share."""

    def scale(a: np.ndarray | None) -> np.ndarray | None:
        return None if a is None else a * ratio

    return dataclasses.replace(
        coupling,
        node_of_session=coupling.node_of_session[rows],
        node_import_kw=coupling.node_import_kw * node_ratio[:, None],
        fleet_import_kw=scale(coupling.fleet_import_kw),
        fleet_export_kw=scale(coupling.fleet_export_kw),
        target_kw=scale(coupling.target_kw),
        dr_cap_kw=scale(coupling.dr_cap_kw),
        peak_floor_kw=coupling.peak_floor_kw * ratio,
    )


class _Level:
    """Column generation on the fleet or on a sample of it (one level of the hierarchy).

    Groups (``group``, ``node_of_group``) are those of the whole fleet restricted to the level's sessions, so that a
    group's columns at one level predict its columns at the next.  Each session also has a perturbation pattern
    ``k_of`` (row of ``eps``): its prices are ``buy + lambda[node] + eps[k]``.
    """

    def __init__(
        self,
        fleet: FleetOnGrid,
        prices: PriceInputs,
        coupling: Coupling,
        group: np.ndarray,
        node_of_group: np.ndarray,
        eps: np.ndarray,
        k_of: np.ndarray,
        stabilisation: float,
        result: DecompositionResult,
        by_pattern: bool = False,
    ) -> None:
        self.fleet = fleet
        self.prices = prices
        self.c = coupling
        self.dt = fleet.step_hours
        self.T = fleet.n_steps
        self.R = coupling.n_nodes
        self.group = group
        self.node_of_group = node_of_group
        self.G = len(node_of_group)
        self.eps = eps
        self.K = eps.shape[0]
        self.price_row = coupling.node_of_session * self.K + k_of
        self.k_of = k_of
        self.by_pattern = by_pattern
        self.result = result
        self.alpha = stabilisation
        self.ev_buy, self.ev_sell = coupling.ev_prices(prices.buy, prices.sell)  # (R, T) the cars' own prices
        node = coupling.node_of_session
        self.charge_sum_kw = _window_sums(fleet, node, self.R, fleet.max_charge_kw)
        self.discharge_sum_kw = _window_sums(fleet, node, self.R, fleet.max_discharge_kw)
        reach = _window_sums(fleet, k_of, self.K, np.maximum(fleet.max_charge_kw, fleet.max_discharge_kw))
        self.eps_bound = float((np.abs(eps) * reach).sum() * self.dt)
        self.block = _aggregate_block(coupling, -self.discharge_sum_kw, self.charge_sum_kw, self.dt)
        self.phi = _DualFunction(self.block, self.dt)
        self.lambdas: list[np.ndarray] = []
        self.col_group: list[np.ndarray] = []
        self.col_round: list[np.ndarray] = []
        self.n_cols = 0
        self.iterations = 0
        self.best_lb = -np.inf
        self.center: np.ndarray | None = None
        self.z = np.inf
        self.lam_rmp: np.ndarray | None = None
        self.pi = np.full(self.G, np.inf)
        self.mu = np.zeros(0)
        self.schedule_c: np.ndarray | None = None
        self.schedule_d: np.ndarray | None = None
        idle_unmet = np.maximum(fleet.e_need_kwh - fleet.e_init_kwh, 0.0)
        idle_cost = np.bincount(group, idle_unmet, minlength=self.G) * coupling.unmet_penalty_per_kwh
        self._build_master(idle_cost)

    # -- master ------------------------------------------------------------------------------------------------

    def _build_master(self, idle_cost: np.ndarray) -> None:
        b = self.block
        n_y = self.R * self.T
        # rows: link (R*T): sum of columns - node power = 0 ; rows of G ; convexity (G): sum mu = 1
        conv = sp.csr_matrix((self.G, b.n_cols))
        mat = sp.vstack([-b.link, b.rows, conv]).tocsr()
        row_lower = np.concatenate([np.zeros(n_y), b.row_lower, np.ones(self.G)])
        row_upper = np.concatenate([np.zeros(n_y), b.row_upper, np.ones(self.G)])
        self.h = _highs()
        self.h.setOptionValue("simplex_strategy", 4)  # primal simplex: new columns keep the basis primal feasible
        _pass_lp(self.h, b.cost, b.lower, b.upper, mat, row_lower, row_upper)
        self.conv_row0 = n_y + b.rows.shape[0]
        self.n_base_cols = b.n_cols
        # idle columns (zero power, every need unmet): the master is never infeasible
        self._add_columns(np.arange(self.G), np.zeros((self.G, self.T)), idle_cost, np.full(self.G, -1))

    def _add_columns(self, groups: np.ndarray, net: np.ndarray, cost: np.ndarray, rounds: np.ndarray) -> None:
        k = len(groups)
        if k == 0:
            return
        T = self.T
        nodes = self.node_of_group[groups]
        idx = np.concatenate([nodes[:, None] * T + np.arange(T)[None, :], (self.conv_row0 + groups)[:, None]], axis=1)
        val = np.concatenate([net, np.ones((k, 1))], axis=1)
        keep = val != 0.0
        keep[:, -1] = True
        counts = keep.sum(axis=1)
        starts = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int32)
        self.h.addCols(
            k,
            np.asarray(cost, float),
            np.zeros(k),
            np.full(k, INF),
            int(counts.sum()),
            starts,
            idx[keep].astype(np.int32),
            val[keep].astype(float),
        )
        self.col_group.append(np.asarray(groups, dtype=np.int64))
        self.col_round.append(np.asarray(rounds, dtype=np.int64))
        self.n_cols += k

    def solve_master(self) -> np.ndarray:
        """Solve the master; keep its objective and duals; return the column weights."""
        t0 = time.perf_counter()
        _run_optimal(self.h, "master LP")
        sol = self.h.getSolution()
        row_dual = np.asarray(sol.row_dual)
        self.z = float(self.h.getInfo().objective_function_value)
        n_y = self.R * self.T
        # one more kW on a link row changes the objective by its dual; the pricing sees lambda = -dual / dt
        self.lam_rmp = (-row_dual[:n_y] / self.dt).reshape(self.R, self.T)
        self.pi = row_dual[self.conv_row0 : self.conv_row0 + self.G]
        self.mu = np.asarray(sol.col_value)[self.n_base_cols :]
        self.result.master_seconds += time.perf_counter() - t0
        return self.mu

    def active_columns(self, mu: np.ndarray) -> list[list[tuple[int, float]]]:
        """Per group, the rounds of its columns in use and their weights (largest first, summing to 1)."""
        groups = np.concatenate(self.col_group)
        rounds = np.concatenate(self.col_round)
        mu = np.clip(mu, 0.0, None)
        total = np.bincount(groups, mu, minlength=self.G)
        weight = mu / np.where(total > 0, total, 1.0)[groups]
        out: list[list[tuple[int, float]]] = [[] for _ in range(self.G)]
        used = np.flatnonzero(weight > 1e-12)
        for j in used[np.argsort(-weight[used], kind="stable")]:
            out[int(groups[j])].append((int(rounds[j]), float(weight[j])))
        return out

    # -- pricing -----------------------------------------------------------------------------------------------

    def _rows(self, lams: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Price rows for each shadow price ``j``, node ``r``, perturbation ``k`` (row ``(j * R + r) * K + k``):
        buy, sell, and the shift (shadow price + perturbation) they add to the cars' own prices."""
        shift = np.stack(lams)[:, :, None, :] + self.eps[None, None, :, :]
        buy = (self.ev_buy[None, :, None, :] + shift).reshape(len(lams) * self.R * self.K, self.T)
        sell = (self.ev_sell[None, :, None, :] + shift).reshape(len(lams) * self.R * self.K, self.T)
        return buy, sell, shift.reshape(len(lams) * self.R * self.K, self.T)

    def register(self, lam: np.ndarray) -> int:
        self.lambdas.append(lam)
        return len(self.lambdas) - 1

    def price(
        self, rounds: np.ndarray, groups: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, float | None]:
        """Price ``groups`` (all by default), group ``g`` at the shadow prices of round ``rounds[g]``.

        Returns the groups, their columns' net power (n, T) and true cost (n,), and when every session was priced at
        the same round a lower bound on ``sum_i min_x f_i(x) + dt lambda . net_i(x)`` (the perturbed optimum less the
        most the perturbation can be worth); else None.
        """
        t0 = time.perf_counter()
        groups = np.arange(self.G) if groups is None else np.asarray(groups, dtype=np.int64)
        used = np.unique(rounds[groups])
        local = np.full(len(self.lambdas), -1, dtype=np.int64)
        local[used] = np.arange(len(used))
        buy, sell, shift = self._rows([self.lambdas[int(j)] for j in used])
        g_round = np.full(self.G, -1, dtype=np.int64)
        g_round[groups] = local[rounds[groups]]
        if len(groups) == self.G:
            fleet, rows_of = self.fleet, None
        else:
            rows_of = np.flatnonzero(g_round[self.group] >= 0)
            fleet = subset_fleet(self.fleet, rows_of)
        sel = slice(None) if rows_of is None else rows_of
        if self.by_pattern:
            # the method before 2026-12 (a benchmark baseline): sums per group and pattern, (G, K, T), the shift
            # taken off afterwards
            res = exact.price_response(
                fleet,
                buy,
                sell,
                group=g_round[self.group[sel]] * (self.R * self.K) + self.price_row[sel],
                wear_cost_per_kwh=self.c.wear_cost_per_kwh,
                unmet_penalty_per_kwh=self.c.unmet_penalty_per_kwh,
                aggregate_by=self.group[sel] * self.K + self.k_of[sel],
                n_aggregate=self.G * self.K,
            )
            net_gk = (np.asarray(res.charge_kw) - np.asarray(res.discharge_kw)).reshape(self.G, self.K, self.T)
            net_gk = net_gk[groups]
            cost_gk = np.asarray(res.cost, dtype=float).reshape(self.G, self.K)[groups]
            lam_g = np.stack([self.lambdas[int(rounds[g])][self.node_of_group[g]] for g in groups])
            moved = lam_g[:, None, :] + self.eps[None, :, :]
            true_cost = (cost_gk - self.dt * np.einsum("gkt,gkt->gk", moved, net_gk)).sum(axis=1)
            net = net_gk.sum(axis=1)
        else:
            # the cost of a column is the true cost: at the prices less the shadow price and perturbation of each
            # session's price row (taken off inside the kernel, summed per group: no (G, K, T) array is built)
            res = exact.price_response(
                fleet,
                buy,
                sell,
                group=g_round[self.group[sel]] * (self.R * self.K) + self.price_row[sel],
                wear_cost_per_kwh=self.c.wear_cost_per_kwh,
                unmet_penalty_per_kwh=self.c.unmet_penalty_per_kwh,
                aggregate_by=self.group[sel],
                n_aggregate=self.G,
                cost_shift=shift,
            )
            assert res.discharge_kw is not None
            net = np.subtract(res.charge_kw, res.discharge_kw, out=res.charge_kw)[groups]
            true_cost = np.asarray(res.cost, dtype=float)[groups]
        bound = res.objective - self.eps_bound if len(used) == 1 and len(groups) == self.G else None
        self.result.pricing_seconds += time.perf_counter() - t0
        return groups, net, true_cost, bound

    def price_all(self, lam: np.ndarray, add: str = "improving") -> bool:
        """Price every group at ``lam``; update the bound; add columns (``all`` or ``improving`` ones).

        Returns whether a column entered.
        """
        k = self.register(lam)
        groups, net, cost, bound = self.price(np.full(self.G, k))
        assert bound is not None
        lb = bound + self.phi(lam)
        if lb > self.best_lb:
            self.best_lb, self.center = lb, lam
        if add == "all" or self.lam_rmp is None:
            new = groups
        else:
            rc = cost + self.dt * (self.lam_rmp[self.node_of_group] * net).sum(axis=1) - self.pi
            scale = max(1.0, abs(self.z) if np.isfinite(self.z) else 1.0, abs(self.best_lb))
            new = np.flatnonzero(rc < -1e-9 * scale / self.G)
        self._add_columns(groups[new], net[new], cost[new], np.full(len(new), k))
        return len(new) > 0

    def add_schedule_columns(self, charge_kw: np.ndarray, discharge_kw: np.ndarray | None) -> None:
        """One column per group from given per-session schedules (e.g. the rest of the previous re-plan's plan,
        zeros for cars it did not know), clipped to every bound of each car first, so that the column is feasible;
        :meth:`recover` writes these schedules back with the master's weight.  A start only: the bound does not use
        it."""
        fleet = self.fleet
        c, d = fleet.clip_power(charge_kw, discharge_kw)
        if d is None:
            d = np.zeros_like(c)
        dt = self.dt
        node = self.c.node_of_session
        energy = ((self.ev_buy[node] * c).sum(axis=1) - (self.ev_sell[node] * d).sum(axis=1)) * dt
        out = (d / fleet.discharge_efficiency[:, None]).sum(axis=1) * dt
        final = fleet.e_init_kwh + (c * fleet.charge_efficiency[:, None]).sum(axis=1) * dt - out
        unmet = np.maximum(fleet.e_need_kwh - final, 0.0)
        cost = energy + self.c.wear_cost_per_kwh * out + self.c.unmet_penalty_per_kwh * unmet
        net = np.zeros((self.G, self.T))
        np.add.at(net, self.group, c - d)
        self.schedule_c, self.schedule_d = c, d
        groups = np.arange(self.G)
        self._add_columns(groups, net, np.bincount(self.group, cost, minlength=self.G), np.full(self.G, SCHEDULE))

    def exact_bound(self, lam: np.ndarray) -> float:
        """The Lagrangian bound at ``lam`` without perturbations (one more pricing pass, nothing taken off)."""
        t0 = time.perf_counter()
        res = exact.price_response(
            self.fleet,
            self.ev_buy + lam,
            self.ev_sell + lam,
            group=self.c.node_of_session,
            wear_cost_per_kwh=self.c.wear_cost_per_kwh,
            unmet_penalty_per_kwh=self.c.unmet_penalty_per_kwh,
            aggregate_by=np.zeros(len(self.fleet), dtype=np.int64),
            n_aggregate=1,
        )
        self.result.pricing_seconds += time.perf_counter() - t0
        lb = float(np.sum(res.cost)) + self.phi(lam)
        if lb > self.best_lb:
            self.best_lb, self.center = lb, lam
        return lb

    def warm_start(self, previous: _Level | _Warm, mu: np.ndarray) -> None:
        """Columns at the rounds the previous (smaller) level's solution uses, group by group, and its best prices."""
        assert previous.center is not None
        self.price_all(previous.center, add="all")
        active = previous.active_columns(mu)
        ids = {}
        depth = max((len(a) for a in active), default=0)
        for j in range(depth):
            groups = []
            rounds = np.full(self.G, -1, dtype=np.int64)
            for g, cols in enumerate(active):
                if len(cols) > j and cols[j][0] >= 0 and previous.lambdas[cols[j][0]] is not previous.center:
                    key = cols[j][0]
                    if key not in ids:
                        ids[key] = self.register(previous.lambdas[key])
                    rounds[g] = ids[key]
                    groups.append(g)
            if groups:
                g_arr, net, cost, _ = self.price(rounds, np.asarray(groups))
                self._add_columns(g_arr, net, cost, rounds[g_arr])

    # -- main loop ---------------------------------------------------------------------------------------------

    def run(self, gap_tolerance: float, deadline: float, max_iterations: int, t_origin: float) -> str:
        """Column generation until the certified gap is within ``gap_tolerance`` or a limit; returns why it stopped."""
        alpha = self.alpha
        while True:
            self.solve_master()
            assert self.lam_rmp is not None
            gap = _rel_gap(self.z, self.best_lb)
            self.result.history.append((self.iterations, self.best_lb, self.z, time.perf_counter() - t_origin))
            if gap <= gap_tolerance:
                return "optimal within gap"
            if self.iterations >= max_iterations:
                return "iteration limit"
            if time.perf_counter() > deadline:
                return "time limit"
            while True:
                self.iterations += 1
                lam = (
                    self.lam_rmp
                    if self.center is None or alpha <= 0
                    else (alpha * self.center + (1 - alpha) * self.lam_rmp)
                )
                before = self.best_lb
                entered = self.price_all(lam)
                if entered:
                    if self.best_lb > before and self.alpha > 0:
                        alpha = min(self.alpha, max(alpha * 1.25, 0.1))
                    break
                if alpha <= 0:
                    # the master's own duals price out nothing: it is optimal, the gap left is numerical
                    return "no improving column"
                alpha = 0.0 if alpha < 0.05 else alpha / 2  # mis-price: move toward the master's duals
                if self.iterations >= max_iterations or time.perf_counter() > deadline:
                    break

    # -- primal schedule ---------------------------------------------------------------------------------------

    def recover(self, mu: np.ndarray, charge_out: np.ndarray, discharge_out: np.ndarray | None) -> None:
        """Write the per-EV schedules of the master's solution into the (N, T) arrays given (zeros on entry).

        Session ``i`` of group ``g`` gets ``sum_k w_gk x_i(lambda_k)``: its own optimal schedules at the prices of
        the columns its group uses, with the master's weights; the idle column adds nothing.
        """
        t0 = time.perf_counter()
        active = self.active_columns(mu)
        if self.schedule_c is not None:
            # the given schedules' columns: their own schedules, with the master's weight
            w_sched = np.array([sum(w for k, w in cols if k == SCHEDULE) for cols in active])
            if (w_sched > 0).any():
                rows = np.flatnonzero(w_sched[self.group] > 0)
                w = w_sched[self.group[rows]][:, None]
                charge_out[rows] += w * self.schedule_c[rows]
                if discharge_out is not None and self.schedule_d is not None:
                    discharge_out[rows] += w * self.schedule_d[rows]
        depth = max((len(a) for a in active), default=0)
        for j in range(depth):
            weight = np.zeros(self.G)
            rounds = np.full(self.G, -1, dtype=np.int64)
            for g, cols in enumerate(active):
                if len(cols) > j and cols[j][0] >= 0:
                    rounds[g], weight[g] = cols[j]
            used = np.unique(rounds[rounds >= 0])
            if len(used) == 0:
                continue
            local = np.full(len(self.lambdas), -1, dtype=np.int64)
            local[used] = np.arange(len(used))
            buy, sell, _ = self._rows([self.lambdas[int(k)] for k in used])
            rows = np.flatnonzero(rounds[self.group] >= 0)
            for lo in range(0, len(rows), CHUNK_ROWS):
                part = rows[lo : lo + CHUNK_ROWS]
                res = exact.price_response(
                    subset_fleet(self.fleet, part),
                    buy,
                    sell,
                    group=local[rounds[self.group[part]]] * (self.R * self.K) + self.price_row[part],
                    wear_cost_per_kwh=self.c.wear_cost_per_kwh,
                    unmet_penalty_per_kwh=self.c.unmet_penalty_per_kwh,
                )
                w = weight[self.group[part]][:, None]
                contiguous = part[-1] - part[0] == len(part) - 1
                pairs = [(charge_out, res.charge_kw)]
                if discharge_out is not None and res.discharge_kw is not None:
                    pairs.append((discharge_out, res.discharge_kw))
                for out, value in pairs:
                    np.multiply(value, w, out=value)
                    if contiguous:
                        out[part[0] : part[-1] + 1] += value
                    else:
                        out[part] += value
        self.result.recover_seconds += time.perf_counter() - t0


def _default_groups(n: int, n_steps: int) -> int:
    """Groups of a node's sessions in the master: enough to mix columns finely, few enough for a fast master."""
    return int(min(n, 2 * n_steps, max(16, n // 50)))


def _level_sizes(n: int, base: int, factor: int) -> list[int]:
    """Sample sizes from the whole fleet down to about ``base`` sessions (largest first)."""
    sizes = [n]
    while sizes[-1] // factor >= base:
        sizes.append(sizes[-1] // factor)
    return sizes


def _rel_gap(upper: float, lower: float) -> float:
    if not (np.isfinite(upper) and np.isfinite(lower)):
        return np.inf
    return max(0.0, upper - lower) / max(abs(upper), abs(lower), 1e-9)


def _repair(coupling: Coupling, charge: np.ndarray, discharge: np.ndarray | None, tolerance_kw: float) -> float:
    """Scale schedules toward idle where float residue leaves an import limit exceeded; the largest factor used.

    ``x -> (1 - eps) x`` keeps every EV's limits (a convex combination with the idle schedule, itself feasible).
    Only residues up to ``tolerance_kw`` above a positive limit are repaired: anything larger is a real violation
    and is reported.
    """
    worst = 0.0
    net = coupling.node_sums(charge) - (0.0 if discharge is None else coupling.node_sums(discharge))
    lim = coupling.node_import_kw
    for r in range(coupling.n_nodes):
        finite = np.isfinite(lim[r]) & (lim[r] > 0)
        over = net[r] - np.where(finite, lim[r], np.inf)
        bad = finite & (over > 0) & (over <= tolerance_kw)
        if not bad.any():
            continue
        eps = float(np.max(1.0 - lim[r][bad] / net[r][bad])) * (1 + 1e-9)
        rows = np.flatnonzero(coupling.node_of_session == r)
        charge[rows] *= 1.0 - eps
        if discharge is not None:
            discharge[rows] *= 1.0 - eps
        worst = max(worst, eps)
    if coupling.fleet_import_kw is not None:
        fleet_net = charge.sum(axis=0) - (0.0 if discharge is None else discharge.sum(axis=0))
        lim_f = coupling.fleet_import_kw
        over = fleet_net - lim_f
        bad = (over > 0) & (over <= tolerance_kw) & (lim_f > 0)
        if bad.any():
            eps = float(np.max(1.0 - lim_f[bad] / fleet_net[bad])) * (1 + 1e-9)
            charge *= 1.0 - eps
            if discharge is not None:
                discharge *= 1.0 - eps
            worst = max(worst, eps)
    return worst


@dataclass(frozen=True, eq=False)
class _Plan:
    """How the sessions are organised for the master: groups, price perturbations and sampling ranks."""

    group: np.ndarray  # (n,) group of each session
    node_of_group: np.ndarray  # (G,)
    eps: np.ndarray  # (K, T) price perturbation patterns
    k_of: np.ndarray  # (n,) pattern of each session
    rank: np.ndarray  # (n,) random rank of each session within its group (samples keep the lowest ranks)

    @classmethod
    def make(
        cls,
        fleet: FleetOnGrid,
        node: np.ndarray,
        n_groups: int | None,
        prices: PriceInputs,
        perturbation: float,
        n_perturbations: int,
    ) -> _Plan:
        n, T = len(fleet), fleet.n_steps
        rng = np.random.default_rng(20240603)
        group, node_of_group = _groups(fleet, node, n_groups)
        K = max(1, int(n_perturbations)) if perturbation > 0 else 1
        scale = max(float(np.abs(prices.buy).max(initial=0.0)), float(np.abs(prices.sell).max(initial=0.0)), 1e-3)
        eps = rng.uniform(-1.0, 1.0, (K, T)) * perturbation * scale if K > 1 else np.zeros((1, T))
        k_of = rng.integers(0, K, n)
        perm = rng.permutation(n)
        order = perm[np.argsort(group[perm], kind="stable")]
        size = np.bincount(group, minlength=len(node_of_group))
        rank = np.empty(n, dtype=np.int64)
        rank[order] = np.arange(n) - np.repeat(np.cumsum(size) - size, size)
        return cls(group, node_of_group, eps, k_of, rank)

    def for_node(self, rows: np.ndarray, r: int) -> tuple[_Plan, np.ndarray]:
        """The plan of one node's sessions ``rows`` (its groups renumbered), and the global index of its groups."""
        groups = np.flatnonzero(self.node_of_group == r)
        local = np.full(len(self.node_of_group), -1, dtype=np.int64)
        local[groups] = np.arange(len(groups))
        plan = _Plan(
            local[self.group[rows]], np.zeros(len(groups), dtype=np.int64), self.eps, self.k_of[rows], self.rank[rows]
        )
        return plan, groups


class _Warm:
    """A warm start assembled from nodes solved alone: their best prices stacked, their columns' prices and weights."""

    def __init__(self, n_nodes: int, n_groups: int) -> None:
        self.R = n_nodes
        self.lambdas: list[np.ndarray] = []
        self.active: list[list[tuple[int, float]]] = [[] for _ in range(n_groups)]
        self.center: np.ndarray | None = None
        self.mu = np.zeros(0)

    def add_node(self, r: int, level: _Level, groups: np.ndarray) -> None:
        T = level.T
        if self.center is None:
            self.center = np.zeros((self.R, T))
        assert level.center is not None
        self.center[r] = level.center[0]
        index = {}
        for g_local, cols in enumerate(level.active_columns(level.mu)):
            for k, w in cols:
                if k < 0:
                    continue
                if k not in index:
                    lam = np.zeros((self.R, T))
                    lam[r] = level.lambdas[k][0]
                    self.lambdas.append(lam)
                    index[k] = len(self.lambdas) - 1
                self.active[int(groups[g_local])].append((index[k], w))

    def active_columns(self, mu: np.ndarray) -> list[list[tuple[int, float]]]:
        return self.active


def _solve_levels(
    fleet: FleetOnGrid,
    prices: PriceInputs,
    coupling: Coupling,
    plan: _Plan,
    result: DecompositionResult,
    charge: np.ndarray | None,
    discharge: np.ndarray | None,
    *,
    warm: _Warm | None = None,
    start_prices: np.ndarray | None = None,
    gap_tolerance: float,
    deadline: float,
    max_iterations: int,
    stabilisation: float,
    base_size: int,
    level_factor: int,
    t_origin: float,
    by_pattern: bool = False,
    warm_schedule: tuple[np.ndarray, np.ndarray | None] | None = None,
) -> _Level:
    """Column generation on nested samples of the fleet, smallest first, each warm-starting the next; the last
    level is the whole fleet, whose master solution is written into ``charge`` / ``discharge`` (when given).

    The smallest level starts from ``warm`` where given, else from the virtual battery's prices."""
    n = len(fleet)
    R = coupling.n_nodes
    G = len(plan.node_of_group)
    size = np.bincount(plan.group, minlength=G)
    node_count = np.bincount(coupling.node_of_session, minlength=R).astype(float)
    sizes = _level_sizes(n, base_size, level_factor)
    previous: _Level | _Warm | None = warm
    level_notes = []
    level = None
    for m in reversed(sizes):
        if m == n:
            rows = np.arange(n)
            sub_fleet, sub_coupling = fleet, coupling
        else:
            take = np.maximum(1, np.ceil(size * (m / n))).astype(np.int64)
            rows = np.flatnonzero(plan.rank < take[plan.group])
            sub_fleet = subset_fleet(fleet, rows)
            node_ratio = np.bincount(coupling.node_of_session[rows], minlength=R) / np.maximum(node_count, 1.0)
            sub_coupling = _scaled_coupling(coupling, rows, node_ratio, len(rows) / n)
        top = m == n
        level = _Level(
            sub_fleet,
            prices,
            sub_coupling,
            plan.group[rows],
            plan.node_of_group,
            plan.eps,
            plan.k_of[rows],
            stabilisation,
            result,
            by_pattern,
        )
        if previous is None:
            if start_prices is not None and np.shape(start_prices) == (R, prices.buy.shape[-1]):
                lam0 = np.asarray(start_prices, dtype=float)
            else:
                env = _node_envelope(sub_fleet, sub_coupling.node_of_session, R)
                lam0 = _virtual_battery_prices(env, level.block, prices, sub_coupling, fleet.step_hours)
            level.price_all(lam0, add="all")
        else:
            level.warm_start(previous, previous.mu)
        if top and warm_schedule is not None:
            level.add_schedule_columns(*warm_schedule)
        tol = gap_tolerance if top else max(gap_tolerance / 3.0, 1e-9)
        t_level = time.perf_counter()
        status = level.run(tol, deadline, max_iterations, t_origin)
        if top and level.eps_bound > 0 and _rel_gap(level.z, level.best_lb) > tol:
            # the perturbations' allowance may be all that is left of the gap: price once more without them
            for lam in (level.lam_rmp, level.center):
                if lam is not None and _rel_gap(level.z, level.best_lb) > tol:
                    level.exact_bound(lam)
            if _rel_gap(level.z, level.best_lb) <= tol:
                status = "optimal within gap"
        level_notes.append(f"{len(rows)}:{level.iterations}:{time.perf_counter() - t_level:.2f}s")
        result.status = status
        previous = level
    assert level is not None
    result.levels = ",".join(level_notes)
    result.iterations += level.iterations
    result.lower_bound = level.best_lb
    result.master_objective = level.z
    result.n_groups = G
    result.n_columns = level.n_cols
    result.perturbation_bound = level.eps_bound
    result.shadow_prices = level.center
    if charge is not None:
        level.recover(level.mu, charge, discharge)
    return level


def _solve_nodes(
    fleet: FleetOnGrid,
    prices: PriceInputs,
    coupling: Coupling,
    plan: _Plan,
    result: DecompositionResult,
    charge: np.ndarray,
    discharge: np.ndarray | None,
    settings: dict[str, Any],
) -> _Warm:
    """Solve each node alone, without the fleet's terms; bounds and figures add up in ``result``.

    Returns the warm start for solving them together."""
    T = fleet.n_steps
    result.lower_bound = 0.0
    notes = []
    warm = _Warm(coupling.n_nodes, len(plan.node_of_group))
    for r, name in enumerate(coupling.node_names):
        rows = np.flatnonzero(coupling.node_of_session == r)
        if len(rows) == 0:
            continue
        sub = dataclasses.replace(
            coupling,
            node_of_session=np.zeros(len(rows), dtype=np.int64),
            node_names=(name,),
            node_import_kw=coupling.node_import_kw[r : r + 1],
            node_netted=None if coupling.node_netted is None else coupling.node_netted[r : r + 1],
            fleet_import_kw=None,
            fleet_export_kw=None,
            peak_weight_per_kw=0.0,
            target_kw=None,
            dr_steps=None,
            dr_cap_kw=None,
        )
        part = DecompositionResult()
        c_r = np.zeros((len(rows), T))
        d_r = None if discharge is None else np.zeros((len(rows), T))
        node_plan, groups = plan.for_node(rows, r)
        level = _solve_levels(subset_fleet(fleet, rows), prices, sub, node_plan, part, c_r, d_r, **settings)
        warm.add_node(r, level, groups)
        charge[rows] = c_r
        if discharge is not None and d_r is not None:
            discharge[rows] = d_r
        result.lower_bound += part.lower_bound
        result.iterations += part.iterations
        result.n_groups += part.n_groups
        result.n_columns += part.n_columns
        result.pricing_seconds += part.pricing_seconds
        result.master_seconds += part.master_seconds
        result.recover_seconds += part.recover_seconds
        result.perturbation_bound += part.perturbation_bound
        result.status = part.status if result.status in ("", part.status) else "mixed"
        notes.append(f"{name}[{part.levels}]")
    result.levels = ";".join(notes)
    return warm


def solve_coupled(
    fleet: FleetOnGrid,
    prices: PriceInputs,
    options: ScheduleOptions | None = None,
    *,
    n_groups: int | None = None,
    max_iterations: int = 500,
    stabilisation: float = 0.5,
    perturbation: float | None = None,
    n_perturbations: int = 16,
    base_size: int = 1000,
    level_factor: int = 4,
    reference_lp: bool = False,
    peak_floor_kw: float = 0.0,
    warm_prices: np.ndarray | None = None,
    price_by_pattern: bool = False,
    warm_schedule: tuple[np.ndarray, np.ndarray | None] | None = None,
) -> Schedule:
    """Schedule a coupled fleet by column generation; every run reports its certified optimality gap.

    Args:
        fleet: sessions on the grid (V1G or V2G by ``fleet.mode``).
        prices: import / export prices per step.
        options: the coupling (limits, peak, target, DR event), penalties, ``gap_tolerance`` (relative) and
            ``time_limit_s`` (the solve stops there with the gap it has certified).
        n_groups: groups of sessions in the master (default: ``min(2T, max(16, n/50))`` per site; with several
            sites 4 per site, at least 48, as they may have to share one master).
        max_iterations: pricing rounds at most, per level.
        stabilisation: weight of the best dual point in the smoothed prices (0 = plain column generation).
        perturbation: size of the price perturbations that break ties between steps of equal price, relative to
            the largest price (0 = none; default ``min(1e-5, gap_tolerance / 100)``); what they can be worth is
            taken off the lower bound (and a last unperturbed pricing pass recovers it where the gap needs it).
        n_perturbations: number of perturbation patterns (sessions are spread over them).
        base_size: sessions of the smallest sample, solved first from the virtual battery's prices.
        level_factor: ratio of the sample sizes from one level to the next.
        reference_lp: also solve the direct LP (:func:`vgi.schedule.lp.solve_lp`) and report ``lp_objective``,
            ``lp_gap`` (relative excess of this schedule's objective over the LP's) and ``lp_seconds``.
        peak_floor_kw: fleet import already reached before the grid starts (rolling horizon).
        warm_prices: shadow prices (nodes x steps, currency/kWh) to start from instead of the virtual battery's,
            e.g. ``details["shadow_prices"]`` of the previous re-plan shifted by a step; a start only, never part
            of the certificate (used where the fleet is one node).
        warm_schedule: per-session charge and discharge (N x T, kW) to start from, e.g. the rest of the previous
            re-plan's plan (zeros for new cars): clipped to each car's bounds, one column per group of the whole
            fleet's master (used where the fleet is one node); a start only, never part of the certificate.
        price_by_pattern: the pricing as it was before 2026-12 (sums per group and perturbation pattern, the
            shadow prices' cost taken off afterwards over (groups, patterns, steps) arrays): the same columns to
            rounding, slower and larger at many groups and steps; kept as the benchmarks' baseline.

    Returns:
        a :class:`Schedule` whose ``stats`` hold ``objective`` (= ``upper_bound``, the returned schedule's
        objective), ``lower_bound`` (the best Lagrangian bound), ``certified_gap``, ``iterations``,
        ``solve_seconds``, ``n_groups``, ``n_columns``, ``pricing_seconds``, ``master_seconds``,
        ``recover_seconds``, the parts of the objective (``cost``, ``wear_cost``, ``unmet_cost``, ...),
        ``unmet_kwh``, ``n_short_sessions``, ``peak_kw``, ``binding_steps`` (steps where a limit binds) and
        ``limit_violation_kwh`` / ``violated_steps`` (a limit no schedule can keep).
    """
    options = options or ScheduleOptions()
    t0 = time.perf_counter()
    n, T = len(fleet), fleet.n_steps
    prices.check_grid(fleet.grid)
    coupling = Coupling.from_options(fleet, prices, options, peak_floor_kw=peak_floor_kw)
    charge = np.zeros((n, T))
    discharge = np.zeros((n, T)) if bool((fleet.max_discharge_kw > 0).any()) else None
    gap_tol = float(options.gap_tolerance) if options.gap_tolerance is not None else 1e-3
    time_limit = float(options.time_limit_s) if options.time_limit_s is not None else np.inf
    result = DecompositionResult(status="empty fleet")
    settings: dict[str, Any] = dict(
        gap_tolerance=gap_tol,
        deadline=t0 + time_limit,
        max_iterations=max_iterations,
        stabilisation=stabilisation,
        base_size=base_size,
        level_factor=level_factor,
        t_origin=t0,
        by_pattern=price_by_pattern,
    )
    if perturbation is None:
        perturbation = min(1e-5, gap_tol / 100.0)
    if n > 0:
        if n_groups is None and coupling.n_nodes > 1:
            # several nodes share one master when solved together: keep it small (4 groups a node, at least 48);
            # its link rows grow with nodes x steps, and the simplex with them
            n_groups = int(min(n, max(48, 4 * coupling.n_nodes)))
        plan = _Plan.make(fleet, coupling.node_of_session, n_groups, prices, perturbation, n_perturbations)
        warm = None
        if coupling.n_nodes > 1:
            # sites with import limits share only the fleet's terms: solve each alone first (without those
            # terms: a relaxation, as they cost nothing below zero, so the bounds add up to a bound); keep it when
            # the fleet's terms cost nothing, else it warm-starts the joint solve
            warm = _solve_nodes(fleet, prices, coupling, plan, result, charge, discharge, settings)
            terms = coupled_objective(fleet, prices, options, charge, discharge, coupling)
            if terms["fleet_terms_cost"] > 1e-9 * max(1.0, abs(float(terms["objective"]))):
                charge[:] = 0.0
                if discharge is not None:
                    discharge[:] = 0.0
                first = result
                result = DecompositionResult(
                    pricing_seconds=first.pricing_seconds,
                    master_seconds=first.master_seconds,
                    recover_seconds=first.recover_seconds,
                    iterations=first.iterations,
                )
                # the nodes' solutions are a good start: solve together on the whole fleet only (no samples)
                joint = dict(settings, base_size=n + 1)
                _solve_levels(fleet, prices, coupling, plan, result, charge, discharge, warm=warm, **joint)
                result.levels = f"nodes {first.levels} | joint {result.levels}"
                result.lower_bound = max(result.lower_bound, first.lower_bound)
        else:
            _solve_levels(
                fleet,
                prices,
                coupling,
                plan,
                result,
                charge,
                discharge,
                start_prices=warm_prices,
                warm_schedule=warm_schedule,
                **settings,
            )
        finite = coupling.node_import_kw[np.isfinite(coupling.node_import_kw)]
        tol_kw = 1e-6 * max(1.0, float(np.abs(finite).max(initial=1.0)))
        result.repair_factor = _repair(coupling, charge, discharge, tol_kw)
    terms = coupled_objective(fleet, prices, options, charge, discharge, coupling)
    result.upper_bound = float(terms["objective"])
    if n == 0:
        result.lower_bound = result.upper_bound
    result.certified_gap = _rel_gap(result.upper_bound, result.lower_bound)
    stats: dict[str, float | int | str] = {
        "solver": "decomposition",
        "status": "optimal" if result.certified_gap <= gap_tol else result.status,
        "objective": result.upper_bound,
        "cost": float(terms["cost"]) + float(terms["wear_cost"]),
        "energy_cost": float(terms["cost"]),
        "wear_cost": float(terms["wear_cost"]),
        "unmet_cost": float(terms["unmet_cost"]),
        "limit_cost": float(terms["limit_cost"]),
        "peak_cost": float(terms["peak_cost"]),
        "tracking_cost": float(terms["tracking_cost"]),
        "dr_cost": float(terms["dr_cost"]),
        "lower_bound": result.lower_bound,
        "upper_bound": result.upper_bound,
        "certified_gap": result.certified_gap,
        "gap_tolerance": gap_tol,
        "iterations": result.iterations,
        "n_groups": result.n_groups,
        "n_columns": result.n_columns,
        "levels": result.levels,
        "perturbation_bound": result.perturbation_bound,
        "pricing_seconds": result.pricing_seconds,
        "master_seconds": result.master_seconds,
        "recover_seconds": result.recover_seconds,
        "repair_factor": result.repair_factor,
        "peak_kw": float(terms["peak_kw"]),
        "over_kwh": float(terms["over_kwh"]),
        "under_kwh": float(terms["under_kwh"]),
        "dr_shortfall_kwh": float(terms["dr_shortfall_kwh"]),
        "limit_violation_kwh": float(terms["limit_violation_kwh"]),
        "n_binding_steps": len(terms["binding_steps"]),
        "binding_steps": ",".join(str(int(s)) for s in terms["binding_steps"]),
        "violated_steps": ",".join(str(int(s)) for s in terms["violated_steps"]),
        "decomposition_status": result.status,
        "unmet_penalty_per_kwh": coupling.unmet_penalty_per_kwh,
    }
    details: dict[str, Any] = {
        "net_kw": terms["net_kw"],
        "limit_violation_kw": terms["limit_violation_kw"],
        "binding_steps": terms["binding_steps"],
        "violated_steps": terms["violated_steps"],
        "bounds_history": np.asarray(result.history, dtype=float).reshape(-1, 4),
        "shadow_prices": result.shadow_prices,
        "node_names": coupling.node_names,
    }
    if options.shared_meter:
        stats["netting_credit"] = float(terms["netting_credit"])
    unmet = terms["unmet_kwh"]
    stats["unmet_kwh"] = float(unmet.sum())
    stats["n_short_sessions"] = int((unmet > 1e-6).sum())
    stats["solve_seconds"] = time.perf_counter() - t0
    if reference_lp:
        from vgi.schedule import lp as lp_module

        t1 = time.perf_counter()
        ref = lp_module.solve_lp(fleet, prices, options)
        stats["lp_seconds"] = time.perf_counter() - t1
        lp_obj = float(ref.stats["objective"])
        stats["lp_objective"] = lp_obj
        stats["lp_gap"] = (result.upper_bound - lp_obj) / max(abs(lp_obj), 1e-9)
    return Schedule(
        fleet=fleet,
        strategy="coupled",
        charge_kw=charge,
        discharge_kw=discharge,
        unmet_kwh=unmet,
        stats=stats,
        details=details,
    )


def decomposition_strategy(fleet: FleetOnGrid, prices: PriceInputs, options: ScheduleOptions) -> Schedule:
    """The ``decomposition`` solver of the ``coupled`` strategy (see :func:`solve_coupled`); with
    ``options.reference_lp`` it also solves the direct LP and reports ``lp_gap``."""
    return solve_coupled(fleet, prices, options, reference_lp=options.reference_lp)


def _register() -> None:
    from vgi.schedule import api

    api.register_coupled_solver("decomposition", decomposition_strategy, replace_existing=True)


_register()
