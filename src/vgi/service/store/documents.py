"""OpenADR 3 VTN objects in a SQL table: :class:`SqlDocumentStore`, a :class:`vgi.service.documents.DocumentStore`.

One table ``documents`` keeps every kind. ``programID``, ``eventID``, ``venID`` and ``clientName`` are copied into
indexed columns when they are strings, so the VTN's usual searches run in SQL; a filter on any other field is
applied to the documents in Python, with the same meaning as :func:`vgi.service.documents.matches`. ``list``
returns documents in the order they were added (a ``replace`` keeps a document's place).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import sessionmaker

from vgi.service.documents import DOCUMENT_KINDS, DocumentKind, matches
from vgi.service.store.models import Document

# document field -> indexed column
INDEXED_FIELDS: dict[str, str] = {
    "programID": "program_id",
    "eventID": "event_id",
    "venID": "ven_id",
    "clientName": "client_name",
}


def _check_kind(kind: str) -> None:
    if kind not in DOCUMENT_KINDS:
        raise KeyError(f"unknown document kind {kind!r}; expected one of {', '.join(DOCUMENT_KINDS)}")


def _indexed(document: Mapping[str, Any]) -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for field, column in INDEXED_FIELDS.items():
        value = document.get(field)
        out[column] = value if isinstance(value, str) else None
    return out


class SqlDocumentStore:
    """A :class:`~vgi.service.documents.DocumentStore` in the store's database. Thread-safe like the store."""

    def __init__(self, engine: Engine) -> None:
        self._sessions = sessionmaker(engine, expire_on_commit=False)

    def add(self, kind: DocumentKind, document: Mapping[str, Any]) -> None:
        """Add a document; :class:`KeyError` when one of this kind with this ``id`` is there already."""
        _check_kind(kind)
        object_id = str(document["id"])
        now = datetime.now(UTC)
        try:
            with self._sessions() as session, session.begin():
                session.add(Document(kind=kind, object_id=object_id, document=copy.deepcopy(dict(document)),
                                     created_at=now, modified_at=now, **_indexed(document)))
        except IntegrityError:
            raise KeyError(f"{kind} {object_id!r} already exists") from None

    def get(self, kind: DocumentKind, object_id: str) -> dict[str, Any] | None:
        _check_kind(kind)
        with self._sessions() as session:
            found = session.scalar(select(Document.document).where(Document.kind == kind,
                                                                    Document.object_id == object_id))
            return dict(found) if found is not None else None

    def list(
        self,
        kind: DocumentKind,
        filters: Mapping[str, Any] | None = None,
        skip: int = 0,
        limit: int | None = None,
    ) -> list[dict[str, Any]]:
        _check_kind(kind)
        query = select(Document.document).where(Document.kind == kind).order_by(Document.seq)
        in_python: dict[str, Any] = {}
        for field, value in (filters or {}).items():
            column = INDEXED_FIELDS.get(field)
            if column is not None and isinstance(value, str):
                query = query.where(getattr(Document, column) == value)
            else:
                in_python[field] = value
        if not in_python:
            if skip:
                query = query.offset(skip)
            if limit is not None:
                query = query.limit(limit)
        with self._sessions() as session:
            documents = [dict(d) for d in session.scalars(query)]
        if in_python:
            documents = [d for d in documents if matches(d, in_python)]
            documents = documents[skip:] if limit is None else documents[skip : skip + limit]
        return documents

    def replace(self, kind: DocumentKind, document: Mapping[str, Any]) -> bool:
        """Replace the document with this ``id``; False (nothing stored) when there is none."""
        _check_kind(kind)
        object_id = str(document["id"])
        with self._sessions() as session, session.begin():
            row = session.scalars(select(Document).where(Document.kind == kind, Document.object_id == object_id)
                                  .with_for_update()).first()
            if row is None:
                return False
            row.document = copy.deepcopy(dict(document))
            row.modified_at = datetime.now(UTC)
            for column, value in _indexed(document).items():
                setattr(row, column, value)
            return True

    def delete(self, kind: DocumentKind, object_id: str) -> dict[str, Any] | None:
        """Remove a document and return it (``None`` when there was none)."""
        _check_kind(kind)
        with self._sessions() as session, session.begin():
            row = session.scalars(select(Document).where(Document.kind == kind, Document.object_id == object_id)
                                  .with_for_update()).first()
            if row is None:
                return None
            found = dict(row.document)
            session.delete(row)
            return found
