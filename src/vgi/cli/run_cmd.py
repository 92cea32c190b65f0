"""``vgi run`` and ``vgi sweep``: the main job.

``vgi run [FILE]`` runs a scenario (with no argument the shipped default, ``guangzhou-default``) under every
mode and writes ``report.html``, ``metrics.json``, the schedules (Parquet and CSV) and more to ``--out``
(default ``./vgi-results/<scenario name>/``), then prints a summary table.  ``vgi sweep FILE --param
KEY=V1,V2`` runs it over a grid of parameters, in parallel and resumably.
"""

from __future__ import annotations

import contextlib
import math
import os
import sys
import time
from collections.abc import Iterator
from typing import Any

import click
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from vgi.cli.common import json_option, print_json
from vgi.scenario.schema import MODE_LABELS

DEFAULT_SCENARIO = "guangzhou-default"


def _progress(quiet: bool) -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        transient=True,
        disable=quiet,
    )


@contextlib.contextmanager
def _stdout_to_stderr(active: bool) -> Iterator[None]:
    """Send everything written to file descriptor 1 (solver banners from C++ libraries included) to stderr, so that
    ``--json`` prints nothing but JSON on stdout."""
    if not active:
        yield
        return
    sys.stdout.flush()
    saved = os.dup(1)
    try:
        os.dup2(2, 1)
        yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)


def _console() -> Console:
    """A console for tables: as wide as the terminal, or 150 columns when writing to a file or pipe."""
    console = Console()
    return console if console.is_terminal else Console(width=150)


def _fmt(value: Any, key: str) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "-"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if key.endswith(("_share", "_factor")):
            return f"{value:.3f}"
        return f"{value:,.1f}" if abs(value) >= 10 else f"{value:,.3f}"
    return str(value)


SUMMARY_KEYS = (
    "peak_kw",
    "peak_reduction_pct",
    "load_factor",
    "energy_shifted_kwh",
    "offpeak_share",
    "onpeak_share",
    "low_price_share",
    "renewable_absorbed_share",
    "unmet_kwh",
    "driver_cost_per_ev_year",
    "driver_savings_per_ev_year",
    "v2g_discharge_kwh",
    "v2g_export_revenue",
    "battery_wear_cost",
    "dr_delivered_kwh",
    "aggregator_revenue",
    "aggregator_penalties",
    "aggregator_net_revenue",
)


@click.command("run")
@click.argument("scenario", required=False, default=None)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False),
    help="Results folder [default: ./vgi-results/<scenario name>/].",
)
@click.option(
    "--set",
    "overrides",
    multiple=True,
    metavar="KEY=VALUE",
    help="Override a scenario key, e.g. --set fleet.generator.count=500 (repeatable).",
)
@json_option
@click.option("--quiet", is_flag=True, help="No progress bar and no table; print only the results folder.")
def run(
    scenario: str | None, out_dir: str | None, overrides: tuple[str, ...], as_json: bool, quiet: bool
) -> None:
    """Run SCENARIO (a YAML file or a shipped name; default: guangzhou-default) under every mode.

    Writes report.html, metrics.json, schedules.parquet/.csv, aggregate.parquet/.csv, sessions.csv,
    drivers.csv, settlement.csv and scenario.yaml, and prints the summary per mode.
    """
    from vgi.api import run as api_run

    started = time.perf_counter()
    with _stdout_to_stderr(as_json), _progress(quiet or as_json) as bar:
        task = bar.add_task("loading scenario", total=7)

        def step(label: str, i: int, n: int) -> None:
            bar.update(task, description=label, completed=1 + i, total=n + 2)

        res = api_run(
            scenario or DEFAULT_SCENARIO, overrides=list(overrides), out=out_dir or True, progress=step
        )
        bar.update(task, completed=bar.tasks[0].total)
    target = res.out_dir
    if as_json:
        from vgi.scenario.output import metrics_document

        doc = metrics_document(res)
        doc["out_dir"] = str(target)
        print_json(doc)
        return
    if quiet:
        click.echo(str(target))
        return
    console = _console()
    table = Table(
        title=f"{res.scenario.name}: {len(res.inputs.sessions):,} sessions, {res.inputs.n_vehicles:,} "
        f"vehicles, {res.scenario.horizon.days} day(s); money in {res.currency}",
        caption=" | ".join(f"{m}: {MODE_LABELS[m]}" for m in res.modes),
    )
    table.add_column("metric", no_wrap=True)
    for mode in res.modes:
        table.add_column(mode, justify="right", no_wrap=True)
    for key in SUMMARY_KEYS:
        if not any(key in res.metrics[m] for m in res.modes):
            continue
        table.add_row(key, *[_fmt(res.metrics[m].get(key), key) for m in res.modes])
    console.print(table)
    for note in res.inputs.notes:
        console.print(f"note: {note}")
    console.print(
        f"results in {target}/ (report.html, metrics.json, schedules.parquet, ...) "
        f"in {time.perf_counter() - started:.1f} s"
    )


@click.command("sweep")
@click.argument("scenario")
@click.option(
    "--param",
    "params",
    multiple=True,
    metavar="KEY=V1,V2,...",
    help="A scenario key and its values, e.g. --param fleet.v2g.share=0,0.1,0.2 (repeatable).",
)
@click.option(
    "--tariffs",
    "tariffs",
    metavar="table-3-3|ID,ID,...",
    help="Sweep tariffs.default over table 3-3's 27 regional tariffs, or over the ids given.",
)
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE", help="Override a key at every point.")
@click.option(
    "--workers", type=int, default=None, help="Processes [default: the CPU count; 1 runs in-process]."
)
@click.option(
    "--cluster", metavar="ADDRESS", default=None, help="Run on a Dask distributed scheduler instead."
)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False),
    help="Results folder [default: ./vgi-results/<scenario name>-sweep/].",
)
@json_option
@click.option("--quiet", is_flag=True, help="No progress bar.")
def sweep(
    scenario: str,
    params: tuple[str, ...],
    tariffs: str | None,
    overrides: tuple[str, ...],
    workers: int | None,
    cluster: str | None,
    out_dir: str | None,
    as_json: bool,
    quiet: bool,
) -> None:
    """Run SCENARIO over a grid of parameters; resumes where an earlier run stopped.

    Writes sweep.csv, sweep.parquet, report.html and one JSON per point under points/.
    """
    from vgi.api import sweep as api_sweep
    from vgi.errors import VgiError
    from vgi.scenario.sweep import parse_param, table_3_3_tariffs

    grid: dict[str, list[Any]] = {}
    for text in params:
        key, values = parse_param(text)
        if key in grid:
            raise VgiError(f"--param {key} given twice")
        grid[key] = values
    if tariffs:
        values = (
            table_3_3_tariffs() if tariffs.strip() == "table-3-3" else [t.strip() for t in tariffs.split(",")]
        )
        if "tariffs.default" in grid:
            raise VgiError("--tariffs and --param tariffs.default both given")
        grid["tariffs.default"] = list(values)
    with _stdout_to_stderr(as_json), _progress(quiet or as_json) as bar:
        task = bar.add_task("sweep", total=None)

        def step(done: int, total: int, label: str) -> None:
            bar.update(task, completed=done, total=total, description=label)

        res = api_sweep(
            scenario,
            grid,
            out=out_dir,
            overrides=list(overrides),
            workers=workers,
            cluster=cluster,
            progress=step,
        )
    if as_json:
        print_json(
            {
                "out_dir": str(res.out_dir),
                "points": int(res.rows["point"].nunique()),
                "ran": res.ran,
                "skipped": res.skipped,
                "failed": res.failed,
                "seconds": res.seconds,
                "rows": res.rows.to_dict(orient="records"),
            }
        )
        return
    console = _console()
    ok = res.rows[res.rows["mode"].notna()] if "mode" in res.rows else res.rows
    if len(ok):
        cols = [*res.params, "mode", "peak_reduction_pct", "offpeak_share", "driver_savings_per_ev_year"]
        cols = [c for c in cols if c in ok.columns]
        table = Table(title=f"sweep of {res.rows['point'].nunique()} point(s)")
        for c in cols:
            table.add_column(c, justify="left" if c in (*res.params, "mode") else "right")
        for row in ok[cols].itertuples(index=False):
            table.add_row(
                *[_fmt(v, c) if not isinstance(v, str) else v for v, c in zip(row, cols, strict=True)]
            )
        if not quiet:
            console.print(table)
    for fail in res.failed:
        console.print(f"[red]point {fail['id']} failed[/red]: {fail['error']}")
    console.print(
        f"{res.ran} point(s) run, {res.skipped} already done, {len(res.failed)} failed; results in "
        f"{res.out_dir}/ in {res.seconds:.1f} s"
    )
    if res.failed:
        sys.exit(1)


__all__ = ["run", "sweep"]
