"""Alembic environment of the vgi store.

Run programmatically by :mod:`vgi.service.store.migrate`, which passes an open connection in
``config.attributes["connection"]``; there is no ``alembic.ini``. With the ``alembic`` command, give the URL with
``-x url=...`` and a config that sets ``script_location`` to this folder.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from vgi.service.store.models import Base

config = context.config
target_metadata = Base.metadata


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        compare_type=True,
        render_as_batch=connection.dialect.name == "sqlite",  # SQLite alters tables by copying them
    )
    with context.begin_transaction():
        if connection.dialect.name == "postgresql":
            # several processes may start at once: one migrates, the others wait and then find it done
            connection.exec_driver_sql("SELECT pg_advisory_xact_lock(7262070131)")
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    from vgi.service.store.engine import make_engine

    url = context.get_x_argument(as_dictionary=True).get("url") or config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("no database URL: pass -x url=... or use `vgi db upgrade --url URL`")
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            _run(connection)
            connection.commit()
    finally:
        engine.dispose()


if context.is_offline_mode():
    raise RuntimeError("offline (--sql) migrations are not supported; run them against a database")
run_migrations_online()
