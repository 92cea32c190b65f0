"""The shipped tariff library: every file loads, cites its source and date, and the Chinese files carry the
prices of the report's table 3-3."""

from __future__ import annotations

import csv
import json
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from vgi.cli import main
from vgi.io.tariff_library import get_tariff, load_tariff_file, tariff_library
from vgi.model.tariffs import schedule_rows, tariff_prices

CN_REGIONS = [
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
]
NAMES_IDS = (
    [f"cn-{r}-residential-ev" for r in CN_REGIONS]
    + ["cn-chongqing-v2g-discharge"]
    + ["us-pge-ev2a", "us-pge-bev1", "us-pge-bev2", "us-sce-tou-d-prime", "us-sdge-ev-tou-5"]
    + [
        "uk-octopus-go",
        "uk-octopus-intelligent-go",
        "uk-octopus-agile",
        "uk-eon-next-drive",
        "uk-edf-goelectric-overnight",
        "uk-ovo-charge-anytime",
    ]
    + ["de-dynamic-spot-2024", "de-dynamic-14a-module3-2025", "de-dynamic-14a-module2-2025"]
    + ["au-ovo-the-ev-plan", "au-red-energy-ev-saver", "au-engie-night-saver"]
)
# table 3-3 row (region_en in the reference CSV) -> slug
CSV_SLUGS = {
    "Gansu": "gansu",
    "Anhui": "anhui",
    "Chongqing": "chongqing",
    "Fujian": "fujian",
    "Hunan": "hunan",
    "Jiangsu": "jiangsu",
    "Hebei": "hebei",
    "Hubei": "hubei",
    "Jiangxi": "jiangxi",
    "Heilongjiang": "heilongjiang",
    "Jilin": "jilin",
    "Henan": "henan",
    "Jibei (northern Hebei)": "jibei",
    "Inner Mongolia": "inner-mongolia",
    "Shaanxi (excl. Yulin)": "shaanxi",
    "Shaanxi (Yulin)": "shaanxi-yulin",
    "Shanghai": "shanghai",
    "Sichuan": "sichuan",
    "Shandong": "shandong",
    "Ningxia": "ningxia",
    "Shanxi": "shanxi",
    "Zhejiang": "zhejiang",
    "Tianjin (Minxin programme)": "tianjin",
    "Guangzhou": "guangzhou",
    "Shenzhen": "shenzhen",
    "Yunnan": "yunnan",
    "Hainan": "hainan",
}
REFERENCE_CSV = (
    Path(__file__).resolve().parents[1].parent / "shared" / "reference" / "cn_residential_ev_tou_2024.csv"
)
HOURS_VERIFIED = {
    "cn-chongqing-residential-ev",
    "cn-hubei-residential-ev",
    "cn-fujian-residential-ev",
    "cn-hebei-residential-ev",
    "cn-chongqing-v2g-discharge",
}


def _files() -> list[Path]:
    root = resources.files("vgi") / "data" / "tariffs"
    return sorted(Path(str(p)) for p in root.iterdir() if str(p).endswith(".yaml"))


def test_every_library_file_loads_and_is_named_by_its_id() -> None:
    files = _files()
    assert len([f for f in files if "@" not in f.stem]) == len(NAMES_IDS)
    for path in files:
        t = load_tariff_file(path)
        assert path.stem.split("@")[0] == t.id
        if "@" in path.stem:  # a later version: named by the day it starts
            assert path.stem.split("@")[1] == t.valid_from.isoformat() and t.starts_on_valid_from
        sources = [t.source] if isinstance(t.source, str) else list(t.source)
        assert sources and all(s.strip() for s in sources), t.id
        assert t.valid_from.year >= 2023, t.id
        assert t.notes.strip(), t.id
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
        assert {"source", "valid_from", "verification"} <= set(raw), t.id


def test_library_has_exactly_the_agreed_ids() -> None:
    assert sorted(tariff_library()) == sorted(NAMES_IDS)


def test_unverified_hours_are_flagged_and_explained() -> None:
    lib = tariff_library()
    for tid, t in lib.items():
        if tid.startswith("cn-"):
            assert t.hours_verified == (tid in HOURS_VERIFIED), tid
        if tid.endswith("-residential-ev"):
            assert t.notes.startswith("Windows used: "), tid  # names where the windows come from
        if not t.hours_verified:
            assert "hours" in t.verification_detail, tid
            assert "Hours unverified" in t.notes, tid


def test_every_tariff_prices_a_year_without_gaps() -> None:
    idx = pd.date_range("2024-01-01", "2025-01-01", freq="1h", tz="UTC", inclusive="left")
    for tid, t in tariff_library().items():
        spot = np.full(len(idx), 80.0) if t.is_dynamic else None
        export = np.full(len(idx), 0.5) if t.export.kind == "series" else None
        pv = tariff_prices(t, idx, spot, export)
        assert np.isfinite(pv.import_price).all(), tid
        free_hours = {"au-ovo-the-ev-plan", "au-red-energy-ev-saver"}  # free 11:00-14:00 / weekends 12:00-14:00
        assert (pv.import_price > 0).all() or tid in free_hours, tid
        assert (pv.import_price >= 0).all(), tid
        if not t.is_dynamic:
            # every scheduled period appears with its price
            assert schedule_rows(t), tid


@pytest.mark.skipif(not REFERENCE_CSV.is_file(), reason="../shared reference table not available")
def test_chinese_files_carry_the_table_prices() -> None:
    lines = [ln for ln in REFERENCE_CSV.read_text(encoding="utf-8").splitlines() if not ln.startswith("#")]
    rows = list(csv.DictReader(lines))
    assert len(rows) == 27
    for row in rows:
        t = get_tariff(f"cn-{CSV_SLUGS[row['region_en']]}-residential-ev")
        assert t.energy is not None and t.currency == "CNY"
        known = dict(t.energy.prices)
        for season in t.energy.seasons:
            known.update(season.prices)
        shown = set(known.values()) | set(t.reference_prices.values())
        shown |= {r.price for r in t.critical_peaks if r.price is not None}
        for col in ("critical_peak", "peak", "flat", "valley"):
            if row[col]:
                assert float(row[col]) in shown, (t.id, col)
        assert known.get("peak") == float(row["peak"]), t.id
        assert known.get("valley") == float(row["valley"]), t.id


def test_a_few_table_prices_by_hand() -> None:
    # table 3-3: 深圳 1.1121 / 0.6542 / 0.2486 ; 四川 1.049088 / 0.87424 / 0.5464 / 0.21856 ;
    # 重庆 0.62 / 0.52 / 0.34
    sz = get_tariff("cn-shenzhen-residential-ev").energy
    assert sz is not None and sz.prices == {"peak": 1.1121, "flat": 0.6542, "valley": 0.2486}
    sc = get_tariff("cn-sichuan-residential-ev")
    assert sc.energy is not None and sc.energy.prices == {"peak": 0.87424, "flat": 0.5464, "valley": 0.21856}
    assert [r.price for r in sc.critical_peaks] == [1.049088]
    cq = get_tariff("cn-chongqing-v2g-discharge")
    assert cq.energy is not None and cq.energy.prices == {"peak": 0.62, "flat": 0.52, "valley": 0.34}
    assert cq.export.kind == "series"


def test_tariffs_list_json_contains_every_id(capsys: pytest.CaptureFixture[str]) -> None:
    main(["tariffs", "list", "--json"])
    data = json.loads(capsys.readouterr().out)
    assert {row["id"] for row in data} == set(NAMES_IDS)
    for row in data:
        assert {"id", "name", "region", "currency", "valid_from", "verification", "hours_verified"} <= set(
            row
        )
    main(["tariffs", "list", "--json", "--country", "UK"])
    uk = json.loads(capsys.readouterr().out)
    assert {row["id"] for row in uk} == {i for i in NAMES_IDS if i.startswith("uk-")}


def test_tariffs_show(capsys: pytest.CaptureFixture[str]) -> None:
    main(["tariffs", "show", "us-sdge-ev-tou-5", "--json"])
    data = json.loads(capsys.readouterr().out)
    assert data["id"] == "us-sdge-ev-tou-5" and data["currency"] == "USD"
    marapr = [r for r in data["schedule"] if r["months"] == "Mar-Apr" and r["period"] == "super_off_peak"]
    assert marapr and marapr[0]["hours"] == "00:00-06:00, 10:00-14:00"
    main(["tariffs", "show", "cn-guangzhou-residential-ev"])
    text = capsys.readouterr().out
    for needle in ("10:00-12:00, 14:00-19:00", "0.9863", "critical peak", "35 degC", "tiers", "not applied"):
        assert needle in text
    main(["tariffs", "show", "us-pge-bev1"])
    assert "blocks of 10 kW at 12.41" in capsys.readouterr().out


def test_every_tariff_shows(capsys: pytest.CaptureFixture[str]) -> None:
    for tid in NAMES_IDS:
        main(["tariffs", "show", tid, "--json"])
        data = json.loads(capsys.readouterr().out)
        assert data["id"] == tid and data["source"]
        main(["tariffs", "show", tid])
        assert tid in capsys.readouterr().out
