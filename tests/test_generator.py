"""Synthetic sessions: seeded, drawn from the shipped tables, mostly feasible, vectorised."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from vgi.errors import VgiError
from vgi.model.generator import (
    ARCHETYPES,
    UNCAPPED_SHARE,
    archetype_tables,
    generate_frame,
    generate_sessions,
    parse_archetypes,
    vehicle_table,
)
from vgi.model.sessions import read_sessions

DATA = Path(str(resources.files("vgi") / "data"))


def test_same_seed_same_output_other_seed_differs() -> None:
    a = generate_sessions(
        2000, "home=0.5,depot=0.2,public_dc=0.3", seed=7, timezone="Europe/Amsterdam", v2g_share=0.3
    )
    b = generate_sessions(
        2000, "home=0.5,depot=0.2,public_dc=0.3", seed=7, timezone="Europe/Amsterdam", v2g_share=0.3
    )
    c = generate_sessions(
        2000, "home=0.5,depot=0.2,public_dc=0.3", seed=8, timezone="Europe/Amsterdam", v2g_share=0.3
    )
    pd.testing.assert_frame_equal(a.frame, b.frame, check_exact=True)
    assert not a.frame["arrival"].equals(c.frame["arrival"])


def test_counts_split_by_share_with_largest_remainder() -> None:
    t = generate_sessions(1001, {"home": 0.5, "workplace": 0.3, "public_ac": 0.2}, seed=1)
    counts = t.frame["site_id"].value_counts().to_dict()
    # exact shares 500.5, 300.3, 200.2 -> floors 500, 300, 200 and the one left goes to the largest remainder
    assert counts == {"home": 501, "workplace": 300, "public_ac": 200}
    assert t.frame["arrival"].is_monotonic_increasing
    assert t.frame["session_id"].iloc[0] == "s0000" and t.frame["session_id"].is_unique


def test_parse_archetypes() -> None:
    assert parse_archetypes("home") == {"home": 1.0}
    assert parse_archetypes("home,depot") == {"home": 0.5, "depot": 0.5}
    assert parse_archetypes("home=0.6,workplace,public_ac") == pytest.approx(
        {"home": 0.6, "workplace": 0.2, "public_ac": 0.2}
    )
    assert parse_archetypes({"home": 3, "depot": 1}) == {"home": 0.75, "depot": 0.25}
    for bad, message in [
        ("garage", "unknown archetype"),
        ("home=x", "must be a number"),
        ("home=-1", "non-negative"),
        ("home=1,depot", "leave nothing"),
        ("home,home", "named twice"),
        ("", "no archetype"),
        ("home=0", "sum to zero"),
    ]:
        with pytest.raises(VgiError, match=message):
            parse_archetypes(bad)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"count": -1}, "count"),
        ({"count": 10, "n_days": 0}, "n_days"),
        ({"count": 10, "v2g_share": 1.5}, "v2g_share"),
        ({"count": 10, "timezone": "Moon/Base"}, "time zone"),
        ({"count": 10, "start_day": "3 June"}, "start_day"),
    ],
)
def test_bad_arguments(kwargs: dict, message: str) -> None:
    with pytest.raises(VgiError, match=message):
        generate_sessions(**kwargs)


def test_zero_sessions() -> None:
    assert len(generate_sessions(0, "home,depot")) == 0


def _local_hours(frame: pd.DataFrame, column: str, tz: str) -> pd.Series:
    local = frame[column].dt.tz_convert(tz)
    return local.dt.hour + local.dt.minute / 60.0


def test_arrivals_follow_the_tables() -> None:
    tz = "Asia/Shanghai"
    n = 20000
    tables = archetype_tables()
    for name in ("home", "workplace", "public_ac"):
        f = generate_sessions(n, name, seed=3, timezone=tz).frame
        hours = _local_hours(f, "arrival", tz)
        # share of arrivals 07:00-10:00 compared with the table (2024-06-03 is a Monday: weekday table)
        table_share = tables[name].arrival_weekday[7 * 4 : 10 * 4].sum()
        assert ((hours >= 7) & (hours < 10)).mean() == pytest.approx(table_share, abs=0.015)
    work = _local_hours(generate_sessions(n, "workplace", seed=3, timezone=tz).frame, "arrival", tz)
    assert 7.5 <= work.median() <= 10.0


def test_weekend_uses_the_weekend_table() -> None:
    tz = "Europe/Amsterdam"
    sat = generate_sessions(20000, "home", seed=4, start_day="2024-06-08", timezone=tz).frame
    table = archetype_tables()["home"].arrival_weekend
    hours = _local_hours(sat, "arrival", tz)
    assert ((hours >= 10) & (hours < 14)).mean() == pytest.approx(table[40:56].sum(), abs=0.015)


def test_public_dc_dwell_and_depot_energy_match_their_tables() -> None:
    dc = generate_sessions(20000, "public_dc", seed=5).frame
    minutes = (dc["departure"] - dc["arrival"]).dt.total_seconds() / 60.0
    # vgi_connection_time.csv: median 0.6 h = 36 min (rounded to whole minutes)
    assert minutes.median() == pytest.approx(36.0, abs=1.5)
    assert minutes.min() >= 5 and minutes.max() <= 150
    depot = generate_sessions(20000, "depot", seed=5, timezone="America/New_York")
    f = depot.frame
    # vgi_energy_demand.csv, depot: piecewise-linear quantiles 30..170 kWh; trapezoid mean by hand
    # = 0.05*(30+45)/2 + 0.05*(45+60)/2 + 0.15*(60+78)/2 + 0.25*(78+98)/2 + 0.25*(98+118)/2
    #   + 0.15*(118+136)/2 + 0.05*(136+150)/2 + 0.05*(150+170)/2 = 98.05 kWh; never capped: the shortest stay,
    # 19:00 to 05:00, at 19.2 kW x 0.9 gives 172.8 kWh > 170 kWh
    assert f["energy_kwh"].mean() == pytest.approx(98.05, abs=1.0)
    arr = _local_hours(f, "arrival", "America/New_York")
    dep = f["departure"].dt.tz_convert("America/New_York")
    assert arr.between(14, 19).all()
    assert (
        dep.dt.hour.between(5, 7).all()
        and (dep.dt.date > f["arrival"].dt.tz_convert("America/New_York").dt.date).all()
    )
    assert set(f["vehicle_id"].str.split("#").str[0]) <= set(
        vehicle_table().query("segment == 'bus'")["model"]
    )


def test_powers_batteries_and_feasibility() -> None:
    t = generate_sessions(30000, "home,workplace,public_ac,public_dc,depot", seed=6, v2g_share=0.25)
    f = t.frame
    vehicles = vehicle_table().set_index("model")
    model = f["vehicle_id"].str.split("#").str[0]
    spec = vehicles.loc[model.to_numpy()]
    assert np.allclose(f["battery_kwh"].to_numpy(), spec["battery_kwh"].to_numpy())
    # power never above the vehicle's DC rating nor above the archetype's largest charger
    assert (f["max_charge_kw"].to_numpy() <= spec["max_dc_kw"].to_numpy() + 1e-9).all()
    largest = {"home": 11, "workplace": 22, "public_ac": 22, "public_dc": 350, "depot": 60}
    assert (f["max_charge_kw"] <= f["site_id"].map(largest).astype(float)).all()
    # energy fits: at most 90 % of the battery, and the initial SoC leaves room for it
    assert (f["energy_kwh"] <= 0.9 * f["battery_kwh"] + 1e-9).all()
    assert (f["initial_soc"] + f["energy_kwh"] / f["battery_kwh"] <= 1.0 + 1e-12).all()
    assert (f["initial_soc"] >= 0.05 - 1e-12).all()
    # mostly feasible: only some of the uncapped share is short
    flagged = t.summary()["flagged_sessions"] / len(t)
    assert 0 < flagged <= UNCAPPED_SHARE


def test_v2g_share_and_capable_vehicles() -> None:
    f = generate_sessions(20000, "home=0.5,public_dc=0.5", seed=9, v2g_share=0.4).frame
    home = f[f["site_id"] == "home"]
    dc = f[f["site_id"] == "public_dc"]
    assert home["v2g"].mean() == pytest.approx(0.4, abs=0.02)
    assert not dc["v2g"].any() and (dc["max_discharge_kw"] == 0).all()
    capable = set(vehicle_table().query("v2g_capable")["model"])
    v2g = home[home["v2g"]]
    assert set(v2g["vehicle_id"].str.split("#").str[0]) <= capable
    assert (v2g["max_discharge_kw"] > 0).all() and (v2g["min_soc"] == 0.2).all()
    assert (home.loc[~home["v2g"], "max_discharge_kw"] == 0).all()
    none = generate_sessions(2000, "home", seed=9, v2g_share=0.0).frame
    assert not none["v2g"].any()


def test_daylight_saving_day_and_many_days() -> None:
    # 31 March 2024: Amsterdam skips 02:00-03:00; arrivals there move forward, nothing is lost
    t = generate_sessions(5000, "home", seed=2, start_day="2024-03-29", n_days=4, timezone="Europe/Amsterdam")
    f = t.frame
    local = f["arrival"].dt.tz_convert("Europe/Amsterdam")
    assert len(f) == 5000 and set(local.dt.date.astype(str)) == {
        "2024-03-29",
        "2024-03-30",
        "2024-03-31",
        "2024-04-01",
    }
    assert not ((local.dt.date.astype(str) == "2024-03-31") & (local.dt.hour == 2)).any()
    assert (f["timezone"] == "Europe/Amsterdam").all()


def test_site_prefix() -> None:
    f = generate_sessions(10, "home,depot", seed=0, site_prefix="sh-").frame
    assert set(f["site_id"]) == {"sh-home", "sh-depot"}
    assert f["session_id"].str.startswith("sh-s").all()


def test_generate_frame_is_the_generic_layout() -> None:
    frame = generate_frame(100, "workplace", seed=1)
    assert {"session_id", "arrival", "departure", "energy_kwh"} <= set(frame.columns)
    assert str(frame["arrival"].dtype) == "datetime64[ns, UTC]"


def test_tables_load_and_are_normalised() -> None:
    tables = archetype_tables()
    assert set(tables) == set(ARCHETYPES)
    for t in tables.values():
        assert t.arrival_weekday.shape == (96,) and t.arrival_weekday.sum() == pytest.approx(1.0)
        assert np.all(np.diff(t.dwell_percentile) >= 0) and np.all(np.diff(t.energy_percentile) >= 0)
        assert t.charger_share.sum() == pytest.approx(1.0)
    # ElaadNL factors average 1 under the weekday arrival weights
    home = tables["home"]
    assert np.dot(home.arrival_weekday.reshape(48, 2).sum(axis=1), home.dwell_factor) == pytest.approx(1.0)
    vehicles = vehicle_table()
    assert vehicles["source"].notna().all() and (vehicles["battery_kwh"] > 0).all()
    assert {"car", "bus"} == set(vehicles["segment"])


def test_every_shipped_table_names_source_and_date() -> None:
    files = [*sorted((DATA / "distributions").glob("*.csv")), DATA / "vehicles.csv"]
    assert len(files) >= 9
    for path in files:
        head = path.read_text().splitlines()[:12]
        assert any("source:" in line for line in head), path.name
        assert any("applies_from:" in line for line in head), path.name


def test_shipped_sample_is_reproduced() -> None:
    sample = read_sessions(DATA / "samples" / "fleet_shanghai_200.csv")
    again = generate_sessions(
        200,
        {"home": 0.6, "workplace": 0.3, "public_dc": 0.1},
        seed=42,
        start_day="2024-06-03",
        n_days=1,
        timezone="Asia/Shanghai",
        v2g_share=0.2,
    )
    pd.testing.assert_frame_equal(sample.frame, again.frame, check_exact=False, rtol=1e-12)
