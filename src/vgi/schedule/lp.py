"""The fleet as one linear programme, solved by HiGHS: the direct (coupled) mode and the oracle of every other
strategy.

Variables, for each session and each step of its window (none outside it): grid-side charge ``c`` and
discharge ``d`` (kW averaged over the step; ``d`` only for sessions that may discharge), battery energy at the
end of the step ``e`` (kWh, within ``[e_floor, e_max]``), and per session the unmet energy ``u`` (kWh, battery
side, >= 0).  Per
session::

    e_t - e_{t-1} - eta_c dt c_t + dt / eta_d d_t = 0      (e before the window = e_init)
    e_last + u >= e_need
    0 <= c_t <= Cmax_t = max_charge x share of the step plugged in;  0 <= d_t <= Dmax_t = max_discharge x share
    c_t / Cmax_t + d_t / Dmax_t <= 1                        (where Cmax_t > 0 and Dmax_t > 0: time-sharing)

Objective: ``sum (buy_t c_t - sell_t d_t) dt + wear sum d_t dt / eta_d + penalty sum u`` plus the coupled
terms of :class:`~vgi.schedule.options.ScheduleOptions`, all on the fleet's net import ``P_t = sum (c - d)``:

* site import limit: ``sum over the site (c - d) <= L_{site,t} + v_{site,t}``, ``v >= 0`` priced at the limit
  penalty (far above the need penalty: a limit is given up only where no schedule can keep it, e.g. a negative
  import limit the site cannot export down to; ``limit_violation_kw`` reports it per step);
* fleet import / export limits, likewise;
* peak: ``P_t <= peak`` for all t, ``peak >= 0`` priced at ``minimise_peak + demand_charge_per_kw``;
* target: ``P_t - target_t = over_t - under_t`` priced per kWh, in the steps that have a target (NaN: none);
* demand-response event: ``P_t <= baseline_t - reduction + short_t`` in the event's steps, ``short`` priced
  per kWh;
* site-meter netting (``shared_meter``): per shared site and step where export pays less than import and a car
  of the site may discharge, ``sum over the site (c - d) = m - x`` with ``m, x >= 0`` priced ``buy dt`` and
  ``-sell dt``, and the site's cars priced nothing for energy there (see
  :func:`vgi.schedule.options.netting_credit` and ``docs/scheduling-coupled.md``).

Charging and discharging in the same step: ``c`` and ``d`` are averages over the step, and a charge point does
one at a time, so within a step it can charge at full power for part of it and discharge at full power for the
rest (the meter records import and export separately), which reaches exactly the averages with ``c_t / Cmax_t +
d_t / Dmax_t <= 1``: one row per session-step where both limits are positive.  Doing both in one step is
never better than doing only one of them unless discharging earns more per battery kWh than charging costs (a
negative price with losses, an export price above the import price); there both this LP and
:mod:`vgi.schedule.exact` time-share, and they agree.  Without the row the LP would charge and discharge at
full power at once, which no charge point can do (e.g. to raise load during an event by cycling energy
through the losses).

The matrix is built with numpy index arithmetic and scipy.sparse (no Python loop per variable).
"""

from __future__ import annotations

import ctypes
import os
import sys
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.sparse as sp

from vgi.errors import VgiError
from vgi.schedule.options import (
    DrEvent,
    ScheduleOptions,
    default_unmet_penalty,
    fleet_limit_array,
    netting_credit,
    shared_meter_sites,
    site_codes,
    site_flows_kw,
    site_limit_arrays,
    target_curve_array,
)
from vgi.schedule.prices import PriceInputs
from vgi.schedule.problem import FleetOnGrid, Schedule

__all__ = ["LpModel", "build_lp", "lp_strategy", "new_highs", "solve_lp"]

#: a limit counts as binding where the limited power is within this many kW of it
BINDING_TOL_KW = 1e-6


@dataclass
class LpModel:
    """The assembled LP: ``min cost @ x`` s.t. ``row_lower <= A x <= row_upper``, ``col_lower <= x <=
    col_upper``."""

    cost: np.ndarray
    col_lower: np.ndarray
    col_upper: np.ndarray
    matrix: sp.csc_matrix
    row_lower: np.ndarray
    row_upper: np.ndarray
    offset: float
    # where things are
    entry_session: np.ndarray  # session of each window entry (K,)
    entry_step: np.ndarray  # step of each window entry (K,)
    c_col: np.ndarray  # (K,)
    e_col: np.ndarray  # (K,)
    d_col: np.ndarray  # (K,) column of d, -1 where the session cannot discharge
    u_col: np.ndarray  # (N,) column of u, -1 for sessions without steps
    extra: dict[str, np.ndarray]  # columns of coupled variables (violations, peak, over/under, shortfall)
    limit_rows: dict[str, tuple[np.ndarray, np.ndarray]]  # name -> (row index per step, step index)
    unmet_fixed: np.ndarray  # (N,) unmet of sessions without steps
    penalty: float
    limit_penalty: float
    meter_sites: tuple[str, ...] = ()  # shared meters (options.shared_meter), in the order of meter_rows' sites
    meter_rows: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None  # netting rows: (row, site, step)
    #: steps of the target rows, in the order of the ``target_over`` / ``target_under`` columns
    target_steps: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))


def _window_entries(fleet: FleetOnGrid) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Session, step and share of the step plugged in, for every (session, step) of a window."""
    lengths = (fleet.stop - fleet.start).astype(np.int64)
    total = int(lengths.sum())
    session = np.repeat(np.arange(len(fleet), dtype=np.int64), lengths)
    first = np.cumsum(lengths) - lengths
    offset = np.arange(total, dtype=np.int64) - np.repeat(first, lengths)
    step = fleet.start[session] + offset
    frac = np.ones(total)
    last_pos = first + lengths - 1
    has = lengths > 0
    frac[last_pos[has]] = fleet.last_fraction[has]
    frac[first[has]] = fleet.first_fraction[has]
    return session, step, frac


def build_lp(fleet: FleetOnGrid, prices: PriceInputs, options: ScheduleOptions | None = None) -> LpModel:
    """Assemble the LP of ``fleet`` under ``prices`` and ``options`` (see the module docstring)."""
    options = options or ScheduleOptions()
    prices.check_grid(fleet.grid)
    n_steps = fleet.n_steps
    n = len(fleet)
    dt = fleet.step_hours
    pen = (
        default_unmet_penalty(prices, fleet)
        if options.unmet_penalty_per_kwh is None
        else float(options.unmet_penalty_per_kwh)
    )
    limit_pen = 1000.0 * pen if options.limit_penalty_per_kw is None else float(options.limit_penalty_per_kw)
    wear = float(options.wear_cost_per_kwh)

    session, step, frac = _window_entries(fleet)
    k_total = len(session)
    lengths = (fleet.stop - fleet.start).astype(np.int64)
    first = np.cumsum(lengths) - lengths
    active = lengths > 0
    eta_c = fleet.charge_efficiency[session]
    eta_d = fleet.discharge_efficiency[session]
    cmax = fleet.max_charge_kw[session] * frac
    dmax = fleet.max_discharge_kw[session] * frac
    has_d = dmax > 0

    # columns
    c_col = np.arange(k_total, dtype=np.int64)
    e_col = k_total + np.arange(k_total, dtype=np.int64)
    n_d = int(has_d.sum())
    d_col = np.full(k_total, -1, dtype=np.int64)
    d_col[has_d] = 2 * k_total + np.arange(n_d, dtype=np.int64)
    n_active = int(active.sum())
    u_col = np.full(n, -1, dtype=np.int64)
    u_col[active] = 2 * k_total + n_d + np.arange(n_active, dtype=np.int64)
    n_cols = 2 * k_total + n_d + n_active

    # site-meter netting: at a shared meter, in each step where export pays less than import and some car of the
    # site may discharge, the site's net power is split into import and export columns priced there; the cars'
    # own import and export prices drop out of those steps (see vgi.schedule.options.netting_credit)
    shared = shared_meter_sites(fleet, options.shared_meter)
    entry_site = site_codes(fleet, shared)[session]
    netted_site_step = np.zeros((len(shared), n_steps), dtype=bool)
    if shared:
        may_export = has_d & (entry_site >= 0)
        netted_site_step[entry_site[may_export], step[may_export]] = True
        netted_site_step &= (prices.buy > prices.sell)[None, :]
    entry_netted = (entry_site >= 0) & netted_site_step[np.maximum(entry_site, 0), step] if shared else (
        np.zeros(k_total, dtype=bool)
    )

    buy = np.where(entry_netted, 0.0, prices.buy[step])
    sell = np.where(entry_netted, 0.0, prices.sell[step])
    cost_parts = [
        buy * dt,
        np.zeros(k_total),
        (-sell * dt + wear * dt / eta_d)[has_d],
        np.full(n_active, pen),
    ]
    lower_parts = [np.zeros(k_total), fleet.e_floor_kwh[session], np.zeros(n_d), np.zeros(n_active)]
    upper_parts = [cmax, fleet.e_max_kwh[session], dmax[has_d], np.full(n_active, np.inf)]

    # energy balance rows: e_k - e_{k-1} - eta_c dt c_k + dt/eta_d d_k = (e_init if first entry else 0)
    rows_i: list[np.ndarray] = []
    rows_j: list[np.ndarray] = []
    vals: list[np.ndarray] = []
    bal_row = np.arange(k_total, dtype=np.int64)
    is_first = np.zeros(k_total, dtype=bool)
    is_first[first[active]] = True
    rows_i += [bal_row, bal_row]
    rows_j += [e_col, c_col]
    vals += [np.ones(k_total), -eta_c * dt]
    prev = np.flatnonzero(~is_first)
    rows_i.append(bal_row[prev])
    rows_j.append(e_col[prev - 1])
    vals.append(-np.ones(len(prev)))
    rows_i.append(bal_row[has_d])
    rows_j.append(d_col[has_d])
    vals.append((dt / eta_d)[has_d])
    bal_rhs = np.where(is_first, fleet.e_init_kwh[session], 0.0)
    row_lo = [bal_rhs]
    row_hi = [bal_rhs]
    n_rows = k_total

    # need rows: e_last + u >= e_need
    act = np.flatnonzero(active)
    last_entry = first[act] + lengths[act] - 1
    need_row = n_rows + np.arange(n_active, dtype=np.int64)
    rows_i += [need_row, need_row]
    rows_j += [e_col[last_entry], u_col[act]]
    vals += [np.ones(n_active), np.ones(n_active)]
    row_lo.append(fleet.e_need_kwh[act])
    row_hi.append(np.full(n_active, np.inf))
    n_rows += n_active

    # time-sharing rows: c_k / Cmax_k + d_k / Dmax_k <= 1 where the session may do both in the step (within a
    # step it can charge at full power for part of it and discharge for the rest, not both at full at once)
    ks = np.flatnonzero(has_d & (cmax > 0))
    share_row = n_rows + np.arange(len(ks), dtype=np.int64)
    rows_i += [share_row, share_row]
    rows_j += [c_col[ks], d_col[ks]]
    vals += [1.0 / cmax[ks], 1.0 / dmax[ks]]
    row_lo.append(np.full(len(ks), -np.inf))
    row_hi.append(np.ones(len(ks)))
    n_rows += len(ks)

    extra: dict[str, np.ndarray] = {}
    limit_rows: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    col_cursor = n_cols

    def add_cols(
        name: str, count: int, cost: np.ndarray | float, lo: float = 0.0, hi: float = np.inf
    ) -> np.ndarray:
        nonlocal col_cursor
        cols = col_cursor + np.arange(count, dtype=np.int64)
        col_cursor += count
        cost_parts.append(np.broadcast_to(np.asarray(cost, dtype=float), (count,)).copy())
        lower_parts.append(np.full(count, lo))
        upper_parts.append(np.full(count, hi))
        extra[name] = cols
        return cols

    def add_power_rows(
        entry_mask: np.ndarray | None,
        steps: np.ndarray,
        sign: float,
        slack_cols: np.ndarray | None,
        slack_sign: float,
        lo: np.ndarray,
        hi: np.ndarray,
    ) -> np.ndarray:
        """Rows ``lo_t <= sign * sum_{entries in mask at step t} (c - d) + slack_sign * slack_t <= hi_t`` for
        ``t`` in ``steps``; returns the row indices (one per step)."""
        nonlocal n_rows
        row_of_step = np.full(n_steps, -1, dtype=np.int64)
        row_of_step[steps] = n_rows + np.arange(len(steps), dtype=np.int64)
        sel = np.ones(k_total, dtype=bool) if entry_mask is None else entry_mask.copy()
        sel &= row_of_step[step] >= 0
        kk = np.flatnonzero(sel)
        rows_i.append(row_of_step[step[kk]])
        rows_j.append(c_col[kk])
        vals.append(np.full(len(kk), sign))
        kd = kk[has_d[kk]]
        rows_i.append(row_of_step[step[kd]])
        rows_j.append(d_col[kd])
        vals.append(np.full(len(kd), -sign))
        if slack_cols is not None:
            rows_i.append(row_of_step[steps])
            rows_j.append(slack_cols)
            vals.append(np.full(len(steps), slack_sign))
        row_lo.append(lo)
        row_hi.append(hi)
        n_rows += len(steps)
        return row_of_step[steps]

    if netted_site_step.any():
        ms, mt = np.nonzero(netted_site_step)
        n_meter = len(ms)
        meter_row = np.full((len(shared), n_steps), -1, dtype=np.int64)
        meter_row[ms, mt] = n_rows + np.arange(n_meter, dtype=np.int64)
        meter_imp = add_cols("meter_import", n_meter, prices.buy[mt] * dt)
        meter_exp = add_cols("meter_export", n_meter, -prices.sell[mt] * dt)
        kk = np.flatnonzero(entry_netted)
        kd = kk[has_d[kk]]
        rows_i += [meter_row[entry_site[kk], step[kk]], meter_row[entry_site[kd], step[kd]]]
        rows_j += [c_col[kk], d_col[kd]]
        vals += [np.ones(len(kk)), -np.ones(len(kd))]
        rows_i += [meter_row[ms, mt], meter_row[ms, mt]]
        rows_j += [meter_imp, meter_exp]
        vals += [-np.ones(n_meter), np.ones(n_meter)]
        row_lo.append(np.zeros(n_meter))
        row_hi.append(np.zeros(n_meter))
        n_rows += n_meter
        meter_rows_found = (meter_row[ms, mt], ms, mt)
    else:
        meter_rows_found = (np.zeros(0, dtype=np.int64),) * 3

    all_steps = np.arange(n_steps, dtype=np.int64)
    site_names = fleet.site_id.astype(str)
    for site, limit in site_limit_arrays(fleet, options.site_limit_kw).items():
        viol = add_cols(f"site_violation:{site}", n_steps, limit_pen * dt)
        rows = add_power_rows(
            site_names[session] == site, all_steps, 1.0, viol, -1.0, np.full(n_steps, -np.inf), limit
        )
        limit_rows[f"site:{site}"] = (rows, all_steps)
    imp = fleet_limit_array(options.fleet_import_limit_kw, n_steps, "fleet import limit")
    if imp is not None:
        viol = add_cols("fleet_import_violation", n_steps, limit_pen * dt)
        rows = add_power_rows(None, all_steps, 1.0, viol, -1.0, np.full(n_steps, -np.inf), imp)
        limit_rows["fleet_import"] = (rows, all_steps)
    exp = fleet_limit_array(options.fleet_export_limit_kw, n_steps, "fleet export limit")
    if exp is not None:
        viol = add_cols("fleet_export_violation", n_steps, limit_pen * dt)
        rows = add_power_rows(None, all_steps, -1.0, viol, -1.0, np.full(n_steps, -np.inf), exp)
        limit_rows["fleet_export"] = (rows, all_steps)
    peak_weight = float(options.minimise_peak) + float(options.demand_charge_per_kw)
    if peak_weight > 0:
        peak = add_cols("peak", 1, peak_weight)
        add_power_rows(
            None, all_steps, 1.0, np.repeat(peak, n_steps), -1.0, np.full(n_steps, -np.inf), np.zeros(n_steps)
        )
    target = target_curve_array(options.target_kw, n_steps, "target curve")
    target_steps = np.zeros(0, dtype=np.int64)
    if target is not None:
        # rows only in the steps with a target (NaN: none there, so no penalty)
        target_steps = np.flatnonzero(np.isfinite(target))
        k = len(target_steps)
        over = add_cols("target_over", k, float(options.over_penalty_per_kwh) * dt)
        under = add_cols("target_under", k, float(options.under_penalty_per_kwh) * dt)
        level = target[target_steps]
        rows = add_power_rows(None, target_steps, 1.0, over, -1.0, level, level)
        # the under-delivery column enters the same rows with +1
        rows_i.append(rows)
        rows_j.append(under)
        vals.append(np.ones(k))
    if options.dr_event is not None:
        ev = options.dr_event if isinstance(options.dr_event, DrEvent) else DrEvent(*options.dr_event)
        s0, s1 = int(ev.start_step), int(ev.stop_step)
        if not 0 <= s0 < s1 <= n_steps:
            raise VgiError(
                f"demand-response event steps [{s0}, {s1}) are not within the grid's {n_steps} steps"
            )
        base = fleet_limit_array(ev.baseline_kw, n_steps, "demand-response baseline")
        assert base is not None
        ev_steps = np.arange(s0, s1, dtype=np.int64)
        short = add_cols("dr_shortfall", len(ev_steps), float(ev.shortfall_penalty_per_kwh) * dt)
        cap = base[ev_steps] - float(ev.reduction_kw)
        rows = add_power_rows(None, ev_steps, 1.0, short, -1.0, np.full(len(ev_steps), -np.inf), cap)
        limit_rows["dr_event"] = (rows, ev_steps)

    matrix = sp.csc_matrix(
        (np.concatenate(vals), (np.concatenate(rows_i), np.concatenate(rows_j))), shape=(n_rows, col_cursor)
    )
    unmet_fixed = np.where(active, 0.0, np.maximum(fleet.e_need_kwh - fleet.e_init_kwh, 0.0))
    return LpModel(
        cost=np.concatenate(cost_parts),
        col_lower=np.concatenate(lower_parts),
        col_upper=np.concatenate(upper_parts),
        matrix=matrix,
        row_lower=np.concatenate(row_lo),
        row_upper=np.concatenate(row_hi),
        offset=float(pen * unmet_fixed.sum()),
        entry_session=session,
        entry_step=step,
        c_col=c_col,
        e_col=e_col,
        d_col=d_col,
        u_col=u_col,
        extra=extra,
        limit_rows=limit_rows,
        unmet_fixed=unmet_fixed,
        penalty=pen,
        limit_penalty=limit_pen,
        meter_sites=tuple(shared),
        meter_rows=meter_rows_found,
        target_steps=target_steps,
    )


_banner_shown = False


def new_highs() -> Any:
    """A ``highspy.Highs`` with its output off.  HiGHS prints a banner to the process's standard output when
    the first instance is made; that one is sent to /dev/null so that ``--json`` output stays clean."""
    global _banner_shown
    import highspy

    if _banner_shown:
        h = highspy.Highs()
    else:
        sys.stdout.flush()
        saved = os.dup(1)
        devnull = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(devnull, 1)
            h = highspy.Highs()
            try:
                ctypes.CDLL(None).fflush(None)
            except (OSError, AttributeError):  # pragma: no cover - platform without a C library handle
                pass
        finally:
            os.dup2(saved, 1)
            os.close(saved)
            os.close(devnull)
        _banner_shown = True
    h.setOptionValue("output_flag", False)
    return h


def _solve_highs(
    model: LpModel, options: ScheduleOptions, method: str
) -> tuple[np.ndarray, np.ndarray, str, float]:
    import highspy

    if model.matrix.shape[1] == 0:  # no session has a step on the grid: nothing to decide
        return np.zeros(0), np.zeros(model.matrix.shape[0]), "Optimal", 0.0
    h = new_highs()
    h.setOptionValue("output_flag", False)
    h.setOptionValue("primal_feasibility_tolerance", 1e-9)
    h.setOptionValue("dual_feasibility_tolerance", 1e-9)
    if method != "auto":
        h.setOptionValue("solver", method)
    if method == "ipm":
        h.setOptionValue("run_crossover", "on")
    if options.time_limit_s is not None:
        h.setOptionValue("time_limit", float(options.time_limit_s))
    lp = highspy.HighsLp()
    lp.num_col_ = model.matrix.shape[1]
    lp.num_row_ = model.matrix.shape[0]
    lp.col_cost_ = model.cost
    lp.col_lower_ = model.col_lower
    lp.col_upper_ = model.col_upper
    lp.row_lower_ = model.row_lower
    lp.row_upper_ = model.row_upper
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.start_ = model.matrix.indptr
    lp.a_matrix_.index_ = model.matrix.indices
    lp.a_matrix_.value_ = model.matrix.data
    h.passModel(lp)
    h.run()
    status = h.modelStatusToString(h.getModelStatus())
    sol = h.getSolution()
    x = np.asarray(sol.col_value, dtype=float)
    duals = np.asarray(sol.row_dual, dtype=float)
    if len(x) != lp.num_col_:
        raise VgiError(f"HiGHS returned no solution (status: {status})")
    obj = float(h.getInfo().objective_function_value)
    return x, duals, status, obj


def solve_lp(
    fleet: FleetOnGrid, prices: PriceInputs, options: ScheduleOptions | None = None, *, method: str = "auto"
) -> Schedule:
    """Solve the fleet's LP with HiGHS and return the schedule.

    Args:
        fleet: sessions on a grid.
        prices: import and export prices per step.
        options: wear, penalty and the coupled terms (site/fleet limits, peak, demand charge, target, DR
        event).
        method: HiGHS ``solver`` option: ``auto`` (HiGHS chooses), ``simplex``, ``ipm`` (with crossover) or
        ``pdlp``.

    ``stats``: ``objective`` (the LP optimum, penalties included), ``status``, ``solve_seconds``,
    ``build_seconds``, ``unmet_penalty_per_kwh``, ``n_binding_steps``; ``details``: ``binding`` ({limit: bool
    array (T,)}), ``shadow_price`` ({limit: array (T,)}, the change of the objective per kW of limit, <= 0),
    ``limit_violation_kw`` (T,) summed over limits, and per-limit ``violation_kw``.
    """
    options = options or ScheduleOptions()
    t0 = time.perf_counter()
    model = build_lp(fleet, prices, options)
    t1 = time.perf_counter()
    x, duals, status, obj = _solve_highs(model, options, method)
    t2 = time.perf_counter()
    n_steps = fleet.n_steps
    n = len(fleet)
    charge = np.zeros((n, n_steps))
    charge[model.entry_session, model.entry_step] = np.maximum(x[model.c_col], 0.0)
    can_d = model.d_col >= 0
    discharge: np.ndarray | None = None
    if can_d.any() or fleet.mode == "v2g":
        discharge = np.zeros((n, n_steps))
        discharge[model.entry_session[can_d], model.entry_step[can_d]] = np.maximum(
            x[model.d_col[can_d]], 0.0
        )
    # the solver's float residue (within its tolerances) clipped to every bound of each car
    charge, discharge = fleet.clip_power(charge, discharge, inplace=True)
    unmet = model.unmet_fixed.copy()
    has_u = model.u_col >= 0
    unmet[has_u] = np.maximum(x[model.u_col[has_u]], 0.0)

    net = charge.sum(axis=0) - (discharge.sum(axis=0) if discharge is not None else 0.0)
    binding: dict[str, np.ndarray] = {}
    shadow: dict[str, np.ndarray] = {}
    violation: dict[str, np.ndarray] = {}
    total_violation = np.zeros(n_steps)
    for name, (rows, steps) in model.limit_rows.items():
        b = np.zeros(n_steps, dtype=bool)
        upper = model.row_upper[rows]
        slack_name = {
            "fleet_import": "fleet_import_violation",
            "fleet_export": "fleet_export_violation",
            "dr_event": "dr_shortfall",
        }.get(name, f"site_violation:{name[5:]}" if name.startswith("site:") else name)
        slack = x[model.extra[slack_name]] if slack_name in model.extra else np.zeros(len(rows))
        row_activity = model.matrix[rows].dot(x)
        power = row_activity + slack  # the limited power itself, without the slack
        finite = np.isfinite(upper)  # a step without a limit (inf) never binds
        b[steps[finite]] = power[finite] >= upper[finite] - BINDING_TOL_KW * np.maximum(1.0, np.abs(upper[finite]))
        binding[name] = b
        s = np.zeros(n_steps)
        s[steps] = duals[rows]
        shadow[name] = s
        v = np.zeros(n_steps)
        v[steps] = np.maximum(slack, 0.0)
        violation[name] = v
        if name != "dr_event":
            total_violation += v
    energy_cost = float(
        (prices.buy @ charge.sum(axis=0)) * fleet.step_hours
        - ((prices.sell @ discharge.sum(axis=0)) * fleet.step_hours if discharge is not None else 0.0)
    )
    credit = 0.0
    if model.meter_sites and discharge is not None:
        site_c, site_d = site_flows_kw(fleet, list(model.meter_sites), charge, discharge)
        credit = netting_credit(prices.buy, prices.sell, site_c, site_d, fleet.step_hours)
    energy_cost -= credit
    wear = 0.0
    if discharge is not None:
        wear = float(
            options.wear_cost_per_kwh
            * (discharge.sum(axis=1) / fleet.discharge_efficiency).sum()
            * fleet.step_hours
        )
    any_binding = np.zeros(n_steps, dtype=bool)
    for name, b in binding.items():
        if name != "dr_event":
            any_binding |= b
    stats: dict[str, float | int | str] = {
        "objective": obj + model.offset,
        "cost": energy_cost + wear,
        "status": status,
        "solver": f"highs-{method}",
        "build_seconds": t1 - t0,
        "solve_seconds": t2 - t0,
        "unmet_penalty_per_kwh": model.penalty,
        "n_binding_steps": int(any_binding.sum()),
        "limit_violation_kwh": float(total_violation.sum() * fleet.step_hours),
        "n_variables": int(model.matrix.shape[1]),
        "n_constraints": int(model.matrix.shape[0]),
    }
    meter_price: dict[str, np.ndarray] = {}
    if model.meter_sites:
        stats["netting_credit"] = credit
        rows, site_of, step_of = model.meter_rows if model.meter_rows is not None else (np.zeros(0, np.int64),) * 3
        for k, site in enumerate(model.meter_sites):
            # the value of one more kWh at the meter: -dual / dt, within [sell, buy]; NaN where it does not net
            price = np.full(n_steps, np.nan)
            mine = site_of == k
            price[step_of[mine]] = -duals[rows[mine]] / fleet.step_hours
            meter_price[site] = price
    if "peak" in model.extra:
        stats["peak_variable_kw"] = float(x[model.extra["peak"]][0])
    details: dict[str, object] = {
        "binding": binding,
        "binding_steps": np.flatnonzero(any_binding),
        "shadow_price": shadow,
        "violation_kw": violation,
        "limit_violation_kw": total_violation,
        "net_kw": net,
    }
    if model.meter_sites:
        details["meter_price"] = meter_price
    if "dr_shortfall" in model.extra:
        stats["dr_shortfall_kwh"] = float(violation["dr_event"].sum() * fleet.step_hours)
    if "target_over" in model.extra:
        # (T,), 0 in the steps without a target
        for name in ("target_over", "target_under"):
            per_step = np.zeros(n_steps)
            per_step[model.target_steps] = np.maximum(x[model.extra[name]], 0.0)
            details[f"{name}_kw"] = per_step
    return Schedule(fleet, "coupled", charge, discharge, unmet, stats, dict(details))


def lp_strategy(fleet: FleetOnGrid, prices: PriceInputs, options: ScheduleOptions) -> Schedule:
    """The ``coupled`` strategy with ``solver="lp"``."""
    return solve_lp(fleet, prices, options)
