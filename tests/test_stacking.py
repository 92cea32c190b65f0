"""Revenue stacking (direct V2G + capacity for a frequency service) against hand-worked cases.

One 10 kW / 40 kWh vehicle, two one-hour steps, energy bought and sold at 0.10 then 0.30 per kWh, efficiency 1,
full capacity sustainable for one hour, the car must end with at least the energy it started with.  With x kWh
bought in step 0 and y sold in step 1 (y <= x), capacity held is limited to 10 - x in step 0 (the car must be able
to import more) and 10 - y in step 1 (to export more).
"""

from __future__ import annotations

import numpy as np
import pytest

from vgi.errors import VgiError
from vgi.schedule.stacking import FrequencyService, StackingFleet, plan_stacked


def car(start_kwh: float) -> StackingFleet:
    return StackingFleet(
        charge_max_kw=np.array([10.0, 10.0]), discharge_max_kw=np.array([10.0, 10.0]),
        energy_min_kwh=np.array([0.0, 0.0]), energy_max_kwh=np.array([40.0, 40.0]),
        energy_start_kwh=start_kwh, energy_end_min_kwh=start_kwh, step_hours=1.0,
    )


BUY = np.array([0.10, 0.30])
SELL = np.array([0.10, 0.30])


def test_energy_only_is_arbitrage() -> None:
    # buy 10 kWh at 0.10, sell 10 at 0.30: 3.0 - 1.0 = 2.0
    plan = plan_stacked(car(20.0), BUY, SELL)
    assert plan.total == pytest.approx(2.0)
    assert plan.energy_cost == pytest.approx(1.0) and plan.export_revenue == pytest.approx(3.0)
    assert plan.capacity_revenue == 0.0 and plan.capacity_kw.sum() == 0.0


def test_cheap_capacity_loses_to_arbitrage() -> None:
    # profit = 0.2 x + 0.05 (20 - 2 x) = 1 + 0.1 x  -> x = 10: the arbitrage plan, no capacity held
    plan = plan_stacked(car(20.0), BUY, SELL, FrequencyService("GB dynamic regulation", 0.05, 1.0))
    assert plan.total == pytest.approx(2.0)
    assert plan.capacity_revenue == pytest.approx(0.0, abs=1e-9)


def test_dear_capacity_wins_over_arbitrage() -> None:
    # profit = 0.2 x + 0.15 (20 - 2 x) = 3 - 0.1 x  -> x = 0: 10 kW held in both hours, 20 kW-h x 0.15 = 3.0
    plan = plan_stacked(car(20.0), BUY, SELL, FrequencyService("CN frequency regulation", 0.15, 1.0))
    assert plan.total == pytest.approx(3.0)
    assert plan.capacity_kw == pytest.approx([10.0, 10.0])
    assert plan.energy_cost == pytest.approx(0.0, abs=1e-9) and plan.export_revenue == pytest.approx(0.0, abs=1e-9)
    assert plan.streams()["capacity (CN frequency regulation)"] == pytest.approx(3.0)


def test_an_almost_empty_car_stacks_both_streams() -> None:
    # 5 kWh at the start: capacity in step 0 is also limited by the energy (5 kWh for 1 h -> 5 kW); buying x and
    # selling y <= x allows r0 = min(5, 10 - x), r1 = min(10 - y, 5 + x - y).  Trying the corners, x = y = 5 is best:
    # -0.5 + 1.5 + 0.15 x (5 + 5) = 2.5  (x = y = 10 gives 2.0, x = 5 and y = 0 gives 1.75, x = y = 4 gives 2.3)
    plan = plan_stacked(car(5.0), BUY, SELL, FrequencyService("GB dynamic containment", 0.15, 1.0))
    assert plan.total == pytest.approx(2.5)
    assert plan.energy_cost == pytest.approx(0.5)
    assert plan.export_revenue == pytest.approx(1.5)
    assert plan.capacity_revenue == pytest.approx(1.5)
    assert plan.energy_kwh[-1] >= 5.0 - 1e-9
    s = plan.streams()
    assert s["total"] == pytest.approx(s["energy bought"] + s["energy sold"] + s["capacity (GB dynamic containment)"]
                                       + s["battery wear"])


def test_wear_is_a_stream_of_its_own() -> None:
    # wear 0.05 per kWh discharged: arbitrage 10 kWh earns 2.0 - 0.5 = 1.5
    plan = plan_stacked(car(20.0), BUY, SELL, wear_cost_per_kwh=0.05)
    assert plan.wear_cost == pytest.approx(0.5) and plan.total == pytest.approx(1.5)


def test_bad_inputs() -> None:
    with pytest.raises(VgiError, match="has 3 values for 2 steps"):
        plan_stacked(car(20.0), np.array([0.1, 0.2, 0.3]), SELL)
    impossible = StackingFleet(np.array([1.0]), np.array([1.0]), np.array([0.0]), np.array([40.0]), 0.0, 30.0, 1.0)
    with pytest.raises(VgiError, match="no stacked plan"):
        plan_stacked(impossible, np.array([0.1]), np.array([0.1]))
    above = StackingFleet(np.array([1.0]), np.array([1.0]), np.array([0.0]), np.array([20.0]), 0.0, 30.0, 1.0)
    with pytest.raises(VgiError, match="above the fleet's energy band"):
        plan_stacked(above, np.array([0.1]), np.array([0.1]))
