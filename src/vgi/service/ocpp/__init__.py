"""OCPP CSMS (1.6J, 2.0.1, 2.1) for the live aggregator: charge points in, charging profiles out.

- :mod:`.models`: the protocol-independent records and the :class:`CsmsBackend` the shell talks to.
- :mod:`.profiles`: pure translation of a kW setpoint series to charging profiles and back.
- :mod:`.meter`: pure normalisation of sampled values (Wh, W).
- :mod:`.csms`: the websocket server.
"""

from vgi.service.ocpp.csms import (
    CallErrorReceived,
    CallTimeout,
    ChargePointDisconnected,
    ChargePointNotConnected,
    CompositeSchedule,
    Csms,
    InvalidResponse,
    OcppCallError,
    ProfileResult,
)
from vgi.service.ocpp.models import (
    SUBPROTOCOLS,
    BootInfo,
    CsmsBackend,
    MemoryBackend,
    MeterSample,
    StatusInfo,
    TransactionEnded,
    TransactionStarted,
    TransactionUpdated,
)
from vgi.service.ocpp.profiles import (
    ProfileError,
    ProfilePayload,
    SetpointSeries,
    charging_profile,
    composite_to_series,
)

__all__ = [
    "SUBPROTOCOLS",
    "BootInfo",
    "CallErrorReceived",
    "CallTimeout",
    "ChargePointDisconnected",
    "ChargePointNotConnected",
    "CompositeSchedule",
    "Csms",
    "CsmsBackend",
    "InvalidResponse",
    "MemoryBackend",
    "MeterSample",
    "OcppCallError",
    "ProfileError",
    "ProfilePayload",
    "ProfileResult",
    "SetpointSeries",
    "StatusInfo",
    "TransactionEnded",
    "TransactionStarted",
    "TransactionUpdated",
    "charging_profile",
    "composite_to_series",
]
