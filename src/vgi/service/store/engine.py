"""Engines for the store: SQLite files (WAL, foreign keys, one writer at a time) and PostgreSQL (psycopg 3)."""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError

from vgi.errors import VgiError

DEFAULT_URL = "sqlite:///vgi.db"
"""The store's default: a SQLite file ``vgi.db`` in the working directory."""

SQLITE_BUSY_TIMEOUT_S = 30.0
"""How long a SQLite writer waits for another to finish before giving up, seconds."""

_SCHEMA_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")


class StoreError(VgiError):
    """A request the store cannot carry out: an unknown charge point or session, a bad URL, an old schema."""


def make_engine(url: str, *, schema: str | None = None, echo: bool = False) -> Engine:
    """An engine for ``url`` (``sqlite:///path.db`` or ``postgresql+psycopg://user@host:port/db``).

    SQLite: WAL journal, foreign keys on, a busy timeout of :data:`SQLITE_BUSY_TIMEOUT_S`, and every transaction
    opened with ``BEGIN IMMEDIATE`` so that concurrent writers queue instead of failing half-way. PostgreSQL:
    ``schema`` (an identifier) becomes the connection's ``search_path``, so that tables live in that schema.
    """
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise StoreError(f"database URL {url!r}: {exc}") from None
    backend = parsed.get_backend_name()
    connect_args: dict[str, Any] = {}
    if schema is not None:
        if backend != "postgresql":
            raise StoreError(f"a schema is only for PostgreSQL, not {backend}")
        if not _SCHEMA_NAME.match(schema):
            raise StoreError(f"schema {schema!r}: use letters, digits and underscores")
        connect_args["options"] = f"-csearch_path={schema}"
    if backend == "sqlite":
        connect_args["check_same_thread"] = False
        connect_args["timeout"] = SQLITE_BUSY_TIMEOUT_S
    elif backend != "postgresql":
        raise StoreError(f"database URL {url!r}: vgi supports sqlite and postgresql, not {backend}")
    try:
        engine = create_engine(parsed, connect_args=connect_args, echo=echo, pool_pre_ping=backend == "postgresql")
    except (ArgumentError, NoSuchModuleError) as exc:
        raise StoreError(f"database URL {url!r}: {exc}") from None
    if backend == "sqlite":
        _configure_sqlite(engine)
    return engine


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # the driver's own transaction handling is switched off; "begin" below opens them explicitly
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        # the busy timeout first, so that the switch to WAL waits for another process's lock too
        cursor.execute(f"PRAGMA busy_timeout={int(SQLITE_BUSY_TIMEOUT_S * 1000)}")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")
