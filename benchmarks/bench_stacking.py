"""Benchmark: the stacked plan (energy plus held services) against the plain coupled LP on the same fleet.

Run ``python benchmarks/bench_stacking.py`` (``--sizes 100,1000`` to choose fleet sizes).

Instance: ``bench_coupled``'s tight instance (96 quarter hours from noon, Guangzhou residential EV tariff, 50 % V2G,
a site import limit of 3 kW per session), with the shipped ``cn-frequency-regulation`` service (symmetric, hourly
blocks, a 5 MW minimum, 30 min of full delivery, mileage at the 15 CNY/MW cap) in two variants: ``LP`` with the
minimum dropped (a pure LP), and ``MILP`` with it (one binary per block).  Printed per size: seconds of the plain
coupled LP (the baseline, measured in the same run), of the stacked LP and MILP, their ratios to the baseline, the
variables and rows, the capacity held (mean kW over the blocks) and the revenue of the services.  With ``--full``
(default) the full model of the same plans (``plan_stacked(..., reduce=False)``, the formulation before the exact
reductions) is solved in the same run too: its seconds, size and the relative difference of its objective from the
reduced model's (``dLP``, ``dMILP``).  Single runs on a shared 2-core machine: noisy.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_coupled import tight_instance

from vgi.aggregator.stacking import plan_stacked
from vgi.dr.services import get_service
from vgi.schedule.lp import solve_lp
from vgi.schedule.options import ScheduleOptions


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100,1000,3000")
    parser.add_argument("--kappa", type=float, default=3.0, help="site import limit per session, kW")
    parser.add_argument("--time-limit", type=float, default=300.0, help="HiGHS time limit of each stacked solve, s")
    parser.add_argument("--full", action=argparse.BooleanOptionalAction, default=True,
                        help="also solve the full (unreduced) model in the same run")
    args = parser.parse_args()
    reg = get_service("cn-frequency-regulation")
    print(f"{'N':>6} {'LP s':>6} {'stackLP s':>9} {'ratio':>6} {'MILP s':>7} {'ratio':>6} {'vars':>7} {'rows':>7} "
          f"{'held kW':>8} {'MILP kW':>8} {'svc CNY':>7} {'bin':>4} MILP status")
    for n in [int(x) for x in args.sizes.split(",")]:
        fleet, prices = tight_instance(n)
        opts = ScheduleOptions(wear_cost_per_kwh=0.02, site_limit_kw={"site": args.kappa * n})
        t0 = time.perf_counter()
        plain = solve_lp(fleet, prices, opts)
        base = time.perf_counter() - t0
        limited = opts.with_(time_limit_s=args.time_limit)
        variants = [("reduced", True), ("full", False)] if args.full else [("reduced", True)]
        runs = {}
        for label, reduce in variants:
            t1 = time.perf_counter()
            lp = plan_stacked(fleet, prices, [reg.with_(min_mw=0.0)], limited, reduce=reduce)
            t2 = time.perf_counter()
            milp = plan_stacked(fleet, prices, [reg], limited, reduce=reduce)
            t3 = time.perf_counter()
            runs[label] = (lp, milp, t2 - t1, t3 - t2)
            bound = float(plain.stats["objective"])
            assert lp.stats["objective"] <= bound + 1e-6 * max(1.0, abs(bound))
            svc = sum(v for k, v in milp.streams.items() if k not in ("energy", "wear"))
            print(f"{n:>6} {base:>6.2f} {t2 - t1:>9.2f} {(t2 - t1) / base:>6.1f} {t3 - t2:>7.2f} "
                  f"{(t3 - t2) / base:>6.1f} {lp.stats['n_variables']:>7} {lp.stats['n_constraints']:>7} "
                  f"{lp.held['held_kw'].mean():>8.1f} {milp.held['held_kw'].mean():>8.1f} {svc:>7.1f} "
                  f"{milp.stats['n_binaries']:>4} {milp.stats['status']} ({label})", flush=True)
        if "full" in runs:
            (lp, milp, s_lp, s_milp), (flp, fmilp, f_lp, f_milp) = runs["reduced"], runs["full"]

            def rel(a: object, b: object) -> float:
                return abs(float(a) - float(b)) / max(1.0, abs(float(b)))  # type: ignore[arg-type]

            print(f"{'':>6} reduced vs full: stacked LP {f_lp / s_lp:.1f}x faster, MILP {f_milp / s_milp:.1f}x; "
                  f"objective {lp.stats['objective']:.12g} vs {flp.stats['objective']:.12g} "
                  f"(dLP {rel(lp.stats['objective'], flp.stats['objective']):.1e}), MILP "
                  f"{milp.stats['objective']:.12g} vs {fmilp.stats['objective']:.12g} "
                  f"(dMILP {rel(milp.stats['objective'], fmilp.stats['objective']):.1e})", flush=True)

if __name__ == "__main__":
    main()
