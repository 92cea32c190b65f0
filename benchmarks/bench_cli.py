"""Benchmark: ``vgi schedule --strategy coupled`` through the CLI, and writing its schedule (issue 8, points 5 and 7).

Run ``python benchmarks/bench_cli.py`` (100,000 sessions; ``--million`` adds 1,000,000; ``--help`` for options).

The instance is the README's: ``vgi sessions generate --archetype home --count N --seed 1`` (one site, no V2G
consent), then ``vgi schedule --tariff us-pge-bev1 --strategy coupled --mode v2g --site-limit-kw <kappa x N>
--gap 1e-3`` on ``--days`` whole days from 2024-06-03 in ``--timezone`` (default two UTC days, 192 steps, which hold
99 % of the sessions' plug-in time; the default grid, through the last departure in the tariff's zone, is five
days, 480 steps, and about 2x slower).

For each size it prints:

* ``cli``: the command itself in a subprocess (``vgi schedule ... --out FILE --json``): wall seconds, peak resident
  memory (getrusage of the child), and the solve and write seconds it reports;
* the same path phase by phase in one process (reading and the fleet on the grid, solve, summary, writing) with the
  peak resident memory after each phase, and as baselines measured in the same run: the solver called directly as
  ``benchmarks/bench_coupled.py`` does (``solve_coupled``, kernels loaded first), and the writer before issue 8 (one
  pandas DataFrame of every row, string ids, ``to_parquet``) up to ``--baseline-max`` sessions (it needs about
  13 GB at 1,000,000);
* the write/solve ratio (target: ``--out`` at 1,000,000 within 3x the solve and under 4 GB peak).

Timings are single runs on a shared 2-core machine: expect up to 2x between runs.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

TARIFF = "us-pge-bev1"
KAPPA = 1.35  # kW of site limit per session (binds in the evening peak)
VGI = [sys.executable, "-m", "vgi"]


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def legacy_frame(result: Any) -> pd.DataFrame:
    """The schedule writer before issue 8 (kept here as the baseline): every row at once, ids as strings."""
    fleet = result.fleet
    lengths = fleet.stop - fleet.start
    session = np.repeat(np.arange(len(fleet)), lengths)
    first = np.cumsum(lengths) - lengths
    step = fleet.start[session] + (np.arange(len(session)) - np.repeat(first, lengths))
    charge = result.charge_kw[session, step]
    discharge = (
        result.discharge_kw[session, step] if result.discharge_kw is not None else np.zeros(len(session))
    )
    energy = fleet.e_init_kwh[session] + np.zeros(len(session))
    gain = (charge * fleet.charge_efficiency[session] - discharge / fleet.discharge_efficiency[session]) * (
        fleet.step_hours
    )
    cum = np.cumsum(gain)
    before = cum - gain
    base = np.repeat(before[np.minimum(first, max(len(gain) - 1, 0))], lengths) if len(gain) else cum
    energy = energy + cum - base
    return pd.DataFrame(
        {
            "session_id": pd.array(fleet.session_id[session].astype(str), dtype="string"),
            "site_id": pd.array(fleet.site_id[session].astype(str), dtype="string"),
            "time": fleet.grid.utc_index[step].tz_convert(fleet.grid.timezone),
            "charge_kw": charge,
            "discharge_kw": discharge,
            "battery_kwh": energy,
        }
    )


def schedule_args(fleet: Path, n: int, args: argparse.Namespace) -> list[str]:
    return [
        "schedule", "--sessions", str(fleet), "--tariff", TARIFF, "--strategy", "coupled", "--mode", "v2g",
        "--site-limit-kw", f"{args.kappa * n:g}", "--gap", f"{args.gap:g}", "--timezone", args.timezone,
        "--start", "2024-06-03", "--days", str(args.days),
    ]


def run_phases(n: int, fleet_path: Path, out_dir: Path, args: argparse.Namespace) -> dict[str, Any]:
    """The CLI's path phase by phase (the functions ``vgi schedule`` calls, in its order)."""
    from vgi.cli.schedule_cmd import _grid_for, _read_fleet_sessions, _top_short_sessions
    from vgi.io.schedule_files import write_schedule
    from vgi.io.tariff_library import get_tariff
    from vgi.schedule import exact
    from vgi.schedule.api import ScheduleOptions, schedule
    from vgi.schedule.decompose import solve_coupled, subset_fleet
    from vgi.schedule.prices import price_inputs
    from vgi.schedule.problem import FleetOnGrid

    out: dict[str, Any] = {"n": n}
    t0 = time.perf_counter()
    tariff = get_tariff(TARIFF)
    sessions = _read_fleet_sessions(str(fleet_path), "generic")
    grid = _grid_for(sessions, "2024-06-03", args.days, 15, args.timezone)
    prices = price_inputs(tariff, grid)
    fleet = FleetOnGrid.from_sessions(sessions, grid, "v2g")
    del sessions
    out["prepare_s"] = time.perf_counter() - t0
    out["steps"] = grid.n_steps
    options = ScheduleOptions(site_limit_kw=args.kappa * n, gap_tolerance=args.gap, solver="decomposition")
    exact.price_response(subset_fleet(fleet, np.arange(min(n, 100))), prices.buy, prices.sell)  # load the kernels
    t0 = time.perf_counter()
    result = schedule(fleet, "coupled", prices, options)
    out["solve_s"] = time.perf_counter() - t0
    out["certified_gap"] = result.stats["certified_gap"]
    out["peak_solve_mb"] = _peak_mb()
    t0 = time.perf_counter()
    short = _top_short_sessions(result, 20)
    summary = json.dumps({k: v for k, v in result.stats.items() if isinstance(v, int | float | str)})
    out["summary_s"] = time.perf_counter() - t0
    out["summary_bytes"] = len(summary) + len(json.dumps(short))
    path = out_dir / f"new_{n}.parquet"
    t0 = time.perf_counter()
    out["rows"] = write_schedule(result, path)
    out["write_s"] = time.perf_counter() - t0
    out["write_mb_file"] = path.stat().st_size / 2**20
    out["peak_write_mb"] = _peak_mb()
    path.unlink()
    if n <= args.baseline_max:
        path = out_dir / f"old_{n}.parquet"
        t0 = time.perf_counter()
        legacy_frame(result).to_parquet(path, index=False)
        out["old_write_s"] = time.perf_counter() - t0
        out["old_file_mb"] = path.stat().st_size / 2**20
        out["peak_old_write_mb"] = _peak_mb()
        path.unlink()
    del result
    # the benchmark's path: the decomposition called directly on the same fleet
    t0 = time.perf_counter()
    direct = solve_coupled(fleet, prices, options)
    out["direct_solve_s"] = time.perf_counter() - t0
    out["direct_certified_gap"] = direct.stats["certified_gap"]
    out["direct_pricing_s"] = direct.stats["pricing_seconds"]
    out["direct_iterations"] = direct.stats["iterations"]
    out["direct_objective"] = direct.stats["objective"]
    del direct
    if args.pricing_baseline:
        # the pricing before 2026-12: sums per group and perturbation pattern, the shadow prices taken off after
        t0 = time.perf_counter()
        old = solve_coupled(fleet, prices, options, price_by_pattern=True)
        out["old_pricing_solve_s"] = time.perf_counter() - t0
        out["old_pricing_s"] = old.stats["pricing_seconds"]
        out["old_iterations"] = old.stats["iterations"]
        out["old_objective"] = old.stats["objective"]
        out["old_certified_gap"] = old.stats["certified_gap"]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="100000", help="comma-separated session counts")
    parser.add_argument("--million", action="store_true", help="add 1,000,000 sessions")
    parser.add_argument("--kappa", type=float, default=KAPPA, help="site limit, kW per session")
    parser.add_argument("--gap", type=float, default=1e-3, help="--gap of vgi schedule")
    parser.add_argument("--days", type=int, default=2, help="whole days of the grid from 2024-06-03")
    parser.add_argument("--timezone", default="UTC", help="time zone of the grid")
    parser.add_argument("--baseline-max", type=int, default=500_000,
                        help="largest N also written by the old writer (13 GB at 1,000,000)")
    parser.add_argument("--workdir", help="folder for the fleets and schedules (default: a temporary one)")
    parser.add_argument("--pricing-baseline", action="store_true",
                        help="also solve with the decomposition's pricing as it was before (price_by_pattern)")
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)  # child: the phases of one size, JSON out
    args = parser.parse_args()
    work = Path(args.workdir or tempfile.mkdtemp(prefix="vgi-bench-cli-"))
    work.mkdir(parents=True, exist_ok=True)
    if args.one:
        print(json.dumps(run_phases(args.one, work / f"fleet_{args.one}.parquet", work, args)))
        return
    sizes = [int(x) for x in args.sizes.split(",") if x]
    if args.million and 1_000_000 not in sizes:
        sizes.append(1_000_000)
    print(f"vgi schedule --strategy coupled through the CLI: {TARIFF}, site limit {args.kappa} kW/session, "
          f"--gap {args.gap:g}, {args.days} day(s) in {args.timezone}; {os.cpu_count()} CPU(s), load "
          f"{os.getloadavg()[0]:.2f}")
    for n in sizes:
        fleet = work / f"fleet_{n}.parquet"
        t0 = time.perf_counter()
        subprocess.run([*VGI, "sessions", "generate", "--archetype", "home", "--count", str(n), "--seed", "1",
                        "--out", str(fleet), "--json"], check=True, capture_output=True)
        gen_s = time.perf_counter() - t0
        # 1. the command itself
        before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        t0 = time.perf_counter()
        done = subprocess.run([*VGI, *schedule_args(fleet, n, args), "--out", str(work / "cli.parquet"), "--json"],
                              capture_output=True, text=True, check=False)
        wall = time.perf_counter() - t0
        peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        if done.returncode != 0:
            print(f"{n:>9} vgi schedule failed: {done.stderr.strip()[-500:]}")
            continue
        cli = json.loads(done.stdout)
        (work / "cli.parquet").unlink()
        peak_note = f"{peak / 1024:.0f} MB" if peak > before else f"<= {before / 1024:.0f} MB (an earlier child)"
        print(f"\n{n:,} sessions ({cli['grid']['steps']} steps), generated in {gen_s:.1f} s")
        print(f"  cli     vgi schedule --out --json: wall {wall:.1f} s, peak {peak_note}; solve "
              f"{cli['solve_seconds']:.1f} s, write {cli['write_seconds']:.1f} s (ratio "
              f"{cli['write_seconds'] / cli['solve_seconds']:.2f}), certified gap {cli['certified_gap']:.1e} "
              f"<= --gap {cli['gap']:g}")
        # 2. phase by phase, with the baselines
        done = subprocess.run([sys.executable, __file__, "--one", str(n), "--workdir", str(work), "--kappa",
                               str(args.kappa), "--gap", str(args.gap), "--days", str(args.days), "--timezone",
                               args.timezone, "--baseline-max", str(args.baseline_max),
                               *(["--pricing-baseline"] if args.pricing_baseline else [])],
                              capture_output=True, text=True, check=False)
        if done.returncode != 0:
            print(f"  phases failed: {done.stderr.strip()[-500:]}")
            continue
        r = json.loads(done.stdout.strip().splitlines()[-1])
        print(f"  phases  prepare {r['prepare_s']:.1f} s | solve {r['solve_s']:.1f} s (gap {r['certified_gap']:.1e}), "
              f"peak {r['peak_solve_mb']:.0f} MB | summary {r['summary_s']:.3f} s ({r['summary_bytes']} bytes of JSON)")
        print(f"  write   new (chunked, dictionary ids): {r['write_s']:.1f} s for {r['rows']:,} rows, "
              f"{r['write_mb_file']:.0f} MB file, peak after {r['peak_write_mb']:.0f} MB; write/solve "
              f"{r['write_s'] / r['solve_s']:.2f}")
        if "old_write_s" in r:
            print(f"  write   baseline (pre-issue-8 DataFrame): {r['old_write_s']:.1f} s, {r['old_file_mb']:.0f} MB "
                  f"file, peak after {r['peak_old_write_mb']:.0f} MB; write/solve {r['old_write_s'] / r['solve_s']:.2f}"
                  f"; new is {r['old_write_s'] / r['write_s']:.1f}x faster")
        else:
            print(f"  write   baseline skipped (N > --baseline-max {args.baseline_max:,})")
        print(f"  solver  direct solve_coupled (bench_coupled's path) on the same fleet: {r['direct_solve_s']:.1f} s "
              f"(gap {r['direct_certified_gap']:.1e}, {r['direct_iterations']} rounds, pricing "
              f"{r['direct_pricing_s']:.1f} s); CLI solve / direct {r['solve_s'] / r['direct_solve_s']:.2f}")
        if "old_pricing_solve_s" in r:
            print(f"  pricing baseline (per group and pattern, before): {r['old_pricing_solve_s']:.1f} s (pricing "
                  f"{r['old_pricing_s']:.1f} s, {r['old_iterations']} rounds, gap {r['old_certified_gap']:.1e}); "
                  f"new is {r['old_pricing_solve_s'] / r['direct_solve_s']:.2f}x faster, pricing "
                  f"{r['old_pricing_s'] / r['direct_pricing_s']:.2f}x; objectives differ by "
                  f"{abs(r['old_objective'] - r['direct_objective']) / abs(r['old_objective']):.1e} (relative)")
        fleet.unlink()


if __name__ == "__main__":
    main()
