"""``vgi db upgrade`` and ``vgi db current``: the service database's schema (Alembic migrations shipped with vgi).

The URL is ``sqlite:///path.db`` (default ``sqlite:///vgi.db`` in the working directory) or
``postgresql+psycopg://user:password@host:5432/dbname``; ``VGI_DATABASE_URL`` gives it when ``--url`` is absent.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from vgi.errors import VgiError

if TYPE_CHECKING:
    from sqlalchemy import Engine

__all__ = ["db"]

_url_option = click.option(
    "--url", "url", envvar="VGI_DATABASE_URL", default="sqlite:///vgi.db", show_default=True,
    help="Database URL (sqlite:///FILE or postgresql+psycopg://USER@HOST:PORT/DB); env VGI_DATABASE_URL.",
)
_schema_option = click.option("--schema", default=None, help="PostgreSQL schema to keep the tables in (must exist).")


def _engine(url: str, schema: str | None) -> Engine:
    from vgi.service.store.engine import make_engine

    return make_engine(url, schema=schema)


def _short(exc: Exception) -> str:
    orig = getattr(exc, "orig", None) or exc
    return str(orig).strip().splitlines()[0] if str(orig).strip() else type(orig).__name__


@click.group()
def db() -> None:
    """The service database: bring its schema up to date, show its revision."""


@db.command("upgrade")
@_url_option
@_schema_option
@click.option("--revision", default="head", show_default=True, help="Revision to bring the schema to.")
def db_upgrade(url: str, schema: str | None, revision: str) -> None:
    """Bring the database's schema to REVISION (the newest by default), creating the tables on first use."""
    from sqlalchemy.exc import SQLAlchemyError

    from vgi.service.store import migrate

    engine = _engine(url, schema)
    try:
        before = migrate.current_revision(engine)
        migrate.upgrade(engine, revision)
        after = migrate.current_revision(engine)
    except SQLAlchemyError as exc:
        raise VgiError(f"database {engine.url.render_as_string(hide_password=True)}: {_short(exc)}") from None
    except Exception as exc:  # alembic's CommandError for an unknown revision
        if type(exc).__name__ in {"CommandError", "ResolutionError"}:
            raise VgiError(f"revision {revision!r}: {exc}") from None
        raise
    finally:
        engine.dispose()
    click.echo(f"{engine.url.render_as_string(hide_password=True)}: {before or '(empty)'} -> {after}")


@db.command("current")
@_url_option
@_schema_option
def db_current(url: str, schema: str | None) -> None:
    """Print the database's schema revision and the newest one vgi knows."""
    from sqlalchemy.exc import SQLAlchemyError

    from vgi.service.store import migrate

    engine = _engine(url, schema)
    try:
        current = migrate.current_revision(engine)
    except SQLAlchemyError as exc:
        raise VgiError(f"database {engine.url.render_as_string(hide_password=True)}: {_short(exc)}") from None
    finally:
        engine.dispose()
    head = migrate.head_revision()
    state = "up to date" if current == head else "run `vgi db upgrade`"
    click.echo(f"current: {current or '(empty)'}\nhead: {head}\n{state}")
