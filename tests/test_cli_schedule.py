"""``vgi schedule`` and ``vgi flex`` on a generated fleet."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from vgi.cli import cli, main
from vgi.model.generator import generate_sessions


@pytest.fixture(scope="module")
def fleet_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("cli") / "fleet.csv"
    generate_sessions(60, "home", seed=2, start_day="2024-06-03", n_days=1, timezone="Asia/Shanghai",
                      v2g_share=0.5).to_csv(path)
    return path


def _run(args: list[str]) -> dict:
    result = CliRunner().invoke(cli, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


ARGS = ["--tariff", "cn-guangzhou-residential-ev", "--days", "2", "--json"]


def test_strategies_report_cost_unmet_peak_and_time(fleet_csv: Path, tmp_path: Path) -> None:
    out = {}
    for strategy in ("uncontrolled", "price", "coupled"):
        pq = tmp_path / f"{strategy}.parquet"
        data = _run(["schedule", "--sessions", str(fleet_csv), "--strategy", strategy, "--mode", "v2g",
                     "--out", str(pq), "--solver", "lp", *ARGS])
        for key in ("cost", "unmet_kwh", "peak_kw", "solve_seconds", "short_sessions", "binding_steps"):
            assert key in data
        assert data["grid"]["steps"] == 192 and data["sessions"] == 60
        frame = pd.read_parquet(pq)
        assert set(frame.columns) == {"session_id", "site_id", "time", "charge_kw", "discharge_kw", "battery_kwh"}
        # the file holds the schedule the figures are computed from
        assert frame["charge_kw"].sum() * 0.25 == pytest.approx(data["import_kwh"], rel=1e-9)
        out[strategy] = data
    # the price-responsive and coupled schedules cost no more than uncontrolled charging (no limit here)
    assert out["price"]["cost"] <= out["uncontrolled"]["cost"] + 1e-9
    assert out["coupled"]["objective"] == pytest.approx(out["price"]["objective"], rel=1e-9)
    assert out["price"]["unmet_kwh"] == pytest.approx(out["uncontrolled"]["unmet_kwh"], abs=1e-6)


def test_site_limit_and_target(fleet_csv: Path, tmp_path: Path) -> None:
    data = _run(["schedule", "--sessions", str(fleet_csv), "--strategy", "coupled", "--solver", "lp",
                 "--site-limit-kw", "40", *ARGS])
    assert data["peak_kw"] <= 40 + 1e-6
    assert data["binding_steps"] and data["limit_violation_kwh"] == pytest.approx(0.0, abs=1e-6)
    # the same limit under uncontrolled charging is measured and reported as a violation
    data = _run(["schedule", "--sessions", str(fleet_csv), "--strategy", "uncontrolled", "--site-limit-kw", "40",
                 *ARGS])
    assert data["ignored_options"] == "site_limit_kw" and data["limit_violation_kwh"] > 0
    assert data["limit_violation_kw"]
    # a target curve (hourly CSV) for the coupled strategy
    times = pd.date_range("2024-06-03", periods=48, freq="1h", tz="Asia/Shanghai")
    target = tmp_path / "target.csv"
    pd.DataFrame({"timestamp": times.strftime("%Y-%m-%dT%H:%M:%S%z"), "kw": np.full(48, 20.0)}).to_csv(
        target, index=False
    )
    data = _run(["schedule", "--sessions", str(fleet_csv), "--strategy", "coupled", "--solver", "lp",
                 "--target", str(target), "--over-penalty", "0.5", "--under-penalty", "0.5", *ARGS])
    assert data["status"] == "Optimal"


def test_partial_target_only_in_its_hours(fleet_csv: Path, tmp_path: Path) -> None:
    """An empty kw in the target file means no target from that time on: a 0 kW target for 00:00-03:00 on the
    second day (over-penalty 100 per kWh), valley hours where the free plan charges, empties those steps and leaves
    every other step to the prices."""
    times = pd.date_range("2024-06-03", periods=48, freq="1h", tz="Asia/Shanghai")
    kw = np.full(48, np.nan)
    kw[24:27] = 0.0
    target = tmp_path / "partial.csv"
    pd.DataFrame({"timestamp": times.strftime("%Y-%m-%dT%H:%M:%S%z"), "kw": kw}).to_csv(target, index=False)
    assert target.read_text().splitlines()[1].endswith(",")  # hour 0 is an empty cell
    common = ["schedule", "--sessions", str(fleet_csv), "--strategy", "coupled", "--solver", "lp", "--mode", "v1g",
              *ARGS]
    free = _run([*common, "--out", str(tmp_path / "free.parquet")])
    free_kw = pd.read_parquet(tmp_path / "free.parquet").groupby("time")["charge_kw"].sum()
    held = _run([*common, "--target", str(target), "--over-penalty", "100", "--under-penalty", "100",
                 "--out", str(tmp_path / "held.parquet")])
    frame = pd.read_parquet(tmp_path / "held.parquet")
    fleet_kw = frame.groupby("time")["charge_kw"].sum()
    local_hour = pd.DatetimeIndex(fleet_kw.index).tz_convert("Asia/Shanghai")
    window = (local_hour >= times[24]) & (local_hour < times[27])
    assert window.sum() == 12 and fleet_kw[window].max() == pytest.approx(0.0, abs=1e-6)
    assert free_kw[window].sum() * 0.25 > 10.0  # the free plan charges there, so the target moved energy
    # had the empty cells been read as 0 kW targets the fleet would not charge at all; outside the window it charges
    # (cars whose only hours were those three leave part of their need unmet, priced below the over-penalty)
    assert held["import_kwh"] > 0.8 * free["import_kwh"]
    outside = fleet_kw[~window]
    assert (outside > 1e-6).sum() > 0.5 * (free_kw[~window] > 1e-6).sum()
    assert held["objective"] > free["objective"]
    # text in a kw cell is still a one-line error naming the row
    target.write_text("timestamp,kw\n2024-06-03T00:00:00+0800,abc\n")
    result = CliRunner().invoke(cli, [*common, "--target", str(target)])
    assert result.exit_code != 0 and "row 1, field 'kw': not a finite number ('abc')" in str(result.exception)


def test_table_output_and_user_errors(fleet_csv: Path, capsys: pytest.CaptureFixture[str]) -> None:
    result = CliRunner().invoke(cli, ["schedule", "--sessions", str(fleet_csv), "--strategy", "price",
                                      "--tariff", "cn-guangzhou-residential-ev", "--days", "2"])
    assert result.exit_code == 0, result.output
    assert "cost" in result.output and "unmet_kwh" in result.output
    for bad, message in (
        (["--strategy", "nope", "--tariff", "cn-guangzhou-residential-ev"], "unknown strategy"),
        (["--strategy", "price", "--tariff", "no-such-tariff"], "no-such-tariff"),
        (["--strategy", "price", "--tariff", "cn-guangzhou-residential-ev", "--out", "x.txt"], "Parquet"),
        (["--strategy", "price", "--tariff", "cn-guangzhou-residential-ev", "--start", "June"], "--start"),
        (["--strategy", "price", "--tariff", "de-dynamic-spot-2024"], "price series"),
    ):
        with pytest.raises(SystemExit) as exc:
            main(["schedule", "--sessions", str(fleet_csv), *bad])
        assert exc.value.code == 2
        err = capsys.readouterr().err
        assert err.startswith("error:") and message in err, err


def test_flex_prints_envelope_and_potential(fleet_csv: Path, tmp_path: Path) -> None:
    out_csv = tmp_path / "env.csv"
    data = _run(["flex", "--sessions", str(fleet_csv), "--mode", "v2g", "--days", "2", "--duration-hours", "2",
                 "--out", str(out_csv), "--json"])
    assert len(data["envelope"]) == 192
    assert len(data["potential"]) == 47  # a 2-hour window fits from each of the first 47 hours
    first = data["envelope"][0]
    assert {"time", "power_min_kw", "power_max_kw", "energy_min_kwh", "energy_max_kwh", "plugged_in"} <= set(first)
    assert all(p["down_kw"] >= 0 and p["up_kw"] >= 0 for p in data["potential"])
    assert data["min_power_kw"] < 0  # some cars may discharge in V2G mode
    assert len(pd.read_csv(out_csv)) == 192
    result = CliRunner().invoke(cli, ["flex", "--sessions", str(fleet_csv), "--days", "1"])
    assert result.exit_code == 0, result.output
    assert "down_kw" in result.output


def test_decomposition_reports_its_gap_to_the_lp(fleet_csv: Path) -> None:
    data = _run(["schedule", "--sessions", str(fleet_csv), "--strategy", "coupled", "--solver", "decomposition",
                 "--reference-lp", "--site-limit-kw", "60", "--mode", "v2g", "--gap", "1e-6", *ARGS])
    lp = _run(["schedule", "--sessions", str(fleet_csv), "--strategy", "coupled", "--solver", "lp",
               "--site-limit-kw", "60", "--mode", "v2g", *ARGS])
    assert data["certified_gap"] <= 1e-6
    assert abs(data["lp_gap"]) <= 1e-6
    # the decomposition's cost is the LP optimum within the certified gap
    assert data["cost"] == pytest.approx(lp["cost"], rel=1e-6)


def test_online_with_a_forecast_reports_regret(fleet_csv: Path) -> None:
    data = _run(["schedule", "--sessions", str(fleet_csv), "--strategy", "online", "--forecast", "declared",
                 "--replan-every", "4", "--mode", "v1g", *ARGS])
    assert data["regret"] >= -1e-6


def test_gap_is_passed_to_the_solver_and_the_certified_gap_printed(fleet_csv: Path) -> None:
    base = ["schedule", "--sessions", str(fleet_csv), "--strategy", "coupled", "--solver", "decomposition",
            "--site-limit-kw", "60", "--mode", "v2g", "--tariff", "cn-guangzhou-residential-ev", "--days", "2"]
    lp = _run(["schedule", "--sessions", str(fleet_csv), "--strategy", "coupled", "--solver", "lp",
               "--site-limit-kw", "60", "--mode", "v2g", *ARGS])
    default = _run([*base, "--json"])
    assert default["gap"] == 1e-3  # the default asked for
    for gap in ("1e-2", "1e-3", "1e-7"):
        data = _run([*base, "--gap", gap, "--json"])
        assert data["gap"] == float(gap)
        assert 0.0 <= data["certified_gap"] <= float(gap)
        # the certificate holds against the LP optimum, worked out by HiGHS independently of the decomposition
        assert data["objective"] >= lp["objective"] * (1 - 1e-9)
        assert (data["objective"] - lp["objective"]) / abs(lp["objective"]) <= float(gap) + 1e-9
    tight = _run([*base, "--gap", "1e-7", "--json"])
    assert tight["iterations"] >= default["iterations"]
    # the table prints both, the gap asked for and the gap certified
    result = CliRunner().invoke(cli, [*base, "--gap", "1e-2"])
    assert result.exit_code == 0, result.output
    assert "certified_gap" in result.output and "0.01" in result.output


@pytest.mark.parametrize("bad", ["0", "-1e-3", "1", "nan", "inf", "abc", ""])
def test_bad_gap_is_a_one_line_error(fleet_csv: Path, bad: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["schedule", "--sessions", str(fleet_csv), "--strategy", "coupled", "--gap", bad,
              "--tariff", "cn-guangzhou-residential-ev"])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("error: --gap:") and err.count("\n") == 1, err


@pytest.mark.parametrize("suffix", [".parquet", ".csv"])
def test_schedule_file_round_trips_the_schedule_in_memory(fleet_csv: Path, tmp_path: Path, suffix: str) -> None:
    """Every row of the file is the in-memory schedule at that session and step, and every step of every window
    is there; chunks smaller than the fleet exercise the row groups and per-chunk dictionaries."""
    from vgi.io.schedule_files import read_schedule, write_schedule
    from vgi.io.session_readers import read_any
    from vgi.io.tariff_library import get_tariff
    from vgi.model.timegrid import TimeGrid
    from vgi.schedule.api import ScheduleOptions, schedule
    from vgi.schedule.prices import price_inputs
    from vgi.schedule.problem import FleetOnGrid

    sessions = read_any(str(fleet_csv), "generic")
    sessions = sessions.with_columns(site_id=np.array([f"site-{i % 3}" for i in range(len(sessions))]))
    grid = TimeGrid.local_days(pd.Timestamp("2024-06-03").date(), 2, 15, "Asia/Shanghai")
    fleet = FleetOnGrid.from_sessions(sessions, grid, "v2g")
    prices = price_inputs(get_tariff("cn-guangzhou-residential-ev"), grid)
    result = schedule(fleet, "coupled", prices, ScheduleOptions(site_limit_kw=25.0, solver="lp"))
    assert result.discharge_kw is not None and result.discharge_kw.max() > 0  # both directions are exercised
    path = tmp_path / f"schedule{suffix}"
    rows = write_schedule(result, path, chunk_sessions=7)
    frame = read_schedule(path)
    lengths = fleet.stop - fleet.start
    assert rows == len(frame) == int(lengths.sum())
    # expected rows, built independently: the dense arrays masked to each session's window, row-major
    window = (np.arange(grid.n_steps)[None, :] >= fleet.start[:, None]) & (
        np.arange(grid.n_steps)[None, :] < fleet.stop[:, None])
    i, t = np.nonzero(window)
    assert list(frame["session_id"].astype(str)) == [str(x) for x in fleet.session_id[i]]
    assert list(frame["site_id"].astype(str)) == [str(x) for x in fleet.site_id[i]]
    assert (frame["time"].dt.tz_convert("UTC") == grid.utc_index[t]).all()
    for column, expected in (("charge_kw", result.charge_kw[i, t]), ("discharge_kw", result.discharge_kw[i, t]),
                             ("battery_kwh", result.battery_energy_kwh()[i, t])):
        got = frame[column].to_numpy()
        assert got.dtype == np.float64
        np.testing.assert_array_equal(got, expected)  # bit for bit (CSV: shortest round-tripping decimal)
    if suffix == ".parquet":
        assert isinstance(frame["session_id"].dtype, pd.CategoricalDtype)
        assert str(frame["time"].dt.tz) == "Asia/Shanghai"
        import pyarrow.parquet as pq

        meta = pq.ParquetFile(path)
        assert meta.num_row_groups == int(np.ceil(len(fleet) / 7)) - int(
            sum(lengths[a:a + 7].sum() == 0 for a in range(0, len(fleet), 7)))
        assert meta.schema_arrow.field("session_id").type.value_type == "string"
        assert str(meta.schema_arrow.field("session_id").type).startswith("dictionary")


def test_cli_out_writes_the_layout_and_reads_back(fleet_csv: Path, tmp_path: Path) -> None:
    from vgi.io.schedule_files import read_schedule

    out = {}
    for suffix in (".parquet", ".csv"):
        path = tmp_path / f"s{suffix}"
        data = _run(["schedule", "--sessions", str(fleet_csv), "--strategy", "price", "--mode", "v2g",
                     "--out", str(path), *ARGS])
        assert data["write_seconds"] >= 0 and data["out"] == str(path)
        out[suffix] = read_schedule(path)
        assert out[suffix]["charge_kw"].sum() * 0.25 == pytest.approx(data["import_kwh"], rel=1e-12)
    pq_frame, csv_frame = out[".parquet"], out[".csv"]
    assert len(pq_frame) == len(csv_frame)
    assert (pq_frame["time"].dt.tz_convert("UTC").to_numpy() == csv_frame["time"].to_numpy()).all()
