"""``vgi schedule`` and ``vgi flex``: schedule a fleet under a tariff, and show what it can flex."""

from __future__ import annotations

import datetime as dt
import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click
import numpy as np
import pandas as pd

from vgi.cli.common import json_option, print_json, print_table, read_series_csv
from vgi.errors import VgiError
from vgi.model.sessions import SessionTable
from vgi.model.timegrid import TimeGrid, check_timezone

__all__ = ["flex", "schedule"]

F = TypeVar("F", bound=Callable[..., Any])

MODES = ("v1g", "v2g")
SHOWN_SESSIONS = 20


def _read_fleet_sessions(path: str, fmt: str) -> SessionTable:
    from vgi.io.session_readers import read_any

    return read_any(path, fmt)


def _grid_for(
    sessions: SessionTable, start: str | None, days: int | None, step_minutes: int, timezone: str
) -> TimeGrid:
    """The grid of whole local days covering the sessions (or the days asked for)."""
    check_timezone(timezone)
    if len(sessions) == 0 and start is None:
        raise VgiError("the session file has no sessions; give --start to schedule an empty fleet")
    if start is None:
        first = sessions.arrival.min().tz_convert(timezone).date()
    else:
        try:
            first = dt.date.fromisoformat(start)
        except ValueError as exc:
            raise VgiError(f"--start: {start!r} is not a date (YYYY-MM-DD)") from exc
    if days is None:
        last = sessions.departure.max().tz_convert(timezone)
        days = max(1, (last.date() - first).days + (1 if last.time() > dt.time(0) else 0))
    if days <= 0:
        raise VgiError(f"--days must be at least 1, got {days}")
    return TimeGrid.local_days(first, days, step_minutes, timezone)


def _series_on_grid(path: str, grid: TimeGrid, what: str, allow_empty: bool = False) -> np.ndarray:
    """A ``timestamp,value`` CSV as one value per grid step (each step takes the last value at or before it; with
    ``allow_empty`` an empty value is NaN from its timestamp on)."""
    from vgi.schedule.prices import _series_on_grid as on_grid

    series = read_series_csv(path, allow_empty=allow_empty)
    try:
        values = on_grid(series, grid, what)
    except VgiError as exc:
        raise VgiError(f"{path}: {exc}") from exc
    assert values is not None
    return values


def parse_gap(text: str) -> float:
    """``--gap``: a relative optimality gap, a finite number in (0, 1); anything else is a one-line error."""
    try:
        gap = float(text)
    except ValueError:
        raise VgiError(f"--gap: {text!r} is not a number (a relative gap such as 1e-3)") from None
    if not (math.isfinite(gap) and 0.0 < gap < 1.0):
        raise VgiError(f"--gap: {text} is outside (0, 1); give a relative gap such as 1e-3 (0.1 %)")
    return gap


def _number(value: Any) -> Any:
    if isinstance(value, float | np.floating):
        return float(value) if math.isfinite(float(value)) else None
    if isinstance(value, np.integer):
        return int(value)
    return value


def _top_short_sessions(result: Any, count: int, tolerance_kwh: float = 1e-6) -> list[dict[str, Any]]:
    """The ``count`` sessions furthest short of their need, largest first, without a row object per session."""
    if result.unmet_kwh is None:
        return []
    unmet = np.asarray(result.unmet_kwh, dtype=float)
    idx = np.flatnonzero(unmet > tolerance_kwh)
    if len(idx) > count:
        idx = idx[np.argpartition(-unmet[idx], count - 1)[:count]]
    idx = idx[np.lexsort((idx, -unmet[idx]))]  # largest first, ties in fleet order
    fleet = result.fleet
    return [
        {"session_id": str(fleet.session_id[i]), "site_id": str(fleet.site_id[i]), "unmet_kwh": float(unmet[i])}
        for i in idx
    ]


def session_file_options(command: F) -> F:
    """``--sessions FILE`` and ``--format``."""
    command = click.option("--format", "fmt", default="generic", show_default=True,
                           type=click.Choice(["generic", "acn-json", "acn-csv", "boulder"]),
                           help="Session file format.")(command)
    return click.option("--sessions", "sessions_path", required=True, type=click.Path(dir_okay=False),
                        help="Session file (CSV/Parquet generic layout, or --format).")(command)


def mode_option(command: F) -> F:
    """``--mode v1g|v2g``."""
    return click.option("--mode", type=click.Choice(MODES), default="v1g", show_default=True,
                        help="v1g (charge only) or v2g (discharge where the session consents).")(command)


def grid_options(timezone_default: str) -> Callable[[F], F]:
    """``--start``, ``--days``, ``--step-minutes`` and ``--timezone`` (whose default is ``timezone_default``)."""

    def decorate(command: F) -> F:
        command = click.option("--timezone", help=f"Time zone of the grid (default: {timezone_default}).")(command)
        command = click.option("--step-minutes", type=int, default=15, show_default=True,
                               help="Step of the grid, minutes.")(command)
        command = click.option("--days", type=int,
                               help="Number of local days (default: through the last departure).")(command)
        return click.option("--start", help="First local day of the grid, YYYY-MM-DD "
                                             "(default: the first arrival's day).")(command)

    return decorate


@click.command("schedule")
@session_file_options
@click.option("--tariff", "tariff_id", required=True, help="Tariff id from the library, or a tariff YAML file.")
@click.option("--prices", "prices_path", type=click.Path(dir_okay=False),
              help="timestamp,value CSV: the price series of a dynamic tariff (in the formula's unit).")
@click.option("--export-prices", "export_path", type=click.Path(dir_okay=False),
              help="timestamp,value CSV: the export price series, for tariffs that pay exports from one.")
@click.option("--site-limit-kw", type=float, help="Import limit of every site's net power, kW.")
@click.option("--target", "target_path", type=click.Path(dir_okay=False),
              help="timestamp,kw CSV: an aggregate curve for the fleet to follow (coupled strategy); "
              "an empty kw means no target from that time on.")
@click.option("--over-penalty", type=float, default=1.0, show_default=True,
              help="Price per kWh above the target.")
@click.option("--under-penalty", type=float, default=1.0, show_default=True,
              help="Price per kWh below the target.")
@click.option("--strategy", required=True, help="uncontrolled, price, coupled, online, ... (see docs/scheduling.md).")
@click.option("--solver", default="auto", show_default=True, help="Solver of the coupled strategy: auto, lp, ...")
@click.option("--gap", "gap_text", default="1e-3", show_default=True,
              help="Relative optimality gap the coupled solver may stop at, in (0, 1); the certified gap reached "
                   "is printed.")
@mode_option
@click.option("--wear-cost", type=float, default=0.0, show_default=True,
              help="Battery wear per battery-side kWh discharged (tariff currency).")
@click.option("--out", "out_path", type=click.Path(dir_okay=False),
              help="Write the schedule (one row per session and step of its window) to this Parquet or CSV "
                   "file, chunk by chunk (layout: docs/scheduling.md).")
@grid_options("the tariff's")
@click.option("--reference-lp", is_flag=True,
              help="With --solver decomposition: also solve the direct LP and report lp_gap.")
@click.option("--forecast", type=click.Choice(["declared", "noisy", "hourly_mean"]), default="declared",
              show_default=True, help="For --strategy online: what the planner knows of each car at its arrival.")
@click.option("--replan-every", type=int, default=1, show_default=True,
              help="For --strategy online: re-plan every N steps.")
@click.option("--site-meter", type=click.Choice(["per-ev", "shared"]), default="per-ev", show_default=True,
              help="shared: the cars of a site share one meter (net import and export priced per site and step).")
@json_option
def schedule(
    sessions_path: str,
    fmt: str,
    tariff_id: str,
    prices_path: str | None,
    export_path: str | None,
    site_limit_kw: float | None,
    target_path: str | None,
    over_penalty: float,
    under_penalty: float,
    strategy: str,
    solver: str,
    gap_text: str,
    mode: str,
    wear_cost: float,
    out_path: str | None,
    start: str | None,
    days: int | None,
    step_minutes: int,
    timezone: str | None,
    reference_lp: bool,
    forecast: str,
    replan_every: int,
    site_meter: str,
    as_json: bool,
) -> None:
    """Schedule a fleet's charging (and V2G discharging) under a tariff.

    Prints the cost (energy bought - energy sold + battery wear, tariff currency), the energy left unmet
    (battery kWh; the 20 largest shortfalls are listed), the fleet's peak (kW), the solve time and, for solvers
    that stop at a gap, the gap asked for (--gap) and the gap certified (and with --reference-lp the gap to the
    LP).  Limits that a strategy does not model (a site limit for uncontrolled or price) are measured
    on its schedule and reported as violations.
    """
    from vgi.io.schedule_files import SUFFIXES, write_schedule
    from vgi.io.tariff_library import get_tariff
    from vgi.schedule.api import ScheduleOptions, strategies
    from vgi.schedule.api import schedule as run_schedule
    from vgi.schedule.prices import price_inputs
    from vgi.schedule.problem import FleetOnGrid

    if strategy not in strategies():
        raise VgiError(f"unknown strategy '{strategy}'; choose one of {', '.join(strategies())}")
    gap = parse_gap(gap_text)
    if out_path is not None and Path(out_path).suffix.lower() not in SUFFIXES:
        raise VgiError(f"--out {out_path}: the schedule is written as Parquet (.parquet, .pq) or CSV (.csv)")
    tariff = get_tariff(tariff_id)
    sessions = _read_fleet_sessions(sessions_path, fmt)
    grid = _grid_for(sessions, start, days, step_minutes, timezone or tariff.timezone)
    spot = _series_on_grid(prices_path, grid, "price") if prices_path else None
    export_spot = _series_on_grid(export_path, grid, "export price") if export_path else None
    prices = price_inputs(tariff, grid, spot=spot, export_spot=export_spot)
    fleet = FleetOnGrid.from_sessions(sessions, grid, mode)  # type: ignore[arg-type]
    target = _series_on_grid(target_path, grid, "target", allow_empty=True) if target_path else None
    options = ScheduleOptions(
        wear_cost_per_kwh=wear_cost,
        site_limit_kw=site_limit_kw,
        target_kw=target,
        over_penalty_per_kwh=over_penalty,
        under_penalty_per_kwh=under_penalty,
        solver=solver,
        gap_tolerance=gap,
        reference_lp=reference_lp,
        online_forecast=forecast,  # type: ignore[arg-type]
        online_replan_every=replan_every,
        shared_meter=site_meter == "shared",
    )
    result = run_schedule(fleet, strategy, prices, options)
    write_seconds = None
    if out_path is not None:
        t_write = time.perf_counter()
        write_schedule(result, out_path)
        write_seconds = time.perf_counter() - t_write

    stats = result.stats
    short = _top_short_sessions(result, SHOWN_SESSIONS)
    binding = result.details.get("binding_steps", np.zeros(0, dtype=np.int64))
    violation = np.asarray(result.details.get("limit_violation_kw", np.zeros(grid.n_steps)))
    local = grid.local_index
    summary: dict[str, Any] = {
        "strategy": strategy,
        "mode": mode,
        "tariff": tariff.id,
        "currency": tariff.currency,
        "sessions": len(fleet),
        "grid": {"start": local[0].isoformat(), "steps": grid.n_steps, "step_minutes": grid.step_minutes},
        "cost": stats.get("cost"),
        "objective": stats.get("objective"),
        "unmet_kwh": stats.get("unmet_kwh"),
        "n_short_sessions": stats.get("n_short_sessions"),
        "peak_kw": stats.get("peak_kw"),
        "import_kwh": stats.get("import_kwh"),
        "export_kwh": stats.get("export_kwh"),
        "solve_seconds": stats.get("solve_seconds"),
        "status": stats.get("status"),
        "solver": stats.get("solver"),
    }
    if "certified_gap" in stats:  # a solver that stops at a gap: the gap asked for beside the one certified
        summary["gap"] = gap
    for key in ("lp_gap", "certified_gap", "iterations", "regret", "limit_violation_kwh", "n_binding_steps",
                "ignored_options"):
        if key in stats:
            summary[key] = stats[key]
    if site_meter == "shared":
        summary["netting_credit"] = stats.get("netting_credit", 0.0)
    summary["short_sessions"] = short
    summary["binding_steps"] = [local[int(k)].isoformat() for k in np.asarray(binding)]
    summary["limit_violation_kw"] = {
        local[int(k)].isoformat(): float(violation[k]) for k in np.flatnonzero(violation > 1e-9)
    }
    if out_path is not None:
        summary["out"] = out_path
        summary["write_seconds"] = write_seconds
    summary = {k: _number(v) for k, v in summary.items()}
    if as_json:
        print_json(summary)
        return
    rows = [[k, summary[k]] for k in ("cost", "unmet_kwh", "n_short_sessions", "peak_kw", "import_kwh",
                                      "export_kwh", "solve_seconds", "status") if summary.get(k) is not None]
    for key in ("gap", "certified_gap", "lp_gap", "limit_violation_kwh", "n_binding_steps", "ignored_options",
                "netting_credit", "write_seconds"):
        if key in summary and summary[key] is not None:
            value = summary[key]
            rows.append([key, f"{value:.3g}" if key in ("gap", "certified_gap", "lp_gap") else value])
    print_table(f"{strategy} ({mode}) under {tariff.id}: {len(fleet)} sessions, {grid.n_steps} steps",
                ["figure", "value"], rows)
    if short:
        print_table(
            f"{summary['n_short_sessions']} session(s) short of their need (battery kWh); "
            f"the {len(short)} largest shortfalls",
            ["session", "site", "unmet_kwh"],
            [[r["session_id"], r["site_id"], r["unmet_kwh"]] for r in summary["short_sessions"]],
        )
    if summary["binding_steps"]:
        click.echo(f"limits bind in {len(summary['binding_steps'])} step(s), first {summary['binding_steps'][0]}")


@click.command("flex")
@session_file_options
@mode_option
@click.option("--duration-hours", type=float, default=1.0, show_default=True,
              help="How long each up/down deviation is held.")
@click.option("--out", "out_path", type=click.Path(dir_okay=False),
              help="Write the per-step fleet envelope to this CSV or Parquet file.")
@grid_options("the sessions' most common zone")
@json_option
def flex(
    sessions_path: str,
    fmt: str,
    mode: str,
    duration_hours: float,
    out_path: str | None,
    start: str | None,
    days: int | None,
    step_minutes: int,
    timezone: str | None,
    as_json: bool,
) -> None:
    """The fleet's flexibility: its "virtual battery" envelope and its hourly adjustable potential.

    Envelope per step: the fleet's least and most power (kW, negative = export) and the least and most net
    battery energy gained since the grid's start (kWh) over all schedules that meet every need.  Potential per
    hour: the kW the fleet can hold below (down) or above (up) uncontrolled charging for --duration-hours from
    that hour, each session on its own, every need still met.
    """
    from vgi.flex.envelope import adjustable_potential, fleet_envelope
    from vgi.schedule.problem import FleetOnGrid

    sessions = _read_fleet_sessions(sessions_path, fmt)
    grid = _grid_for(sessions, start, days, step_minutes, timezone or sessions.timezone)
    fleet = FleetOnGrid.from_sessions(sessions, grid, mode)  # type: ignore[arg-type]
    env = fleet_envelope(fleet)
    potential = adjustable_potential(fleet, duration_hours)
    frame = env.to_frame()
    if out_path is not None:
        out = frame.reset_index(names="time")
        if Path(out_path).suffix.lower() in (".parquet", ".pq"):
            out.to_parquet(out_path, index=False)
        else:
            out.to_csv(out_path, index=False)
    hourly = frame.resample("1h").agg(
        {"power_min_kw": "min", "power_max_kw": "max", "energy_min_kwh": "last", "energy_max_kwh": "last",
         "plugged_in": "max"}
    )
    summary: dict[str, Any] = {
        "sessions": len(fleet),
        "mode": mode,
        "grid": {"start": grid.local_index[0].isoformat(), "steps": grid.n_steps, "step_minutes": step_minutes},
        "duration_hours": duration_hours,
        "max_power_kw": float(env.power_max_kw.max(initial=0.0)),
        "min_power_kw": float(env.power_min_kw.min(initial=0.0)),
        "energy_final_min_kwh": float(env.energy_min_kwh[-1]) if grid.n_steps else 0.0,
        "energy_final_max_kwh": float(env.energy_max_kwh[-1]) if grid.n_steps else 0.0,
        "envelope": [
            {"time": t.isoformat(), **{k: _number(v) for k, v in row.items()}}
            for t, row in zip(frame.index, frame.to_dict("records"), strict=True)
        ],
        "potential": [
            {"start": r["start"].isoformat(), "baseline_kw": r["baseline_kw"], "down_kw": r["down_kw"],
             "up_kw": r["up_kw"], "sessions": int(r["sessions"])}
            for r in potential.to_dict("records")
        ],
    }
    if out_path is not None:
        summary["out"] = out_path
    if as_json:
        print_json(summary)
        return
    by_start = {pd.Timestamp(r["start"]): r for r in potential.to_dict("records")}
    rows = []
    for t, values in zip(hourly.index, hourly.to_dict("records"), strict=True):
        p = by_start.get(pd.Timestamp(t))
        rows.append([
            pd.Timestamp(t).strftime("%m-%d %H:%M"), int(values["plugged_in"]),
            *(f"{float(values[k]):.1f}" for k in ("power_min_kw", "power_max_kw", "energy_min_kwh", "energy_max_kwh")),
            f"{float(p['down_kw']):.1f}" if p is not None else "",
            f"{float(p['up_kw']):.1f}" if p is not None else "",
        ])
    print_table(
        f"flexibility of {len(fleet)} sessions ({mode}); potential held for {duration_hours:g} h",
        ["hour", "plugged", "p_min_kw", "p_max_kw", "e_min_kwh", "e_max_kwh", "down_kw", "up_kw"],
        rows,
    )
