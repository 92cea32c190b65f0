"""Sweeps: a process pool by default, a Dask LocalCluster on request, and resuming from the points on disk."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from vgi.errors import VgiError
from vgi.io.tariff_library import get_tariff
from vgi.model.tariffs import tariff_prices
from vgi.model.timegrid import TimeGrid
from vgi.report.html import render_sweep_report
from vgi.scenario.sweep import parse_param, run_sweep, sweep_points, table_3_3_tariffs

TINY: dict[str, Any] = {
    "extends": "guangzhou-default",
    "name": "tiny",
    "horizon": {"start": "2024-07-01", "days": 1},
    "fleet": {"generator": {"count": 40, "seed": 3}, "vehicles": 40},
    "programmes": [],
    "events": [],
    "modes": ["uncontrolled", "indirect-v1g"],
}
TARIFFS = ["cn-guangzhou-residential-ev", "cn-shenzhen-residential-ev", "cn-shanghai-residential-ev"]


def same(a: pd.DataFrame, b: pd.DataFrame) -> None:
    """Equal rows, timings aside."""
    pd.testing.assert_frame_equal(a.drop(columns="solve_seconds"), b.drop(columns="solve_seconds"))


def spread(tariff_id: str) -> float:
    """Dearest minus cheapest import price on 1 July 2024, local day."""
    grid = TimeGrid.local_days("2024-07-01", 1, 15, "Asia/Shanghai")
    price = tariff_prices(get_tariff(tariff_id), grid.utc_index).import_price
    return float(price.max() - price.min())


@pytest.fixture(scope="module")
def pool_sweep(tmp_path_factory: pytest.TempPathFactory) -> Any:
    out = tmp_path_factory.mktemp("sweep") / "pool"
    return run_sweep(TINY, {"tariffs.default": TARIFFS}, out, workers=2, render_report=render_sweep_report)


def test_table_3_3_has_27_shipped_tariffs() -> None:
    ids = table_3_3_tariffs()
    assert len(ids) == 27 == len(set(ids))
    for tid in ids:
        assert get_tariff(tid).currency == "CNY"
    key, values = parse_param("tariffs.default=table-3-3")
    assert key == "tariffs.default" and values == ids
    assert parse_param("fleet.v2g.share=0, 0.1,0.25") == ("fleet.v2g.share", [0, 0.1, 0.25])
    with pytest.raises(VgiError, match="KEY=V1,V2"):
        parse_param("fleet.v2g.share")


def test_points_are_the_product_with_stable_ids() -> None:
    pts = sweep_points({"a": 1}, {"x": [1, 2], "y": ["p", "q", "r"]})
    assert len(pts) == 6 and len({p.id for p in pts}) == 6
    assert pts[0].params == {"x": 1, "y": "p"} and pts[-1].params == {"x": 2, "y": "r"}
    assert [p.id for p in sweep_points({"a": 1}, {"x": [1, 2], "y": ["p", "q", "r"]})] == [p.id for p in pts]
    assert sweep_points({"a": 2}, {"x": [1]})[0].id != sweep_points({"a": 1}, {"x": [1]})[0].id


def test_process_pool_sweep_rows_and_files(pool_sweep: Any) -> None:
    rows: pd.DataFrame = pool_sweep.rows
    assert pool_sweep.ran == 3 and pool_sweep.skipped == 0 and not pool_sweep.failed
    assert len(rows) == 3 * 2 and set(rows["mode"]) == {"uncontrolled", "indirect-v1g"}
    out: Path = pool_sweep.out_dir
    for name in ("sweep.csv", "sweep.parquet", "sweep.json", "report.html"):
        assert (out / name).exists()
    assert len(list((out / "points").glob("*.json"))) == 3
    # each point ran its own tariff: the spread is that tariff's, worked out here from the tariff alone
    for tid in TARIFFS:
        got = rows[(rows["tariffs.default"] == tid) & (rows["mode"] == "uncontrolled")]["price_spread"].iloc[0]
        assert got == pytest.approx(spread(tid), rel=1e-12)
    # the same sessions under every tariff: the same uncontrolled peak
    peaks = rows[rows["mode"] == "uncontrolled"]["peak_kw"].to_numpy()
    np.testing.assert_allclose(peaks, peaks[0])
    # a price-responsive driver never pays more than an uncontrolled one
    for tid in TARIFFS:
        sav = rows[(rows["tariffs.default"] == tid) & (rows["mode"] == "indirect-v1g")][
            "driver_savings_per_ev_year"].iloc[0]
        assert sav >= -1e-9


def test_same_results_in_process(pool_sweep: Any, tmp_path: Path) -> None:
    res = run_sweep(TINY, {"tariffs.default": TARIFFS[:1]}, tmp_path / "inproc", workers=1)
    mine = res.rows.set_index("mode")["driver_cost_per_ev_year"]
    pool = pool_sweep.rows[pool_sweep.rows["tariffs.default"] == TARIFFS[0]].set_index("mode")[
        "driver_cost_per_ev_year"]
    pd.testing.assert_series_equal(mine, pool, check_exact=False, rtol=1e-12)


def test_resume_skips_done_points_and_reruns_missing(pool_sweep: Any) -> None:
    out: Path = pool_sweep.out_dir
    again = run_sweep(TINY, {"tariffs.default": TARIFFS}, out, workers=2)
    assert again.ran == 0 and again.skipped == 3
    same(again.rows, pool_sweep.rows)
    victim = sorted((out / "points").glob("*.json"))[0]
    victim.unlink()
    (out / "points" / "garbage.json").write_text("{not json")  # unrelated junk is ignored
    third = run_sweep(TINY, {"tariffs.default": TARIFFS}, out, workers=1)
    assert third.ran == 1 and third.skipped == 2
    same(third.rows, pool_sweep.rows)


def test_a_failing_point_is_recorded_and_retried(tmp_path: Path) -> None:
    base = {**TINY, "events": [{"id": "e", "day": "2024-07-01", "start": "18:00", "end": "19:00",
                                "reduction_kw": 5, "baseline": "uncontrolled"}],
            "modes": ["uncontrolled", "direct-v1g"]}
    params = {"events[0].baseline": ["uncontrolled", "similar_days"]}  # no earlier days: similar_days fails
    res = run_sweep(base, params, tmp_path / "fail", workers=1)
    assert res.ran == 2 and len(res.failed) == 1
    assert "similar_days" in res.failed[0]["error"] or "baseline" in res.failed[0]["error"]
    stored = json.loads((tmp_path / "fail" / "points" / f"{res.failed[0]['id']}.json").read_text())
    assert "error" in stored
    again = run_sweep(base, params, tmp_path / "fail", workers=1)
    assert again.ran == 1 and again.skipped == 1  # the failed point is tried again


def test_a_bad_point_fails_before_any_work(tmp_path: Path) -> None:
    with pytest.raises(VgiError, match=r"fleet\.generator\.count"):
        run_sweep(TINY, {"fleet.generator.count": [10, -1]}, tmp_path / "bad", workers=1)
    assert not (tmp_path / "bad" / "points").exists() or not any((tmp_path / "bad" / "points").iterdir())


@pytest.mark.slow
def test_dask_local_cluster_gives_the_same_rows(pool_sweep: Any, tmp_path: Path) -> None:
    distributed = pytest.importorskip("distributed")
    cluster_kw = {"n_workers": 2, "threads_per_worker": 1, "processes": True, "dashboard_address": None}
    with distributed.LocalCluster(**cluster_kw) as cluster, distributed.Client(cluster) as client:
        res = run_sweep(TINY, {"tariffs.default": TARIFFS}, tmp_path / "dask", cluster=client)
        assert res.ran == 3
        same(res.rows, pool_sweep.rows)
        # by address, as `vgi sweep --cluster ADDRESS` does; everything is done already, so it resumes
        again = run_sweep(TINY, {"tariffs.default": TARIFFS}, tmp_path / "dask", cluster=cluster.scheduler_address)
        assert again.ran == 0 and again.skipped == 3


def test_cli_sweep(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import yaml

    from vgi.cli import main

    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(TINY))
    main(["sweep", str(path), "--tariffs", ",".join(TARIFFS[:2]), "--param", "fleet.v2g.share=0,0.5",
          "--workers", "1", "--out", str(tmp_path / "cli"), "--quiet"])
    printed = capsys.readouterr().out
    assert "4 point(s) run, 0 already done, 0 failed" in printed
    rows = pd.read_csv(tmp_path / "cli" / "sweep.csv")
    assert len(rows) == 4 * 2 and set(rows["fleet.v2g.share"]) == {0.0, 0.5}
    main(["sweep", str(path), "--tariffs", ",".join(TARIFFS[:2]), "--param", "fleet.v2g.share=0,0.5",
          "--workers", "1", "--out", str(tmp_path / "cli"), "--json"])
    doc = json.loads(capsys.readouterr().out)
    assert doc["ran"] == 0 and doc["skipped"] == 4
