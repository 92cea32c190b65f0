"""The aggregator core: coupling terms, snapshots, re-planning on a simulated clock, event delivery, settlement."""

from __future__ import annotations

import asyncio

import numpy as np
import pandas as pd
import pytest

from vgi.aggregator import (
    CouplingTerms,
    EventTarget,
    SimulatedClock,
    replan,
    snapshot_at,
)
from vgi.aggregator.driver import SimulatedFleet, run_loop
from vgi.errors import VgiError
from vgi.model.sessions import SessionTable, sessions_from_frame
from vgi.model.timegrid import TimeGrid
from vgi.schedule.api import schedule
from vgi.schedule.options import DrEvent, ScheduleOptions
from vgi.schedule.prices import PriceInputs
from vgi.schedule.problem import FleetOnGrid

T0 = pd.Timestamp("2024-06-03 00:00", tz="UTC")
HOURLY = TimeGrid(T0, T0 + pd.Timedelta(hours=6), 60)


def sessions(rows: list[dict]) -> SessionTable:
    """Sessions from rows with ``arr``/``dep`` in hours after T0; unit efficiencies, 100 kWh batteries at 0 SoC."""
    frame = pd.DataFrame(rows)
    frame["session_id"] = [r.get("id", f"s{i}") for i, r in enumerate(rows)]
    frame = frame.drop(columns=[c for c in ("id",) if c in frame])
    frame["arrival"] = T0 + pd.to_timedelta(frame.pop("arr"), unit="h")
    frame["departure"] = T0 + pd.to_timedelta(frame.pop("dep"), unit="h")
    defaults = {"battery_kwh": 100.0, "initial_soc": 0.0, "max_charge_kw": 10.0, "max_discharge_kw": 10.0,
                "charge_efficiency": 1.0, "discharge_efficiency": 1.0, "v2g": True, "min_soc": 0.0,
                "site_id": "depot"}
    for key, value in defaults.items():
        if key not in frame:
            frame[key] = value
    return sessions_from_frame(frame)


# ------------------------------------------------------------------ coupling terms


def test_one_down_event_is_a_dr_event_whose_varying_request_goes_through_the_baseline() -> None:
    # baseline 5 kW; window steps 1-2 ask 2 kW then 1 kW: the DrEvent asks the largest (2 kW) against a baseline
    # raised by what each step asks less: step 1: 5 + 0 - 2 = 3 kW, step 2: 5 + 1 - 2 = 4 kW = 5 - 1
    ev = EventTarget("e", 1, 3, "down", np.array([2.0, 1.0]), np.full(4, 5.0), 7.0)
    opts = CouplingTerms(events=(ev,)).options()
    assert isinstance(opts.dr_event, DrEvent)
    assert (opts.dr_event.start_step, opts.dr_event.stop_step) == (1, 3)
    assert opts.dr_event.reduction_kw == 2.0
    np.testing.assert_allclose(opts.dr_event.baseline_kw, [5.0, 5.0, 6.0, 5.0])
    assert opts.dr_event.shortfall_penalty_per_kwh == 7.0
    assert opts.target_kw is None


def test_several_events_are_one_target_curve_binding_only_in_their_windows() -> None:
    base = np.array([5.0, 6.0, 7.0, 8.0, 9.0])
    first = EventTarget("a", 0, 2, "down", np.array([1.0, 1.0]), base, 3.0)
    second = EventTarget("b", 3, 4, "down", np.array([4.0]), base, 11.0)
    # overlaps the first in step 1: 6 - 2 = 4 kW is stricter than 6 - 1 = 5 kW there
    third = EventTarget("c", 1, 2, "down", np.array([2.0]), base, 1.0)
    fleet = FleetOnGrid.from_sessions(sessions([{"arr": 0, "dep": 5, "energy_kwh": 1.0}]),
                                      TimeGrid(T0, T0 + pd.Timedelta(hours=5), 60), "v2g")
    opts = CouplingTerms(events=(first, second)).options(fleet=fleet)
    # outside the windows no target (NaN), not a level out of reach
    np.testing.assert_allclose(opts.target_kw, [4.0, 5.0, np.nan, 4.0, np.nan])
    assert opts.over_penalty_per_kwh == 11.0 and opts.under_penalty_per_kwh == 0.0
    assert opts.dr_event is None
    both = CouplingTerms(events=(first, second, third)).options()
    np.testing.assert_allclose(both.target_kw, [4.0, 4.0, np.nan, 4.0, np.nan])


def test_up_events_target_from_below_and_mixed_directions_are_refused() -> None:
    base = np.zeros(3)
    up = EventTarget("u", 1, 2, "up", np.array([3.0]), base, 2.0)
    opts = CouplingTerms(events=(up,)).options()
    assert opts.target_kw is not None
    assert opts.target_kw[1] == 3.0 and np.isnan(opts.target_kw[[0, 2]]).all()
    assert opts.under_penalty_per_kwh == 2.0 and opts.over_penalty_per_kwh == 0.0
    down = EventTarget("d", 0, 1, "down", np.array([1.0]), base, 2.0)
    with pytest.raises(VgiError, match="same direction"):
        CouplingTerms(events=(up, down))
    with pytest.raises(VgiError, match="either a dispatch curve or events"):
        CouplingTerms(events=(up,), target_kw=np.zeros(3))
    with pytest.raises(VgiError, match="non-negative"):
        EventTarget("x", 0, 1, "down", np.array([-1.0]), base, 1.0)


def test_terms_from_a_later_step() -> None:
    base = np.arange(6.0)
    ev = EventTarget("e", 2, 5, "down", np.array([1.0, 2.0, 3.0]), base, 4.0)
    gone = EventTarget("g", 0, 1, "down", np.array([1.0]), base, 4.0)
    terms = CouplingTerms(site_limit_kw={"depot": np.arange(6.0)}, fleet_import_limit_kw=np.arange(6.0) * 2,
                          fleet_export_limit_kw=3.0, events=(gone, ev))
    later = terms.from_step(3)
    assert len(later.events) == 1
    shifted = later.events[0]
    assert (shifted.start_step, shifted.stop_step) == (0, 2)
    np.testing.assert_allclose(shifted.requested_kw, [2.0, 3.0])
    np.testing.assert_allclose(shifted.baseline_kw, [3.0, 4.0, 5.0])
    np.testing.assert_allclose(later.site_limit_kw["depot"], [3.0, 4.0, 5.0])  # type: ignore[index]
    np.testing.assert_allclose(later.fleet_import_limit_kw, [6.0, 8.0, 10.0])  # type: ignore[arg-type]
    assert later.fleet_export_limit_kw == 3.0


# ------------------------------------------------------------------ snapshots


def test_snapshot_keeps_the_plugged_in_cars_with_the_energy_they_have_had() -> None:
    table = sessions([
        {"id": "A", "arr": 0, "dep": 4, "energy_kwh": 10.0},
        {"id": "B", "arr": 2, "dep": 5, "energy_kwh": 20.0},
        {"id": "C", "arr": 0, "dep": 0.5, "energy_kwh": 5.0},
    ])
    prices = PriceInputs(np.arange(6.0), np.zeros(6))
    at = T0 + pd.Timedelta(hours=1)
    snap = snapshot_at(table, HOURLY, at, prices, mode="v1g", gained_kwh=np.array([3.0, 0.0, 5.0]))
    assert snap.fleet.session_id.tolist() == ["A"]
    assert snap.departed == ("C",)
    assert snap.grid.start == at and snap.grid.n_steps == 5
    # A: 3 kWh had, 7 kWh still wanted by 04:00, i.e. 3 more hours at up to 10 kW
    assert snap.fleet.e_init_kwh[0] == pytest.approx(3.0)
    assert snap.fleet.e_need_kwh[0] - snap.fleet.e_init_kwh[0] == pytest.approx(7.0)
    assert (snap.fleet.start[0], snap.fleet.stop[0]) == (0, 3)
    np.testing.assert_allclose(snap.prices.buy, [1.0, 2.0, 3.0, 4.0, 5.0])
    both = snapshot_at(table, HOURLY, at, prices, include_future=True, gained_kwh=np.array([3.0, 0.0, 5.0]))
    assert both.fleet.session_id.tolist() == ["A", "B"]
    with pytest.raises(VgiError, match="step boundary"):
        snapshot_at(table, HOURLY, at + pd.Timedelta(minutes=7), prices)
    with pytest.raises(VgiError, match="energy gained"):
        snapshot_at(table, HOURLY, at, prices, gained_kwh=np.zeros(2))


def test_replan_with_everything_known_is_the_offline_optimum() -> None:
    table = sessions([
        {"id": "A", "arr": 0, "dep": 4, "energy_kwh": 10.0},
        {"id": "B", "arr": 1, "dep": 5, "energy_kwh": 20.0},
    ])
    prices = PriceInputs(np.array([3.0, 1.0, 2.0, 1.0, 4.0, 1.0]), np.full(6, 0.5))
    terms = CouplingTerms(site_limit_kw=12.0)
    plan = replan(snapshot_at(table, HOURLY, T0, prices, terms, mode="v2g", include_future=True),
                  ScheduleOptions(solver="lp"))
    fleet = FleetOnGrid.from_sessions(table, HOURLY, "v2g")
    offline = schedule(fleet, "coupled", prices, ScheduleOptions(site_limit_kw=12.0, solver="lp"))
    assert plan.schedule.stats["objective"] == pytest.approx(offline.stats["objective"], rel=1e-9)
    assert plan.schedule.aggregate_kw.max() <= 12.0 + 1e-6
    assert set(plan.setpoints_by_session()) == {"A", "B"}


# ------------------------------------------------------------------ the loop on a simulated clock


def _run(sim: SimulatedFleet, replan_every: int = 1) -> list:
    clock = SimulatedClock(sim.grid.start)
    return asyncio.run(run_loop(clock, sim, sim, step_minutes=sim.grid.step_minutes, until=sim.grid.end,
                                replan_every=replan_every, options=ScheduleOptions(solver="lp")))


def test_online_loop_without_coupling_reaches_the_offline_cost() -> None:
    # each car alone, known from its arrival with its declared departure and need: re-planning each hour from what
    # it has had gives each car its own optimum, so the online cost equals the offline one exactly.
    # A: hours 0-3 at prices 3,1,2,1 -> 10 kWh in hour 1 (price 1): 10.  B: hours 1-4 at 1,2,1,4 -> 10 kWh in hour
    # 1 and 10 in hour 3: 20.  Total 30.
    table = sessions([
        {"id": "A", "arr": 0, "dep": 4, "energy_kwh": 10.0},
        {"id": "B", "arr": 1, "dep": 5, "energy_kwh": 20.0},
    ])
    prices = PriceInputs(np.array([3.0, 1.0, 2.0, 1.0, 4.0, 1.0]), np.zeros(6))
    sim = SimulatedFleet(table, HOURLY, prices, mode="v1g")
    steps = _run(sim)
    assert len(steps) == 6
    assert [s.n_sessions for s in steps] == [1, 2, 2, 2, 1, 0]
    done = sim.schedule()
    cost = float((done.charge_kw * prices.buy).sum())
    assert cost == pytest.approx(30.0)
    np.testing.assert_allclose(done.unmet_kwh, 0.0, atol=1e-9)


def test_online_loop_with_a_site_limit_never_breaks_it_and_costs_no_less_than_offline() -> None:
    rng = np.random.default_rng(3)
    rows = [{"id": f"c{i}", "arr": float(a), "dep": float(a + d), "energy_kwh": float(e)}
            for i, (a, d, e) in enumerate(zip(rng.integers(0, 3, 8), rng.integers(2, 4, 8), rng.uniform(2, 15, 8),
                                              strict=True))]
    table = sessions(rows)
    prices = PriceInputs(np.array([3.0, 1.0, 2.0, 1.0, 4.0, 1.0]), np.full(6, 0.2))
    terms = CouplingTerms(site_limit_kw=25.0, unmet_penalty_per_kwh=100.0)
    sim = SimulatedFleet(table, HOURLY, prices, terms, mode="v2g")
    _run(sim)
    done = sim.schedule()
    assert done.aggregate_kw.max() <= 25.0 + 1e-6
    offline = schedule(FleetOnGrid.from_sessions(table, HOURLY, "v2g"), "coupled", prices,
                       terms.options(ScheduleOptions(solver="lp")))
    online_cost = float((done.charge_kw.sum(0) @ prices.buy - done.discharge_kw.sum(0) @ prices.sell)
                        + 100.0 * done.unmet_kwh.sum())
    assert online_cost >= offline.stats["objective"] - 1e-6
    # foresight and one plan: the offline optimum itself
    ahead = SimulatedFleet(table, HOURLY, prices, terms, mode="v2g", foresight=True)
    _run(ahead, replan_every=6)
    seen = ahead.schedule()
    ahead_cost = float((seen.charge_kw.sum(0) @ prices.buy - seen.discharge_kw.sum(0) @ prices.sell)
                       + 100.0 * seen.unmet_kwh.sum())
    assert ahead_cost == pytest.approx(offline.stats["objective"], rel=1e-9)


def test_simulated_clock_never_goes_back() -> None:
    clock = SimulatedClock(T0)
    clock.advance_to(T0 + pd.Timedelta(hours=1))
    with pytest.raises(VgiError, match="cannot go back"):
        clock.advance_to(T0)
    with pytest.raises(VgiError, match="tz-aware"):
        SimulatedClock(pd.Timestamp("2024-01-01"))


def test_terms_from_options_round_trip() -> None:
    base = np.array([4.0, 4.0, 4.0])
    opts = ScheduleOptions(site_limit_kw={"depot": 9.0}, fleet_import_limit_kw=20.0, minimise_peak=0.5,
                           dr_event=DrEvent(1, 3, 2.0, base, 6.0), wear_cost_per_kwh=0.1, unmet_penalty_per_kwh=50.0,
                           solver="lp", gap_tolerance=1e-4)
    terms = CouplingTerms.from_options(opts, 3)
    again = terms.options(opts)
    assert again.site_limit_kw == {"depot": 9.0}
    assert again.fleet_import_limit_kw == 20.0 and again.minimise_peak == 0.5
    assert again.wear_cost_per_kwh == 0.1 and again.unmet_penalty_per_kwh == 50.0
    assert again.solver == "lp" and again.gap_tolerance == 1e-4
    assert isinstance(again.dr_event, DrEvent)
    assert (again.dr_event.start_step, again.dr_event.stop_step, again.dr_event.reduction_kw) == (1, 3, 2.0)
    np.testing.assert_allclose(again.dr_event.baseline_kw, base)
    later = terms.from_step(2).options(opts)
    assert isinstance(later.dr_event, DrEvent)
    assert (later.dr_event.start_step, later.dr_event.stop_step) == (0, 1)


def test_online_replanning_cuts_shared_meters_to_the_sites_present() -> None:
    # site B's only car arrives at 2 h: the re-plans before it must not name B's meter (the scheduler refuses a
    # site it does not know); netting at B still applies once the car is there
    table = sessions([
        {"id": "A", "arr": 0, "dep": 6, "energy_kwh": 10.0, "site_id": "A"},
        {"id": "B", "arr": 2, "dep": 6, "energy_kwh": 10.0, "site_id": "B"},
    ])
    fleet = FleetOnGrid.from_sessions(table, HOURLY, "v2g")
    prices = PriceInputs(np.array([3.0, 1.0, 2.0, 1.0, 4.0, 1.0]), np.full(6, 0.5))
    out = schedule(fleet, "online", prices, ScheduleOptions(shared_meter=("B",), online_inner="coupled"))
    np.testing.assert_allclose(out.delivered_kwh(), [10.0, 10.0], atol=1e-6)
def test_simulate_without_an_event_loop_matches_the_async_loop() -> None:
    from vgi.aggregator.driver import simulate

    table = sessions([
        {"id": "A", "arr": 0, "dep": 4, "energy_kwh": 10.0},
        {"id": "B", "arr": 1, "dep": 5, "energy_kwh": 20.0},
        {"id": "C", "arr": 2, "dep": 6, "energy_kwh": 15.0},
    ])
    prices = PriceInputs(np.array([3.0, 1.0, 2.0, 1.0, 4.0, 1.0]), np.full(6, 0.5))
    terms = CouplingTerms(site_limit_kw=14.0, unmet_penalty_per_kwh=100.0)
    looped = SimulatedFleet(table, HOURLY, prices, terms, mode="v2g")
    _run(looped, replan_every=1)
    plain = SimulatedFleet(table, HOURLY, prices, terms, mode="v2g")
    done, passes = simulate(plain, replan_every=1, options=ScheduleOptions(solver="lp"))
    assert len(passes) == 6
    np.testing.assert_allclose(done.charge_kw, looped.charge_kw, atol=1e-9)
    # every 4 hours, and at each arrival (B at 1 h, C at 2 h)
    sparse = SimulatedFleet(table, HOURLY, prices, terms, mode="v2g")
    done, passes = simulate(sparse, replan_every=4, options=ScheduleOptions(solver="lp"))
    assert [p.at for p in passes] == [T0 + pd.Timedelta(hours=h) for h in (0, 1, 2, 4)]
    assert done.stats["n_replans"] == 4
    assert done.aggregate_kw.max() <= 14.0 + 1e-6
    # the reported cost is the energy bill of what the meters saw
    bill = float(done.charge_kw.sum(0) @ prices.buy - done.discharge_kw.sum(0) @ prices.sell)  # type: ignore[union-attr]
    assert done.stats["energy_cost"] == pytest.approx(bill)
