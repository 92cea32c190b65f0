"""Tariff validity dates and versions: a period outside a tariff's dates is refused, a shipped id resolves to the
version in force, and verification labels cannot claim more than the hours.

Prices are the report's table 3-3 (CNY/kWh); the windows are those of each tariff's notes.
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from vgi.cli import main
from vgi.errors import VgiError
from vgi.io.tariff_library import (
    get_tariff,
    load_tariff,
    tariff_for_period,
    tariff_library,
    tariff_versions,
)
from vgi.io.tariff_readers import read_urdb_json
from vgi.model.tariffs import select_version
from vgi.settle.bills import bill, bill_totals

CN = "Asia/Shanghai"
HAINAN = "cn-hainan-residential-ev"


def day_load(day: str, kw_by_hour: dict[int, float], tz: str = CN, days: int = 1) -> pd.Series:
    idx = pd.date_range(day, periods=24 * days, freq="1h", tz=tz)
    return pd.Series([kw_by_hour.get(t.hour, 0.0) for t in idx], index=idx)


def ts(text: str) -> pd.Timestamp:
    return pd.Timestamp(text, tz=CN)


# --- Hubei: the EV pile pilot ran one year from 2023-12-01 -------------------------------------------------

def test_hubei_bills_its_last_day_and_refuses_the_day_after() -> None:
    t = get_tariff("cn-hubei-residential-ev")
    assert t.valid_to is not None and t.valid_to.isoformat() == "2024-11-30"
    # 1 kW 20-22 (critical 0.78) and 23-24 (valley 0.43): 2 x 0.78 + 0.43 = 1.99
    assert bill(day_load("2024-11-30", {20: 1.0, 21: 1.0, 23: 1.0}), t).total == pytest.approx(1.99)
    with pytest.raises(VgiError) as exc:
        bill(day_load("2024-12-01", {20: 1.0}), t)
    message = str(exc.value)
    assert "cn-hubei-residential-ev" in message and "2024-11-30" in message and "2024-12-01" in message
    assert "\n" not in message
    # the vectorised bill refuses the same period
    with pytest.raises(VgiError, match="until 2024-11-30"):
        bill_totals(np.ones((2, 48)), day_load("2024-11-30", {}, days=2).index, t)


def test_a_period_ending_at_midnight_after_the_last_day_is_still_in_force() -> None:
    # [2024-11-30 00:00, 2024-12-01 00:00) lies inside the last day: the end is exclusive
    t = get_tariff("cn-hubei-residential-ev")
    load = day_load("2024-11-30", {h: 1.0 for h in range(24)})
    # 07-17 flat 10 x 0.58, 17-20 and 22-23 peak 4 x 0.68, 20-22 critical 2 x 0.78, 23-07 valley 8 x 0.43
    assert bill(load, t).total == pytest.approx(5.8 + 2.72 + 1.56 + 3.44)


# --- Hainan: windows changed on 2024-10-01 --------------------------------------------------------------------

def test_hainan_has_two_versions_and_each_period_gets_its_own() -> None:
    old, new = tariff_versions(HAINAN)
    assert old.valid_to is not None and old.valid_to.isoformat() == "2024-09-30"
    assert new.valid_from.isoformat() == "2024-10-01" and new.starts_on_valid_from and new.hours_verified
    assert get_tariff(HAINAN) == old  # the library's reference version (June 2024, table 3-3)
    assert tariff_for_period(HAINAN, ts("2024-06-03"), ts("2024-06-04")) == old
    assert tariff_for_period(HAINAN, ts("2025-04-07"), ts("2025-04-08")) == new
    # 1 kW 00:00-02:00 on an April day: valley (0.2488) under the old windows, flat (0.6295) under the new ones
    load = day_load("2025-04-07", {0: 1.0, 1: 1.0})
    assert bill(load, new).total == pytest.approx(2 * 0.6295)
    # 1 kW 08:00-10:00: flat before, valley after
    assert bill(day_load("2025-04-07", {8: 1.0, 9: 1.0}), new).total == pytest.approx(2 * 0.2488)
    # October to March keeps the old windows: 00-02 valley
    assert bill(day_load("2025-01-06", {0: 1.0, 1: 1.0}), new).total == pytest.approx(2 * 0.2488)
    assert bill(day_load("2024-06-03", {0: 1.0, 1: 1.0}), old).total == pytest.approx(2 * 0.2488)


def test_hainan_versions_refuse_periods_outside_them() -> None:
    old, new = tariff_versions(HAINAN)
    with pytest.raises(VgiError, match=r"cn-hainan-residential-ev' is in force until 2024-09-30; .* 2025-04-07"):
        bill(day_load("2025-04-07", {0: 1.0}), old)
    with pytest.raises(VgiError, match=r"in force from 2024-10-01; the period to bill runs 2024-06-03"):
        bill(day_load("2024-06-03", {0: 1.0}), new)
    with pytest.raises(VgiError, match=r"2024-09-30 to 2024-10-01 spans 2 versions .* bill each version"):
        tariff_for_period(HAINAN, ts("2024-09-30"), ts("2024-10-02"))


def test_sichuan_ends_the_day_before_the_2025_notice() -> None:
    t = get_tariff("cn-sichuan-residential-ev")
    # 1 kW 10-12: peak 2 x 0.87424
    assert bill(day_load("2025-04-30", {10: 1.0, 11: 1.0}), t).total == pytest.approx(2 * 0.87424)
    with pytest.raises(VgiError, match=r"until 2025-04-30; the period to bill runs 2025-05-01 to 2025-05-01"):
        bill(day_load("2025-05-01", {10: 1.0}), t)


def test_select_version_needs_one_id() -> None:
    with pytest.raises(VgiError, match="share an id"):
        select_version([get_tariff(HAINAN), get_tariff("cn-hubei-residential-ev")], ts("2024-06-03"),
                       ts("2024-06-04"))


def test_library_versions_do_not_overlap_and_later_ones_start_on_their_date() -> None:
    for tid in tariff_library():
        versions = tariff_versions(tid)
        for a, b in itertools.pairwise(versions):
            assert a.valid_to is not None and a.valid_to < b.valid_from, tid
            assert b.starts_on_valid_from, tid


# --- labels ---------------------------------------------------------------------------------------------------

def _minimal(**extra: object) -> dict[str, object]:
    data: dict[str, object] = {
        "id": "mine", "name": "my tariff", "region": "x", "country": "CN", "currency": "CNY",
        "timezone": CN, "valid_from": "2024-06-01", "source": "my notes", "verification": "secondary",
        "energy": {"prices": {"flat": 0.5}, "seasons": [{"default_period": "flat"}]},
    }
    data.update(extra)
    return data


def test_a_users_tariff_is_not_hours_verified_unless_it_says_so() -> None:
    assert load_tariff(_minimal()).hours_verified is False
    assert load_tariff(_minimal(hours_verified=True)).hours_verified is True


def test_label_may_not_claim_more_than_the_hours() -> None:
    with pytest.raises(VgiError, match=r"mine.yaml: <top>: .*verified-secondary' claims more than the hours"):
        load_tariff(_minimal(verification="verified-secondary"), "mine.yaml")
    with pytest.raises(VgiError, match="claims more than the hours"):
        load_tariff(_minimal(verification="verified-primary", hours_verified=False))
    ok = load_tariff(_minimal(verification="verified-primary", hours_verified=True))
    assert ok.verification == "verified-primary"
    for t in tariff_library().values():
        assert t.hours_verified or not t.verification.startswith("verified"), t.id


def test_valid_to_before_valid_from_is_refused() -> None:
    with pytest.raises(VgiError, match="valid_to 2024-01-01 is before valid_from 2024-06-01"):
        load_tariff(_minimal(valid_to="2024-01-01"))


def test_urdb_import_is_not_hours_verified_and_reads_its_end_date(tmp_path: Path) -> None:
    rec = {
        "label": "x2", "utility": "Pacific Gas & Electric Co", "name": "flat test",
        "startdate": 1704067200,  # 2024-01-01 00:00 UTC
        "enddate": 1717200000,  # 2024-06-01 00:00 UTC: the first day no longer in force
        "energyratestructure": [[{"rate": 0.2, "unit": "kWh"}]],
        "energyweekdayschedule": [[0] * 24] * 12,
        "energyweekendschedule": [[0] * 24] * 12,
    }
    path = tmp_path / "urdb.json"
    path.write_text(json.dumps({"items": [rec]}))
    t = read_urdb_json(path)
    assert t.hours_verified is False and t.verification == "secondary"
    assert t.valid_to is not None and t.valid_to.isoformat() == "2024-05-31"
    la = "America/Los_Angeles"
    assert bill(day_load("2024-05-31", {h: 1.0 for h in range(24)}, tz=la), t).total == pytest.approx(24 * 0.2)
    with pytest.raises(VgiError, match="until 2024-05-31"):
        bill(day_load("2024-06-01", {0: 1.0}, tz=la), t)


# --- the CLI resolves the version and refuses with exit status 2 ------------------------------------------------

def _write(path: Path, load: pd.Series) -> Path:
    pd.DataFrame({"timestamp": [t.isoformat() for t in load.index], "power_kw": load.to_numpy()}).to_csv(
        path, index=False)
    return path


def test_cli_bill_uses_the_version_in_force_and_refuses_outside(tmp_path: Path,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    april = _write(tmp_path / "april.csv", day_load("2025-04-07", {0: 1.0, 1: 1.0}))
    main(["bill", "--load", str(april), "--tariff", HAINAN, "--json"])
    out = json.loads(capsys.readouterr().out)
    assert out["total"] == pytest.approx(2 * 0.6295)  # the 2024-10-01 windows: 00-02 flat
    december = _write(tmp_path / "dec.csv", day_load("2024-12-01", {20: 1.0}))
    with pytest.raises(SystemExit) as exc:
        main(["bill", "--load", str(december), "--tariff", "cn-hubei-residential-ev"])
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip()
    assert "cn-hubei-residential-ev" in err and "2024-11-30" in err and "\n" not in err


def test_id_at_date_picks_the_version_in_force_that_day(capsys: pytest.CaptureFixture[str]) -> None:
    assert get_tariff(f"{HAINAN}@2025-04-01").valid_from.isoformat() == "2024-10-01"
    assert get_tariff(f"{HAINAN}@2024-09-30").valid_to is not None
    with pytest.raises(VgiError, match="'2024-13-01' is not a date"):
        get_tariff(f"{HAINAN}@2024-13-01")
    main(["tariffs", "show", f"{HAINAN}@2025-04-01", "--json"])
    data = json.loads(capsys.readouterr().out)
    assert data["valid_from"] == "2024-10-01" and data["starts_on_valid_from"] is True
    assert [v["valid_to"] for v in data["versions"]] == ["2024-09-30", None]


def test_tariffs_list_counts_versions(capsys: pytest.CaptureFixture[str]) -> None:
    main(["tariffs", "list", "--json"])
    rows = {r["id"]: r for r in json.loads(capsys.readouterr().out)}
    assert rows[HAINAN]["versions"] == 2 and rows[HAINAN]["valid_to"] == "2024-09-30"
    assert rows["cn-hubei-residential-ev"]["versions"] == 1
    assert rows["cn-hubei-residential-ev"]["valid_to"] == "2024-11-30"
