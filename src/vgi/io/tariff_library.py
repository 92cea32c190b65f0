"""Load tariffs from YAML files: the shipped library and a user's own files.

Errors name the file and the key path (``energy.seasons[0].windows.weekday[1].start``) and say what is
expected.
"""

from __future__ import annotations

import datetime as dt
import itertools
from functools import lru_cache
from pathlib import Path
from typing import Any

import pandas as pd

from vgi.errors import VgiError, validation_message
from vgi.io.files import data_files, read_yaml_file, validate_mapping
from vgi.model.tariffs import Tariff, select_version

__all__ = [
    "get_tariff",
    "load_tariff",
    "load_tariff_file",
    "tariff_for_period",
    "tariff_library",
    "tariff_versions",
    "validation_message",
]


def load_tariff(data: dict[str, Any], source: str = "<memory>") -> Tariff:
    """Validate a tariff given as a mapping (the YAML layout)."""
    return validate_mapping(Tariff, data, source, "tariff")


def load_tariff_file(path: str | Path) -> Tariff:
    """Read a tariff file: vgi's YAML (or the same layout as JSON), or an OpenEI URDB or acnportal JSON file
    (first record of a URDB file; see :mod:`vgi.io.tariff_readers`)."""
    p = Path(path)
    data = read_yaml_file(p, "tariff")
    if p.suffix.lower() == ".json":
        from vgi.io.tariff_readers import detect_tariff_json, read_acnportal_tariff, read_urdb_json

        kind = detect_tariff_json(data)
        if kind == "urdb":
            return read_urdb_json(p)
        if kind == "acnportal":
            return read_acnportal_tariff(p)
    return load_tariff(data, str(p))


def _library_files() -> list[Path]:
    return data_files("tariffs")


@lru_cache(maxsize=1)
def _library_versions() -> dict[str, tuple[Tariff, ...]]:
    """Every shipped tariff version, by id, oldest first.

    Versions of one tariff share an id; the file ``<id>.yaml`` holds the library's reference version (for China
    the one in force in June 2024, the date of the report's table 3-3) and files ``<id>@<valid_from>.yaml`` hold
    the others.  Validity ranges of one id must not overlap.
    """
    found: dict[str, list[tuple[Path, Tariff]]] = {}
    for path in _library_files():
        tariff = load_tariff_file(path)
        stem = path.stem.split("@", 1)[0]
        if stem != tariff.id:
            raise VgiError(f"{path}: the file of tariff '{tariff.id}' must be named {tariff.id}.yaml or "
                           f"{tariff.id}@<valid_from>.yaml")
        found.setdefault(tariff.id, []).append((path, tariff))
    out: dict[str, tuple[Tariff, ...]] = {}
    for tid, items in found.items():
        items.sort(key=lambda pt: pt[1].valid_from)
        for (p0, a), (p1, b) in itertools.pairwise(items):
            if not b.starts_on_valid_from:
                raise VgiError(f"{p1}: a later version of tariff '{tid}' must set starts_on_valid_from: true")
            if a.valid_to is None or a.valid_to >= b.valid_from:
                raise VgiError(f"{p1}: tariff '{tid}' version {b.validity_text} overlaps {p0.name} "
                               f"({a.validity_text}); give the earlier version a valid_to")
        if not any("@" not in p.stem for p, _ in items):
            raise VgiError(f"tariff '{tid}' has versions but no reference file {tid}.yaml")
        out[tid] = tuple(t for _, t in items)
    return out


@lru_cache(maxsize=1)
def tariff_library() -> dict[str, Tariff]:
    """Every shipped tariff, by id: the reference version of each (the file ``<id>.yaml``); other versions of
    an id come from :func:`tariff_versions` and :func:`tariff_for_period`."""
    out: dict[str, Tariff] = {}
    for path in _library_files():
        if "@" in path.stem:
            continue
        tariff = load_tariff_file(path)
        if tariff.id in out:
            raise VgiError(f"{path}: tariff id '{tariff.id}' is used twice in the library")
        out[tariff.id] = tariff
    _library_versions()  # checks that versions do not overlap
    return out


def tariff_versions(tariff_id: str) -> tuple[Tariff, ...]:
    """Every version of a shipped tariff, oldest first (one item for a tariff without versions)."""
    versions = _library_versions()
    if tariff_id not in versions:
        get_tariff(tariff_id)  # the unknown-id error, with suggestions
    return versions[tariff_id]


def tariff_for_period(id_or_path: str, start: pd.Timestamp, end: pd.Timestamp) -> Tariff:
    """The tariff in force over ``[start, end)`` (tz-aware): for a shipped id, the version in force (a period
    spanning two versions or outside them all is refused, naming the dates); for a file, the file's tariff if
    it is in force (else the same one-line error)."""
    lib = tariff_library()
    if id_or_path in lib:
        return select_version(tariff_versions(id_or_path), start, end)
    return select_version([get_tariff(id_or_path)], start, end)


def get_tariff(id_or_path: str) -> Tariff:
    """A shipped tariff by id (its reference version), ``id@YYYY-MM-DD`` (the version in force on that local
    day), or a tariff file by path (vgi YAML/JSON, URDB JSON or acnportal JSON)."""
    lib = tariff_library()
    if id_or_path in lib:
        return lib[id_or_path]
    head, _, day = id_or_path.partition("@")
    if day and head in lib:
        try:
            when = pd.Timestamp(dt.date.fromisoformat(day)).tz_localize(lib[head].timezone)
        except ValueError as exc:
            raise VgiError(f"'{id_or_path}': '{day}' is not a date YYYY-MM-DD") from exc
        return select_version(tariff_versions(head), when, when + pd.Timedelta(days=1))
    p = Path(id_or_path)
    if p.suffix.lower() in (".yaml", ".yml", ".json"):
        if not p.exists():
            raise VgiError(f"{p}: no such tariff file")
        return load_tariff_file(p)
    close = [t for t in lib if id_or_path.lower() in t.lower()][:5]
    hint = f"; did you mean {', '.join(close)}?" if close else "; `vgi tariffs list` shows the ids"
    raise VgiError(f"unknown tariff '{id_or_path}'{hint}")
