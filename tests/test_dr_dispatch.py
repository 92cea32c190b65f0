"""Dispatch: events delivered through the scheduler's coupled LP, never at a driver's expense, shortfalls reported."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vgi.aggregator.dispatch import check_drivers_kept, dispatch_curve, dispatch_event
from vgi.dr.capability import window_capability
from vgi.dr.events import Event
from vgi.errors import VgiError
from vgi.model.sessions import sessions_from_frame
from vgi.model.timegrid import TimeGrid
from vgi.schedule.prices import PriceInputs
from vgi.schedule.problem import FleetOnGrid

sys.path.insert(0, str(Path(__file__).parent))
from test_dr_eligibility import REFERENCE, small_fleet

T0 = pd.Timestamp("2024-06-03 00:00", tz="UTC")


def hours(a: int, b: int) -> tuple[pd.Timestamp, pd.Timestamp]:
    return T0 + pd.Timedelta(hours=a), T0 + pd.Timedelta(hours=b)


def test_event_within_capability_is_delivered_in_full() -> None:
    fleet = small_fleet("v2g")
    # capability of hour 0 is 20 kW (A defers, C discharges): ask 20
    res = dispatch_event(fleet, Event(*hours(0, 1), 20.0))
    assert res.shortfall_kwh == pytest.approx(0.0, abs=1e-6)
    assert res.baseline_kw == pytest.approx(REFERENCE)
    assert res.delivered_kw[0] == pytest.approx(20.0, abs=1e-6)
    assert check_drivers_kept(res.schedule) == []
    t = res.sessions.set_index("session_id")
    # per-session split against each one's counterfactual: A 10 kWh, C 10 kWh, B not there
    assert t.loc["A", "response_kwh"] == pytest.approx(10.0, abs=1e-6)
    assert t.loc["C", "response_kwh"] == pytest.approx(10.0, abs=1e-6)
    assert "in full" in res.notes[-1]


def test_event_beyond_capability_reports_the_shortfall_and_keeps_needs() -> None:
    fleet = small_fleet("v2g")
    # hours 0-1 can hold 10 kW (B must charge in hour 1); asking 15 kW: hour 0 can give 20 (>= 15), hour 1 only 10
    res = dispatch_event(fleet, Event(*hours(0, 2), 15.0))
    assert res.shortfall_kwh == pytest.approx(5.0, abs=1e-6)
    assert res.delivered_kwh == pytest.approx(25.0, abs=1e-6)
    assert any("shortfall" in n for n in res.notes)
    assert check_drivers_kept(res.schedule) == []
    assert res.sessions["unmet_kwh"].sum() == pytest.approx(0.0, abs=1e-6)


def test_v1g_event_that_nothing_can_deliver() -> None:
    fleet = small_fleet("v1g")
    res = dispatch_event(fleet, Event(*hours(1, 3), 5.0))
    # B must charge 10 kW in hours 1 and 2: nothing to give
    assert res.shortfall_kwh == pytest.approx(10.0, abs=1e-6)
    assert check_drivers_kept(res.schedule) == []


def test_up_event_valley_filling() -> None:
    fleet = small_fleet("v1g")
    res = dispatch_event(fleet, Event(*hours(3, 4), 20.0, "up"))
    assert res.shortfall_kwh == pytest.approx(0.0, abs=1e-6)
    assert res.schedule.aggregate_kw[3] >= 20.0 - 1e-6
    res = dispatch_event(fleet, Event(*hours(3, 4), 25.0, "up"))
    assert res.shortfall_kwh == pytest.approx(5.0, abs=1e-6)


def test_event_off_the_grid_is_an_error() -> None:
    fleet = small_fleet()
    with pytest.raises(VgiError, match="outside"):
        dispatch_event(fleet, Event(*hours(10, 11), 1.0))
    with pytest.raises(VgiError, match="not on the fleet"):
        dispatch_event(fleet, Event(T0 + pd.Timedelta(minutes=30), T0 + pd.Timedelta(hours=2), 1.0))


def test_dispatch_curve_tracks_a_feasible_curve() -> None:
    fleet = small_fleet("v2g")
    target = np.array([0.0, 10.0, 10.0, 10.0])  # 30 kWh = A 10 + B 20, C idle
    res = dispatch_curve(fleet, target)
    assert res.schedule.aggregate_kw == pytest.approx(target, abs=1e-6)
    assert check_drivers_kept(res.schedule) == []


@st.composite
def fleets_and_events(draw: st.DrawFn) -> tuple[FleetOnGrid, Event]:
    n = draw(st.integers(1, 5))
    steps = 8
    rows = []
    for i in range(n):
        a = draw(st.integers(0, steps - 1))
        b = draw(st.integers(a + 1, steps))
        p_c = draw(st.sampled_from([3.7, 7.0, 11.0]))
        battery = draw(st.sampled_from([40.0, 60.0]))
        init = draw(st.sampled_from([0.1, 0.3, 0.5, 0.8]))
        energy = draw(st.floats(0.0, 30.0))
        v2g = draw(st.booleans())
        rows.append({
            "session_id": f"s{i}",
            "arrival": (T0 + pd.Timedelta(hours=a)).isoformat(),
            "departure": (T0 + pd.Timedelta(hours=b)).isoformat(),
            "energy_kwh": energy, "battery_kwh": battery, "initial_soc": init,
            "max_charge_kw": p_c, "max_discharge_kw": p_c if v2g else 0.0, "v2g": v2g,
            "min_soc": draw(st.sampled_from([0.0, 0.2, 0.5])),
            "charge_efficiency": 0.9, "discharge_efficiency": 0.9,
        })
    mode = draw(st.sampled_from(["v1g", "v2g"]))
    grid = TimeGrid(T0, T0 + pd.Timedelta(hours=steps), 60)
    fleet = FleetOnGrid.from_sessions(sessions_from_frame(pd.DataFrame(rows)), grid, mode)
    ea = draw(st.integers(0, steps - 1))
    eb = draw(st.integers(ea + 1, min(steps, ea + 3)))
    kw = draw(st.floats(0.5, 40.0))
    direction = draw(st.sampled_from(["down", "up"]))
    return fleet, Event(*hours(ea, eb), kw, direction)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(fleets_and_events())
def test_property_dispatch_never_breaks_a_drivers_need(case: tuple[FleetOnGrid, Event]) -> None:
    """Whatever the event, every need that uncontrolled charging meets is met, no battery leaves its bounds, and
    the event is delivered in full exactly when the independent window LP says the fleet can hold it."""
    fleet, event = case
    prices = PriceInputs(np.linspace(0.1, 0.3, fleet.n_steps), np.zeros(fleet.n_steps))
    res = dispatch_event(fleet, event, prices=prices)
    assert check_drivers_kept(res.schedule) == []
    assert (res.sessions["unmet_kwh"] <= res.sessions["inherent_shortfall_kwh"] + 1e-6).all()
    a = int((event.start - T0) / pd.Timedelta(hours=1))
    b = int((event.end - T0) / pd.Timedelta(hours=1))
    cap = window_capability(fleet, res.baseline_kw, a, b, event.direction).capability_kw
    requested = float(event.committed_kw)  # type: ignore[arg-type]
    if requested <= cap - 1e-6:
        assert res.shortfall_kwh == pytest.approx(0.0, abs=1e-5)
    elif requested >= cap + 1e-6:
        assert res.shortfall_kwh > 0.0
    assert res.delivered_kwh <= requested * (b - a) + 1e-6
    if event.direction == "up":
        assert res.simultaneous_kwh <= 1e-6


def test_up_event_on_a_full_v2g_battery_is_not_met_by_burning_energy() -> None:
    """A full V2G car plugged in at the event's start cannot take more energy: charging and discharging at once
    (which an LP allows, burning energy through the losses) must not count as a response."""
    frame = pd.DataFrame({
        "session_id": ["F"], "arrival": [T0.isoformat()], "departure": [(T0 + pd.Timedelta(hours=4)).isoformat()],
        "energy_kwh": [0.0], "battery_kwh": [60.0], "initial_soc": [1.0], "max_charge_kw": [10.0],
        "max_discharge_kw": [10.0], "v2g": [True], "charge_efficiency": [0.9], "discharge_efficiency": [0.9],
    })
    grid = TimeGrid(T0, T0 + pd.Timedelta(hours=4), 60)
    fleet = FleetOnGrid.from_sessions(sessions_from_frame(frame), grid, "v2g")
    assert window_capability(fleet, np.zeros(4), 0, 1, "up").capability_kw == pytest.approx(0.0, abs=1e-9)
    res = dispatch_event(fleet, Event(*hours(0, 1), 5.0, "up"))
    assert res.simultaneous_kwh <= 1e-9
    assert res.shortfall_kwh == pytest.approx(5.0, abs=1e-6)
    # one hour later the car can first export to make room: hour 0 out, hour 1 in
    later = window_capability(fleet, np.zeros(4), 1, 2, "up").capability_kw
    assert later == pytest.approx(10.0, abs=1e-6)
