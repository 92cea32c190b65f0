"""Figures of a scenario report, drawn with matplotlib's Agg backend and returned as PNG bytes.

Every figure function takes :class:`~vgi.scenario.runner.Results` (or sweep rows) and returns ``(png_bytes,
caption)``; nothing is written to disk here.
"""

from __future__ import annotations

import io
from typing import TYPE_CHECKING, Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.dates as mdates
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from vgi.scenario.schema import MODE_LABELS

if TYPE_CHECKING:
    from vgi.scenario.runner import Results

__all__ = [
    "event_figure",
    "mode_figure",
    "overview_bars",
    "png",
    "profile_figure",
    "sweep_figures",
]

COLOURS = {
    "uncontrolled": "#7f7f7f",
    "indirect-v1g": "#1f77b4",
    "indirect-v2g": "#17becf",
    "direct-v1g": "#d62728",
    "direct-v2g": "#ff7f0e",
}
DPI = 96


def png(fig: Figure) -> bytes:
    """The figure as PNG bytes (the figure is closed)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()


def _local_times(res: Results) -> pd.DatetimeIndex:
    return res.inputs.grid.local_index.tz_localize(None)


def _price_series(res: Results) -> tuple[np.ndarray, str]:
    inp = res.inputs
    if res.scenario.aggregator.prices == "spot" and inp.spot is not None:
        return inp.aggregator_prices[0], f"spot price ({res.currency}/kWh)"
    return inp.buy[0], f"{inp.tariffs[0].id} import price ({res.currency}/kWh)"


def _shade(ax: Any, res: Results, times: pd.DatetimeIndex) -> None:
    """Event windows (red) and the run-out after the horizon (grey)."""
    inp = res.inputs
    step = pd.Timedelta(minutes=inp.grid.step_minutes)
    for i, ev in enumerate(inp.events):
        ax.axvspan(
            times[ev.start_step],
            times[ev.stop_step - 1] + step,
            color="#d62728",
            alpha=0.15,
            label="event window" if i == 0 else None,
        )
    if inp.horizon_steps < inp.grid.n_steps:
        ax.axvspan(
            times[inp.horizon_steps],
            times[-1] + step,
            color="#cccccc",
            alpha=0.35,
            label="run-out after the horizon",
        )


def _time_axis(ax: Any) -> None:
    ax.xaxis.set_major_formatter(mdates.DateFormatter("%a %d %b\n%H:%M"))
    ax.grid(True, alpha=0.3)


def mode_figure(res: Results, mode: str) -> tuple[bytes, str]:
    """Aggregate load before (uncontrolled) and after (``mode``), prices, events, and the flexibility band."""
    times = _local_times(res)
    ref = res.runs["uncontrolled"].aggregate_kw
    agg = res.runs[mode].aggregate_kw
    lower, upper = res.flexibility_band_kw(mode)
    fig, (ax, bx) = plt.subplots(2, 1, figsize=(11, 6.2), sharex=True, gridspec_kw={"height_ratios": [3, 2]})
    ax.plot(times, ref, drawstyle="steps-post", color=COLOURS["uncontrolled"], lw=1.2, label="uncontrolled")
    ax.plot(
        times, agg, drawstyle="steps-post", color=COLOURS.get(mode, "C0"), lw=1.4, label=MODE_LABELS[mode]
    )
    if res.inputs.base_load_kw is not None:
        ax.plot(
            times, res.inputs.base_load_kw, color="#2ca02c", lw=0.8, ls=":", label="base load (not added)"
        )
    _shade(ax, res, times)
    ax.axhline(0, color="black", lw=0.6)
    ax.set_ylabel("fleet power (kW)")
    price, label = _price_series(res)
    px = ax.twinx()
    px.plot(times, price, drawstyle="steps-post", color="#9467bd", lw=0.9, alpha=0.8)
    px.set_ylabel(label, color="#9467bd")
    px.tick_params(axis="y", colors="#9467bd")
    ax.legend(loc="upper left", fontsize=8, ncol=2)
    ax.set_title(f"{MODE_LABELS[mode]} against uncontrolled charging")
    _time_axis(ax)
    bx.fill_between(
        times,
        lower,
        upper,
        step="post",
        color=COLOURS.get(mode, "C0"),
        alpha=0.15,
        label="flexibility band (power the plugged-in cars allow)",
    )
    bx.plot(
        times, agg, drawstyle="steps-post", color=COLOURS.get(mode, "C0"), lw=1.0, label=MODE_LABELS[mode]
    )
    _shade(bx, res, times)
    bx.axhline(0, color="black", lw=0.6)
    bx.set_ylabel("kW")
    bx.legend(loc="upper left", fontsize=8)
    _time_axis(bx)
    m = res.metrics[mode]
    caption = (
        f"{MODE_LABELS[mode]}: peak {m['peak_kw']:,.0f} kW "
        f"(uncontrolled {res.metrics['uncontrolled']['peak_kw']:,.0f} kW), "
        f"energy shifted {m['energy_shifted_kwh']:,.0f} kWh. Top: fleet power before and after, with "
        f"{label} (right axis) and event windows shaded red. "
        "Bottom: the band of power the plugged-in cars allow."
    )
    return png(fig), caption


def profile_figure(res: Results) -> tuple[bytes, str]:
    """The average local day of each mode (horizon days only)."""
    inp = res.inputs
    local = inp.grid.local_index[: inp.horizon_steps]
    minute = (local.hour * 60 + local.minute).to_numpy()
    fig, ax = plt.subplots(figsize=(11, 4))
    for mode in res.modes:
        series = pd.Series(res.runs[mode].aggregate_kw[: inp.horizon_steps]).groupby(minute).mean()
        ax.plot(
            series.index / 60.0,
            series.to_numpy(),
            drawstyle="steps-post",
            color=COLOURS.get(mode),
            lw=1.8 if mode == "uncontrolled" else 1.3,
            label=MODE_LABELS[mode],
        )
    for ev in inp.events:
        ax.axvspan(ev.spec.start_hours, ev.spec.end_hours, color="#d62728", alpha=0.08)
    price, label = _price_series(res)
    px = ax.twinx()
    prof = pd.Series(price[: inp.horizon_steps]).groupby(minute).mean()
    px.plot(prof.index / 60.0, prof.to_numpy(), drawstyle="steps-post", color="#9467bd", lw=0.9, ls="--")
    px.set_ylabel(f"mean {label}", color="#9467bd")
    ax.set_xlim(0, 24)
    ax.set_xticks(range(0, 25, 2))
    ax.set_xlabel("local time of day (h)")
    ax.set_ylabel("mean fleet power (kW)")
    ax.axhline(0, color="black", lw=0.6)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8, loc="upper left")
    ax.set_title("Average day per mode")
    return png(
        fig
    ), "The average local day of each mode over the horizon, with the mean price (dashed, right axis)."


def overview_bars(res: Results) -> tuple[bytes, str]:
    """Peak, driver cost per EV per year, off-peak share and energy shifted per mode."""
    modes = res.modes
    panels = [
        ("peak_kw", "peak fleet power (kW)"),
        ("driver_net_cost_per_ev_year", f"driver net cost ({res.currency}/EV/year)"),
        ("offpeak_share", "share of charging at the day's cheapest price"),
        ("energy_shifted_kwh", "energy shifted (kWh)"),
    ]
    fig, axes = plt.subplots(1, 4, figsize=(13, 3.4))
    for ax, (key, title) in zip(axes, panels, strict=True):
        vals = [res.metrics[m].get(key) for m in modes]
        vals = [np.nan if v is None else float(v) for v in vals]
        ax.bar(range(len(modes)), vals, color=[COLOURS.get(m, "C0") for m in modes])
        ax.set_xticks(range(len(modes)))
        ax.set_xticklabels([m.replace("-", "\n") for m in modes], fontsize=8)
        ax.set_title(title, fontsize=9)
        ax.grid(True, axis="y", alpha=0.3)
    fig.tight_layout()
    return (
        png(fig),
        "Each mode at a glance: peak, what a driver pays per year net of V2G credits, wear and "
        "demand-response payouts, charging at the cheapest price, and energy moved in time.",
    )


def event_figure(res: Results, event_id: str) -> tuple[bytes, str]:
    """The event day: each mode's load and its baseline, window shaded."""
    inp = res.inputs
    ev = next(e for e in inp.events if e.id == event_id)
    times = _local_times(res)
    day = pd.Timestamp(ev.spec.day)
    sel = (times >= day - pd.Timedelta(hours=2)) & (times < day + pd.Timedelta(hours=26))
    fig, ax = plt.subplots(figsize=(11, 4))
    shown_base: set[str] = set()
    for mode in res.modes:
        run = res.runs[mode]
        ax.plot(
            times[sel],
            run.aggregate_kw[sel],
            drawstyle="steps-post",
            color=COLOURS.get(mode),
            lw=1.3,
            label=MODE_LABELS[mode],
        )
        base = run.baselines_kw[ev.id]
        key = f"{ev.spec.baseline}:{hash(base.tobytes())}"
        if key not in shown_base:
            shown_base.add(key)
            lbl = "baseline (uncontrolled)" if ev.spec.baseline == "uncontrolled" else f"baseline of {mode}"
            ax.plot(
                times[sel],
                base[sel],
                drawstyle="steps-post",
                color=COLOURS.get(mode),
                lw=1.0,
                ls="--",
                label=lbl,
            )
    step = pd.Timedelta(minutes=inp.grid.step_minutes)
    ax.axvspan(
        mdates.date2num(times[ev.start_step]),
        mdates.date2num(times[ev.stop_step - 1] + step),
        color="#d62728",
        alpha=0.15,
        label="event window",
    )
    ax.axhline(0, color="black", lw=0.6)
    ax.set_ylabel("fleet power (kW)")
    _time_axis(ax)
    ax.legend(fontsize=8, ncol=2, loc="upper left")
    ax.set_title(f"Event {ev.id}: {ev.spec.day} {ev.spec.start}-{ev.spec.end}")
    rows = res.settlement[res.settlement["event"] == ev.id]
    best = ", ".join(f"{r['mode']} {r['delivered_kw']:,.0f} kW" for _, r in rows.iterrows())
    return png(fig), f"Event {ev.id}: fleet power and baseline around the window; average reduction: {best}."


def sweep_figures(rows: pd.DataFrame, params: list[str], currency: str) -> list[tuple[bytes, str]]:
    """Figures of a sweep: driver savings against the tariff's peak-valley spread (where it varies), each
    threshold's EV count, and the main metrics against the first parameter, per mode."""
    out: list[tuple[bytes, str]] = []
    modes = [m for m in MODE_LABELS if m in set(rows["mode"])]
    if "price_spread" in rows and rows["price_spread"].nunique() > 1:
        fig, ax = plt.subplots(figsize=(8, 4.5))
        for mode in modes:
            if mode == "uncontrolled":
                continue
            sub = rows[rows["mode"] == mode]
            ax.scatter(
                sub["price_spread"],
                sub["driver_savings_per_ev_year"],
                color=COLOURS.get(mode),
                s=18,
                label=MODE_LABELS[mode],
            )
        ax.set_xlabel(f"peak-valley spread of the default tariff ({currency}/kWh)")
        ax.set_ylabel(f"driver savings ({currency}/EV/year)")
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=8)
        ax.set_title("Driver savings against the peak-valley spread")
        out.append(
            (
                png(fig),
                "Each point is one sweep point: what a driver saves per year against uncontrolled "
                "charging, against the spread between the tariff's dearest and cheapest price.",
            )
        )
    thr_cols = [c for c in rows.columns if c.startswith("evs_for_")]
    if thr_cols and params:
        p = params[0]
        fig, ax = plt.subplots(figsize=(8, 4.5))
        for mode in modes:
            sub = rows[rows["mode"] == mode]
            for j, col in enumerate(thr_cols):
                ax.plot(
                    range(len(sub)),
                    sub[col].astype(float),
                    marker="o",
                    ms=3,
                    color=COLOURS.get(mode),
                    ls=["-", "--", ":", "-."][j % 4],
                    label=f"{MODE_LABELS[mode]}, {col[8:].replace('_', ' ')}",
                )
        ax.set_xticks(range(len(rows[rows["mode"] == modes[0]])))
        ax.set_xticklabels([str(v) for v in rows[rows["mode"] == modes[0]][p]], rotation=60, fontsize=7)
        ax.set_xlabel(p)
        ax.set_ylabel("EVs needed")
        ax.set_yscale("log")
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=6, ncol=2)
        ax.set_title("EVs it takes to reach each aggregation threshold")
        out.append(
            (
                png(fig),
                "EVs needed to reach each threshold, from the fleet's downward flexibility per EV "
                "in the event windows (an upper bound per EV, so a lower bound on the count).",
            )
        )
    if params:
        p = params[0]
        keys = [
            ("peak_reduction_pct", "peak reduction (%)"),
            ("driver_savings_per_ev_year", f"driver savings ({currency}/EV/year)"),
            ("offpeak_share", "off-peak share"),
        ]
        fig, axes = plt.subplots(1, len(keys), figsize=(13, 3.8))
        for ax, (key, title) in zip(axes, keys, strict=True):
            if key not in rows:
                ax.set_visible(False)
                continue
            for mode in modes:
                sub = rows[rows["mode"] == mode]
                ax.plot(
                    range(len(sub)),
                    sub[key].astype(float),
                    marker="o",
                    ms=3,
                    color=COLOURS.get(mode),
                    label=MODE_LABELS[mode],
                )
            first = rows[rows["mode"] == modes[0]]
            ax.set_xticks(range(len(first)))
            ax.set_xticklabels([str(v) for v in first[p]], rotation=60, fontsize=7)
            ax.set_title(title, fontsize=9)
            ax.grid(True, alpha=0.3)
        axes[0].legend(fontsize=7)
        fig.tight_layout()
        out.append(
            (png(fig), f"Main figures per sweep point (x: {p}; other parameters as listed in the table).")
        )
    return out
