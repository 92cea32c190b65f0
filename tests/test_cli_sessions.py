"""``vgi sessions validate`` and ``vgi sessions generate``."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from vgi.cli import cli, main
from vgi.model.sessions import read_sessions


def _acn_item(sid: str, connect: str, disconnect: str, kwh: float, request: tuple[float, str] | None) -> dict:
    inputs = None if request is None else [{"kWhRequested": request[0], "requestedDeparture": request[1]}]
    return {
        "sessionID": sid,
        "siteID": "0002",
        "stationID": "2-39-1-1",
        "connectionTime": connect,
        "disconnectTime": disconnect,
        "kWhDelivered": kwh,
        "timezone": "America/Los_Angeles",
        "userID": None,
        "userInputs": inputs,
    }


ACN_FIXTURE = {
    "_items": [
        _acn_item(
            "s1",
            "Tue, 01 Dec 2020 13:59:06 GMT",
            "Tue, 01 Dec 2020 19:33:50 GMT",
            7.877,
            (15.5, "Tue, 01 Dec 2020 17:59:06 GMT"),
        ),
        _acn_item("s2", "Wed, 02 Dec 2020 00:02:33 GMT", "Wed, 02 Dec 2020 00:27:39 GMT", 12.5, None),
        _acn_item(
            "s3",
            "Wed, 02 Dec 2020 16:00:00 GMT",
            "Wed, 02 Dec 2020 18:00:00 GMT",
            5.0,
            (20.0, "Wed, 02 Dec 2020 15:00:00 GMT"),
        ),
    ]
}


def _run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args))
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.output


def test_generate_csv_and_validate_json(tmp_path: Path) -> None:
    out = tmp_path / "fleet.csv"
    code, text = _run(
        "sessions", "generate", "--archetype", "home=0.7", "--archetype", "depot=0.3", "--count", "300",
        "--seed", "11", "--timezone", "Asia/Shanghai", "--v2g-share", "0.5", "--out", str(out), "--json",
    )  # fmt: skip
    assert code == 0, text
    made = json.loads(text)
    assert made["sessions"] == 300 and made["archetypes"] == {"home": 0.7, "depot": 0.3}
    table = read_sessions(out)
    assert len(table) == 300 and table.frame["site_id"].value_counts().to_dict() == {"home": 210, "depot": 90}
    code, text = _run("sessions", "validate", str(out), "--json")
    assert code == 0, text
    checked = json.loads(text)
    assert checked["valid"] is True and checked["sessions"] == 300
    assert checked["energy_kwh"] == pytest.approx(made["energy_kwh"])
    assert checked["flagged_sessions"] == made["flagged_sessions"] == len(checked["flagged"])


def test_generate_parquet_same_as_csv(tmp_path: Path) -> None:
    args = ["sessions", "generate", "--archetype", "public_dc", "--count", "50", "--seed", "3"]
    assert _run(*args, "--out", str(tmp_path / "a.parquet"))[0] == 0
    assert _run(*args, "--out", str(tmp_path / "a.csv"))[0] == 0
    pd.testing.assert_frame_equal(
        read_sessions(tmp_path / "a.parquet").frame, read_sessions(tmp_path / "a.csv").frame, check_exact=True
    )


def test_validate_table_lists_flagged_sessions(tmp_path: Path) -> None:
    path = tmp_path / "f.csv"
    pd.DataFrame(
        {
            "session_id": ["ok", "short"],
            "arrival": ["2024-06-03T08:00:00+08:00"] * 2,
            "departure": ["2024-06-03T10:00:00+08:00"] * 2,
            "energy_kwh": [5, 30],
            "max_charge_kw": [7, 7],
            "charge_efficiency": [1, 1],
        }
    ).to_csv(path, index=False)
    code, text = _run("sessions", "validate", str(path))
    assert code == 0, text
    assert "flagged sessions" in text and "short" in text and "16.0000" in text  # 30 - 2 h x 7 kW = 16 kWh


def test_validate_problems_exit_1_with_rows(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    pd.DataFrame(
        {
            "session_id": ["a", "a"],
            "arrival": ["2024-06-03T08:00:00Z", "2024-06-03T08:00:00Z"],
            "departure": ["2024-06-03T07:00:00Z", "2024-06-03T09:00:00Z"],
            "energy_kwh": [5, -2],
        }
    ).to_csv(path, index=False)
    code, text = _run("sessions", "validate", str(path))
    assert code == 1
    assert "3 problem(s)" in text
    assert f"{path}, row 2, field 'session_id': duplicate session id 'a' (first at row 1)" in text
    assert f"{path}, row 1, field 'departure'" in text and "row 2, field 'energy_kwh'" in text
    code, text = _run("sessions", "validate", str(path), "--json")
    data = json.loads(text)
    assert code == 1 and data["valid"] is False
    assert {(p["row"], p["field"]) for p in data["problems"]} == {
        (2, "session_id"),
        (1, "departure"),
        (2, "energy_kwh"),
    }


def test_validate_map_and_acn_format(tmp_path: Path) -> None:
    path = tmp_path / "theirs.csv"
    pd.DataFrame(
        {"id": ["x"], "start": ["2024-06-03T08:00:00Z"], "end": ["2024-06-03T09:00:00Z"], "kwh": [3]}
    ).to_csv(path, index=False)
    code, text = _run(
        "sessions", "validate", str(path), "--map", "session_id=id", "--map", "arrival=start",
        "--map", "departure=end", "--map", "energy_kwh=kwh", "--json",
    )  # fmt: skip
    assert code == 0, text
    assert json.loads(text)["sessions"] == 1
    acn = tmp_path / "acn.json"
    acn.write_text(json.dumps(ACN_FIXTURE))
    code, text = _run("sessions", "validate", str(acn), "--format", "acn-json", "--json")
    data = json.loads(text)
    assert code == 0 and data["sessions"] == 3 and data["energy_kwh"] == pytest.approx(15.5 + 12.5 + 20.0)
    assert any("no user request" in n for n in data["notes"])
    code, text = _run(
        "sessions", "validate", str(acn), "--format", "acn-json", "--prefer", "delivered", "--json"
    )
    assert json.loads(text)["energy_kwh"] == pytest.approx(7.877 + 12.5 + 5.0)


def test_user_mistakes_are_one_line_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    none = str(tmp_path / "none.csv")
    gen = ["sessions", "generate", "--count", "5", "--archetype"]
    cases = [
        (["sessions", "validate", none], "no such file"),
        (["sessions", "validate", none, "--map", "arrival"], "--map expects OURS=THEIRS"),
        ([*gen, "garage", "--out", str(tmp_path / "x.csv")], "unknown archetype"),
        ([*gen, "home", "--out", str(tmp_path / "x.txt")], "--out must end in .csv or .parquet"),
        ([*gen, "home", "--timezone", "Mars/Base", "--out", str(tmp_path / "x.csv")], "unknown time zone"),
    ]
    for argv, message in cases:
        with pytest.raises(SystemExit) as info:
            main(argv)
        assert info.value.code == 2
        err = capsys.readouterr().err
        assert err.startswith("error: ") and message in err and "Traceback" not in err
        assert len(err.strip().splitlines()) == 1


def test_help_explains_units() -> None:
    code, text = _run("sessions", "generate", "--help")
    assert code == 0 and "kWh" in text and "--v2g-share" in text
    code, text = _run("sessions", "validate", "--help")
    assert code == 0 and "kWh" in text and "acn-json" in text
