"""Session table: validation names file, row and field; defaults; shortfall flags; write/read round trips."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vgi.errors import ValidationError, VgiError
from vgi.model.sessions import COLUMNS, SessionTable, read_sessions, sessions_from_frame

GOOD = {
    "session_id": ["a", "b", "c"],
    "site_id": ["s1", "s1", "s2"],
    "arrival": ["2024-06-03T08:00:00+08:00", "2024-06-03T09:00:00+08:00", "2024-06-03T10:00:00+08:00"],
    "departure": ["2024-06-03T12:00:00+08:00", "2024-06-03T17:00:00+08:00", "2024-06-03T18:00:00+08:00"],
    "energy_kwh": ["10", "20", "5"],
    "initial_soc": ["0.2", "0.3", "0.5"],
    "timezone": ["Asia/Shanghai", "Asia/Shanghai", "Asia/Shanghai"],
}


def _write(tmp_path: Path, columns: dict[str, list[str]], name: str = "fleet.csv") -> Path:
    path = tmp_path / name
    pd.DataFrame(columns).to_csv(path, index=False)
    return path


# one row per problem: (what, column, row (1-based), new cell value, field named, message part)
PROBLEMS = [
    (
        "departure not after arrival",
        "departure",
        2,
        "2024-06-03T09:00:00+08:00",
        "departure",
        "not after arrival",
    ),
    (
        "departure before arrival",
        "departure",
        3,
        "2024-06-03T07:00:00+08:00",
        "departure",
        "not after arrival",
    ),
    ("negative energy", "energy_kwh", 1, "-3", "energy_kwh", "negative energy"),
    ("non-numeric energy", "energy_kwh", 2, "ten", "energy_kwh", "not a number: 'ten'"),
    ("infinite energy", "energy_kwh", 3, "inf", "energy_kwh", "not a finite number"),
    ("initial SoC above 1", "initial_soc", 1, "1.5", "initial_soc", "outside [0, 1]"),
    ("initial SoC below 0", "initial_soc", 3, "-0.1", "initial_soc", "outside [0, 1]"),
    (
        "unknown time zone",
        "timezone",
        2,
        "Mars/Olympus_Mons",
        "timezone",
        "unknown time zone 'Mars/Olympus_Mons'",
    ),
    ("duplicate id", "session_id", 3, "a", "session_id", "duplicate session id 'a' (first at row 1)"),
    ("empty id", "session_id", 2, "", "session_id", "empty session id"),
    ("time not ISO 8601", "arrival", 1, "yesterday", "arrival", "not an ISO 8601 time"),
    ("missing arrival", "arrival", 3, "", "arrival", "missing time"),
]


@pytest.mark.parametrize(
    ("what", "column", "row", "value", "field", "message"), PROBLEMS, ids=[p[0] for p in PROBLEMS]
)
def test_each_problem_names_file_row_and_field(
    tmp_path: Path, what: str, column: str, row: int, value: str, field: str, message: str
) -> None:
    cols = {k: list(v) for k, v in GOOD.items()}
    cols[column][row - 1] = value
    path = _write(tmp_path, cols)
    with pytest.raises(ValidationError) as info:
        read_sessions(path)
    problems = info.value.problems
    assert len(problems) == 1, [str(p) for p in problems]
    p = problems[0]
    assert (p.source, p.row, p.field) == (str(path), row, field)
    assert message in p.message
    assert str(path) in str(info.value) and f"row {row}" in str(info.value)


@pytest.mark.parametrize(
    ("column", "value", "message"),
    [
        ("target_soc", "1.2", "target_soc outside [0, 1]"),
        ("min_soc", "-0.5", "min_soc outside [0, 1]"),
        ("charge_efficiency", "0", "charge_efficiency outside (0, 1]"),
        ("discharge_efficiency", "1.1", "discharge_efficiency outside (0, 1]"),
        ("max_charge_kw", "-7", "negative max_charge_kw"),
        ("max_discharge_kw", "-1", "negative max_discharge_kw"),
        ("battery_kwh", "0", "battery_kwh must be positive"),
        ("v2g", "maybe", "v2g must be true or false"),
    ],
)
def test_other_field_problems(tmp_path: Path, column: str, value: str, message: str) -> None:
    cols = {k: list(v) for k, v in GOOD.items()}
    cols[column] = ["", value, ""]
    with pytest.raises(ValidationError) as info:
        read_sessions(_write(tmp_path, cols))
    (p,) = info.value.problems
    assert (p.row, p.field) == (2, column) and message in p.message


@pytest.mark.parametrize("missing", ["session_id", "arrival", "departure"])
def test_missing_required_column(tmp_path: Path, missing: str) -> None:
    cols = {k: v for k, v in GOOD.items() if k != missing}
    path = _write(tmp_path, cols)
    with pytest.raises(ValidationError) as info:
        read_sessions(path)
    (p,) = info.value.problems
    assert p.source == str(path) and p.row is None and missing in p.message


def test_missing_energy_and_target_column(tmp_path: Path) -> None:
    cols = {k: v for k, v in GOOD.items() if k != "energy_kwh"}
    with pytest.raises(ValidationError, match="energy_kwh or target_soc"):
        read_sessions(_write(tmp_path, cols))


def test_every_problem_is_reported_not_just_the_first(tmp_path: Path) -> None:
    cols = {k: list(v) for k, v in GOOD.items()}
    cols["energy_kwh"][0] = "-1"
    cols["timezone"][1] = "Nowhere/City"
    cols["departure"][2] = cols["arrival"][2]
    with pytest.raises(ValidationError) as info:
        read_sessions(_write(tmp_path, cols))
    found = {(p.row, p.field) for p in info.value.problems}
    assert found == {(1, "energy_kwh"), (2, "timezone"), (3, "departure")}


def test_many_bad_rows_are_capped_with_a_count() -> None:
    n = 80
    frame = pd.DataFrame(
        {
            "session_id": [f"x{i}" for i in range(n)],
            "arrival": ["2024-06-03T08:00:00Z"] * n,
            "departure": ["2024-06-03T09:00:00Z"] * n,
            "energy_kwh": [-1.0] * n,
        }
    )
    with pytest.raises(ValidationError) as info:
        sessions_from_frame(frame, "big.csv")
    problems = info.value.problems
    assert len(problems) == 51
    assert problems[-1].row is None and "30 more row(s)" in problems[-1].message


def test_daylight_saving_gap_in_naive_time_is_a_problem() -> None:
    frame = pd.DataFrame(
        {
            "session_id": ["a", "b"],
            "arrival": ["2024-03-31T02:30:00", "2024-03-31T01:30:00"],
            "departure": ["2024-03-31T05:00:00", "2024-03-31T05:00:00"],
            "energy_kwh": [1.0, 1.0],
            "timezone": ["Europe/Amsterdam", "Europe/Amsterdam"],
        }
    )
    with pytest.raises(ValidationError) as info:
        sessions_from_frame(frame, "dst.csv")
    (p,) = info.value.problems
    assert (p.row, p.field) == (1, "arrival") and "daylight-saving" in p.message


def test_shortfall_is_flagged_and_session_kept() -> None:
    # a: 2 h x 7.2 kW x 0.95 = 13.68 kWh deliverable, wants 20 -> short 6.32 kWh
    # b: battery 40 kWh at SoC 0.8 has room for 8 kWh; wants 10 over 10 h -> short 2 kWh
    # c: wants 5 kWh over 4 h -> feasible
    frame = pd.DataFrame(
        {
            "session_id": ["a", "b", "c"],
            "arrival": ["2024-06-03T08:00:00Z", "2024-06-03T08:00:00Z", "2024-06-03T08:00:00Z"],
            "departure": ["2024-06-03T10:00:00Z", "2024-06-03T18:00:00Z", "2024-06-03T12:00:00Z"],
            "energy_kwh": [20.0, 10.0, 5.0],
            "battery_kwh": [60.0, 40.0, 60.0],
            "initial_soc": [0.1, 0.8, 0.1],
        }
    )
    table = sessions_from_frame(frame)
    assert len(table) == 3
    np.testing.assert_allclose(table.shortfall_kwh, [6.32, 2.0, 0.0], atol=1e-12)
    assert list(table.flagged["session_id"]) == ["a", "b"]
    s = table.summary()
    assert s["flagged_sessions"] == 2 and s["shortfall_kwh"] == pytest.approx(8.32)


def test_defaults_and_target_soc() -> None:
    frame = pd.DataFrame(
        {
            "session_id": ["e", "big", "t", "low"],
            "arrival": ["2024-06-03T08:00:00Z"] * 4,
            "departure": ["2024-06-03T20:00:00Z"] * 4,
            "energy_kwh": [10.0, 80.0, np.nan, np.nan],
            "target_soc": [np.nan, np.nan, 0.8, 0.1],
            "battery_kwh": [np.nan, np.nan, 50.0, 50.0],
        }
    )
    f = sessions_from_frame(frame).frame
    # battery default max(60, E / 0.8); initial SoC default min(0.2, 1 - E / battery)
    np.testing.assert_allclose(f["battery_kwh"], [60.0, 100.0, 50.0, 50.0])
    np.testing.assert_allclose(f["initial_soc"], [0.2, 0.2, 0.2, 0.2])
    # target 0.8 from 0.2 on 50 kWh = 30 kWh; a target below the initial SoC wants nothing
    np.testing.assert_allclose(f["energy_kwh"], [10.0, 80.0, 30.0, 0.0])
    assert list(f["site_id"]) == ["site"] * 4 and list(f["vehicle_id"]) == list(f["session_id"])
    assert (f["max_charge_kw"] == 7.2).all() and (f["charge_efficiency"] == 0.95).all()
    assert not f["v2g"].any() and (f["timezone"] == "UTC").all()
    initial_80 = 1.0 - 80.0 / 100.0  # = 0.2 exactly at the cap
    assert f["initial_soc"].iloc[1] == pytest.approx(initial_80)


def test_naive_times_are_read_in_the_row_time_zone() -> None:
    frame = pd.DataFrame(
        {
            "session_id": ["sh", "ny"],
            "arrival": ["2024-06-03 08:00", "2024-06-03T08:00:00"],
            "departure": ["2024-06-03 18:00", "2024-06-03T18:00:00-04:00"],
            "energy_kwh": [1.0, 1.0],
            "timezone": ["Asia/Shanghai", "America/New_York"],
        }
    )
    f = sessions_from_frame(frame).frame
    assert list(f["arrival"]) == [pd.Timestamp("2024-06-03T00:00Z"), pd.Timestamp("2024-06-03T12:00Z")]
    assert list(f["departure"]) == [pd.Timestamp("2024-06-03T10:00Z"), pd.Timestamp("2024-06-03T22:00Z")]


def test_typed_columns_take_the_fast_path_and_match_text() -> None:
    text = pd.DataFrame(GOOD)
    typed = pd.DataFrame(
        {
            "session_id": GOOD["session_id"],
            "site_id": GOOD["site_id"],
            "arrival": pd.to_datetime(GOOD["arrival"], utc=True),
            "departure": pd.to_datetime(GOOD["departure"]).tz_convert("Asia/Shanghai"),
            "energy_kwh": [10, 20, 5],
            "initial_soc": [0.2, 0.3, 0.5],
            "timezone": GOOD["timezone"],
        }
    )
    pd.testing.assert_frame_equal(sessions_from_frame(text).frame, sessions_from_frame(typed).frame)


def test_canonical_dtypes_and_column_order() -> None:
    f = sessions_from_frame(pd.DataFrame(GOOD)).frame
    assert tuple(f.columns) == COLUMNS
    assert str(f["arrival"].dtype) == "datetime64[ns, UTC]" and f["v2g"].dtype == bool
    assert f["session_id"].dtype == "string" and f["energy_kwh"].dtype == np.float64


def test_extra_columns_are_named_in_notes() -> None:
    frame = pd.DataFrame(GOOD).assign(colour=["red", "blue", "green"])
    table = sessions_from_frame(frame)
    assert "colour" not in table.frame.columns
    assert any("colour" in n for n in table.notes)


def test_v2g_flags_and_enabled() -> None:
    frame = pd.DataFrame(GOOD).assign(v2g=["yes", "0", "TRUE"], max_discharge_kw=[7.0, 7.0, 0.0])
    t = sessions_from_frame(frame)
    assert list(t.frame["v2g"]) == [True, False, True]
    assert list(t.v2g_enabled) == [True, False, False]


def test_mapping_renames_their_columns(tmp_path: Path) -> None:
    cols = dict(GOOD)
    cols["plug_in"] = cols.pop("arrival")
    cols["kwh"] = cols.pop("energy_kwh")
    path = _write(tmp_path, cols)
    table = read_sessions(path, {"arrival": "plug_in", "energy_kwh": "kwh"})
    assert table.energy_kwh.tolist() == [10.0, 20.0, 5.0]
    with pytest.raises(VgiError, match="not in file: nope"):
        read_sessions(path, {"arrival": "nope"})
    with pytest.raises(VgiError, match="unknown column"):
        read_sessions(path, {"arrivals": "plug_in"})


def test_unreadable_and_missing_files(tmp_path: Path) -> None:
    with pytest.raises(VgiError, match="no such file"):
        read_sessions(tmp_path / "none.csv")
    bad = tmp_path / "bad.parquet"
    bad.write_text("not parquet")
    with pytest.raises(VgiError, match="cannot read"):
        read_sessions(bad)


def test_ids_that_look_like_numbers_or_missing_words_are_kept(tmp_path: Path) -> None:
    cols = {k: list(v) for k, v in GOOD.items()}
    cols["session_id"] = ["007", "NA", "null"]
    table = read_sessions(_write(tmp_path, cols))
    assert list(table.frame["session_id"]) == ["007", "NA", "null"]


def test_csv_times_are_local_with_offset(tmp_path: Path) -> None:
    table = sessions_from_frame(pd.DataFrame(GOOD))
    path = tmp_path / "out.csv"
    table.write(path)
    text = path.read_text()
    assert "2024-06-03T08:00:00+08:00" in text


# ---------------------------------------------------------------- property: write/read round trip unchanged

ZONES = [
    "UTC",
    "Asia/Shanghai",
    "Europe/Amsterdam",
    "America/Los_Angeles",
    "Australia/Lord_Howe",
    "Asia/Kolkata",
]
TEXT = st.text(
    alphabet=st.characters(categories=("L", "N", "Zs", "P"), exclude_characters="\r\n"), max_size=8
)
UNIT = st.floats(min_value=0.0, max_value=1.0, allow_nan=False)


@st.composite
def session_tables(draw: st.DrawFn) -> SessionTable:
    n = draw(st.integers(min_value=0, max_value=12))
    ids = draw(st.lists(TEXT.filter(lambda s: s.strip() != ""), min_size=n, max_size=n, unique=True))
    base = int(pd.Timestamp("2000-01-01", tz="UTC").value)
    span = 40 * 365 * 86_400 * 10**9
    arrival = np.array(draw(st.lists(st.integers(0, span), min_size=n, max_size=n)), dtype=np.int64) + base
    dwell = np.array(draw(st.lists(st.integers(1, 10**15), min_size=n, max_size=n)), dtype=np.int64)
    pos = st.floats(min_value=1e-6, max_value=1e4, allow_nan=False)
    frame = pd.DataFrame(
        {
            "session_id": ids,
            "site_id": draw(st.lists(TEXT, min_size=n, max_size=n)),
            "vehicle_id": draw(st.lists(TEXT, min_size=n, max_size=n)),
            "arrival": pd.DatetimeIndex(arrival.view("M8[ns]")).tz_localize("UTC"),
            "departure": pd.DatetimeIndex((arrival + dwell).view("M8[ns]")).tz_localize("UTC"),
            "energy_kwh": draw(st.lists(st.floats(0.0, 1e4) | st.none(), min_size=n, max_size=n)),
            "target_soc": draw(st.lists(UNIT, min_size=n, max_size=n)),
            "battery_kwh": draw(st.lists(pos, min_size=n, max_size=n)),
            "initial_soc": draw(st.lists(UNIT | st.none(), min_size=n, max_size=n)),
            "max_charge_kw": draw(st.lists(st.floats(0.0, 1e3), min_size=n, max_size=n)),
            "max_discharge_kw": draw(st.lists(st.floats(0.0, 1e3), min_size=n, max_size=n)),
            "charge_efficiency": draw(st.lists(st.floats(1e-3, 1.0), min_size=n, max_size=n)),
            "discharge_efficiency": draw(st.lists(st.floats(1e-3, 1.0), min_size=n, max_size=n)),
            "v2g": draw(st.lists(st.booleans(), min_size=n, max_size=n)),
            "min_soc": draw(st.lists(UNIT, min_size=n, max_size=n)),
            "timezone": draw(st.lists(st.sampled_from(ZONES), min_size=n, max_size=n)),
        }
    ).astype({"energy_kwh": float, "initial_soc": float})
    return sessions_from_frame(frame, "<hypothesis>")


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(table=session_tables(), suffix=st.sampled_from([".csv", ".parquet"]))
def test_round_trip_unchanged(
    tmp_path_factory: pytest.TempPathFactory, table: SessionTable, suffix: str
) -> None:
    path = tmp_path_factory.mktemp("rt") / f"fleet{suffix}"
    table.write(path)
    back = read_sessions(path)
    pd.testing.assert_frame_equal(back.frame, table.frame, check_exact=True)


def test_round_trip_keeps_nanoseconds_and_dst_offsets(tmp_path: Path) -> None:
    # 02:30 local on 2024-10-27 happens twice in Amsterdam; the offset keeps them apart
    arrival = pd.DatetimeIndex(["2024-10-27T00:30:00.000000001Z", "2024-10-27T01:30:00Z"])
    frame = pd.DataFrame(
        {
            "session_id": ["first", "second"],
            "arrival": arrival,
            "departure": arrival + dt.timedelta(hours=3),
            "energy_kwh": [1 / 3, 2 / 3],
            "timezone": ["Europe/Amsterdam"] * 2,
        }
    )
    table = sessions_from_frame(frame)
    for suffix in (".csv", ".parquet"):
        path = tmp_path / f"f{suffix}"
        table.write(path)
        pd.testing.assert_frame_equal(read_sessions(path).frame, table.frame, check_exact=True)
    text = (tmp_path / "f.csv").read_text()
    assert "2024-10-27T02:30:00.000000001+02:00" in text and "2024-10-27T02:30:00.000000000+01:00" in text
