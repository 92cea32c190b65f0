"""Benchmark: generate and validate 1,000,000 sessions; bill 10,000 daily profiles.

Run ``python benchmarks/bench_sessions.py`` (``--help`` for sizes).  It prints

* the time to generate N sessions (``generate_frame``), to validate them (``sessions_from_frame`` on the typed
  frame) and both together, against the target of 5 s for one million on 2 cores;
* the time to write the sessions to a generic CSV and read them back (``read_sessions``: Arrow's CSV reader +
  validation), against the baseline of ``pandas.read_csv`` + validation;
* a naive baseline: a per-row Python loop doing the same checks on a 10,000-row sample, extrapolated to N,
  and the ratio to the vectorised validation;
* the time to bill P daily 15-minute profiles with :func:`vgi.settle.bills.bill_totals`, against a loop of
  :func:`vgi.settle.bills.bill` over a sample, extrapolated, as a ratio (and that both give the same totals).

Timings are single runs on a shared machine: read them as orders of magnitude.
"""

from __future__ import annotations

import argparse
import datetime as dt
import math
import os
import tempfile
import time
import zoneinfo
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from vgi.io.tariff_library import get_tariff
from vgi.model.generator import generate_frame
from vgi.model.sessions import read_sessions, sessions_from_frame
from vgi.settle.bills import bill, bill_totals

MIX = "home=0.4,workplace=0.2,public_ac=0.2,public_dc=0.1,depot=0.1"


def timed(fn: Callable[[], Any]) -> tuple[Any, float]:
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def naive_validate(records: list[dict[str, str]]) -> list[float]:
    """The same checks as ``sessions_from_frame``, one row at a time in plain Python (the baseline)."""
    problems: list[str] = []
    seen: set[str] = set()
    zones: dict[str, bool] = {}
    shortfalls: list[float] = []
    for i, r in enumerate(records, start=1):
        sid = r["session_id"]
        if not sid.strip():
            problems.append(f"row {i}: empty id")
        if sid in seen:
            problems.append(f"row {i}: duplicate id")
        seen.add(sid)
        zone = r["timezone"]
        if zone not in zones:
            try:
                zoneinfo.ZoneInfo(zone)
                zones[zone] = True
            except (zoneinfo.ZoneInfoNotFoundError, ValueError):
                zones[zone] = False
        if not zones[zone]:
            problems.append(f"row {i}: unknown zone")
        arrival = dt.datetime.fromisoformat(r["arrival"])
        departure = dt.datetime.fromisoformat(r["departure"])
        if departure <= arrival:
            problems.append(f"row {i}: departure not after arrival")
        values = {}
        for col in (
            "energy_kwh",
            "battery_kwh",
            "initial_soc",
            "max_charge_kw",
            "charge_efficiency",
            "min_soc",
        ):
            try:
                values[col] = float(r[col])
            except ValueError:
                problems.append(f"row {i}: {col} not a number")
                values[col] = math.nan
        if values["energy_kwh"] < 0:
            problems.append(f"row {i}: negative energy")
        for col in ("initial_soc", "min_soc"):
            if not 0.0 <= values[col] <= 1.0:
                problems.append(f"row {i}: {col} outside [0, 1]")
        dwell_h = (departure - arrival).total_seconds() / 3600.0
        deliverable = min(
            values["max_charge_kw"] * values["charge_efficiency"] * dwell_h,
            (1.0 - values["initial_soc"]) * values["battery_kwh"],
        )
        shortfalls.append(max(0.0, values["energy_kwh"] - deliverable))
    if problems:
        raise ValueError(problems[:5])
    return shortfalls


def uncontrolled_profiles(frame: pd.DataFrame, index: pd.DatetimeIndex) -> np.ndarray:
    """Each session's grid power (kW) per step when charging at full power from arrival (P x T)."""
    t0 = index[0].value
    step_h = (index[1] - index[0]).total_seconds() / 3600.0
    edges_h = np.arange(len(index) + 1) * step_h
    arr_h = (frame["arrival"].dt.as_unit("ns").astype("int64").to_numpy() - t0) / 3.6e12
    dep_h = (frame["departure"].dt.as_unit("ns").astype("int64").to_numpy() - t0) / 3.6e12
    power = frame["max_charge_kw"].to_numpy()
    grid_kwh = frame["energy_kwh"].to_numpy() / frame["charge_efficiency"].to_numpy()
    until = np.minimum(edges_h[None, :], dep_h[:, None])
    cum = np.clip(power[:, None] * (until - arr_h[:, None]), 0.0, grid_kwh[:, None])
    return np.diff(cum, axis=1) / step_h


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--n", type=int, default=1_000_000, help="sessions to generate and validate")
    parser.add_argument("--naive-sample", type=int, default=10_000, help="rows for the per-row loop baseline")
    parser.add_argument("--profiles", type=int, default=10_000, help="daily profiles to bill")
    parser.add_argument("--bill-sample", type=int, default=200, help="profiles billed one by one with bill()")
    parser.add_argument("--tariff", default="cn-guangzhou-residential-ev", help="tariff id for the bills")
    parser.add_argument("--skip-csv", action="store_true", help="skip the CSV write/read measurement")
    args = parser.parse_args()
    n = args.n
    print(f"vgi session benchmark: {n:,} sessions, {os.cpu_count()} CPU(s) visible, pandas {pd.__version__}")

    generate_frame(1000, MIX, seed=0)  # load the tables once
    frame, t_gen = timed(lambda: generate_frame(n, MIX, seed=1, timezone="Asia/Shanghai", v2g_share=0.2))
    table, t_val = timed(lambda: sessions_from_frame(frame, "<bench>"))
    total = t_gen + t_val
    verdict = "meets" if total < 5.0 else "misses"
    print(f"generate {n:>12,} sessions              {t_gen:8.2f} s")
    print(f"validate {n:>12,} sessions (typed)      {t_val:8.2f} s")
    print(f"generate + validate                       {total:8.2f} s   ({verdict} the 5 s target)")
    summary = table.summary()
    print(
        f"  {summary['flagged_sessions']:,} flagged ({summary['flagged_sessions'] / max(n, 1):.2%}), "
        f"{summary['energy_kwh'] / 1e6:,.2f} GWh wanted, {summary['v2g_sessions']:,} V2G"
    )

    sample_n = min(args.naive_sample, n)
    with tempfile.TemporaryDirectory() as tmp:
        sample_path = Path(tmp) / "sample.csv"
        table.subset(np.arange(n) < sample_n).to_csv(sample_path)
        records = pd.read_csv(sample_path, dtype=str, keep_default_na=False).to_dict("records")
        shortfalls, t_naive = timed(lambda: naive_validate(records))
        assert np.allclose(shortfalls, table.shortfall_kwh[:sample_n], atol=1e-6)
        t_naive_n = t_naive * n / sample_n
        print(
            f"naive per-row loop, {sample_n:,} rows           {t_naive:8.2f} s   -> {t_naive_n:,.1f} s for "
            f"{n:,}; vectorised validation is {t_naive_n / t_val:,.0f}x faster"
        )
        if not args.skip_csv:
            path = Path(tmp) / "fleet.csv"
            _, t_write = timed(lambda: table.to_csv(path))
            back, t_read = timed(lambda: read_sessions(path))
            assert len(back) == n
            plain, t_pandas = timed(lambda: sessions_from_frame(pd.read_csv(path), str(path)))
            assert len(plain) == n
            print(f"write generic CSV ({path.stat().st_size / 1e6:,.0f} MB)              {t_write:8.2f} s")
            print(f"read_sessions (Arrow CSV) + validate        {t_read:8.2f} s")
            print(
                f"baseline: pandas read_csv + validate       {t_pandas:8.2f} s   "
                f"(read_sessions is {t_pandas / t_read:,.1f}x faster)"
            )

    tariff = get_tariff(args.tariff)
    index = pd.date_range("2024-06-03", periods=96, freq="15min", tz=tariff.timezone)
    day = generate_frame(args.profiles, "home", seed=2, start_day="2024-06-03", timezone=tariff.timezone)
    profiles = uncontrolled_profiles(day, index)
    totals, t_vec = timed(lambda: bill_totals(profiles, index, tariff))
    k = min(args.bill_sample, args.profiles)
    loop, t_loop = timed(lambda: [bill(pd.Series(profiles[i], index=index), tariff).total for i in range(k)])
    assert np.allclose(loop, totals[:k], rtol=1e-9, atol=1e-9), "bill() and bill_totals() disagree"
    t_loop_all = t_loop * args.profiles / k
    print(
        f"bill {args.profiles:,} daily profiles ({tariff.id}, {tariff.currency}): "
        f"bill_totals {t_vec:.3f} s; bill() loop on {k} {t_loop:.2f} s -> {t_loop_all:,.1f} s for "
        f"{args.profiles:,}; ratio {t_loop_all / t_vec:,.0f}x"
    )
    mean_kwh = profiles.sum(axis=1).mean() / 4
    print(f"  mean daily bill {totals.mean():.2f} {tariff.currency}, mean import {mean_kwh:.1f} kWh")


if __name__ == "__main__":
    main()
