"""Revenue stacking: hand-worked optima, the energy reserve, the minimum size, and the plain coupled LP when no
service is held."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from test_schedule_exact import T0, fleet_from_rows, random_fleet, random_prices
from vgi.aggregator.stacking import plan_stacked, service_blocks
from vgi.dr.services import ServiceProduct, get_service, load_service, service_library
from vgi.errors import VgiError
from vgi.model.timegrid import TimeGrid
from vgi.schedule.api import schedule
from vgi.schedule.options import ScheduleOptions
from vgi.schedule.prices import PriceInputs

SIGNAL = (Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "regulation_frequency"
          / "tennet_balance_delta_2016-04_via_bfelsa" / "tennet_balance_delta_minute_2016-04-01_2016-04-30.csv")

# one car, 4 one-hour steps, lossless, 40 kWh battery at 20 kWh, floor 0, 10 kW both ways, needs what it has
CAR = {"arr": 0, "dep": 4, "energy_kwh": 0.0, "battery_kwh": 40.0, "initial_soc": 0.5, "min_soc": 0.0,
       "max_charge_kw": 10.0, "max_discharge_kw": 10.0, "v2g": True, "charge_efficiency": 1.0,
       "discharge_efficiency": 1.0}


def service(**changes: Any) -> ServiceProduct:
    """A test service: one 4-hour block from 00:00 UTC, priced in GBP per MW-h held."""
    data: dict[str, Any] = {
        "id": "test", "name": "test", "region": "test", "country": "GB", "kind": "frequency_response",
        "currency": "GBP", "timezone": "UTC", "valid_from": "2020-01-01", "source": ["hand-made for a test"],
        "verification": "assumption", "direction": "up", "block_minutes": 240, "block_start": "00:00",
        "delivery_minutes": 60, "availability_price_per_mw_h": 0.0,
    }
    data.update(changes)
    return load_service(data)


def one_car(**car: Any) -> Any:
    return fleet_from_rows([{**CAR, **car}], 4)


def prices(buy: list[float], sell: list[float] | None = None) -> PriceInputs:
    return PriceInputs(np.asarray(buy, float), np.asarray(sell if sell is not None else buy, float), "GBP")


PEAKY = [0.1, 0.1, 0.5, 0.5]


def test_flat_prices_hold_the_full_discharge_power_for_the_block() -> None:
    # no arbitrage at flat prices: hold r = min(10 kW headroom, 20 kWh / 1 h) = 10 kW; 10 kW x 4 h x 0.05 = 2.0
    plan = plan_stacked(one_car(), prices([0.1] * 4), [service(availability_price_per_mw_h=50.0)])
    assert plan.held["held_kw"].tolist() == pytest.approx([10.0])
    assert plan.streams["availability:test"] == pytest.approx(2.0)
    assert plan.streams["energy"] == pytest.approx(0.0, abs=1e-9)
    assert plan.stats["objective"] == pytest.approx(-2.0)


@pytest.mark.parametrize(("price_per_mw_h", "held_kw", "total"), [(250.0, 10.0, 10.0), (150.0, 0.0, 8.0)])
def test_holding_against_arbitrage_by_hand(price_per_mw_h: float, held_kw: float, total: float) -> None:
    # arbitrage alone: charge 20 kWh at 0.1, discharge it at 0.5: 8.0.  Holding r kW up over the block leaves
    # 10 - r kW to discharge in steps 2-3, so revenue = 0.4 x 2 (10 - r) + 4 p r = 8 + r (4 p - 0.8): hold all
    # 10 kW iff p > 0.2 GBP/kW/h.  At p = 0.25: 10.0 (holding beats arbitrage); at p = 0.15: 8.0 (it does not).
    plan = plan_stacked(one_car(), prices(PEAKY), [service(availability_price_per_mw_h=price_per_mw_h)])
    assert plan.held["held_kw"].tolist() == pytest.approx([held_kw], abs=1e-7)
    assert plan.total_revenue == pytest.approx(total)
    assert -plan.stats["objective"] == pytest.approx(total)
    # hand optimum over the LP's one choice r in [0, 10]: the LP's choice is the best
    grid = np.linspace(0, 10, 101)
    best = max(8 + r * (4 * price_per_mw_h / 1000 - 0.8) for r in grid)
    assert plan.total_revenue == pytest.approx(best)


@pytest.mark.parametrize("factor", [1.0, 0.5, 0.3])
def test_derating_factor_scales_the_capacity_pay_of_a_forced_hold(factor: float) -> None:
    # two identical cars at flat prices have nothing better to do than hold: each holds min(10 kW headroom,
    # 20 kWh / 1 h) = 10 kW, 20 kW in all, whatever the factor (any positive pay makes the hold worth it).  A
    # capacity market pays per de-rated kW: 20 kW x factor x 0.05 GBP/kW/h (50 GBP/MW/h) x 4 h = 4.0 x factor GBP
    fleet = fleet_from_rows([CAR, CAR], 4)
    svc = service(kind="capacity", availability_price_per_mw_h=50.0, derating_factor=factor)
    plan = plan_stacked(fleet, prices([0.1] * 4), [svc])
    assert plan.held["held_kw"].tolist() == pytest.approx([20.0])
    assert plan.held["derated_kw"].tolist() == pytest.approx([20.0 * factor])
    assert plan.held["availability"].tolist() == pytest.approx([4.0 * factor])
    assert plan.streams["capacity:test"] == pytest.approx(4.0 * factor)
    assert "availability:test" not in plan.streams
    assert plan.stats["objective"] == pytest.approx(-4.0 * factor)
    assert plan.total_revenue == pytest.approx(4.0 * factor)
    # the same hold with no de-rating earns 1/factor times as much
    full = plan_stacked(fleet, prices([0.1] * 4), [svc.with_(derating_factor=1.0)])
    assert plan.streams["capacity:test"] == pytest.approx(factor * full.streams["capacity:test"])


@pytest.mark.parametrize(("factor", "held_kw", "total"), [(0.9, 10.0, 9.0), (0.7, 0.0, 8.0)])
def test_a_low_derating_factor_makes_holding_lose_to_arbitrage(factor: float, held_kw: float, total: float) -> None:
    # as in test_holding_against_arbitrage_by_hand, at 250 GBP/MW/h (0.25 GBP/kW/h) but paid per de-rated kW:
    # revenue = 8 + r (4 x 0.25 x factor - 0.8), so the car holds all 10 kW iff factor > 0.8 and nothing below.
    # factor 0.9: 8 + 10 x (0.9 - 0.8) = 9.0, all of it capacity pay (10 kW x 0.9 x 0.25 x 4 h), no arbitrage left;
    # factor 0.7: holding would give 8 + 10 x (0.7 - 0.8) = 7.0 < 8.0, so it trades energy only (8.0)
    svc = service(kind="capacity", availability_price_per_mw_h=250.0, derating_factor=factor)
    plan = plan_stacked(one_car(), prices(PEAKY), [svc])
    assert plan.held["held_kw"].tolist() == pytest.approx([held_kw], abs=1e-7)
    assert plan.total_revenue == pytest.approx(total)
    assert -plan.stats["objective"] == pytest.approx(total)
    assert plan.streams["capacity:test"] == pytest.approx(held_kw * factor * 0.25 * 4, abs=1e-7)
    assert plan.streams["energy"] == pytest.approx(total - held_kw * factor * 0.25 * 4, abs=1e-7)
    grid = np.linspace(0, 10, 101)
    assert plan.total_revenue == pytest.approx(max(8 + r * (4 * 0.25 * factor - 0.8) for r in grid))


def test_streams_add_up_to_the_objective_with_wear_and_utilisation() -> None:
    svc = service(availability_price_per_mw_h=250.0, utilisation_up=0.1)
    plan = plan_stacked(one_car(), prices(PEAKY), [svc], ScheduleOptions(wear_cost_per_kwh=0.01))
    # expected export 0.1 x 10 kW x 1 h per step sold at each step's export price: 1.0 x (0.1+0.1+0.5+0.5) = 1.2
    assert plan.streams["utilisation:test"] == pytest.approx(1.2)
    assert -plan.stats["objective"] == pytest.approx(plan.total_revenue)
    table = plan.revenue_table()
    assert table.iloc[-1]["stream"] == "total" and table.iloc[-1]["revenue"] == pytest.approx(plan.total_revenue)


def test_a_nearly_full_battery_cannot_hold_down_regulation_for_the_duration() -> None:
    # 39 of 40 kWh: 1 h of charging at r kW must fit in the 1 kWh left before the first step, so r <= 1 kW, though
    # the charger has 10 kW of headroom (and discharging first cannot help the first step)
    svc = service(direction="down", availability_price_per_mw_h=100.0)
    plan = plan_stacked(one_car(initial_soc=39 / 40), prices([0.1] * 4), [svc])
    assert plan.held["held_kw"].tolist() == pytest.approx([1.0])
    # a 15-min service needs only a quarter of the energy: 4 kW
    plan15 = plan_stacked(one_car(initial_soc=39 / 40), prices([0.1] * 4), [svc.with_(delivery_minutes=15)])
    assert plan15.held["held_kw"].tolist() == pytest.approx([4.0])
    # the schedule keeps room for the held energy at every step
    e = plan15.schedule.battery_energy_kwh()[0]
    assert (e + 4.0 * 0.25 <= 40.0 + 1e-7).all()


def test_a_nearly_empty_battery_cannot_hold_up_regulation_and_efficiency_counts() -> None:
    # 2 kWh above the floor, discharge efficiency 0.8: r kW for 1 h takes r / 0.8 kWh, so r <= 1.6 kW
    svc = service(availability_price_per_mw_h=100.0)
    plan = plan_stacked(one_car(initial_soc=2 / 40, discharge_efficiency=0.8), prices([0.1] * 4), [svc])
    assert plan.held["held_kw"].tolist() == pytest.approx([1.6])


@pytest.mark.parametrize(("min_mw", "held_kw"), [(0.008, 0.0), (0.004, 5.0), (0.0, 5.0), (0.025, 0.0)])
def test_minimum_size(min_mw: float, held_kw: float) -> None:
    # down-regulation from 35 of 40 kWh: at most 5 kW for 1 h.  Below a minimum of 8 kW nothing is held (the LP
    # relaxation would hold 5 kW and be paid for it); with a 4 kW minimum, 5 kW; 25 kW is above the car's 10 + 10 kW
    svc = service(direction="down", availability_price_per_mw_h=100.0, min_mw=min_mw)
    plan = plan_stacked(one_car(initial_soc=35 / 40), prices([0.1] * 4), [svc])
    assert plan.held["held_kw"].tolist() == pytest.approx([held_kw], abs=1e-7)
    if min_mw == 0.025:
        assert any("cannot reach its minimum" in n for n in plan.notes)


def test_symmetric_service_holds_the_same_kw_both_ways() -> None:
    # 30 of 40 kWh: down needs r <= 10 kWh room, up r <= 30 kWh: symmetric r = min(10, 10 kW, 30) = 10 kW;
    # at 36 kWh the down side limits it to 4 kW
    svc = service(direction="symmetric", availability_price_per_mw_h=100.0)
    plan = plan_stacked(one_car(initial_soc=36 / 40), prices([0.1] * 4), [svc])
    assert plan.held["held_kw"].tolist() == pytest.approx([4.0])
    np.testing.assert_allclose(plan.reserve_up_kw, 4.0)
    np.testing.assert_allclose(plan.reserve_down_kw, 4.0)


def test_two_services_share_the_headroom() -> None:
    # up at 0.3 and down at 0.25 per kW-h on a half-full battery: each direction has its own headroom (10 kW)
    # and its own energy (20 kWh each way): 10 x 4 x (0.3 + 0.25) = 22.  Charging c kW would add c to the up side
    # and take c from the down side: 4 c (0.3 - 0.25 - 0.1) < 0, so the car stays idle
    up = service(id="up", availability_price_per_mw_h=300.0)
    down = service(id="down", direction="down", availability_price_per_mw_h=250.0)
    plan = plan_stacked(one_car(), prices([0.1] * 4), [up, down])
    assert plan.held.set_index("service")["held_kw"].to_dict() == pytest.approx({"up": 10.0, "down": 10.0})
    assert plan.total_revenue == pytest.approx(22.0)
    # two up services on one car: they share its headroom and the dearer takes it.  A car that charges c kW holds c
    # more up-reserve (it can stop charging): at 0.3 per kW-h that pays more than the 0.1 the charge costs, so it
    # charges 5 kW in each step (20 kWh fills the battery) and holds 15 kW: 15 x 4 x 0.3 - 5 x 4 x 0.1 = 16
    up2 = service(id="up2", availability_price_per_mw_h=200.0)
    both = plan_stacked(one_car(), prices([0.1] * 4), [up, up2])
    assert both.held.set_index("service")["held_kw"].to_dict() == pytest.approx({"up": 15.0, "up2": 0.0}, abs=1e-7)
    assert both.total_revenue == pytest.approx(16.0)
    np.testing.assert_allclose(both.schedule.net_kw[0], 5.0)  # lossless, buy = sell: how it nets is a tie


@pytest.mark.parametrize("seed", range(4))
def test_no_services_is_the_plain_coupled_optimum(seed: int) -> None:
    rng = np.random.default_rng(seed)
    fleet = random_fleet(rng, 12, 24, 60)
    buy, sell = random_prices(rng, 24, seed)
    p = PriceInputs(buy, sell, "GBP")
    opts = ScheduleOptions(wear_cost_per_kwh=0.02, fleet_import_limit_kw=30.0)
    plain = schedule(fleet, "coupled", p, opts)
    stacked = plan_stacked(fleet, p, [], opts)
    assert stacked.stats["objective"] == pytest.approx(plain.stats["objective"], rel=1e-7, abs=1e-6)
    # a service worth nothing changes nothing either
    free = plan_stacked(fleet, p, [service(availability_price_per_mw_h=0.0)], opts)
    assert free.stats["objective"] == pytest.approx(plain.stats["objective"], rel=1e-7, abs=1e-6)


def test_a_paid_service_never_lowers_the_revenue_and_keeps_every_car_feasible() -> None:
    rng = np.random.default_rng(7)
    fleet = random_fleet(rng, 10, 24, 60)
    buy, sell = random_prices(rng, 24, 1)
    p = PriceInputs(buy, sell, "GBP")
    plain = plan_stacked(fleet, p, [])
    svc = service(direction="symmetric", availability_price_per_mw_h=80.0, block_minutes=240)
    plan = plan_stacked(fleet, p, [svc])
    assert plan.stats["objective"] <= plain.stats["objective"] + 1e-7
    # held capacity is backed, step by step, by the cars' headroom and energy
    sch = plan.schedule
    c, d = sch.charge_kw, sch.discharge_kw
    assert d is not None
    room_up = (fleet.discharge_limit_kw() - d + c).sum(axis=0)
    room_down = (fleet.charge_limit_kw() - c + d).sum(axis=0)
    assert (plan.reserve_up_kw <= room_up + 1e-6).all()
    assert (plan.reserve_down_kw <= room_down + 1e-6).all()
    assert plan.held["held_kw"].sum() > 0
    # deliverable for the whole hour the service asks, recomputed from the schedule alone: each car gives at most
    # its power headroom and what its energy (before and after the step, the lower) sustains for 1 h
    e_after = sch.battery_energy_kwh()
    e_before = np.concatenate([fleet.e_init_kwh[:, None], e_after[:, :-1]], axis=1)
    plugged = fleet.availability() > 0
    up_energy = (np.minimum(e_before, e_after) - fleet.e_floor_kwh[:, None]) * fleet.discharge_efficiency[:, None]
    down_energy = (fleet.e_max_kwh[:, None] - np.maximum(e_before, e_after)) / fleet.charge_efficiency[:, None]
    can_up = np.where(plugged, np.minimum(fleet.discharge_limit_kw() - d + c, up_energy / 1.0), 0.0)
    can_down = np.where(plugged, np.minimum(fleet.charge_limit_kw() - c + d, down_energy / 1.0), 0.0)
    assert (plan.reserve_up_kw <= can_up.sum(axis=0) + 1e-6).all()
    assert (plan.reserve_down_kw <= can_down.sum(axis=0) + 1e-6).all()


def test_efa_blocks_on_a_london_grid() -> None:
    # the EFA day starts at 23:00 local: a day from local midnight holds five whole blocks (03-07, ..., 19-23)
    grid = TimeGrid.local_days("2024-06-03", 1, 30, "Europe/London")
    blocks = service_blocks(grid, get_service("gb-dc-low"))
    assert blocks.tolist() == [[6, 14], [14, 22], [22, 30], [30, 38], [38, 46]]
    # the capacity hold: one 16:00-19:00 block a day
    cap = service_blocks(grid, get_service("gb-capacity-market"))
    assert cap.tolist() == [[32, 38]]


def test_shipped_services_name_sources_and_assumptions() -> None:
    lib = service_library()
    assert {"gb-dc-low", "gb-dc-high", "gb-dm-low", "gb-dr-low", "gb-dr-high", "cn-frequency-regulation",
            "gb-capacity-market"} <= set(lib)
    for svc in lib.values():
        assert svc.source and isinstance(svc.valid_from, dt.date)
    # NESO's delivery durations: DC 15, DM 30, DR 60 minutes
    assert lib["gb-dc-low"].delivery_minutes == 15 and lib["gb-dm-low"].delivery_minutes == 30
    assert lib["gb-dr-low"].delivery_minutes == 60
    assert lib["cn-frequency-regulation"].direction == "symmetric"
    # T-4 2027/28 cleared at 65 GBP/kW/year; 1 Oct 2027 - 30 Sep 2028 holds 29 Feb 2028: 366 days of 3 h
    assert lib["gb-capacity-market"].availability_price_per_mw_h == pytest.approx(65000 / (366 * 3), abs=0.01)


def test_capacity_market_prices_follow_the_clearing_prices_over_each_delivery_year() -> None:
    lib = service_library()
    # (id, clearing GBP/kW/year, first day, last day), worked by hand: days = last - first + 1
    years = [
        ("gb-capacity-market-2025-26", 20.00, dt.date(2025, 10, 1), dt.date(2026, 9, 30)),  # 365 days
        ("gb-capacity-market", 65.00, dt.date(2027, 10, 1), dt.date(2028, 9, 30)),  # 366 days (29 Feb 2028)
        ("gb-capacity-market-2028-29", 60.00, dt.date(2028, 10, 1), dt.date(2029, 9, 30)),  # 365 days
    ]
    by_hand = {"gb-capacity-market-2025-26": 18.26, "gb-capacity-market": 59.20, "gb-capacity-market-2028-29": 54.79}
    for sid, gbp_per_kw_year, first, last in years:
        svc = lib[sid]
        assert (svc.valid_from, svc.valid_to) == (first, last), sid
        days = (last - first).days + 1
        assert svc.availability_price_per_mw_h == pytest.approx(gbp_per_kw_year * 1000 / (days * 3), abs=0.005), sid
        assert svc.availability_price_per_mw_h == pytest.approx(by_hand[sid], abs=0.005), sid
        # a year of the 3-hour hold on one de-rated MW gives back the clearing price per kW
        assert svc.availability_price_per_mw_h * 3 * days / 1000 == pytest.approx(gbp_per_kw_year, abs=0.02), sid
        assert svc.verification == "secondary" and f"{gbp_per_kw_year:.0f}" in " ".join(svc.source), sid
        assert "de-rat" in svc.assumptions["availability_price_per_mw_h"], sid
        # the Storage (Duration 3h) factor of each auction was not found: no de-rating, said so in the file
        assert svc.delivery_minutes == 180 and svc.derating_factor == 1.0, sid
        assert svc.assumptions["derating_factor"].startswith("NOT FOUND"), sid


def test_cn_regulation_is_paid_the_published_mileage_cap() -> None:
    reg = get_service("cn-frequency-regulation")
    # the 2024 national notice and Hunan's 2025 rules: offers between 4 and 15 CNY per MW of mileage; the cap is used
    assert reg.mileage_price_per_mw == 15.0 and reg.verification == "secondary"
    assert any("Hunan" in s and "15 CNY/MW" in s and "4 CNY/MW" in s for s in reg.source)
    # by hand: 0.73 MW of mileage per MW held per hour x 15 CNY/MW = 10.95 CNY per MW-h = 0.01095 CNY per kW-h
    assert reg.mileage_price_per_kw_h == pytest.approx(0.73 * 15 / 1000)
    assert "10.95" in reg.notes and "2.92" in reg.notes  # 0.73 x 4 = 2.92 at Hunan's floor


def test_bad_service_input_is_a_clear_error() -> None:
    with pytest.raises(VgiError, match="block_minutes"):
        service(block_minutes=250)
    with pytest.raises(VgiError, match="assumption 'nope'"):
        service(assumptions={"nope": "x"})
    for bad in (0.0, -0.2, 1.5):
        with pytest.raises(VgiError, match="derating_factor"):
            service(derating_factor=bad)
    with pytest.raises(VgiError, match="priced in CNY"):
        plan_stacked(one_car(), prices([0.1] * 4), [service(currency="CNY")])
    with pytest.raises(VgiError, match="unknown service"):
        get_service("gb-no-such-service")


@pytest.mark.skipif(not SIGNAL.exists(), reason="../shared/data is not present (a user's clone)")
def test_proxy_utilisation_and_mileage_match_the_regulation_signal() -> None:
    frame = pd.read_csv(SIGNAL)
    s = (frame["opregelen"] - frame["Afregelen"]).to_numpy(float)
    s = s / np.abs(s).max()
    reg = get_service("cn-frequency-regulation")
    assert reg.utilisation_up == pytest.approx(np.clip(s, 0, None).mean(), abs=5e-4)
    assert reg.utilisation_down == pytest.approx(np.clip(-s, 0, None).mean(), abs=5e-4)
    assert reg.mileage_mw_per_mw_h == pytest.approx(np.abs(np.diff(s)).sum() / (len(s) / 60), abs=5e-3)
    assert get_service("gb-dr-low").utilisation_up == reg.utilisation_up


def test_block_partly_off_the_grid_is_not_offered() -> None:
    grid = TimeGrid(T0 + pd.Timedelta(hours=1), T0 + pd.Timedelta(hours=9), 60)
    blocks = service_blocks(grid, service())
    assert blocks.tolist() == [[3, 7]]  # 04:00-08:00; 01-04 and 08-09 are parts of blocks


# ------------------------------------------------------------------ the scenario runner's direct-v2g mode

def _small_scenario(services: list[str]) -> dict[str, Any]:
    return {
        "extends": "guangzhou-default", "name": "stacking-small",
        "horizon": {"start": "2024-07-01", "days": 1},
        "fleet": {"generator": {"count": 60, "seed": 5}, "vehicles": 30, "v2g": {"share": 0.5}},
        "programmes": [], "events": [], "modes": ["direct-v2g"], "services": services,
    }


def _cny_service(tmp_path: Path) -> str:
    import yaml

    path = tmp_path / "cn-test-reg.yaml"
    data = {"id": "cn-test-reg", "name": "test regulation", "region": "test", "country": "CN",
            "kind": "frequency_response", "currency": "CNY", "timezone": "Asia/Shanghai",
            "valid_from": "2024-01-01", "source": ["a test service"], "verification": "assumption",
            "direction": "symmetric", "block_minutes": 240, "block_start": "00:00", "delivery_minutes": 30,
            "availability_price_per_mw_h": 120.0}
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return str(path)


def test_scenario_direct_v2g_holds_services_and_reports_each_stream(tmp_path: Path) -> None:
    from vgi.scenario.loader import load_scenario
    from vgi.scenario.runner import run_scenario

    svc_path = _cny_service(tmp_path)
    res = run_scenario(load_scenario(_small_scenario([svc_path])), eligibility=False)
    plain = run_scenario(load_scenario(_small_scenario([])), eligibility=False)
    streams = res.revenue_streams()
    mine = streams.set_index("stream")["revenue"]
    held = res.services_held()
    assert len(held) > 0 and (held["held_kw"] > 0).all()
    # availability recomputed from the held table: kW x block hours x price per kW-h
    hours = (held["stop_step"] - held["start_step"]) * res.inputs.grid.step_hours
    assert mine["availability:cn-test-reg"] == pytest.approx(float((held["held_kw"] * hours * 0.12).sum()))
    # the energy stream recomputed from the schedule at the aggregator's prices
    sch = res.runs["direct-v2g"].schedule
    buy, sell = res.inputs.aggregator_prices
    assert sch.discharge_kw is not None
    energy = -float((buy @ sch.charge_kw.sum(axis=0) - sell @ sch.discharge_kw.sum(axis=0)) * 0.25)
    assert mine["energy"] == pytest.approx(energy)
    assert mine["total"] == pytest.approx(mine.drop("total").sum())
    # holding capacity is a choice: the stacked plan earns at least what energy alone does
    assert mine["total"] >= plain.revenue_streams().set_index("stream")["revenue"]["total"] - 1e-6
    assert res.metrics["direct-v2g"]["service_revenue"] == pytest.approx(mine["availability:cn-test-reg"])
    # and the HTML report shows the streams
    from vgi.report.html import revenue_streams_html

    html = revenue_streams_html(res)
    assert "availability:cn-test-reg" in html and "direct-v2g" in html
    assert "derated_kw" in html  # the capacity held, before and after de-rating


def test_scenario_services_need_the_direct_v2g_mode_and_known_ids() -> None:
    from vgi.scenario.loader import load_scenario

    bad = _small_scenario(["cn-frequency-regulation"])
    bad["modes"] = ["direct-v1g"]
    with pytest.raises(VgiError, match="direct-v2g"):
        load_scenario(bad)
    with pytest.raises(VgiError, match="unknown service"):
        load_scenario(_small_scenario(["cn-no-such-service"]))


def test_a_fleet_below_the_minimum_size_holds_nothing_and_says_so() -> None:
    from vgi.scenario.loader import load_scenario
    from vgi.scenario.runner import run_scenario

    # 15 V2G cars are far below the 5 MW regulation minimum (an assumption; Hunan's rules say 10 MW)
    res = run_scenario(load_scenario(_small_scenario(["cn-frequency-regulation"])), eligibility=False)
    assert res.services_held().empty
    assert "cannot reach its minimum" in res.runs["direct-v2g"].stats["service_notes"]


def test_notes_say_when_a_price_does_not_apply_or_no_block_fits() -> None:
    plan = plan_stacked(one_car(), prices([0.1] * 4), ["gb-capacity-market"])
    assert any("apply 2027-10-01 .. 2028-09-30" in n for n in plan.notes)
    assert any("no whole block" in n for n in plan.notes)
    assert plan.held.empty and plan.streams["capacity:gb-capacity-market"] == 0.0


@pytest.mark.parametrize("seed", range(6))
def test_the_reduced_model_has_the_full_models_optimum(seed: int) -> None:
    # plan_stacked leaves out unpaid blocks, shares that can hold nothing and energy rows implied by the other end
    # of the step; the full model (reduce=False, the formulation before the reductions) is an independent check
    rng = np.random.default_rng(100 + seed)
    fleet = random_fleet(rng, 10, 24, 60)
    buy, sell = random_prices(rng, 24, seed)
    p = PriceInputs(buy, sell, "GBP")
    opts = ScheduleOptions(wear_cost_per_kwh=0.02, fleet_import_limit_kw=40.0)
    # utilisation that costs more than the availability pays in dear blocks: some blocks are unpaid
    sym = service(id="sym", direction="symmetric", availability_price_per_mw_h=60.0, block_minutes=120,
                  utilisation_up=0.05, utilisation_down=0.2, min_mw=0.01 * (seed % 2))
    up = service(id="up", availability_price_per_mw_h=90.0, block_minutes=180, min_mw=0.004 * (seed % 3))
    down = service(id="down", direction="down", availability_price_per_mw_h=40.0, block_minutes=60,
                   delivery_minutes=30)
    for services in ([sym], [up, down], [sym, up, down]):
        full = plan_stacked(fleet, p, services, opts, reduce=False)
        reduced = plan_stacked(fleet, p, services, opts)
        assert reduced.stats["objective"] == pytest.approx(full.stats["objective"], rel=1e-7, abs=1e-6)
        assert reduced.total_revenue == pytest.approx(full.total_revenue, rel=1e-7, abs=1e-6)
        assert reduced.stats["n_constraints"] < full.stats["n_constraints"]


@pytest.mark.parametrize(("min_mw", "held_kw", "binaries"), [(0.006, 10.0, 1), (0.012, 0.0, 0)])
def test_symmetric_minimum_uses_both_directions_headroom(min_mw: float, held_kw: float, binaries: int) -> None:
    # a symmetric block needs r both ways from the same car: x_up + x_down <= Cmax + Dmax = 20 kW, so r <= 10 kW
    # (half-full 40 kWh battery: energy allows 20 kW each way for 1 h).  A 6 kW minimum keeps the binary and holds
    # 10 kW; a 12 kW minimum is out of reach, so the block is not offered (no binary) and the notes say so
    svc = service(direction="symmetric", availability_price_per_mw_h=100.0, min_mw=min_mw)
    plan = plan_stacked(one_car(), prices([0.1] * 4), [svc])
    assert plan.held["held_kw"].tolist() == pytest.approx([held_kw], abs=1e-7)
    assert plan.stats["n_binaries"] == binaries
    assert any("cannot reach its minimum" in n for n in plan.notes) == (binaries == 0)
    full = plan_stacked(one_car(), prices([0.1] * 4), [svc], reduce=False)  # the looser bound: a binary, same plan
    assert full.stats["n_binaries"] == 1
    assert full.stats["objective"] == pytest.approx(plan.stats["objective"], abs=1e-9)
