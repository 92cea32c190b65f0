"""Readers of real exports: ACN-Data JSON and CSV, Boulder start-plus-duration records.

Inline fixtures check every rule by hand; the real files in ../shared (class B data, never shipped) are read
when present and the tests skip cleanly where they are not.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from vgi.errors import ValidationError, VgiError
from vgi.io.session_readers import (
    acn_sessions_from_json,
    read_acn_csv,
    read_acn_json,
    read_any,
    read_boulder,
)

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "ev_sessions"
ACN_JSON = SHARED / "acn_caltech" / "acndata_sessions_caltech_2020-12_2021-09.raw.json"
ACN_CSV = SHARED / "acn_caltech" / "acn_caltech_sessions_2020-12_2021-09.csv"
BOULDER_RAW = SHARED / "boulder_co" / "Electric_Vehicle_Charging_Station_Energy_Consumption.raw.csv"
BOULDER_NORM = SHARED / "boulder_co" / "boulder_sessions_2018-2020.normalized.csv"


def _item(
    sid: str, connect: str, disconnect: str, kwh: float, inputs: list[dict] | None, **extra: object
) -> dict:
    item: dict[str, object] = {
        "_id": sid,
        "clusterID": "0039",
        "connectionTime": connect,
        "disconnectTime": disconnect,
        "doneChargingTime": None,
        "kWhDelivered": kwh,
        "sessionID": sid,
        "siteID": "0002",
        "spaceID": "CA-1",
        "stationID": "2-39-1-1",
        "timezone": "America/Los_Angeles",
        "userID": None if inputs is None else "000000042",
        "userInputs": inputs,
    }
    item.update(extra)
    return item


ACN_FIXTURE = {
    "_meta": {"site": "caltech"},
    "_items": [
        # driver asked for 15.5 kWh by 17:59:06 (an older request is superseded by the last one)
        _item(
            "s1",
            "Tue, 01 Dec 2020 13:59:06 GMT",
            "Tue, 01 Dec 2020 19:33:50 GMT",
            7.877,
            [
                {"kWhRequested": 30.0, "requestedDeparture": "Tue, 01 Dec 2020 20:00:00 GMT"},
                {"kWhRequested": 15.5, "requestedDeparture": "Tue, 01 Dec 2020 17:59:06 GMT"},
            ],
        ),
        # walk-in: no request -> delivered energy and disconnect time
        _item("s2", "Wed, 02 Dec 2020 00:02:33 GMT", "Wed, 02 Dec 2020 00:27:39 GMT", 12.5, None),
        # request with a departure before arrival -> requested kWh, disconnect time
        _item(
            "s3",
            "Wed, 02 Dec 2020 16:00:00 GMT",
            "Wed, 02 Dec 2020 18:00:00 GMT",
            5.0,
            [{"kWhRequested": 20.0, "requestedDeparture": "Wed, 02 Dec 2020 15:00:00 GMT"}],
            stationID="2-39-81-4550",
        ),
    ],
}


def test_acn_json_prefers_the_last_request() -> None:
    t = acn_sessions_from_json(ACN_FIXTURE, "fixture.json")
    f = t.frame
    assert list(f["session_id"]) == ["s1", "s2", "s3"]
    assert f["energy_kwh"].tolist() == [15.5, 12.5, 20.0]
    assert list(f["departure"]) == [
        pd.Timestamp("2020-12-01T17:59:06Z"),
        pd.Timestamp("2020-12-02T00:27:39Z"),
        pd.Timestamp("2020-12-02T18:00:00Z"),
    ]
    assert list(f["arrival"]) == [
        pd.Timestamp("2020-12-01T13:59:06Z"),
        pd.Timestamp("2020-12-02T00:02:33Z"),
        pd.Timestamp("2020-12-02T16:00:00Z"),
    ]
    # metered data: efficiencies 1; the DC fast charger of Caltech at 50 kW, others at 7.2 kW
    assert (f["charge_efficiency"] == 1.0).all() and (f["discharge_efficiency"] == 1.0).all()
    assert f["max_charge_kw"].tolist() == [7.2, 7.2, 50.0]
    assert list(f["vehicle_id"]) == ["000000042", "s2", "000000042"]
    assert (f["timezone"] == "America/Los_Angeles").all() and (f["site_id"] == "0002").all()
    # s1: 4.0 h x 7.2 kW = 28.8 kWh >= 15.5; s2: 0.418 h x 7.2 = 3.01 kWh < 12.5 -> short 9.49 kWh
    expected_s2 = 12.5 - 7.2 * (25 * 60 + 6) / 3600
    np.testing.assert_allclose(t.shortfall_kwh, [0.0, expected_s2, 0.0], atol=1e-9)
    assert any("1 of 3 session(s) have no user request" in n for n in t.notes)
    assert any("1 requested departure(s) not after arrival" in n for n in t.notes)


def test_acn_json_delivered_option() -> None:
    f = acn_sessions_from_json(ACN_FIXTURE, prefer="delivered").frame
    assert f["energy_kwh"].tolist() == [7.877, 12.5, 5.0]
    assert f["departure"].iloc[0] == pd.Timestamp("2020-12-01T19:33:50Z")
    with pytest.raises(VgiError, match="prefer"):
        acn_sessions_from_json(ACN_FIXTURE, prefer="wanted")  # type: ignore[arg-type]


def test_acn_json_file_and_bad_cells(tmp_path: Path) -> None:
    path = tmp_path / "acn.json"
    path.write_text(json.dumps(ACN_FIXTURE))
    assert len(read_acn_json(path)) == 3
    broken = json.loads(json.dumps(ACN_FIXTURE))
    broken["_items"][1]["connectionTime"] = "yesterday"
    broken["_items"][2]["kWhDelivered"] = "lots"
    path.write_text(json.dumps(broken))
    with pytest.raises(ValidationError) as info:
        read_acn_json(path)
    found = {(p.row, p.field) for p in info.value.problems}
    assert found == {(2, "connectionTime"), (3, "kWhDelivered")}
    path.write_text("{not json")
    with pytest.raises(VgiError, match="cannot read as JSON"):
        read_acn_json(path)
    path.write_text(json.dumps({"_meta": {}}))
    with pytest.raises(VgiError, match="_items"):
        read_acn_json(path)


def test_acn_csv_matches_json_fixture(tmp_path: Path) -> None:
    rows = [
        "sessionID,siteID,stationID,connectionTime_utc,disconnectTime_utc,kWhDelivered,userID,kWhRequested,"
        "requestedDeparture_utc,timezone",
        "s1,0002,2-39-1-1,2020-12-01T13:59:06Z,2020-12-01T19:33:50Z,7.877,000000042,15.5,2020-12-01T17:59:06Z,"
        "America/Los_Angeles",
        "s2,0002,2-39-1-1,2020-12-02T00:02:33Z,2020-12-02T00:27:39Z,12.5,,,,America/Los_Angeles",
        "s3,0002,2-39-81-4550,2020-12-02T16:00:00Z,2020-12-02T18:00:00Z,5.0,000000042,20.0,2020-12-02T15:00:00Z,"
        "America/Los_Angeles",
    ]
    path = tmp_path / "acn.csv"
    path.write_text("\n".join(rows) + "\n")
    csv_table = read_acn_csv(path)
    json_table = acn_sessions_from_json(ACN_FIXTURE)
    pd.testing.assert_frame_equal(csv_table.frame, json_table.frame)


def _boulder(station: str, date: str, clock: str, minutes: str, kwh: str, oid: int) -> str:
    place = "1 St,Boulder,Colorado,80302"
    return f"{station},{place},{date} 00:00:00+00,2021/01/21 {clock}+00,{minutes},{kwh},1,0.3,Level 2,{oid}"


BOULDER_ROWS = [
    "\ufeffStation_Name,Station_Address,City,State_Province,Postal_Code,Transaction_Date,Transaction_Start_Time,"
    "Charging_Time__minutes_,Energy__kWh_,GHG_Savings__kg_,Gasoline_Savings__gallons_,Port_Type,ObjectId",
    _boulder("A ST1", "2018/01/31", "17:43:00", "128", "2.84", 1),
    _boulder("A ST1", "2018/07/04", "08:00:00", '"2,418"', "40.5", 2),
    _boulder("B ST2", "2018/07/05", "09:00:00", "     -     ", "3.1", 3),
    _boulder("B ST2", "2018/07/06", "10:00:00", "30", "", 4),
    _boulder("B ST2", "2018/07/07", "11:00:00", "0", "0", 5),
    _boulder("B ST2", "2018/03/11", "02:30:00", "60", "10", 6),
]


def test_boulder_local_times_labelled_utc(tmp_path: Path) -> None:
    path = tmp_path / "boulder.csv"
    path.write_text("\n".join(BOULDER_ROWS) + "\n", encoding="utf-8")
    t = read_boulder(path)
    f = t.frame
    assert list(f["session_id"]) == ["1", "2", "6"]
    # 17:43 MST (UTC-7) on 31 Jan -> 00:43 UTC on 1 Feb; 128 min later
    assert f["arrival"].iloc[0] == pd.Timestamp("2018-02-01T00:43:00Z")
    assert f["departure"].iloc[0] == pd.Timestamp("2018-02-01T02:51:00Z")
    # 08:00 MDT (UTC-6) on 4 Jul; "2,418" minutes with a thousands separator
    assert f["arrival"].iloc[1] == pd.Timestamp("2018-07-04T14:00:00Z")
    assert (f["departure"].iloc[1] - f["arrival"].iloc[1]) == pd.Timedelta(minutes=2418)
    # 02:30 on 11 Mar 2018 does not exist in Denver: moved forward to 03:00 MDT = 09:00 UTC
    assert f["arrival"].iloc[2] == pd.Timestamp("2018-03-11T09:00:00Z")
    assert f["energy_kwh"].tolist() == [2.84, 40.5, 10.0]
    assert list(f["site_id"]) == ["A ST1", "A ST1", "B ST2"]
    assert (f["charge_efficiency"] == 1.0).all() and (f["max_charge_kw"] == 7.2).all()
    assert (f["timezone"] == "America/Denver").all()
    skipped = next(n for n in t.notes if n.startswith("skipped"))
    assert "skipped 3 of 6" in skipped and "first rows: 3, 4, 5" in skipped
    assert any("moved forward" in n for n in t.notes)


def test_boulder_incomplete_error_names_rows(tmp_path: Path) -> None:
    path = tmp_path / "boulder.csv"
    path.write_text("\n".join(BOULDER_ROWS) + "\n", encoding="utf-8")
    with pytest.raises(ValidationError) as info:
        read_boulder(path, incomplete="error")
    found = {(p.row, p.field) for p in info.value.problems}
    assert found == {(3, "Charging_Time__minutes_"), (4, "Energy__kWh_"), (5, "Charging_Time__minutes_")}


def test_boulder_normalised_layout(tmp_path: Path) -> None:
    path = tmp_path / "norm.csv"
    path.write_text(
        "station_name,station_address,start_time,charging_time_min,end_time_est,energy_kwh,port_type,object_id\n"
        "J ST1,2280 Junction Pl,2018-01-01 17:49,123.0,2018-01-01 19:52,6.5,Level 2,51\n"
        "J ST1,2280 Junction Pl,2018-01-02 08:52,,,2.48,Level 2,53\n"
    )
    t = read_boulder(path)
    assert list(t.frame["session_id"]) == ["51"]
    assert t.frame["arrival"].iloc[0] == pd.Timestamp("2018-01-02T00:49:00Z")
    with pytest.raises(ValidationError, match="not start-plus-duration"):
        read_boulder(_write_text(tmp_path / "x.csv", "a,b\n1,2\n"))


def _write_text(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_read_any_dispatch(tmp_path: Path) -> None:
    path = tmp_path / "acn.json"
    path.write_text(json.dumps(ACN_FIXTURE))
    assert len(read_any(path, "acn-json")) == 3
    with pytest.raises(VgiError, match="unknown session format"):
        read_any(path, "xml")
    with pytest.raises(VgiError, match="generic layout only"):
        read_any(path, "acn-json", {"arrival": "x"})


# ------------------------------------------------------------------ real files (class B: skip when absent)

needs_shared = pytest.mark.skipif(not SHARED.exists(), reason="../shared data not present")


@pytest.mark.shared
@needs_shared
def test_real_acn_export_json_and_csv_agree() -> None:
    if not (ACN_JSON.exists() and ACN_CSV.exists()):
        pytest.skip("ACN files not present")
    j = read_acn_json(ACN_JSON)
    c = read_acn_csv(ACN_CSV)
    pd.testing.assert_frame_equal(j.frame, c.frame)
    # PROVENANCE: 3,235 sessions, 256 walk-ins without a request; 45 stations
    assert len(j) == 3235
    assert any(n.startswith("256 of 3235") for n in j.notes)
    f = j.frame
    assert f["arrival"].min() == pd.Timestamp("2020-12-01T13:59:06Z")
    assert (f["max_charge_kw"] == 50.0).sum() == 1105  # sessions at the DC fast charger
    delivered = read_acn_json(ACN_JSON, prefer="delivered")
    # metered energy over the plug-in window mostly fits the station power; the rest is flagged, never dropped
    assert len(delivered) == 3235 and delivered.summary()["flagged_sessions"] < 10
    assert delivered.energy_kwh.max() == pytest.approx(77.7, abs=0.05)


@pytest.mark.shared
@needs_shared
def test_real_boulder_raw_and_normalised() -> None:
    if not (BOULDER_RAW.exists() and BOULDER_NORM.exists()):
        pytest.skip("Boulder files not present")
    raw = read_boulder(BOULDER_RAW)
    norm = read_boulder(BOULDER_NORM)
    # PROVENANCE: 22,580 rows; 1,696 without energy; "-" durations; 87 zero durations
    assert len(raw) + int(raw.notes[0].split()[1]) == 22580
    assert len(raw) == 20713 and len(norm) == 20710  # the normalised file lost three "2,418"-style durations
    first = raw.frame.iloc[0]
    assert first["arrival"] == pd.Timestamp("2018-02-01T00:43:00Z")  # 2018/01/31 17:43 in Denver
    local_hours = raw.frame["arrival"].dt.tz_convert("America/Denver").dt.hour
    assert 8 <= local_hours.median() <= 16  # daytime public charging, as PROVENANCE observes
    assert raw.energy_kwh.mean() == pytest.approx(8.5, abs=0.1)
