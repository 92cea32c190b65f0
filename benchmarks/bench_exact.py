"""Benchmark: the exact per-EV price response (``price`` strategy) from 1,000 to 1,000,000 sessions, and the LP.

Run ``python benchmarks/bench_exact.py`` (``--help`` for sizes).  The instance: one local day of 96 quarter hours
(Asia/Shanghai), sessions from the generator (home 60 %, workplace 30 %, public AC 10 %), 50 % of them V2G,
95 % efficiency each way, battery wear 0.02 CNY per kWh discharged, under

* ``tou``: the Guangzhou residential EV tariff (a few price levels, many ties), exports paid at 90 % of import;
* ``dynamic``: a price that differs in every step (a day-ahead-like curve with noise), exports at 90 %.

For each size it prints N, the mean window length, the seconds of :func:`vgi.schedule.exact.price_response`
returning per-session schedules (N x T charge and discharge; ``1st s`` the first call, whose fresh memory the
operating system must map, then the fastest of ``--repeat`` calls), the seconds when it returns only the fleet's
sum (``aggregate_by``, what a decomposition calls), and the peak memory Python allocated during each call
(tracemalloc; the N x T outputs are 0.77 GB each at 1,000,000).  At 1,000 sessions it also solves the same
instance as one LP with HiGHS and prints the LP's seconds, the ratio, and the relative difference of the optima.

Timings are single runs on a shared 2-core machine (numba uses both cores): read them as orders of magnitude.
"""

from __future__ import annotations

import argparse
import time
import tracemalloc
from typing import Any

import numpy as np

from vgi.io.tariff_library import get_tariff
from vgi.model.generator import generate_sessions
from vgi.model.timegrid import TimeGrid
from vgi.schedule import exact
from vgi.schedule.lp import solve_lp
from vgi.schedule.options import ScheduleOptions
from vgi.schedule.prices import PriceInputs, price_inputs
from vgi.schedule.problem import FleetOnGrid

MIX = {"home": 0.6, "workplace": 0.3, "public_ac": 0.1}
WEAR = 0.02
TIMEZONE = "Asia/Shanghai"
DAY = "2024-06-03"


def make_fleet(
    n: int, mode: str, seed: int = 0, mix: dict[str, float] | None = None, full_day: bool = False
) -> FleetOnGrid:
    sessions = generate_sessions(n, mix or MIX, seed=seed, start_day=DAY, n_days=1, timezone=TIMEZONE, v2g_share=0.5)
    grid = TimeGrid.local_days(DAY, 1, 15, TIMEZONE)
    changes: dict[str, object] = {"charge_efficiency": 0.95, "discharge_efficiency": 0.95}
    if full_day:  # every car plugged in for the whole day: the longest windows (the worst case)
        changes.update(arrival=grid.start, departure=grid.end)
    sessions = sessions.with_columns(**changes)
    return FleetOnGrid.from_sessions(sessions, grid, mode)  # type: ignore[arg-type]


def make_prices(kind: str, grid: TimeGrid) -> PriceInputs:
    if kind == "tou":
        p = price_inputs(get_tariff("cn-guangzhou-residential-ev"), grid)
        return PriceInputs(p.buy, 0.9 * p.buy)
    rng = np.random.default_rng(1)
    t = np.arange(grid.n_steps) / grid.n_steps
    buy = 0.6 + 0.25 * np.sin(2 * np.pi * (t - 0.3)) + 0.15 * np.sin(4 * np.pi * t) + rng.normal(0, 0.03, t.size)
    return PriceInputs(buy, 0.9 * buy)


def timed(fn: Any) -> tuple[Any, float, float]:
    tracemalloc.start()
    t0 = time.perf_counter()
    out = fn()
    seconds = time.perf_counter() - t0
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return out, seconds, peak / 2**20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="1000,10000,100000,1000000", help="comma-separated session counts")
    parser.add_argument("--modes", default="v1g,v2g")
    parser.add_argument("--prices", default="tou,dynamic")
    parser.add_argument("--lp-size", type=int, default=1000, help="size at which the LP is solved too (0: never)")
    parser.add_argument("--full-day", action="store_true", help="every car plugged in all day (96-step windows)")
    parser.add_argument("--repeat", type=int, default=2, help="runs per figure; the fastest is printed")
    parser.add_argument("--mix", default="", help="archetype shares, e.g. depot=1 (default: home 0.6, workplace 0.3, "
                        "public_ac 0.1)")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    mix = {k: float(v) for k, v in (item.split("=") for item in args.mix.split(","))} if args.mix else MIX
    print(f"backend: {'numba' if exact.HAVE_NUMBA else 'numpy'}"
          + (f" ({exact._numba.get_num_threads()} threads)" if exact.HAVE_NUMBA else ""))
    warm = make_fleet(200, "v2g")
    exact.price_response(warm, np.ones(96), np.ones(96), wear_cost_per_kwh=WEAR)  # compile / load the cache
    header = (f"{'prices':8s} {'mode':4s} {'N':>9s} {'W mean':>6s} {'1st s':>6s} {'per-EV s':>9s} {'peak MB':>8s} "
              f"{'sum-only s':>10s} {'peak MB':>8s} {'LP s':>7s} {'LP/exact':>8s} {'rel diff':>9s}")
    print(header)
    for kind in args.prices.split(","):
        for mode in args.modes.split(","):
            for n in sizes:
                fleet = make_fleet(n, mode, mix=mix, full_day=args.full_day)
                prices = make_prices(kind, fleet.grid)
                window = float((fleet.stop - fleet.start).mean())
                first = 0.0
                sec = sec_agg = np.inf
                for rep in range(args.repeat):
                    res, s_rep, peak = timed(lambda fleet=fleet, prices=prices: exact.price_response(
                        fleet, prices.buy, prices.sell, wear_cost_per_kwh=WEAR))
                    first = s_rep if rep == 0 else first
                    sec = min(sec, s_rep)
                    if rep < args.repeat - 1:
                        del res
                group = np.zeros(n, dtype=np.int64)
                for _ in range(args.repeat):
                    agg, s_rep, peak_agg = timed(
                        lambda fleet=fleet, prices=prices, group=group: exact.price_response(
                            fleet, prices.buy, prices.sell, wear_cost_per_kwh=WEAR, aggregate_by=group))
                    sec_agg = min(sec_agg, s_rep)
                assert abs(agg.objective - res.objective) <= 1e-9 * max(1.0, abs(res.objective))
                lp_cols = ["", "", ""]
                if n == args.lp_size:
                    lp = solve_lp(fleet, prices, ScheduleOptions(wear_cost_per_kwh=WEAR))
                    lp_sec = float(lp.stats["solve_seconds"])
                    lp_obj = float(lp.stats["objective"])
                    rel = abs(lp_obj - res.objective) / max(1.0, abs(lp_obj))
                    lp_cols = [f"{lp_sec:7.3f}", f"{lp_sec / sec:8.0f}", f"{rel:9.1e}"]
                print(f"{kind:8s} {mode:4s} {n:9d} {window:6.1f} {first:6.3f} {sec:9.3f} {peak:8.0f} {sec_agg:10.3f} "
                      f"{peak_agg:8.0f} {lp_cols[0]:>7s} {lp_cols[1]:>8s} {lp_cols[2]:>9s}", flush=True)
                del res, agg, fleet


if __name__ == "__main__":
    main()
