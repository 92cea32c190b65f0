"""FleetOnGrid.clip_power: the one clip of proposed powers to every per-session bound that strategies share."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from test_schedule_coupled import check_feasible
from test_schedule_exact import fleet_from_rows, random_fleet

CAR = {"battery_kwh": 20.0, "max_charge_kw": 10.0, "max_discharge_kw": 10.0, "v2g": True, "energy_kwh": 0.0,
       "charge_efficiency": 1.0, "discharge_efficiency": 1.0}


def test_hand_worked_bounds() -> None:
    # one hour steps; car a is there for 2.5 steps (half of step 2), car b charges into a nearly full battery and
    # car c discharges toward its floor (min SoC 0.5 of 20 kWh = 10 kWh, starting at 11 kWh)
    fleet = fleet_from_rows(
        [
            {"arr": 0, "dep": 2.5, "initial_soc": 0.5, **CAR},
            {"arr": 0, "dep": 3, "initial_soc": 0.95, **CAR},
            {"arr": 0, "dep": 3, "initial_soc": 0.55, "min_soc": 0.5, **CAR},
        ],
        3,
    )
    charge = np.array([[6.0, 12.0, 8.0], [0.5, 0.6, 0.0], [0.0, 0.0, 0.0]])
    discharge = np.array([[6.0, 0.0, 1.0], [0.0, 0.0, 0.0], [0.4, 0.8, 0.0]])
    c, d = fleet.clip_power(charge, discharge)
    assert d is not None
    # a: step 0 breaks time-sharing (6/10 + 6/10 > 1) with net 0: on the line at alpha 1/2, 5 kW each way;
    # step 1 is capped at 10 kW; step 2 is half a step (5 kW cap each way): 8 -> 5, then 5/5 + 1/5 > 1 with net
    # 4 kW: alpha = (4 + 5) / (5 + 5) = 0.9, so 4.5 kW in, 0.5 kW out.  Energy 10 -> 10 -> 20, and the battery
    # (20 kWh) is full after step 1, so step 2 keeps its discharge and charges only that back: 0.5 kW in.
    np.testing.assert_allclose(c[0], [5.0, 10.0, 0.5])
    np.testing.assert_allclose(d[0], [5.0, 0.0, 0.5])
    # b: 19 kWh + 0.5 -> 19.5, then only 0.5 of the 0.6 fits
    np.testing.assert_allclose(c[1], [0.5, 0.5, 0.0])
    # c: 11 kWh - 0.4 -> 10.6, then only 0.6 of the 0.8 down to the floor
    np.testing.assert_allclose(d[2], [0.4, 0.6, 0.0])
    # the proposal is not changed in place, and a feasible proposal comes back as it was
    assert charge[0, 1] == 12.0
    c2, d2 = fleet.clip_power(c, d)
    np.testing.assert_array_equal(c2, c)
    np.testing.assert_array_equal(d2, d)  # type: ignore[arg-type]
    check_feasible(fleet, c, d)


def test_hand_worked_time_sharing_with_losses_keeps_the_net_battery_change() -> None:
    fleet = fleet_from_rows([{"arr": 0, "dep": 1, "initial_soc": 0.5, **CAR, "charge_efficiency": 0.9,
                              "discharge_efficiency": 0.8}], 1)
    c, d = fleet.clip_power(np.array([[8.0]]), np.array([[6.0]]))
    assert d is not None
    # net battery change 0.9 * 8 - 6 / 0.8 = -0.3 kWh; on the line c = 10 a, d = 10 (1 - a):
    # 9 a - 12.5 (1 - a) = -0.3  ->  a = 12.2 / 21.5
    a = 12.2 / 21.5
    assert c[0, 0] == pytest.approx(10 * a)
    assert d[0, 0] == pytest.approx(10 * (1 - a))
    assert 0.9 * c[0, 0] - d[0, 0] / 0.8 == pytest.approx(-0.3)


def test_a_window_of_steps_from_an_energy_and_v1g() -> None:
    fleet = fleet_from_rows([{"arr": 0.5, "dep": 4, "initial_soc": 0.0, **CAR}], 4, mode="v1g")
    # steps 2 and 3 from 15 kWh: 5 kWh fit; v1g has no discharge at all
    c, d = fleet.clip_power(np.array([[10.0, 10.0]]), np.array([[3.0, 3.0]]), first_step=2,
                            e_start_kwh=np.array([15.0]))
    np.testing.assert_allclose(c, [[5.0, 0.0]])
    np.testing.assert_allclose(d, [[0.0, 0.0]])  # type: ignore[arg-type]
    # half of step 0, capped at 5 kW; e_cap stops at a target below the battery
    c, _ = fleet.clip_power(np.array([[9.0, 9.0, 9.0, 9.0]]), e_cap_kwh=np.array([12.0]))
    np.testing.assert_allclose(c, [[5.0, 7.0, 0.0, 0.0]])
    with pytest.raises(ValueError):
        fleet.clip_power(np.zeros((2, 4)))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**31 - 1), n=st.integers(1, 8), n_steps=st.integers(1, 10),
       mode=st.sampled_from(["v1g", "v2g"]))
def test_any_proposal_comes_back_within_every_bound(seed: int, n: int, n_steps: int, mode: str) -> None:
    rng = np.random.default_rng(seed)
    fleet = random_fleet(rng, n, n_steps, step_minutes=int(rng.choice([15, 60])), mode=mode)
    scale = float(rng.uniform(0, 40))
    charge = rng.uniform(-2, scale, (n, n_steps)) * (rng.random((n, n_steps)) < 0.7)
    discharge = rng.uniform(-2, scale, (n, n_steps)) * (rng.random((n, n_steps)) < 0.7)
    c, d = fleet.clip_power(charge, discharge)
    check_feasible(fleet, c, d, tol=1e-9)
    # the clip only ever lowers a power, and what already kept every bound stays as it was
    assert (c <= np.maximum(charge, 0) + 1e-12).all()
    assert d is not None and (d <= np.maximum(discharge, 0) + 1e-12).all()
    c2, d2 = fleet.clip_power(c, d)
    np.testing.assert_allclose(c2, c, atol=1e-12)
    np.testing.assert_allclose(d2, d, atol=1e-12)  # type: ignore[arg-type]
