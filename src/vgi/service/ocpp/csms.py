"""The OCPP CSMS: a websocket server for charge points speaking OCPP 1.6J, 2.0.1 or 2.1.

The thin shell around :mod:`vgi.service.ocpp.profiles` and :mod:`vgi.service.ocpp.meter`: it authenticates each
charge point at the handshake (security profile 1, HTTP Basic, the username being the charge point id at the end
of the URL path), negotiates the subprotocol, validates every message against the schemas the ``ocpp`` package
ships, answers the charge point's requests through a :class:`~vgi.service.ocpp.models.CsmsBackend`, and sends
SetChargingProfile, ClearChargingProfile and GetCompositeSchedule on the service's behalf.

Errors are answered with the version's CALLERROR (1.6 spells FormationViolation and OccurenceConstraintViolation,
2.x FormatViolation and OccurrenceConstraintViolation), logged, and the connection kept.  A charge point that
reconnects replaces its old connection; calls waiting on the old one fail with :class:`ChargePointDisconnected`.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import copy
import json
import logging
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from http import HTTPStatus
from typing import Any
from urllib.parse import unquote

from ocpp import exceptions as ocpp_exc
from ocpp.messages import Call, CallResult, get_validator, validate_payload
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from vgi.service.ocpp.meter import SampleError, parse_time, register_wh, samples_from_meter_values
from vgi.service.ocpp.models import (
    SUBPROTOCOLS,
    BootInfo,
    CsmsBackend,
    MeterSample,
    StatusInfo,
    TransactionEnded,
    TransactionStarted,
    TransactionUpdated,
)
from vgi.service.ocpp.profiles import (
    Discharge,
    ProfilePayload,
    Purpose,
    SetpointSeries,
    charging_profile,
    composite_to_series,
)

LOGGER = logging.getLogger("vgi.service.ocpp")
_MAX_ID_CHARS = 48  # OCPP 2.x identity length limit; 1.6 chargeBoxIdentity is shorter still


class OcppCallError(Exception):
    """A call the CSMS sent to a charge point did not succeed."""


class ChargePointNotConnected(OcppCallError):
    """The charge point has no open connection."""


class ChargePointDisconnected(OcppCallError):
    """The connection closed (or was replaced by a reconnect) before the charge point answered."""


class CallTimeout(OcppCallError):
    """The charge point did not answer within the timeout."""


class CallErrorReceived(OcppCallError):
    """The charge point answered with a CALLERROR."""

    def __init__(self, code: str, description: str) -> None:
        super().__init__(f"{code}: {description}")
        self.code = code
        self.description = description


class InvalidResponse(OcppCallError):
    """The charge point's CALLRESULT fails the version's schema."""


class Refusal(Exception):
    """Raised by a handler to answer a CALL with a CALLERROR of ``code`` (2.x spelling)."""

    def __init__(self, code: str, description: str) -> None:
        super().__init__(description)
        self.code = code
        self.description = description


def _error_code(version: str, code: str) -> str:
    """The CALLERROR code as this version spells it."""
    if version == "1.6":
        return {
            "FormatViolation": "FormationViolation",
            "OccurrenceConstraintViolation": "OccurenceConstraintViolation",
            "RpcFrameworkError": "FormationViolation",
            "MessageTypeNotSupported": "NotSupported",
        }.get(code, code)
    return {
        "FormationViolation": "FormatViolation",
        "OccurenceConstraintViolation": "OccurrenceConstraintViolation",
    }.get(code, code)


@dataclass(frozen=True)
class ProfileResult:
    """The charge point's answer to a SetChargingProfile, with what the translation had to change."""

    status: str  # Accepted, Rejected, NotSupported (1.6)
    profile: ProfilePayload

    @property
    def accepted(self) -> bool:
        return self.status == "Accepted"


@dataclass(frozen=True)
class CompositeSchedule:
    """A GetCompositeSchedule answer: the raw payload and, when Accepted, the schedule in kW per step."""

    status: str
    payload: dict[str, Any]
    series: SetpointSeries | None


class _Session:
    """One websocket connection of one charge point."""

    def __init__(self, csms: Csms, charge_point_id: str, ws: ServerConnection, version: str) -> None:
        self.csms = csms
        self.charge_point_id = charge_point_id
        self.ws = ws
        self.version = version
        self.pending: dict[str, tuple[str, asyncio.Future[Any]]] = {}
        self.call_lock = asyncio.Lock()
        self.calls: asyncio.Queue[tuple[str, str, dict[str, Any]] | None] = asyncio.Queue()
        self.boot_rejected = False
        self.closed = False
        csms._serial += 1
        self.serial = csms._serial  # grows with every connection: a reconnect is a new number

    # ----- incoming frames -----
    async def run(self) -> None:
        """Read frames until the connection closes.

        Responses to the CSMS's own calls are resolved as they arrive; the charge point's CALLs are handled one
        after another by a worker task, so that a handler (the backend) may itself call this charge point and
        get its answer.  CALLs received before a disconnect are still handled (their records kept).
        """
        worker = asyncio.create_task(self._work())
        try:
            async for raw in self.ws:
                await self.on_frame(raw)
        except ConnectionClosed:
            pass
        finally:
            self.fail_pending(ChargePointDisconnected(f"{self.charge_point_id}: connection closed"))
            self.calls.put_nowait(None)
            await worker

    async def _work(self) -> None:
        while (item := await self.calls.get()) is not None:
            await self.on_call(*item)

    def fail_pending(self, exc: OcppCallError) -> None:
        self.closed = True
        for _, fut in self.pending.values():
            if not fut.done():
                fut.set_exception(exc)
        self.pending.clear()

    async def send_error(
        self, unique_id: str, code: str, description: str, details: dict[str, Any] | None = None
    ) -> None:
        code = _error_code(self.version, code)
        LOGGER.warning("%s: CALLERROR %s to message %s: %s", self.charge_point_id, code, unique_id, description)
        frame = [4, unique_id, code, description[:255], details or {}]
        try:
            await self.ws.send(json.dumps(frame, separators=(",", ":")))
        except ConnectionClosed:
            pass

    async def on_frame(self, raw: str | bytes) -> None:
        if isinstance(raw, bytes):
            await self.send_error("-1", "RpcFrameworkError", "binary frames are not OCPP-J")
            return
        try:
            msg = json.loads(raw)
        except ValueError:
            await self.send_error("-1", "RpcFrameworkError", "message is not valid JSON")
            return
        if not isinstance(msg, list) or len(msg) < 3 or not isinstance(msg[1], str):
            await self.send_error("-1", "RpcFrameworkError", "message is not [MessageTypeId, MessageId, ...]")
            return
        kind, unique_id = msg[0], msg[1]
        if kind == 2:
            if len(msg) != 4 or not isinstance(msg[2], str) or not isinstance(msg[3], dict):
                await self.send_error(unique_id, "FormatViolation", "a CALL is [2, MessageId, Action, {payload}]")
                return
            self.calls.put_nowait((unique_id, msg[2], msg[3]))
        elif kind in (3, 4):
            entry = self.pending.pop(unique_id, None)
            if entry is None:
                LOGGER.warning(
                    "%s: response to unknown message %s ignored (late or out of order)", self.charge_point_id, unique_id
                )
                return
            _, fut = entry
            if fut.done():
                return
            if kind == 3 and len(msg) == 3 and isinstance(msg[2], dict):
                fut.set_result(msg[2])
            elif kind == 4 and len(msg) >= 4:
                fut.set_exception(CallErrorReceived(str(msg[2]), str(msg[3])))
            else:
                fut.set_exception(InvalidResponse(f"malformed response frame {raw[:200]!r}"))
        else:
            await self.send_error(unique_id, "MessageTypeNotSupported", f"MessageTypeId {kind!r} is not supported")

    async def on_call(self, unique_id: str, action: str, payload: dict[str, Any]) -> None:
        try:
            if not action.isalnum():  # the action names a schema file: no path characters
                raise OSError(action)
            get_validator(2, action, self.version)
        except OSError:
            await self.send_error(unique_id, "NotSupported", f"{action} is not an OCPP {self.version} action")
            return
        handler = _HANDLERS.get(action)
        if handler is None:
            await self.send_error(unique_id, "NotImplemented", f"{action} is not handled by this CSMS")
            return
        if self.boot_rejected and action != "BootNotification":
            await self.send_error(unique_id, "SecurityError", f"{action} before an accepted BootNotification")
            return
        try:
            await validate_payload(Call(unique_id, action, copy.deepcopy(payload)), self.version)
        except ocpp_exc.OCPPError as exc:
            cause = exc.details.get("cause", exc.description) if isinstance(exc.details, dict) else exc.description
            await self.send_error(unique_id, exc.code, f"{action}: {cause}")
            return
        try:
            response = await handler(self, payload)
        except Refusal as exc:
            await self.send_error(unique_id, exc.code, f"{action}: {exc.description}")
            return
        except SampleError as exc:
            await self.send_error(unique_id, "PropertyConstraintViolation", f"{action}: {exc}")
            return
        except Exception:
            LOGGER.exception("%s: %s handler failed", self.charge_point_id, action)
            await self.send_error(unique_id, "InternalError", f"{action}: the CSMS failed to handle it")
            return
        result = CallResult(unique_id, copy.deepcopy(response), action=action)
        try:
            await validate_payload(result, self.version)
        except ocpp_exc.OCPPError:
            LOGGER.exception("%s: own %s response fails the schema", self.charge_point_id, action)
            await self.send_error(unique_id, "InternalError", f"{action}: the CSMS built an invalid response")
            return
        try:
            await self.ws.send(json.dumps([3, unique_id, response], separators=(",", ":")))
        except ConnectionClosed:
            pass

    # ----- outgoing calls -----
    async def call(self, action: str, payload: dict[str, Any], timeout_s: float) -> dict[str, Any]:
        unique_id = str(uuid.uuid4())
        await validate_payload(Call(unique_id, action, copy.deepcopy(payload)), self.version)
        async with self.call_lock:  # OCPP-J: one outstanding CALL per direction
            if self.closed:
                raise ChargePointDisconnected(f"{self.charge_point_id}: connection closed")
            fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
            self.pending[unique_id] = (action, fut)
            try:
                await self.ws.send(json.dumps([2, unique_id, action, payload], separators=(",", ":")))
                response = await asyncio.wait_for(fut, timeout_s)
            except ConnectionClosed:
                raise ChargePointDisconnected(f"{self.charge_point_id}: connection closed") from None
            except TimeoutError:
                raise CallTimeout(f"{self.charge_point_id}: no answer to {action} within {timeout_s} s") from None
            finally:
                self.pending.pop(unique_id, None)
        try:
            await validate_payload(CallResult(unique_id, copy.deepcopy(response), action=action), self.version)
        except ocpp_exc.OCPPError as exc:
            raise InvalidResponse(
                f"{self.charge_point_id}: {action} response: {exc.description} {exc.details}"
            ) from None
        return dict(response)


# ----- handlers of the charge point's requests (payloads are camelCase, schema-validated) -----


def _now() -> datetime:
    return datetime.now(UTC)


def _now_text() -> str:
    return _now().isoformat(timespec="seconds").replace("+00:00", "Z")


async def _boot(s: _Session, p: dict[str, Any]) -> dict[str, Any]:
    if s.version == "1.6":
        info = BootInfo(
            s.charge_point_id,
            s.version,
            p["chargePointVendor"],
            p["chargePointModel"],
            _now(),
            p.get("chargePointSerialNumber"),
            p.get("firmwareVersion"),
        )
    else:
        station = p["chargingStation"]
        info = BootInfo(
            s.charge_point_id,
            s.version,
            station["vendorName"],
            station["model"],
            _now(),
            station.get("serialNumber"),
            station.get("firmwareVersion"),
            p.get("reason"),
        )
    accepted = await s.csms.backend.on_boot(info)
    s.boot_rejected = not accepted
    return {
        "status": "Accepted" if accepted else "Rejected",
        "currentTime": _now_text(),
        "interval": s.csms.heartbeat_interval_s,
    }


async def _heartbeat(s: _Session, p: dict[str, Any]) -> dict[str, Any]:
    return {"currentTime": _now_text()}


async def _status(s: _Session, p: dict[str, Any]) -> dict[str, Any]:
    if s.version == "1.6":
        at = parse_time(p["timestamp"], "timestamp") if "timestamp" in p else _now()
        info = StatusInfo(s.charge_point_id, p["connectorId"], None, p["status"], at, p.get("errorCode"))
    else:
        info = StatusInfo(
            s.charge_point_id,
            p["evseId"],
            p["connectorId"],
            p["connectorStatus"],
            parse_time(p["timestamp"], "timestamp"),
        )
    await s.csms.backend.on_status(info)
    return {}


async def _token_status(s: _Session, token: str | None) -> str:
    if token is None:
        return "Accepted"
    return "Accepted" if await s.csms.backend.authorize(token) else "Invalid"


async def _authorize(s: _Session, p: dict[str, Any]) -> dict[str, Any]:
    if s.version == "1.6":
        return {"idTagInfo": {"status": await _token_status(s, p["idTag"])}}
    return {"idTokenInfo": {"status": await _token_status(s, p["idToken"]["idToken"])}}


async def _meter(
    s: _Session, rows: list[dict[str, Any]], evse_id: int | None, tx: str | None
) -> tuple[MeterSample, ...]:
    samples, skipped = samples_from_meter_values(
        rows, version=s.version, charge_point_id=s.charge_point_id, evse_id=evse_id, transaction_id=tx
    )
    for line in skipped:
        LOGGER.warning("%s: %s", s.charge_point_id, line)
    if samples:
        await s.csms.backend.on_meter_values(samples)
    return samples


async def _meter_values(s: _Session, p: dict[str, Any]) -> dict[str, Any]:
    if s.version == "1.6":
        tx = str(p["transactionId"]) if "transactionId" in p else None
        await _meter(s, p["meterValue"], p["connectorId"], tx)
    else:
        await _meter(s, p["meterValue"], p["evseId"], None)
    return {}


async def _start_transaction(s: _Session, p: dict[str, Any]) -> dict[str, Any]:
    status = await _token_status(s, p["idTag"])
    event = TransactionStarted(
        s.charge_point_id,
        p["connectorId"],
        None,
        p["idTag"],
        parse_time(p["timestamp"], "timestamp"),
        float(p["meterStart"]),
        s.version,
    )
    tx = await s.csms.backend.on_transaction_started(event)
    s.csms._tx_evse[(s.charge_point_id, tx)] = p["connectorId"]
    return {"transactionId": int(tx), "idTagInfo": {"status": status}}


async def _stop_transaction(s: _Session, p: dict[str, Any]) -> dict[str, Any]:
    tx = str(p["transactionId"])
    event = TransactionEnded(
        s.charge_point_id,
        tx,
        parse_time(p["timestamp"], "timestamp"),
        float(p["meterStop"]),
        p.get("reason", "Local"),
        p.get("idTag"),
    )
    if not await s.csms.backend.on_transaction_ended(event):
        raise Refusal("PropertyConstraintViolation", f"transactionId {tx} is not a transaction of this charge point")
    await _meter(s, p.get("transactionData", []), s.csms._tx_evse.pop((s.charge_point_id, tx), None), tx)
    response: dict[str, Any] = {}
    if "idTag" in p:
        response["idTagInfo"] = {"status": await _token_status(s, p["idTag"])}
    return response


async def _transaction_event(s: _Session, p: dict[str, Any]) -> dict[str, Any]:
    info = p["transactionInfo"]
    tx = info["transactionId"]
    at = parse_time(p["timestamp"], "timestamp")
    kind = p["eventType"]
    token = p.get("idToken", {}).get("idToken")
    evse = p.get("evse", {}).get("id")
    key = (s.charge_point_id, tx)
    if kind == "Started":
        if evse is None:
            raise Refusal("OccurrenceConstraintViolation", "a Started event must name its evse")
        samples, _ = samples_from_meter_values(
            p.get("meterValue", []),
            version=s.version,
            charge_point_id=s.charge_point_id,
            evse_id=evse,
            transaction_id=tx,
        )
        started = TransactionStarted(
            s.charge_point_id, evse, tx, token, at, register_wh(samples, "Transaction.Begin"), s.version
        )
        await s.csms.backend.on_transaction_started(started)
        s.csms._tx_evse[key] = evse
    elif kind == "Updated":
        updated = TransactionUpdated(
            s.charge_point_id, tx, at, p["triggerReason"], info.get("chargingState"), p.get("seqNo")
        )
        if not await s.csms.backend.on_transaction_updated(updated):
            raise Refusal("PropertyConstraintViolation", f"transactionId {tx} was never Started")
    else:
        samples, _ = samples_from_meter_values(
            p.get("meterValue", []),
            version=s.version,
            charge_point_id=s.charge_point_id,
            evse_id=evse,
            transaction_id=tx,
        )
        ended = TransactionEnded(
            s.charge_point_id,
            tx,
            at,
            register_wh(samples, "Transaction.End"),
            info.get("stoppedReason", "Local"),
            token,
        )
        if not await s.csms.backend.on_transaction_ended(ended):
            raise Refusal("PropertyConstraintViolation", f"transactionId {tx} was never Started")
    if evse is None:
        evse = s.csms._tx_evse.get(key)
    await _meter(s, p.get("meterValue", []), evse, tx)
    if kind == "Ended":
        s.csms._tx_evse.pop(key, None)
    response: dict[str, Any] = {}
    if token is not None:
        response["idTokenInfo"] = {"status": await _token_status(s, token)}
    return response


_HANDLERS = {
    "BootNotification": _boot,
    "Heartbeat": _heartbeat,
    "StatusNotification": _status,
    "Authorize": _authorize,
    "MeterValues": _meter_values,
    "StartTransaction": _start_transaction,
    "StopTransaction": _stop_transaction,
    "TransactionEvent": _transaction_event,
}


class Csms:
    """The CSMS server.  ``async with Csms(backend, port=0) as csms:`` listens; ``csms.port`` says where.

    Charge points connect to ``ws://host:port{path_prefix}{charge_point_id}`` with HTTP Basic auth (username =
    the charge point id) and one of the subprotocols ocpp2.1, ocpp2.0.1, ocpp1.6 (the newest both sides speak is
    chosen).  Refused at the handshake: a path that does not name a charge point (404), missing or wrong
    credentials or an unknown charge point (401, the same answer for both so that ids cannot be probed), no
    common subprotocol (400).  ``close_timeout_s`` bounds the wait for a charge point to answer a close (on
    :meth:`stop` and when a reconnect replaces its connection); one that does not answer is cut off.
    """

    def __init__(
        self,
        backend: CsmsBackend,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        path_prefix: str = "/ocpp/",
        response_timeout_s: float = 30.0,
        heartbeat_interval_s: int = 300,
        subprotocols: tuple[str, ...] = tuple(SUBPROTOCOLS),
        close_timeout_s: float = 10.0,
    ) -> None:
        unknown = [sp for sp in subprotocols if sp not in SUBPROTOCOLS]
        if unknown:
            raise ValueError(f"unknown OCPP subprotocol(s) {unknown}; known: {', '.join(SUBPROTOCOLS)}")
        self.backend = backend
        self.host = host
        self._port = port
        self.path_prefix = path_prefix if path_prefix.endswith("/") else path_prefix + "/"
        self.response_timeout_s = response_timeout_s
        self.heartbeat_interval_s = heartbeat_interval_s
        self.subprotocols = subprotocols
        self.close_timeout_s = close_timeout_s
        self._server: Server | None = None
        self._sessions: dict[str, _Session] = {}
        self._tx_evse: dict[tuple[str, str], int] = {}
        self._closing: set[asyncio.Task[None]] = set()
        self._profile_ids = 0
        self._serial = 0

    # ----- lifecycle -----
    async def start(self) -> None:
        self._server = await serve(
            self._handle,
            self.host,
            self._port,
            subprotocols=list(self.subprotocols),  # type: ignore[arg-type]
            process_request=self._check_request,
            close_timeout=self.close_timeout_s,
        )

    async def stop(self) -> None:
        """Stop listening, close every connection with 1001 (going away; a charge point that does not answer the
        close within ``close_timeout_s`` is cut off), and wait until the CALLs already received are handled."""
        if self._server is not None:
            self._server.close(close_connections=True, code=1001, reason="CSMS stopping")
            await self._server.wait_closed()
            self._server = None

    async def __aenter__(self) -> Csms:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("the CSMS is not started")
        return int(next(iter(self._server.sockets)).getsockname()[1])

    def url(self, charge_point_id: str = "") -> str:
        return f"ws://{self.host}:{self.port}{self.path_prefix}{charge_point_id}"

    # ----- handshake -----
    def _charge_point_id(self, path: str) -> str | None:
        path = path.split("?", 1)[0]
        if not path.startswith(self.path_prefix):
            return None
        cp = unquote(path[len(self.path_prefix) :])
        if not cp or "/" in cp or len(cp) > _MAX_ID_CHARS:
            return None
        return cp

    async def _check_request(self, connection: ServerConnection, request: Request) -> Response | None:
        cp = self._charge_point_id(request.path)
        if cp is None:
            LOGGER.warning("handshake refused: path %r names no charge point", request.path)
            return connection.respond(HTTPStatus.NOT_FOUND, "no charge point in the path\n")
        password = _basic_password(request.headers, cp)
        if password is None or not await self.backend.authenticate(cp, password):
            LOGGER.warning("handshake refused: %s: missing or wrong credentials", cp)
            response = connection.respond(HTTPStatus.UNAUTHORIZED, "charge point credentials required\n")
            response.headers["WWW-Authenticate"] = 'Basic realm="ocpp", charset="UTF-8"'
            return response
        return None

    async def _handle(self, ws: ServerConnection) -> None:
        cp = self._charge_point_id(ws.request.path if ws.request else "")
        if cp is None or ws.subprotocol is None:  # process_request and negotiation ran already
            await ws.close(1002, "no charge point or subprotocol")
            return
        session = _Session(self, cp, ws, SUBPROTOCOLS[ws.subprotocol])
        old = self._sessions.get(cp)
        self._sessions[cp] = session
        if old is not None:
            LOGGER.info("%s: reconnected; the old connection is closed", cp)
            old.fail_pending(ChargePointDisconnected(f"{cp}: replaced by a new connection"))
            # closed in the background: an unresponsive old peer must not hold up the new connection
            closing = asyncio.create_task(old.ws.close(1000, "replaced by a new connection"))
            self._closing.add(closing)
            closing.add_done_callback(self._closing.discard)
        LOGGER.info("%s: connected with OCPP %s", cp, session.version)
        try:
            await session.run()
        finally:
            if self._sessions.get(cp) is session:
                del self._sessions[cp]
            LOGGER.info("%s: disconnected", cp)

    # ----- the service's API -----
    def connected(self) -> dict[str, str]:
        """Connected charge points and the OCPP version each speaks."""
        return {cp: s.version for cp, s in self._sessions.items()}

    def connections(self) -> dict[str, int]:
        """Connected charge points and the number of each one's connection: the numbers grow with every new
        connection, so a charge point that reconnected between two looks shows a new number."""
        return {cp: s.serial for cp, s in self._sessions.items()}

    def _session(self, charge_point_id: str) -> _Session:
        session = self._sessions.get(charge_point_id)
        if session is None:
            raise ChargePointNotConnected(f"{charge_point_id} is not connected")
        return session

    async def call(
        self, charge_point_id: str, action: str, payload: dict[str, Any], timeout_s: float | None = None
    ) -> dict[str, Any]:
        """Send one CALL (camelCase payload) and return the validated CALLRESULT payload."""
        session = self._session(charge_point_id)
        return await session.call(action, payload, self.response_timeout_s if timeout_s is None else timeout_s)

    async def send_profile(
        self,
        charge_point_id: str,
        evse_id: int,
        setpoints: SetpointSeries,
        *,
        purpose: Purpose = "TxDefaultProfile",
        transaction_id: str | None = None,
        profile_id: int | None = None,
        stack_level: int = 0,
        discharge: Discharge = "refuse",
        timeout_s: float | None = None,
    ) -> ProfileResult:
        """Translate ``setpoints`` for the charge point's version and send it as a SetChargingProfile.

        Raises :class:`~vgi.service.ocpp.profiles.ProfileError` before sending when the series cannot be expressed
        (discharge on 1.6/2.0.1 with ``discharge="refuse"``).
        """
        session = self._session(charge_point_id)
        if profile_id is None:
            self._profile_ids += 1
            profile_id = self._profile_ids
        profile = charging_profile(
            setpoints,
            version=session.version,
            evse_id=evse_id,
            profile_id=profile_id,
            stack_level=stack_level,
            purpose=purpose,
            transaction_id=transaction_id,
            discharge=discharge,
        )
        if profile.note:
            LOGGER.warning("%s: %s", charge_point_id, profile.note)
        response = await self.call(charge_point_id, "SetChargingProfile", profile.payload, timeout_s)
        return ProfileResult(str(response["status"]), profile)

    async def clear_profile(
        self,
        charge_point_id: str,
        *,
        profile_id: int | None = None,
        evse_id: int | None = None,
        purpose: Purpose | None = None,
        timeout_s: float | None = None,
    ) -> str:
        """ClearChargingProfile by id and/or criteria; returns the status (Accepted or Unknown)."""
        version = self._session(charge_point_id).version
        payload: dict[str, Any] = {}
        if version == "1.6":
            if profile_id is not None:
                payload["id"] = profile_id
            if evse_id is not None:
                payload["connectorId"] = evse_id
            if purpose is not None:
                payload["chargingProfilePurpose"] = purpose
        else:
            if profile_id is not None:
                payload["chargingProfileId"] = profile_id
            criteria: dict[str, Any] = {}
            if evse_id is not None:
                criteria["evseId"] = evse_id
            if purpose is not None:
                criteria["chargingProfilePurpose"] = purpose
            if criteria:
                payload["chargingProfileCriteria"] = criteria
        response = await self.call(charge_point_id, "ClearChargingProfile", payload, timeout_s)
        return str(response["status"])

    async def get_composite_schedule(
        self,
        charge_point_id: str,
        evse_id: int,
        duration_s: int,
        *,
        step_s: int,
        voltage_v: float = 230.0,
        timeout_s: float | None = None,
    ) -> CompositeSchedule:
        """GetCompositeSchedule (in W) for ``duration_s`` seconds; the answer as kW per ``step_s`` step."""
        version = self._session(charge_point_id).version
        if version == "1.6":
            payload: dict[str, Any] = {"connectorId": evse_id, "duration": duration_s, "chargingRateUnit": "W"}
        else:
            payload = {"evseId": evse_id, "duration": duration_s, "chargingRateUnit": "W"}
        response = await self.call(charge_point_id, "GetCompositeSchedule", payload, timeout_s)
        series = None
        if response.get("status") == "Accepted":
            series = composite_to_series(response, version=version, step_s=step_s, voltage_v=voltage_v)
        return CompositeSchedule(str(response["status"]), response, series)


def _basic_password(headers: Headers, charge_point_id: str) -> str | None:
    """The Basic-auth password when the username is ``charge_point_id``; None otherwise."""
    value = headers.get("Authorization")
    if not value:
        return None
    scheme, _, token = value.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(token.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    user, sep, password = decoded.partition(":")
    if not sep or user != charge_point_id:
        return None
    return password
