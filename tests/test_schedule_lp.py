"""The direct LP: one hand-worked case per coupled concern, and infeasibility reported as an answer."""

from __future__ import annotations

import numpy as np
import pytest

from test_schedule_exact import check_schedule, fleet_from_rows, random_fleet, random_prices
from vgi.errors import VgiError
from vgi.schedule.api import schedule
from vgi.schedule.lp import build_lp, solve_lp
from vgi.schedule.options import DrEvent, ScheduleOptions
from vgi.schedule.prices import PriceInputs

CAR = {"battery_kwh": 50, "initial_soc": 0.2, "max_charge_kw": 10, "charge_efficiency": 1,
       "discharge_efficiency": 1}


def _two_cars(mode: str = "v1g", **extra: float) -> object:
    rows = [{"arr": 0, "dep": 2, "energy_kwh": 10, **CAR, **extra} for _ in range(2)]
    return fleet_from_rows(rows, 2, mode=mode)


def test_site_limit_shifts_charging_to_dearer_steps() -> None:
    # two cars at one site, each needs 10 kWh within 2 hours at 10 kW; prices 1 then 2.
    # Unlimited: both charge in hour 0, cost 20.  Site limit 12 kW: 12 kWh in hour 0, 8 in hour 1: 12 + 16 = 28.
    fleet = _two_cars()
    prices = PriceInputs(np.array([1.0, 2.0]), np.zeros(2))
    free = solve_lp(fleet, prices)
    assert free.stats["objective"] == pytest.approx(20.0)
    out = schedule(fleet, "coupled", prices, ScheduleOptions(site_limit_kw=12.0, solver="lp"))
    assert out.stats["objective"] == pytest.approx(28.0)
    assert out.stats["cost"] == pytest.approx(28.0)
    np.testing.assert_allclose(out.aggregate_kw, [12.0, 8.0], atol=1e-9)
    assert out.details["binding"]["site:site"].tolist() == [True, False]
    assert out.details["binding_steps"].tolist() == [0]
    assert out.stats["n_binding_steps"] == 1
    assert out.stats["limit_violation_kwh"] == pytest.approx(0.0)
    # one more kW of limit in hour 0 saves 2 - 1 = 1 per kWh
    assert out.details["shadow_price"]["site:site"][0] == pytest.approx(-1.0)
    assert out.stats["peak_kw"] == pytest.approx(12.0)
    check_schedule(fleet, out.charge_kw, out.discharge_kw, np.asarray(out.unmet_kwh))


def test_site_limit_below_the_need_is_an_answer() -> None:
    # limit 5 kW over 2 hours delivers 10 of the 20 kWh wanted: 10 kWh unmet, both steps bind, no violation
    fleet = _two_cars()
    prices = PriceInputs(np.array([1.0, 2.0]), np.zeros(2))
    out = schedule(fleet, "coupled", prices, ScheduleOptions(site_limit_kw=5.0, solver="lp",
                                                             unmet_penalty_per_kwh=50.0))
    assert out.stats["status"] == "Optimal"
    assert out.stats["unmet_kwh"] == pytest.approx(10.0)
    assert out.stats["n_short_sessions"] >= 1
    short = out.short_sessions()
    assert short["unmet_kwh"].sum() == pytest.approx(10.0)
    assert out.details["binding_steps"].tolist() == [0, 1]
    assert out.stats["limit_violation_kwh"] == pytest.approx(0.0)
    assert out.stats["objective"] == pytest.approx(5 * 1 + 5 * 2 + 10 * 50.0)


def test_negative_site_limit_is_violated_and_reported() -> None:
    # an import limit of -1 kW asks charge-only cars to export: impossible; the violation is 1 kW per step
    fleet = _two_cars()
    prices = PriceInputs(np.array([1.0, 2.0]), np.zeros(2))
    out = schedule(fleet, "coupled", prices, ScheduleOptions(site_limit_kw={"site": -1.0}, solver="lp"))
    np.testing.assert_allclose(out.details["limit_violation_kw"], [1.0, 1.0], atol=1e-9)
    assert out.stats["limit_violation_kwh"] == pytest.approx(2.0)
    assert out.stats["unmet_kwh"] == pytest.approx(20.0)


def test_site_limit_per_site_per_step_and_unknown_site() -> None:
    rows = [{"arr": 0, "dep": 2, "energy_kwh": 10, "site_id": s, **CAR} for s in ("a", "b")]
    fleet = fleet_from_rows(rows, 2, mode="v1g")
    prices = PriceInputs(np.array([1.0, 2.0]), np.zeros(2))
    out = solve_lp(fleet, prices, ScheduleOptions(site_limit_kw={"a": np.array([4.0, 10.0])}))
    # site a: 4 kWh in hour 0, 6 in hour 1 -> 4 + 12; site b: 10 in hour 0 -> 10
    assert out.stats["objective"] == pytest.approx(26.0)
    with pytest.raises(VgiError, match="not in the sessions"):
        solve_lp(fleet, prices, ScheduleOptions(site_limit_kw={"zz": 1.0}))
    with pytest.raises(VgiError, match="values for 2 steps"):
        solve_lp(fleet, prices, ScheduleOptions(site_limit_kw={"a": np.ones(3)}))


def test_peak_weight_and_demand_charge() -> None:
    # two cars, 20 kWh in total over 2 hours, prices 1 and 1.1.  With weight w per kW of peak P (P >= 10):
    # cost P + 1.1 (20 - P) + w P = 22 + (w - 0.1) P: w = 1 -> P = 10, 22 + 9 = 31 (energy 21, peak term 10).
    fleet = _two_cars()
    prices = PriceInputs(np.array([1.0, 1.1]), np.zeros(2))
    for opts in (ScheduleOptions(minimise_peak=1.0), ScheduleOptions(demand_charge_per_kw=1.0),
                 ScheduleOptions(minimise_peak=0.5, demand_charge_per_kw=0.5)):
        out = solve_lp(fleet, prices, opts)
        assert out.stats["objective"] == pytest.approx(31.0)
        assert out.stats["peak_variable_kw"] == pytest.approx(10.0)
        np.testing.assert_allclose(out.aggregate_kw, [10.0, 10.0], atol=1e-9)
    # a weight below the price spread keeps everything in the cheap hour
    out = solve_lp(fleet, prices, ScheduleOptions(minimise_peak=0.05))
    assert out.stats["objective"] == pytest.approx(20.0 + 0.05 * 20)


def test_target_tracking_with_asymmetric_penalties() -> None:
    # one car (10 kWh at 10 kWh, battery 50), target 8 kW in both hours, price 1, under 5 / over 3 per kWh.
    # Meeting only the need (8 + 2) leaves 6 kWh under the target: 10 + 30 = 40; charging 16 kWh costs 16.
    fleet = fleet_from_rows([{"arr": 0, "dep": 2, "energy_kwh": 10, **CAR}], 2, mode="v1g")
    prices = PriceInputs(np.ones(2), np.zeros(2))
    opts = ScheduleOptions(target_kw=np.array([8.0, 8.0]), under_penalty_per_kwh=5.0, over_penalty_per_kwh=3.0)
    out = solve_lp(fleet, prices, opts)
    assert out.stats["objective"] == pytest.approx(16.0)
    np.testing.assert_allclose(out.aggregate_kw, [8.0, 8.0], atol=1e-9)
    # a target below the need is over-delivered (the need's penalty, 11 per kWh, is above 1 + 3):
    # 10 kWh against 2 + 2 -> 6 kWh over at 3: 10 + 18
    out = solve_lp(fleet, prices, opts.with_(target_kw=np.array([2.0, 2.0])))
    assert out.stats["objective"] == pytest.approx(28.0)
    np.testing.assert_allclose(out.details["target_over_kw"].sum(), 6.0, atol=1e-9)


def test_demand_response_reduction_against_a_baseline() -> None:
    # one car, 4 hours at price 1, needs 10 kWh at 10 kW; baseline (uncontrolled) 10, 0, 0, 0.
    # Event in hour 0 asks for 6 kW less: the car charges 4 kW then 6 later; cost 10, no shortfall.
    fleet = fleet_from_rows([{"arr": 0, "dep": 4, "energy_kwh": 10, **CAR}], 4, mode="v1g")
    prices = PriceInputs(np.ones(4), np.zeros(4))
    base = np.array([10.0, 0, 0, 0])
    out = solve_lp(fleet, prices, ScheduleOptions(dr_event=DrEvent(0, 1, 6.0, base, 100.0)))
    assert out.stats["objective"] == pytest.approx(10.0)
    assert out.aggregate_kw[0] <= 4.0 + 1e-9
    assert out.stats["dr_shortfall_kwh"] == pytest.approx(0.0)
    # asking for 12 kW less (the car cannot export) leaves 2 kWh short at 100 per kWh; given as a tuple
    out = solve_lp(fleet, prices, ScheduleOptions(dr_event=(0, 1, 12.0, base, 100.0)))
    assert out.stats["objective"] == pytest.approx(10.0 + 200.0)
    assert out.stats["dr_shortfall_kwh"] == pytest.approx(2.0)
    with pytest.raises(VgiError, match="event steps"):
        solve_lp(fleet, prices, ScheduleOptions(dr_event=(3, 9, 1.0, base, 1.0)))


def test_fleet_export_and_import_limits() -> None:
    # a V2G car at 30 of 50 kWh, sells at 5 in hour 1, buys at 1 in hours 0 and 2, 10 kW, must end at 30 kWh.
    # Export limit 3 kW: it sells 3 kWh in hour 1 and buys them back: 3 * 1 - 3 * 5 = -12 (hour 0 or 2).
    fleet = fleet_from_rows([{"arr": 0, "dep": 3, "energy_kwh": 0, "battery_kwh": 50, "initial_soc": 0.6,
                              "max_charge_kw": 10, "max_discharge_kw": 10, "v2g": True,
                              "charge_efficiency": 1, "discharge_efficiency": 1}], 3)
    buy = np.array([1.0, 5.0, 1.0])
    prices = PriceInputs(buy, buy)
    out = solve_lp(fleet, prices, ScheduleOptions(fleet_export_limit_kw=3.0))
    assert out.stats["objective"] == pytest.approx(-12.0)
    assert out.details["binding"]["fleet_export"][1]
    # import limit 2 kW (array form): it can only buy back 2 + 2 = 4 kWh, so it sells 4: 4 - 20 = -16
    out = solve_lp(fleet, prices, ScheduleOptions(fleet_import_limit_kw=np.full(3, 2.0)))
    assert out.stats["objective"] == pytest.approx(-16.0)


def test_lp_without_coupling_equals_exact_on_random_fleets() -> None:
    from vgi.schedule.exact import price_response

    for seed in range(5):
        rng = np.random.default_rng(seed)
        fleet = random_fleet(rng, 12, 10)
        buy, sell = random_prices(rng, 10, seed)
        lp = solve_lp(fleet, PriceInputs(buy, sell), ScheduleOptions(wear_cost_per_kwh=0.1))
        ex = price_response(fleet, buy, sell, wear_cost_per_kwh=0.1)
        assert lp.stats["objective"] == pytest.approx(ex.objective, rel=1e-9, abs=1e-9)


def test_the_matrix_has_a_few_entries_per_variable() -> None:
    rng = np.random.default_rng(1)
    fleet = random_fleet(rng, 50, 24)
    model = build_lp(fleet, PriceInputs(np.ones(24), np.ones(24)), ScheduleOptions(site_limit_kw=10.0))
    # balance (3-4 per entry) + need + time-sharing (2 per entry that may charge and discharge) + one site row
    # per step
    assert model.matrix.nnz <= 6 * model.matrix.shape[1]
    limits = fleet.charge_limit_kw()[model.entry_session, model.entry_step]
    n_share = int(((model.d_col >= 0) & (limits > 0)).sum())
    assert n_share > 0
    assert model.matrix.shape[0] == len(model.c_col) + int((model.u_col >= 0).sum()) + n_share + 24


def test_charge_and_discharge_in_one_step_time_share() -> None:
    # a demand-response-like target asks a full V2G car (20 kWh, must leave full) for 10 kW of load in one
    # hour; prices 0, under-delivery 5 per kWh; 10 kW both ways, 90 % each way.  Raising load without gaining
    # energy means cycling: d = 0.81 c (0.9 c = d / 0.9).  Within the hour the charger can only time-share,
    # c/10 + d/10 <= 1: c = 10/1.81 = 1000/181 = 5.525 kW, d = 810/181 = 4.475 kW, net 190/181 = 1.050 kW
    # (not 10 - 8.1 = 1.9 kW with both at full power at once).  Objective 5 * (10 - 190/181).
    fleet = fleet_from_rows([{"arr": 0, "dep": 1, "energy_kwh": 0, "battery_kwh": 20, "initial_soc": 1.0,
                              "max_charge_kw": 10, "max_discharge_kw": 10, "v2g": True,
                              "charge_efficiency": 0.9, "discharge_efficiency": 0.9}], 1)
    opts = ScheduleOptions(target_kw=np.array([10.0]), under_penalty_per_kwh=5.0, over_penalty_per_kwh=5.0)
    out = solve_lp(fleet, PriceInputs(np.zeros(1), np.zeros(1)), opts)
    assert out.stats["objective"] == pytest.approx(5 * (10 - 190 / 181), rel=1e-9)
    assert out.discharge_kw is not None
    assert out.charge_kw[0, 0] == pytest.approx(1000 / 181, rel=1e-9)
    assert out.discharge_kw[0, 0] == pytest.approx(810 / 181, rel=1e-9)
    check_schedule(fleet, out.charge_kw, out.discharge_kw, np.asarray(out.unmet_kwh))


def test_empty_fleet_window_and_methods() -> None:
    fleet = fleet_from_rows([{"arr": 5, "dep": 6, "energy_kwh": 3, **CAR}], 2, mode="v1g")  # after the grid
    out = solve_lp(fleet, PriceInputs(np.ones(2), np.zeros(2)), ScheduleOptions(unmet_penalty_per_kwh=7.0))
    assert out.stats["status"] == "Optimal"
    assert out.stats["objective"] == pytest.approx(21.0)
    fleet = _two_cars()
    for method in ("simplex", "ipm"):
        out = solve_lp(fleet, PriceInputs(np.array([1.0, 2.0]), np.zeros(2)), method=method)
        assert out.stats["objective"] == pytest.approx(20.0)


def test_a_limit_that_is_infinite_in_some_steps_binds_only_where_finite() -> None:
    # a fleet import limit of 12 kW in step 0 and none (inf) in step 1: step 0 binds, step 1 does not, and the
    # binding test does not compute inf - inf
    import warnings

    fleet = _two_cars()
    prices = PriceInputs(np.array([1.0, 2.0]), np.zeros(2))
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        out = schedule(fleet, "coupled", prices,
                       ScheduleOptions(fleet_import_limit_kw=np.array([12.0, np.inf]), solver="lp"))
    np.testing.assert_allclose(out.aggregate_kw, [12.0, 8.0], atol=1e-9)
    assert out.details["binding"]["fleet_import"].tolist() == [True, False]
