"""Eligibility: window capability worked out by hand, the confidence rule, behaviour rules, and whole assessments."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from vgi.dr.capability import window_capability
from vgi.dr.eligibility import (
    _monthly_cap,
    _plug_in_rule,
    assess,
    confidence_quantile,
    yearly_discharge_estimate_kwh,
)
from vgi.dr.programmes import ClockWindow, get_programme
from vgi.errors import VgiError
from vgi.model.sessions import sessions_from_frame
from vgi.model.timegrid import TimeGrid
from vgi.schedule.problem import FleetOnGrid


def small_fleet(mode: str = "v1g", c_min_soc: float = 0.2) -> FleetOnGrid:
    """A: 00-04 h, 10 kW, needs 10 kWh.  B: 01-03 h, 10 kW, needs 20 kWh.  C: 00-04 h, V2G 10 kW both ways,
    at 50 % of 100 kWh, needs nothing, keeps ``c_min_soc``.  Efficiencies 1, hourly steps."""
    frame = pd.DataFrame(
        {
            "session_id": ["A", "B", "C"],
            "arrival": ["2024-06-03T00:00:00+00:00", "2024-06-03T01:00:00+00:00", "2024-06-03T00:00:00+00:00"],
            "departure": ["2024-06-03T04:00:00+00:00", "2024-06-03T03:00:00+00:00", "2024-06-03T04:00:00+00:00"],
            "energy_kwh": [10.0, 20.0, 0.0],
            "battery_kwh": [100.0, 100.0, 100.0],
            "initial_soc": [0.0, 0.0, 0.5],
            "max_charge_kw": [10.0, 10.0, 10.0],
            "max_discharge_kw": [0.0, 0.0, 10.0],
            "charge_efficiency": [1.0, 1.0, 1.0],
            "discharge_efficiency": [1.0, 1.0, 1.0],
            "v2g": [False, False, True],
            "min_soc": [0.0, 0.0, c_min_soc],
        }
    )
    grid = TimeGrid(pd.Timestamp("2024-06-03 00:00", tz="UTC"), pd.Timestamp("2024-06-03 04:00", tz="UTC"), 60)
    return FleetOnGrid.from_sessions(sessions_from_frame(frame), grid, mode)  # type: ignore[arg-type]


# uncontrolled: A charges 10 kW in hour 0, B 10 kW in hours 1 and 2, C nothing
REFERENCE = np.array([10.0, 10.0, 10.0, 0.0])


def test_v1g_window_capability_by_hand() -> None:
    fleet = small_fleet("v1g")
    # hour 0: A can move its 10 kWh to hours 1-3 -> 10 kW down
    assert window_capability(fleet, REFERENCE, 0, 1).capability_kw == pytest.approx(10.0)
    # hours 1-2: B must charge 10 kW in both to get its 20 kWh -> nothing
    assert window_capability(fleet, REFERENCE, 1, 3).capability_kw == pytest.approx(0.0)
    # hour 3 up: A can charge 10 kW more (battery room), C 10 kW more -> 20 kW up
    assert window_capability(fleet, REFERENCE, 3, 4, "up").capability_kw == pytest.approx(20.0)


def test_v2g_window_capability_by_hand() -> None:
    fleet = small_fleet("v2g")
    # hour 0: A defers (10) and C discharges 10 kW -> 20 kW below the reference
    assert window_capability(fleet, REFERENCE, 0, 1).capability_kw == pytest.approx(20.0)
    # hours 0-1 held constant: hour 1 has B at 10 kW and C at -10 kW -> 10 kW below a 10 kW reference;
    # C discharges 20 kWh and recharges them in hours 2-3, so its need (back to 50 kWh) is kept
    assert window_capability(fleet, REFERENCE, 0, 2).capability_kw == pytest.approx(10.0)


def test_min_soc_limits_discharge() -> None:
    fleet = small_fleet("v2g", c_min_soc=0.45)
    # C may only go from 50 to 45 kWh: 5 kWh in hour 0 -> 10 + 5 = 15 kW
    assert window_capability(fleet, REFERENCE, 0, 1).capability_kw == pytest.approx(15.0)


def test_capability_checks_inputs() -> None:
    fleet = small_fleet()
    with pytest.raises(VgiError, match="reference"):
        window_capability(fleet, np.zeros(3), 0, 1)
    with pytest.raises(VgiError, match="outside the grid"):
        window_capability(fleet, REFERENCE, 3, 5)


def test_confidence_quantile() -> None:
    values = np.arange(1.0, 11.0)
    # 9 of 10 days reach 2; 8 of 10 reach 3; all reach 1
    assert confidence_quantile(values, 0.9) == 2.0
    assert confidence_quantile(values, 0.8) == 3.0
    assert confidence_quantile(values, 1.0) == 1.0
    assert confidence_quantile(values, 0.05) == 10.0
    with pytest.raises(VgiError):
        confidence_quantile(values, 0.0)


def behaviour_sessions() -> object:
    # vehicle v1: 13 h plug-ins on Jun 1, 3, 5 (never more than 2 days apart); v2: 13 h on Jun 1 only, then 2 h
    rows = [
        ("a", "v1", "2024-06-01T19:00:00+01:00", "2024-06-02T08:00:00+01:00", 20.0),
        ("b", "v1", "2024-06-03T19:00:00+01:00", "2024-06-04T08:00:00+01:00", 20.0),
        ("c", "v1", "2024-06-05T19:00:00+01:00", "2024-06-06T08:00:00+01:00", 20.0),
        ("d", "v2", "2024-06-01T19:00:00+01:00", "2024-06-02T08:00:00+01:00", 200.0),
        ("e", "v2", "2024-06-05T10:00:00+01:00", "2024-06-05T12:00:00+01:00", 150.0),
    ]
    frame = pd.DataFrame(rows, columns=["session_id", "vehicle_id", "arrival", "departure", "energy_kwh"])
    frame["charge_efficiency"] = 1.0
    frame["battery_kwh"] = 300.0
    frame["max_charge_kw"] = 100.0
    return sessions_from_frame(frame)


def test_plug_in_and_monthly_rules() -> None:
    s = behaviour_sessions()
    share, n = _plug_in_rule(s, 12.0, 3.0)  # type: ignore[arg-type]
    # v1 passes; v2's only 12 h plug-in is Jun 1 and the data runs to Jun 6 (gap > 3 days) -> 1 of 2
    assert (share, n) == (0.5, 2)
    share_m, top = _monthly_cap(s, 333.0, "Europe/London")  # type: ignore[arg-type]
    # June: v1 60 kWh, v2 350 kWh -> 1 of 2 vehicle-months under 333 kWh
    assert share_m == 0.5 and top == pytest.approx(350.0)


def test_yearly_discharge_estimate_by_hand() -> None:
    frame = pd.DataFrame(
        {
            "session_id": ["x"], "arrival": ["2024-06-03T18:00:00+08:00"], "departure": ["2024-06-04T06:00:00+08:00"],
            "energy_kwh": [10.0], "battery_kwh": [60.0], "initial_soc": [0.5], "min_soc": [0.2],
            "max_charge_kw": [7.0], "max_discharge_kw": [7.0], "v2g": [True],
            "charge_efficiency": [1.0], "discharge_efficiency": [1.0],
        }
    )
    s = sessions_from_frame(frame)
    # half the 12 h dwell = 6 h: 7 x 6 = 42 kWh by power; 30 - 12 = 18 kWh above the floor; 42 - 10 = 32 kWh of
    # recharge room -> 18 kWh; one day of data -> 18 x 365 = 6,570 kWh a year
    assert yearly_discharge_estimate_kwh(s, 1) == pytest.approx(18.0 * 365)


def daily_fleet() -> object:
    """Three cars every day Jun 3-12: plug in 18:00, leave 23:00, 7 kW, need 14 kWh (efficiency 1); cars v0 and
    v2 at site A, v1 at site B.  Uncontrolled, each draws 7 kW 18:00-20:00."""
    rows = []
    for day in range(3, 13):
        for i in range(3):
            rows.append({
                "session_id": f"{day}-{i}", "vehicle_id": f"v{i}", "site_id": "A" if i != 1 else "B",
                "arrival": f"2024-06-{day:02d}T18:00:00-07:00", "departure": f"2024-06-{day:02d}T23:00:00-07:00",
                "energy_kwh": 14.0, "battery_kwh": 60.0, "initial_soc": 0.3, "max_charge_kw": 7.0,
                "charge_efficiency": 1.0, "discharge_efficiency": 1.0,
            })
    return sessions_from_frame(pd.DataFrame(rows))


def test_assess_by_hand() -> None:
    prog = get_programme("caiso-dera")
    prog = prog.model_copy(update={"timing": prog.timing.model_copy(update={"call_windows": (
        ClockWindow(start="18:00", end="20:00"),)})})
    rep = assess(daily_fleet(), prog, confidence=0.9, thresholds_kw=(1000.0, 500.0, 10.0, 5.0))  # type: ignore[arg-type]
    # at 18:00 and 19:00 all three cars can stop (they finish by 23:00): 21 kW down every day
    down = rep.sizes[rep.sizes["direction"] == "down"]
    assert down["size_kw"].to_numpy() == pytest.approx([21.0, 21.0])
    assert rep.needed_size_kw["down"] == pytest.approx(21.0)
    assert rep.needed_size_kw["up"] == pytest.approx(0.0)  # already at full power then
    checks = {c.name: c for c in rep.checks}
    assert checks["size"].status == "fail"  # 21 kW < 100 kW
    assert checks["telemetry"].status == "pass"  # far below 10 MW
    assert checks["location"].status == "unknown"  # two sites, no zones given
    assert rep.qualifies is False
    # 3 vehicles -> 7 kW each: 100 kW needs ceil(100 / 7) = 15 vehicles, 1 MW 143, 500 kW 72
    assert rep.vehicles == 3 and rep.smallest_fleet_vehicles == 15
    th = rep.thresholds.set_index("threshold_kw")
    assert th.loc[1000.0, "vehicles_needed"] == 143 and th.loc[500.0, "vehicles_needed"] == 72
    # as separate aggregations: site A (2 cars, 14 kW) reaches 10 kW, site B (7 kW) only 5 kW
    assert th.loc[10.0, "sites_qualifying"] == 1 and th.loc[5.0, "sites_qualifying"] == 2
    ok = assess(daily_fleet(), prog, threshold_kw=20.0, metering_interval_minutes=15.0,  # type: ignore[arg-type]
                per_resource_metering=True, zones={"A": "SLAP_PGEB", "B": "SLAP_PGEB"}, site_analysis=False)
    assert ok.qualifies is True
    far = assess(daily_fleet(), prog, threshold_kw=20.0, metering_interval_minutes=15.0,  # type: ignore[arg-type]
                 per_resource_metering=True, zones={"A": "SLAP_PGEB", "B": "SLAP_SCEW"}, site_analysis=False)
    assert far.qualifies is False and {c.name: c for c in far.checks}["location"].status == "fail"


def test_assess_v2g_pilot_rules() -> None:
    rep = assess(daily_fleet(), "cn-v2g-pilot-2024", site_analysis=False)  # type: ignore[arg-type]
    checks = {c.name: c for c in rep.checks}
    assert checks["V2G"].status == "fail"
    assert checks["yearly discharge"].status == "fail"


def test_window_capability_against_the_flex_adjustable_potential() -> None:
    """vgi.flex's adjustable potential holds each car's deviation constant on its own (a deliverable lower bound);
    the window LP lets cars take turns, so it is never lower, and equal on the hand-worked fleet."""
    import datetime as dt

    from vgi.dr.fleetdays import day_fleet
    from vgi.flex.envelope import adjustable_potential
    from vgi.model.generator import generate_sessions

    for mode in ("v1g", "v2g"):
        fleet = small_fleet(mode)
        ap = adjustable_potential(fleet, 1.0)
        for k in range(4):
            assert window_capability(fleet, REFERENCE, k, k + 1, "down").capability_kw == pytest.approx(
                ap["down_kw"].iloc[k], abs=1e-6)
            assert window_capability(fleet, REFERENCE, k, k + 1, "up").capability_kw == pytest.approx(
                ap["up_kw"].iloc[k], abs=1e-6)
    s = generate_sessions(150, "home", seed=2, start_day="2024-06-03", n_days=2, timezone="UTC", v2g_share=0.5)
    day = day_fleet(s, dt.date(2024, 6, 4), "UTC", "v2g")
    ap = adjustable_potential(day.fleet, 1.0, day.reference_per_session_kw)
    steps = day.fleet.grid.step_of(pd.DatetimeIndex(ap["start"]))
    for k, (_, row) in list(zip(steps, ap.iterrows(), strict=True))[::5]:
        for direction, col in (("down", "down_kw"), ("up", "up_kw")):
            mine = window_capability(day.fleet, day.reference_kw, int(k), int(k) + 4, direction).capability_kw
            assert mine >= row[col] - 1e-6


def test_scenario_eligibility_uses_the_programme_local_day_and_call_windows() -> None:
    """A scenario labelled in UTC, sized for CAISO (call windows 16:00-21:00 America/Los_Angeles).

    Grid: 2024-06-03 07:00 - 2024-06-04 07:00 UTC, hourly: exactly Mon 3 June 00:00-24:00 PDT.  One V2G car plugged
    in 16:00-21:00 PDT (23:00-04:00 UTC) at 50 % of 100 kWh, 10 kW both ways, needing nothing: its uncontrolled
    power is 0, so in each one-hour window starting at 16, 17, 18, 19 or 20 PDT it can discharge 10 kW (down
    10 kW; 10 kWh is well above its 20 % floor).  Size at every needed hour: 10 kW, over one whole local day.
    (Read in UTC, the grid's only "whole" day would be the 7 hours of 4 June and its 16:00-21:00 would lie outside
    the grid: size 0.)
    """
    from vgi.dr.eligibility import scenario_eligibility
    from vgi.schedule.api import schedule
    from vgi.schedule.prices import PriceInputs

    frame = pd.DataFrame(
        {
            "session_id": ["V"], "arrival": ["2024-06-03T23:00:00+00:00"], "departure": ["2024-06-04T04:00:00+00:00"],
            "energy_kwh": [0.0], "battery_kwh": [100.0], "initial_soc": [0.5], "max_charge_kw": [10.0],
            "max_discharge_kw": [10.0], "charge_efficiency": [1.0], "discharge_efficiency": [1.0], "v2g": [True],
            "min_soc": [0.2],
        }
    )
    grid = TimeGrid(pd.Timestamp("2024-06-03 07:00", tz="UTC"), pd.Timestamp("2024-06-04 07:00", tz="UTC"), 60)
    fleet = FleetOnGrid.from_sessions(sessions_from_frame(frame), grid, "v2g")
    sched = schedule(fleet, "uncontrolled", PriceInputs.flat(grid.n_steps, 0.0))
    row = scenario_eligibility("caiso-dera", sched, grid, confidence=0.9)
    assert row["days"] == 1
    assert row["size_kw"] == pytest.approx(10.0)
    assert row["direction"] == "down"
