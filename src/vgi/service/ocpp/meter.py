"""Pure normalisation of OCPP sampled values into :class:`~vgi.service.ocpp.models.MeterSample` (no I/O).

1.6 sends each value as a decimal string with a unit (default by the specification "Wh"; vgi infers W for a
power measurand and A / V / Percent for current / voltage / SoC when the unit is absent, since chargers omit it);
2.0.1 and 2.1 send a number with ``unitOfMeasure`` {unit, multiplier (a power of ten)}.  Kilo units are scaled to
the base unit, so energy is always Wh and power W.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

from vgi.service.ocpp.models import MeterSample

_DEFAULT_MEASURAND = "Energy.Active.Import.Register"
_KILO = {"kWh": "Wh", "kW": "W", "kvarh": "varh", "kvar": "var", "kVA": "VA", "kVAh": "VAh"}


class SampleError(ValueError):
    """A sampled value that cannot be read (the message names the field)."""


def parse_time(text: Any, field: str) -> datetime:
    """An OCPP timestamp as tz-aware UTC; a missing offset is an error (OCPP times are UTC, never local)."""
    if not isinstance(text, str):
        raise SampleError(f"{field} is missing")
    try:
        at = datetime.fromisoformat(text)
    except ValueError:
        raise SampleError(f"{field} {text!r} is not an ISO 8601 time") from None
    if at.tzinfo is None:
        raise SampleError(f"{field} {text!r} has no UTC offset")
    return at.astimezone(UTC)


def _default_unit(measurand: str) -> str:
    if measurand.startswith("Power.Active") or measurand.startswith("Power.Offered"):
        return "W"
    if measurand.startswith("Power.Reactive"):
        return "var"
    if measurand.startswith("Current"):
        return "A"
    if measurand == "Voltage":
        return "V"
    if measurand == "SoC":
        return "Percent"
    if measurand == "Frequency":
        return "Hz"
    if measurand.startswith("Energy.Reactive"):
        return "varh"
    return "Wh"


def _normalise(value: float, unit: str) -> tuple[float, str]:
    base = _KILO.get(unit)
    if base is not None:
        return value * 1000.0, base
    return value, unit


def samples_from_meter_values(
    meter_values: list[dict[str, Any]],
    *,
    version: str,
    charge_point_id: str,
    evse_id: int | None,
    transaction_id: str | None,
) -> tuple[tuple[MeterSample, ...], list[str]]:
    """Normalised samples from a ``meterValue`` array, and one line per value that could not be read.

    A 1.6 value in SignedData format (an opaque signed blob) is not a number: it is reported in the second list,
    never silently dropped.
    """
    out: list[MeterSample] = []
    skipped: list[str] = []
    for i, mv in enumerate(meter_values):
        at = parse_time(mv.get("timestamp"), f"meterValue[{i}].timestamp")
        for j, sv in enumerate(mv.get("sampledValue", [])):
            where = f"meterValue[{i}].sampledValue[{j}]"
            measurand = sv.get("measurand", _DEFAULT_MEASURAND)
            if version == "1.6":
                if sv.get("format") == "SignedData":
                    skipped.append(f"{where}: SignedData value not read")
                    continue
                try:
                    value = float(sv["value"])
                except (KeyError, TypeError, ValueError):
                    raise SampleError(f"{where}.value {sv.get('value')!r} is not a number") from None
                unit = sv.get("unit") or _default_unit(measurand)
            else:
                value = float(sv["value"])
                uom = sv.get("unitOfMeasure") or {}
                unit = uom.get("unit") or _default_unit(measurand)
                value *= 10.0 ** int(uom.get("multiplier", 0))
            if not math.isfinite(value):
                raise SampleError(f"{where}.value {value!r} is not finite")
            value, unit = _normalise(value, unit)
            out.append(
                MeterSample(
                    charge_point_id=charge_point_id,
                    evse_id=evse_id,
                    transaction_id=transaction_id,
                    at=at,
                    measurand=measurand,
                    phase=sv.get("phase"),
                    value=value,
                    unit=unit,
                    context=sv.get("context", "Sample.Periodic"),
                    location=sv.get("location", "Outlet"),
                )
            )
    return tuple(out), skipped


def register_wh(samples: tuple[MeterSample, ...], context: str) -> float | None:
    """The Energy.Active.Import.Register reading (Wh, all phases) of the given context, None when absent."""
    for s in samples:
        if s.measurand == _DEFAULT_MEASURAND and s.context == context and s.phase is None and s.unit == "Wh":
            return s.value
    return None
