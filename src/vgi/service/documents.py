"""Storage of OpenADR 3 objects as JSON documents, independent of where they are kept.

The VTN keeps programs, events, reports, subscriptions, VENs and resources. Each is a JSON object whose ``id`` the
VTN assigns; the VTN searches them by a few top-level fields (``programID``, ``eventID``, ``venID``,
``clientName``, ...). :class:`DocumentStore` is what the VTN needs of a store; :class:`MemoryDocumentStore` keeps
them in a dict (tests, a throw-away VTN) and the SQL store in :mod:`vgi.service.store` keeps them in a table.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any, Literal, Protocol

DocumentKind = Literal["program", "event", "report", "subscription", "ven", "resource"]
DOCUMENT_KINDS: tuple[DocumentKind, ...] = ("program", "event", "report", "subscription", "ven", "resource")


def matches(document: Mapping[str, Any], filters: Mapping[str, Any] | None) -> bool:
    """True when every filter field of ``filters`` equals the document's top-level field of that name."""
    if not filters:
        return True
    return all(document.get(field) == value for field, value in filters.items())


class DocumentStore(Protocol):
    """What the VTN needs of a store. Documents go in and come out as plain JSON-compatible dicts.

    ``list`` returns documents of one kind in the order they were added, those whose top-level fields equal every
    entry of ``filters``, after skipping ``skip`` and at most ``limit`` of them (``None``: all).
    """

    def add(self, kind: DocumentKind, document: Mapping[str, Any]) -> None: ...

    def get(self, kind: DocumentKind, object_id: str) -> dict[str, Any] | None: ...

    def list(
        self,
        kind: DocumentKind,
        filters: Mapping[str, Any] | None = None,
        skip: int = 0,
        limit: int | None = None,
    ) -> list[dict[str, Any]]: ...

    def replace(self, kind: DocumentKind, document: Mapping[str, Any]) -> bool: ...

    def delete(self, kind: DocumentKind, object_id: str) -> dict[str, Any] | None: ...


class MemoryDocumentStore:
    """A :class:`DocumentStore` in memory: documents are copied in and out, so callers cannot change them."""

    def __init__(self) -> None:
        self._documents: dict[str, dict[str, dict[str, Any]]] = {kind: {} for kind in DOCUMENT_KINDS}

    def add(self, kind: DocumentKind, document: Mapping[str, Any]) -> None:
        object_id = str(document["id"])
        if object_id in self._documents[kind]:
            raise KeyError(f"{kind} {object_id!r} already exists")
        self._documents[kind][object_id] = copy.deepcopy(dict(document))

    def get(self, kind: DocumentKind, object_id: str) -> dict[str, Any] | None:
        found = self._documents[kind].get(object_id)
        return copy.deepcopy(found) if found is not None else None

    def list(
        self,
        kind: DocumentKind,
        filters: Mapping[str, Any] | None = None,
        skip: int = 0,
        limit: int | None = None,
    ) -> list[dict[str, Any]]:
        chosen = [d for d in self._documents[kind].values() if matches(d, filters)]
        chosen = chosen[skip:] if limit is None else chosen[skip : skip + limit]
        return copy.deepcopy(chosen)

    def replace(self, kind: DocumentKind, document: Mapping[str, Any]) -> bool:
        object_id = str(document["id"])
        if object_id not in self._documents[kind]:
            return False
        self._documents[kind][object_id] = copy.deepcopy(dict(document))
        return True

    def delete(self, kind: DocumentKind, object_id: str) -> dict[str, Any] | None:
        return self._documents[kind].pop(object_id, None)
