"""Schema migrations of the store, run with Alembic from inside the package (no ``alembic.ini`` needed).

:func:`upgrade` brings a database to a revision (``"head"``: the newest), :func:`downgrade` takes it back,
:func:`current_revision` and :func:`head_revision` say where it is and where the code is.
"""

from __future__ import annotations

import threading
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine

MIGRATIONS_DIR = Path(__file__).with_name("migrations")

# Alembic's ``context`` and ``op`` are module-level proxies, so two migrations may not run in one process at once.
# This lock serialises them between threads; between processes the migration's own transaction does (an advisory
# lock on PostgreSQL, BEGIN IMMEDIATE on SQLite).
_ALEMBIC_LOCK = threading.Lock()


def alembic_config() -> Config:
    """An Alembic configuration pointing at the migrations shipped in this package."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return config


def head_revision() -> str:
    """The newest revision the code knows."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if head is None:  # pragma: no cover - the package ships at least one revision
        raise RuntimeError("no migration revisions found")
    return head


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at (``None``: no vgi tables yet)."""
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the database to ``revision``, in one transaction (PostgreSQL and SQLite both have transactional DDL)."""
    with _ALEMBIC_LOCK, engine.begin() as connection:
        config = alembic_config()
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


def downgrade(engine: Engine, revision: str = "base") -> None:
    """Take the database back to ``revision`` (``"base"``: no vgi tables)."""
    with _ALEMBIC_LOCK, engine.begin() as connection:
        config = alembic_config()
        config.attributes["connection"] = connection
        command.downgrade(config, revision)
