"""A self-contained HTML report: figures embedded as base64 PNG, no script, no external resource.

It opens offline in any browser.  :func:`render_report` renders a scenario's results,
:func:`render_sweep_report` a sweep's table.
"""

from __future__ import annotations

import base64
import datetime as dt
import html
import math
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from vgi.report import figures as F
from vgi.scenario.schema import MODE_LABELS
from vgi.version import __version__

if TYPE_CHECKING:
    from vgi.scenario.runner import Results

__all__ = ["figure_html", "render_report", "render_sweep_report", "table_html"]

CSS = """
body{font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:1.5em
auto;max-width:1200px;color:#222; padding:0 1em;line-height:1.4}
h1{font-size:1.6em;margin-bottom:.2em}h2{border-bottom:1px solid #ddd;padding-bottom:.2em;margin-top:1.6em}
table{border-collapse:collapse;font-size:.86em;margin:.6em 0}th,td{border:1px solid #ddd;padding:3px 7px}
th{background:#f4f4f4;text-align:left}td.num{text-align:right;font-variant-numeric:tabular-nums}
figure{margin:1em 0}figure img{max-width:100%;height:auto;border:1px solid #eee}
figcaption{font-size:.85em;color:#555;margin-top:.3em}.note{color:#555;font-size:.9em}
.muted{color:#888}
"""


def _fmt(value: Any, key: str = "") -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if key.endswith(("_share", "_factor")):
            return f"{value:.3f}"
        if abs(value) >= 100:
            return f"{value:,.0f}"
        if abs(value) >= 1:
            return f"{value:,.2f}"
        return f"{value:.4g}"
    return html.escape(str(value))


def table_html(
    columns: Sequence[str], rows: Iterable[Sequence[Any]], keys: Sequence[str] | None = None, cls: str = ""
) -> str:
    """An HTML table; numbers right-aligned; ``keys`` (one per row) guide number formats."""
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in columns)
    body = []
    for i, row in enumerate(rows):
        key = keys[i] if keys is not None else ""
        cells = []
        for j, v in enumerate(row):
            num = isinstance(v, int | float) and not isinstance(v, bool)
            cells.append(
                f'<td class="num">{_fmt(v, key)}</td>'
                if (num and j > 0) or (num and keys is None)
                else f"<td>{_fmt(v, key)}</td>"
            )
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f'<table class="{cls}"><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table>'


def figure_html(data: bytes, caption: str, fig_id: str) -> str:
    """A figure with its PNG embedded as a data URI."""
    b64 = base64.b64encode(data).decode("ascii")
    return (
        f'<figure id="{html.escape(fig_id)}" class="vgi-figure"><img alt="{html.escape(caption)}" '
        f'src="data:image/png;base64,{b64}"><figcaption>{html.escape(caption)}</figcaption></figure>'
    )


def _page(title: str, body: str) -> str:
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<link rel="icon" href="data:,">'
        f"<title>{html.escape(title)}</title><style>{CSS}</style></head><body>{body}"
        f'<hr><p class="muted">Made by vgi {__version__} on {dt.date.today().isoformat()}. '
        "Self-contained: the figures are embedded in this file.</p></body></html>\n"
    )


def render_report(res: Results) -> str:
    """The scenario report as one HTML string."""
    from vgi.scenario.output import metric_unit

    scn = res.scenario
    inp = res.inputs
    f = inp.sessions.frame
    parts: list[str] = [f"<h1>{html.escape(scn.name)}</h1>"]
    if scn.description:
        parts.append(f"<p>{html.escape(scn.description)}</p>")
    horizon_end = inp.grid.start + pd.Timedelta(minutes=inp.horizon_steps * inp.grid.step_minutes)
    facts = [
        (
            "horizon",
            f"{inp.grid.start:%Y-%m-%d %H:%M} to {horizon_end:%Y-%m-%d %H:%M} ({scn.timezone}), "
            f"{scn.horizon.step_minutes}-min steps; simulated until {inp.grid.end:%Y-%m-%d %H:%M}",
        ),
        (
            "fleet",
            f"{len(f):,} sessions of {inp.n_vehicles:,} vehicles at {f['site_id'].nunique():,} sites; "
            f"{int(f.loc[inp.sessions.v2g_enabled, 'vehicle_id'].nunique()):,} vehicles may discharge (V2G); "
            f"{float(f['energy_kwh'].sum()):,.0f} kWh wanted",
        ),
        ("tariffs", ", ".join(f"{t.id} ({t.name})" for t in inp.tariffs)),
        ("aggregator prices", "spot series" if scn.aggregator.prices == "spot" else f"{inp.tariffs[0].id}"),
        (
            "limits",
            ", ".join(
                [f"{len(inp.site_limits_kw)} site limit(s)"]
                + (
                    [f"feeder import {scn.grid.feeder_import_limit_kw:g} kW"]
                    if scn.grid.feeder_import_limit_kw
                    else []
                )
            ),
        ),
        (
            "events",
            "; ".join(
                f"{e.id}: {e.spec.day} {e.spec.start}-{e.spec.end}, "
                + (
                    f"{e.spec.reduction_kw:g} kW"
                    if e.spec.reduction_kw is not None
                    else f"{e.spec.reduction_share:.0%} of baseline"
                )
                + f" at {e.spec.price_per_kwh:g} {res.currency}/kWh, baseline {e.spec.baseline}"
                for e in inp.events
            )
            or "none",
        ),
        ("currency", res.currency),
    ]
    parts.append("<h2>Inputs</h2>" + table_html(["", ""], facts))
    if inp.notes:
        parts.append('<ul class="note">' + "".join(f"<li>{html.escape(n)}</li>" for n in inp.notes) + "</ul>")
    if scn.sources:
        parts.append('<p class="note">Sources: ' + "; ".join(html.escape(s) for s in scn.sources) + "</p>")

    parts.append("<h2>Summary</h2>")
    summary = res.summary()
    cleaned = [[k, metric_unit(k, res.currency), *[res.metrics[m].get(k) for m in res.modes]] for k in summary.index]
    parts.append(
        table_html(
            ["metric", "unit", *[MODE_LABELS[m] for m in res.modes]],
            cleaned,
            keys=list(summary.index),
            cls="summary",
        )
    )
    parts.append(
        '<p class="note">Definitions: see <code>vgi.scenario.metrics</code> (docs/scenarios.md). '
        "Savings and reductions are against uncontrolled charging.</p>"
    )

    parts.append("<h2>Load curves</h2>")
    n = 0
    data, cap = F.overview_bars(res)
    parts.append(figure_html(data, cap, f"fig-{n}"))
    n += 1
    data, cap = F.profile_figure(res)
    parts.append(figure_html(data, cap, f"fig-{n}"))
    n += 1
    for mode in res.modes:
        if mode == "uncontrolled":
            continue
        data, cap = F.mode_figure(res, mode)
        parts.append(figure_html(data, cap, f"fig-{n}"))
        n += 1

    if inp.events:
        parts.append("<h2>Events and settlement</h2>")
        for ev in inp.events:
            data, cap = F.event_figure(res, ev.id)
            parts.append(figure_html(data, cap, f"fig-{n}"))
            n += 1
        cols = [
            "event",
            "mode",
            "rule",
            "participates",
            "baseline",
            "baseline_kwh",
            "actual_kwh",
            "requested_kwh",
            "delivered_kwh",
            "shortfall_kwh",
            "paid_kwh",
            "energy_payment",
            "capacity_payment",
            "penalty",
            "net",
            "participants",
        ]
        parts.append(
            table_html(cols, res.settlement[cols].itertuples(index=False, name=None), cls="settlement")
        )
        parts.append(
            f'<p class="note">Money in {res.currency}. Only the direct (aggregator) modes take part and '
            "are paid; the other modes are measured against the same baseline.</p>"
        )
    if len(res.eligibility):
        parts.append("<h2>Eligibility</h2>")
        el = res.eligibility
        parts.append(table_html(list(el.columns), el.itertuples(index=False, name=None), cls="eligibility"))

    streams_part = revenue_streams_html(res)
    if streams_part:
        parts.append(streams_part)

    parts.append("<h2>Drivers</h2>")
    money = ["charge_kwh", "discharge_kwh", "import_cost", "export_credit", "wear_cost", "dr_payout"]
    money.append("net_cost")
    d = pd.DataFrame(res.drivers.groupby("mode", sort=False)[money].sum())
    rows_d = [[m, *d.loc[m].to_numpy().tolist()] for m in res.modes if m in d.index]
    parts.append(table_html(["mode", *money], rows_d))
    parts.append(f'<p class="note">Totals over the horizon, {res.currency}; per vehicle in drivers.csv.</p>')
    return _page(f"vgi: {scn.name}", "".join(parts))


def revenue_streams_html(res: Results) -> str:
    """The aggregator's revenue streams per direct mode (one column per mode) and the capacity it held per service
    and block; empty where the scenario has no direct mode."""
    streams = res.revenue_streams()
    if streams.empty:
        return ""
    modes = list(dict.fromkeys(streams["mode"]))
    wide = streams.pivot_table(index="stream", columns="mode", values="revenue", aggfunc="sum", sort=False)
    order = [s for s in dict.fromkeys(streams["stream"]) if s != "total"] + ["total"]
    rows = [[s, *[None if pd.isna(wide.loc[s, m]) else float(wide.loc[s, m]) for m in modes]] for s in order]
    out = ["<h2>Aggregator revenue streams</h2>",
           table_html(["stream", *[MODE_LABELS.get(m, m) for m in modes]], rows, cls="streams")]
    out.append(
        f'<p class="note">{html.escape(res.currency)} over the simulated grid, positive earned. energy: minus the '
        "energy bill at the aggregator's prices; demand_response: event payments less penalties, before the "
        "drivers' share; availability / capacity: paid for capacity held (a capacity market per de-rated kW: "
        "derated_kw = held_kw x the service's de-rating factor); utilisation: expected energy of calls "
        "at the energy price; mileage: regulation mileage pay; wear: battery wear. See docs/stacking.md.</p>"
    )
    held = res.services_held()
    if len(held):
        cols = ["mode", "service", "direction", "block_start", "block_end", "held_kw", "derated_kw",
                "availability", "utilisation", "mileage"]
        rows_h = [[*r[:3], f"{r[3]:%Y-%m-%d %H:%M}", f"{r[4]:%H:%M}", *r[5:]]
                  for r in held[cols].itertuples(index=False, name=None)]
        out.append("<h3>Capacity held</h3>" + table_html(cols, rows_h, cls="held"))
    return "".join(out)


def write_report(res: Results, out_dir: str | Path) -> Path:
    """Write ``report.html`` (:func:`render_report`) into ``out_dir``; returns its path."""
    path = Path(out_dir) / "report.html"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_report(res), encoding="utf-8")
    return path


def render_sweep_report(rows: pd.DataFrame, params: list[str], title: str, currency: str) -> str:
    """A sweep's table and figures as one HTML string."""
    parts = [
        f"<h1>{html.escape(title)}</h1>",
        f"<p>{rows['point'].nunique()} point(s) over {', '.join(params) or 'no parameter'}.</p>",
    ]
    for i, (data, cap) in enumerate(F.sweep_figures(rows, params, currency)):
        parts.append(figure_html(data, cap, f"fig-{i}"))
    show = [
        c
        for c in [
            "point",
            *params,
            "mode",
            "peak_kw",
            "peak_reduction_pct",
            "offpeak_share",
            "driver_savings_per_ev_year",
            "v2g_discharge_kwh",
            "aggregator_net_revenue",
            "price_spread",
        ]
        if c in rows.columns
    ]
    show += [c for c in rows.columns if c.startswith("evs_for_")]
    parts.append("<h2>Results</h2>")
    parts.append(table_html(show, rows[show].itertuples(index=False, name=None)))
    return _page(title, "".join(parts))
