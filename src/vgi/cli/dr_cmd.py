"""``vgi programmes``, ``vgi eligibility``, ``vgi offer`` and ``vgi settle``: demand-response programmes and markets.

Units: power in kW (positive import, negative export), energy in kWh, money in the programme's currency; times ISO
8601 with a UTC offset (a naive time is read in the programme's time zone).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import click
import numpy as np
import pandas as pd

from vgi.cli.common import json_option, print_json, print_table
from vgi.errors import VgiError

__all__ = ["eligibility", "offer", "programmes", "settle"]


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.4g}"
    if isinstance(value, tuple | list):
        return ", ".join(_fmt(v) for v in value) or "-"
    return str(value)


def _flatten(prefix: str, value: Any, out: list[tuple[str, str]]) -> None:
    from pydantic import BaseModel

    if isinstance(value, BaseModel):
        for name in type(value).model_fields:
            _flatten(f"{prefix}.{name}" if prefix else name, getattr(value, name), out)
    elif isinstance(value, dict):
        for k, v in value.items():
            _flatten(f"{prefix}.{k}" if prefix else str(k), v, out)
    elif isinstance(value, tuple) and value and isinstance(value[0], BaseModel):
        out.append((prefix, "; ".join(
            " ".join(f"{k}={v}" for k, v in item.model_dump().items()) for item in value)))
    else:
        out.append((prefix, _fmt(value)))


# ----------------------------------------------------------------------------------------------- programmes


@click.group(invoke_without_command=True)
@json_option
@click.pass_context
def programmes(ctx: click.Context, as_json: bool) -> None:
    """Demand-response programmes and market products shipped with vgi (``list``, ``show ID``)."""
    if ctx.invoked_subcommand is None:
        ctx.invoke(programmes_list, as_json=as_json)


@programmes.command("list")
@json_option
def programmes_list(as_json: bool) -> None:
    """List every programme: id, name, region, kind, services and size limits."""
    from vgi.dr.programmes import programme_library

    rows = [p.summary() for p in programme_library().values()]
    if as_json:
        print_json(rows)
        return
    print_table(
        "Demand-response programmes and market products",
        ["id", "region", "kind", "services", "direction", "min kW", "max kW", "min duration"],
        [[r["id"], r["region"], r["kind"], r["services"], r["direction"], _fmt(r["min_kw"]), _fmt(r["max_kw"]),
          f"{r['min_duration_minutes']:g} min"] for r in rows],
    )


@programmes.command("show")
@click.argument("programme_id")
@json_option
def programmes_show(programme_id: str, as_json: bool) -> None:
    """Show one programme's rules, its sources, and which values are assumptions."""
    from vgi.dr.programmes import get_programme

    prog = get_programme(programme_id)
    if as_json:
        print_json(prog.model_dump(mode="json"))
        return
    fields: list[tuple[str, str]] = []
    _flatten("", prog.model_copy(update={"assumptions": {}, "source": ()}), fields)
    rows = [[k, v, "assumption" if prog.is_assumption(k) else ""] for k, v in fields
            if k not in ("assumptions", "source") and v not in ("-", "", "()")]
    print_table(f"{prog.id}: {prog.name}", ["field", "value", ""], rows)
    print_table("sources", ["#", "source"], [[i + 1, s] for i, s in enumerate(prog.source)])
    if prog.assumptions:
        print_table("assumptions (values not given by the sources)", ["field", "why"],
                    [[k, v] for k, v in prog.assumptions.items()])


# ----------------------------------------------------------------------------------------------- helpers


def _sessions(path: str, fmt: str) -> Any:
    from vgi.io.session_readers import read_any

    if not Path(path).exists():
        raise VgiError(f"{path}: no such file")
    return read_any(path, fmt)


def _scenario_sessions(scenario: str) -> Any:
    from vgi.scenario.inputs import prepare
    from vgi.scenario.loader import load_scenario

    return prepare(load_scenario(scenario)).sessions


def _fleet_from(sessions: str | None, scenario: str | None, fmt: str) -> Any:
    if (sessions is None) == (scenario is None):
        raise VgiError("give exactly one of --sessions FILE or --scenario NAME-OR-FILE")
    return _sessions(sessions, fmt) if sessions is not None else _scenario_sessions(scenario)  # type: ignore[arg-type]


sessions_option = click.option("--sessions", "sessions_path", type=click.Path(dir_okay=False),
                               help="Session file (generic CSV/Parquet, or --format).")
scenario_option = click.option("--scenario", "scenario", help="A scenario (shipped name or YAML file): its fleet.")
format_option = click.option("--format", "fmt", default="generic", show_default=True,
                             type=click.Choice(["generic", "acn-json", "acn-csv", "boulder"]),
                             help="Session file format.")
programme_option = click.option("--programme", "programme_id", required=True,
                                help="Programme id (see `vgi programmes`) or a programme YAML file.")


# ----------------------------------------------------------------------------------------------- eligibility


@click.command()
@sessions_option
@scenario_option
@format_option
@programme_option
@click.option("--confidence", default=0.9, show_default=True, type=float,
              help="Probability the size is stated with (share of days it is reached).")
@click.option("--threshold-kw", type=float, default=None, help="Minimum size to test instead of the programme's.")
@click.option("--mode", type=click.Choice(["v1g", "v2g"]), default=None,
              help="Charging mode (default: v2g where sessions may discharge).")
@click.option("--response-minutes", type=float, default=1.0, show_default=True,
              help="How fast the fleet responds (assumed 1 min for direct charger control).")
@click.option("--metering-minutes", type=float, default=None, help="The aggregator's metering interval, minutes.")
@click.option("--telemetry/--no-telemetry", default=None, help="Whether the aggregator has real-time telemetry.")
@click.option("--per-resource-metering/--no-per-resource-metering", default=None,
              help="Whether every charger is metered.")
@click.option("--zones", "zones_path", type=click.Path(dir_okay=False), default=None,
              help="CSV 'site_id,zone' for location rules (sub-LAP, GSP group, province).")
@click.option("--no-sites", is_flag=True, help="Skip sizing each site as a separate aggregation.")
@json_option
def eligibility(sessions_path: str | None, scenario: str | None, fmt: str, programme_id: str, confidence: float,
                threshold_kw: float | None, mode: str | None, response_minutes: float,
                metering_minutes: float | None, telemetry: bool | None, per_resource_metering: bool | None,
                zones_path: str | None, no_sites: bool, as_json: bool) -> None:
    """Does the fleet qualify for a programme?  Size at the needed hours with a confidence, response time, duration,
    metering, telemetry and location; the smallest qualifying fleet; the effect of the size threshold."""
    from vgi.dr.eligibility import assess

    fleet = _fleet_from(sessions_path, scenario, fmt)
    zones = None
    if zones_path is not None:
        frame = pd.read_csv(zones_path, dtype=str)
        if not {"site_id", "zone"} <= set(frame.columns):
            raise VgiError(f"{zones_path}: expected columns 'site_id,zone', found {list(frame.columns)}")
        zones = dict(zip(frame["site_id"], frame["zone"], strict=True))
    report = assess(
        fleet, programme_id, confidence=confidence, threshold_kw=threshold_kw, mode=mode,
        fleet_response_minutes=response_minutes, metering_interval_minutes=metering_minutes,
        per_resource_metering=per_resource_metering, telemetry=telemetry, zones=zones, site_analysis=not no_sites,
    )
    if as_json:
        print_json(report.to_dict())
        return
    verdict = {True: "QUALIFIES", False: "DOES NOT QUALIFY", None: "UNDECIDED (information missing)"}[report.qualifies]
    print_table(f"{report.programme_id}: {verdict}", ["check", "status", "detail"],
                [[c.name, c.status, c.detail] for c in report.checks])
    print_table(f"size at confidence {report.confidence:g} by call start (kW)",
                ["direction", "start", "size kW", "mean kW", "days"],
                [[r["direction"], r["start"], r["size_kw"], r["mean_kw"], r["days"]]
                 for r in report.sizes.to_dict(orient="records")])
    cols = list(report.thresholds.columns)
    print_table("threshold effect", cols, [[_fmt(v) for v in row] for row in report.thresholds.itertuples(
        index=False, name=None)])
    click.echo(f"vehicles: {report.vehicles}; smallest qualifying fleet: "
               f"{_fmt(report.smallest_fleet_vehicles)} vehicles at {report.threshold_kw:,.0f} kW")
    for note in report.notes:
        click.echo(f"note: {note}")


# ----------------------------------------------------------------------------------------------- offer


@click.command()
@sessions_option
@scenario_option
@format_option
@programme_option
@click.option("--day", required=True, help="Delivery day (YYYY-MM-DD, local to the programme).")
@click.option("--probability", default=0.9, show_default=True, type=float,
              help="Probability each hour's quantity is delivered with.")
@click.option("--scenarios", "n_scenarios", default=30, show_default=True, type=int,
              help="Scenarios drawn from the session data.")
@click.option("--seed", default=0, show_default=True, type=int)
@click.option("--mode", type=click.Choice(["v1g", "v2g"]), default=None)
@click.option("--tariff", "tariff_id", default=None, help="Import tariff id, for the reservation price.")
@click.option("--wear-cost", "wear_cost", default=0.0, show_default=True, type=float,
              help="Battery wear per battery kWh discharged, programme currency.")
@click.option("--margin", default=0.0, show_default=True, type=float, help="Margin per kWh added to the price.")
@click.option("--now", default=None, help="When the offer is made (default: at gate closure).")
@json_option
def offer(sessions_path: str | None, scenario: str | None, fmt: str, programme_id: str, day: str,
          probability: float, n_scenarios: int, seed: int, mode: str | None, tariff_id: str | None,
          wear_cost: float, margin: float, now: str | None, as_json: bool) -> None:
    """The day-ahead offer per hour (kW up and down, and a price) deliverable with a stated probability."""
    from vgi.dr.offers import build_offer
    from vgi.dr.programmes import get_programme

    fleet = _fleet_from(sessions_path, scenario, fmt)
    prog = get_programme(programme_id)
    tariff = None
    if tariff_id is not None:
        from vgi.io.tariff_library import get_tariff

        tariff = get_tariff(tariff_id)
    try:
        the_day = pd.Timestamp(day).date()
    except ValueError as exc:
        raise VgiError(f"--day '{day}' is not a date (YYYY-MM-DD)") from exc
    now_ts = None
    if now is not None:
        try:
            now_ts = pd.Timestamp(now)
        except ValueError as exc:
            raise VgiError(f"--now '{now}' is not a time") from exc
        if now_ts.tzinfo is None:
            now_ts = now_ts.tz_localize(prog.timezone)
    result = build_offer(fleet, prog, the_day, probability=probability, n_scenarios=n_scenarios, seed=seed,
                         mode=mode, now=now_ts, tariff=tariff, wear_cost_per_kwh=wear_cost, margin_per_kwh=margin)
    if as_json:
        print_json(result.to_dict())
        return
    gate = "-" if result.gate_closure is None else result.gate_closure.isoformat()
    print_table(
        f"{result.programme_id} offer for {result.day} (probability {result.probability:g}, "
        f"{result.n_scenarios} scenarios, gate closure {gate})",
        ["direction", "hour", "offer kW", "at p kW", "mean kW", "P(deliver)", f"price {result.currency}/kWh",
         "status"],
        [[r["direction"], r["label"], r["quantity_kw"], r["capability_kw"], r["mean_kw"], r["achieved_probability"],
          r["price_per_kwh"], r["status"]] for r in result.hours.to_dict(orient="records")],
    )
    for note in result.notes:
        click.echo(f"note: {note}")


# ----------------------------------------------------------------------------------------------- settle


def _parse_days(values: tuple[str, ...], option: str) -> list[dt.date]:
    """``YYYY-MM-DD`` strings as dates; a bad one is a one-line error naming the option and the value."""
    out = []
    for v in values:
        try:
            out.append(dt.date.fromisoformat(v.strip()))
        except ValueError as exc:
            raise VgiError(f"{option} '{v}' is not a date YYYY-MM-DD") from exc
    return out


def _read_power(path: str, what: str) -> pd.Series:
    from vgi.cli.bill_cmd import read_load_csv

    try:
        return read_load_csv(path)
    except VgiError as exc:
        raise VgiError(f"{what}: {exc}") from exc


@click.command()
@click.option("--metered", "metered_path", type=click.Path(dir_okay=False), default=None,
              help="Metered load CSV 'timestamp,power_kw' covering the event (and its history unless --history).")
@click.option("--scenario", "scenario", default=None,
              help="A scenario (shipped name or YAML file): run it and settle its events.")
@programme_option
@click.option("--event", "events", multiple=True,
              help="START/END/KW[/down|up], e.g. 2024-05-20T18:00+08:00/2024-05-20T19:00+08:00/4000 (repeatable).")
@click.option("--price", "price", type=float, default=None, help="The event's clearing or offer price per kWh.")
@click.option("--baseline", "baseline_method", default=None,
              type=click.Choice(["x_of_y", "high_x_of_y", "caiso", "high_4_of_5", "similar_days", "declared",
                                 "meter_before_after"]),
              help="Baseline method instead of the programme's.")
@click.option("--history", "history_path", type=click.Path(dir_okay=False), default=None,
              help="Metered history CSV 'timestamp,power_kw' for day-matching baselines.")
@click.option("--declared", "declared_path", type=click.Path(dir_okay=False), default=None,
              help="Declared schedule CSV 'timestamp,power_kw' (BM physical notification points).")
@click.option("--imbalance-price", type=float, default=None, help="Imbalance price per kWh (non-delivery rule).")
@click.option("--uncommitted", is_flag=True, help="No committed volume: pay every kWh of response, no penalties.")
@click.option("--capacity-kw", type=float, default=0.0, show_default=True, help="Contracted capacity, kW.")
@click.option("--capacity-months", type=float, default=0.0, show_default=True, help="Months of capacity paid.")
@click.option("--exclude-day", "exclude_days", multiple=True, metavar="YYYY-MM-DD",
              help="A local day (programme's time zone) the baselines must not use, e.g. an event day settled "
                   "in an earlier call (repeatable).  The days of earlier --event's are left out by themselves.")
@json_option
def settle(metered_path: str | None, scenario: str | None, programme_id: str, events: tuple[str, ...],
           price: float | None, baseline_method: str | None, history_path: str | None, declared_path: str | None,
           imbalance_price: float | None, uncommitted: bool, capacity_kw: float, capacity_months: float,
           exclude_days: tuple[str, ...], as_json: bool) -> None:
    """Settle events: measured response against the baseline, payments and penalties by the programme's rules.

    Baseline days are local days of the programme's time zone; the days of earlier events in the same call, and
    every --exclude-day, are not used."""
    from vgi.dr.events import parse_event
    from vgi.dr.programmes import get_programme
    from vgi.dr.settlement import settle_events

    prog = get_programme(programme_id)
    if (metered_path is None) == (scenario is None):
        raise VgiError("give exactly one of --metered FILE or --scenario NAME-OR-FILE")
    excluded = _parse_days(exclude_days, "--exclude-day")
    if scenario is not None:
        if excluded:
            raise VgiError("--exclude-day applies to --metered; a scenario's baselines already leave out its "
                           "event days")
        results = _settle_scenario(scenario, prog)
    else:
        if not events:
            raise VgiError("give at least one --event START/END/KW")
        metered = _read_power(metered_path, "--metered")  # type: ignore[arg-type]
        history = _read_power(history_path, "--history") if history_path else None
        declared = _read_power(declared_path, "--declared") if declared_path else None
        parsed = []
        for i, text in enumerate(events):
            ev = parse_event(text, prog.timezone, price_per_kwh=price)
            parsed.append(type(ev)(ev.start, ev.end, ev.committed_kw, ev.direction, ev.price_per_kwh,
                                   f"event-{i + 1}"))
        settled = settle_events(prog, parsed, metered, history_kw=history, baseline_method=baseline_method,
                                declared_kw=declared, exclude_days=excluded,
                                imbalance_price_per_kwh=imbalance_price, capacity_kw=capacity_kw,
                                capacity_months=capacity_months, uncommitted=uncommitted)
        results = [st.to_dict() for st in settled]
    if as_json:
        print_json(results if len(results) != 1 else results[0])
        return
    for r in results:
        title = (f"{r['programme']} {r['event']} ({r['direction']}): net {r['net']:,.2f} {r['currency']}, "
                 f"response {r['response_kwh']:,.2f} kWh")
        if r.get("committed_kwh"):
            title += f" of {r['committed_kwh']:,.2f} committed ({r['performance']:.0%})"
        periods = r["periods"]
        print_table(
            title,
            [f"period ({prog.timezone})", "baseline kWh", "metered kWh", "response kWh", "committed kWh", "paid kWh",
             "price", "payment", "penalty"],
            [[pd.Timestamp(p["period_start"]).tz_convert(prog.timezone).strftime("%Y-%m-%d %H:%M"), p["baseline_kwh"],
              p["metered_kwh"], p["response_kwh"], p["committed_kwh"], p["paid_kwh"], p["price_per_kwh"],
              p["energy_payment"],
              p["under_penalty"] + p["imbalance_cost"] + p["over_penalty"]] for p in periods],
        )
        lines = [["energy payment", r["energy_payment"]], ["event payment", r["event_payment"]],
                 ["capacity payment", r["capacity_payment"]], ["availability payment", r["availability_payment"]],
                 ["under-delivery penalty", -r["under_penalty"]], ["imbalance cost", -r["imbalance_cost"]],
                 ["over-delivery penalty", -r["over_penalty"]], ["net", r["net"]]]
        print_table(f"settlement ({r['currency']})", ["line", "amount"], lines)
        if "baseline" in r:
            b = r["baseline"]
            click.echo(f"baseline: {b['method']}; days used: {', '.join(b['days_used']) or '-'}; "
                       f"adjustment: {_fmt(b['adjustment'])}")
            for note in b["notes"]:
                click.echo(f"baseline note: {note}")
        for note in r["notes"]:
            click.echo(f"note: {note}")


def _settle_scenario(scenario: str, prog: Any) -> list[dict[str, Any]]:
    """Run a scenario and settle its events under ``prog`` for every direct mode (the scenario's own events)."""
    from vgi.api import run

    res = run(scenario)
    table = res.settlement
    if table is None or len(table) == 0:
        raise VgiError(f"scenario '{scenario}' has no demand-response events to settle")
    out = []
    runs = res.runs
    from vgi.dr.settlement import settle_arrays

    inp = getattr(res, "inputs", None)
    for mode, mode_run in runs.items():
        if not str(mode).startswith("direct"):
            continue
        sched = mode_run.schedule
        grid = sched.fleet.grid
        agg = sched.aggregate_kw
        for ev in (inp.events if inp is not None else []):
            w = slice(ev.start_step, ev.stop_step)
            base = mode_run.baselines_kw[ev.id]
            requested = table[(table["event"] == ev.id) & (table["mode"] == mode)]["requested_kw"]
            committed = float(requested.iloc[0]) if len(requested) else None
            st = settle_arrays(prog, grid.utc_index[w], np.asarray(base)[w], agg[w], grid.step_hours, committed,
                               price_per_kwh=ev.spec.price_per_kwh or None, event_id=f"{ev.id} ({mode})")
            out.append(st.to_dict())
    if not out:
        raise VgiError(f"scenario '{scenario}' has no direct mode whose events could be settled")
    return out
