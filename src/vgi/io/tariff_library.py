"""Load tariffs from YAML files: the shipped library and a user's own files.

Errors name the file and the key path (``energy.seasons[0].windows.weekday[1].start``) and say what is
expected.
"""

from __future__ import annotations

from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import pydantic

from vgi.errors import VgiError, validation_message
from vgi.io.files import read_yaml_file
from vgi.model.tariffs import Tariff

__all__ = ["get_tariff", "load_tariff", "load_tariff_file", "tariff_library", "validation_message"]


def load_tariff(data: dict[str, Any], source: str = "<memory>") -> Tariff:
    """Validate a tariff given as a mapping (the YAML layout)."""
    if not isinstance(data, dict):
        raise VgiError(f"{source}: a tariff file must hold a mapping of keys, got {type(data).__name__}")
    try:
        return Tariff.model_validate(data)
    except pydantic.ValidationError as exc:
        raise VgiError(validation_message(source, exc)) from exc


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
    root = resources.files("vgi") / "data" / "tariffs"
    return sorted(Path(str(p)) for p in root.iterdir() if str(p).endswith((".yaml", ".yml")))


@lru_cache(maxsize=1)
def tariff_library() -> dict[str, Tariff]:
    """Every shipped tariff, by id."""
    out: dict[str, Tariff] = {}
    for path in _library_files():
        tariff = load_tariff_file(path)
        if tariff.id in out:
            raise VgiError(f"{path}: tariff id '{tariff.id}' is used twice in the library")
        out[tariff.id] = tariff
    return out


def get_tariff(id_or_path: str) -> Tariff:
    """A shipped tariff by id, or a tariff file by path (vgi YAML/JSON, URDB JSON or acnportal JSON)."""
    lib = tariff_library()
    if id_or_path in lib:
        return lib[id_or_path]
    p = Path(id_or_path)
    if p.suffix.lower() in (".yaml", ".yml", ".json"):
        if not p.exists():
            raise VgiError(f"{p}: no such tariff file")
        return load_tariff_file(p)
    close = [t for t in lib if id_or_path.lower() in t.lower()][:5]
    hint = f"; did you mean {', '.join(close)}?" if close else "; `vgi tariffs list` shows the ids"
    raise VgiError(f"unknown tariff '{id_or_path}'{hint}")
