"""Protocol-independent records the OCPP shell hands to the rest of vgi, and the backend it talks to.

Everything here is the same for OCPP 1.6J, 2.0.1 and 2.1: a charge point's messages are normalised into these
frozen dataclasses (times tz-aware UTC, energy in Wh, power in W) before the :class:`CsmsBackend` sees them, so
the store and the planner never read a protocol payload.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

#: Subprotocol names negotiated at the websocket handshake, mapped to the version the ``ocpp`` package validates.
SUBPROTOCOLS: dict[str, str] = {"ocpp2.1": "2.1", "ocpp2.0.1": "2.0.1", "ocpp1.6": "1.6"}


@dataclass(frozen=True)
class BootInfo:
    """A BootNotification: who the charge point says it is."""

    charge_point_id: str
    protocol: str  # "1.6", "2.0.1" or "2.1"
    vendor: str
    model: str
    at: datetime  # when the CSMS received it, UTC
    serial_number: str | None = None
    firmware_version: str | None = None
    reason: str | None = None  # 2.x boot reason (PowerUp, RemoteReset, ...); None in 1.6


@dataclass(frozen=True)
class StatusInfo:
    """A StatusNotification, as sent (1.6 and 2.x status vocabularies differ; the string is passed through)."""

    charge_point_id: str
    evse_id: int  # 1.6 connectorId (0 = the whole charge point); 2.x evseId
    connector_id: int | None  # 2.x connectorId within the EVSE; None in 1.6
    status: str
    at: datetime
    error_code: str | None = None  # 1.6 errorCode (NoError, ...); None in 2.x


@dataclass(frozen=True)
class MeterSample:
    """One sampled value, normalised: energy in Wh (varh), power in W (var, VA), current in A, voltage in V.

    ``evse_id`` is None only where the message does not say it and the transaction's EVSE is not known to this
    process (a 2.x TransactionEvent Updated after a restart); the store can join it through the transaction.
    """

    charge_point_id: str
    evse_id: int | None
    transaction_id: str | None
    at: datetime
    measurand: str  # e.g. Energy.Active.Import.Register, Power.Active.Import, SoC
    phase: str | None
    value: float  # in ``unit``
    unit: str  # normalised unit: Wh, varh, W, var, VA, A, V, Percent, Celsius, Hz, ...
    context: str = "Sample.Periodic"
    location: str = "Outlet"


@dataclass(frozen=True)
class TransactionStarted:
    """A transaction began (1.6 StartTransaction, 2.x TransactionEvent Started).

    ``transaction_id`` is the charge point's id in 2.x and None in 1.6, where the CSMS (the backend) assigns it.
    """

    charge_point_id: str
    evse_id: int
    transaction_id: str | None
    id_token: str | None
    at: datetime
    meter_start_wh: float | None
    protocol: str


@dataclass(frozen=True)
class TransactionUpdated:
    """A 2.x TransactionEvent Updated (1.6 has no such message; its meter values go to on_meter_values)."""

    charge_point_id: str
    transaction_id: str
    at: datetime
    trigger_reason: str
    charging_state: str | None = None
    seq_no: int | None = None


@dataclass(frozen=True)
class TransactionEnded:
    """A transaction ended (1.6 StopTransaction, 2.x TransactionEvent Ended)."""

    charge_point_id: str
    transaction_id: str
    at: datetime
    meter_stop_wh: float | None
    reason: str | None
    id_token: str | None = None


class CsmsBackend(Protocol):
    """What the OCPP shell needs from the rest of the service (the store, the planner); all async."""

    async def authenticate(self, charge_point_id: str, password: str) -> bool:
        """True when ``password`` is this charge point's (security profile 1); False for unknown charge points."""
        ...

    async def on_boot(self, boot: BootInfo) -> bool:
        """Record a BootNotification; True to accept the charge point, False to reject it."""
        ...

    async def on_status(self, status: StatusInfo) -> None:
        """Record a StatusNotification."""
        ...

    async def authorize(self, id_token: str) -> bool:
        """True when the id token (RFID tag, contract id) may charge."""
        ...

    async def on_transaction_started(self, event: TransactionStarted) -> str:
        """Record a start; return the transaction id (the event's in 2.x, a new decimal integer in 1.6).

        A repeated start (the same charge point, EVSE and time: a resend after a lost response) returns the
        same id.
        """
        ...

    async def on_transaction_updated(self, event: TransactionUpdated) -> bool:
        """Record an update; False when the transaction is unknown for this charge point."""
        ...

    async def on_transaction_ended(self, event: TransactionEnded) -> bool:
        """Record an end; False when the transaction is unknown for this charge point."""
        ...

    async def on_meter_values(self, samples: tuple[MeterSample, ...]) -> None:
        """Record normalised meter samples (never called with an empty tuple)."""
        ...


@dataclass
class MemoryBackend:
    """An in-memory :class:`CsmsBackend` for tests and for a service run without a store.

    ``passwords`` maps charge point ids to their Basic-auth passwords; ``id_tokens`` lists the accepted tokens
    (None accepts every token).  Everything received is appended to the public lists, in order.
    """

    passwords: dict[str, str] = field(default_factory=dict)
    id_tokens: frozenset[str] | None = None
    rejected_boots: frozenset[str] = frozenset()
    boots: list[BootInfo] = field(default_factory=list)
    statuses: list[StatusInfo] = field(default_factory=list)
    samples: list[MeterSample] = field(default_factory=list)
    started: list[TransactionStarted] = field(default_factory=list)
    updated: list[TransactionUpdated] = field(default_factory=list)
    ended: list[TransactionEnded] = field(default_factory=list)
    transactions: dict[tuple[str, str], TransactionStarted] = field(default_factory=dict)
    _next_id: int = 1

    async def authenticate(self, charge_point_id: str, password: str) -> bool:
        expected = self.passwords.get(charge_point_id)
        if expected is None:
            return False
        return hmac.compare_digest(expected.encode(), password.encode())

    async def on_boot(self, boot: BootInfo) -> bool:
        self.boots.append(boot)
        return boot.charge_point_id not in self.rejected_boots

    async def on_status(self, status: StatusInfo) -> None:
        self.statuses.append(status)

    async def authorize(self, id_token: str) -> bool:
        return self.id_tokens is None or id_token in self.id_tokens

    async def on_transaction_started(self, event: TransactionStarted) -> str:
        for (cp, tid), seen in self.transactions.items():
            if cp == event.charge_point_id and (
                tid == event.transaction_id
                or (event.transaction_id is None and seen.evse_id == event.evse_id and seen.at == event.at)
            ):
                return tid
        if event.transaction_id is None:
            tid = str(self._next_id)
            self._next_id += 1
        else:
            tid = event.transaction_id
        self.transactions[(event.charge_point_id, tid)] = event
        self.started.append(event)
        return tid

    async def on_transaction_updated(self, event: TransactionUpdated) -> bool:
        if (event.charge_point_id, event.transaction_id) not in self.transactions:
            return False
        self.updated.append(event)
        return True

    async def on_transaction_ended(self, event: TransactionEnded) -> bool:
        if (event.charge_point_id, event.transaction_id) not in self.transactions:
            return False
        self.ended.append(event)
        return True

    async def on_meter_values(self, samples: tuple[MeterSample, ...]) -> None:
        self.samples.extend(samples)
