"""``vgi bill`` on files: JSON output, options, and one-line errors with exit status 2."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from vgi.cli import main


def write_load(path: Path, day: str, tz: str, kw_by_hour: dict[int, float], step: int = 15) -> Path:
    idx = pd.date_range(day, periods=24 * 60 // step, freq=f"{step}min", tz=tz)
    power = np.array([kw_by_hour.get(t.hour, 0.0) for t in idx])
    pd.DataFrame({"timestamp": [t.isoformat() for t in idx], "power_kw": power}).to_csv(path, index=False)
    return path


def run_ok(capsys: pytest.CaptureFixture[str], args: list[str]) -> str:
    main(args)
    return capsys.readouterr().out


def run_error(capsys: pytest.CaptureFixture[str], args: list[str]) -> str:
    with pytest.raises(SystemExit) as exc:
        main(args)
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err, err  # one line
    assert "Traceback" not in err
    return err


@pytest.fixture
def shenzhen_load(tmp_path: Path) -> Path:
    # the Shenzhen day of test_bills: 7 kW 00-04, 3.5 kW 18-20, 7 kW 22-23 -> 17.72225 CNY
    return write_load(
        tmp_path / "load.csv",
        "2024-06-03",
        "Asia/Shanghai",
        {0: 7, 1: 7, 2: 7, 3: 7, 18: 3.5, 19: 3.5, 22: 7},
    )


def test_bill_json(capsys: pytest.CaptureFixture[str], shenzhen_load: Path) -> None:
    out = run_ok(
        capsys, ["bill", "--load", str(shenzhen_load), "--tariff", "cn-shenzhen-residential-ev", "--json"]
    )
    data = json.loads(out)
    assert data["currency"] == "CNY"
    assert data["total"] == pytest.approx(17.72225)
    assert data["import_kwh"] == pytest.approx(42.0)
    assert {line["label"] for line in data["lines"]} == {"valley", "peak", "flat"}
    assert data["hours_verified"] is False


def test_bill_table(capsys: pytest.CaptureFixture[str], shenzhen_load: Path) -> None:
    main(["bill", "--load", str(shenzhen_load), "--tariff", "cn-shenzhen-residential-ev"])
    captured = capsys.readouterr()
    assert "total 17.72 CNY" in captured.out
    assert "not verified" in captured.err  # the unverified-hours note


def test_bill_help_explains_units(capsys: pytest.CaptureFixture[str]) -> None:
    try:
        main(["bill", "--help"])
    except SystemExit as exc:  # click may exit 0 after printing help
        assert exc.code in (0, None)
    text = " ".join(capsys.readouterr().out.split())
    for needle in (
        "timestamp,power_kw",
        "UTC offset",
        "power in kW",
        "positive = import",
        "negative = export",
        "EUR/MWh",
        "currency",
    ):
        assert needle in text


def test_bill_options(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    # Guangzhou 2 kW 10-18 on a >= 35 degC day: 15.63585 CNY (test_bills); without the day 14.1564
    gz = write_load(tmp_path / "gz.csv", "2024-06-20", "Asia/Shanghai", {h: 2.0 for h in range(10, 18)})
    args = ["bill", "--load", str(gz), "--tariff", "cn-guangzhou-residential-ev", "--json"]
    assert json.loads(run_ok(capsys, args))["total"] == pytest.approx(14.1564)
    hot = json.loads(run_ok(capsys, [*args, "--critical-peak-day", "2024-06-20"]))
    assert hot["total"] == pytest.approx(15.63585)
    # BEV-1: 26 kW for one hour at 17:00 -> 26 x 0.38068 = 9.89768 ; 2 blocks 24.82 + 6 kW x 2.48 = 14.88
    bev = write_load(tmp_path / "bev.csv", "2024-06-12", "America/Los_Angeles", {17: 26.0})
    out = run_ok(
        capsys, ["bill", "--load", str(bev), "--tariff", "us-pge-bev1", "--subscribed-blocks", "2", "--json"]
    )
    assert json.loads(out)["total"] == pytest.approx(9.89768 + 24.82 + 14.88)


def test_bill_dynamic_and_export_series(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    # German dynamic tariff: (spot/1000 + 0.15984) x 1.19 EUR/kWh.  1 kW 00:00-01:00 at spot 100 EUR/MWh:
    # (0.1 + 0.15984) x 1.19 = 0.3092096 EUR
    load = write_load(tmp_path / "de.csv", "2024-06-03", "Europe/Berlin", {0: 1.0})
    hours = pd.date_range("2024-06-03", periods=24, freq="1h", tz="Europe/Berlin")
    prices = tmp_path / "spot.csv"
    pd.DataFrame({"timestamp": [t.isoformat() for t in hours], "price_eur_per_mwh": 100.0}).to_csv(
        prices, index=False
    )
    out = run_ok(
        capsys,
        ["bill", "--load", str(load), "--tariff", "de-dynamic-spot-2024", "--prices", str(prices), "--json"],
    )
    assert json.loads(out)["total"] == pytest.approx(0.3092096)
    err = run_error(capsys, ["bill", "--load", str(load), "--tariff", "de-dynamic-spot-2024"])
    assert "price series" in err
    # Chongqing V2G: -5 kW 20:00-21:00 paid 1.1 CNY/kWh from the export series -> -5.5 CNY
    cq = write_load(tmp_path / "cq.csv", "2024-07-15", "Asia/Shanghai", {20: -5.0})
    exp = tmp_path / "exp.csv"
    hours = pd.date_range("2024-07-15", periods=24, freq="1h", tz="Asia/Shanghai")
    pd.DataFrame({"timestamp": [t.isoformat() for t in hours], "price_cny_per_kwh": 1.1}).to_csv(
        exp, index=False
    )
    out = run_ok(
        capsys,
        [
            "bill",
            "--load",
            str(cq),
            "--tariff",
            "cn-chongqing-v2g-discharge",
            "--export-prices",
            str(exp),
            "--json",
        ],
    )
    assert json.loads(out)["total"] == pytest.approx(-5.5)


def test_bill_reads_a_tariff_file(capsys: pytest.CaptureFixture[str], shenzhen_load: Path) -> None:
    path = Path(__file__).parent / "data" / "acnportal" / "sce_tou_ev_4_march_2019.json"
    out = run_ok(capsys, ["bill", "--load", str(shenzhen_load), "--tariff", str(path), "--json"])
    assert json.loads(out)["currency"] == "USD"


def test_bill_errors_are_one_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, shenzhen_load: Path
) -> None:
    err = run_error(capsys, ["bill", "--load", str(shenzhen_load), "--tariff", "no-such-tariff"])
    assert err.startswith("error: unknown tariff 'no-such-tariff'")
    err = run_error(capsys, ["bill", "--load", str(tmp_path / "missing.csv"), "--tariff", "uk-octopus-go"])
    assert "no such load file" in err
    bad = tmp_path / "bad.csv"
    cases = {
        "timestamp,power_kw\n2024-06-03T00:00+08:00,1\n2024-06-03T00:15+08:00,abc\n": (
            "row 2, field 'power_kw'"
        ),
        "timestamp,power_kw\n2024-06-03T00:00+08:00,1\n2024-06-03 00:15,1\n": "row 2, field 'timestamp'",
        "timestamp,power_kw\n2024-06-03T00:00+08:00,1\n2024-06-03T00:15+08:00,1,7\n": (
            "cannot read the load CSV"
        ),
        "timestamp,kw\n2024-06-03T00:00+08:00,1\n": "missing column",
        "timestamp,power_kw\n2024-06-03T00:15+08:00,1\n2024-06-03T00:00+08:00,1\n": "row 2",
        "timestamp,power_kw\n2024-06-03T00:00+08:00,1\nnot-a-time+08:00,1\n": "not an ISO 8601 time",
        "": "empty load file",
    }
    for text, needle in cases.items():
        bad.write_text(text)
        err = run_error(capsys, ["bill", "--load", str(bad), "--tariff", "cn-shenzhen-residential-ev"])
        assert needle in err, (text, err)
        assert str(bad) in err or "empty" in err
    err = run_error(
        capsys,
        [
            "bill",
            "--load",
            str(shenzhen_load),
            "--tariff",
            "cn-guangzhou-residential-ev",
            "--critical-peak-day",
            "20-06-2024",
        ],
    )
    assert "not a date" in err
    err = run_error(
        capsys,
        ["bill", "--load", str(shenzhen_load), "--tariff", "uk-octopus-go", "--subscribed-blocks", "2"],
    )
    assert "no capacity subscription" in err
    naive_prices = tmp_path / "p.csv"
    naive_prices.write_text("timestamp,price\n2024-06-03 00:00,80\n")
    err = run_error(
        capsys,
        ["bill", "--load", str(shenzhen_load), "--tariff", "uk-octopus-agile", "--prices", str(naive_prices)],
    )
    assert "row 1, field 'timestamp'" in err and "UTC offset" in err


def test_tariffs_show_unknown_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    err = run_error(capsys, ["tariffs", "show", "cn-shenzen-residential-ev"])
    assert "unknown tariff" in err
    err = run_error(capsys, ["tariffs", "list", "--country", "FR"])
    assert "no tariffs for country 'FR'" in err
