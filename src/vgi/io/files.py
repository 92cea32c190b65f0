"""Read YAML (or JSON) data files with one-line errors that name the file and, for bad YAML, the line."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from vgi.errors import VgiError

__all__ = ["read_yaml_file"]


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
