"""The demand-response commands: programmes, eligibility, offer and settle, on files and on a scenario."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from vgi.cli import cli
from vgi.dr.programmes import programme_library
from vgi.model.generator import generate_sessions

TZ = "Asia/Shanghai"


def invoke(args: list[str]) -> tuple[int, str, str]:
    runner = CliRunner()
    res = runner.invoke(cli, args, catch_exceptions=True)
    err = res.stderr if hasattr(res, "stderr") else ""
    if res.exception is not None and not isinstance(res.exception, SystemExit):
        from vgi.errors import VgiError

        if isinstance(res.exception, VgiError):
            return 2, res.output, str(res.exception)
        raise res.exception
    return res.exit_code, res.output, err


def test_programmes_list_and_show() -> None:
    code, out, _ = invoke(["programmes", "list", "--json"])
    assert code == 0
    ids = {row["id"] for row in json.loads(out)}
    assert ids == set(programme_library())
    assert {"caiso-dera", "cn-v2g-pilot-2024", "cn-guangdong-dr-day-ahead", "uk-bm", "uk-dfs",
            "uk-octopus-power-pack", "cn-north-china-peak-regulation"} <= ids
    code, out, _ = invoke(["programmes", "show", "caiso-dera", "--json"])
    data = json.loads(out)
    assert data["size"]["min_kw"] == 100 and data["size"]["max_kw"] == 20000
    assert data["metering"]["telemetry_above_kw"] == 10000
    code, out, _ = invoke(["programmes", "show", "cn-guangdong-dr-day-ahead"])
    assert code == 0 and "assumption" in out and "sources" in out
    code, out, _ = invoke(["programmes"])
    assert code == 0 and "uk-stor" in out


def test_unknown_programme_is_a_one_line_error() -> None:
    code, _, err = invoke(["programmes", "show", "nope"])
    assert code == 2 and "unknown programme 'nope'" in err


@pytest.fixture(scope="module")
def fleet_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    s = generate_sessions(120, "home", seed=3, start_day="2024-06-03", n_days=5, timezone=TZ, v2g_share=0.3)
    path = tmp_path_factory.mktemp("dr") / "fleet.csv"
    s.to_csv(path)
    return path


def test_eligibility_on_a_session_file(fleet_file: Path) -> None:
    code, out, _ = invoke(["eligibility", "--sessions", str(fleet_file), "--programme", "cn-v2g-pilot-2024",
                           "--confidence", "0.8", "--json"])
    assert code == 0, out
    data = json.loads(out)
    assert data["programme"] == "cn-v2g-pilot-2024" and data["threshold_kw"] == 500
    names = {c["name"] for c in data["checks"]}
    assert {"size", "V2G", "yearly discharge"} <= names
    assert data["qualifies"] is False  # ~24 home EVs a day are far below 500 kW
    # lowering the threshold to 100 kW: fewer vehicles needed
    th = {row["threshold_kw"]: row for row in data["thresholds"]}
    assert th[100.0]["vehicles_needed"] < th[500.0]["vehicles_needed"] < th[1000.0]["vehicles_needed"]
    code, out, _ = invoke(["eligibility", "--sessions", str(fleet_file), "--programme", "cn-v2g-pilot-2024",
                           "--threshold-kw", "1", "--no-sites"])
    assert code == 0 and "threshold effect" in out


def test_offer_on_a_session_file(fleet_file: Path) -> None:
    code, out, _ = invoke(["offer", "--sessions", str(fleet_file), "--programme", "cn-hainan-dr-day-ahead",
                           "--day", "2024-06-07", "--probability", "0.8", "--scenarios", "5", "--json"])
    assert code == 0, out
    data = json.loads(out)
    assert data["probability"] == 0.8 and data["scenarios"] == 5
    assert {h["direction"] for h in data["hours"]} == {"down", "up"}
    assert len(data["hours"]) == 48
    # below Hainan's 1 MW minimum: nothing offered, and said so
    assert all(h["quantity_kw"] == 0 for h in data["hours"])
    assert {h["status"] for h in data["hours"]} <= {"below minimum size", "nothing deliverable"}


def metered_files(tmp: Path) -> tuple[Path, Path]:
    idx = pd.date_range(pd.Timestamp("2024-06-03", tz=TZ), pd.Timestamp("2024-06-12", tz=TZ), freq="15min",
                        inclusive="left")
    kw = pd.Series(3000.0, index=idx)
    ev = (idx >= pd.Timestamp("2024-06-11 18:00", tz=TZ)) & (idx < pd.Timestamp("2024-06-11 20:00", tz=TZ))
    first_hour = ev & (idx < pd.Timestamp("2024-06-11 19:00", tz=TZ))
    kw[first_hour] = 2200.0
    kw[ev & ~first_hour] = 2700.0
    path = tmp / "metered.csv"
    pd.DataFrame({"timestamp": [t.isoformat() for t in idx], "power_kw": kw.to_numpy()}).to_csv(path, index=False)
    return path, path


def test_settle_metered_file_guangdong_penalty(tmp_path: Path) -> None:
    metered, _ = metered_files(tmp_path)
    # 5 similar working days at 3,000 kW; hour 1: 800 kWh (paid), hour 2: 300 kWh < 50 % of 1,000 (penalty 100)
    code, out, _ = invoke(["settle", "--metered", str(metered), "--programme", "cn-guangdong-dr-day-ahead",
                           "--event", "2024-06-11T18:00+08:00/2024-06-11T20:00+08:00/1000", "--price", "1.0",
                           "--json"])
    assert code == 0, out
    data = json.loads(out)
    assert data["energy_payment"] == pytest.approx(800.0)
    assert data["under_penalty"] == pytest.approx(100.0)
    assert data["net"] == pytest.approx(700.0)
    code, out, _ = invoke(["settle", "--metered", str(metered), "--programme", "cn-guangdong-dr-day-ahead",
                           "--event", "2024-06-11T18:00/2024-06-11T20:00/1000", "--price", "1.0",
                           "--baseline", "high_4_of_5"])
    assert code == 0 and "net" in out


def test_settle_bad_input_errors(tmp_path: Path) -> None:
    metered, _ = metered_files(tmp_path)
    code, _, err = invoke(["settle", "--metered", str(metered), "--programme", "cn-guangdong-dr-day-ahead",
                           "--event", "nonsense"])
    assert code == 2 and "START/END/KW" in err
    bad = tmp_path / "bad.csv"
    bad.write_text("timestamp,power_kw\n2024-06-03T00:00+08:00,abc\n")
    code, _, err = invoke(["settle", "--metered", str(bad), "--programme", "uk-bm",
                           "--event", "2024-06-03T00:00+08:00/2024-06-03T01:00+08:00/10"])
    assert code == 2 and "row 1" in err and "power_kw" in err


@pytest.mark.slow
def test_settle_on_a_scenario() -> None:
    code, out, _ = invoke(["settle", "--scenario", "guangzhou-default", "--programme", "cn-guangdong-dr-day-ahead",
                           "--json"])
    assert code == 0, out
    data = json.loads(out)
    rows = data if isinstance(data, list) else [data]
    assert rows and all("net" in r for r in rows)
    assert np.isfinite([r["net"] for r in rows]).all()


@pytest.mark.slow
def test_eligibility_on_a_scenario() -> None:
    code, out, _ = invoke(["eligibility", "--scenario", "guangzhou-default", "--programme", "cn-v2g-pilot-2024",
                           "--no-sites", "--json"])
    assert code == 0, out
    assert json.loads(out)["programme"] == "cn-v2g-pilot-2024"


def test_library_files_cite_sources_and_mark_assumptions() -> None:
    lib = programme_library()
    assert len(lib) >= 16
    for prog in lib.values():
        assert prog.source and all(len(s) > 20 for s in prog.source)
        assert prog.valid_from.year >= 2019
        for path in prog.assumptions:
            assert prog.is_assumption(path)
    uk = {k: v for k, v in lib.items() if k.startswith("uk-") and k != "uk-octopus-power-pack"}
    assert len(uk) == 8  # the eight products of table 2-5
    assert lib["cn-v2g-pilot-2024"].eligibility.min_annual_discharge_kwh == 100000
    assert lib["uk-octopus-power-pack"].eligibility.max_monthly_kwh == 333


def test_a_bad_programme_file_names_the_file_and_key(tmp_path: Path) -> None:
    from vgi.dr.programmes import load_programme_file
    from vgi.errors import VgiError

    bad = tmp_path / "mine.yaml"
    bad.write_text(
        "id: mine\nname: x\nregion: x\ncountry: GB\nkind: flexibility\ncurrency: GBP\ntimezone: Europe/London\n"
        "valid_from: 2024-01-01\nsource: a source long enough to count\nverification: assumption\n"
        "services: [peak_shaving]\ndirection: down\nsize: {min_kw: 10, max_kw: 5}\n"
        "assumptions: {payments.nope: why}\n"
    )
    with pytest.raises(VgiError) as err:
        load_programme_file(bad)
    text = str(err.value)
    assert "mine.yaml" in text and "size" in text


def _write_utc_csv(series: pd.Series, path: Path) -> Path:
    """A meter file with UTC times ('...+00:00'), as many meter exports are written."""
    pd.DataFrame({"timestamp": [t.isoformat() for t in series.index.tz_convert("UTC")],
                  "power_kw": series.to_numpy()}).to_csv(path, index=False)
    return path


def _local_days_module():  # type: ignore[no-untyped-def]
    import sys

    sys.path.insert(0, str(Path(__file__).parent))
    import test_dr_local_days

    return test_dr_local_days


def test_settle_caiso_evening_event_from_a_utc_meter_file(tmp_path: Path) -> None:
    """The CAISO case of tests/test_dr_local_days.py end to end: Fri 2024-07-05 17:00-19:00 PDT (Saturday in UTC),
    the day after Independence Day.  By hand: days Jul 3, 2, 1, Jun 28, 27, 26, 25, 24, 21, 20; baseline 117.7 kW
    x load point adjustment 1.1 = 129.47 kW; response (129.47 - 90) x 2 h = 78.94 kWh."""
    m = _local_days_module()
    metered = _write_utc_csv(m.caiso_history(), tmp_path / "meter.csv")
    code, out, err = invoke(["settle", "--metered", str(metered), "--programme", "caiso-dera",
                             "--event", "2024-07-05T17:00/2024-07-05T19:00/50", "--uncommitted", "--json"])
    assert code == 0, err
    data = json.loads(out)
    assert data["baseline"]["days_used"] == [d.isoformat() for d in m.CAISO_DAYS]
    assert data["baseline"]["adjustment"] == pytest.approx(1.1)
    assert data["response_kwh"] == pytest.approx(78.94)


def test_settle_two_events_and_exclude_day(tmp_path: Path) -> None:
    """The Guangdong case of tests/test_dr_local_days.py: events Mon 17 and Wed 19 June 2024, 10:00-12:00 CST.
    By hand: event 1 from Jun 14, 13, 12, 11, 7 -> 111.4 kW, response 102.8 kWh; event 2 leaves out 17 June
    (curtailed) -> Jun 18, 14, 13, 12, 11 -> 113.6 kW, response 87.2 kWh (66.8 kWh had 17 June been used)."""
    m = _local_days_module()
    metered = _write_utc_csv(m.guangdong_history(), tmp_path / "meter.csv")
    base = ["settle", "--metered", str(metered), "--programme", "cn-guangdong-dr-day-ahead", "--uncommitted"]
    ev1 = "2024-06-17T10:00+08:00/2024-06-17T12:00+08:00/50"
    ev2 = "2024-06-19T10:00+08:00/2024-06-19T12:00+08:00/50"
    code, out, err = invoke([*base, "--event", ev1, "--event", ev2, "--json"])
    assert code == 0, err
    first, second = json.loads(out)
    assert first["response_kwh"] == pytest.approx(102.8)
    assert second["baseline"]["days_used"] == ["2024-06-18", "2024-06-14", "2024-06-13", "2024-06-12",
                                               "2024-06-11"]
    assert second["response_kwh"] == pytest.approx(87.2)
    # event 2 alone: the curtailed day is used unless the user names it
    code, out, _ = invoke([*base, "--event", ev2, "--json"])
    assert code == 0 and json.loads(out)["response_kwh"] == pytest.approx(66.8)
    code, out, _ = invoke([*base, "--event", ev2, "--exclude-day", "2024-06-17", "--json"])
    assert code == 0 and json.loads(out)["response_kwh"] == pytest.approx(87.2)
    code, out, _ = invoke([*base, "--event", ev2, "--exclude-day", "2024-06-17"])
    assert code == 0 and "baseline note: 2024-06-17: excluded" in out
    assert "2024-06-19 10:00" in out  # settlement periods labelled in the programme's local time, not UTC (02:00)
    code, _, err = invoke([*base, "--event", ev2, "--exclude-day", "2024-06-31"])
    assert code == 2 and err == "--exclude-day '2024-06-31' is not a date YYYY-MM-DD"
    code, _, err = invoke(["settle", "--scenario", "guangzhou-default", "--programme", "cn-guangdong-dr-day-ahead",
                           "--exclude-day", "2024-06-17"])
    assert code == 2 and "--exclude-day applies to --metered" in err
