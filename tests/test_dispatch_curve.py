"""A dispatch curve that covers only some steps (``target_kw`` NaN where there is no target).

Checked by hand (one car, four hours), against a linear programme written here from scratch (scipy's linprog) with
the tracking rows only in the target's steps, against the decomposition's certified gap, through online
re-planning's cut terms and :func:`vgi.aggregator.dispatch.dispatch_curve`; and the validation (NaN everywhere is no
curve, an infinite value is an error).
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.optimize import linprog

from test_schedule_coupled import check_feasible
from test_schedule_exact import fleet_from_rows
from vgi.aggregator.dispatch import dispatch_curve
from vgi.errors import VgiError
from vgi.schedule import api
from vgi.schedule.decompose import Coupling, coupled_objective, solve_coupled
from vgi.schedule.lp import solve_lp
from vgi.schedule.options import ScheduleOptions
from vgi.schedule.prices import PriceInputs
from vgi.schedule.problem import FleetOnGrid
from vgi.schedule.terms import CouplingTerms, EventTarget

T = 12
TARGET_STEPS = [4, 5, 6, 7]


# ------------------------------------------------------------------------------------------------- validation


def test_a_curve_of_nan_everywhere_is_no_curve_and_infinity_is_refused() -> None:
    empty = ScheduleOptions(target_kw=np.full(T, np.nan), over_penalty_per_kwh=1.0)
    assert empty.target_kw is None and not empty.is_coupled
    terms = CouplingTerms(target_kw=np.full(T, np.nan))
    assert terms.target_kw is None and not terms.is_coupled
    # NaN everywhere does not clash with events (it is no curve)
    up = EventTarget("u", 1, 2, "up", np.array([3.0]), np.zeros(3), 2.0)
    assert CouplingTerms(events=(up,), target_kw=np.full(3, np.nan)).target_kw is None
    partial = np.full(T, np.nan)
    partial[TARGET_STEPS] = 5.0
    assert ScheduleOptions(target_kw=partial).is_coupled
    bad = partial.copy()
    bad[6] = np.inf
    with pytest.raises(VgiError, match="infinite value at step 6"):
        ScheduleOptions(target_kw=bad)
    with pytest.raises(VgiError, match="infinite value at step 6"):
        CouplingTerms(target_kw=bad)
    fleet, prices = _fleet(0, "v1g")
    with pytest.raises(VgiError, match="has 3 values for 12 steps"):
        solve_lp(fleet, prices, ScheduleOptions(target_kw=np.array([1.0, np.nan, 2.0])))


def test_online_cut_terms_drop_a_curve_that_is_over() -> None:
    curve = np.full(T, np.nan)
    curve[TARGET_STEPS] = [1.0, 2.0, 3.0, 4.0]
    terms = CouplingTerms(target_kw=curve, over_penalty_per_kwh=1.0)
    later = terms.from_step(6)
    assert later.target_kw is not None
    np.testing.assert_array_equal(later.target_kw[:2], [3.0, 4.0])
    assert np.isnan(later.target_kw[2:]).all() and later.target_kw.size == T - 6
    assert terms.from_step(8).target_kw is None  # only NaN left: no curve, nothing coupled
    assert not terms.from_step(8).is_coupled
    assert terms.for_sites({"site"}).target_kw is not None


# -------------------------------------------------------------------------------------------------- by hand


def test_one_car_follows_the_curve_in_its_step_and_prices_elsewhere() -> None:
    # one car, 10 kW, no losses, needs 10 kWh in 4 hours; prices 1, 2, 3, 4 per kWh.  No curve: 10 kWh in hour 0,
    # cost 10.  A curve of 5 kW in hour 2 only (over and under at 100 per kWh): 5 kWh in hour 2 (cost 15), and the
    # other 5 kWh where they are cheapest, hour 0 (cost 5): 20.  Hours 0, 1 and 3 have no target, so charging
    # nothing in hours 1 and 3 costs no penalty.
    rows = [{"arr": 0, "dep": 4, "energy_kwh": 10.0, "battery_kwh": 50.0, "initial_soc": 0.2, "max_charge_kw": 10.0,
             "max_discharge_kw": 0.0, "v2g": False, "charge_efficiency": 1.0, "discharge_efficiency": 1.0}]
    fleet = fleet_from_rows(rows, 4, mode="v1g")
    prices = PriceInputs(np.array([1.0, 2.0, 3.0, 4.0]), np.zeros(4))
    free = solve_lp(fleet, prices, ScheduleOptions())
    assert free.stats["objective"] == pytest.approx(10.0)
    curve = np.array([np.nan, np.nan, 5.0, np.nan])
    options = ScheduleOptions(target_kw=curve, over_penalty_per_kwh=100.0, under_penalty_per_kwh=100.0,
                              gap_tolerance=1e-9)
    for solver in ("lp", "decomposition"):
        out = api.schedule(fleet, "coupled", prices, options.with_(solver=solver))
        assert out.stats["objective"] == pytest.approx(20.0, abs=1e-7)
        np.testing.assert_allclose(out.aggregate_kw, [5.0, 0.0, 5.0, 0.0], atol=1e-7)
    lp = solve_lp(fleet, prices, options)
    np.testing.assert_allclose(lp.details["target_over_kw"], 0.0, atol=1e-9)
    np.testing.assert_allclose(lp.details["target_under_kw"], 0.0, atol=1e-9)
    assert lp.stats["n_variables"] == free.stats["n_variables"] + 2  # over and under of the one step only
    # the certificate's terms count only that step: 2 kW too much in hour 2 is 2 kWh over, hours 0, 1, 3 nothing
    terms = coupled_objective(fleet, prices, options, np.array([[1.0, 2.0, 7.0, 0.0]]))
    assert terms["over_kwh"] == pytest.approx(2.0) and terms["under_kwh"] == pytest.approx(0.0)
    assert terms["tracking_cost"] == pytest.approx(200.0)


# ---------------------------------------------------------------------------------- against an independent LP


def _fleet(seed: int, mode: str, all_at_start: bool = False) -> tuple[FleetOnGrid, PriceInputs]:
    """Four to seven cars inside a 12-hour grid, with losses, some with V2G consent; prices vary by the hour."""
    rng = np.random.default_rng(seed)
    n = int(rng.integers(4, 8))
    rows = []
    for _ in range(n):
        arr = 0.0 if all_at_start else float(rng.uniform(0, T - 2))
        rows.append({
            "arr": arr, "dep": float(rng.uniform(arr + 1.0, T)), "energy_kwh": float(rng.uniform(2, 30)),
            "battery_kwh": float(rng.uniform(30, 70)), "initial_soc": float(rng.uniform(0.2, 0.6)),
            "min_soc": float(rng.uniform(0, 0.2)), "max_charge_kw": float(rng.uniform(3, 11)),
            "max_discharge_kw": float(rng.uniform(3, 11)), "v2g": bool(rng.random() < 0.6),
            "charge_efficiency": float(rng.uniform(0.85, 1.0)), "discharge_efficiency": float(rng.uniform(0.85, 1.0)),
        })
    buy = rng.uniform(0.1, 1.5, T)
    sell = buy * rng.uniform(0.3, 0.9, T)
    return fleet_from_rows(rows, T, mode=mode), PriceInputs(buy, sell)


def _independent_lp(fleet: FleetOnGrid, prices: PriceInputs, target_kw: np.ndarray, over: float, under: float,
                    unmet_penalty: float) -> float:
    """The fleet following ``target_kw`` in its finite steps, written out from scratch and solved by linprog.

    Columns: charge c[i, t], discharge d[i, t] (kW, bounded by the share of the step plugged in), unmet u[i] (kWh),
    and per step with a target over o[t] and under w[t] (kW).  Battery after step t: e_init + dt sum_{s<=t} (eta_c c
    - d / eta_d) within [floor, capacity] while plugged in; at departure + u >= need; c / Cmax + d / Dmax <= 1.
    Cost: sum (buy c - sell d) dt + penalty u + sum over target steps (over o + under w) dt, where
    sum_i (c - d)[t] - o[t] + w[t] = target[t].  Steps without a target have no row and no column.
    """
    n, dt = len(fleet), fleet.step_hours
    steps = [t for t in range(T) if np.isfinite(target_kw[t])]
    cmax = fleet.availability() * fleet.max_charge_kw[:, None]
    dmax = fleet.availability() * fleet.max_discharge_kw[:, None]
    nc = n * T
    k = len(steps)
    n_cols = 2 * nc + n + 2 * k

    def ic(i: int, t: int) -> int:
        return i * T + t

    def idd(i: int, t: int) -> int:
        return nc + i * T + t

    def iu(i: int) -> int:
        return 2 * nc + i

    cost = np.zeros(n_cols)
    bounds: list[tuple[float, float | None]] = [(0.0, None)] * n_cols
    for i in range(n):
        for t in range(T):
            bounds[ic(i, t)] = (0.0, float(cmax[i, t]))
            bounds[idd(i, t)] = (0.0, float(dmax[i, t]))
            cost[ic(i, t)] = prices.buy[t] * dt
            cost[idd(i, t)] = -prices.sell[t] * dt
        cost[iu(i)] = unmet_penalty
    for j in range(k):
        cost[2 * nc + n + j] = over * dt
        cost[2 * nc + n + k + j] = under * dt
    a_ub, b_ub, a_eq, b_eq = [], [], [], []
    for i in range(n):
        e0 = fleet.e_init_kwh[i]
        window = range(int(fleet.start[i]), int(fleet.stop[i]))
        for t in window:
            gain = np.zeros(n_cols)
            for s in range(int(fleet.start[i]), t + 1):
                gain[ic(i, s)] = fleet.charge_efficiency[i] * dt
                gain[idd(i, s)] = -dt / fleet.discharge_efficiency[i]
            a_ub.append(gain)
            b_ub.append(fleet.e_max_kwh[i] - e0)
            a_ub.append(-gain)
            b_ub.append(e0 - fleet.e_floor_kwh[i])
            if cmax[i, t] > 0 and dmax[i, t] > 0:
                share = np.zeros(n_cols)
                share[ic(i, t)] = 1.0 / cmax[i, t]
                share[idd(i, t)] = 1.0 / dmax[i, t]
                a_ub.append(share)
                b_ub.append(1.0)
            if t == window[-1]:
                need = -gain
                need[iu(i)] = -1.0
                a_ub.append(need)
                b_ub.append(e0 - fleet.e_need_kwh[i])
    for j, t in enumerate(steps):
        row = np.zeros(n_cols)
        for i in range(n):
            row[ic(i, t)] = 1.0
            row[idd(i, t)] = -1.0
        row[2 * nc + n + j] = -1.0
        row[2 * nc + n + k + j] = 1.0
        a_eq.append(row)
        b_eq.append(float(target_kw[t]))
    res = linprog(cost, A_ub=sp.csr_matrix(np.array(a_ub)), b_ub=np.array(b_ub),
                  A_eq=sp.csr_matrix(np.array(a_eq)) if a_eq else None, b_eq=np.array(b_eq) if b_eq else None,
                  bounds=bounds, method="highs")
    assert res.status == 0, res.message
    return float(res.fun)


def _curve(seed: int, fleet: FleetOnGrid) -> np.ndarray:
    rng = np.random.default_rng(500 + seed)
    top = float(fleet.max_charge_kw.sum())
    curve = np.full(T, np.nan)
    curve[TARGET_STEPS] = rng.uniform(-0.2, 0.6, len(TARGET_STEPS)) * top
    return curve


@pytest.mark.parametrize("mode", ["v1g", "v2g"])
@pytest.mark.parametrize("seed", range(4))
def test_lp_with_a_curve_over_steps_4_to_7_matches_an_independent_lp(seed: int, mode: str) -> None:
    fleet, prices = _fleet(seed, mode)
    curve = _curve(seed, fleet)
    over, under, unmet = 2.5, 1.5, 40.0
    options = ScheduleOptions(target_kw=curve, over_penalty_per_kwh=over, under_penalty_per_kwh=under,
                              unmet_penalty_per_kwh=unmet)
    ours = solve_lp(fleet, prices, options)
    assert ours.stats["status"] == "Optimal"
    expected = _independent_lp(fleet, prices, curve, over, under, unmet)
    assert ours.stats["objective"] == pytest.approx(expected, rel=1e-7, abs=1e-7)
    # the tracking details are per step: zero where there is no target, the deviation in the target's steps
    net = ours.aggregate_kw
    dev = net[TARGET_STEPS] - curve[TARGET_STEPS]
    other = np.setdiff1d(np.arange(T), TARGET_STEPS)
    np.testing.assert_allclose(ours.details["target_over_kw"][other], 0.0)
    np.testing.assert_allclose(ours.details["target_under_kw"][other], 0.0)
    np.testing.assert_allclose(ours.details["target_over_kw"][TARGET_STEPS] - ours.details["target_under_kw"][
        TARGET_STEPS], dev, atol=1e-6)
    # the same schedule priced again (the certificate's sums) gives the LP's objective: NaN steps count nothing
    again = coupled_objective(fleet, prices, options, ours.charge_kw, ours.discharge_kw)
    assert again["objective"] == pytest.approx(expected, rel=1e-7, abs=1e-7)
    assert again["over_kwh"] == pytest.approx(float(np.maximum(dev, 0).sum()), abs=1e-6)
    assert again["under_kwh"] == pytest.approx(float(np.maximum(-dev, 0).sum()), abs=1e-6)
    # and a curve over every step is not what was solved: the NaN steps were free
    full = _independent_lp(fleet, prices, np.where(np.isfinite(curve), curve, 0.0), over, under, unmet)
    assert expected <= full + 1e-7


@pytest.mark.parametrize("mode", ["v1g", "v2g"])
@pytest.mark.parametrize("seed", range(4))
def test_decomposition_with_a_curve_over_steps_4_to_7_within_its_gap(seed: int, mode: str) -> None:
    fleet, prices = _fleet(seed, mode)
    curve = _curve(seed, fleet)
    options = ScheduleOptions(target_kw=curve, over_penalty_per_kwh=2.5, under_penalty_per_kwh=1.5,
                              unmet_penalty_per_kwh=40.0, gap_tolerance=1e-7)
    opt = _independent_lp(fleet, prices, curve, 2.5, 1.5, 40.0)
    out = solve_coupled(fleet, prices, options)
    ub, lb, gap = float(out.stats["upper_bound"]), float(out.stats["lower_bound"]), float(out.stats["certified_gap"])
    tol = 1e-7 * max(1.0, abs(opt))
    assert np.isfinite(ub) and np.isfinite(lb)
    assert lb <= opt + tol
    assert ub >= opt - tol
    assert ub - opt <= gap * max(abs(ub), abs(lb)) + tol
    assert gap <= 1e-6
    check_feasible(fleet, out.charge_kw, out.discharge_kw)
    assert np.isfinite(out.stats["over_kwh"]) and np.isfinite(out.stats["under_kwh"])
    again = coupled_objective(fleet, prices, options, out.charge_kw, out.discharge_kw)
    assert again["objective"] == pytest.approx(ub, rel=1e-12, abs=1e-9)
    # the master's block has tracking columns for the four steps only
    coupling = Coupling.from_options(fleet, prices, options)
    assert coupling.target_kw is not None and int(np.isfinite(coupling.target_kw).sum()) == 4


def test_online_replanning_with_a_curve_over_some_steps() -> None:
    # every car known from the start with its true departure and need: re-planning each step from the state reached
    # (the terms cut with from_step, the curve's NaN steps kept NaN, an empty rest dropped) is the offline optimum
    fleet, prices = _fleet(1, "v2g", all_at_start=True)
    curve = _curve(1, fleet)
    options = ScheduleOptions(target_kw=curve, over_penalty_per_kwh=2.5, under_penalty_per_kwh=1.5,
                              unmet_penalty_per_kwh=40.0, online_replan_every=1)
    out = api.schedule(fleet, "online", prices, options)
    check_feasible(fleet, out.charge_kw, out.discharge_kw)
    offline = _independent_lp(fleet, prices, curve, 2.5, 1.5, 40.0)
    again = coupled_objective(fleet, prices, options, out.charge_kw, out.discharge_kw)
    assert float(out.stats["objective"]) == pytest.approx(again["objective"], rel=1e-9)
    assert float(out.stats["objective"]) == pytest.approx(offline, rel=1e-6, abs=1e-6)
    assert float(out.stats["offline_objective"]) == pytest.approx(offline, rel=1e-7, abs=1e-7)


def test_dispatch_curve_counts_deviation_only_where_there_is_a_target() -> None:
    fleet, prices = _fleet(2, "v1g")
    curve = _curve(2, fleet)
    res = dispatch_curve(fleet, curve, prices=prices)
    dev = res.schedule.aggregate_kw[TARGET_STEPS] - curve[TARGET_STEPS]
    assert res.shortfall_kwh == pytest.approx(float(np.abs(dev).sum()), abs=1e-9)
    assert np.isfinite(res.shortfall_kwh) and "nan" not in " ".join(res.notes)
    bad = curve.copy()
    bad[0] = -np.inf
    with pytest.raises(VgiError, match="infinite value at step 0"):
        dispatch_curve(fleet, bad, prices=prices)
