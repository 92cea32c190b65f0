"""Exact per-EV price response: hand-worked cases, and the LP as the oracle on random instances.

Helpers here (``random_fleet``, ``fleet_from_rows``, ``check_schedule``) are imported by the other scheduling tests.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vgi.model.sessions import sessions_from_frame
from vgi.model.timegrid import TimeGrid
from vgi.schedule import exact
from vgi.schedule.lp import solve_lp
from vgi.schedule.options import ScheduleOptions
from vgi.schedule.prices import PriceInputs
from vgi.schedule.problem import FleetOnGrid

T0 = pd.Timestamp("2024-06-03T00:00Z")


def fleet_from_rows(rows: list[dict], n_steps: int, step_minutes: int = 60, mode: str = "v2g") -> FleetOnGrid:
    """A fleet on a UTC grid of ``n_steps`` from rows with ``arr``/``dep`` given in steps (floats)."""
    frame = pd.DataFrame(rows)
    frame["session_id"] = [f"s{i}" for i in range(len(frame))]
    frame["arrival"] = T0 + pd.to_timedelta(frame.pop("arr") * step_minutes, unit="min")
    frame["departure"] = T0 + pd.to_timedelta(frame.pop("dep") * step_minutes, unit="min")
    grid = TimeGrid(T0, T0 + pd.Timedelta(minutes=step_minutes * n_steps), step_minutes)
    return FleetOnGrid.from_sessions(sessions_from_frame(frame), grid, mode)  # type: ignore[arg-type]


def random_fleet(rng: np.random.Generator, n: int, n_steps: int, step_minutes: int = 15, mode: str = "v2g"):
    """Random sessions: partial steps, some outside the grid, any SoC, efficiency, power, consent, min SoC."""
    arr = rng.uniform(-2, n_steps, n)
    dur = rng.uniform(0.05, n_steps, n)
    rows = []
    for i in range(n):
        rows.append(
            {
                "arr": arr[i],
                "dep": arr[i] + dur[i],
                "energy_kwh": rng.uniform(0, 30),
                "battery_kwh": rng.uniform(5, 40),
                "initial_soc": rng.uniform(0, 1),
                "min_soc": rng.uniform(0, 1) * (rng.random() < 0.5),
                "max_charge_kw": rng.uniform(0, 20) * (rng.random() > 0.05),
                "max_discharge_kw": rng.uniform(0, 20),
                "v2g": bool(rng.random() < 0.7),
                "charge_efficiency": rng.uniform(0.7, 1.0),
                "discharge_efficiency": rng.uniform(0.7, 1.0),
            }
        )
    return fleet_from_rows(rows, n_steps, step_minutes, mode)


def random_prices(rng: np.random.Generator, n_steps: int, kind: int) -> tuple[np.ndarray, np.ndarray]:
    """Prices of several kinds: ties (rounded), negative, export above import, export zero; kinds 6 and 7 are
    tariff-like (three import levels, export from three other levels or zero, often above import: the exact
    method's layout by distinct prices, with steps that time-share)."""
    if kind >= 6:
        levels = rng.normal(0.5, 0.6, 3)
        buy = rng.choice(levels, n_steps)
        sell = rng.choice(np.r_[rng.normal(0.6, 0.6, 3), 0.0], n_steps)
        return buy, sell
    buy = rng.normal(1.0, 1.0, n_steps)
    if kind % 2:
        buy = np.round(buy, 1)  # many ties
    if kind % 3 == 0:
        sell = buy + rng.normal(0.0, 0.3, n_steps)  # export sometimes above import
    elif kind % 3 == 1:
        sell = buy * rng.uniform(0.3, 1.0)
    else:
        sell = np.zeros(n_steps)
    return buy, sell


def check_schedule(fleet: FleetOnGrid, charge: np.ndarray, discharge: np.ndarray | None, unmet: np.ndarray,
                   tol: float = 1e-7) -> None:
    """Every session keeps its power, window and SoC limits; unmet is what is short; feasible needs are met."""
    dt = fleet.step_hours
    climit = fleet.charge_limit_kw()
    dlimit = fleet.discharge_limit_kw()
    d = np.zeros_like(charge) if discharge is None else discharge
    assert (charge >= -tol).all() and (charge <= climit + tol).all()
    assert (d >= -tol).all() and (d <= dlimit + tol).all()
    check_time_sharing(fleet, charge, discharge)
    gain = (charge * fleet.charge_efficiency[:, None] - d / fleet.discharge_efficiency[:, None]) * dt
    energy = fleet.e_init_kwh[:, None] + np.cumsum(gain, axis=1)
    t = np.arange(fleet.n_steps)
    inside = (t[None, :] >= fleet.start[:, None]) & (t[None, :] < fleet.stop[:, None])
    scale = 1.0 + fleet.e_max_kwh[:, None]
    assert (energy >= fleet.e_floor_kwh[:, None] - tol * scale)[inside].all()
    assert (energy <= fleet.e_max_kwh[:, None] + tol * scale)[inside].all()
    final = energy[:, -1] if fleet.n_steps else fleet.e_init_kwh
    short = np.maximum(fleet.e_need_kwh - final, 0.0)
    assert (np.abs(unmet - short) <= 1e-6 * scale[:, 0]).all(), (unmet, short)
    # a need that can be met is met
    assert (np.abs(unmet - fleet.shortfall_kwh) <= 1e-6 * scale[:, 0]).all(), (unmet, fleet.shortfall_kwh)


def check_time_sharing(fleet: FleetOnGrid, charge: np.ndarray, discharge: np.ndarray | None,
                       tol: float = 1e-9) -> None:
    """Within a step a session charges at full power for part of it and discharges for the rest, never both at
    full at once: ``c / Cmax + d / Dmax <= 1`` on every step (limits with the share of the step plugged in)."""
    if discharge is None:
        return
    climit = fleet.charge_limit_kw()
    dlimit = fleet.discharge_limit_kw()
    both = (climit > 0) & (dlimit > 0)
    used = charge[both] / climit[both] + discharge[both] / dlimit[both]
    assert (used <= 1.0 + tol).all(), used.max()


def assert_close(a: float, b: float, rel: float = 1e-9) -> None:
    assert abs(a - b) <= rel * max(1.0, abs(a), abs(b)), (a, b, abs(a - b))


# ------------------------------------------------------------------------------------------------------------
# hand-worked cases
# ------------------------------------------------------------------------------------------------------------

def test_v1g_fills_the_cheapest_steps() -> None:
    # one car, 4 hourly steps at prices 3, 1, 2, 1; 4 kW, efficiency 1, needs 6 kWh:
    # it charges 4 kWh in step 1 (price 1, the earlier tie) and 2 kWh in step 3 (price 1): cost 6.
    fleet = fleet_from_rows(
        [{"arr": 0, "dep": 4, "energy_kwh": 6, "battery_kwh": 50, "initial_soc": 0.2, "max_charge_kw": 4,
          "charge_efficiency": 1, "discharge_efficiency": 1}], 4, mode="v1g")
    res = exact.price_response(fleet, np.array([3.0, 1.0, 2.0, 1.0]))
    np.testing.assert_allclose(res.charge_kw, [[0, 4, 0, 2]])
    assert res.discharge_kw is None
    assert res.objective == pytest.approx(6.0)
    assert res.unmet_kwh[0] == 0


def test_v2g_arbitrage_with_losses_and_wear() -> None:
    # one car, 3 hourly steps, buy 1, 5, 1.5 and sell = buy; 10 kW both ways, 90 % each way, wear 0.5 per kWh.
    # Need: nothing above the 30 kWh it arrives with (battery 60, floor 0).
    # A battery kWh discharged in step 1 earns 5 * 0.9 - 0.5 = 4.0; one charged costs 1/0.9 in step 0 and
    # 1.5/0.9 in step 2, so: step 0 charges 10 kW (+9 kWh, cost 10), step 1 discharges 10 kW (-11.11 kWh,
    # earns 50, wear 5.56), step 2 charges back the 2.11 kWh missing: 2.11 / 0.9 = 2.346 kW, cost 3.52.
    # Total 10 - 50 + 5.556 + 3.519 = -30.926.
    fleet = fleet_from_rows(
        [{"arr": 0, "dep": 3, "energy_kwh": 0, "battery_kwh": 60, "initial_soc": 0.5, "max_charge_kw": 10,
          "max_discharge_kw": 10, "v2g": True, "charge_efficiency": 0.9, "discharge_efficiency": 0.9}], 3)
    buy = np.array([1.0, 5.0, 1.5])
    res = exact.price_response(fleet, buy, buy, wear_cost_per_kwh=0.5)
    y = 10 / 0.9
    c2 = (y - 9) / 0.9
    np.testing.assert_allclose(res.charge_kw, [[10, 0, c2]], atol=1e-12)
    assert res.discharge_kw is not None
    np.testing.assert_allclose(res.discharge_kw, [[0, 10, 0]], atol=1e-12)
    assert res.objective == pytest.approx(10 - 50 + 0.5 * y + 1.5 * c2)
    lp = solve_lp(fleet, PriceInputs(buy, buy), ScheduleOptions(wear_cost_per_kwh=0.5))
    assert_close(res.objective, float(lp.stats["objective"]))


def test_battery_bound_limits_arbitrage() -> None:
    # storage limit: battery 10 kWh, at 8 kWh, floor 0; buy 1 then sell 4; 10 kW, efficiency 1; it must leave
    # with the 8 kWh it came with.  Without the battery bound it would buy 10 kWh and sell them (-30); the
    # bound lets it add 2 kWh in step 0 (battery full) and sell those 2 in step 1: 2 - 8 = -6.
    fleet = fleet_from_rows(
        [{"arr": 0, "dep": 2, "energy_kwh": 0, "battery_kwh": 10, "initial_soc": 0.8, "max_charge_kw": 10,
          "max_discharge_kw": 10, "v2g": True, "charge_efficiency": 1, "discharge_efficiency": 1}], 2)
    res = exact.price_response(fleet, np.array([1.0, 4.0]), np.array([1.0, 4.0]))
    np.testing.assert_allclose(res.charge_kw, [[2, 0]])
    assert res.discharge_kw is not None
    np.testing.assert_allclose(res.discharge_kw, [[0, 2]])
    assert res.objective == pytest.approx(-6.0)


def test_export_above_import_time_shares_within_the_step() -> None:
    # one hourly step, 10 kW both ways, 90 % each way, buy 0.10, sell 0.30, no wear; battery 40 kWh at 20, it
    # must leave with at least the 20 kWh it came with (energy 0), so the net battery change k is >= 0.
    # Battery side: charging costs a = 0.10 / 0.9 = 1/9 per kWh gained, up to X = 0.9 * 10 = 9 kWh; discharging
    # earns b = 0.30 * 0.9 = 0.27 per kWh removed, up to Y = 10 / 0.9 = 100/9 kWh.  b > a: cycling pays.
    # Time-sharing (alpha of the hour charging at 10 kW, the rest discharging at 10 kW) makes the step's cost
    # c0 + s k on [-Y, X], with s = (a X + b Y) / (X + Y) = (1 + 3) / (181/9) = 36/181 and the cycling profit
    # c0 = X Y (a - b) / (X + Y) = 100 * (1/9 - 0.27) / (181/9) = -143/181 = -0.79006.
    # s > 0 and k >= 0, so k = 0: alpha = Y / (X + Y) = 100/181, c = 1000/181 = 5.525 kW, d = 810/181 =
    # 4.475 kW; check: 0.10 * 1000/181 - 0.30 * 810/181 = (100 - 243)/181 = -143/181, and the battery gains
    # 0.9 * 1000/181 - (810/181) / 0.9 = 0.  (Both at full power at once, c = 10 kW and d = 8.1 kW, would earn
    # 1.43 but needs c/Cmax + d/Dmax = 1.81 > 1: not possible within one hour.)
    fleet = fleet_from_rows(
        [{"arr": 0, "dep": 1, "energy_kwh": 0, "battery_kwh": 40, "initial_soc": 0.5, "max_charge_kw": 10,
          "max_discharge_kw": 10, "v2g": True, "charge_efficiency": 0.9, "discharge_efficiency": 0.9}], 1)
    buy, sell = np.array([0.10]), np.array([0.30])
    for backend in ("auto", "numpy"):
        res = exact.price_response(fleet, buy, sell, backend=backend)
        assert res.objective == pytest.approx(-143 / 181, rel=1e-12)
        np.testing.assert_allclose(res.charge_kw, [[1000 / 181]], rtol=1e-12)
        assert res.discharge_kw is not None
        np.testing.assert_allclose(res.discharge_kw, [[810 / 181]], rtol=1e-12)
        assert res.unmet_kwh[0] == pytest.approx(0.0, abs=1e-12)
    lp = solve_lp(fleet, PriceInputs(buy, sell))
    assert_close(float(lp.stats["objective"]), -143 / 181)
    assert lp.discharge_kw is not None
    assert lp.charge_kw[0, 0] / 10 + lp.discharge_kw[0, 0] / 10 <= 1 + 1e-9
    check_schedule(fleet, res.charge_kw, res.discharge_kw, res.unmet_kwh)


def test_time_sharing_step_before_a_dearer_one() -> None:
    # as above, but 4 kWh of room left in the battery (40 kWh at 36) and a second hour at buy = sell = 1.0.
    # Hour 1 pays b = 0.9 per battery kWh discharged, above hour 0's s = 36/181 = 0.199: hour 0 fills the
    # battery (k0 = 4, its bound), hour 1 sells those 4 kWh back (k1 = -4: the car leaves with its 36 kWh).
    # Hour 0: alpha = (k0 + Y) / (X + Y) = (4 + 100/9) / (181/9) = 136/181: c = 1360/181 = 7.514 kW,
    # d = 10 * 45/181 = 450/181 = 2.486 kW, cost c0 + s k0 = (-143 + 144)/181 = 1/181
    # (= 0.10 * 1360/181 - 0.30 * 450/181 = (136 - 135)/181).  Hour 1: d = 4 * 0.9 = 3.6 kW, earns 3.6.
    # Total 1/181 - 3.6.
    fleet = fleet_from_rows(
        [{"arr": 0, "dep": 2, "energy_kwh": 0, "battery_kwh": 40, "initial_soc": 0.9, "max_charge_kw": 10,
          "max_discharge_kw": 10, "v2g": True, "charge_efficiency": 0.9, "discharge_efficiency": 0.9}], 2)
    buy, sell = np.array([0.10, 1.0]), np.array([0.30, 1.0])
    for backend in ("auto", "numpy"):
        res = exact.price_response(fleet, buy, sell, backend=backend)
        assert res.objective == pytest.approx(1 / 181 - 3.6, rel=1e-12)
        np.testing.assert_allclose(res.charge_kw, [[1360 / 181, 0.0]], rtol=1e-12, atol=1e-12)
        assert res.discharge_kw is not None
        np.testing.assert_allclose(res.discharge_kw, [[450 / 181, 3.6]], rtol=1e-12)
    lp = solve_lp(fleet, PriceInputs(buy, sell))
    assert_close(float(lp.stats["objective"]), 1 / 181 - 3.6)
    check_schedule(fleet, lp.charge_kw, lp.discharge_kw, np.asarray(lp.unmet_kwh))


def test_disabling_numba_selects_the_numpy_backend() -> None:
    # VGI_DISABLE_NUMBA=1 (read at import) makes every call use the numpy fallback, with the same answer
    import os
    import subprocess
    import sys

    code = (
        "import numpy as np, sys; sys.path.insert(0, 'tests');"
        "from test_schedule_exact import fleet_from_rows; from vgi.schedule import exact;"
        "f = fleet_from_rows([{'arr': 0, 'dep': 1, 'energy_kwh': 0, 'battery_kwh': 40, 'initial_soc': 0.5,"
        " 'max_charge_kw': 10, 'max_discharge_kw': 10, 'v2g': True, 'charge_efficiency': 0.9,"
        " 'discharge_efficiency': 0.9}], 1);"
        "r = exact.price_response(f, np.array([0.1]), np.array([0.3]));"
        "print(exact.HAVE_NUMBA, r.backend, repr(r.objective))"
    )
    env = dict(os.environ, VGI_DISABLE_NUMBA="1")
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    out = subprocess.run([sys.executable, "-c", code], env=env, cwd=root, capture_output=True, text=True,
                         check=True)
    have, backend, objective = out.stdout.split()
    assert (have, backend) == ("False", "numpy")
    assert float(objective) == pytest.approx(-143 / 181, rel=1e-12)


def test_unmet_need_is_reported_not_hidden() -> None:
    # need 10 kWh in one hour at 4 kW: 6 kWh short, priced at the penalty.
    fleet = fleet_from_rows(
        [{"arr": 0, "dep": 1, "energy_kwh": 10, "battery_kwh": 50, "initial_soc": 0.2, "max_charge_kw": 4,
          "charge_efficiency": 1}], 2, mode="v1g")
    res = exact.price_response(fleet, np.array([2.0, 1.0]), unmet_penalty_per_kwh=100.0)
    assert res.unmet_kwh[0] == pytest.approx(6.0)
    assert res.objective == pytest.approx(4 * 2.0 + 6 * 100.0)
    assert fleet.shortfall_kwh[0] == pytest.approx(6.0)


def test_penalty_below_price_leaves_need_unmet_in_both_methods() -> None:
    fleet = fleet_from_rows(
        [{"arr": 0, "dep": 2, "energy_kwh": 5, "battery_kwh": 50, "initial_soc": 0.2, "max_charge_kw": 4,
          "max_discharge_kw": 4, "v2g": True}], 2)
    buy = np.array([2.0, 3.0])
    res = exact.price_response(fleet, buy, buy, unmet_penalty_per_kwh=2.5)
    lp = solve_lp(fleet, PriceInputs(buy, buy), ScheduleOptions(unmet_penalty_per_kwh=2.5))
    assert_close(res.objective, float(lp.stats["objective"]))
    assert res.unmet_kwh[0] > 0


def test_groups_and_aggregates_match_per_session_results() -> None:
    rng = np.random.default_rng(7)
    fleet = random_fleet(rng, 40, 24)
    buy = rng.normal(1, 0.5, (3, 24))
    sell = buy * 0.8 + 0.6 * (rng.random((3, 24)) < 0.3)  # export above import in about 30 % of the steps
    group = rng.integers(0, 3, 40)
    full = exact.price_response(fleet, buy, sell, group=group, wear_cost_per_kwh=0.1)
    assert full.discharge_kw is not None
    assert ((full.charge_kw > 1e-9) & (full.discharge_kw > 1e-9)).any()  # some steps time-share
    by = rng.integers(0, 5, 40)
    for backend in ("auto", "numpy"):
        agg = exact.price_response(fleet, buy, sell, group=group, wear_cost_per_kwh=0.1, aggregate_by=by,
                                   n_aggregate=6, backend=backend)
        assert agg.aggregated and agg.charge_kw.shape == (6, 24)
        for g in range(6):
            np.testing.assert_allclose(agg.charge_kw[g], full.charge_kw[by == g].sum(axis=0), atol=1e-9)
            assert agg.discharge_kw is not None
            np.testing.assert_allclose(agg.discharge_kw[g], full.discharge_kw[by == g].sum(axis=0), atol=1e-9)
            # the group's cost includes the cycling profit of its time-sharing steps, as the per-session costs do
            assert agg.cost[g] == pytest.approx(full.cost[by == g].sum(), abs=1e-9)
        np.testing.assert_allclose(agg.unmet_kwh, full.unmet_kwh, atol=1e-9)
        assert agg.objective == pytest.approx(full.objective, rel=1e-12)
    # each group's sessions alone under that group's prices give the same schedule
    for g in range(3):
        sel = np.flatnonzero(group == g)
        one = exact.price_response(_subset(fleet, sel), buy[g], sell[g], wear_cost_per_kwh=0.1,
                                   unmet_penalty_per_kwh=full.unmet_penalty_per_kwh)
        np.testing.assert_allclose(one.charge_kw, full.charge_kw[sel], atol=1e-12)


def _subset(fleet: FleetOnGrid, rows: np.ndarray) -> FleetOnGrid:
    import dataclasses

    values = {}
    for f in dataclasses.fields(fleet):
        v = getattr(fleet, f.name)
        values[f.name] = v[rows] if isinstance(v, np.ndarray) else v
    return FleetOnGrid(**values)


def test_bad_inputs_are_user_errors() -> None:
    from vgi.errors import VgiError

    fleet = random_fleet(np.random.default_rng(0), 3, 4)
    with pytest.raises(VgiError):
        exact.price_response(fleet, np.ones(5))
    with pytest.raises(VgiError):
        exact.price_response(fleet, np.ones((2, 4)))  # two price rows, no group
    with pytest.raises(VgiError):
        exact.price_response(fleet, np.ones((2, 4)), group=np.array([0, 1, 2]))
    with pytest.raises(VgiError):
        exact.price_response(fleet, np.ones(4), aggregate_by=np.array([0, 1]))


# ------------------------------------------------------------------------------------------------------------
# property tests: the LP is the oracle
# ------------------------------------------------------------------------------------------------------------

@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(1, 8),
    n_steps=st.integers(1, 16),
    kind=st.integers(0, 7),
    wear=st.sampled_from([0.0, 0.05, 0.4]),
    mode=st.sampled_from(["v1g", "v2g"]),
)
def test_exact_equals_lp_and_keeps_every_limit(seed: int, n: int, n_steps: int, kind: int, wear: float,
                                               mode: str) -> None:
    rng = np.random.default_rng(seed)
    fleet = random_fleet(rng, n, n_steps, step_minutes=int(rng.choice([15, 30, 60])), mode=mode)
    buy, sell = random_prices(rng, n_steps, kind)
    res = exact.price_response(fleet, buy, sell, wear_cost_per_kwh=wear)
    lp = solve_lp(fleet, PriceInputs(buy, sell), ScheduleOptions(wear_cost_per_kwh=wear))
    assert lp.stats["status"] == "Optimal"
    assert_close(res.objective, float(lp.stats["objective"]))
    # check_schedule also asserts c / Cmax + d / Dmax <= 1 + 1e-9 on every step (time-sharing within a step)
    check_schedule(fleet, res.charge_kw, res.discharge_kw, res.unmet_kwh)
    check_schedule(fleet, lp.charge_kw, lp.discharge_kw, np.asarray(lp.unmet_kwh))
    # the per-session costs add up, and the numpy fallback gives the same result
    assert res.cost.sum() == pytest.approx(res.objective, rel=1e-12, abs=1e-9)
    alt = exact.price_response(fleet, buy, sell, wear_cost_per_kwh=wear, backend="numpy")
    assert alt.backend == "numpy"
    assert_close(alt.objective, res.objective, rel=1e-12)
    np.testing.assert_allclose(alt.charge_kw, res.charge_kw, atol=1e-9)
    if res.discharge_kw is not None:
        assert alt.discharge_kw is not None
        np.testing.assert_allclose(alt.discharge_kw, res.discharge_kw, atol=1e-9)
    check_schedule(fleet, alt.charge_kw, alt.discharge_kw, alt.unmet_kwh)


@pytest.mark.slow
def test_exact_equals_lp_on_full_days() -> None:
    # 96 quarter hours, 60 cars with long windows, tight efficiencies and wear: the DP's longest recursions
    worst = 0.0
    for seed in range(4):
        rng = np.random.default_rng(100 + seed)
        fleet = random_fleet(rng, 60, 96, step_minutes=15)
        buy, sell = random_prices(rng, 96, seed)
        res = exact.price_response(fleet, buy, sell, wear_cost_per_kwh=0.03)
        lp = solve_lp(fleet, PriceInputs(buy, sell), ScheduleOptions(wear_cost_per_kwh=0.03))
        check_schedule(fleet, res.charge_kw, res.discharge_kw, res.unmet_kwh)
        lp_obj = float(lp.stats["objective"])
        worst = max(worst, abs(res.objective - lp_obj) / max(1.0, abs(lp_obj)))
    assert worst <= 1e-9


def test_price_strategy_through_the_api() -> None:
    from vgi.schedule.api import schedule

    rng = np.random.default_rng(3)
    fleet = random_fleet(rng, 10, 12)
    buy, sell = random_prices(rng, 12, 1)
    out = schedule(fleet, "price", PriceInputs(buy, sell), ScheduleOptions(site_limit_kw=5.0))
    assert out.strategy == "price"
    assert out.stats["ignored_options"] == "site_limit_kw"
    assert out.stats["solver"] in ("exact-numba", "exact-numpy")
    for key in ("cost", "unmet_kwh", "peak_kw", "solve_seconds", "limit_violation_kwh"):
        assert key in out.stats
