"""OAuth2 client credentials for the VTN: configured clients, scopes per role, signed bearer tokens.

Clients come from a list (:class:`ClientConfig`: client_id, secret, role, VEN name). A token is
``base64url(claims).base64url(HMAC-SHA256(claims))`` signed with the VTN's key, so any process holding the key
checks it without shared state, and tokens survive a restart. Claims: client id, role, granted scopes, expiry.

Scopes (spec names): a business-logic client (``BL``) may have ``read_all``, ``write_programs``,
``write_events``, ``write_subscriptions`` and ``write_vens``; a ``VEN`` client ``read_targets``,
``read_ven_objects``, ``write_reports``, ``write_subscriptions`` and ``write_vens`` (its own VEN and resources).
Asking for no scope grants all of the role's; asking for one the role does not have is refused.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Literal

from vgi.errors import VgiError

__all__ = ["ROLE_SCOPES", "ClientConfig", "TokenClaims", "TokenError", "TokenIssuer"]

Role = Literal["BL", "VEN"]

ROLE_SCOPES: dict[str, frozenset[str]] = {
    "BL": frozenset({"read_all", "write_programs", "write_events", "write_subscriptions", "write_vens"}),
    "VEN": frozenset({"read_targets", "read_ven_objects", "write_reports", "write_subscriptions", "write_vens"}),
}


@dataclass(frozen=True)
class ClientConfig:
    """One OAuth2 client of the VTN.

    Attributes:
        client_id: the OAuth2 client id (also the ``clientID`` stamped on the objects it creates).
        secret: its client secret.
        role: ``BL`` (business logic: the utility or pilot operator) or ``VEN``.
        ven_name: for a VEN client, the venName it may register (None: any one name).
    """

    client_id: str
    secret: str
    role: Role
    ven_name: str | None = None

    def __post_init__(self) -> None:
        if not self.client_id or not self.secret:
            raise VgiError("OpenADR client: client_id and secret must not be empty")
        if self.role not in ROLE_SCOPES:
            raise VgiError(f"OpenADR client {self.client_id!r}: role {self.role!r} is not BL or VEN")

    @classmethod
    def from_mapping(cls, row: Mapping[str, object], where: str = "client") -> ClientConfig:
        """A client from a config mapping with keys client_id, secret, role and optional ven_name."""
        missing = [k for k in ("client_id", "secret", "role") if not row.get(k)]
        if missing:
            raise VgiError(f"{where}: missing {', '.join(missing)}")
        unknown = set(row) - {"client_id", "secret", "role", "ven_name"}
        if unknown:
            raise VgiError(f"{where}: unknown field(s) {', '.join(sorted(unknown))}")
        role = str(row["role"]).upper()
        if role not in ROLE_SCOPES:
            raise VgiError(f"{where}: role {row['role']!r} is not BL or VEN")
        ven = row.get("ven_name")
        return cls(str(row["client_id"]), str(row["secret"]), role, None if ven is None else str(ven))  # type: ignore[arg-type]


@dataclass(frozen=True)
class TokenClaims:
    """What a valid token says: who, in which role, with which scopes, until when (UTC seconds)."""

    client_id: str
    role: Role
    scopes: frozenset[str]
    expires_s: float


class TokenError(Exception):
    """A token request or a bearer token that is refused; ``error`` is the RFC 6749 error code."""

    def __init__(self, error: str, description: str, status: int = 400) -> None:
        super().__init__(description)
        self.error = error
        self.description = description
        self.status = status


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class TokenIssuer:
    """Checks client credentials and issues and verifies signed bearer tokens."""

    def __init__(self, clients: Iterable[ClientConfig], key: bytes | None = None, lifetime_s: int = 3600) -> None:
        self.clients: dict[str, ClientConfig] = {}
        for client in clients:
            if client.client_id in self.clients:
                raise VgiError(f"OpenADR client {client.client_id!r} is configured twice")
            self.clients[client.client_id] = client
        self.key = key if key is not None else secrets.token_bytes(32)
        self.lifetime_s = int(lifetime_s)

    def issue(self, client_id: str, client_secret: str, scope: str | None, now_s: float) -> tuple[str, TokenClaims]:
        """A token for a client whose secret matches; raises :class:`TokenError` (invalid_client, invalid_scope)."""
        client = self.clients.get(client_id)
        if client is None or not hmac.compare_digest(client.secret.encode(), client_secret.encode()):
            raise TokenError("invalid_client", "unknown client or wrong secret", 401)
        allowed = ROLE_SCOPES[client.role]
        asked = frozenset(scope.split()) if scope else frozenset()
        if asked - allowed:
            raise TokenError(
                "invalid_scope", f"scope(s) {', '.join(sorted(asked - allowed))} not allowed for a {client.role} client"
            )
        claims = TokenClaims(client.client_id, client.role, asked or allowed, now_s + self.lifetime_s)
        body = json.dumps(
            {"sub": claims.client_id, "role": claims.role, "scp": sorted(claims.scopes), "exp": claims.expires_s},
            separators=(",", ":"),
        ).encode()
        signature = hmac.new(self.key, body, hashlib.sha256).digest()
        return f"{_b64(body)}.{_b64(signature)}", claims

    def verify(self, token: str, now_s: float) -> TokenClaims:
        """The claims of a valid, unexpired token of a still-configured client; else :class:`TokenError`."""
        try:
            body_text, signature_text = token.split(".")
            body = _unb64(body_text)
            signature = _unb64(signature_text)
        except (ValueError, TypeError) as exc:
            raise TokenError("invalid_token", "malformed bearer token", 401) from exc
        if not hmac.compare_digest(hmac.new(self.key, body, hashlib.sha256).digest(), signature):
            raise TokenError("invalid_token", "bearer token signature does not match", 401)
        data = json.loads(body)
        if float(data["exp"]) <= now_s:
            raise TokenError("invalid_token", "bearer token has expired", 401)
        client = self.clients.get(str(data["sub"]))
        if client is None or client.role != data["role"]:
            raise TokenError("invalid_token", "bearer token's client is no longer configured", 401)
        return TokenClaims(client.client_id, client.role, frozenset(data["scp"]), float(data["exp"]))
