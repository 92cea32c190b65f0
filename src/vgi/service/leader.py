"""Leader election between the service's processes: which one of them runs the aggregator loop of a fleet.

Every process configured with ``aggregator: true`` tries to take one lock per fleet (per database, and per schema
on PostgreSQL); the one that holds it leads (runs :func:`vgi.aggregator.driver.run_loop`, the VEN poller and the
settlement), the others stand by and try again every ``leader_retry_seconds``.  The lock dies with its holder:

* PostgreSQL: a session-level advisory lock (``pg_try_advisory_lock``) on a connection of its own, kept open for as
  long as the process leads.  A process that dies closes its connection (the kernel closes its socket, and the
  server ends the session), which releases the lock.  The holder's connection carries ``application_name``
  ``vgi-leader <host>:<pid>``, so that any process can say who leads (:meth:`LeaderLock.holder`).
* SQLite: an exclusive ``flock`` on the file ``<database>.leader`` beside the database file, taken without
  waiting.  The kernel drops it when the holder's file is closed, which it is when the process dies.  The holder
  writes ``<host>:<pid>`` into the file.  (SQLite is for processes on one machine, so the lock is too.)
* A SQLite database in memory is one process's alone: its lock is always free (:class:`LocalLock`).

This is the service's shell (I/O), not the pure core: :func:`leader_lock` makes the lock that fits a store.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import socket
from pathlib import Path
from typing import IO, Protocol

from sqlalchemy import Connection, Engine, text

__all__ = ["FileLeaderLock", "LeaderLock", "LocalLock", "PgAdvisoryLeaderLock", "leader_lock", "lock_key",
           "process_name"]

LOGGER = logging.getLogger("vgi.service.leader")
APPLICATION_PREFIX = "vgi-leader "


def process_name() -> str:
    """This process as other processes see it: ``<host>:<pid>``."""
    return f"{socket.gethostname()}:{os.getpid()}"


def lock_key(database: str, schema: str | None) -> int:
    """The advisory lock's key (a signed 64-bit integer) of a fleet: a hash of the database and schema names,
    apart from the key the migrations lock with."""
    digest = hashlib.blake2b(f"vgi-leader/{database}/{schema or 'public'}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


class LeaderLock(Protocol):
    """A lock at most one process holds at a time, released when its holder dies."""

    def acquire(self) -> bool:
        """Take the lock without waiting; whether this process now holds it (True again if it already did)."""
        ...

    def check(self) -> bool:
        """Whether this process still holds the lock (False once its connection or file was lost)."""
        ...

    def release(self) -> None:
        """Give the lock up (nothing if not held)."""
        ...

    def holder(self) -> str | None:
        """``<host>:<pid>`` of the process holding the lock, where it can be told; None when nobody holds it or
        it cannot be told."""
        ...


class LocalLock:
    """A lock for a database only this process can reach (SQLite in memory): always free."""

    def __init__(self, name: str | None = None) -> None:
        self.name = name or process_name()
        self.held = False

    def acquire(self) -> bool:
        self.held = True
        return True

    def check(self) -> bool:
        return self.held

    def release(self) -> None:
        self.held = False

    def holder(self) -> str | None:
        return self.name if self.held else None


class FileLeaderLock:
    """An exclusive ``flock`` on ``path``, taken without waiting (SQLite: ``<database>.leader``)."""

    def __init__(self, path: str | Path, name: str | None = None) -> None:
        self.path = Path(path)
        self.name = name or process_name()
        self._file: IO[str] | None = None

    def acquire(self) -> bool:
        import fcntl

        if self._file is not None:
            return True
        handle = self.path.open("a+", encoding="utf-8")
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:  # another process (or another open file of this one) holds it
            handle.close()
            return False
        try:
            handle.seek(0)
            handle.truncate()
            handle.write(self.name)
            handle.flush()
        except OSError:
            handle.close()
            raise
        self._file = handle
        return True

    def check(self) -> bool:
        return self._file is not None and not self._file.closed

    def release(self) -> None:
        if self._file is None:
            return
        import fcntl

        with contextlib.suppress(OSError):
            self._file.seek(0)
            self._file.truncate()
            self._file.flush()
        with contextlib.suppress(OSError):
            fcntl.flock(self._file.fileno(), fcntl.LOCK_UN)
        self._file.close()
        self._file = None

    def holder(self) -> str | None:
        if self._file is not None:
            return self.name
        import fcntl

        try:
            handle = self.path.open("r", encoding="utf-8")
        except OSError:
            return None
        with handle:
            try:  # free: nobody holds it (a dead holder's name may still be written there)
                fcntl.flock(handle.fileno(), fcntl.LOCK_SH | fcntl.LOCK_NB)
            except OSError:
                return handle.read().strip() or None
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
            return None


class PgAdvisoryLeaderLock:
    """A session-level PostgreSQL advisory lock on a connection of its own, kept open while held."""

    def __init__(self, engine: Engine, key: int, name: str | None = None) -> None:
        self.engine = engine
        self.key = key
        self.name = name or process_name()
        self._connection: Connection | None = None

    def _close(self) -> None:
        if self._connection is not None:
            with contextlib.suppress(Exception):
                self._connection.invalidate()  # never back to the pool: a lock may still hang on the session
            with contextlib.suppress(Exception):
                self._connection.close()
            self._connection = None

    def acquire(self) -> bool:
        if self._connection is not None:
            return self.check()
        connection = self.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        try:
            got = bool(connection.execute(text("SELECT pg_try_advisory_lock(:key)"), {"key": self.key}).scalar())
            if got:
                # who leads, for the others to read in pg_stat_activity (63 characters at most)
                connection.execute(text("SELECT set_config('application_name', :name, false)"),
                                   {"name": (APPLICATION_PREFIX + self.name)[:63]})
        except BaseException:
            connection.invalidate()
            connection.close()
            raise
        if not got:
            connection.close()
            return False
        self._connection = connection
        return True

    def check(self) -> bool:
        if self._connection is None:
            return False
        try:
            self._connection.execute(text("SELECT 1"))
        except Exception as exc:  # the session is gone, and the lock with it
            LOGGER.warning("leadership lost: its database connection failed: %s", exc)
            self._close()
            return False
        return True

    def release(self) -> None:
        if self._connection is None:
            return
        with contextlib.suppress(Exception):
            self._connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": self.key})
        self._close()

    def holder(self) -> str | None:
        if self._connection is not None:
            return self.name
        # pg_locks splits a bigint key into two 32-bit halves (classid: high, objid: low; objsubid 1)
        unsigned = self.key & 0xFFFFFFFFFFFFFFFF
        query = text(
            "SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
            "WHERE l.locktype = 'advisory' AND l.granted AND l.database = "
            "(SELECT oid FROM pg_database WHERE datname = current_database()) "
            "AND l.classid = :high AND l.objid = :low AND l.objsubid = 1")
        with self.engine.connect() as connection:
            name = connection.execute(query, {"high": unsigned >> 32, "low": unsigned & 0xFFFFFFFF}).scalar()
        if name is None:
            return None
        name = str(name)
        return name.removeprefix(APPLICATION_PREFIX) if name.startswith(APPLICATION_PREFIX) else "(unknown)"


def leader_lock(engine: Engine, schema: str | None = None, name: str | None = None) -> LeaderLock:
    """The leader lock of the fleet whose store is ``engine`` (and ``schema`` on PostgreSQL)."""
    url = engine.url
    if engine.dialect.name == "postgresql":
        return PgAdvisoryLeaderLock(engine, lock_key(str(url.database), schema), name)
    database = url.database
    if not database or database == ":memory:" or database.startswith("file::memory:"):
        return LocalLock(name)
    return FileLeaderLock(Path(database).resolve().with_name(Path(database).name + ".leader"), name)
