"""Sessions mapped onto a time grid: steps, partial steps, limits, sessions outside the grid."""

import numpy as np
import pandas as pd
import pytest

from vgi.model.sessions import sessions_from_frame
from vgi.model.timegrid import TimeGrid
from vgi.schedule.problem import FleetOnGrid, Schedule


def _fleet(mode: str = "v2g") -> FleetOnGrid:
    frame = pd.DataFrame(
        {
            "session_id": ["partial", "short", "before", "outside"],
            "arrival": ["2024-06-01T08:10+08:00", "2024-06-01T09:00+08:00", "2024-05-31T20:00+08:00",
                        "2024-05-01T00:00+08:00"],
            "departure": ["2024-06-01T09:05+08:00", "2024-06-01T09:10+08:00", "2024-06-01T01:00+08:00",
                          "2024-05-02T00:00+08:00"],
            "energy_kwh": [5.0, 50.0, 2.0, 1.0],
            "battery_kwh": [60.0, 60.0, 60.0, 60.0],
            "initial_soc": [0.5, 0.5, 0.3, 0.5],
            "min_soc": [0.3, 0.0, 0.4, 0.0],
            "max_charge_kw": [7.2, 7.2, 7.2, 7.2],
            "max_discharge_kw": [7.0, 7.0, 7.0, 0.0],
            "v2g": [True, False, True, True],
        }
    )
    grid = TimeGrid.local_days("2024-06-01", 1, 15, "Asia/Shanghai")
    return FleetOnGrid.from_sessions(sessions_from_frame(frame), grid, mode)  # type: ignore[arg-type]


def test_steps_and_fractions() -> None:
    fleet = _fleet()
    # 08:10 is 10 min into step 32 (08:00); 09:05 is 5 min into step 36 (09:00)
    assert fleet.start.tolist()[:3] == [32, 36, 0]
    assert fleet.stop.tolist()[:3] == [37, 37, 4]
    assert fleet.first_fraction[0] == pytest.approx(5 / 15)
    assert fleet.last_fraction[0] == pytest.approx(5 / 15)
    assert fleet.first_fraction[1] == pytest.approx(10 / 15)  # one step, 10 of 15 minutes
    assert fleet.start[3] == fleet.stop[3]  # outside the grid: kept, no steps


def test_limits_and_energies() -> None:
    fleet = _fleet()
    limit = fleet.charge_limit_kw()
    assert limit[0, 32] == pytest.approx(7.2 * 5 / 15)
    assert limit[0, 33] == pytest.approx(7.2)
    assert limit[1].sum() == pytest.approx(7.2 * 10 / 15)
    # consent off -> no discharge; v2g on -> discharge limit
    assert fleet.max_discharge_kw.tolist() == [7.0, 0.0, 7.0, 0.0]
    # floor = min(min_soc, initial_soc) x battery
    assert fleet.e_floor_kwh.tolist() == pytest.approx([18.0, 0.0, 18.0, 0.0])
    # deliverable: 'partial' has 55 min plugged in -> 7.2 x 0.95 x 55/60
    assert fleet.deliverable_kwh[0] == pytest.approx(7.2 * 0.95 * 55 / 60)
    # the need (50 kWh) is not capped by the battery headroom (30 kWh): the shortfall counts all of it
    assert fleet.shortfall_kwh[1] == pytest.approx(50 - 7.2 * 0.95 * 10 / 60)
    assert fleet.shortfall_kwh[3] == pytest.approx(1.0)


def test_v1g_mode_has_no_discharge() -> None:
    assert not _fleet("v1g").max_discharge_kw.any()


def test_schedule_energy_accounting() -> None:
    fleet = _fleet()
    charge = np.zeros((4, fleet.n_steps))
    discharge = np.zeros_like(charge)
    charge[0, 33] = 4.0
    discharge[0, 34] = 1.9
    sched = Schedule(fleet, "hand", charge, discharge)
    # battery: +4 x 0.95 x 0.25 - 1.9 / 0.95 x 0.25 = 0.95 - 0.5 = 0.45 kWh
    assert sched.delivered_kwh()[0] == pytest.approx(0.45)
    assert sched.battery_energy_kwh()[0, -1] == pytest.approx(30.45)
    assert sched.aggregate_kw[33] == pytest.approx(4.0) and sched.aggregate_kw[34] == pytest.approx(-1.9)
