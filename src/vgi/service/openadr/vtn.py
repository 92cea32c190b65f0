"""An OpenADR 3 VTN (server) as a FastAPI app: 3.0.1 and 3.1.0 on one set of routes.

How one server serves both versions:

- Paths are the union. ``/programs``, ``/events``, ``/reports``, ``/subscriptions``, ``/vens`` exist in both;
  resources are served both as ``/vens/{venID}/resources[/{resourceID}]`` (3.0.1) and as
  ``/resources[/{resourceID}]`` with ``venID`` in the body or query (3.1.0), over the same stored objects.
  ``/auth/server`` (3.1.0 token discovery), ``/auth/token`` (both) and ``/notifiers`` (3.1.0, WEBHOOK only).
- Bodies are read with the models of :mod:`vgi.service.openadr.models`, which accept both versions' fields;
  objects are stored and answered as sent (``null`` fields left out) plus what the VTN assigns: ``id``,
  ``createdDateTime``, ``modificationDateTime``, ``objectType`` (PROGRAM, EVENT, ...) and ``clientID`` on
  reports, subscriptions, VENs and resources (3.1.0 clients require it; 3.0.1 clients ignore it).
- Target filters: 3.1.0 ``targets=a&targets=b`` (every one must be among the object's targets, string targets or
  the values of 3.0.1 valuesMap targets); 3.0.1 ``targetType`` + ``targetValues`` (the object has a target of
  that type holding every value). Targets filter searches; they do not hide objects from a VEN.
- Subscriptions name operations either way (3.1.0 CREATE/UPDATE/DELETE, 3.0.1 POST/PUT/DELETE); a
  notification names the operation in the words the subscription used.

Access: every endpoint but ``/auth/*`` needs a bearer token from ``/auth/token``. A business-logic client reads
everything and writes programs, events, subscriptions, VENs and resources; a VEN reads programs and events, and
only its own reports, subscriptions, VEN and resources (``clientID`` equal to its client id), and writes those.
Errors are the spec's problem objects (``type``, ``title``, ``status``, ``detail``).

Persistence is only through a :class:`~vgi.service.documents.DocumentStore`. Webhook callbacks run after the
answer is sent (a failed callback is logged, never retried).
"""

from __future__ import annotations

import base64
import binascii
import logging
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import parse_qs, unquote

import httpx
from fastapi import BackgroundTasks, Body, Depends, FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from vgi.service.documents import DocumentKind, DocumentStore
from vgi.service.openadr.auth import ClientConfig, TokenClaims, TokenError, TokenIssuer
from vgi.service.openadr.models import Event, Program, Report, Resource, Subscription, Ven, to_wire
from vgi.service.openadr.timing import event_end_s, format_datetime

__all__ = ["MAX_LIMIT", "Notifier", "create_vtn_app", "http_notifier"]

log = logging.getLogger(__name__)

#: Most objects one search answers (the spec's ``limit`` maximum).
MAX_LIMIT = 50

#: Sends one notification: (callback URL, notification JSON, bearer token or None).
Notifier = Callable[[str, dict[str, Any], str | None], None]

_OBJECT_TYPE: dict[str, str] = {
    "program": "PROGRAM", "event": "EVENT", "report": "REPORT",
    "subscription": "SUBSCRIPTION", "ven": "VEN", "resource": "RESOURCE",
}
_MODEL: dict[str, type[BaseModel]] = {
    "program": Program, "event": Event, "report": Report,
    "subscription": Subscription, "ven": Ven, "resource": Resource,
}
_WRITE_SCOPE = {
    "program": "write_programs", "event": "write_events", "report": "write_reports",
    "subscription": "write_subscriptions", "ven": "write_vens", "resource": "write_vens",
}
_READ_SCOPES = {
    "program": {"read_all", "read_targets"}, "event": {"read_all", "read_targets"},
    "report": {"read_all", "read_ven_objects"}, "subscription": {"read_all", "read_ven_objects"},
    "ven": {"read_all", "read_ven_objects"}, "resource": {"read_all", "read_ven_objects"},
}
#: A repeatable query parameter (``targets=a&targets=b``); None when absent.
ListQuery = Annotated[list[str] | None, Query()]

#: A request body: any JSON; the models check it (so errors name the spec's fields).
JsonBody = Annotated[Any, Body()]

#: Kinds a VEN sees only when it owns them (their clientID is the VEN's client id).
_OWNED = {"report", "subscription", "ven", "resource"}
_OLD_OPERATION = {"CREATE": "POST", "UPDATE": "PUT", "DELETE": "DELETE", "READ": "GET"}


class ApiProblem(Exception):
    """An error answered as a problem object."""

    def __init__(self, status: int, title: str, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.title = title
        self.detail = detail


def _problem(status: int, title: str, detail: str, headers: Mapping[str, str] | None = None) -> JSONResponse:
    body = {"type": "about:blank", "title": title, "status": status, "detail": detail}
    return JSONResponse(body, status_code=status, headers=dict(headers or {}))


def http_notifier(timeout_s: float = 5.0) -> Notifier:
    """A notifier that POSTs the notification with httpx (bearer token in ``Authorization`` when given)."""

    def send(url: str, notification: dict[str, Any], bearer_token: str | None) -> None:
        headers = {"Authorization": f"Bearer {bearer_token}"} if bearer_token else {}
        try:
            response = httpx.post(url, json=notification, headers=headers, timeout=timeout_s)
            if response.status_code >= 300:
                log.warning("OpenADR callback %s answered %s", url, response.status_code)
        except httpx.HTTPError as exc:
            log.warning("OpenADR callback %s failed: %s", url, exc)

    return send


def _validation_detail(exc: ValidationError | RequestValidationError) -> str:
    parts = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err.get("loc", ()) if p != "body")
        parts.append(f"{where or 'body'}: {err.get('msg', 'invalid')}")
    return "; ".join(parts)


def _target_strings(targets: Any) -> set[str]:
    out: set[str] = set()
    for t in targets or ():
        if isinstance(t, str):
            out.add(t)
        elif isinstance(t, dict):
            out.update(str(v) for v in t.get("values") or ())
    return out


def _targets_match(
    doc: Mapping[str, Any], targets: list[str] | None, target_type: str | None, values: list[str] | None
) -> bool:
    own = doc.get("targets") or []
    if targets and not set(targets) <= _target_strings(own):
        return False
    if target_type:
        maps = [t for t in own if isinstance(t, dict) and t.get("type") == target_type]
        if not maps:
            return False
        have = {str(v) for m in maps for v in m.get("values") or ()}
        if values and not set(values) <= have:
            return False
    return True


@dataclass
class _Vtn:
    store: DocumentStore
    issuer: TokenIssuer
    clock: Callable[[], float]
    notifier: Notifier

    # ---- access -------------------------------------------------------------------------------------------
    def claims(self, request: Request) -> TokenClaims:
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise ApiProblem(401, "Unauthorized", "a bearer token from /auth/token is required")
        try:
            return self.issuer.verify(token.strip(), self.clock())
        except TokenError as exc:
            raise ApiProblem(401, "Unauthorized", exc.description) from exc

    @staticmethod
    def need(claims: TokenClaims, scopes: Iterable[str]) -> None:
        wanted = set(scopes)
        if not wanted & claims.scopes:
            raise ApiProblem(403, "Forbidden", f"needs scope {' or '.join(sorted(wanted))}")

    @staticmethod
    def owns(claims: TokenClaims, kind: str, doc: Mapping[str, Any]) -> bool:
        return claims.role != "VEN" or kind not in _OWNED or doc.get("clientID") == claims.client_id

    def fetch(self, kind: DocumentKind, object_id: str, claims: TokenClaims) -> dict[str, Any]:
        doc = self.store.get(kind, object_id)
        if doc is None:
            raise ApiProblem(404, "Not Found", f"no {kind} with id {object_id!r}")
        if not self.owns(claims, kind, doc):
            raise ApiProblem(403, "Forbidden", f"{kind} {object_id!r} belongs to another client")
        return doc

    # ---- search -------------------------------------------------------------------------------------------
    def search(
        self,
        kind: DocumentKind,
        claims: TokenClaims,
        skip: int,
        limit: int,
        equal: Mapping[str, Any] | None = None,
        keep: Callable[[dict[str, Any]], bool] | None = None,
    ) -> list[dict[str, Any]]:
        self.need(claims, _READ_SCOPES[kind])
        filters = {k: v for k, v in (equal or {}).items() if v is not None}
        if claims.role == "VEN" and kind in _OWNED:
            filters["clientID"] = claims.client_id
        if keep is None:
            return self.store.list(kind, filters, skip, limit)
        return [d for d in self.store.list(kind, filters) if keep(d)][skip : skip + limit]

    # ---- writes -------------------------------------------------------------------------------------------
    def parse(self, kind: str, body: Any) -> BaseModel:
        if not isinstance(body, dict):
            raise ApiProblem(400, "Bad Request", f"the {kind} must be a JSON object")
        try:
            return _MODEL[kind].model_validate(body)
        except ValidationError as exc:
            raise ApiProblem(400, "Bad Request", f"{kind}: {_validation_detail(exc)}") from exc

    def unique(self, kind: DocumentKind, field: str, value: Any, self_id: str | None, scope: dict[str, Any]) -> None:
        for doc in self.store.list(kind, {field: value, **scope}):
            if doc["id"] != self_id:
                raise ApiProblem(409, "Conflict", f"a {kind} with {field} {value!r} exists (id {doc['id']!r})")

    def prepare(
        self, kind: DocumentKind, model: BaseModel, claims: TokenClaims, existing: dict[str, Any] | None,
        path_ven_id: str | None = None,
    ) -> dict[str, Any]:
        """Kind-specific checks; the document to store, without the VTN's metadata."""
        doc = to_wire(model)
        for key in ("id", "createdDateTime", "modificationDateTime", "objectType"):
            doc.pop(key, None)
        self_id = existing["id"] if existing else None
        if kind == "program":
            self.unique("program", "programName", doc["programName"], self_id, {})
        elif kind == "event":
            if self.store.get("program", doc["programID"]) is None:
                raise ApiProblem(409, "Conflict", f"event names programID {doc['programID']!r}, which does not exist")
        elif kind == "report":
            event = self.store.get("event", doc["eventID"])
            if event is None:
                raise ApiProblem(409, "Conflict", f"report names eventID {doc['eventID']!r}, which does not exist")
            if doc.get("programID") not in (None, event["programID"]):
                raise ApiProblem(409, "Conflict", f"report's programID is not event {doc['eventID']!r}'s program")
            doc["clientID"] = existing["clientID"] if existing else claims.client_id
        elif kind == "subscription":
            if doc.get("programID") and self.store.get("program", doc["programID"]) is None:
                raise ApiProblem(409, "Conflict", f"subscription's programID {doc['programID']!r} does not exist")
            doc["clientID"] = existing["clientID"] if existing else claims.client_id
        elif kind == "ven":
            self.prepare_ven(doc, claims, existing)
        elif kind == "resource":
            self.prepare_resource(doc, claims, existing, path_ven_id)
        return doc

    def prepare_ven(self, doc: dict[str, Any], claims: TokenClaims, existing: dict[str, Any] | None) -> None:
        if doc.pop("resources", None):
            raise ApiProblem(400, "Bad Request", "create a VEN's resources through /resources or /vens/{id}/resources")
        doc.pop("objectType", None)
        if claims.role == "VEN":
            configured = self.issuer.clients[claims.client_id].ven_name
            if configured is not None and doc["venName"] != configured:
                raise ApiProblem(403, "Forbidden", f"client {claims.client_id!r} may only register VEN {configured!r}")
            if doc.get("targets"):
                raise ApiProblem(403, "Forbidden", "a VEN cannot set its own targets")
            if existing is not None and existing.get("targets"):
                doc["targets"] = existing["targets"]
            if doc.get("clientID") not in (None, claims.client_id):
                raise ApiProblem(403, "Forbidden", "a VEN cannot register a VEN for another client")
            doc["clientID"] = claims.client_id
        elif not doc.get("clientID"):
            clients = self.issuer.clients.values()
            named = [c.client_id for c in clients if c.role == "VEN" and c.ven_name == doc["venName"]]
            if existing is not None and existing.get("clientID"):
                doc["clientID"] = existing["clientID"]
            elif len(named) == 1:
                doc["clientID"] = named[0]
        self.unique("ven", "venName", doc["venName"], existing["id"] if existing else None, {})

    def prepare_resource(
        self, doc: dict[str, Any], claims: TokenClaims, existing: dict[str, Any] | None, path_ven_id: str | None
    ) -> None:
        ven_id = path_ven_id or doc.get("venID") or (existing or {}).get("venID")
        if not ven_id:
            raise ApiProblem(400, "Bad Request", "resource: venID is required")
        if path_ven_id and doc.get("venID") not in (None, path_ven_id):
            raise ApiProblem(400, "Bad Request", f"resource venID {doc['venID']!r} is not the path's {path_ven_id!r}")
        ven = self.store.get("ven", ven_id)
        if ven is None:
            raise ApiProblem(404 if path_ven_id else 409, "Not Found" if path_ven_id else "Conflict",
                             f"no VEN with id {ven_id!r}")
        if claims.role == "VEN":
            if ven.get("clientID") != claims.client_id:
                raise ApiProblem(403, "Forbidden", f"VEN {ven_id!r} belongs to another client")
            if doc.get("targets"):
                raise ApiProblem(403, "Forbidden", "a VEN cannot set its resources' targets")
            if existing is not None and existing.get("targets"):
                doc["targets"] = existing["targets"]
        doc.pop("objectType", None)
        doc["venID"] = ven_id
        owner = ven.get("clientID") or doc.get("clientID")
        if owner:
            doc["clientID"] = owner
        self.unique("resource", "resourceName", doc["resourceName"], existing["id"] if existing else None,
                    {"venID": ven_id})

    def stamp(self, kind: DocumentKind, doc: dict[str, Any], existing: dict[str, Any] | None) -> dict[str, Any]:
        now = format_datetime(self.clock())
        head = {
            "id": existing["id"] if existing else uuid.uuid4().hex,
            "createdDateTime": existing["createdDateTime"] if existing else now,
            "modificationDateTime": now,
            "objectType": _OBJECT_TYPE[kind],
        }
        return {**head, **doc}

    def create(self, kind: DocumentKind, body: Any, claims: TokenClaims, tasks: BackgroundTasks,
               path_ven_id: str | None = None) -> JSONResponse:
        self.need(claims, {_WRITE_SCOPE[kind]})
        doc = self.stamp(kind, self.prepare(kind, self.parse(kind, body), claims, None, path_ven_id), None)
        self.store.add(kind, doc)
        self.notify(kind, "CREATE", doc, tasks)
        return JSONResponse(doc, status_code=201)

    def update(self, kind: DocumentKind, object_id: str, body: Any, claims: TokenClaims, tasks: BackgroundTasks,
               path_ven_id: str | None = None) -> dict[str, Any]:
        self.need(claims, {_WRITE_SCOPE[kind]})
        existing = self.fetch(kind, object_id, claims)
        if path_ven_id is not None and existing.get("venID") != path_ven_id:
            raise ApiProblem(404, "Not Found", f"VEN {path_ven_id!r} has no resource {object_id!r}")
        doc = self.stamp(kind, self.prepare(kind, self.parse(kind, body), claims, existing, path_ven_id), existing)
        if not self.store.replace(kind, doc):
            raise ApiProblem(404, "Not Found", f"no {kind} with id {object_id!r}")
        self.notify(kind, "UPDATE", doc, tasks)
        return doc

    def delete(self, kind: DocumentKind, object_id: str, claims: TokenClaims, tasks: BackgroundTasks,
               path_ven_id: str | None = None) -> dict[str, Any]:
        self.need(claims, {_WRITE_SCOPE[kind]})
        existing = self.fetch(kind, object_id, claims)
        if path_ven_id is not None and existing.get("venID") != path_ven_id:
            raise ApiProblem(404, "Not Found", f"VEN {path_ven_id!r} has no resource {object_id!r}")
        if kind == "ven" and self.store.list("resource", {"venID": object_id}, 0, 1):
            raise ApiProblem(409, "Conflict", f"VEN {object_id!r} still has resources; delete them first")
        deleted = self.store.delete(kind, object_id)
        if deleted is None:
            raise ApiProblem(404, "Not Found", f"no {kind} with id {object_id!r}")
        self.notify(kind, "DELETE", deleted, tasks)
        return deleted

    # ---- notifications ------------------------------------------------------------------------------------
    def program_of(self, kind: str, doc: Mapping[str, Any]) -> str | None:
        if kind == "program":
            return str(doc["id"])
        if kind == "event":
            return str(doc["programID"])
        if kind == "report":
            if doc.get("programID"):
                return str(doc["programID"])
            event = self.store.get("event", str(doc["eventID"]))
            return None if event is None else str(event["programID"])
        return None

    def notify(self, kind: str, operation: str, doc: dict[str, Any], tasks: BackgroundTasks) -> None:
        object_type = _OBJECT_TYPE[kind]
        program = self.program_of(kind, doc)
        for sub in self.store.list("subscription"):
            if sub.get("programID") and sub["programID"] != program:
                continue
            subscriber = self.issuer.clients.get(str(sub.get("clientID")))
            if (subscriber is None or subscriber.role == "VEN") and kind in _OWNED and (
                doc.get("clientID") != sub.get("clientID")
            ):
                continue
            for op in sub.get("objectOperations") or ():
                if object_type not in op.get("objects", ()):
                    continue
                names = set(op.get("operations", ()))
                said = operation if operation in names else _OLD_OPERATION[operation]
                if said not in names:
                    continue
                notification = {"objectType": object_type, "operation": said, "object": doc}
                if doc.get("targets"):
                    notification["targets"] = doc["targets"]
                tasks.add_task(self.notifier, op["callbackUrl"], notification, op.get("bearerToken"))


def create_vtn_app(
    store: DocumentStore,
    clients: Iterable[ClientConfig],
    key: bytes | None = None,
    token_lifetime_s: int = 3600,
    clock: Callable[[], float] = time.time,
    notifier: Notifier | None = None,
    *,
    api_docs: bool = True,
) -> FastAPI:
    """A VTN app over ``store`` for the configured ``clients``.

    ``key`` signs bearer tokens (give the same key to every process of one VTN; None: a random key, tokens then
    die with the process); ``clock`` gives UTC seconds (tests pass a fixed one); ``notifier`` sends webhook
    callbacks (default :func:`http_notifier`). Mount it under a prefix with ``parent.mount("/openadr", app)``.
    ``api_docs=False`` leaves out FastAPI's ``/docs``, ``/redoc`` and ``/openapi.json`` (unauthenticated pages).
    """
    vtn = _Vtn(store, TokenIssuer(clients, key, token_lifetime_s), clock, notifier or http_notifier())
    docs: dict[str, Any] = {} if api_docs else {"docs_url": None, "redoc_url": None, "openapi_url": None}
    app = FastAPI(title="vgi OpenADR 3 VTN", version="3.1.0", **docs)

    def _logged(request: Request, status: int, title: str, detail: str) -> None:
        log.warning("OpenADR %s %s answered %d %s: %s", request.method, request.url.path, status, title, detail)

    @app.exception_handler(ApiProblem)
    async def _api_problem(request: Request, exc: ApiProblem) -> JSONResponse:
        _logged(request, exc.status, exc.title, exc.detail)
        headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
        return _problem(exc.status, exc.title, exc.detail, headers)

    @app.exception_handler(RequestValidationError)
    async def _bad_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        detail = _validation_detail(exc)
        _logged(request, 400, "Bad Request", detail)
        return _problem(400, "Bad Request", detail)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        _logged(request, exc.status_code, str(exc.detail), f"{exc.detail}")
        return _problem(exc.status_code, str(exc.detail), f"{exc.detail}")

    claims_dep = Depends(vtn.claims)
    skip_q = Query(0, ge=0)
    limit_q = Query(MAX_LIMIT, ge=0, le=MAX_LIMIT)

    # ---- auth ---------------------------------------------------------------------------------------------
    @app.get("/auth/server")
    def auth_server(request: Request) -> dict[str, str]:
        return {"tokenURL": str(request.url_for("fetch_token"))}

    @app.post("/auth/token", name="fetch_token")
    async def fetch_token(request: Request) -> JSONResponse:
        form = {k: v[0] for k, v in parse_qs((await request.body()).decode("utf-8", "replace")).items()}
        client_id, client_secret = form.get("client_id"), form.get("client_secret")
        scheme, _, encoded = request.headers.get("authorization", "").partition(" ")
        no_store = {"Cache-Control": "no-store"}
        if scheme.lower() == "basic":
            try:
                user, _, password = base64.b64decode(encoded.strip(), validate=True).decode("utf-8").partition(":")
            except (binascii.Error, UnicodeDecodeError):
                return JSONResponse({"error": "invalid_request", "error_description": "malformed Basic credentials"},
                                    400, headers=no_store)
            client_id, client_secret = unquote(user), unquote(password)
        if form.get("grant_type") != "client_credentials":
            return JSONResponse({"error": "unsupported_grant_type",
                                 "error_description": "grant_type must be client_credentials"}, 400, headers=no_store)
        if not client_id or not client_secret:
            return JSONResponse({"error": "invalid_request",
                                 "error_description": "client_id and client_secret are required (form or Basic)"},
                                400, headers=no_store)
        try:
            token, claims = vtn.issuer.issue(client_id, client_secret, form.get("scope"), vtn.clock())
        except TokenError as exc:
            headers = {**no_store, **({"WWW-Authenticate": "Basic"} if exc.status == 401 else {})}
            return JSONResponse({"error": exc.error, "error_description": exc.description}, exc.status,
                                headers=headers)
        return JSONResponse(
            {"access_token": token, "token_type": "Bearer", "expires_in": vtn.issuer.lifetime_s,
             "scope": " ".join(sorted(claims.scopes))},
            headers=no_store,
        )

    @app.get("/notifiers")
    def notifiers(claims: TokenClaims = claims_dep) -> dict[str, Any]:
        return {"WEBHOOK": True}

    # ---- programs -----------------------------------------------------------------------------------------
    @app.get("/programs")
    def search_programs(
        claims: TokenClaims = claims_dep, skip: int = skip_q, limit: int = limit_q,
        targets: ListQuery = None, targetType: str | None = None, targetValues: ListQuery = None,
    ) -> list[dict[str, Any]]:
        keep = None
        if targets or targetType:
            def keep(d: dict[str, Any]) -> bool:
                return _targets_match(d, targets, targetType, targetValues)
        return vtn.search("program", claims, skip, limit, keep=keep)

    # ---- events -------------------------------------------------------------------------------------------
    @app.get("/events")
    def search_events(
        claims: TokenClaims = claims_dep, skip: int = skip_q, limit: int = limit_q,
        programID: str | None = None, targets: ListQuery = None, targetType: str | None = None,
        targetValues: ListQuery = None, active: bool | None = None,
    ) -> list[dict[str, Any]]:
        now = vtn.clock()

        def keep(d: dict[str, Any]) -> bool:
            if (targets or targetType) and not _targets_match(d, targets, targetType, targetValues):
                return False
            if active is not None:
                is_active = event_end_s(Event.model_validate(d), now) > now
                return is_active == active
            return True

        filtering = bool(targets or targetType or active is not None)
        return vtn.search("event", claims, skip, limit, {"programID": programID}, keep if filtering else None)

    # ---- reports ------------------------------------------------------------------------------------------
    @app.get("/reports")
    def search_reports(
        claims: TokenClaims = claims_dep, skip: int = skip_q, limit: int = limit_q,
        programID: str | None = None, eventID: str | None = None, clientName: str | None = None,
    ) -> list[dict[str, Any]]:
        keep = None
        if programID is not None:
            def keep(d: dict[str, Any]) -> bool:
                return vtn.program_of("report", d) == programID
        return vtn.search("report", claims, skip, limit, {"eventID": eventID, "clientName": clientName}, keep)

    # ---- subscriptions ------------------------------------------------------------------------------------
    @app.get("/subscriptions")
    def search_subscriptions(
        claims: TokenClaims = claims_dep, skip: int = skip_q, limit: int = limit_q,
        programID: str | None = None, clientName: str | None = None, objects: ListQuery = None,
        targetType: str | None = None, targetValues: ListQuery = None,
    ) -> list[dict[str, Any]]:
        def keep(d: dict[str, Any]) -> bool:
            if targetType and not _targets_match(d, [], targetType, targetValues):
                return False
            if objects:
                listed = {o for op in d.get("objectOperations") or () for o in op.get("objects", ())}
                return bool(listed & set(objects))
            return True

        filtering = bool(objects or targetType)
        return vtn.search("subscription", claims, skip, limit, {"programID": programID, "clientName": clientName},
                          keep if filtering else None)

    # ---- vens ---------------------------------------------------------------------------------------------
    @app.get("/vens")
    def search_vens(
        claims: TokenClaims = claims_dep, skip: int = skip_q, limit: int = limit_q,
        venName: str | None = None, targets: ListQuery = None, targetType: str | None = None,
        targetValues: ListQuery = None,
    ) -> list[dict[str, Any]]:
        keep = None
        if targets or targetType:
            def keep(d: dict[str, Any]) -> bool:
                return _targets_match(d, targets, targetType, targetValues)
        return vtn.search("ven", claims, skip, limit, {"venName": venName}, keep)

    # ---- resources (3.1.0 /resources and 3.0.1 /vens/{venID}/resources) -----------------------------------
    def search_resources_of(
        claims: TokenClaims, skip: int, limit: int, venID: str | None, resourceName: str | None,
        targets: list[str] | None, targetType: str | None, targetValues: list[str] | None,
    ) -> list[dict[str, Any]]:
        keep = None
        if targets or targetType:
            def keep(d: dict[str, Any]) -> bool:
                return _targets_match(d, targets, targetType, targetValues)
        return vtn.search("resource", claims, skip, limit, {"venID": venID, "resourceName": resourceName}, keep)

    @app.get("/resources")
    def search_resources(
        claims: TokenClaims = claims_dep, skip: int = skip_q, limit: int = limit_q,
        venID: str | None = None, resourceName: str | None = None, targets: ListQuery = None,
        targetType: str | None = None, targetValues: ListQuery = None,
    ) -> list[dict[str, Any]]:
        return search_resources_of(claims, skip, limit, venID, resourceName, targets, targetType, targetValues)

    @app.get("/vens/{venID}/resources")
    def search_ven_resources(
        venID: str, claims: TokenClaims = claims_dep, skip: int = skip_q, limit: int = limit_q,
        resourceName: str | None = None, targets: ListQuery = None,
        targetType: str | None = None, targetValues: ListQuery = None,
    ) -> list[dict[str, Any]]:
        vtn.fetch("ven", venID, claims)
        return search_resources_of(claims, skip, limit, venID, resourceName, targets, targetType, targetValues)

    @app.post("/vens/{venID}/resources", status_code=201)
    def create_ven_resource(venID: str, body: JsonBody, tasks: BackgroundTasks,
                            claims: TokenClaims = claims_dep) -> JSONResponse:
        return vtn.create("resource", body, claims, tasks, path_ven_id=venID)

    @app.get("/vens/{venID}/resources/{resourceID}")
    def get_ven_resource(venID: str, resourceID: str, claims: TokenClaims = claims_dep) -> dict[str, Any]:
        vtn.need(claims, _READ_SCOPES["resource"])
        doc = vtn.fetch("resource", resourceID, claims)
        if doc.get("venID") != venID:
            raise ApiProblem(404, "Not Found", f"VEN {venID!r} has no resource {resourceID!r}")
        return doc

    @app.put("/vens/{venID}/resources/{resourceID}")
    def update_ven_resource(venID: str, resourceID: str, body: JsonBody, tasks: BackgroundTasks,
                            claims: TokenClaims = claims_dep) -> dict[str, Any]:
        return vtn.update("resource", resourceID, body, claims, tasks, path_ven_id=venID)

    @app.delete("/vens/{venID}/resources/{resourceID}")
    def delete_ven_resource(venID: str, resourceID: str, tasks: BackgroundTasks,
                            claims: TokenClaims = claims_dep) -> dict[str, Any]:
        return vtn.delete("resource", resourceID, claims, tasks, path_ven_id=venID)

    # ---- create / get / update / delete by id, for every kind ---------------------------------------------
    paths: dict[DocumentKind, str] = {
        "program": "/programs", "event": "/events", "report": "/reports",
        "subscription": "/subscriptions", "ven": "/vens", "resource": "/resources",
    }
    for kind, base in paths.items():
        _add_crud(app, vtn, kind, base, claims_dep)
    return app


def _add_crud(app: FastAPI, vtn: _Vtn, kind: DocumentKind, base: str, claims_dep: Any,
              ) -> None:
    # Plain (not async) handlers: FastAPI runs them in its thread pool, so a store doing blocking I/O (SQL) does
    # not stall the event loop.
    def create(body: JsonBody, tasks: BackgroundTasks, claims: TokenClaims = claims_dep) -> JSONResponse:
        return vtn.create(kind, body, claims, tasks)

    def get_one(object_id: str, claims: TokenClaims = claims_dep) -> dict[str, Any]:
        vtn.need(claims, _READ_SCOPES[kind])
        return vtn.fetch(kind, object_id, claims)

    def update(object_id: str, body: JsonBody, tasks: BackgroundTasks,
               claims: TokenClaims = claims_dep) -> dict[str, Any]:
        return vtn.update(kind, object_id, body, claims, tasks)

    def delete(object_id: str, tasks: BackgroundTasks, claims: TokenClaims = claims_dep) -> dict[str, Any]:
        return vtn.delete(kind, object_id, claims, tasks)

    item = f"{base}/{{object_id}}"
    app.add_api_route(base, create, methods=["POST"], status_code=201, name=f"create_{kind}")
    app.add_api_route(item, get_one, methods=["GET"], name=f"get_{kind}")
    app.add_api_route(item, update, methods=["PUT"], name=f"update_{kind}")
    app.add_api_route(item, delete, methods=["DELETE"], name=f"delete_{kind}")
