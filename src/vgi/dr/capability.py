"""What a fleet can deliver in one call window: the largest response held constant over ``[a, b)``.

For a fleet on a grid, a reference aggregate power (what the fleet would draw anyway: the uncontrolled
counterfactual), a window of steps and a direction, :func:`window_capability` finds the largest ``R`` (kW) such
that some schedule keeps the fleet's net import at most ``reference_t - R`` (``down``) or at least
``reference_t + R`` (``up``) in every step of the window, without breaking any session's power limits, its battery
bounds, its minimum SoC or its energy need at departure.

It is exact for one window: only the window's steps need variables, because what a session does before the window
only moves its energy at the window's start ``s_i`` within ``[max(e_floor, e_init - most it can discharge before),
min(e_max, e_init + most it can charge before)]``, and what it does after only has to be able to finish its need:
``e_end >= need - most it can charge after``.  A need that no schedule can meet is capped at what the session can
reach at full power (the same shortfall as uncontrolled charging), so a short session never makes the window
infeasible.  The LP (HiGHS) has, per session overlapping the window, a charge and a discharge variable and an energy
variable per window step, plus ``s_i``; sessions outside the window do not enter it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import highspy
import numpy as np
import scipy.sparse as sp

from vgi.errors import VgiError
from vgi.schedule.lp import new_highs
from vgi.schedule.problem import FleetOnGrid

__all__ = ["WindowCapability", "capability_profile", "window_capability"]


@dataclass(frozen=True)
class WindowCapability:
    """Result of :func:`window_capability`.

    Attributes:
        capability_kw: the largest constant response over the window, kW (>= 0).
        reference_kw: the reference aggregate power in the window, kW per step.
        start_step, stop_step: the window on the fleet's grid.
        direction: ``down`` or ``up``.
        n_sessions: sessions that overlap the window (the LP's size).
    """

    capability_kw: float
    reference_kw: np.ndarray
    start_step: int
    stop_step: int
    direction: Literal["down", "up"]
    n_sessions: int


def _solve_max(
    cost: np.ndarray,
    a_csc: sp.csc_matrix,
    col_lo: np.ndarray,
    col_hi: np.ndarray,
    row_lo: np.ndarray,
    row_hi: np.ndarray,
) -> tuple[str, np.ndarray, float]:
    h = new_highs()  # banner silenced, output off
    h.setOptionValue("output_flag", False)
    lp = highspy.HighsLp()
    lp.num_col_ = len(cost)
    lp.num_row_ = len(row_lo)
    lp.col_cost_ = cost.astype(float)
    lp.col_lower_ = col_lo.astype(float)
    lp.col_upper_ = col_hi.astype(float)
    lp.row_lower_ = row_lo.astype(float)
    lp.row_upper_ = row_hi.astype(float)
    lp.sense_ = highspy.ObjSense.kMaximize
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.start_ = a_csc.indptr.astype(np.int32)
    lp.a_matrix_.index_ = a_csc.indices.astype(np.int32)
    lp.a_matrix_.value_ = a_csc.data.astype(float)
    lp.a_matrix_.num_col_ = lp.num_col_
    lp.a_matrix_.num_row_ = lp.num_row_
    h.passModel(lp)
    h.run()
    status = h.modelStatusToString(h.getModelStatus())
    sol = np.asarray(h.getSolution().col_value, dtype=float)
    obj = float(h.getInfo().objective_function_value)
    return status, sol, obj


def _session_bounds(fleet: FleetOnGrid, rows: np.ndarray, a: int, b: int) -> dict[str, np.ndarray]:
    """Per overlapping session: limits in the window and energy reachable before / needed after it."""
    dt_h = fleet.step_hours
    avail = fleet.availability(rows)  # n x T
    u = avail * fleet.max_charge_kw[rows][:, None]
    v = avail * fleet.max_discharge_kw[rows][:, None]
    eta_c = fleet.charge_efficiency[rows]
    eta_d = fleet.discharge_efficiency[rows]
    e_init = fleet.e_init_kwh[rows]
    e_floor = fleet.e_floor_kwh[rows]
    e_max = fleet.e_max_kwh[rows]
    pre_ch = u[:, :a].sum(axis=1) * eta_c * dt_h
    pre_dis = v[:, :a].sum(axis=1) / eta_d * dt_h
    post_ch = u[:, b:].sum(axis=1) * eta_c * dt_h
    reachable = np.minimum(e_max, e_init + u.sum(axis=1) * eta_c * dt_h)
    need = np.minimum(fleet.e_need_kwh[rows], reachable)
    return {
        "u": u[:, a:b],
        "v": v[:, a:b],
        "eta_c": eta_c,
        "eta_d": eta_d,
        "s_lo": np.maximum(e_floor, np.minimum(e_init, e_init - pre_dis)),
        "s_hi": np.minimum(e_max, e_init + pre_ch),
        "e_floor": e_floor,
        "e_max": e_max,
        "end_lo": np.maximum(e_floor, need - post_ch),
    }


def window_capability(
    fleet: FleetOnGrid,
    reference_kw: np.ndarray,
    start_step: int,
    stop_step: int,
    direction: Literal["down", "up"] = "down",
) -> WindowCapability:
    """The largest response (kW) the fleet can hold in every step of ``[start_step, stop_step)``.

    Args:
        fleet: sessions on a grid (its ``mode`` says whether discharge is allowed).
        reference_kw: the reference aggregate net power per step of the grid (T,), e.g. the uncontrolled
            counterfactual; the response is measured against it.
        start_step, stop_step: the window.
        direction: ``down`` (import at most reference - R) or ``up`` (at least reference + R).
    """
    ref = np.asarray(reference_kw, dtype=float)
    if ref.shape != (fleet.n_steps,):
        raise VgiError(f"reference has {ref.size} values for {fleet.n_steps} steps")
    a, b = int(start_step), int(stop_step)
    if not 0 <= a < b <= fleet.n_steps:
        raise VgiError(f"window steps [{a}, {b}) outside the grid of {fleet.n_steps} steps")
    w = b - a
    rows = np.flatnonzero((fleet.start < b) & (fleet.stop > a))
    n = len(rows)
    ref_w = ref[a:b]
    if n == 0:
        cap = float(np.min(ref_w)) if direction == "down" else float("inf")
        cap = max(0.0, cap) if np.isfinite(cap) else 0.0
        return WindowCapability(cap if direction == "down" else 0.0, ref_w, a, b, direction, 0)
    bd = _session_bounds(fleet, rows, a, b)
    dt_h = fleet.step_hours
    # discharging inside the window never helps an up response except by charging and discharging the same car
    # at once (burning energy through its losses to make room), which no car can do: no discharge variables then
    has_dis = direction == "down" and bool(np.any(bd["v"] > 0))
    # columns: c (n*w), d (n*w if any discharge), e (n*w), s (n), R (1); index (i, k) -> i*w + k
    nc = n * w
    off_d = nc
    off_e = off_d + (nc if has_dis else 0)
    off_s = off_e + nc
    off_r = off_s + n
    ncol = off_r + 1
    col_lo = np.zeros(ncol)
    col_hi = np.zeros(ncol)
    col_hi[:nc] = bd["u"].ravel()
    if has_dis:
        col_hi[off_d:off_e] = bd["v"].ravel()
    e_lo = np.repeat(bd["e_floor"][:, None], w, axis=1)
    e_hi = np.repeat(bd["e_max"][:, None], w, axis=1)
    e_lo[:, -1] = np.maximum(e_lo[:, -1], bd["end_lo"])
    e_lo = np.minimum(e_lo, e_hi)
    col_lo[off_e:off_s] = e_lo.ravel()
    col_hi[off_e:off_s] = e_hi.ravel()
    col_lo[off_s:off_r] = bd["s_lo"]
    col_hi[off_s:off_r] = np.maximum(bd["s_hi"], bd["s_lo"])
    col_lo[off_r] = -np.inf
    col_hi[off_r] = np.inf

    # dynamics rows (n*w): e_ik - e_i(k-1) - eta_c c_ik dt + d_ik / eta_d dt = 0, with e_i(-1) = s_i
    ik = np.arange(nc)
    i_of = ik // w
    k_of = ik % w
    r_list = [ik, ik]
    c_list = [off_e + ik, ik]
    v_list = [np.ones(nc), -np.repeat(bd["eta_c"], w) * dt_h]
    prev = k_of > 0
    r_list.append(ik[prev])
    c_list.append(off_e + ik[prev] - 1)
    v_list.append(-np.ones(int(prev.sum())))
    first = ~prev
    r_list.append(ik[first])
    c_list.append(off_s + i_of[first])
    v_list.append(-np.ones(int(first.sum())))
    if has_dis:
        r_list.append(ik)
        c_list.append(off_d + ik)
        v_list.append(np.repeat(1.0 / bd["eta_d"], w) * dt_h)
    # fleet rows (w): down: sum_i (c - d) + R <= ref;  up: -sum_i (c - d) + R <= -ref
    sgn = 1.0 if direction == "down" else -1.0
    fr = nc + k_of
    r_list += [fr, nc + np.arange(w)]
    c_list += [ik, np.full(w, off_r)]
    v_list += [np.full(nc, sgn), np.ones(w)]
    if has_dis:
        r_list.append(fr)
        c_list.append(off_d + ik)
        v_list.append(np.full(nc, -sgn))
    rows_idx = np.concatenate(r_list)
    cols_idx = np.concatenate(c_list)
    vals = np.concatenate(v_list)
    nrow = nc + w
    a_mat = sp.csc_matrix((vals, (rows_idx, cols_idx)), shape=(nrow, ncol))
    row_lo = np.concatenate([np.zeros(nc), np.full(w, -np.inf)])
    row_hi = np.concatenate([np.zeros(nc), sgn * ref_w])
    cost = np.zeros(ncol)
    cost[off_r] = 1.0
    if direction == "up":
        # bound R by what every step could add at most, so an unbounded window cannot occur
        col_hi[off_r] = float(np.min(bd["u"].sum(axis=0) - ref_w))
    else:
        col_hi[off_r] = float(np.min(ref_w + (bd["v"].sum(axis=0) if has_dis else 0.0)))
    status, _, obj = _solve_max(cost, a_mat, col_lo, col_hi, row_lo, row_hi)
    if status != "Optimal":
        raise VgiError(f"window capability LP ended with status '{status}' (steps {a}-{b}, {n} sessions)")
    return WindowCapability(max(0.0, obj), ref_w, a, b, direction, n)


def capability_profile(
    fleet: FleetOnGrid,
    reference_kw: np.ndarray,
    starts: Sequence[int],
    duration_steps: int,
    direction: Literal["down", "up"] = "down",
) -> np.ndarray:
    """Capability (kW) of windows ``[s, s + duration_steps)`` for each ``s`` in ``starts`` (NaN past the grid)."""
    out = np.full(len(starts), np.nan)
    for j, s in enumerate(starts):
        if s + duration_steps <= fleet.n_steps and s >= 0:
            out[j] = window_capability(fleet, reference_kw, s, s + duration_steps, direction).capability_kw
    return out
