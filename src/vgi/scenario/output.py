"""Write a scenario's results to a folder.

Files (``DIR`` = ``--out``, default ``./vgi-results/<scenario name>/``):

* ``report.html``: the self-contained report (figures embedded, opens offline);
* ``metrics.json``: every figure of the summary per mode, the event settlements, eligibility, inputs and
  units;
* ``schedules.parquet`` / ``schedules.csv``: per mode, session and step with any power: ``mode, session_id,
  vehicle_id, site_id, timestamp`` (step start, UTC), ``charge_kw``, ``discharge_kw`` (grid side, averages
  over the step); steps without power are left out;
* ``aggregate.parquet`` / ``aggregate.csv``: per step: local time, each mode's fleet power (kW), the tariffs'
  prices, the series, the flexibility band and event flags;
* ``sessions.csv``: the fleet simulated (vgi's generic session layout), so that every figure can be
  recomputed;
* ``drivers.csv``: per vehicle and mode: energy, import cost, export credit, wear, demand-response payout, net
  cost;
* ``settlement.csv``: per event and mode;
* ``scenario.yaml``: the scenario as run (``extends`` and overrides applied).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
import yaml

from vgi.io.jsonable import to_jsonable
from vgi.scenario.schema import MODE_LABELS
from vgi.version import __version__

if TYPE_CHECKING:
    from vgi.scenario.runner import Results

__all__ = ["default_out_dir", "metric_unit", "metrics_document", "write_results"]


def default_out_dir(name: str) -> Path:
    """``./vgi-results/<name>/``."""
    return Path("vgi-results") / name


def metric_unit(key: str, currency: str) -> str:
    """The unit of a metric, from its name."""
    if key.startswith("evs_for_"):
        return "EVs"
    if key.endswith("_per_ev_year"):
        return f"{currency}/EV/year"
    if key.endswith("_kw_per_ev"):
        return "kW/EV"
    if key.endswith("_kwh"):
        return "kWh"
    if key.endswith("_kw"):
        return "kW"
    if key.endswith("_pct"):
        return "%"
    if key.endswith(("_share", "_factor", "_rate")):
        return "fraction"
    if key.endswith("_ratio"):
        return "ratio"
    if key.endswith("_seconds"):
        return "s"
    if key in ("sessions_short",):
        return "sessions"
    if any(w in key for w in ("cost", "revenue", "payout", "penalties", "charges", "payment")):
        return currency
    return ""



def metrics_document(res: Results) -> dict[str, Any]:
    """What ``metrics.json`` holds."""
    inp = res.inputs
    scn = res.scenario
    f = inp.sessions.frame
    keys: list[str] = []
    for m in res.metrics.values():
        keys += [k for k in m if k not in keys]
    return to_jsonable(
        {
            "vgi_version": __version__,
            "scenario": scn.name,
            "description": scn.description,
            "currency": res.currency,
            "timezone": scn.timezone,
            "horizon": {
                "start": inp.grid.start.isoformat(),
                "end": (inp.grid.start + pd.Timedelta(minutes=inp.horizon_steps * inp.grid.step_minutes)).isoformat(),
                "simulated_until": inp.grid.end.isoformat(),
                "days": scn.horizon.days,
                "step_minutes": scn.horizon.step_minutes,
            },
            "fleet": {
                "sessions": len(f),
                "vehicles": inp.n_vehicles,
                "v2g_vehicles": int(f.loc[inp.sessions.v2g_enabled, "vehicle_id"].nunique()),
                "sites": int(f["site_id"].nunique()),
                "sessions_outside_horizon": inp.sessions_outside_horizon,
                "requested_kwh": float(f["energy_kwh"].sum()),
            },
            "tariffs": [t.id for t in inp.tariffs],
            "modes": {mode: {"label": MODE_LABELS[mode], **res.metrics[mode]} for mode in res.modes},
            "units": {k: metric_unit(k, res.currency) for k in keys},
            "settlement": res.settlement.to_dict(orient="records"),
            "eligibility": res.eligibility.to_dict(orient="records"),
            "notes": list(inp.notes),
            "seconds": res.seconds,
        }
    )


def _write_csv(frame: pd.DataFrame, path: Path) -> None:
    frame.to_csv(path, index=False, float_format="%.10g")


def write_results(res: Results, out_dir: str | Path) -> dict[str, Path]:
    """Write every data file (the HTML report is :func:`vgi.report.html.write_report`'s); returns their paths by
    name."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths: dict[str, Path] = {}
    doc = metrics_document(res)
    paths["metrics"] = out / "metrics.json"
    paths["metrics"].write_text(json.dumps(doc, indent=2, ensure_ascii=False), encoding="utf-8")
    sched = res.schedule_frame()
    paths["schedules_parquet"] = out / "schedules.parquet"
    sched.to_parquet(paths["schedules_parquet"], index=False)
    csv = sched.copy()
    csv["timestamp"] = csv["timestamp"].dt.strftime("%Y-%m-%dT%H:%M:%SZ")
    paths["schedules_csv"] = out / "schedules.csv"
    _write_csv(csv, paths["schedules_csv"])
    agg = res.aggregate_frame()
    paths["aggregate_parquet"] = out / "aggregate.parquet"
    agg.to_parquet(paths["aggregate_parquet"], index=False)
    agg_csv = agg.copy()
    agg_csv["timestamp"] = agg_csv["timestamp"].map(lambda t: t.isoformat())
    paths["aggregate_csv"] = out / "aggregate.csv"
    _write_csv(agg_csv, paths["aggregate_csv"])
    paths["sessions"] = out / "sessions.csv"
    res.inputs.sessions.to_csv(paths["sessions"])
    paths["drivers"] = out / "drivers.csv"
    _write_csv(res.drivers, paths["drivers"])
    paths["settlement"] = out / "settlement.csv"
    _write_csv(res.settlement, paths["settlement"])
    paths["scenario"] = out / "scenario.yaml"
    paths["scenario"].write_text(
        yaml.safe_dump(res.scenario.model_dump(mode="json", exclude_none=True), sort_keys=False, allow_unicode=True),
        encoding="utf-8",
    )
    return paths
