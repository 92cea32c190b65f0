"""Run a scenario over a grid of parameters, in parallel, resumably.

A sweep is the Cartesian product of parameter values, each parameter a key path of the scenario
(``tariffs.default``, ``fleet.v2g.share``, ``tariffs.export.price``, ``aggregator.thresholds_kw``...).  Each
point is the base scenario with those keys overridden (:func:`vgi.scenario.loader.apply_overrides`), run under
every mode.

* Parallel: across processes (``workers``, default the CPU count; ``1`` runs in this process; the processes are
  spawned, so a script that sweeps needs the ``if __name__ == "__main__":`` guard), or on a Dask
  distributed cluster (``cluster``: a scheduler address or a ``distributed.Client``).  Workers return small
  dictionaries; only this process writes files, so a remote cluster needs no shared disk.
* Resumable: each finished point is written to ``OUT/points/<id>.json`` as soon as it returns; the id is a
  hash of the base scenario and the point's overrides, so a rerun skips every point already done (a point that
  failed is recorded with its error and retried on the next run).
* Output: ``OUT/sweep.csv`` and ``OUT/sweep.parquet`` (one row per point and mode: the parameters, every
  metric, and the default tariff's peak-valley spread ``price_spread``), ``OUT/report.html`` (tables and
  plots: driver savings against the peak-valley spread, EVs to reach each aggregation threshold, the main
  figures per point).
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from vgi.errors import VgiError
from vgi.scenario.loader import load_scenario, parse_override
from vgi.scenario.schema import Scenario

__all__ = [
    "TABLE_3_3_REGIONS",
    "SweepPoint",
    "SweepResult",
    "parse_param",
    "run_point",
    "run_sweep",
    "sweep_points",
    "table_3_3_tariffs",
]

#: the 27 rows of the report's table 3-3 (residential EV time-of-use prices by region), in the table's order
TABLE_3_3_REGIONS = (
    "gansu",
    "anhui",
    "chongqing",
    "fujian",
    "hunan",
    "jiangsu",
    "hebei",
    "hubei",
    "jiangxi",
    "heilongjiang",
    "jilin",
    "henan",
    "jibei",
    "inner-mongolia",
    "shaanxi",
    "shaanxi-yulin",
    "shanghai",
    "sichuan",
    "shandong",
    "ningxia",
    "shanxi",
    "zhejiang",
    "tianjin",
    "guangzhou",
    "shenzhen",
    "yunnan",
    "hainan",
)
SweepProgress = Callable[[int, int, str], None]


def table_3_3_tariffs() -> list[str]:
    """Tariff ids of table 3-3's 27 regions."""
    return [f"cn-{r}-residential-ev" for r in TABLE_3_3_REGIONS]


def parse_param(text: str) -> tuple[str, list[Any]]:
    """``key.path=v1,v2,...`` -> (key path, values read as YAML); ``tariffs.default=table-3-3`` expands."""
    if "=" not in text:
        raise VgiError(f"--param '{text}': expected KEY=V1,V2,..., e.g. fleet.v2g.share=0,0.1,0.2")
    key, raw = text.split("=", 1)
    key = key.strip()
    parse_override(f"{key}=0")  # checks the key path
    if raw.strip() == "table-3-3":
        return key, list(table_3_3_tariffs())
    values = []
    for part in raw.split(","):
        try:
            values.append(yaml.safe_load(part.strip()))
        except yaml.YAMLError as exc:
            raise VgiError(f"--param '{text}': value '{part}' is not valid YAML ({exc})") from exc
    if not values or any(v is None for v in values):
        raise VgiError(f"--param '{text}': empty value")
    return key, values


@dataclass(frozen=True)
class SweepPoint:
    """One point: its id and the overrides that make it."""

    id: str
    overrides: tuple[tuple[str, Any], ...]

    @property
    def params(self) -> dict[str, Any]:
        return dict(self.overrides)


def _canonical(data: Any) -> str:
    return json.dumps(data, sort_keys=True, default=str, separators=(",", ":"))


def sweep_points(base: Mapping[str, Any], params: Mapping[str, Sequence[Any]]) -> list[SweepPoint]:
    """The Cartesian product of ``params`` as points, ids hashed from the base scenario and the overrides."""
    keys = list(params)
    base_text = _canonical(base)
    out = []
    for values in itertools.product(*(params[k] for k in keys)):
        overrides = tuple(zip(keys, values, strict=True))
        digest = hashlib.sha256((base_text + _canonical(overrides)).encode()).hexdigest()[:16]
        out.append(SweepPoint(digest, overrides))
    return out


def run_point(base: dict[str, Any], overrides: Sequence[tuple[str, Any]], point_id: str) -> dict[str, Any]:
    """Run one point (in a worker): the metrics per mode, or the error.  Returns a JSON-able dict."""
    from vgi.io.jsonable import to_jsonable
    from vgi.scenario.runner import run_scenario

    t0 = time.perf_counter()
    out: dict[str, Any] = {"id": point_id, "overrides": [list(o) for o in overrides]}
    try:
        scn = load_scenario(base, dict(overrides))
        res = run_scenario(scn, eligibility=False)
    except VgiError as exc:
        out["error"] = str(exc)
        out["seconds"] = time.perf_counter() - t0
        return out
    inp = res.inputs
    horizon = slice(0, inp.horizon_steps)
    out.update(
        {
            "scenario": scn.name,
            "currency": res.currency,
            "tariff": inp.tariffs[0].id,
            "price_spread": float(inp.buy[0][horizon].max() - inp.buy[0][horizon].min()),
            "sessions": len(inp.sessions),
            "vehicles": inp.n_vehicles,
            "modes": to_jsonable(res.metrics),
            "seconds": time.perf_counter() - t0,
        }
    )
    return out


@dataclass(frozen=True, eq=False)
class SweepResult:
    """A sweep's rows (one per point and mode), its parameters and where it was written."""

    rows: pd.DataFrame
    params: list[str]
    out_dir: Path
    ran: int
    skipped: int
    failed: list[dict[str, Any]]
    seconds: float


def _rows(points: Iterable[dict[str, Any]], params: list[str]) -> pd.DataFrame:
    rows = []
    for p in points:
        values = {k: v for k, v in p["overrides"]}
        common = {"point": p["id"], **{k: _cell(values.get(k)) for k in params}}
        if "error" in p:
            rows.append({**common, "mode": None, "error": p["error"]})
            continue
        for mode, metrics in p["modes"].items():
            rows.append(
                {
                    **common,
                    "mode": mode,
                    "tariff": p.get("tariff"),
                    "price_spread": p.get("price_spread"),
                    "sessions": p.get("sessions"),
                    "vehicles": p.get("vehicles"),
                    **metrics,
                }
            )
    return pd.DataFrame(rows)


def _cell(value: Any) -> Any:
    return value if isinstance(value, str | int | float | bool) or value is None else json.dumps(value)


def _write_point(points_dir: Path, result: dict[str, Any]) -> None:
    tmp = points_dir / f".{result['id']}.json.tmp"
    tmp.write_text(json.dumps(result, indent=1, default=str), encoding="utf-8")
    os.replace(tmp, points_dir / f"{result['id']}.json")


def _done(points_dir: Path, point: SweepPoint) -> dict[str, Any] | None:
    path = points_dir / f"{point.id}.json"
    if not path.exists():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return None if "error" in data else data


def _client(cluster: Any) -> tuple[Any, bool]:
    try:
        from distributed import Client
    except ImportError as exc:
        raise VgiError("--cluster needs dask distributed (pip install 'vgi[scale]')") from exc
    if isinstance(cluster, Client):
        return cluster, False
    try:
        return Client(str(cluster), timeout="20s"), True
    except (OSError, TimeoutError) as exc:
        raise VgiError(f"cannot reach the Dask scheduler at {cluster} ({exc})") from exc


def run_sweep(
    scenario: str | Path | Mapping[str, Any] | Scenario,
    params: Mapping[str, Sequence[Any]],
    out_dir: str | Path,
    *,
    workers: int | None = None,
    cluster: Any = None,
    progress: SweepProgress | None = None,
    render_report: Callable[[pd.DataFrame, list[str], str, str], str] | None = None,
) -> SweepResult:
    """Run ``scenario`` at every point of ``params`` (key path -> values); see the module docstring.

    ``render_report(rows, params, title, currency)`` draws ``report.html`` (``vgi.report.html.render_sweep_report``,
    as ``vgi.sweep`` passes it); None writes no report."""
    t0 = time.perf_counter()
    scn = load_scenario(scenario)
    base = scn.model_dump(mode="json")
    if not params:
        raise VgiError("a sweep needs at least one parameter (--param KEY=V1,V2,...)")
    for key, values in params.items():
        if not values:
            raise VgiError(f"parameter {key} has no values")
    points = sweep_points(base, params)
    # check every point's scenario now, so a typo fails before hours of work
    for point in points:
        load_scenario(base, dict(point.overrides))
    out = Path(out_dir)
    points_dir = out / "points"
    points_dir.mkdir(parents=True, exist_ok=True)
    finished: dict[str, dict[str, Any]] = {}
    todo = []
    for point in points:
        done = _done(points_dir, point)
        if done is not None:
            finished[point.id] = done
        else:
            todo.append(point)
    skipped = len(finished)
    total = len(points)
    if progress:
        progress(skipped, total, f"{skipped} point(s) already done")

    def record(result: dict[str, Any]) -> None:
        _write_point(points_dir, result)
        finished[result["id"]] = result
        if progress:
            label = "failed" if "error" in result else f"{result.get('seconds', 0):.1f} s"
            progress(len(finished), total, f"point {result['id']} {label}")

    if todo:
        if cluster is not None:
            client, owned = _client(cluster)
            try:
                futures = [client.submit(run_point, base, list(p.overrides), p.id, pure=False) for p in todo]
                from distributed import as_completed as dask_completed

                for fut in dask_completed(futures):
                    record(fut.result())
            finally:
                if owned:
                    client.close()
        else:
            n_workers = workers or os.cpu_count() or 1
            if n_workers <= 1 or len(todo) == 1:
                for p in todo:
                    record(run_point(base, list(p.overrides), p.id))
            else:
                import multiprocessing

                ctx = multiprocessing.get_context("spawn")
                try:
                    with ProcessPoolExecutor(max_workers=min(n_workers, len(todo)), mp_context=ctx) as pool:
                        futs: list[Future[dict[str, Any]]] = [
                            pool.submit(run_point, base, list(p.overrides), p.id) for p in todo
                        ]
                        for fut in as_completed(futs):
                            record(fut.result())
                except BrokenProcessPool as exc:
                    raise VgiError(
                        "a sweep worker process died; from a Python script, call the sweep under "
                        "`if __name__ == '__main__':` (workers are spawned and import the script), or use workers=1. "
                        f"Points finished so far are saved in {points_dir} and will be skipped on the next run"
                    ) from exc
    ordered = [finished[p.id] for p in points]
    names = list(params)
    rows = _rows(ordered, names)
    rows.to_csv(out / "sweep.csv", index=False, float_format="%.10g")
    rows.to_parquet(out / "sweep.parquet", index=False)
    (out / "sweep.json").write_text(
        json.dumps(
            {
                "scenario": scn.name,
                "params": {k: [_cell(v) for v in vals] for k, vals in params.items()},
                "points": [{"id": p.id, "params": {k: _cell(v) for k, v in p.overrides}} for p in points],
            },
            indent=1,
        ),
        encoding="utf-8",
    )
    failed = [r for r in ordered if "error" in r]
    if render_report is not None:
        ok = rows[rows["mode"].notna()] if "mode" in rows else rows
        currency = next((r.get("currency") for r in ordered if "currency" in r), "")
        if len(ok):
            (out / "report.html").write_text(
                render_report(ok, names, f"vgi sweep: {scn.name}", str(currency)), encoding="utf-8"
            )
    return SweepResult(rows, names, out, len(todo), skipped, failed, time.perf_counter() - t0)
