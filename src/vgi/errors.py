"""Errors that vgi raises for a user's mistake.

Every user-facing error is a :class:`VgiError`; the CLI prints its message on one line and exits with
status 2, never a traceback.  :class:`ValidationError` carries every problem found, each naming the file,
the row (1-based data row, as a spreadsheet user counts them, header excluded) and the field.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pydantic


class VgiError(Exception):
    """A problem with the user's input or request (bad file, unknown id, infeasible option)."""


@dataclass(frozen=True)
class Problem:
    """One validation problem: where it is and what is wrong."""

    message: str
    source: str | None = None
    row: int | None = None
    field: str | None = None

    def __str__(self) -> str:
        where = []
        if self.source:
            where.append(str(self.source))
        if self.row is not None:
            where.append(f"row {self.row}")
        if self.field:
            where.append(f"field '{self.field}'")
        prefix = ", ".join(where)
        return f"{prefix}: {self.message}" if prefix else self.message


class ValidationError(VgiError):
    """Input that failed validation; ``problems`` lists every problem found, not just the first."""

    def __init__(self, problems: list[Problem], max_shown: int = 20) -> None:
        self.problems = list(problems)
        shown = "; ".join(str(p) for p in self.problems[:max_shown])
        more = len(self.problems) - max_shown
        if more > 0:
            shown += f"; ... and {more} more problem(s)"
        super().__init__(shown)


def validation_message(source: str, exc: pydantic.ValidationError) -> str:
    """A pydantic validation error as one line per problem: ``file: key.path: what is wrong``."""
    parts = []
    for err in exc.errors():
        loc = ""
        for item in err["loc"]:
            loc += f"[{item}]" if isinstance(item, int) else (f".{item}" if loc else str(item))
        parts.append(f"{source}: {loc or '<top>'}: {err['msg']}")
    return "; ".join(parts)
