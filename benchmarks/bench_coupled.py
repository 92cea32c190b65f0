"""Benchmark: the coupled decomposition (``coupled`` strategy, ``solver="decomposition"``) from 1,000 to 1,000,000
sessions, against the direct LP where the LP can be solved.

Run ``python benchmarks/bench_coupled.py`` (``--help`` for the options; ``--million`` adds 1,000,000 sessions;
``--netting`` solves each size with site-meter netting off and on in one process; ``--online N`` the rolling horizon's
regret per forecast, ``--online-time N`` its re-planning time by the decomposition before and now).

The tight instance: 96 quarter hours from noon to noon (Asia/Shanghai, so that evening home sessions stay inside the
horizon), sessions from the generator (home 60 %, workplace 20 %, public AC 20 %; half of them consent to V2G),
95 % efficiency each way, battery wear 0.02 CNY per battery kWh discharged, the Guangzhou residential EV tariff
(exports paid 90 % of the import price), each session's need capped at what its window can deliver (so that the
objective is the cost of energy, not a constant penalty), and one site import limit of ``--kappa`` kW per session,
which binds in about 30 of the 96 steps.  ``--case`` swaps the site limit for another coupling (a target curve, a
demand-response event, a peak weight and demand charge, or ten sites under a fleet export limit).

Each size runs in its own process (so that peak memory is that size's alone) and prints: N, seconds of the solve,
peak resident memory of the process (and the size of the N x T schedule it returns, 2 x N x 96 x 8 bytes), the
levels of the hierarchy (sessions:iterations:seconds), pricing rounds on the whole fleet, the certified gap, the
steps where the limit binds, and as baselines the exact uncoupled price response of the same fleet and, up to
``--lp-max`` sessions, the direct LP (HiGHS, ``--lp-time-limit``): its seconds, status, and the relative gap of the
decomposition's schedule to the LP's optimum.  Timings are single runs on a shared 2-core machine.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import resource
import subprocess
import sys
import time

import numpy as np
import pandas as pd

from vgi.io.tariff_library import get_tariff
from vgi.model.generator import generate_sessions
from vgi.model.timegrid import TimeGrid
from vgi.schedule import exact
from vgi.schedule.decompose import solve_coupled, subset_fleet
from vgi.schedule.options import DrEvent, ScheduleOptions
from vgi.schedule.prices import PriceInputs, price_inputs
from vgi.schedule.problem import FleetOnGrid

MIX = {"home": 0.6, "workplace": 0.2, "public_ac": 0.2}
WEAR = 0.02
KAPPA = 1.35  # kW of site limit per session: binds in about 30 of 96 steps
TIMEZONE = "Asia/Shanghai"


def tight_instance(n: int, seed: int = 0) -> tuple[FleetOnGrid, PriceInputs]:
    """The benchmark's fleet (one site) and prices (see the module docstring)."""
    sessions = generate_sessions(n, MIX, seed=seed, start_day="2024-06-03", timezone=TIMEZONE, v2g_share=0.5)
    sessions = sessions.with_columns(charge_efficiency=0.95, discharge_efficiency=0.95, site_id="site")
    start = pd.Timestamp("2024-06-03 12:00", tz=TIMEZONE)
    grid = TimeGrid(start, start + pd.Timedelta(days=1), 15, TIMEZONE)
    fleet = FleetOnGrid.from_sessions(sessions, grid, "v2g")
    fleet = dataclasses.replace(
        fleet, e_need_kwh=np.minimum(fleet.e_need_kwh, fleet.e_init_kwh + fleet.deliverable_kwh)
    )
    p = price_inputs(get_tariff("cn-guangzhou-residential-ev"), grid)
    return fleet, PriceInputs(p.buy, 0.9 * p.buy, p.currency)


CASES = ("site", "target", "dr", "peak", "sites")


def case_options(
    case: str, fleet: FleetOnGrid, prices: PriceInputs, kappa: float, gap: float
) -> tuple[FleetOnGrid, ScheduleOptions]:
    """The coupling of each case: ``site`` (the tight instance), ``target`` (follow the uncoupled mean, over 0.5 and
    under 0.3 CNY/kWh), ``dr`` (cut 0.3 kW per session below the uncoupled curve from 17:00 to 19:00, shortfall 2
    CNY/kWh, with a site limit of 1.6 kW per session), ``peak`` (peak weight 1 + demand charge 0.5 CNY/kW),
    ``sites`` (10 sites, limits 0.12-0.165 kW per session each, and a fleet export limit of 0.1 kW per session)."""
    n = len(fleet)
    options = ScheduleOptions(wear_cost_per_kwh=WEAR, gap_tolerance=gap)
    if case == "site":
        return fleet, options.with_(site_limit_kw=kappa * n)
    free = exact.price_response(
        fleet, prices.buy, prices.sell, wear_cost_per_kwh=WEAR, aggregate_by=np.zeros(n, dtype=np.int64), n_aggregate=1
    )
    base = (free.charge_kw - free.discharge_kw)[0]
    if case == "target":
        return fleet, options.with_(
            target_kw=np.full(fleet.n_steps, base.mean()), over_penalty_per_kwh=0.5, under_penalty_per_kwh=0.3
        )
    if case == "dr":
        return fleet, options.with_(
            dr_event=DrEvent(20, 28, 0.3 * n, np.maximum(base, 0.5 * n), 2.0), site_limit_kw=1.6 * n
        )
    if case == "peak":
        return fleet, options.with_(minimise_peak=1.0, demand_charge_per_kw=0.5)
    if case == "sites":
        fleet = dataclasses.replace(fleet, site_id=np.array([f"s{i % 10}" for i in range(n)], dtype=object))
        limits = {f"s{i}": (1.2 + 0.05 * i) * n / 10 for i in range(10)}
        return fleet, options.with_(site_limit_kw=limits, fleet_export_limit_kw=0.1 * n)
    raise SystemExit(f"unknown case {case}; one of {', '.join(CASES)}")


def run_one(
    n: int, kappa: float, gap: float, lp_max: int, lp_time_limit: float, seed: int, case: str = "site"
) -> dict[str, object]:
    fleet, prices = tight_instance(n, seed)
    fleet, options = case_options(case, fleet, prices, kappa, gap)
    out: dict[str, object] = {"n": n, "schedule_mb": 2 * n * fleet.n_steps * 8 / 2**20}
    exact.price_response(subset_fleet(fleet, np.arange(min(n, 100))), prices.buy, prices.sell)  # load the kernels
    t0 = time.perf_counter()
    base = exact.price_response(
        fleet, prices.buy, prices.sell, wear_cost_per_kwh=WEAR, aggregate_by=np.zeros(n, dtype=np.int64), n_aggregate=1
    )
    out["price_s"] = time.perf_counter() - t0
    out["uncoupled_peak_kw_per_ev"] = float((base.charge_kw - base.discharge_kw).max()) / n
    t0 = time.perf_counter()
    s = solve_coupled(fleet, prices, options)
    out["seconds"] = time.perf_counter() - t0
    st = s.stats
    for key in (
        "objective",
        "lower_bound",
        "certified_gap",
        "iterations",
        "levels",
        "pricing_seconds",
        "master_seconds",
        "recover_seconds",
        "n_binding_steps",
        "unmet_kwh",
        "limit_violation_kwh",
        "decomposition_status",
    ):
        out[key] = st[key]
    out["peak_kw_per_ev"] = float(st["peak_kw"]) / n
    del s
    if n <= lp_max:
        from vgi.schedule.lp import solve_lp

        t0 = time.perf_counter()
        lp = solve_lp(fleet, prices, options.with_(time_limit_s=lp_time_limit))
        out["lp_s"] = time.perf_counter() - t0
        out["lp_status"] = lp.stats["status"]
        lp_obj = float(lp.stats["objective"])
        out["lp_objective"] = lp_obj
        out["lp_gap"] = (float(out["objective"]) - lp_obj) / abs(lp_obj)  # type: ignore[arg-type]
    out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return out


def run_online_time(n: int, kappa: float, seed: int, gap: float) -> None:
    """Re-planning time on the tight instance: every 15 minutes and at every arrival over the cars plugged in, by
    the decomposition (declared departures and needs, no regret solve), as before (warm-started from the previous
    re-plan's shadow prices only, solving at every re-plan) and now (also from the rest of the previous plan as
    columns, and keeping that rest without a solve where nothing changed and the carried certificate holds)."""
    import os

    from vgi.schedule.online import solve_online

    fleet, prices = tight_instance(n, seed)
    options = ScheduleOptions(
        wear_cost_per_kwh=WEAR, site_limit_kw=kappa * n, gap_tolerance=gap, solver="decomposition"
    )
    print(f"online re-planning time, {n} sessions, 96 steps, decomposition to a gap of {gap:g} per re-plan")
    print(
        f"{'planner':>8} {'total s':>8} {'plan s':>7} {'re-plans':>8} {'solves':>6} {'max gap':>8} "
        f"{'objective':>12} {'load':>5}"
    )
    figures = {}
    for label, kwargs in (
        ("before", dict(warm_columns=False, reuse_tail=False)),
        ("now", {}),
    ):
        load = os.getloadavg()[0]
        t0 = time.perf_counter()
        s = solve_online(fleet, prices, options, inner="coupled", compute_regret=False, **kwargs)  # type: ignore[arg-type]
        total = time.perf_counter() - t0
        st = s.stats
        figures[label] = (total, float(st["objective"]))
        print(
            f"{label:>8} {total:8.1f} {float(st['plan_seconds']):7.1f} {st['n_replans']:>8} {st['n_solves']:>6} "
            f"{float(st['max_replan_gap']):8.1e} {float(st['objective']):12.4f} {load:5.1f}",
            flush=True,
        )
    (t_old, obj_old), (t_new, obj_new) = figures["before"], figures["now"]
    print(
        f"now {t_old / t_new:.2f}x faster than before (target: under 10 s in all); objectives differ by "
        f"{abs(obj_new - obj_old) / abs(obj_old):.1e} (relative)"
    )


def run_online(n: int, kappa: float, seed: int) -> None:
    """Rolling horizon on the tight instance: each car alone (``price``) and under the site limit (``coupled``),
    with declared, noisy and hourly-mean forecasts; prints objective, offline optimum, regret and seconds."""
    from vgi.schedule.online import solve_online

    fleet, prices = tight_instance(n, seed)
    print(f"rolling horizon, {n} sessions, re-planned every step and at every arrival")
    print(
        f"{'inner':>8} {'forecast':>12} {'objective':>12} {'offline':>12} {'regret %':>9} {'unmet kWh':>9} "
        f"{'viol kWh':>8} {'seconds':>8}"
    )
    for inner, options in (
        ("price", ScheduleOptions(wear_cost_per_kwh=WEAR)),
        ("coupled", ScheduleOptions(wear_cost_per_kwh=WEAR, site_limit_kw=kappa * n, gap_tolerance=1e-4)),
    ):
        for forecast in ("declared", "noisy", "hourly_mean"):
            t0 = time.perf_counter()
            s = solve_online(fleet, prices, options, inner=inner, forecast=forecast, seed=seed)  # type: ignore[arg-type]
            st = s.stats
            print(
                f"{inner:>8} {forecast:>12} {st['objective']:12.2f} {st['offline_objective']:12.2f} "
                f"{100 * float(st['relative_regret']):9.3f} {st['unmet_kwh']:9.1f} {st['limit_violation_kwh']:8.3f} "
                f"{time.perf_counter() - t0:8.1f}",
                flush=True,
            )


def run_netting(sizes: list[int], kappa: float, gap: float, seed: int, case: str) -> None:
    """Site-meter netting off (each car priced apart) and on (one meter for the site), the same fleet solved both
    ways in this process: seconds, cost (energy + wear at the meter's rule), certified gap, and how much higher
    the per-car optimum's cost is than the netted optimum's."""
    print(f"site-meter netting, tight instance, case {case}, certified gap {gap:g} (single runs, shared machine)")
    print(
        f"{'N':>9} {'off s':>7} {'on s':>7} {'on/off':>6} {'cost off':>11} {'cost on':>11} {'excess %':>8} "
        f"{'gap off':>8} {'gap on':>8} {'iter off':>8} {'iter on':>7} {'credit':>9}"
    )
    for n in sizes:
        fleet, prices = tight_instance(n, seed)
        fleet, options = case_options(case, fleet, prices, kappa, gap)
        exact.price_response(subset_fleet(fleet, np.arange(min(n, 100))), prices.buy, prices.sell)  # load kernels
        figures = {}
        for label, opts in (("off", options), ("on", options.with_(shared_meter=True))):
            t0 = time.perf_counter()
            s = solve_coupled(fleet, prices, opts)
            figures[label] = (time.perf_counter() - t0, s.stats)
            del s
        (t_off, off), (t_on, on) = figures["off"], figures["on"]
        excess = 100.0 * (float(off["cost"]) / float(on["cost"]) - 1.0)
        print(
            f"{n:>9} {t_off:7.2f} {t_on:7.2f} {t_on / t_off:6.2f} {float(off['cost']):11.2f} {float(on['cost']):11.2f} "
            f"{excess:8.2f} {float(off['certified_gap']):8.1e} {float(on['certified_gap']):8.1e} "
            f"{off['iterations']:>8} {on['iterations']:>7} {float(on['netting_credit']):9.2f}",
            flush=True,
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="1000,10000,100000", help="comma-separated session counts")
    parser.add_argument("--million", action="store_true", help="add 1,000,000 sessions")
    parser.add_argument("--kappa", type=float, default=KAPPA, help="site limit, kW per session")
    parser.add_argument(
        "--gap", type=float, default=None, help="relative gap to certify (default 1e-3; 1e-4 with --online-time)"
    )
    parser.add_argument("--lp-max", type=int, default=10_000, help="largest N also solved as one LP")
    parser.add_argument("--lp-time-limit", type=float, default=300.0, help="seconds for the LP")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--case", default="site", choices=CASES, help="the coupling (see case_options)")
    parser.add_argument(
        "--online",
        type=int,
        default=0,
        metavar="N",
        help="instead: the rolling horizon on N sessions of the same instance (regret per forecast)",
    )
    parser.add_argument(
        "--online-time",
        type=int,
        default=0,
        metavar="N",
        help="instead: re-planning time of the rolling horizon on N sessions by the decomposition, before and now",
    )
    parser.add_argument(
        "--netting",
        action="store_true",
        help="instead: each size solved with site-meter netting off and on, in one process (seconds and costs)",
    )
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)  # child process: one size, JSON out
    args = parser.parse_args()
    if args.online_time:
        run_online_time(args.online_time, args.kappa, args.seed, 1e-4 if args.gap is None else args.gap)
        return
    if args.gap is None:
        args.gap = 1e-3
    if args.online:
        run_online(args.online, args.kappa, args.seed)
        return
    if args.netting:
        run_netting([int(x) for x in args.sizes.split(",") if x], args.kappa, args.gap, args.seed, args.case)
        return
    if args.one:
        print(
            json.dumps(run_one(args.one, args.kappa, args.gap, args.lp_max, args.lp_time_limit, args.seed, args.case))
        )
        return
    sizes = [int(x) for x in args.sizes.split(",") if x]
    if args.million and 1_000_000 not in sizes:
        sizes.append(1_000_000)
    what = f"site limit {args.kappa} kW/session" if args.case == "site" else f"case {args.case}"
    print(f"coupled decomposition, tight instance, {what}, certified gap {args.gap:g}")
    header = (
        f"{'N':>9} {'seconds':>8} {'peak MB':>8} {'sched MB':>8} {'iter':>4} {'cert gap':>9} {'bind':>4} "
        f"{'price s':>7} {'LP s':>7} {'LP gap':>9}  levels (sessions:iterations:seconds)"
    )
    print(header)
    for n in sizes:
        cmd = [
            sys.executable,
            __file__,
            "--one",
            str(n),
            "--kappa",
            str(args.kappa),
            "--gap",
            str(args.gap),
            "--lp-max",
            str(args.lp_max),
            "--lp-time-limit",
            str(args.lp_time_limit),
            "--seed",
            str(args.seed),
            "--case",
            args.case,
        ]
        done = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            print(f"{n:>9} failed: {done.stderr.strip().splitlines()[-1] if done.stderr else done.returncode}")
            continue
        r = json.loads(done.stdout.strip().splitlines()[-1])
        lp_s = f"{r['lp_s']:7.1f}" if "lp_s" in r else f"{'-':>7}"
        lp_gap = f"{r['lp_gap']:9.1e}" if "lp_gap" in r else f"{'-':>9}"
        if "lp_status" in r and r["lp_status"] != "Optimal":
            lp_gap += f" ({r['lp_status']})"
        print(
            f"{r['n']:>9} {r['seconds']:8.2f} {r['peak_rss_mb']:8.0f} {r['schedule_mb']:8.0f} "
            f"{r['iterations']:>4} {r['certified_gap']:9.1e} {r['n_binding_steps']:>4} {r['price_s']:7.2f} "
            f"{lp_s} {lp_gap}  {r['levels']}",
            flush=True,
        )


if __name__ == "__main__":
    main()
