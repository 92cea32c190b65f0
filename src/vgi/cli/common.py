"""Helpers shared by the CLI commands: JSON output, tables, reading load and price files."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click
import pandas as pd
from rich.console import Console
from rich.table import Table

from vgi.io.jsonable import to_jsonable

json_option = click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON instead of a table.")



def print_json(data: Any) -> None:
    """Print ``data`` as JSON (NaN and inf become null)."""
    click.echo(json.dumps(to_jsonable(data), indent=2, ensure_ascii=False, default=str))


def console() -> Console:
    """A console for tables: the terminal's width, or 150 columns when the output is piped to a file."""
    con = Console()
    return con if con.is_terminal else Console(width=150)


def print_table(title: str, columns: list[str], rows: list[list[Any]]) -> None:
    """Print a table to the terminal."""
    table = Table(title=title)
    for col in columns:
        table.add_column(col, overflow="fold")
    for row in rows:
        table.add_row(*(f"{v:,.4f}" if isinstance(v, float) else str(v) for v in row))
    console().print(table)


def read_series_csv(path: str | Path, value_column: str | None = None, allow_empty: bool = False) -> pd.Series:
    """Read a ``timestamp,<value>`` CSV (timestamps with a UTC offset) as a tz-aware series; with
    ``allow_empty`` an empty value is NaN."""
    from vgi.io.series import read_timestamped_csv

    return read_timestamped_csv(path, value_column, allow_empty=allow_empty)[0]
