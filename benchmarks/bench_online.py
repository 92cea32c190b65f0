"""Benchmark: online (rolling-horizon) scheduling, quality against the offline optimum and re-planning time.

Run ``python benchmarks/bench_online.py`` (``--help`` for the options).

**Quality.**  Held-out weeks of ACN Caltech sessions (``../shared/data``, read at run time, never shipped), snapped to
15-minute steps as in ``tests/test_acnportal_peer.py`` (6.656 kW stations, the energy each session really received as
its need, capped at what its window can deliver), under SCE TOU-EV-4 and one site import limit (``--limit-kw``).
Each week is scheduled online (the planner knows a car from its arrival, with its declared departure and need,
re-plans every step and commits only the current step) and offline (the coupled LP with full knowledge).  Rows:

* ``old``: the planner as it was (the known cars only, ties between equal prices broken by the LP as it likes);
* ``tie-break``: the default now, the earlier of two steps that cost the same (leaves the later capacity to cars not
  yet known);
* ``+arrivals``: also a forecast of arrivals learnt from the four weeks before (one aggregate car per hour).

``gap`` is (online - offline) / offline of the objective (the energy cost here: no need is left unmet).

**Time.**  2,000 sessions over one day (96 quarter hours, arrivals around 09:00, a three-level tariff, a site limit
at half of what the cars could draw), re-planned every 15 minutes by the decomposition: cold (each re-plan from the
virtual battery's prices, the old behaviour) against warm (from the previous re-plan's shadow prices).  Timings are
single runs on a shared 2-core machine and vary by up to 2x between runs.

adacharge (Caltech's online MPC) is not on PyPI, so it is not run here; its published figure is the reference.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import pandas as pd

from vgi.io.tariff_readers import read_acnportal_tariff
from vgi.model.sessions import sessions_from_frame
from vgi.model.timegrid import TimeGrid
from vgi.schedule.online import solve_online
from vgi.schedule.options import ScheduleOptions
from vgi.schedule.prices import PriceInputs, price_inputs
from vgi.schedule.problem import FleetOnGrid

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
ACN_CSV = SHARED / "ev_sessions" / "acn_caltech" / "acn_caltech_sessions_2020-12_2021-09.csv"
ACN_TARIFF = SHARED / "tariffs" / "acnportal_sce_pge" / "sce_tou_ev_4_march_2019.json"
TIMEZONE = "America/Los_Angeles"
STATION_KW = 32.0 * 208.0 / 1000.0  # 6.656 kW
STEP_MIN = 15


def acn_fleet(csv: Path, first_day: str, n_days: int) -> FleetOnGrid:
    """ACN Caltech sessions wholly within ``n_days`` local days from ``first_day``, snapped to 15-minute steps
    (arrival at the start of its step, departure at the end of its step), need = energy received, capped at what
    the window can deliver at the station's power."""
    df = pd.read_csv(csv, dtype={"sessionID": "string"})
    start = pd.Timestamp(first_day, tz=TIMEZONE)
    end = start + pd.Timedelta(days=n_days)
    arr = pd.to_datetime(df["connectionTime_utc"], utc=True)
    dep = pd.to_datetime(df["disconnectTime_utc"], utc=True)
    keep = ((arr >= start) & (dep <= end)).to_numpy()
    step = pd.Timedelta(minutes=STEP_MIN)
    a = np.floor((arr[keep] - start) / step).to_numpy(dtype=np.int64)
    d = np.ceil((dep[keep] - start) / step).to_numpy(dtype=np.int64)
    energy = np.minimum(df.loc[keep, "kWhDelivered"].to_numpy(dtype=float), (d - a) * STEP_MIN / 60 * STATION_KW)
    frame = pd.DataFrame(
        {
            "session_id": [f"acn{i:04d}" for i in range(int(keep.sum()))],
            "arrival": start + a * step,
            "departure": start + d * step,
            "energy_kwh": energy,
            "battery_kwh": 200.0,
            "initial_soc": 0.0,
            "max_charge_kw": STATION_KW,
            "charge_efficiency": 1.0,
            "discharge_efficiency": 1.0,
            "site_id": "caltech",
            "timezone": TIMEZONE,
        }
    )
    grid = TimeGrid.local_days(first_day, n_days, STEP_MIN, TIMEZONE)
    return FleetOnGrid.from_sessions(sessions_from_frame(frame, "acn-caltech"), grid, "v1g")


def acn_prices(tariff_json: Path, fleet: FleetOnGrid) -> PriceInputs:
    """SCE TOU-EV-4 (the tariff file acnportal ships) on the fleet's grid."""
    return price_inputs(read_acnportal_tariff(tariff_json, timezone=TIMEZONE), fleet.grid)


def quality(weeks: list[str], limit_kw: float) -> None:
    print(f"quality: ACN Caltech weeks, SCE TOU-EV-4, site limit {limit_kw:g} kW, re-planned every 15 minutes")
    print(f"{'week':10s} {'N':>4s} {'offline USD':>11s} {'planner':>10s} {'online USD':>10s} {'gap':>9s} {'s':>6s}")
    options = ScheduleOptions(site_limit_kw=limit_kw, solver="lp")
    for week in weeks:
        fleet = acn_fleet(ACN_CSV, week, 7)
        history = acn_fleet(ACN_CSV, str((pd.Timestamp(week) - pd.Timedelta(days=28)).date()), 28)
        prices = acn_prices(ACN_TARIFF, fleet)
        variants: list[tuple[str, dict[str, object]]] = [
            ("old", {"early_tie_break": False}),
            ("tie-break", {}),
            ("+arrivals", {"arrival_history": history}),
        ]
        for label, kwargs in variants:
            t0 = time.perf_counter()
            out = solve_online(fleet, prices, options, inner="coupled", **kwargs)  # type: ignore[arg-type]
            seconds = time.perf_counter() - t0
            print(
                f"{week:10s} {len(fleet):4d} {out.stats['offline_objective']:11.4f} {label:>10s} "
                f"{out.stats['objective']:10.4f} {100 * float(out.stats['relative_regret']):8.4f}% {seconds:6.1f}"
            )


def day_fleet(n: int, seed: int = 1) -> tuple[FleetOnGrid, PriceInputs, float]:
    """``n`` sessions over one day, a three-level tariff, and a site limit at half of the fleet's possible draw."""
    rng = np.random.default_rng(seed)
    grid = TimeGrid.local_days("2024-06-03", 1, STEP_MIN, "UTC")
    arr_h = np.clip(rng.normal(9.0, 3.0, n), 0.0, 22.0)
    dep_h = np.minimum(arr_h + rng.uniform(1.0, 10.0, n), 24.0)
    frame = pd.DataFrame(
        {
            "session_id": [f"s{i}" for i in range(n)],
            "arrival": grid.start + pd.to_timedelta(arr_h, unit="h"),
            "departure": grid.start + pd.to_timedelta(dep_h, unit="h"),
            "energy_kwh": rng.uniform(5.0, 30.0, n),
            "battery_kwh": 60.0,
            "initial_soc": 0.2,
            "max_charge_kw": 7.2,
            "charge_efficiency": 0.95,
            "discharge_efficiency": 0.95,
            "site_id": "depot",
        }
    )
    fleet = FleetOnGrid.from_sessions(sessions_from_frame(frame, "bench"), grid, "v1g")
    hours = np.arange(grid.n_steps) * STEP_MIN / 60
    buy = np.where((hours >= 16) & (hours < 21), 0.45, np.where((hours >= 8) & (hours < 16), 0.25, 0.12))
    limit = 0.5 * float(fleet.charge_limit_kw().sum(axis=0).max())
    return fleet, PriceInputs(buy, np.zeros(grid.n_steps)), limit


def speed(n: int) -> None:
    fleet, prices, limit = day_fleet(n)
    options = ScheduleOptions(site_limit_kw=limit, solver="decomposition")
    print(f"\ntime: {n:,} sessions over a day, re-planned every 15 minutes by the decomposition, limit {limit:.0f} kW")
    figures = {}
    for label, warm in (("cold (old)", False), ("warm", True)):
        t0 = time.perf_counter()
        out = solve_online(fleet, prices, options, inner="coupled", warm_start=warm, compute_regret=False)
        total = time.perf_counter() - t0
        figures[label] = total
        print(
            f"{label:11s} total {total:6.2f} s  planning {float(out.stats['plan_seconds']):6.2f} s  "
            f"re-plans {int(out.stats['n_replans'])}  objective {float(out.stats['objective']):.4f}"
        )
    print(f"warm start: {figures['cold (old)'] / figures['warm']:.2f}x faster (target: under 10 s in all)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--weeks", nargs="*", default=["2021-07-12", "2021-08-02"])
    parser.add_argument("--limit-kw", type=float, default=20.0)
    parser.add_argument("--sessions", type=int, default=2000)
    parser.add_argument("--skip-quality", action="store_true")
    args = parser.parse_args()
    if args.skip_quality or not ACN_CSV.exists():
        print("quality: skipped (no ../shared ACN data)" if not ACN_CSV.exists() else "quality: skipped")
    else:
        quality(args.weeks, args.limit_kw)
    speed(args.sessions)


if __name__ == "__main__":
    main()
