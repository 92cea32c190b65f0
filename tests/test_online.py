"""Rolling horizon: never better than the offline optimum, as good as it when drivers declare truthfully and each
car plans alone, feasible for every car whatever the forecast."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from test_schedule_coupled import check_feasible
from test_schedule_exact import fleet_from_rows, random_fleet, random_prices
from vgi.errors import VgiError
from vgi.model.timegrid import TimeGrid
from vgi.schedule import api
from vgi.schedule.online import ArrivalForecast, forecast_departures, solve_online
from vgi.schedule.options import ScheduleOptions
from vgi.schedule.prices import PriceInputs

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
# found by random runs: the commit capped charge and discharge separately and broke time-sharing (issue 8.3)
@example(seed=1678909, n=2, n_steps=6, forecast="noisy", replan_every=1, mode="v2g")
@example(seed=180, n=4, n_steps=8, forecast="noisy", replan_every=1, mode="v2g")
@given(
    seed=st.integers(0, 2**31 - 1),
    n=st.integers(1, 8),
    n_steps=st.integers(1, 12),
    forecast=st.sampled_from(["declared", "noisy", "hourly_mean"]),
    replan_every=st.integers(1, 4),
    mode=st.sampled_from(["v1g", "v2g"]),
)
def test_regret_is_never_negative_and_every_car_keeps_its_limits(
    seed: int, n: int, n_steps: int, forecast: str, replan_every: int, mode: str
) -> None:
    rng = np.random.default_rng(seed)
    fleet = random_fleet(rng, n, n_steps, step_minutes=int(rng.choice([15, 30, 60])), mode=mode)
    buy, sell = random_prices(rng, n_steps, int(rng.integers(0, 6)))
    out = solve_online(
        fleet,
        PriceInputs(buy, sell),
        ScheduleOptions(wear_cost_per_kwh=0.05),
        inner="price",
        forecast=forecast,  # type: ignore[arg-type]
        replan_every=replan_every,
        seed=seed,
    )
    scale = max(1.0, abs(float(out.stats["offline_objective"])))
    assert out.stats["regret"] >= -1e-9 * scale
    check_feasible(fleet, out.charge_kw, out.discharge_kw)
    if forecast == "declared" and replan_every == 1:
        # each car alone, told the truth: the plan made at arrival is the offline optimum
        assert out.stats["regret"] <= 1e-7 * scale


def test_truthful_declarations_meet_every_feasible_need() -> None:
    rng = np.random.default_rng(4)
    fleet = random_fleet(rng, 40, 24, step_minutes=60, mode="v2g")
    buy, sell = random_prices(rng, 24, 3)
    out = solve_online(fleet, PriceInputs(buy, sell), ScheduleOptions(wear_cost_per_kwh=0.02), inner="price")
    # what is left unmet is exactly what no schedule could deliver
    np.testing.assert_allclose(out.unmet_kwh, fleet.shortfall_kwh, atol=1e-6)
    assert out.stats["regret"] == pytest.approx(0.0, abs=1e-7 * abs(out.stats["offline_objective"]))
    assert out.stats["n_replans"] >= 1


def test_hand_worked_late_arrival_cannot_use_the_early_cheap_hour() -> None:
    # site limit 10 kW.  Car A (10 kW, 10 kWh) is there for hours 0-2, car B (10 kW, 10 kWh) arrives at hour 1.
    # Prices 1, 1, 3.  Offline: A charges in hour 0, B in hour 1: cost 20.  Online (A does not know B is coming):
    # A's plan is indifferent between hours 0 and 1 and the tie goes to hour 0, so online also costs 20.  Make
    # hour 1 a little cheaper (0.9) and A waits for it: B then finds hour 1 taken and pays 3 in hour 2:
    # online 9 + 30 = 39, offline A@0 (10) + B@1 (9) = 19: regret 20.
    car = {
        "battery_kwh": 50,
        "initial_soc": 0.2,
        "max_charge_kw": 10,
        "charge_efficiency": 1,
        "discharge_efficiency": 1,
        "energy_kwh": 10,
    }
    fleet = fleet_from_rows([{"arr": 0, "dep": 3, **car}, {"arr": 1, "dep": 3, **car}], 3, mode="v1g")
    prices = PriceInputs(np.array([1.0, 0.9, 3.0]), np.zeros(3))
    options = ScheduleOptions(site_limit_kw=10.0)
    out = solve_online(fleet, prices, options, inner="coupled")
    assert out.stats["offline_objective"] == pytest.approx(19.0)
    assert out.stats["objective"] == pytest.approx(39.0)
    assert out.stats["regret"] == pytest.approx(20.0)
    assert out.stats["limit_violation_kwh"] == pytest.approx(0.0, abs=1e-9)
    np.testing.assert_allclose(out.aggregate_kw, [0.0, 10.0, 10.0], atol=1e-7)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**31 - 1), n=st.integers(1, 6), n_steps=st.integers(2, 8), peak=st.sampled_from([0.0, 0.5]))
def test_coupled_online_keeps_the_site_limit_and_regret_is_not_negative(
    seed: int, n: int, n_steps: int, peak: float
) -> None:
    rng = np.random.default_rng(seed)
    fleet = random_fleet(rng, n, n_steps, step_minutes=60, mode="v2g")
    buy, sell = random_prices(rng, n_steps, 1)
    top = max(float(fleet.charge_limit_kw().sum(axis=0).max(initial=0.0)), 1.0)
    options = ScheduleOptions(site_limit_kw=0.4 * top, minimise_peak=peak, wear_cost_per_kwh=0.05)
    out = solve_online(fleet, PriceInputs(buy, sell), options, inner="coupled")
    scale = max(1.0, abs(float(out.stats["offline_objective"])))
    assert out.stats["regret"] >= -1e-7 * scale
    assert out.stats["limit_violation_kwh"] <= 1e-7 * top
    check_feasible(fleet, out.charge_kw, out.discharge_kw)


def test_forecasts_and_the_strategy_registry() -> None:
    rng = np.random.default_rng(9)
    fleet = random_fleet(rng, 50, 24, step_minutes=60, mode="v2g")
    buy, sell = random_prices(rng, 24, 2)
    prices = PriceInputs(buy, sell)
    dep, need = forecast_departures(fleet, "declared")
    has = fleet.stop > fleet.start
    assert (np.ceil(dep[has] - 1e-9) == fleet.stop[has]).all()
    np.testing.assert_allclose(need, np.maximum(fleet.e_need_kwh, fleet.e_init_kwh))
    noisy = forecast_departures(fleet, "noisy", seed=1)
    assert np.array_equal(noisy[0], forecast_departures(fleet, "noisy", seed=1)[0])
    assert not np.allclose(noisy[0], dep)
    hourly, _ = forecast_departures(fleet, "hourly_mean", history=fleet)
    assert (hourly <= fleet.n_steps).all()
    with pytest.raises(VgiError):
        forecast_departures(fleet, "crystal_ball")  # type: ignore[arg-type]
    assert "online" in api.strategies()
    out = api.schedule(fleet, "online", prices, ScheduleOptions())
    assert out.strategy == "online"
    assert out.stats["regret"] >= -1e-9 * max(1.0, abs(out.stats["offline_objective"]))
    worse = solve_online(fleet, prices, ScheduleOptions(), forecast="noisy", energy_noise=0.5, seed=3)
    assert worse.stats["regret"] >= out.stats["regret"] - 1e-9 * abs(out.stats["offline_objective"])
    with pytest.raises(VgiError):
        solve_online(fleet, prices, ScheduleOptions(), replan_every=0)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@example(seed=1678909, n=2, n_steps=6, forecast="noisy", replan_every=1, mode="v2g", inner="price", kind=0)
@example(seed=180, n=4, n_steps=8, forecast="noisy", replan_every=1, mode="v2g", inner="price", kind=0)
@given(
    seed=st.integers(0, 2**31 - 1),
    n=st.integers(1, 8),
    n_steps=st.integers(1, 10),
    forecast=st.sampled_from(["declared", "noisy", "hourly_mean"]),
    replan_every=st.integers(1, 3),
    mode=st.sampled_from(["v1g", "v2g"]),
    inner=st.sampled_from(["price", "price", "coupled"]),
    kind=st.integers(0, 7),
)
def test_committed_online_schedule_never_breaks_a_bound_of_a_car(
    seed: int, n: int, n_steps: int, forecast: str, replan_every: int, mode: str, inner: str, kind: int
) -> None:
    """Power, window share, time-sharing (c / Cmax + d / Dmax <= 1) and battery bounds, whatever the forecast:
    a forecast departure later than the true one shrinks the last step, which the commit must respect."""
    rng = np.random.default_rng(seed)
    fleet = random_fleet(rng, n, n_steps, step_minutes=int(rng.choice([15, 30, 60])), mode=mode)
    buy, sell = random_prices(rng, n_steps, kind)
    top = max(float(fleet.charge_limit_kw().sum(axis=0).max(initial=0.0)), 1.0)
    options = ScheduleOptions(wear_cost_per_kwh=0.05, site_limit_kw=0.5 * top if inner == "coupled" else None)
    out = solve_online(
        fleet,
        PriceInputs(buy, sell),
        options,
        inner=inner,  # type: ignore[arg-type]
        forecast=forecast,  # type: ignore[arg-type]
        replan_every=replan_every,
        seed=seed,
        departure_noise_hours=2.0,
        compute_regret=False,
    )
    check_feasible(fleet, out.charge_kw, out.discharge_kw, tol=1e-9)


def test_hand_worked_forecast_of_arrivals_leaves_the_cheap_hour() -> None:
    # the case above with hour 1 at 0.9: told by its history that a car (10 kW, 10 kWh) arrives at hour 1 for
    # two hours, the planner keeps hour 1 for it and charges A in hour 0: online = offline = 10 + 9 = 19
    car = {"battery_kwh": 50, "initial_soc": 0.2, "max_charge_kw": 10, "charge_efficiency": 1,
           "discharge_efficiency": 1, "energy_kwh": 10}
    fleet = fleet_from_rows([{"arr": 0, "dep": 3, **car}, {"arr": 1, "dep": 3, **car}], 3, mode="v1g")
    prices = PriceInputs(np.array([1.0, 0.9, 3.0]), np.zeros(3))
    options = ScheduleOptions(site_limit_kw=10.0)
    blind = solve_online(fleet, prices, options, inner="coupled")
    told = solve_online(fleet, prices, options, inner="coupled", arrival_history=fleet)
    assert blind.stats["objective"] == pytest.approx(39.0)
    assert told.stats["objective"] == pytest.approx(19.0)
    assert told.stats["regret"] == pytest.approx(0.0, abs=1e-9)
    np.testing.assert_allclose(told.charge_kw, [[10.0, 0.0, 0.0], [0.0, 10.0, 0.0]], atol=1e-7)


def test_arrival_forecast_counts_by_day_type_and_hour() -> None:
    # two days from a Monday (T0): a car at 08:00 on each, staying 4 h with 10 and 20 kWh (7 kW, 0.9); one at
    # 13:30 on the second day for 2 h
    car = {"battery_kwh": 60, "initial_soc": 0.0, "max_charge_kw": 7, "charge_efficiency": 0.9,
           "discharge_efficiency": 1}
    history = fleet_from_rows(
        [{"arr": 8, "dep": 12, "energy_kwh": 10, **car}, {"arr": 32, "dep": 36, "energy_kwh": 20, **car},
         {"arr": 37.5, "dep": 39.5, "energy_kwh": 3, **car}],
        48,
        mode="v1g",
    )
    assert history.grid.local_index[0].day_of_week == 0  # a weekday, so is the next
    model = ArrivalForecast.from_history(history)
    assert model.sites == ("site",)
    assert model.per_day[0, 0, 8] == pytest.approx(1.0)  # two arrivals over two weekdays
    assert model.per_day[0, 0, 13] == pytest.approx(0.5)
    assert model.dwell_hours[0, 0, 8] == pytest.approx(4.0)
    assert model.energy_kwh[0, 0, 8] == pytest.approx(15.0)
    assert model.energy_kwh[0, 0, 3] == pytest.approx(11.0)  # an hour without arrivals: the site's mean
    # seen from 06:00 of a 24-step day with 5 h ahead: one aggregate car at 08:00 (1 x 7 kW, 15 kWh, 4 h)
    day = fleet_from_rows([{"arr": 0, "dep": 1, "energy_kwh": 1, **car}], 24, mode="v1g")
    grid = TimeGrid(day.grid.start + pd.Timedelta(hours=6), day.grid.end, 60, day.grid.timezone)
    ahead = model.phantoms(day, grid, 6, 5)
    assert ahead is not None and len(ahead) == 1
    assert (ahead.start[0], ahead.stop[0]) == (2, 6)
    assert ahead.max_charge_kw[0] == pytest.approx(7.0)
    assert ahead.e_need_kwh[0] == pytest.approx(15.0)
    assert ahead.e_init_kwh[0] == 0.0 and ahead.max_discharge_kw[0] == 0.0


def test_warm_started_decomposition_replans_reach_the_same_schedule_cost() -> None:
    rng = np.random.default_rng(12)
    fleet = random_fleet(rng, 60, 16, step_minutes=60, mode="v1g")
    buy, sell = random_prices(rng, 16, 1)
    top = max(float(fleet.charge_limit_kw().sum(axis=0).max(initial=0.0)), 1.0)
    options = ScheduleOptions(site_limit_kw=0.4 * top, solver="decomposition", gap_tolerance=1e-7)
    warm = solve_online(fleet, PriceInputs(buy, sell), options, inner="coupled", compute_regret=False)
    cold = solve_online(fleet, PriceInputs(buy, sell), options, inner="coupled", warm_start=False,
                        compute_regret=False)
    scale = max(1.0, abs(float(cold.stats["objective"])))
    assert warm.stats["objective"] == pytest.approx(cold.stats["objective"], abs=1e-5 * scale)
    check_feasible(fleet, warm.charge_kw, warm.discharge_kw)


ACN_CSV = Path(__file__).resolve().parents[2] / "shared" / "data" / "ev_sessions" / "acn_caltech" / (
    "acn_caltech_sessions_2020-12_2021-09.csv")
ACN_TARIFF = Path(__file__).resolve().parents[2] / "shared" / "data" / "tariffs" / "acnportal_sce_pge" / (
    "sce_tou_ev_4_march_2019.json")


@pytest.mark.shared
@pytest.mark.slow
@pytest.mark.skipif(not ACN_CSV.exists() or not ACN_TARIFF.exists(), reason="../shared data not present")
def test_online_within_half_a_percent_of_the_offline_optimum_on_an_acn_week() -> None:
    """A week of ACN Caltech sessions under SCE TOU-EV-4 and a 20 kW site limit, re-planned every 15 minutes over
    the cars plugged in: the cost is within 0.5% of the offline optimum (it was 4.3% above before the planner
    broke ties toward earlier steps: cars filled the end of the cheap period that later arrivals needed)."""
    from bench_online import acn_fleet, acn_prices

    fleet = acn_fleet(ACN_CSV, "2021-07-12", 7)
    prices = acn_prices(ACN_TARIFF, fleet)
    out = solve_online(fleet, prices, ScheduleOptions(site_limit_kw=20.0, solver="lp"), inner="coupled")
    assert out.stats["unmet_kwh"] == pytest.approx(0.0, abs=1e-6)
    assert 0.0 - 1e-9 <= out.stats["relative_regret"] <= 0.005
    check_feasible(fleet, out.charge_kw, out.discharge_kw)
