"""OpenEI URDB and acnportal tariff readers: prices checked hour by hour against the files.

acnportal fixtures are copied in ``tests/data/acnportal`` (BSD-3, see the NOTICE there).  The URDB samples are
public data of unclear licence: they are read from ``../shared`` and the tests skip when it is absent.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from vgi.errors import VgiError
from vgi.io.tariff_library import get_tariff
from vgi.io.tariff_readers import read_acnportal_tariff, read_urdb_json
from vgi.model.tariffs import tariff_prices
from vgi.settle.bills import bill

DATA = Path(__file__).parent / "data" / "acnportal"
URDB = (
    Path(__file__).resolve().parents[1].parent
    / "shared"
    / "data"
    / "tariffs"
    / "urdb_json_via_urdb-tariff-viewer"
)
needs_urdb = pytest.mark.skipif(not URDB.is_dir(), reason="../shared URDB samples not available")

LA = "America/Los_Angeles"


def price_at(tariff, local_time: str) -> float:
    ts = pd.DatetimeIndex([pd.Timestamp(local_time).tz_localize(tariff.timezone)])
    return float(tariff_prices(tariff, ts).import_price[0])


# -------------------------------------------------------------------------------------------------- acnportal
def test_acnportal_sce_tou_ev_4_prices() -> None:
    t = read_acnportal_tariff(DATA / "sce_tou_ev_4_march_2019.json")
    assert t.currency == "USD" and t.timezone == LA
    assert t.valid_from.isoformat() == "2019-03-01"
    # summer weekday (Wed 2019-07-10): times [0, 8, 12, 18, 23] -> [0.05623, 0.0925, 0.26668, 0.0925, 0.05623]
    assert price_at(t, "2019-07-10 07:45") == pytest.approx(0.05623)
    assert price_at(t, "2019-07-10 08:00") == pytest.approx(0.0925)
    assert price_at(t, "2019-07-10 13:00") == pytest.approx(0.26668)
    assert price_at(t, "2019-07-10 18:30") == pytest.approx(0.0925)
    assert price_at(t, "2019-07-10 23:30") == pytest.approx(0.05623)
    # summer weekend (Sat 2019-07-13): 0.05623 all day
    assert price_at(t, "2019-07-13 13:00") == pytest.approx(0.05623)
    # winter weekday (Tue 2019-03-05) and weekend (Sat 2019-03-09)
    assert price_at(t, "2019-03-05 13:00") == pytest.approx(0.0869)
    assert price_at(t, "2019-03-05 09:00") == pytest.approx(0.07492)
    assert price_at(t, "2019-03-09 12:00") == pytest.approx(0.06087)
    assert [(d.price_per_kw, d.months) for d in t.demand_charges] == [
        (15.51, (6, 7, 8, 9)),
        (15.51, (1, 2, 3, 4, 5, 10, 11, 12)),
    ]


def test_acnportal_bill_with_demand_charge() -> None:
    # Wed 2019-07-10, 10 kW 12:00-13:00: 10 kWh x 0.26668 = 2.6668 ; demand 10 kW x 15.51 = 155.1 -> 157.7668
    t = read_acnportal_tariff(DATA / "sce_tou_ev_4_march_2019.json")
    idx = pd.date_range("2019-07-10", periods=96, freq="15min", tz=LA)
    power = np.where((idx.hour == 12), 10.0, 0.0)
    b = bill(pd.Series(power, index=idx), t)
    assert b.amount("energy") == pytest.approx(2.6668)
    assert b.amount("demand") == pytest.approx(155.1)
    assert b.total == pytest.approx(157.7668)


def test_acnportal_pge_a10_half_hours_and_shadowed_entries() -> None:
    t = read_acnportal_tariff(DATA / "pge_a10_tou_aug_2019.json")
    # summer weekday (Mon 2019-08-05): times [0, 8.5, 12, 18, 21.5] -> 08:30 and 21:30 boundaries kept
    assert price_at(t, "2019-08-05 08:15") == pytest.approx(0.14903)
    assert price_at(t, "2019-08-05 08:30") == pytest.approx(0.1771)
    assert price_at(t, "2019-08-05 12:00") == pytest.approx(0.23223)
    assert price_at(t, "2019-08-05 21:15") == pytest.approx(0.1771)
    assert price_at(t, "2019-08-05 21:30") == pytest.approx(0.14903)
    # winter: both entries say ALL; the first ('Winter-Weekday', 3 segments) wins, also on Saturdays
    assert price_at(t, "2019-12-07 10:00") == pytest.approx(0.1477)
    assert price_at(t, "2019-12-07 22:00") == pytest.approx(0.13064)
    assert "Winter-Weekend" in t.notes
    assert {(d.price_per_kw, d.months) for d in t.demand_charges} == {
        (19.99, (5, 6, 7, 8, 9, 10)),
        (11.66, (1, 2, 3, 4, 11, 12)),
    }
    # an hourly row across 08:30 is split: 1 kW 08:00-09:00 = 0.5 x 0.14903 + 0.5 x 0.1771 = 0.163065
    idx = pd.date_range("2019-08-05", periods=24, freq="1h", tz=LA)
    b = bill(pd.Series(np.where(idx.hour == 8, 1.0, 0.0), index=idx), t)
    assert b.amount("energy") == pytest.approx(0.163065)


def test_get_tariff_reads_acnportal_files() -> None:
    t = get_tariff(str(DATA / "sce_tou_ev_4_march_2019.json"))
    assert t.id == "acnportal-sce-tou-ev-4-2019-03-01"


def test_acnportal_errors(tmp_path: Path) -> None:
    doc = json.loads((DATA / "sce_tou_ev_4_march_2019.json").read_text())
    doc["schedule"][0]["effective_start"] = "06-15"
    bad = tmp_path / "mid_month.json"
    bad.write_text(json.dumps(doc))
    with pytest.raises(VgiError, match="whole months"):
        read_acnportal_tariff(bad)
    doc = json.loads((DATA / "sce_tou_ev_4_march_2019.json").read_text())
    doc["schedule"][1]["dow_mask"] = "SUNDAYS"
    bad.write_text(json.dumps(doc))
    with pytest.raises(VgiError, match=r"schedule\[1\].*dow_mask"):
        read_acnportal_tariff(bad)
    bad.write_text("{not json")
    with pytest.raises(VgiError, match="not valid JSON"):
        read_acnportal_tariff(bad)


# ------------------------------------------------------------------------------------------------------- URDB
@needs_urdb
def test_urdb_pge_bev2s_prices_demand_and_fixed() -> None:
    t = read_urdb_json(URDB / "PGE_BEV-2-S_2025-09-08.json")
    assert t.id == "urdb-6757525f259975f54b0eccbf"
    assert t.valid_from.isoformat() == "2024-10-01" and t.timezone == LA
    # every day: 0-9 off-peak 0.18081, 9-14 super off-peak 0.15754, 14-16 off-peak, 16-21 peak 0.39404
    assert price_at(t, "2024-10-07 08:00") == pytest.approx(0.18081)
    assert price_at(t, "2024-10-07 10:00") == pytest.approx(0.15754)
    assert price_at(t, "2024-10-07 17:00") == pytest.approx(0.39404)
    assert price_at(t, "2024-10-12 23:00") == pytest.approx(0.18081)
    assert [(d.name, d.price_per_kw) for d in t.demand_charges] == [("flat demand", 1.91)]
    assert [(f.amount, f.per) for f in t.fixed_charges] == [(447.44, "month")]


@needs_urdb
def test_urdb_sce_tou8_july_bill_with_tou_demand() -> None:
    # SCE TOU-8 Option D (<2 kV).  Energy = rate + adj (adj 0.00114): July weekday 16-21 period 5 0.15186,
    # other hours period 3 0.11343; July weekend 16-21 period 4 0.14199.  Demand: flat 25.36 USD/kW (all
    # hours), TOU period 2 29.54 USD/kW (Jun-Sep weekdays 16-21), period 1 8.83 (other months).  Fixed
    # 447.44 USD/month.
    # July 2024 (23 weekdays, 8 weekend days; URDB has no holidays), 10 kW base load:
    #   weekday 10 x (5 x 0.15186 + 19 x 0.11343) = 29.1447
    #   weekend 10 x (5 x 0.14199 + 19 x 0.11343) = 28.6512
    #   base = 23 x 29.1447 + 8 x 28.6512 = 670.3281 + 229.2096 = 899.5377
    # spikes: Tue 16th 17:00-17:15 40 kW (+7.5 kWh x 0.15186 = 1.13895), Sat 20th 17:00-17:15 60 kW
    #   (+12.5 kWh x 0.14199 = 1.774875), Wed 17th 03:00-03:15 80 kW (+17.5 kWh x 0.11343 = 1.985025)
    # energy 904.43655 ; flat demand 80 x 25.36 = 2028.8 ; period-2 demand 40 x 29.54 = 1181.6 (the Saturday
    # and 03:00 peaks are outside its windows) ; fixed 447.44 -> total 4562.27655
    t = read_urdb_json(URDB / "SCE_TOU-8__Option-D_Under-2-kV.json")
    assert price_at(t, "2024-07-16 17:00") == pytest.approx(0.15186)
    assert price_at(t, "2024-07-20 17:00") == pytest.approx(0.14199)
    assert price_at(t, "2024-01-16 10:00") == pytest.approx(0.08859 + 0.00114)
    assert price_at(t, "2024-01-16 17:00") == pytest.approx(0.12314 + 0.00114)
    idx = pd.date_range("2024-07-01", "2024-08-01", freq="15min", tz=LA, inclusive="left")
    power = np.full(len(idx), 10.0)
    for when, kw in (("2024-07-16 17:00", 40.0), ("2024-07-20 17:00", 60.0), ("2024-07-17 03:00", 80.0)):
        power[idx == pd.Timestamp(when).tz_localize(LA)] = kw
    b = bill(pd.Series(power, index=idx), t)
    assert b.amount("energy") == pytest.approx(904.43655)
    demand = {line.label: line.amount for line in b.lines if line.category == "demand"}
    assert demand == pytest.approx({"flat demand 2024-07": 2028.8, "demand period 2 2024-07": 1181.6})
    assert b.amount("fixed") == pytest.approx(447.44)
    assert b.total == pytest.approx(4562.27655)


@needs_urdb
def test_urdb_flat_demand_by_month_and_all_samples_load() -> None:
    coned = read_urdb_json(URDB / "Consolidated-Edison_SC-9_Zone_J_NYC.json")
    assert coned.timezone == "America/New_York"
    flat = {d.name: (d.price_per_kw, d.months) for d in coned.demand_charges if d.name.startswith("flat")}
    assert flat == {
        "flat demand 0": (7.51, (1, 2, 3, 4, 5, 10, 11, 12)),
        "flat demand 1": (26.2, (6, 7, 8, 9)),
    }
    for path in sorted(URDB.glob("*.json")):
        t = get_tariff(str(path))  # get_tariff reads URDB files too
        assert t.currency == "USD" and t.energy is not None


@needs_urdb
def test_urdb_errors(tmp_path: Path) -> None:
    with pytest.raises(VgiError, match="out of range"):
        read_urdb_json(URDB / "PGE_BEV-2-S_2025-09-08.json", index=3)
    doc = json.loads((URDB / "PGE_BEV-2-S_2025-09-08.json").read_text())
    rec = doc["items"][0]
    rec["utility"] = "Somewhere Power"
    bad = tmp_path / "urdb.json"
    bad.write_text(json.dumps(doc))
    with pytest.raises(VgiError, match="time zone"):
        read_urdb_json(bad)
    assert read_urdb_json(bad, timezone="America/Denver").timezone == "America/Denver"
    rec["energyratestructure"][0][0]["unit"] = "kWh daily"
    bad.write_text(json.dumps(doc))
    with pytest.raises(VgiError, match="not supported"):
        read_urdb_json(bad, timezone="America/Denver")
    rec["energyratestructure"][0][0]["unit"] = "kWh"
    rec["energyweekdayschedule"][0][0] = 7
    bad.write_text(json.dumps(doc))
    with pytest.raises(VgiError, match="period"):
        read_urdb_json(bad, timezone="America/Denver")


def test_urdb_tiers_become_blocks(tmp_path: Path) -> None:
    # a hand-made URDB record: two periods, two tiers (first 500 kWh/month), flat demand 5 USD/kW
    rec = {
        "label": "x1",
        "utility": "Pacific Gas & Electric Co",
        "name": "test",
        "startdate": 1704067200,
        "energyratestructure": [
            [{"max": 500, "rate": 0.10, "unit": "kWh"}, {"rate": 0.15, "unit": "kWh"}],
            [
                {"max": 500, "rate": 0.30, "adj": 0.01, "unit": "kWh"},
                {"rate": 0.40, "adj": 0.01, "unit": "kWh"},
            ],
        ],
        "energyweekdayschedule": [[0] * 16 + [1] * 5 + [0] * 3] * 12,
        "energyweekendschedule": [[0] * 24] * 12,
        "flatdemandstructure": [[{"rate": 5.0}]],
        "flatdemandmonths": [0] * 12,
        "fixedchargefirstmeter": 1.0,
        "fixedchargeunits": "$/day",
    }
    path = tmp_path / "tiers.json"
    path.write_text(json.dumps({"items": [rec]}))
    t = read_urdb_json(path)
    assert t.valid_from.isoformat() == "2024-01-01"
    assert price_at(t, "2024-01-02 17:00") == pytest.approx(0.31)
    # 1 kW for the 31 days of January = 744 kWh, 16-21 on weekdays (23 days x 5 h = 115 kWh) in period 1.
    # energy: 115 x 0.31 + 629 x 0.10 = 35.65 + 62.9 = 98.55.  kWh 501-744 are the hours from Sun Jan 21 20:00
    # to Jan 31 24:00: peak hours among them are weekdays Jan 22-26 and 29-31 = 8 x 5 = 40 kWh (+0.10), the
    # other 204 kWh pay +0.05: tier = 4.0 + 10.2 = 14.2 ; demand 1 kW x 5 = 5 ; fixed 31 days x 1 = 31
    idx = pd.date_range("2024-01-01", "2024-02-01", freq="1h", tz=LA, inclusive="left")
    b = bill(pd.Series(1.0, index=idx), t)
    assert b.amount("energy") == pytest.approx(98.55)
    assert b.amount("tier") == pytest.approx(14.2)
    assert b.amount("demand") == pytest.approx(5.0)
    assert b.amount("fixed") == pytest.approx(31.0)
