"""Site-meter netting (``ScheduleOptions.shared_meter``): cars behind one meter pay the import price on the site's
net import and earn the export price on its net export, per step.

Checked by hand (two cars, two steps), against a linear programme written here from scratch (scipy's linprog),
against the decomposition's certified gap, and on a 1,000-EV site where export pays less than import.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from scipy.optimize import linprog

from test_schedule_coupled import check_feasible, coupled_options, with_sites
from test_schedule_exact import fleet_from_rows, random_fleet
from vgi.errors import VgiError
from vgi.io.tariff_library import get_tariff
from vgi.model.generator import generate_sessions
from vgi.model.timegrid import TimeGrid
from vgi.schedule import api
from vgi.schedule.decompose import coupled_objective, solve_coupled
from vgi.schedule.lp import solve_lp
from vgi.schedule.options import ScheduleOptions, shared_meter_sites
from vgi.schedule.prices import PriceInputs, price_inputs
from vgi.schedule.problem import FleetOnGrid

BASE = {"battery_kwh": 50, "charge_efficiency": 1, "discharge_efficiency": 1, "max_charge_kw": 10}


def _two_cars() -> tuple[FleetOnGrid, PriceInputs]:
    """Car A (V2G, 30 of 50 kWh, must leave with 30 kWh) is there for both hours; car B needs 10 kWh in hour 0.
    Import 1.0 then 0.2, export 0.1 in both hours; 10 kW each, no losses."""
    rows = [
        {"arr": 0, "dep": 2, "energy_kwh": 0, "initial_soc": 0.6, "max_discharge_kw": 10, "v2g": True, **BASE},
        {"arr": 0, "dep": 1, "energy_kwh": 10, "initial_soc": 0.2, "max_discharge_kw": 0, "v2g": False, **BASE},
    ]
    return fleet_from_rows(rows, 2, mode="v2g"), PriceInputs(np.array([1.0, 0.2]), np.array([0.1, 0.1]))


@pytest.mark.parametrize("solver", ["lp", "decomposition"])
def test_two_cars_two_steps_netted_by_hand(solver: str) -> None:
    # Each car on its own meter: A discharging 10 kWh in hour 0 earns 0.1 x 10 = 1 and buying it back in hour 1
    # costs 0.2 x 10 = 2, so A stays idle and B buys 10 kWh at 1.0: cost 10.
    # One meter: A discharges 10 kW in hour 0 while B charges 10 kW, the site's net is 0 (nothing bought or
    # sold), and A buys its 10 kWh back in hour 1 at 0.2: cost 2.  Priced per car the same schedule would cost
    # 10 - 1 + 2 = 11, so netting saves 9.
    fleet, prices = _two_cars()
    options = ScheduleOptions(unmet_penalty_per_kwh=50.0, solver=solver, gap_tolerance=1e-9)
    per_ev = api.schedule(fleet, "coupled", prices, options)
    assert per_ev.stats["cost"] == pytest.approx(10.0)
    shared = api.schedule(fleet, "coupled", prices, options.with_(shared_meter=True))
    assert shared.stats["objective"] == pytest.approx(2.0)
    assert shared.stats["cost"] == pytest.approx(2.0)
    assert shared.stats["energy_cost"] == pytest.approx(2.0)
    assert shared.stats["netting_credit"] == pytest.approx(9.0)
    assert shared.discharge_kw is not None
    np.testing.assert_allclose(shared.discharge_kw, [[10.0, 0.0], [0.0, 0.0]], atol=1e-7)
    np.testing.assert_allclose(shared.charge_kw, [[0.0, 10.0], [10.0, 0.0]], atol=1e-7)
    np.testing.assert_allclose(shared.aggregate_kw, [0.0, 10.0], atol=1e-7)
    if solver == "lp":
        # the value of a kWh at the meter lies between the export and the import price
        price = shared.details["meter_price"]["site"]
        assert (price >= prices.sell - 1e-9).all() and (price <= prices.buy + 1e-9).all()
    else:
        assert shared.stats["certified_gap"] <= 1e-9


def test_netting_only_where_export_pays_less_than_import() -> None:
    # hour 0 exports at 1.2 > imports at 1.0: a meter netting per step would charge more for overlap (not convex);
    # there each car is priced apart, so sharing the meter changes nothing and nothing is credited
    fleet, _ = _two_cars()
    prices = PriceInputs(np.array([1.0, 0.2]), np.array([1.2, 0.1]))
    options = ScheduleOptions(unmet_penalty_per_kwh=50.0)
    per_ev = solve_lp(fleet, prices, options)
    shared = solve_lp(fleet, prices, options.with_(shared_meter=True))
    assert shared.stats["objective"] == pytest.approx(per_ev.stats["objective"])
    assert shared.stats["netting_credit"] == pytest.approx(0.0)
    # per car: B buys 10 at 1.0, A sells 10 at 1.2 and buys back at 0.2: 10 - 12 + 2 = 0
    assert per_ev.stats["objective"] == pytest.approx(0.0)


def _independent_lp(
    fleet: FleetOnGrid, buy: np.ndarray, sell: np.ndarray, wear: float, penalty: float, shared: bool,
    site_limit_kw: float | None = None,
) -> float:
    """The fleet's cost written out from scratch over every (car, step) of the grid, solved by scipy's linprog.

    Columns: charge c[i, t], discharge d[i, t] (kW, zero outside the car's time), unmet u[i] (kWh), and per step
    the site's import m[t] and export x[t] (kW).  Battery after step t: e_init + dt sum_{s<=t} (eta_c c - d /
    eta_d), kept within [floor, battery] while plugged in; e at departure + u >= need.  A share of a step:
    c / Cmax + d / Dmax <= 1.  With ``shared`` the cost is buy m - sell x per step with sum_i (c - d) = m - x
    (one meter); else buy c - sell d per car.  All sessions must lie inside the grid.
    """
    n, T, dt = len(fleet), fleet.n_steps, fleet.step_hours
    cmax = fleet.availability() * fleet.max_charge_kw[:, None]
    dmax = fleet.availability() * fleet.max_discharge_kw[:, None]
    nc = n * T
    ic = lambda i, t: i * T + t  # noqa: E731
    idd = lambda i, t: nc + i * T + t  # noqa: E731
    iu = lambda i: 2 * nc + i  # noqa: E731
    im = lambda t: 2 * nc + n + t  # noqa: E731
    ix = lambda t: 2 * nc + n + T + t  # noqa: E731
    n_cols = 2 * nc + n + 2 * T
    cost = np.zeros(n_cols)
    bounds: list[tuple[float, float | None]] = [(0.0, 0.0)] * n_cols
    for i in range(n):
        for t in range(T):
            bounds[ic(i, t)] = (0.0, float(cmax[i, t]))
            bounds[idd(i, t)] = (0.0, float(dmax[i, t]))
            cost[idd(i, t)] += wear * dt / fleet.discharge_efficiency[i]
            if not shared:
                cost[ic(i, t)] += buy[t] * dt
                cost[idd(i, t)] -= sell[t] * dt
        bounds[iu(i)] = (0.0, None)
        cost[iu(i)] = penalty
    for t in range(T):
        if shared:
            bounds[im(t)] = (0.0, None)
            bounds[ix(t)] = (0.0, None)
            cost[im(t)] = buy[t] * dt
            cost[ix(t)] = -sell[t] * dt
    a_ub, b_ub, a_eq, b_eq = [], [], [], []
    for i in range(n):
        e0 = fleet.e_init_kwh[i]
        window = range(int(fleet.start[i]), int(fleet.stop[i]))
        for t in window:
            gain = np.zeros(n_cols)
            for s in range(t + 1):
                gain[ic(i, s)] = fleet.charge_efficiency[i] * dt
                gain[idd(i, s)] = -dt / fleet.discharge_efficiency[i]
            a_ub.append(gain)  # e_t <= battery
            b_ub.append(fleet.e_max_kwh[i] - e0)
            a_ub.append(-gain)  # e_t >= floor
            b_ub.append(e0 - fleet.e_floor_kwh[i])
            if cmax[i, t] > 0 and dmax[i, t] > 0:
                share = np.zeros(n_cols)
                share[ic(i, t)] = 1.0 / cmax[i, t]
                share[idd(i, t)] = 1.0 / dmax[i, t]
                a_ub.append(share)
                b_ub.append(1.0)
            if t == window[-1]:
                need = -gain.copy()
                need[iu(i)] = -1.0
                a_ub.append(need)  # e_last + u >= need
                b_ub.append(e0 - fleet.e_need_kwh[i])
    for t in range(T):
        row = np.zeros(n_cols)
        for i in range(n):
            row[ic(i, t)] = 1.0
            row[idd(i, t)] = -1.0
        if site_limit_kw is not None:
            a_ub.append(row.copy())
            b_ub.append(site_limit_kw)
        if shared:
            row[im(t)] = -1.0
            row[ix(t)] = 1.0
            a_eq.append(row)
            b_eq.append(0.0)
    res = linprog(
        cost,
        A_ub=sp.csr_matrix(np.array(a_ub)),
        b_ub=np.array(b_ub),
        A_eq=sp.csr_matrix(np.array(a_eq)) if a_eq else None,
        b_eq=np.array(b_eq) if b_eq else None,
        bounds=bounds,
        method="highs",
    )
    assert res.status == 0, res.message
    return float(res.fun)


def _small_site(seed: int) -> tuple[FleetOnGrid, PriceInputs]:
    """Five to seven cars of one site inside an 8-hour grid, most may discharge; export pays 30-90 % of import."""
    rng = np.random.default_rng(seed)
    n, T = int(rng.integers(5, 8)), 8
    rows = []
    for _ in range(n):
        arr = float(rng.uniform(0, T - 1))
        rows.append(
            {
                "arr": arr,
                "dep": float(rng.uniform(arr + 0.5, T)),
                "energy_kwh": float(rng.uniform(0, 25)),
                "battery_kwh": float(rng.uniform(20, 60)),
                "initial_soc": float(rng.uniform(0.1, 0.9)),
                "min_soc": float(rng.uniform(0, 0.3)),
                "max_charge_kw": float(rng.uniform(3, 11)),
                "max_discharge_kw": float(rng.uniform(3, 11)),
                "v2g": bool(rng.random() < 0.7),
                "charge_efficiency": float(rng.uniform(0.85, 1.0)),
                "discharge_efficiency": float(rng.uniform(0.85, 1.0)),
            }
        )
    buy = rng.uniform(0.2, 1.5, T)
    sell = buy * rng.uniform(0.3, 0.9, T)
    return fleet_from_rows(rows, T, mode="v2g"), PriceInputs(buy, sell)


@pytest.mark.parametrize("seed", range(6))
def test_netted_lp_matches_an_independent_lp(seed: int) -> None:
    fleet, prices = _small_site(seed)
    limit = None if seed % 2 == 0 else 0.25 * float(fleet.max_charge_kw.sum())
    options = ScheduleOptions(wear_cost_per_kwh=0.03, unmet_penalty_per_kwh=20.0, site_limit_kw=limit)
    per_ev = _independent_lp(fleet, prices.buy, prices.sell, 0.03, 20.0, shared=False, site_limit_kw=limit)
    netted = _independent_lp(fleet, prices.buy, prices.sell, 0.03, 20.0, shared=True, site_limit_kw=limit)
    ours_per_ev = solve_lp(fleet, prices, options)
    ours = solve_lp(fleet, prices, options.with_(shared_meter=True))
    assert ours_per_ev.stats["objective"] == pytest.approx(per_ev, rel=1e-7, abs=1e-7)
    assert ours.stats["objective"] == pytest.approx(netted, rel=1e-7, abs=1e-7)
    assert netted <= per_ev + 1e-9
    # the reported cost is the meter's bill of the schedule, and with the penalty it is the objective
    unmet = float(ours.unmet_kwh.sum()) if ours.unmet_kwh is not None else 0.0
    assert ours.stats["cost"] + 20.0 * unmet == pytest.approx(netted, rel=1e-7, abs=1e-7)
    again = coupled_objective(fleet, prices, options.with_(shared_meter=True), ours.charge_kw, ours.discharge_kw)
    assert again["objective"] == pytest.approx(netted, rel=1e-7, abs=1e-7)


@pytest.mark.parametrize("seed", range(12))
def test_decomposition_within_its_certified_gap_of_the_netted_lp(seed: int) -> None:
    rng = np.random.default_rng(1000 + seed)
    n, T = int(rng.integers(2, 10)), int(rng.integers(2, 12))
    fleet = with_sites(random_fleet(rng, n, T, step_minutes=int(rng.choice([15, 30, 60])), mode="v2g"), 1 + seed % 3)
    buy = rng.normal(1.0, 0.6, T)
    sell = buy - np.abs(rng.normal(0.3, 0.3, T))
    sell[rng.random(T) < 0.2] += 0.5  # a few steps where export pays more: priced per car there
    prices = PriceInputs(buy, sell)
    options = coupled_options(rng, fleet, seed % 5, float(rng.choice([0.0, 0.05])))
    options = options.with_(shared_meter=True if seed % 2 == 0 else ("site0",))
    lp = solve_lp(fleet, prices, options)
    assert lp.stats["status"] == "Optimal"
    opt = float(lp.stats["objective"])
    out = solve_coupled(fleet, prices, options)
    ub, lb, gap = float(out.stats["upper_bound"]), float(out.stats["lower_bound"]), float(out.stats["certified_gap"])
    tol = 1e-7 * max(1.0, abs(opt), float(np.abs(buy).max()) * n)
    assert lb <= opt + tol
    assert ub >= opt - tol
    assert ub - opt <= gap * max(abs(ub), abs(lb)) + tol
    assert gap <= 1e-6
    check_feasible(fleet, out.charge_kw, out.discharge_kw)
    again = coupled_objective(fleet, prices, options, out.charge_kw, out.discharge_kw)
    assert again["objective"] == pytest.approx(ub, rel=1e-12, abs=1e-9)


def test_a_thousand_evs_behind_one_meter() -> None:
    # 1,000 generated sessions (home, workplace, public AC; half V2G) at one site, noon to noon, 95 % efficiency,
    # the Guangzhou residential EV tariff with exports at 90 % of the import price (the instance of
    # benchmarks/bench_coupled.py without its site limit): priced car by car, the optimum buys from the grid what
    # other cars of the same site are selling to it at the same moment
    tz = "Asia/Shanghai"
    sessions = generate_sessions(
        1000, {"home": 0.6, "workplace": 0.2, "public_ac": 0.2}, seed=0, start_day="2024-06-03", timezone=tz,
        v2g_share=0.5,
    )
    sessions = sessions.with_columns(charge_efficiency=0.95, discharge_efficiency=0.95, site_id="site")
    start = pd.Timestamp("2024-06-03 12:00", tz=tz)
    grid = TimeGrid(start, start + pd.Timedelta(days=1), 15, tz)
    fleet = FleetOnGrid.from_sessions(sessions, grid, "v2g")
    need = np.minimum(fleet.e_need_kwh, fleet.e_init_kwh + fleet.deliverable_kwh)
    fleet = dataclasses.replace(fleet, e_need_kwh=need)
    buy = price_inputs(get_tariff("cn-guangzhou-residential-ev"), grid).buy
    prices = PriceInputs(buy, 0.9 * buy)
    options = ScheduleOptions(wear_cost_per_kwh=0.02, gap_tolerance=1e-5, solver="decomposition")
    per_ev = api.schedule(fleet, "coupled", prices, options)
    shared = api.schedule(fleet, "coupled", prices, options.with_(shared_meter=True))
    assert per_ev.stats["unmet_kwh"] == pytest.approx(0.0, abs=1e-6)
    assert shared.stats["unmet_kwh"] == pytest.approx(0.0, abs=1e-6)
    # the per-EV optimum's cost, as the per-EV model reports it, is well above the netted optimum
    excess = per_ev.stats["cost"] / shared.stats["cost"] - 1.0
    assert 0.05 < excess < 0.10  # 6.9 % (3,731.1 against 3,490.8 CNY)
    # and the netted optimum beats the per-EV schedule even at the meter (less its certified gap)
    at_meter = coupled_objective(fleet, prices, options.with_(shared_meter=True), per_ev.charge_kw, per_ev.discharge_kw)
    assert shared.stats["lower_bound"] <= at_meter["objective"] + 1e-9
    assert shared.stats["certified_gap"] <= 1e-5
    assert shared.stats["netting_credit"] > 0


def test_price_strategy_reports_the_metered_bill_and_that_it_did_not_plan_with_it() -> None:
    fleet, prices = _two_cars()
    out = api.schedule(fleet, "price", prices, ScheduleOptions(unmet_penalty_per_kwh=50.0, shared_meter=True))
    assert "shared_meter" in str(out.stats["ignored_options"])
    assert out.stats["cost"] == pytest.approx(10.0)  # each car alone: A idle, B buys 10 kWh at 1.0
    assert ScheduleOptions(shared_meter=("site",)).is_coupled
    assert not ScheduleOptions(shared_meter=()).is_coupled


def test_shared_meter_names_are_checked() -> None:
    fleet, prices = _two_cars()
    with pytest.raises(VgiError, match="not in the sessions: depot"):
        solve_lp(fleet, prices, ScheduleOptions(shared_meter=["depot"]))
    with pytest.raises(VgiError, match="collection of site ids"):
        ScheduleOptions(shared_meter="site")  # type: ignore[arg-type]
    assert shared_meter_sites(fleet, True) == ["site"]
    assert shared_meter_sites(fleet, False) == []


# ------------------------------------------------------------ scenario and CLI plumbing

SCENARIO = {
    "extends": "guangzhou-default",
    "name": "meter",
    "horizon": {"start": "2024-07-01", "days": 1},
    "fleet": {"generator": {"count": 80, "seed": 5, "archetypes": {"home": 0.5, "workplace": 0.5}},
              "v2g": {"share": 0.6}},
    "programmes": [],
    "events": [],
    "modes": ["uncontrolled", "direct-v2g"],
}


@pytest.mark.parametrize(
    ("grid", "expected"),
    [
        ({}, ()),  # no site limit: the generator's site ids are labels of many meters
        ({"site_limits_kw": {"work*": 400.0}}, ("workplace",)),  # a limited site is one connection, one meter
        ({"site_limits_kw": {"work*": 400.0}, "shared_meter": False}, False),
        ({"shared_meter": True}, True),
        ({"shared_meter": ["home", "nowhere*"]}, ("home",)),
    ],
)
def test_scenario_shared_meter_default_and_choices(grid: dict, expected: object) -> None:
    from vgi.scenario.inputs import prepare
    from vgi.scenario.loader import load_scenario
    from vgi.scenario.runner import _shared_meter

    inp = prepare(load_scenario({**SCENARIO, "grid": grid}))
    assert _shared_meter(inp) == expected


def test_scenario_direct_mode_nets_at_the_shared_meter() -> None:
    from vgi.api import run

    res = run({**SCENARIO, "grid": {"shared_meter": True}})
    stats = res.runs["direct-v2g"].stats
    assert stats["netting_credit"] > 1.0  # CNY: cars at one site feed each other instead of buying and selling
    per_ev = run({**SCENARIO, "grid": {"shared_meter": False}}).runs["direct-v2g"].stats
    assert "netting_credit" not in per_ev
    # the same fleet is never dearer behind one meter (both optima, certified or exact)
    assert float(stats["objective"]) < float(per_ev["objective"])


def test_scenario_rejects_an_empty_site_pattern() -> None:
    from vgi.scenario.loader import load_scenario

    with pytest.raises(VgiError, match="shared_meter"):
        load_scenario({**SCENARIO, "grid": {"shared_meter": [""]}})


def test_cli_site_meter_flag(tmp_path: Path) -> None:
    import json

    from click.testing import CliRunner

    from vgi.cli import cli

    path = tmp_path / "site.csv"
    sessions = generate_sessions(40, "workplace", seed=3, start_day="2024-06-03", n_days=1, timezone="Asia/Shanghai",
                                 v2g_share=0.8)
    sessions.with_columns(site_id="depot").to_csv(path)
    out = {}
    for meter in ("per-ev", "shared"):
        result = CliRunner().invoke(
            cli,
            ["schedule", "--sessions", str(path), "--strategy", "coupled", "--mode", "v2g", "--solver", "lp",
             "--tariff", "cn-guangzhou-residential-ev", "--days", "1", "--site-meter", meter, "--json"],
            catch_exceptions=False,
        )
        assert result.exit_code == 0, result.output
        out[meter] = json.loads(result.output)
    assert "netting_credit" not in out["per-ev"]
    assert out["shared"]["netting_credit"] > 0.0
    assert out["shared"]["objective"] < out["per-ev"]["objective"]
