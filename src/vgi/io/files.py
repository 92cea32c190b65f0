"""Read YAML (or JSON) data files with one-line errors that name the file and, for bad YAML, the line; validate
their content as a model; list the files of a shipped data folder."""

from __future__ import annotations

from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import Any, Protocol, TypeVar

import pydantic
import yaml

from vgi.errors import VgiError, validation_message

__all__ = ["data_files", "library_by_id", "read_yaml_file", "series_path", "shipped_series", "validate_mapping"]

ModelT = TypeVar("ModelT", bound=pydantic.BaseModel)


class _HasId(Protocol):
    @property
    def id(self) -> str: ...


ItemT = TypeVar("ItemT", bound=_HasId)


def read_yaml_file(path: str | Path, what: str = "data") -> Any:
    """The parsed content of a YAML (or JSON) file; ``what`` names the kind of file in errors (e.g. "tariff")."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise VgiError(f"{p}: cannot read {what} file ({exc.strerror})") from exc
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = str(getattr(exc, "problem", None) or exc).replace("\n", " ")
        raise VgiError(f"{p}: not valid YAML{where} ({problem})") from exc


def validate_mapping(model: type[ModelT], data: Any, source: str, what: str) -> ModelT:
    """``data`` (a file's parsed content) validated as ``model``; ``what`` names the kind of file in errors. Every
    problem is named by ``source`` and key path on one line."""
    if not isinstance(data, dict):
        raise VgiError(f"{source}: a {what} file must hold a mapping of keys, got {type(data).__name__}")
    try:
        return model.model_validate(data)
    except pydantic.ValidationError as exc:
        raise VgiError(validation_message(source, exc)) from exc


def data_files(folder: str) -> list[Path]:
    """The YAML files of a shipped data folder (``src/vgi/data/<folder>``), sorted by name."""
    root = resources.files("vgi") / "data" / folder
    return sorted(Path(str(p)) for p in root.iterdir() if str(p).endswith((".yaml", ".yml")))


def shipped_series() -> dict[str, Path]:
    """Shipped time series by id (``vgi/data/series/<id>.csv``)."""
    root = Path(str(resources.files("vgi") / "data" / "series"))
    if not root.is_dir():
        return {}
    return {p.stem: p for p in sorted(root.glob("*.csv"))}


def series_path(series_id: str) -> Path:
    """The file of a shipped series, or a :class:`VgiError` listing the ids."""
    lib = shipped_series()
    if series_id not in lib:
        raise VgiError(f"unknown shipped series '{series_id}' (expected one of {', '.join(lib) or 'none'})")
    return lib[series_id]


def library_by_id(folder: str, load: Callable[[Path], ItemT], what: str) -> dict[str, ItemT]:
    """Every file of a shipped data folder loaded by ``load``, by id; an id must equal its file name and be used
    once (``what`` names the kind of file in errors)."""
    out: dict[str, ItemT] = {}
    for path in data_files(folder):
        item = load(path)
        if item.id != path.stem:
            raise VgiError(f"{path}: {what} id '{item.id}' differs from the file name '{path.stem}'")
        if item.id in out:
            raise VgiError(f"{path}: {what} id '{item.id}' is used twice in the library")
        out[item.id] = item
    return out
