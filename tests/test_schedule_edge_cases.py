"""Edge cases every strategy must get right: empty and one-step windows, negative prices, export above import,
no V2G consent, a minimum SoC above the initial SoC, daylight-saving days, needs above the battery."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from test_schedule_exact import check_schedule, fleet_from_rows, random_fleet, random_prices
from vgi.io.tariff_library import get_tariff
from vgi.model.generator import generate_sessions
from vgi.model.timegrid import TimeGrid
from vgi.schedule import exact
from vgi.schedule.api import schedule
from vgi.schedule.lp import solve_lp
from vgi.schedule.options import ScheduleOptions
from vgi.schedule.prices import PriceInputs, price_inputs
from vgi.schedule.problem import FleetOnGrid
from vgi.schedule.uncontrolled import uncontrolled_charge_kw

UNIT = {"charge_efficiency": 1, "discharge_efficiency": 1}


def _all_agree(fleet: FleetOnGrid, buy: np.ndarray, sell: np.ndarray, wear: float = 0.0) -> exact.ExactResult:
    res = exact.price_response(fleet, buy, sell, wear_cost_per_kwh=wear)
    lp = solve_lp(fleet, PriceInputs(buy, sell), ScheduleOptions(wear_cost_per_kwh=wear))
    assert res.objective == pytest.approx(float(lp.stats["objective"]), rel=1e-9, abs=1e-9)
    alt = exact.price_response(fleet, buy, sell, wear_cost_per_kwh=wear, backend="numpy")
    assert alt.objective == pytest.approx(res.objective, rel=1e-12, abs=1e-12)
    check_schedule(fleet, res.charge_kw, res.discharge_kw, res.unmet_kwh)
    check_schedule(fleet, lp.charge_kw, lp.discharge_kw, np.asarray(lp.unmet_kwh))
    return res


def test_zero_length_window_keeps_the_session_and_its_unmet_need() -> None:
    # one session before the grid, one after it: no step, all of the need unmet, never dropped
    rows = [
        {"arr": -5, "dep": -1, "energy_kwh": 4, "battery_kwh": 40, "initial_soc": 0.5, **UNIT},
        {"arr": 3, "dep": 8, "energy_kwh": 6, "battery_kwh": 40, "initial_soc": 0.5, **UNIT},
    ]
    fleet = fleet_from_rows(rows, 3, mode="v2g")
    assert (fleet.start == fleet.stop).all()
    res = _all_agree(fleet, np.ones(3), np.ones(3))
    np.testing.assert_allclose(res.unmet_kwh, [4.0, 6.0])
    assert res.objective == pytest.approx(10.0 * res.unmet_penalty_per_kwh)
    charge, unmet = uncontrolled_charge_kw(fleet)
    assert charge.sum() == 0 and unmet.tolist() == [4.0, 6.0]
    out = schedule(fleet, "uncontrolled", PriceInputs(np.ones(3), np.ones(3)))
    assert out.short_sessions()["session_id"].tolist() == ["s1", "s0"]


def test_one_step_window_with_a_partial_step() -> None:
    # 15-min steps: plugged in from 10 to 15 min into step 2 (a third of it), 12 kW: at most 4 kW average,
    # 1 kWh; it needs 3 kWh: 2 kWh unmet.
    rows = [{"arr": 2 + 2 / 3, "dep": 3, "energy_kwh": 3, "battery_kwh": 40, "initial_soc": 0.5,
             "max_charge_kw": 12, "max_discharge_kw": 12, "v2g": True, **UNIT}]
    fleet = fleet_from_rows(rows, 4, step_minutes=15)
    assert fleet.start[0] == 2 and fleet.stop[0] == 3
    assert fleet.first_fraction[0] == pytest.approx(1 / 3)
    res = _all_agree(fleet, np.array([1.0, 2.0, 3.0, 4.0]), np.zeros(4))
    assert res.charge_kw[0, 2] == pytest.approx(4.0)
    assert res.unmet_kwh[0] == pytest.approx(2.0)
    charge, unmet = uncontrolled_charge_kw(fleet)
    assert charge[0].tolist() == pytest.approx([0, 0, 4.0, 0])
    assert unmet[0] == pytest.approx(2.0)


def test_negative_prices_charge_beyond_the_need_up_to_the_battery() -> None:
    # V1G, battery 20 at 10 kWh, needs 2 kWh; 10 kW; price -1 in hour 0 then 1: fill the battery in hour 0
    rows = [{"arr": 0, "dep": 2, "energy_kwh": 2, "battery_kwh": 20, "initial_soc": 0.5, "max_charge_kw": 10,
             **UNIT}]
    fleet = fleet_from_rows(rows, 2, mode="v1g")
    res = _all_agree(fleet, np.array([-1.0, 1.0]), np.zeros(2))
    np.testing.assert_allclose(res.charge_kw, [[10.0, 0.0]])
    assert res.objective == pytest.approx(-10.0)


def test_negative_prices_burn_energy_through_losses_when_full() -> None:
    # V2G, battery full (20 kWh) and it must leave full; one hour at -1 to buy and to sell; 10 kW, 90 % each way.
    # A battery kWh charged earns a = -1/0.9 = -10/9, one discharged costs b = -0.9 (b > a): cycling energy
    # through the losses pays.  Within the hour the car time-shares: alpha of it charging at 10 kW (X = 9 kWh per
    # full hour), the rest discharging at 10 kW (Y = 100/9 kWh).  Net battery change 0 (full, must leave full):
    # alpha = Y / (X + Y) = 100/181, c = 1000/181 = 5.525 kW, d = 10 * 81/181 = 810/181 = 4.475 kW:
    # -1000/181 + 810/181 = -190/181 = -1.0497 (= c0 = X Y (a - b) / (X + Y) = 100 * (-19/90) / (181/9)).
    # Both at full at once (10 kW in, 8.1 kW out, -1.9) would need c/Cmax + d/Dmax = 1.81 > 1.
    rows = [{"arr": 0, "dep": 1, "energy_kwh": 0, "battery_kwh": 20, "initial_soc": 1.0, "max_charge_kw": 10,
             "max_discharge_kw": 10, "v2g": True, "charge_efficiency": 0.9, "discharge_efficiency": 0.9}]
    fleet = fleet_from_rows(rows, 1)
    res = _all_agree(fleet, np.array([-1.0]), np.array([-1.0]))
    assert res.objective == pytest.approx(-190 / 181, rel=1e-12)
    assert res.charge_kw[0, 0] == pytest.approx(1000 / 181, rel=1e-12)
    assert res.discharge_kw is not None and res.discharge_kw[0, 0] == pytest.approx(810 / 181, rel=1e-12)


def test_export_price_above_import_price_time_shares_the_step() -> None:
    # buy 1, sell 2, 10 kW both ways, no losses, it must leave as it came (net change >= 0): half of the hour
    # charging at 10 kW, half discharging at 10 kW, c = d = 5 kW: 5 - 10 = -5 (c0 = X Y (a - b) / (X + Y) =
    # 10 * 10 * (1 - 2) / 20).  Not c = d = 10 kW at once (-10): c/Cmax + d/Dmax would be 2.
    rows = [{"arr": 0, "dep": 1, "energy_kwh": 0, "battery_kwh": 40, "initial_soc": 0.5, "max_charge_kw": 10,
             "max_discharge_kw": 10, "v2g": True, **UNIT}]
    fleet = fleet_from_rows(rows, 1)
    res = _all_agree(fleet, np.array([1.0]), np.array([2.0]))
    assert res.objective == pytest.approx(-5.0)
    assert res.charge_kw[0, 0] == pytest.approx(5.0)
    assert res.discharge_kw is not None and res.discharge_kw[0, 0] == pytest.approx(5.0)
    # unequal limits: 10 kW in, 5 kW out, sell 2: X = 10, Y = 5, c0 = 50 * (1 - 2) / 15 = -10/3 at alpha = 1/3
    # (c = 10/3 kW, d = 10/3 kW: 10/3 - 20/3)
    rows[0]["max_discharge_kw"] = 5
    res = _all_agree(fleet_from_rows(rows, 1), np.array([1.0]), np.array([2.0]))
    assert res.objective == pytest.approx(-10 / 3)
    assert res.charge_kw[0, 0] == pytest.approx(10 / 3) and res.discharge_kw is not None
    assert res.discharge_kw[0, 0] == pytest.approx(10 / 3)
    # random instances with export often above import still agree with the LP
    for seed in range(3):
        rng = np.random.default_rng(seed)
        fleet = random_fleet(rng, 10, 12)
        buy = rng.normal(1, 0.5, 12)
        _all_agree(fleet, buy, buy + 0.5, wear=0.1)


def test_v2g_without_consent_never_discharges() -> None:
    rows = [
        {"arr": 0, "dep": 3, "energy_kwh": 1, "battery_kwh": 40, "initial_soc": 0.5, "max_charge_kw": 10,
         "max_discharge_kw": 10, "v2g": consent, **UNIT}
        for consent in (False, True)
    ]
    fleet = fleet_from_rows(rows, 3)
    assert fleet.max_discharge_kw.tolist() == [0.0, 10.0]
    buy = np.array([1.0, 5.0, 1.0])
    res = _all_agree(fleet, buy, buy)
    assert res.discharge_kw is not None
    assert res.discharge_kw[0].sum() == 0.0 and res.discharge_kw[1].sum() > 0
    v1g = fleet_from_rows(rows, 3, mode="v1g")
    res_v1g = exact.price_response(v1g, buy, buy)
    np.testing.assert_allclose(res.charge_kw[0], res_v1g.charge_kw[0])


def test_minimum_soc_above_initial_soc_keeps_the_initial_energy() -> None:
    # battery 10 kWh at 30 %, the driver's minimum is 50 %: the floor is the 3 kWh it arrived with.
    # Buy at 1, sell at 5, 10 kW, no losses, leave with 3 kWh: charge 7 (full), sell 7 -> 7 - 35 = -28.
    rows = [{"arr": 0, "dep": 2, "energy_kwh": 0, "battery_kwh": 10, "initial_soc": 0.3, "min_soc": 0.5,
             "max_charge_kw": 10, "max_discharge_kw": 10, "v2g": True, **UNIT}]
    fleet = fleet_from_rows(rows, 2)
    assert fleet.e_floor_kwh[0] == pytest.approx(3.0)
    buy = np.array([1.0, 5.0])
    res = _all_agree(fleet, buy, buy)
    assert res.objective == pytest.approx(-28.0)
    # selling first is not allowed: it starts at its floor
    res = _all_agree(fleet, buy[::-1].copy(), buy[::-1].copy())
    assert res.discharge_kw is not None and res.discharge_kw[0, 0] == 0.0


def test_need_above_the_battery_is_unmet_by_the_difference() -> None:
    rows = [{"arr": 0, "dep": 10, "energy_kwh": 50, "battery_kwh": 40, "initial_soc": 0.5, "max_charge_kw": 10,
             **UNIT}]
    fleet = fleet_from_rows(rows, 10, mode="v1g")
    res = _all_agree(fleet, np.ones(10), np.zeros(10))
    assert res.unmet_kwh[0] == pytest.approx(30.0)  # 20 fits, 30 of the 50 do not
    charge, unmet = uncontrolled_charge_kw(fleet)
    assert unmet[0] == pytest.approx(30.0) and charge.sum() == pytest.approx(20.0)


@pytest.mark.parametrize(("day", "steps"), [("2024-03-31", 92), ("2024-10-27", 100)])
def test_daylight_saving_days(day: str, steps: int) -> None:
    grid = TimeGrid.local_days(day, 1, 15, "Europe/London")
    assert grid.n_steps == steps
    sessions = generate_sessions(40, "home", seed=3, start_day=pd.Timestamp(day).date().isoformat(), n_days=1,
                                 timezone="Europe/London", v2g_share=0.5)
    prices = price_inputs(get_tariff("uk-octopus-go"), grid)
    assert len(prices) == steps
    for mode in ("v1g", "v2g"):
        fleet = FleetOnGrid.from_sessions(sessions, grid, mode)  # type: ignore[arg-type]
        res = _all_agree(fleet, prices.buy, prices.buy * 0.5, wear=0.02)
        out = schedule(fleet, "uncontrolled", prices)
        assert out.charge_kw.shape == (40, steps)
        # uncontrolled meets every need that can be met
        np.testing.assert_allclose(np.asarray(out.unmet_kwh), fleet.shortfall_kwh, atol=1e-9)
        assert res.unmet_kwh.sum() == pytest.approx(fleet.shortfall_kwh.sum(), abs=1e-6)


def test_infeasible_site_limit_is_reported_by_every_strategy() -> None:
    rng = np.random.default_rng(5)
    fleet = random_fleet(rng, 15, 12, mode="v1g")
    buy, sell = random_prices(rng, 12, 1)
    opts = ScheduleOptions(site_limit_kw=3.0)
    coupled = schedule(fleet, "coupled", PriceInputs(buy, sell), opts.with_(solver="lp"))
    assert coupled.stats["status"] == "Optimal"
    assert coupled.stats["limit_violation_kwh"] == pytest.approx(0.0, abs=1e-7)
    assert coupled.stats["n_binding_steps"] > 0
    assert (coupled.aggregate_kw <= 3.0 + 1e-7).all()
    assert coupled.stats["unmet_kwh"] > fleet.shortfall_kwh.sum()
    assert len(coupled.short_sessions()) == coupled.stats["n_short_sessions"]
    for name in ("uncontrolled", "price"):
        out = schedule(fleet, name, PriceInputs(buy, sell), opts)
        assert out.stats["ignored_options"] == "site_limit_kw"
        excess = np.maximum(out.aggregate_kw - 3.0, 0.0)
        np.testing.assert_allclose(out.details["limit_violation_kw"], excess)


def test_prices_from_a_dynamic_tariff_and_bad_price_inputs() -> None:
    from vgi.errors import VgiError

    grid = TimeGrid.local_days("2024-06-03", 1, 15, "Europe/Berlin")
    hours = pd.date_range("2024-06-03", periods=24, freq="1h", tz="Europe/Berlin")
    spot = pd.Series(np.arange(24, dtype=float) * 10.0, index=hours)  # EUR/MWh, hourly
    prices = price_inputs(get_tariff("de-dynamic-spot-2024"), grid, spot=spot)
    assert len(prices) == 96
    # an hourly series is a step function on the quarter hours: four equal prices per hour, rising each hour
    assert (prices.buy[0:4] == prices.buy[0]).all()
    assert (np.diff(prices.buy[::4]) > 0).all()
    with pytest.raises(VgiError, match="price series"):
        price_inputs(get_tariff("de-dynamic-spot-2024"), grid, spot=spot.iloc[2:])
    with pytest.raises(VgiError, match="before the grid step"):
        price_inputs(get_tariff("de-dynamic-spot-2024"), grid, spot=spot.iloc[:12])
    with pytest.raises(VgiError, match="one of each"):
        PriceInputs(np.ones(3), np.ones(4))
    with pytest.raises(VgiError, match="not a finite"):
        PriceInputs(np.array([1.0, np.nan]), np.zeros(2))
    fleet = FleetOnGrid.from_sessions(
        generate_sessions(3, "home", seed=1, start_day="2024-06-03", timezone="Europe/Berlin"), grid, "v1g"
    )
    with pytest.raises(VgiError, match="steps"):
        schedule(fleet, "price", PriceInputs.flat(95, 1.0))
    with pytest.raises(VgiError, match="unknown strategy"):
        schedule(fleet, "cheapest", prices)
