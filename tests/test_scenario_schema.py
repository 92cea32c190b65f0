"""Scenario files: the schema, ``extends:``, overrides, and an error naming file and key path for each mistake."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
import yaml

from vgi.errors import ValidationError, VgiError
from vgi.scenario.loader import load_scenario, parse_override, shipped_scenarios
from vgi.scenario.schema import ALL_MODES

GOOD = textwrap.dedent(
    """
    name: small-study
    timezone: Asia/Shanghai
    horizon: {start: 2024-07-01, days: 2, step_minutes: 15}
    fleet:
      generator: {count: 40, archetypes: {home: 0.7, workplace: 0.3}, seed: 1}
      v2g: {share: 0.2}
    tariffs:
      default: cn-guangzhou-residential-ev
    events:
      - {id: ev, day: 2024-07-02, start: "18:00", end: "19:00", reduction_kw: 10, price_per_kwh: 2.0}
    """
)


def write(tmp_path: Path, text: str, name: str = "scenario.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def mutate(tmp_path: Path, change: dict[str, object] | None = None, drop: tuple[str, ...] = ()) -> Path:
    """The good scenario with keys changed (dotted paths) or dropped, written to a file."""
    data = yaml.safe_load(GOOD)
    for key, value in (change or {}).items():
        path, _ = parse_override(f"{key}=0")
        node = data
        for item in path[:-1]:
            node = node[item] if isinstance(item, int) else node.setdefault(item, {})
        node[path[-1]] = value  # set as written: no merging, both of an exclusive pair may be present
    for key in drop:
        node = data
        parts = key.split(".")
        for p in parts[:-1]:
            node = node[p]
        del node[parts[-1]]
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def error_of(path: Path | str) -> str:
    with pytest.raises(VgiError) as info:
        load_scenario(path)
    return str(info.value)


def test_good_scenario_loads_with_defaults(tmp_path: Path) -> None:
    scn = load_scenario(write(tmp_path, GOOD))
    assert scn.name == "small-study"
    assert scn.modes == ALL_MODES  # all five, uncontrolled first
    assert scn.horizon.step_minutes == 15
    assert scn.fleet.generator is not None and scn.fleet.generator.count == 40
    assert scn.events[0].baseline == "uncontrolled"
    assert scn.event_ids() == ["ev"]


# Each case: (what is changed, the key path the error must name, words of what is expected)
MISTAKES = [
    ({"horizonn": {"days": 2}}, (), "horizonn", "did you mean 'horizon'"),
    ({"horizon.step_minutes": 7}, (), "horizon.step_minutes", "does not divide an hour"),
    ({"horizon.days": 0}, (), "horizon.days", "greater than or equal to 1"),
    ({"fleet.generator.count": -5}, (), "fleet.generator.count", "greater than 0"),
    ({"fleet.generator.count": "many"}, (), "fleet.generator.count", "valid integer"),
    ({"fleet.generator.archetypes": {"hom": 1.0}}, (), "fleet.generator.archetypes", "expected home, workplace"),
    ({"fleet.sessions": "trips.csv", "fleet.generator": {"count": 3}}, (), "fleet", "exactly one of 'sessions'"),
    ({"fleet.v2g.share": 1.5}, (), "fleet.v2g.share", "less than or equal to 1"),
    ({"tariffs.default": "cn-atlantis-residential-ev"}, (), "tariffs.default", "unknown tariff"),
    ({"timezone": "Mars/Olympus_Mons"}, (), "timezone", "IANA name"),
    ({"modes": ["uncontrolled", "direct-v3g"]}, (), "modes[1]", "'indirect-v1g'"),
    ({"events[0].day": "2024-08-01"}, (), "events[0].day", "outside the horizon"),
    ({"events[0].end": "17:00"}, (), "events[0]", "not after start"),
    ({"events[0].start": "25:00"}, (), "events[0].start", "HH:MM"),
    ({"events[0].start": "18:10"}, (), "events[0].start", "multiple of 15 min"),
    ({"events[0].reduction_share": 0.5}, (), "events[0]", "exactly one of 'reduction_kw' or 'reduction_share'"),
    ({"events[0].baseline": "yesterday"}, (), "events[0].baseline", "'uncontrolled'"),
    ({"grid.site_limits_kw": {"home": -10}}, (), "grid.site_limits_kw", "expected kW > 0"),
    ({"prices.spot": {"shipped": "no-such-series"}}, (), "prices.spot.shipped", "unknown shipped series"),
    ({"programmes": ["no-such-programme"]}, (), "programmes[0]", "unknown programme"),
    ({"tariffs.default": "de-dynamic-spot-2024", "timezone": "Europe/Berlin"}, (), "tariffs.default",
     "needs a price series"),
    ({"tariffs.rules": [{"tariff": "us-pge-bev1", "sites": ["work*"]}]}, (), "tariffs", "one currency"),
    ({}, ("tariffs",), "tariffs", "missing required key"),
    ({"name": "my study!"}, (), "name", "expected letters, digits"),
    ({"aggregator.prices": "spot"}, (), "aggregator.prices", "needs prices.spot"),
]


@pytest.mark.parametrize(("change", "drop", "key", "expected"), MISTAKES,
                         ids=[m[2] + ":" + m[3][:20] for m in MISTAKES])
def test_each_mistake_names_file_key_and_expectation(
    tmp_path: Path, change: dict[str, object], drop: tuple[str, ...], key: str, expected: str
) -> None:
    path = mutate(tmp_path, change, drop)
    message = error_of(path)
    assert str(path) in message, message
    assert f"field '{key}'" in message, message
    assert expected in message, message


def test_at_least_ten_distinct_mistakes() -> None:
    assert len({m[2] for m in MISTAKES}) >= 10


def test_all_problems_are_listed_not_just_the_first(tmp_path: Path) -> None:
    path = mutate(tmp_path, {"horizon.days": 0, "fleet.generator.count": 0})
    with pytest.raises(ValidationError) as info:
        load_scenario(path)
    fields = {p.field for p in info.value.problems}
    assert {"horizon.days", "fleet.generator.count"} <= fields


def test_not_yaml_names_line(tmp_path: Path) -> None:
    path = write(tmp_path, "name: x\nhorizon: {start: 2024-07-01\nfleet: [\n")
    message = error_of(path)
    assert str(path) in message and "not valid YAML" in message and "line" in message


def test_not_a_mapping(tmp_path: Path) -> None:
    path = write(tmp_path, "- a\n- b\n")
    assert "a mapping of keys" in error_of(path)


def test_missing_file_and_unknown_shipped_name() -> None:
    message = error_of("no-such-scenario")
    assert "no such scenario file or shipped scenario" in message and "guangzhou-default" in message


def test_extends_a_shipped_scenario_with_overrides(tmp_path: Path) -> None:
    path = write(tmp_path, """
        extends: guangzhou-default
        name: guangzhou-small
        horizon: {days: 2}
        fleet: {generator: {count: 100}}
        events: []
        """)
    scn = load_scenario(path)
    base = load_scenario("guangzhou-default")
    assert scn.name == "guangzhou-small"
    assert scn.horizon.days == 2 and scn.horizon.start == base.horizon.start  # merged key by key
    assert scn.fleet.generator is not None and scn.fleet.generator.count == 100
    assert scn.fleet.generator.archetypes == base.fleet.generator.archetypes  # type: ignore[union-attr]
    assert scn.events == ()  # lists replace
    assert scn.tariffs == base.tariffs


def test_error_in_base_names_the_base_file(tmp_path: Path) -> None:
    base = mutate(tmp_path, {"fleet.generator.count": 0})
    child = write(tmp_path, f"extends: {base.name}\nname: child\n", "child.yaml")
    message = error_of(child)
    assert str(base) in message and "field 'fleet.generator.count'" in message
    # the child overriding the bad key fixes it
    child.write_text(f"extends: {base.name}\nname: child\nfleet: {{generator: {{count: 5}}}}\n")
    assert load_scenario(child).fleet.generator.count == 5  # type: ignore[union-attr]


def test_error_in_child_names_the_child_file(tmp_path: Path) -> None:
    write(tmp_path, GOOD, "base.yaml")
    child = write(tmp_path, "extends: base.yaml\nname: child\nhorizon: {days: -1}\n", "child.yaml")
    message = error_of(child)
    assert str(child) in message and "field 'horizon.days'" in message


def test_extends_loop_and_unknown_base(tmp_path: Path) -> None:
    a = write(tmp_path, "extends: b.yaml\nname: a\n", "a.yaml")
    write(tmp_path, "extends: a.yaml\nname: b\n", "b.yaml")
    assert "loops back" in error_of(a)
    c = write(tmp_path, "extends: nowhere.yaml\nname: c\n", "c.yaml")
    message = error_of(c)
    assert "field 'extends'" in message and "nowhere.yaml" in message


def test_exclusive_keys_replace_each_other_and_null_resets(tmp_path: Path) -> None:
    sessions = tmp_path / "data" / "trips.csv"
    sessions.parent.mkdir()
    sessions.write_text("session_id,arrival,departure,energy_kwh\n"
                        "a,2024-07-01T18:00:00+08:00,2024-07-02T07:00:00+08:00,10\n")
    write(tmp_path, GOOD, "base.yaml")
    child = write(tmp_path, """
        extends: base.yaml
        name: from-file
        fleet: {sessions: data/trips.csv}
        events: [{day: 2024-07-02, start: "18:00", end: "19:00", reduction_share: 0.5}]
        prices: null
        """, "child.yaml")
    scn = load_scenario(child)
    assert scn.fleet.generator is None  # the base's generator was dropped
    assert scn.fleet.sessions == str(sessions.resolve())  # relative to the file that names it
    assert scn.events[0].reduction_share == 0.5 and scn.events[0].reduction_kw is None


def test_relative_paths_resolve_against_the_base_file(tmp_path: Path) -> None:
    sub = tmp_path / "base"
    sub.mkdir()
    (sub / "trips.csv").write_text("session_id,arrival,departure,energy_kwh\n"
                                   "a,2024-07-01T18:00:00+08:00,2024-07-02T07:00:00+08:00,10\n")
    data = yaml.safe_load(GOOD)
    data["fleet"] = {"sessions": "trips.csv"}
    (sub / "base.yaml").write_text(yaml.safe_dump(data))
    child = write(tmp_path, "extends: base/base.yaml\nname: child\n", "child.yaml")
    assert load_scenario(child).fleet.sessions == str((sub / "trips.csv").resolve())
    (sub / "trips.csv").unlink()
    message = error_of(child)
    assert "field 'fleet.sessions'" in message and "no such file" in message


def test_overrides_parse_and_apply() -> None:
    assert parse_override("events[0].price_per_kwh=3.5") == (("events", 0, "price_per_kwh"), 3.5)
    assert parse_override("fleet.v2g.sites=[home, depot]") == (("fleet", "v2g", "sites"), ["home", "depot"])
    with pytest.raises(VgiError, match="expected KEY=VALUE"):
        parse_override("fleet.generator.count")
    with pytest.raises(VgiError, match="not a key path"):
        parse_override("fleet..count=3")
    scn = load_scenario("guangzhou-default", ["fleet.generator.count=50", "events[0].price_per_kwh=2.5",
                                              "modes=[direct-v1g]"])
    assert scn.fleet.generator.count == 50  # type: ignore[union-attr]
    assert scn.events[0].price_per_kwh == 2.5
    assert scn.modes == ("uncontrolled", "direct-v1g")
    with pytest.raises(VgiError, match=r"events\[3\]"):
        load_scenario("guangzhou-default", ["events[3].day=2024-07-02"])
    with pytest.raises(VgiError, match=r"field 'fleet\.generator\.count'") as info:
        load_scenario("guangzhou-default", {"fleet.generator.count": 0})
    assert "override" in str(info.value)


def test_scenario_objects_and_dicts_round_trip() -> None:
    scn = load_scenario("guangzhou-default")
    again = load_scenario(scn.model_dump(mode="json"))
    assert again == scn
    assert load_scenario(scn) is scn


@pytest.mark.parametrize("name", sorted(shipped_scenarios()))
def test_every_shipped_scenario_is_valid(name: str) -> None:
    scn = load_scenario(name)
    assert scn.name == name
    assert scn.description and scn.sources


def test_expected_shipped_scenarios_exist() -> None:
    assert {"guangzhou-default", "california-workplace", "uk-home-octopus", "oakland-school-bus-v2g",
            "germany-dynamic"} <= set(shipped_scenarios())


def test_cli_prints_one_line_error_and_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from vgi.cli import main

    path = mutate(tmp_path, {"horizon.step_minutes": 7})
    with pytest.raises(SystemExit) as info:
        main(["run", str(path), "--out", str(tmp_path / "out"), "--quiet"])
    assert info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err
    assert str(path) in err and "horizon.step_minutes" in err
