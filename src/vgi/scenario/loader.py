"""Read scenario files: shipped names, ``extends:``, key overrides, and errors that say where and what.

``load_scenario`` accepts a shipped scenario name (``guangzhou-default``), a YAML/JSON file, a mapping, or a
:class:`~vgi.scenario.schema.Scenario`.  A file may start from another with ``extends: NAME-OR-PATH``; its
keys override the base's, mappings merge key by key, lists and other values replace, and a key set to ``null``
goes back to its default.  Setting one of a pair of exclusive keys (``fleet.sessions`` / ``fleet.generator``,
a series' ``shipped`` / ``file``, an event's ``reduction_kw`` / ``reduction_share``) drops the other from the
base. Relative file paths are read relative to the file that names them.

Overrides (the CLI's and the sweep's ``key=value``) use dotted key paths with list indices:
``fleet.generator.count=200``, ``events[0].price_per_kwh=3.5``; the value is read as YAML.

Every error is a :class:`~vgi.errors.ValidationError` whose problems name the file the offending key came
from, the key path and what is expected.
"""

from __future__ import annotations

import copy
import datetime as dt
import fnmatch
import re
from collections.abc import Iterable, Mapping
from importlib import resources
from pathlib import Path
from typing import Any

import pydantic
import yaml

from vgi.errors import Problem, ValidationError, VgiError
from vgi.io.files import read_yaml_file, series_path, shipped_series
from vgi.scenario.schema import Scenario, allowed_keys

__all__ = [
    "apply_overrides",
    "load_scenario",
    "parse_override",
    "read_scenario_dict",
    "series_path",
    "shipped_scenarios",
    "shipped_series",
]

Path_ = tuple[str | int, ...]
EXCLUSIVE: tuple[tuple[str, ...], ...] = (
    ("sessions", "generator"),
    ("shipped", "file"),
    ("reduction_kw", "reduction_share"),
)
# keys holding file paths, relative to the file that names them
_PATH_KEYS: tuple[Path_, ...] = (
    ("fleet", "sessions"),
    ("prices", "spot", "file"),
    ("prices", "export_spot", "file"),
    ("prices", "renewable_kw", "file"),
    ("prices", "base_load_kw", "file"),
)


def _data_dir(kind: str) -> Path:
    return Path(str(resources.files("vgi") / "data" / kind))


def shipped_scenarios() -> dict[str, Path]:
    """Shipped scenario files by name (``vgi/data/scenarios/<name>.yaml``)."""
    root = _data_dir("scenarios")
    if not root.is_dir():
        return {}
    return {p.stem: p for p in sorted(root.glob("*.yaml"))}


def _key(path: Path_) -> str:
    out = ""
    for item in path:
        out += f"[{item}]" if isinstance(item, int) else (f".{item}" if out else str(item))
    return out or "<top>"


def _problem(source: str, path: Path_, message: str) -> Problem:
    return Problem(message, source, None, _key(path))


def _read_yaml(path: Path) -> dict[str, Any]:
    data = read_yaml_file(path, "scenario")
    if not isinstance(data, dict):
        raise ValidationError(
            [
                _problem(
                    str(path),
                    (),
                    f"a scenario file holds a mapping of keys, got "
                    f"{type(data).__name__} (expected e.g. 'name: my-study')",
                )
            ]
        )
    return data


def _resolve_paths(data: dict[str, Any], base_dir: Path | None) -> None:
    """Make the file paths of one layer absolute (in place)."""
    if base_dir is None:
        return
    for path in _PATH_KEYS:
        node: Any = data
        for item in path[:-1]:
            node = node.get(item) if isinstance(node, dict) else None
        if isinstance(node, dict) and isinstance(node.get(path[-1]), str):
            p = Path(node[path[-1]]).expanduser()
            node[path[-1]] = str(p if p.is_absolute() else (base_dir / p).resolve())


def _leaves(data: Any, prefix: Path_ = ()) -> Iterable[Path_]:
    if isinstance(data, dict) and data:
        for k, v in data.items():
            yield from _leaves(v, (*prefix, str(k)))
    elif isinstance(data, list) and data:
        for i, v in enumerate(data):
            yield from _leaves(v, (*prefix, i))
    else:
        yield prefix


def _merge(
    base: dict[str, Any], over: dict[str, Any], origins: dict[Path_, str], source: str, prefix: Path_ = ()
) -> dict[str, Any]:
    """Deep-merge ``over`` into a copy of ``base``; record which file gave each leaf."""
    out = dict(base)
    for group in EXCLUSIVE:
        given = [k for k in group if k in over and over[k] is not None]
        if given:
            for k in group:
                if k not in given:
                    out.pop(k, None)
    for k, v in over.items():
        path = (*prefix, str(k))
        if v is None:
            out.pop(k, None)
            origins[path] = source
        elif isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = _merge(out[k], v, origins, source, path)
        else:
            out[k] = copy.deepcopy(v)
            for leaf in _leaves(v, path):
                origins[leaf] = source
            origins[path] = source
    return out


def _origin(origins: dict[Path_, str], loc: Path_, default: str) -> str:
    for n in range(len(loc), -1, -1):
        if loc[:n] in origins:
            return origins[loc[:n]]
    return default


def read_scenario_dict(
    source: str | Path | Mapping[str, Any], _seen: tuple[str, ...] = ()
) -> tuple[dict[str, Any], dict[Path_, str], str]:
    """The merged raw mapping of a scenario (``extends:`` applied), where each key came from, and its source
    name."""
    if isinstance(source, Mapping):
        data = copy.deepcopy(dict(source))
        name, base_dir = "<scenario>", None
    else:
        shipped = shipped_scenarios()
        text = str(source)
        p = Path(text).expanduser()
        if text in shipped and not p.exists():
            p = shipped[text]
        elif not p.exists():
            hint = f" (shipped scenarios: {', '.join(shipped)})" if shipped else ""
            raise VgiError(f"{text}: no such scenario file or shipped scenario{hint}")
        p = p.resolve()
        name, base_dir = str(p), p.parent
        if name in _seen:
            raise VgiError(f"{name}: 'extends' loops back to itself ({' -> '.join((*_seen, name))})")
        data = _read_yaml(p)
    _resolve_paths(data, base_dir)
    origins: dict[Path_, str] = {}
    parent = data.get("extends")
    if parent is None:
        merged: dict[str, Any] = {}
    else:
        if not isinstance(parent, str):
            raise ValidationError([_problem(name, ("extends",), "expected a shipped scenario name or a file path")])
        target = parent
        if base_dir is not None and parent not in shipped_scenarios():
            target = str((base_dir / parent).resolve())
        elif base_dir is None and parent not in shipped_scenarios() and not Path(parent).exists():
            raise ValidationError(
                [
                    _problem(
                        name,
                        ("extends",),
                        f"unknown base scenario '{parent}' (expected one "
                        f"of {', '.join(shipped_scenarios())} or a file)",
                    )
                ]
            )
        try:
            merged, origins, _ = read_scenario_dict(target, (*_seen, name))
        except VgiError as exc:
            if isinstance(exc, ValidationError):
                raise
            raise ValidationError([_problem(name, ("extends",), str(exc))]) from exc
    merged = _merge(merged, data, origins, name)
    return merged, origins, name


_TOKEN = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


def parse_override(text: str) -> tuple[Path_, Any]:
    """``key.path[0].name=value`` -> (key path, value read as YAML)."""
    if "=" not in text:
        raise VgiError(f"override '{text}': expected KEY=VALUE, e.g. fleet.generator.count=200")
    key, raw = text.split("=", 1)
    key = key.strip()
    path: list[str | int] = []
    pos = 0
    for m in _TOKEN.finditer(key):
        if m.start() != pos and key[pos : m.start()] != ".":
            raise VgiError(f"override '{text}': '{key}' is not a key path (expected e.g. events[0].price_per_kwh)")
        path.append(m.group(1) if m.group(1) is not None else int(m.group(2)))
        pos = m.end()
    if not path or pos != len(key):
        raise VgiError(f"override '{text}': '{key}' is not a key path (expected e.g. events[0].price_per_kwh)")
    try:
        value = yaml.safe_load(raw)
    except yaml.YAMLError as exc:
        raise VgiError(f"override '{text}': value is not valid YAML ({exc})") from exc
    return tuple(path), value


def apply_overrides(
    data: dict[str, Any],
    overrides: Mapping[str, Any] | Iterable[str] | None,
    origins: dict[Path_, str] | None = None,
    label: str = "override",
) -> dict[str, Any]:
    """A copy of ``data`` with overrides set: ``{"a.b": value}`` or ``["a.b=value", ...]``."""
    if not overrides:
        return data
    items: list[tuple[Path_, Any]]
    if isinstance(overrides, Mapping):
        items = [(parse_override(f"{k}=x")[0], v) for k, v in overrides.items()]
    else:
        items = [parse_override(t) for t in overrides]
    out = copy.deepcopy(data)
    for path, value in items:
        node: Any = out
        for i, item in enumerate(path[:-1]):
            nxt = path[i + 1]
            if isinstance(item, int):
                if not isinstance(node, list) or item >= len(node):
                    raise VgiError(
                        f"override {_key(path)}: {_key(path[: i + 1])} does not exist "
                        f"(the list has {len(node) if isinstance(node, list) else 0} item(s))"
                    )
                node = node[item]
            else:
                if not isinstance(node, dict):
                    raise VgiError(f"override {_key(path)}: {_key(path[:i])} is not a mapping")
                if node.get(item) is None:
                    node[item] = [] if isinstance(nxt, int) else {}
                node = node[item]
        last = path[-1]
        if isinstance(last, int):
            if not isinstance(node, list) or last > len(node):
                raise VgiError(f"override {_key(path)}: no such list item")
            if last == len(node):
                node.append(value)
            else:
                node[last] = value
        else:
            if not isinstance(node, dict):
                raise VgiError(f"override {_key(path)}: {_key(path[:-1])} is not a mapping")
            parent = dict(node)
            merged = _merge(parent, {last: value}, origins if origins is not None else {}, label, path[:-1])
            node.clear()
            node.update(merged)
        if origins is not None:
            origins[path] = f"{label} {_key(path)}"
    return out


def _expected(err: Mapping[str, Any], loc: Path_) -> str:
    if err["type"] == "extra_forbidden":
        keys = allowed_keys(loc[:-1])
        close = [k for k in keys if k.lower().startswith(str(loc[-1]).lower()[:3])]
        hint = f"; did you mean '{close[0]}'?" if close else ""
        return f"unknown key '{loc[-1]}' (expected one of: {', '.join(keys)}){hint}"
    if err["type"] == "missing":
        return "missing required key"
    msg = str(err["msg"])
    msg = msg.removeprefix("Value error, ")
    if "input" in err and err["type"] not in ("model_type", "dict_type") and not isinstance(err["input"], dict):
        value = repr(err["input"])
        if len(value) <= 60 and str(err["input"]) not in msg:
            msg += f" (got {value})"
    return msg


def _pydantic_problems(exc: pydantic.ValidationError, origins: dict[Path_, str], default: str) -> list[Problem]:
    problems = []
    for err in exc.errors():
        loc: Path_ = tuple(
            x
            for x in err["loc"]
            if not (
                isinstance(x, str)
                and (x.startswith(("function-", "tagged-union")) or x in ("str", "dict[str,float]", "int", "float"))
            )
        )
        # a model-level check names its own key path at the start of its message: use it
        msg = _expected(err, loc)
        m = re.match(r"^(events\[(\d+)\]\.(\w+)) ", msg)
        if m:
            loc = ("events", int(m.group(2)), m.group(3))
            msg = msg[len(m.group(1)) + 1 :]
        problems.append(_problem(_origin(origins, loc, default), loc, msg))
    return problems


def _check_references(scn: Scenario, origins: dict[Path_, str], default: str) -> list[Problem]:
    """What the model alone cannot know: tariff ids, files, shipped series, programmes, currencies."""
    from vgi.io.tariff_library import get_tariff

    problems: list[Problem] = []

    def add(path: Path_, message: str) -> None:
        problems.append(_problem(_origin(origins, path, default), path, message))

    tariffs = []
    for path, tid in [(("tariffs", "default"), scn.tariffs.default)] + [
        (("tariffs", "rules", i, "tariff"), r.tariff) for i, r in enumerate(scn.tariffs.rules)
    ]:
        try:
            tariffs.append((path, get_tariff(tid)))
        except VgiError as exc:
            add(path, f"{exc} (expected a tariff id of `vgi tariffs list` or a tariff YAML file)")
    currencies = sorted({t.currency for _, t in tariffs})
    if len(currencies) > 1:
        add(("tariffs",), f"tariffs in several currencies {currencies} (expected one currency per scenario)")
    dynamic = [p for p, t in tariffs if t.is_dynamic]
    if dynamic and scn.prices.spot is None:
        add(dynamic[0], "a dynamic tariff needs a price series: set prices.spot (expected shipped: or file:)")
    series_export = [p for p, t in tariffs if t.export.kind == "series"]
    if scn.tariffs.export is not None and scn.tariffs.export.kind == "series":
        series_export.append(("tariffs", "export"))
    if series_export and scn.prices.export_spot is None:
        add(series_export[0], "export prices from a series need prices.export_spot")
    if scn.aggregator.prices == "spot" and scn.prices.spot is None:
        add(("aggregator", "prices"), "'spot' needs prices.spot (expected a series, or prices: tariff)")
    if scn.fleet.sessions is not None and not Path(scn.fleet.sessions).exists():
        add(
            ("fleet", "sessions"),
            f"no such file {scn.fleet.sessions} (expected a CSV or Parquet session file)",
        )
    for key in ("spot", "export_spot", "renewable_kw", "base_load_kw"):
        series = getattr(scn.prices, key)
        if series is None:
            continue
        if series.file is not None and not Path(series.file).exists():
            add(("prices", key, "file"), f"no such file {series.file} (expected a CSV 'timestamp,<value>')")
        if series.shipped is not None and series.shipped not in shipped_series():
            add(
                ("prices", key, "shipped"),
                f"unknown shipped series '{series.shipped}' (expected one of {', '.join(shipped_series())})",
            )
    known_programmes = _programme_ids()
    refs: list[tuple[Path_, str]] = [(("programmes", i), p) for i, p in enumerate(scn.programmes)] + [
        (("events", i, "programme"), e.programme) for i, e in enumerate(scn.events) if e.programme is not None
    ]
    for ref_path, pid in refs:
        if known_programmes is not None and pid not in known_programmes and not Path(str(pid)).is_file():
            known = ", ".join(sorted(known_programmes))
            add(ref_path, f"unknown programme '{pid}' (expected one of {known})")
    if known_programmes is not None:
        from vgi.dr.programmes import get_programme

        for ref_path, pid in refs:
            try:
                prog = get_programme(pid)
            except VgiError:
                continue
            if currencies and prog.currency not in currencies:
                add(
                    ref_path,
                    f"programme '{pid}' pays in {prog.currency}, the tariffs bill in {currencies[0]} "
                    "(expected one currency per scenario)",
                )
    for pattern in scn.grid.site_limits_kw:
        if not isinstance(pattern, str) or not pattern:
            add(("grid", "site_limits_kw"), "site keys must be site ids or glob patterns")
        else:
            fnmatch.translate(pattern)
    return problems


def _programme_ids() -> set[str] | None:
    """Ids of the shipped programmes, or None while the programme library is not installed."""
    try:
        from vgi.dr.programmes import programme_library
    except ImportError:
        return None
    return set(programme_library())


def load_scenario(
    source: str | Path | Mapping[str, Any] | Scenario,
    overrides: Mapping[str, Any] | Iterable[str] | None = None,
) -> Scenario:
    """A validated scenario from a shipped name, a file, a mapping or a model, with ``overrides`` applied."""
    if isinstance(source, Scenario):
        if not overrides:
            return source
        source = source.model_dump(mode="json", exclude_none=False)
    data, origins, name = read_scenario_dict(source)
    data = apply_overrides(data, overrides, origins)
    data.setdefault("name", Path(name).stem if name != "<scenario>" else "scenario")
    try:
        scn = Scenario.model_validate(data)
    except pydantic.ValidationError as exc:
        raise ValidationError(_pydantic_problems(exc, origins, name)) from exc
    problems = _check_references(scn, origins, name)
    if problems:
        raise ValidationError(problems)
    return scn


def horizon_days(scn: Scenario) -> list[dt.date]:
    """The local days of the horizon."""
    return [scn.horizon.start + dt.timedelta(days=i) for i in range(scn.horizon.days)]
