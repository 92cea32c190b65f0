"""The ``vgi`` command line.

Each sub-command lives in its own module and is imported only when used, so ``vgi --help`` stays fast.  A user's
mistake (:class:`vgi.errors.VgiError`) is printed as one line, ``error: ...``, with exit status 2.
"""

from __future__ import annotations

import importlib
import sys
from typing import Any

import click

from vgi.errors import VgiError
from vgi.version import __version__

# command name -> "module:attribute"
COMMANDS: dict[str, str] = {
    "run": "vgi.cli.run_cmd:run",
    "sweep": "vgi.cli.run_cmd:sweep",
    "sessions": "vgi.cli.sessions_cmd:sessions",
    "tariffs": "vgi.cli.tariffs_cmd:tariffs",
    "bill": "vgi.cli.bill_cmd:bill",
    "schedule": "vgi.cli.schedule_cmd:schedule",
    "flex": "vgi.cli.schedule_cmd:flex",
    "programmes": "vgi.cli.dr_cmd:programmes",
    "eligibility": "vgi.cli.dr_cmd:eligibility",
    "offer": "vgi.cli.dr_cmd:offer",
    "settle": "vgi.cli.dr_cmd:settle",
    "db": "vgi.cli.db_cmd:db",
    "serve": "vgi.cli.serve_cmd:serve",
}


class LazyGroup(click.Group):
    """A group whose sub-commands are imported on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return [name for name in COMMANDS if self._load(name) is not None]

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        return self._load(cmd_name)

    @staticmethod
    def _load(name: str) -> click.Command | None:
        target = COMMANDS.get(name)
        if target is None:
            return None
        module_name, attr = target.split(":")
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name == module_name:
                return None
            raise
        command = getattr(module, attr, None)
        return command if isinstance(command, click.Command) else None


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="vgi")
def cli() -> None:
    """vgi: vehicle-grid integration for EV fleets.

    Units: power in kW (positive = import from the grid, negative = export / V2G discharge), energy in kWh,
    prices in the tariff's currency per kWh, times ISO 8601 with a UTC offset.
    """


def main(argv: list[str] | None = None) -> Any:
    """Entry point: run the CLI, turning a user's mistake into a one-line error (exit status 2)."""
    try:
        return cli.main(args=argv, prog_name="vgi", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(1)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except VgiError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
    except FileNotFoundError as exc:
        click.echo(f"error: {exc.filename}: no such file", err=True)
        sys.exit(2)
