"""The coupled decomposition: within its certified gap of the direct LP, every EV's limits kept, the coupling
limits kept where they can be, and an impossible limit reported with the steps where it binds."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from test_schedule_exact import fleet_from_rows, random_fleet, random_prices
from vgi.model.sessions import sessions_from_frame
from vgi.model.timegrid import TimeGrid
from vgi.schedule import api, decompose
from vgi.schedule.decompose import coupled_objective, solve_coupled, subset_fleet
from vgi.schedule.lp import solve_lp
from vgi.schedule.options import DrEvent, ScheduleOptions
from vgi.schedule.prices import PriceInputs
from vgi.schedule.problem import FleetOnGrid

CAR = {"battery_kwh": 50, "initial_soc": 0.2, "max_charge_kw": 10, "charge_efficiency": 1, "discharge_efficiency": 1}


def check_feasible(fleet: FleetOnGrid, charge: np.ndarray, discharge: np.ndarray | None, tol: float = 1e-7) -> None:
    """Every session keeps its power limits (sharing a step between charging and discharging), its window and its
    battery bounds (needs may be left unmet)."""
    dt = fleet.step_hours
    d = np.zeros_like(charge) if discharge is None else discharge
    c_max, d_max = fleet.charge_limit_kw(), fleet.discharge_limit_kw()
    assert (charge >= -tol).all() and (charge <= c_max + tol).all()
    assert (d >= -tol).all() and (d <= d_max + tol).all()
    # charging and discharging in one step share it
    both = (c_max > 0) & (d_max > 0)
    assert (charge[both] / c_max[both] + d[both] / d_max[both] <= 1 + tol).all()
    energy = fleet.e_init_kwh[:, None] + np.cumsum(
        (charge * fleet.charge_efficiency[:, None] - d / fleet.discharge_efficiency[:, None]) * dt, axis=1
    )
    t = np.arange(fleet.n_steps)
    inside = (t[None, :] >= fleet.start[:, None]) & (t[None, :] < fleet.stop[:, None])
    scale = 1.0 + fleet.e_max_kwh[:, None]
    assert (energy >= fleet.e_floor_kwh[:, None] - tol * scale)[inside].all()
    assert (energy <= fleet.e_max_kwh[:, None] + tol * scale)[inside].all()


def with_sites(fleet: FleetOnGrid, n_sites: int) -> FleetOnGrid:
    site = np.array([f"site{i % n_sites}" for i in range(len(fleet))], dtype=object)
    return dataclasses.replace(fleet, site_id=site)


def coupled_options(rng: np.random.Generator, fleet: FleetOnGrid, kind: int, wear: float) -> ScheduleOptions:
    """Random coupling of one of five kinds, sized on what the fleet can draw."""
    T = fleet.n_steps
    top = max(float(fleet.charge_limit_kw().sum(axis=0).max(initial=0.0)), 1.0)
    base = ScheduleOptions(wear_cost_per_kwh=wear, gap_tolerance=1e-7)
    sites = sorted({str(s) for s in fleet.site_id})
    if kind == 0:  # site limits, one as a curve
        limits: dict[str, object] = {s: rng.uniform(0.1, 0.6) * top for s in sites}
        limits[sites[0]] = rng.uniform(0.0, 0.6, T) * top
        return base.with_(site_limit_kw=limits)
    if kind == 1:  # fleet import and export limits
        return base.with_(fleet_import_limit_kw=rng.uniform(0.1, 0.7, T) * top, fleet_export_limit_kw=0.1 * top)
    if kind == 2:  # a target curve, over- and under-delivery priced differently
        return base.with_(
            target_kw=rng.uniform(-0.2, 0.6, T) * top,
            over_penalty_per_kwh=float(rng.uniform(0, 3)),
            under_penalty_per_kwh=float(rng.uniform(0, 3)),
        )
    if kind == 3:  # a demand-response event, a peak weight and a demand charge
        start = int(rng.integers(0, T))
        stop = int(rng.integers(start + 1, T + 1))
        event = DrEvent(
            start, stop, float(rng.uniform(0, 0.3) * top), rng.uniform(0, 0.6, T) * top, float(rng.uniform(0.5, 5))
        )
        return base.with_(
            dr_event=event, minimise_peak=float(rng.uniform(0, 1)), demand_charge_per_kw=float(rng.uniform(0, 1))
        )
    # everything at once
    return base.with_(
        site_limit_kw={s: rng.uniform(0.2, 0.7) * top for s in sites},
        fleet_export_limit_kw=0.05 * top,
        minimise_peak=0.3,
        target_kw=np.full(T, 0.2 * top),
        over_penalty_per_kwh=0.5,
        under_penalty_per_kwh=0.1,
    )


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 2**31 - 1),
    n=st.integers(1, 8),
    n_steps=st.integers(1, 12),
    kind=st.integers(0, 4),
    n_sites=st.integers(1, 3),
    wear=st.sampled_from([0.0, 0.05, 0.3]),
    mode=st.sampled_from(["v1g", "v2g"]),
)
def test_decomposition_within_its_certified_gap_of_the_lp(
    seed: int, n: int, n_steps: int, kind: int, n_sites: int, wear: float, mode: str
) -> None:
    rng = np.random.default_rng(seed)
    fleet = with_sites(random_fleet(rng, n, n_steps, step_minutes=int(rng.choice([15, 30, 60])), mode=mode), n_sites)
    buy, sell = random_prices(rng, n_steps, int(rng.integers(0, 6)))
    prices = PriceInputs(buy, sell)
    options = coupled_options(rng, fleet, kind, wear)
    lp = solve_lp(fleet, prices, options)
    assert lp.stats["status"] == "Optimal"
    opt = float(lp.stats["objective"])
    out = solve_coupled(fleet, prices, options)
    st_ = out.stats
    ub, lb, gap = float(st_["upper_bound"]), float(st_["lower_bound"]), float(st_["certified_gap"])
    tol = 1e-7 * max(1.0, abs(opt), float(np.abs(buy).max()) * n)
    # the bound is a bound, the schedule is feasible, and the optimum lies between them
    assert lb <= opt + tol
    assert ub >= opt - tol
    assert ub - opt <= gap * max(abs(ub), abs(lb)) + tol
    assert gap <= 1e-6
    check_feasible(fleet, out.charge_kw, out.discharge_kw)
    # the objective, recomputed from the schedule, is the upper bound; unmet energy is what is short
    again = coupled_objective(fleet, prices, options, out.charge_kw, out.discharge_kw)
    assert again["objective"] == pytest.approx(ub, rel=1e-12, abs=1e-9)
    np.testing.assert_allclose(out.unmet_kwh, again["unmet_kwh"])
    # a limit the LP keeps is kept
    if float(lp.stats["limit_violation_kwh"]) <= 1e-9:
        assert float(st_["limit_violation_kwh"]) <= 1e-6 * max(1.0, opt)


def _two_cars(mode: str = "v1g") -> FleetOnGrid:
    rows = [{"arr": 0, "dep": 2, "energy_kwh": 10, **CAR} for _ in range(2)]
    return fleet_from_rows(rows, 2, mode=mode)


def test_site_limit_hand_worked() -> None:
    # two cars each need 10 kWh within 2 hours at 10 kW; prices 1 then 2; site limit 12 kW:
    # 12 kWh in hour 0 and 8 in hour 1 cost 12 + 16 = 28 (unlimited: 20)
    fleet = _two_cars()
    prices = PriceInputs(np.array([1.0, 2.0]), np.zeros(2))
    out = solve_coupled(fleet, prices, ScheduleOptions(site_limit_kw=12.0))
    assert out.stats["objective"] == pytest.approx(28.0)
    assert out.stats["cost"] == pytest.approx(28.0)
    assert out.stats["certified_gap"] <= 1e-6
    assert out.stats["lower_bound"] <= 28.0 + 1e-9
    np.testing.assert_allclose(out.aggregate_kw, [12.0, 8.0], atol=1e-7)
    assert out.stats["binding_steps"] == "0"
    assert out.stats["unmet_kwh"] == pytest.approx(0.0, abs=1e-9)


def test_site_limit_below_the_need_leaves_energy_unmet_and_names_the_binding_steps() -> None:
    # limit 5 kW over 2 hours: 10 of the 20 kWh, both steps bind, no violation; 5 x 1 + 5 x 2 + 10 x 50
    fleet = _two_cars()
    prices = PriceInputs(np.array([1.0, 2.0]), np.zeros(2))
    out = solve_coupled(fleet, prices, ScheduleOptions(site_limit_kw=5.0, unmet_penalty_per_kwh=50.0))
    assert out.stats["unmet_kwh"] == pytest.approx(10.0)
    assert out.stats["n_short_sessions"] >= 1
    assert out.stats["binding_steps"] == "0,1"
    assert out.stats["limit_violation_kwh"] == pytest.approx(0.0, abs=1e-9)
    assert out.stats["objective"] == pytest.approx(5 + 10 + 500.0)


def test_an_impossible_limit_is_reported_not_a_crash() -> None:
    # a charge-only fleet cannot export: an import limit of -3 kW is exceeded by 3 kW at every step, and said so
    fleet = _two_cars()
    prices = PriceInputs(np.array([1.0, 2.0]), np.zeros(2))
    options = ScheduleOptions(site_limit_kw=-3.0, unmet_penalty_per_kwh=50.0, limit_penalty_per_kw=1000.0)
    out = solve_coupled(fleet, prices, options)
    lp = solve_lp(fleet, prices, options)
    assert out.stats["violated_steps"] == "0,1"
    assert out.stats["binding_steps"] == "0,1"
    assert out.stats["limit_violation_kwh"] == pytest.approx(6.0)
    # cheapest answer: charge nothing (20 kWh unmet), pay 3 kW over the limit for 2 hours
    assert out.stats["objective"] == pytest.approx(float(lp.stats["objective"]))
    assert out.stats["objective"] == pytest.approx(20 * 50 + 6 * 1000.0)
    check_feasible(fleet, out.charge_kw, out.discharge_kw)


def test_v2g_exports_to_keep_a_negative_limit() -> None:
    # one V2G car at 30 kWh (need: back to 30 kWh) keeps an import limit of -5 kW by exporting 5 kW for 2 hours:
    # (selling more does not pay: 0.5 earned < 0.6 unmet penalty): 10 kWh sold at 0.5, unmet at 0.6: -5 + 6 = 1
    rows = [
        {
            "arr": 0,
            "dep": 2,
            "energy_kwh": 0,
            "battery_kwh": 50,
            "initial_soc": 0.6,
            "max_charge_kw": 10,
            "max_discharge_kw": 10,
            "v2g": True,
            "charge_efficiency": 1,
            "discharge_efficiency": 1,
        }
    ]
    fleet = fleet_from_rows(rows, 2, mode="v2g")
    prices = PriceInputs(np.array([1.0, 1.0]), np.array([0.5, 0.5]))
    options = ScheduleOptions(site_limit_kw=-5.0, unmet_penalty_per_kwh=0.6)
    out = solve_coupled(fleet, prices, options)
    assert out.stats["limit_violation_kwh"] == pytest.approx(0.0, abs=1e-9)
    np.testing.assert_allclose(out.aggregate_kw, [-5.0, -5.0], atol=1e-7)
    assert out.stats["objective"] == pytest.approx(1.0)
    assert out.stats["unmet_kwh"] == pytest.approx(10.0)
    assert solve_lp(fleet, prices, options).stats["objective"] == pytest.approx(1.0)


def test_through_the_api_and_against_a_reference_lp() -> None:
    rng = np.random.default_rng(7)
    fleet = with_sites(random_fleet(rng, 30, 16, step_minutes=60, mode="v2g"), 2)
    buy, sell = random_prices(rng, 16, 2)
    prices = PriceInputs(buy, sell)
    options = coupled_options(rng, fleet, 4, 0.05).with_(solver="decomposition", gap_tolerance=1e-5)
    assert "decomposition" in api.coupled_solvers()
    out = api.schedule(fleet, "coupled", prices, options)
    assert out.stats["solver"] == "decomposition"
    assert out.stats["certified_gap"] <= 1e-5
    ref = solve_coupled(fleet, prices, options, reference_lp=True)
    assert 0.0 - 1e-9 <= ref.stats["lp_gap"] <= ref.stats["certified_gap"] + 1e-9
    assert ref.stats["lp_seconds"] > 0
    # auto picks the LP for a fleet this small
    auto = api.schedule(fleet, "coupled", prices, options.with_(solver="auto"))
    assert str(auto.stats["solver"]).startswith("highs")
    assert auto.stats["objective"] == pytest.approx(out.stats["objective"], rel=1e-5)


def test_samples_warm_start_the_whole_fleet() -> None:
    # a fleet big enough for three levels (40 -> 120 -> 360 sessions of 900), each warm-starting the next
    rng = np.random.default_rng(3)
    fleet = random_fleet(rng, 900, 24, step_minutes=60, mode="v2g")
    buy, sell = random_prices(rng, 24, 4)
    prices = PriceInputs(buy, sell)
    top = float(fleet.charge_limit_kw().sum(axis=0).max())
    options = ScheduleOptions(wear_cost_per_kwh=0.05, fleet_import_limit_kw=0.3 * top, gap_tolerance=1e-3)
    out = solve_coupled(fleet, prices, options, base_size=40, level_factor=3)
    assert len(str(out.stats["levels"]).split(",")) >= 3
    lp = solve_lp(fleet, prices, options)
    opt = float(lp.stats["objective"])
    assert out.stats["certified_gap"] <= 1e-3
    assert out.stats["lower_bound"] <= opt + 1e-6 * abs(opt)
    assert opt <= out.stats["upper_bound"] + 1e-6 * abs(opt)
    assert (out.stats["upper_bound"] - opt) / abs(opt) <= out.stats["certified_gap"] + 1e-9
    check_feasible(fleet, out.charge_kw, out.discharge_kw)
    assert out.stats["limit_violation_kwh"] <= 1e-6 * top


def test_sites_solved_apart_then_together_when_the_fleet_limit_binds() -> None:
    rng = np.random.default_rng(11)
    fleet = with_sites(random_fleet(rng, 60, 12, step_minutes=60, mode="v2g"), 3)
    buy = np.array([1.0, 1.0, 0.2, 0.2, 0.2, 1.5, 1.5, 0.2, 0.2, 1.0, 1.8, 1.8])
    prices = PriceInputs(buy, buy.copy())
    top = float(fleet.charge_limit_kw().sum(axis=0).max())
    limits = {f"site{i}": 0.2 * top for i in range(3)}
    apart = solve_coupled(fleet, prices, ScheduleOptions(site_limit_kw=limits, gap_tolerance=1e-7))
    assert "joint" not in str(apart.stats["levels"])
    tight = ScheduleOptions(site_limit_kw=limits, fleet_export_limit_kw=0.01 * top, gap_tolerance=1e-7)
    together = solve_coupled(fleet, prices, tight)
    for options, out in ((ScheduleOptions(site_limit_kw=limits, gap_tolerance=1e-7), apart), (tight, together)):
        opt = float(solve_lp(fleet, prices, options).stats["objective"])
        assert abs(out.stats["upper_bound"] - opt) <= 1e-6 * max(1.0, abs(opt))
        assert out.stats["lower_bound"] <= opt + 1e-6 * max(1.0, abs(opt))
        check_feasible(fleet, out.charge_kw, out.discharge_kw)
    assert "joint" in str(together.stats["levels"])


def test_time_limit_still_returns_a_feasible_schedule_with_its_gap() -> None:
    rng = np.random.default_rng(5)
    fleet = random_fleet(rng, 200, 24, step_minutes=60, mode="v2g")
    buy, sell = random_prices(rng, 24, 1)
    top = float(fleet.charge_limit_kw().sum(axis=0).max())
    options = ScheduleOptions(fleet_import_limit_kw=0.2 * top, gap_tolerance=1e-9, time_limit_s=0.0)
    out = solve_coupled(fleet, PriceInputs(buy, sell), options)
    check_feasible(fleet, out.charge_kw, out.discharge_kw)
    assert np.isfinite(out.stats["certified_gap"])
    assert out.stats["lower_bound"] <= out.stats["upper_bound"] + 1e-9


def test_empty_fleet_and_daylight_saving_day() -> None:
    day = TimeGrid.local_days("2024-03-31", 1, 60, "Europe/Berlin")  # 23 hours
    assert day.n_steps == 23
    frame = pd.DataFrame(
        {
            "session_id": ["a", "b", "c"],
            "arrival": ["2024-03-31T00:30+01:00", "2024-03-31T01:00+01:00", "2024-03-31T12:00+02:00"],
            "departure": ["2024-03-31T09:00+02:00", "2024-03-31T05:00+02:00", "2024-03-31T23:00+02:00"],
            "energy_kwh": [20.0, 15.0, 30.0],
            "battery_kwh": [60.0, 60.0, 60.0],
            "initial_soc": [0.3, 0.5, 0.2],
            "max_charge_kw": [7.2, 11.0, 7.2],
            "max_discharge_kw": [7.2, 0.0, 7.2],
            "v2g": [True, False, True],
            "min_soc": [0.2, 0.0, 0.2],
        }
    )
    fleet = FleetOnGrid.from_sessions(sessions_from_frame(frame), day, "v2g")
    buy = np.where((np.arange(23) >= 7) & (np.arange(23) < 20), 1.0, 0.3)
    prices = PriceInputs(buy, buy * 0.9)
    options = ScheduleOptions(site_limit_kw=9.0, minimise_peak=0.1, gap_tolerance=1e-7, wear_cost_per_kwh=0.02)
    out = solve_coupled(fleet, prices, options)
    opt = float(solve_lp(fleet, prices, options).stats["objective"])
    assert out.stats["upper_bound"] == pytest.approx(opt, rel=1e-6)
    check_feasible(fleet, out.charge_kw, out.discharge_kw)
    empty = solve_coupled(subset_fleet(fleet, np.zeros(0, dtype=np.int64)), prices, options)
    assert empty.charge_kw.shape == (0, 23)
    assert empty.stats["objective"] == pytest.approx(0.0)
    assert empty.stats["certified_gap"] == 0.0


def test_window_sums_match_the_dense_availability() -> None:
    rng = np.random.default_rng(2)
    fleet = random_fleet(rng, 300, 20, step_minutes=30)
    index = rng.integers(0, 5, len(fleet))
    dense = np.zeros((5, 20))
    np.add.at(dense, index, fleet.availability() * fleet.max_charge_kw[:, None])
    np.testing.assert_allclose(decompose._window_sums(fleet, index, 5, fleet.max_charge_kw), dense, atol=1e-9)
