"""Secrets the service's processes share through the database: generated once, read by every process after.

They are rows of the documents table under a kind of their own (the VTN never lists it), so that no schema
change is needed; the table's unique (kind, id) key makes the first writer win when processes start together.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from vgi.service.store import Store
from vgi.service.store.models import Document

__all__ = ["SECRET_KIND", "shared_secret"]

SECRET_KIND = "vgi-secret"


def _read(store: Store, name: str) -> str | None:
    with Session(store.engine) as session:
        found = session.scalar(select(Document.document).where(Document.kind == SECRET_KIND,
                                                                Document.object_id == name))
    return None if found is None else str(found["value"])


def shared_secret(store: Store, name: str, make: Callable[[], str] = lambda: secrets.token_urlsafe(32)
                  ) -> tuple[str, bool]:
    """The secret ``name`` kept in ``store``, made with ``make`` and kept when there is none yet.

    Returns the value and whether this call created it (to print it once, on first start)."""
    found = _read(store, name)
    if found is not None:
        return found, False
    value = make()
    now = datetime.now(UTC)
    try:
        with Session(store.engine) as session, session.begin():
            session.add(Document(kind=SECRET_KIND, object_id=name, document={"value": value}, created_at=now,
                                 modified_at=now))
    except IntegrityError:  # another process wrote it first: theirs is the one
        again = _read(store, name)
        assert again is not None
        return again, False
    return value, True
