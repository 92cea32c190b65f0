"""Flexibility envelopes and adjustable potential: containment, tightness, hand cases and an LP oracle."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import linprog

from test_schedule_exact import fleet_from_rows, random_fleet, random_prices
from vgi.errors import VgiError
from vgi.flex.envelope import adjustable_potential, feasible_need_kwh, fleet_envelope, session_envelope
from vgi.schedule import exact
from vgi.schedule.lp import solve_lp
from vgi.schedule.prices import PriceInputs
from vgi.schedule.problem import FleetOnGrid
from vgi.schedule.uncontrolled import uncontrolled_charge_kw

CAR = {"battery_kwh": 50, "initial_soc": 0.2, "max_charge_kw": 10, "charge_efficiency": 1,
       "discharge_efficiency": 1}


def _energy(fleet: FleetOnGrid, charge: np.ndarray, discharge: np.ndarray | None) -> np.ndarray:
    d = np.zeros_like(charge) if discharge is None else discharge
    gain = (charge * fleet.charge_efficiency[:, None] - d / fleet.discharge_efficiency[:, None]) * fleet.step_hours
    return fleet.e_init_kwh[:, None] + np.cumsum(gain, axis=1)


@pytest.mark.parametrize("mode", ["v1g", "v2g"])
def test_envelope_contains_every_schedule_that_meets_the_needs(mode: str) -> None:
    for seed in range(6):
        rng = np.random.default_rng(seed)
        fleet = random_fleet(rng, 25, 16, mode=mode)
        env = session_envelope(fleet)
        buy, sell = random_prices(rng, 16, seed)
        schedules = [
            exact.price_response(fleet, buy, sell, wear_cost_per_kwh=0.05),
            solve_lp(fleet, PriceInputs(-buy, sell)),
        ]
        trajectories = [_energy(fleet, s.charge_kw, s.discharge_kw) for s in schedules]
        charge, _ = uncontrolled_charge_kw(fleet)
        trajectories.append(_energy(fleet, charge, None))
        for e in trajectories:
            assert (e >= env.energy_min_kwh - 1e-7).all()
            assert (e <= env.energy_max_kwh + 1e-7).all()
        for s in schedules:
            net = s.charge_kw - (s.discharge_kw if s.discharge_kw is not None else 0.0)
            assert (net >= env.power_min_kw - 1e-9).all() and (net <= env.power_max_kw + 1e-9).all()


def test_envelope_bounds_are_reached() -> None:
    # the upper bound is full-power charging; the lower bound at each step is what an LP minimising that
    # step's energy (while meeting the need) reaches
    rng = np.random.default_rng(11)
    fleet = random_fleet(rng, 6, 8, mode="v2g")
    env = session_envelope(fleet)
    full = fleet.charge_limit_kw()
    # full power, stopping at a full battery
    e = fleet.e_init_kwh.copy()
    for t in range(fleet.n_steps):
        e = np.minimum(fleet.e_max_kwh, e + full[:, t] * fleet.charge_efficiency * fleet.step_hours)
        np.testing.assert_allclose(e, env.energy_max_kwh[:, t], atol=1e-9)
    need = feasible_need_kwh(fleet)
    for i in range(len(fleet)):
        for t in range(fleet.n_steps):
            assert _min_energy_lp(fleet, i, t, need[i]) == pytest.approx(env.energy_min_kwh[i, t], abs=1e-6)


def _min_energy_lp(fleet: FleetOnGrid, i: int, t_query: int, need: float) -> float:
    """Least battery energy of session ``i`` at the end of step ``t_query`` with its need met (scipy LP)."""
    n = fleet.n_steps
    dt = fleet.step_hours
    c_lim = fleet.charge_limit_kw(np.array([i]))[0]
    d_lim = fleet.discharge_limit_kw(np.array([i]))[0]
    eta_c, eta_d = fleet.charge_efficiency[i], fleet.discharge_efficiency[i]
    # variables: c (n), d (n); e_t = e0 + sum_{s<=t} (eta_c c - d / eta_d) dt
    low = np.tril(np.ones((n, n)))
    a_gain = np.hstack([low * eta_c * dt, -low / eta_d * dt])
    e0 = fleet.e_init_kwh[i]
    inside = (np.arange(n) >= fleet.start[i]) & (np.arange(n) < fleet.stop[i])
    a_ub = np.vstack([a_gain[inside], -a_gain[inside], -a_gain[-1:]])
    b_ub = np.concatenate([np.full(inside.sum(), fleet.e_max_kwh[i] - e0),
                           np.full(inside.sum(), e0 - fleet.e_floor_kwh[i]), [e0 - need]])
    bounds = [(0, c) for c in c_lim] + [(0, d) for d in d_lim]
    res = linprog(a_gain[t_query], A_ub=a_ub, b_ub=b_ub, bounds=bounds, method="highs")
    assert res.status == 0
    return float(e0 + res.fun)


def test_fleet_envelope_is_the_sum_of_the_sessions() -> None:
    rng = np.random.default_rng(2)
    fleet = random_fleet(rng, 30, 12, mode="v2g")
    env = session_envelope(fleet)
    agg = fleet_envelope(fleet)
    np.testing.assert_allclose(agg.power_max_kw, env.power_max_kw.sum(axis=0))
    np.testing.assert_allclose(agg.power_min_kw, env.power_min_kw.sum(axis=0))
    np.testing.assert_allclose(agg.energy_min_kwh, (env.energy_min_kwh - fleet.e_init_kwh[:, None]).sum(axis=0))
    np.testing.assert_allclose(agg.energy_max_kwh, (env.energy_max_kwh - fleet.e_init_kwh[:, None]).sum(axis=0))
    assert agg.to_frame().shape == (12, 5)
    assert (agg.energy_min_kwh <= agg.energy_max_kwh + 1e-9).all()


def test_potential_by_hand() -> None:
    # one car plugged in for 4 hours, 10 kW, needs 10 kWh (battery 50 at 10 kWh), no losses.
    # Uncontrolled: 10, 0, 0, 0.  Hour 0: it can stop (down 10) but not charge more (up 0).
    # Hour 1: it cannot charge less than 0 (down 0) but can charge 10 more (up 10).
    fleet = fleet_from_rows([{"arr": 0, "dep": 4, "energy_kwh": 10, **CAR}], 4, mode="v1g")
    pot = adjustable_potential(fleet, 1.0)
    assert pot["down_kw"].tolist() == pytest.approx([10, 0, 0, 0], abs=1e-8)
    assert pot["up_kw"].tolist() == pytest.approx([0, 10, 10, 10], abs=1e-8)
    assert pot["sessions"].tolist() == [1, 1, 1, 1]
    # for 2 hours from hour 0: holding 10 kW below a baseline of (10, 0) would need -10 kW in hour 1: 0
    pot2 = adjustable_potential(fleet, 2.0)
    assert len(pot2) == 3
    assert pot2["down_kw"].tolist()[0] == pytest.approx(0.0, abs=1e-8)
    # V2G (10 kW discharge, floor 0): in hour 1 it can export 10 kW and still reach its need later
    v2g = fleet_from_rows([{"arr": 0, "dep": 4, "energy_kwh": 10, "max_discharge_kw": 10, "v2g": True, **CAR}],
                          4, mode="v2g")
    pot = adjustable_potential(v2g, 1.0)
    assert pot["down_kw"].tolist() == pytest.approx([20, 10, 10, 10], abs=1e-8)
    # the need binds: from hour 3 a car that must still get 10 kWh in the last hour cannot stop
    late = fleet_from_rows([{"arr": 0, "dep": 4, "energy_kwh": 40, **CAR}], 4, mode="v1g")
    pot = adjustable_potential(late, 1.0)
    assert pot["down_kw"].tolist() == pytest.approx([0, 0, 0, 0], abs=1e-8)


def test_potential_equals_a_per_session_lp_and_bounds_the_fleet_lp() -> None:
    rng = np.random.default_rng(4)
    fleet = random_fleet(rng, 8, 8, step_minutes=60, mode="v2g")
    baseline, _ = uncontrolled_charge_kw(fleet)
    pot = adjustable_potential(fleet, 2.0)
    for row in pot.itertuples():
        k0 = int(np.flatnonzero(fleet.grid.local_index == row.start)[0])
        k1 = k0 + 2
        covering = np.flatnonzero((fleet.start <= k0) & (fleet.stop >= k1))
        per_session = {"down": 0.0, "up": 0.0}
        for direction in ("down", "up"):
            for i in covering:
                per_session[direction] += _potential_lp(fleet, [i], baseline, k0, k1, direction)
            fleet_best = _potential_lp(fleet, list(range(len(fleet))), baseline, k0, k1, direction)
            assert per_session[direction] <= fleet_best + 1e-6
        assert row.down_kw == pytest.approx(per_session["down"], abs=1e-6)
        assert row.up_kw == pytest.approx(per_session["up"], abs=1e-6)


def _potential_lp(fleet: FleetOnGrid, rows: list[int], baseline: np.ndarray, k0: int, k1: int,
                  direction: str) -> float:
    """Largest constant deviation r of the summed load of ``rows`` from their baseline over [k0, k1) (scipy).

    The baseline here is never negative, so raising the load needs no discharge inside the window.
    """
    n = fleet.n_steps
    dt = fleet.step_hours
    m = len(rows)
    nv = 2 * n * m + 1  # c, d per session and step, then r
    need = feasible_need_kwh(fleet)
    a_ub, b_ub = [], []
    bounds: list[tuple[float, float | None]] = []
    low = np.tril(np.ones((n, n)))
    for i in rows:
        c_lim = fleet.charge_limit_kw(np.array([i]))[0]
        d_lim = fleet.discharge_limit_kw(np.array([i]))[0].copy()
        if direction == "up":
            d_lim[k0:k1] = 0.0  # no charging and discharging at once to absorb more through the losses
        bounds += [(0, c) for c in c_lim]
        bounds += [(0, d) for d in d_lim]
    bounds.append((0, None))
    for j, i in enumerate(rows):
        gain = np.zeros((n, nv))
        gain[:, 2 * n * j: 2 * n * j + n] = low * fleet.charge_efficiency[i] * dt
        gain[:, 2 * n * j + n: 2 * n * (j + 1)] = -low / fleet.discharge_efficiency[i] * dt
        e0 = fleet.e_init_kwh[i]
        inside = (np.arange(n) >= fleet.start[i]) & (np.arange(n) < fleet.stop[i])
        a_ub += list(gain[inside]) + list(-gain[inside]) + [-gain[-1]]
        b_ub += [fleet.e_max_kwh[i] - e0] * int(inside.sum()) + [e0 - fleet.e_floor_kwh[i]] * int(inside.sum())
        b_ub += [e0 - need[i]]
    sign = 1.0 if direction == "down" else -1.0
    for t in range(k0, k1):
        row = np.zeros(nv)
        for j in range(m):
            row[2 * n * j + t] = sign
            row[2 * n * j + n + t] = -sign
        row[-1] = 1.0
        a_ub.append(row)
        b_ub.append(sign * baseline[rows, t].sum())
    cost = np.zeros(nv)
    cost[-1] = -1.0
    res = linprog(cost, A_ub=np.array(a_ub), b_ub=np.array(b_ub), bounds=bounds, method="highs")
    assert res.status == 0
    return float(-res.fun)


def test_potential_input_errors() -> None:
    fleet = fleet_from_rows([{"arr": 0, "dep": 4, "energy_kwh": 10, **CAR}], 4, mode="v1g")
    with pytest.raises(VgiError, match="whole number"):
        adjustable_potential(fleet, 0.5)
    with pytest.raises(VgiError, match="baseline"):
        adjustable_potential(fleet, 1.0, baseline_kw=np.zeros((2, 4)))


def test_potential_on_daylight_saving_days() -> None:
    from vgi.model.generator import generate_sessions
    from vgi.model.timegrid import TimeGrid

    for day, hours in (("2024-03-31", 23), ("2024-10-27", 25)):
        grid = TimeGrid.local_days(day, 1, 15, "Europe/London")
        sessions = generate_sessions(30, "home", seed=5, start_day=day, n_days=1, timezone="Europe/London",
                                     v2g_share=0.5)
        fleet = FleetOnGrid.from_sessions(sessions, grid, "v2g")
        pot = adjustable_potential(fleet, 1.0)
        assert len(pot) == hours
        assert (pot["down_kw"] >= 0).all() and (pot["up_kw"] >= 0).all()
        env = fleet_envelope(fleet)
        assert len(env.power_max_kw) == grid.n_steps
