"""The faster paths of the decomposition and of online re-planning give what the plain paths give: group costs at
shifted prices summed inside the exact kernel, the pricing per group (not per group and pattern), and a re-plan that
keeps the rest of the last plan under a carried certificate."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from test_schedule_coupled import check_feasible
from test_schedule_exact import random_fleet, random_prices
from vgi.errors import VgiError
from vgi.model.timegrid import TimeGrid
from vgi.schedule import exact, online
from vgi.schedule.decompose import solve_coupled, subset_fleet
from vgi.schedule.lp import solve_lp
from vgi.schedule.options import ScheduleOptions
from vgi.schedule.prices import PriceInputs


@pytest.mark.parametrize("backend", ["numba", "numpy"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_cost_shift_sums_each_groups_cost_at_the_prices_less_the_shift(backend: str, seed: int) -> None:
    rng = np.random.default_rng(seed)
    fleet = random_fleet(rng, 40, 12, mode="v2g")
    n, T, dt = len(fleet), fleet.n_steps, fleet.step_hours
    rows = 3
    buy = np.stack([random_prices(rng, T, k)[0] for k in range(rows)])
    sell = buy - rng.uniform(0.0, 0.3, (rows, T))
    shift = rng.normal(0.0, 0.5, (rows, T))
    group = rng.integers(0, rows, n)
    agg = rng.integers(0, 5, n)
    per_ev = exact.price_response(fleet, buy, sell, group=group, wear_cost_per_kwh=0.02, backend=backend)
    summed = exact.price_response(
        fleet, buy, sell, group=group, wear_cost_per_kwh=0.02, aggregate_by=agg, n_aggregate=5, cost_shift=shift,
        backend=backend,
    )
    # by hand from the per-EV schedules: each session's cost less dt x shift . net, summed per group
    net = per_ev.charge_kw - (per_ev.discharge_kw if per_ev.discharge_kw is not None else 0.0)
    want = np.bincount(agg, per_ev.session_cost - dt * (shift[group] * net).sum(axis=1), minlength=5)
    assert summed.cost == pytest.approx(want, abs=1e-9)
    assert summed.objective == pytest.approx(per_ev.objective, abs=1e-9)  # the sessions' costs stay at full prices
    assert summed.charge_kw == pytest.approx(np.stack([per_ev.charge_kw[agg == g].sum(axis=0) for g in range(5)]))
    with pytest.raises(VgiError, match="cost_shift needs aggregate_by"):
        exact.price_response(fleet, buy, sell, group=group, cost_shift=shift)
    with pytest.raises(VgiError, match="cost_shift has shape"):
        exact.price_response(fleet, buy, sell, group=group, aggregate_by=agg, cost_shift=shift[:1])


@pytest.mark.parametrize("seed", [3, 4])
def test_pricing_per_group_matches_the_pricing_per_group_and_pattern(seed: int) -> None:
    rng = np.random.default_rng(seed)
    fleet = random_fleet(rng, 300, 24, mode="v2g")
    buy, sell = random_prices(rng, 24, 6)
    top = float(fleet.charge_limit_kw().sum(axis=0).max(initial=0.0))
    options = ScheduleOptions(site_limit_kw=0.3 * top, gap_tolerance=1e-6, wear_cost_per_kwh=0.01)
    new = solve_coupled(fleet, PriceInputs(buy, np.minimum(sell, buy)), options)
    old = solve_coupled(fleet, PriceInputs(buy, np.minimum(sell, buy)), options, price_by_pattern=True)
    lp = solve_lp(fleet, PriceInputs(buy, np.minimum(sell, buy)), options)
    scale = max(1.0, abs(float(lp.stats["objective"])))
    for s in (new, old):
        assert float(s.stats["certified_gap"]) <= 1e-6
        assert float(s.stats["objective"]) == pytest.approx(float(lp.stats["objective"]), abs=2e-6 * scale)
        assert float(s.stats["lower_bound"]) <= float(lp.stats["objective"]) + 1e-7 * scale
    check_feasible(fleet, new.charge_kw, new.discharge_kw)


def _grid_from(fleet, t: int) -> TimeGrid:
    g = fleet.grid
    return TimeGrid(g.start + t * (g.end - g.start) / fleet.n_steps, g.end, g.step_minutes, g.timezone)


@pytest.mark.parametrize("seed", [5, 6, 7])
def test_carried_certificate_brackets_the_next_problems_optimum(seed: int) -> None:
    """Plan every car from step 0 (a loose gap), commit step 0 as planned, and carry the certificate to step 1:
    the LP optimum of the problem from step 1 lies between the carried lower bound and the rest's objective."""
    rng = np.random.default_rng(seed)
    n_steps = 12
    fleet = random_fleet(rng, 30, n_steps, mode="v2g")
    fleet = dataclasses.replace(fleet, start=np.zeros(len(fleet), dtype=np.int64), first_fraction=np.ones(len(fleet)))
    fleet = subset_fleet(fleet, np.flatnonzero(fleet.stop > 1))  # every car here at step 0 and still at step 1
    buy, sell = random_prices(rng, n_steps, 7)
    prices = PriceInputs(buy, np.minimum(sell, buy))
    top = float(fleet.charge_limit_kw().sum(axis=0).max(initial=0.0))
    options = ScheduleOptions(
        site_limit_kw=0.35 * top, gap_tolerance=2e-2, wear_cost_per_kwh=0.01, unmet_penalty_per_kwh=5.0,
        limit_penalty_per_kw=5000.0, solver="decomposition",
    )
    plan = solve_coupled(fleet, prices, options)
    cert = (float(plan.stats["objective"]), float(plan.stats["lower_bound"]))
    rows = np.arange(len(fleet))
    dep, need = online.forecast_departures(fleet, "declared")
    assert plan.discharge_kw is not None
    e_now = fleet.e_init_kwh + (
        plan.charge_kw[:, 0] * fleet.charge_efficiency - plan.discharge_kw[:, 0] / fleet.discharge_efficiency
    ) * fleet.step_hours
    sub = online._sub_fleet(fleet, rows, 1, e_now, dep, need, _grid_from(fleet, 1))
    sub_prices = PriceInputs(buy[1:], prices.sell[1:])
    peak = float((plan.charge_kw[:, 0] - plan.discharge_kw[:, 0]).sum())
    upper, lower = online._carried_certificate(
        sub, sub_prices, options, fleet, 1, peak, sub.stop + 1, plan.charge_kw, plan.discharge_kw, 1, cert
    )
    exact_opt = float(solve_lp(sub, sub_prices, online._sub_options(options, fleet, sub, 1)).stats["objective"])
    scale = max(1.0, abs(exact_opt))
    assert lower <= exact_opt + 1e-6 * scale
    assert exact_opt <= upper + 1e-6 * scale
    # the absolute gap is carried unchanged
    assert upper - lower == pytest.approx(cert[0] - cert[1], abs=1e-9 * scale)


@pytest.mark.parametrize("mode", ["v1g", "v2g"])
def test_online_keeping_the_plans_rest_matches_solving_every_step(mode: str) -> None:
    rng = np.random.default_rng(8)
    fleet = random_fleet(rng, 60, 16, step_minutes=60, mode=mode)
    # every arrival in the first four steps: the later steps have none
    late = fleet.start > 3
    fleet = dataclasses.replace(
        fleet, start=np.where(late, 3, fleet.start), first_fraction=np.where(late, 1.0, fleet.first_fraction)
    )
    buy, sell = random_prices(rng, 16, 1)
    prices = PriceInputs(buy, np.minimum(sell, buy))
    top = max(float(fleet.charge_limit_kw().sum(axis=0).max(initial=0.0)), 1.0)
    options = ScheduleOptions(site_limit_kw=0.4 * top, solver="decomposition", gap_tolerance=1e-5)
    kept = online.solve_online(fleet, prices, options, inner="coupled", compute_regret=False)
    every = online.solve_online(fleet, prices, options, inner="coupled", compute_regret=False, reuse_tail=False)
    assert every.stats["n_solves"] == every.stats["n_replans"]
    assert kept.stats["n_replans"] == every.stats["n_replans"]
    assert kept.stats["n_solves"] < kept.stats["n_replans"]  # some steps have no arrival
    assert float(kept.stats["max_replan_gap"]) <= 1e-5
    scale = max(1.0, abs(float(every.stats["objective"])))
    assert kept.stats["objective"] == pytest.approx(every.stats["objective"], abs=1e-4 * scale)
    check_feasible(fleet, kept.charge_kw, kept.discharge_kw)


@pytest.mark.skipif(not exact.HAVE_NUMBA, reason="numba not installed")
@pytest.mark.parametrize("seed", [0, 1])
def test_compiled_distinct_prices_match_the_numpy_ones(seed: int) -> None:
    rng = np.random.default_rng(seed)
    buy = np.round(rng.normal(0.5, 0.3, (7, 40)), 1 + seed)  # ties
    sell = np.where(rng.random((7, 40)) < 0.5, 0.0, np.round(buy * 0.9, 2))
    buy[0, :5] = -0.0
    for got, want in zip(exact._distinct_jit(buy), exact._distinct(buy), strict=True):
        assert np.array_equal(got, want)
    for got, want in zip(exact._distinct_pairs_jit(buy, sell), exact._distinct_pairs(buy, sell), strict=True):
        assert np.array_equal(got, want)
