"""OpenADR 3 objects (3.0.1 and 3.1.0) as frozen pydantic models.

One model per object accepts both versions' fields: 3.0.1 targets are ``valuesMap`` objects, 3.1.0 targets are
strings; 3.0.1 programs carry ``retailerName``, ``bindingEvents`` ... and reports a ``programID``; 3.1.0 VEN and
resource requests carry an ``objectType`` discriminator (``VEN_VEN_REQUEST``, ``BL_RESOURCE_REQUEST`` ...) and a
``clientID``. Explicit ``null`` is accepted wherever a field is optional (openadr3-client sends them). Unknown
fields are refused, so a misspelt field is an error naming it rather than silently lost.

Times and durations stay the strings the peer sent (RFC 3339 date-times, ISO 8601 durations), checked on
validation; :mod:`vgi.service.openadr.timing` turns them into instants. Python names are snake_case, the wire
names (aliases) are the spec's camelCase; :func:`to_wire` gives the JSON document the VTN stores and answers with.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, field_validator
from pydantic.alias_generators import to_camel

from vgi.service.openadr.timing import check_datetime, check_duration

__all__ = [
    "OBJECT_TYPES",
    "Event",
    "EventPayloadDescriptor",
    "Interval",
    "IntervalPeriod",
    "Notification",
    "ObjectOperation",
    "Point",
    "Problem",
    "Program",
    "Report",
    "ReportDescriptor",
    "ReportPayloadDescriptor",
    "ReportResource",
    "Resource",
    "Subscription",
    "Target",
    "ValuesMap",
    "Ven",
    "to_wire",
]

#: Object types the API addresses (``objectTypes`` in the spec).
OBJECT_TYPES = ("PROGRAM", "EVENT", "REPORT", "SUBSCRIPTION", "VEN", "RESOURCE")


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True, alias_generator=to_camel)


class Point(_Model):
    """A point of a curve payload (``x``, ``y``)."""

    x: float
    y: float


#: One value of a valuesMap: number, string, boolean or point.
Value = StrictBool | StrictInt | float | str | Point


class ValuesMap(_Model):
    """A payload, attribute or 3.0.1 target: a ``type`` and its ``values`` (most often one number)."""

    type: str = Field(min_length=1, max_length=128)
    values: tuple[Value, ...]


#: A target: a string (3.1.0) or a valuesMap such as ``{"type": "GROUP", "values": ["north"]}`` (3.0.1).
Target = str | ValuesMap


class IntervalPeriod(_Model):
    """Start (RFC 3339), duration and randomizeStart (ISO 8601 durations) of an interval or set of intervals."""

    start: str | None = None
    duration: str | None = None
    randomize_start: str | None = None

    @field_validator("start")
    @classmethod
    def _start(cls, value: str | None) -> str | None:
        return None if value is None else check_datetime(value)

    @field_validator("duration", "randomize_start")
    @classmethod
    def _duration(cls, value: str | None) -> str | None:
        return None if value is None else check_duration(value)


class Interval(_Model):
    """An interval of an event or report: a client-chosen ``id``, optional period and payloads."""

    id: int
    interval_period: IntervalPeriod | None = None
    payloads: tuple[ValuesMap, ...]


class EventPayloadDescriptor(_Model):
    """Context of an event payload type: units (``KW``, ``KWH`` ...) and currency of prices."""

    object_type: str | None = None
    payload_type: str = Field(min_length=1, max_length=128)
    units: str | None = None
    currency: str | None = None


class ReportPayloadDescriptor(_Model):
    """Context of a report payload type: reading type, units, accuracy and confidence."""

    object_type: str | None = None
    payload_type: str = Field(min_length=1, max_length=128)
    reading_type: str | None = None
    units: str | None = None
    accuracy: float | None = None
    confidence: int | None = Field(default=None, ge=0, le=100)


class ReportDescriptor(_Model):
    """A report an event asks VENs for."""

    payload_type: str = Field(min_length=1, max_length=128)
    reading_type: str | None = None
    units: str | None = None
    targets: tuple[Target, ...] | None = None
    aggregate: bool | None = None
    start_interval: int | None = None
    num_intervals: int | None = None
    historical: bool | None = None
    frequency: int | None = None
    repeat: int | None = None
    report_intervals: Literal["INTERVALS", "SUB_INTERVALS", "OPEN_INTERVALS"] | None = None


class ProgramDescription(_Model):
    """A link to a human- or machine-readable description of a program."""

    url: str = Field(alias="URL", min_length=2, max_length=8000)


class _Metadata(_Model):
    """Fields the VTN assigns: a client's values are replaced on create and update."""

    id: str | None = Field(default=None, pattern=r"^[a-zA-Z0-9_-]*$", min_length=1, max_length=128)
    created_date_time: str | None = None
    modification_date_time: str | None = None
    object_type: str | None = None


class Program(_Metadata):
    """A demand-response program (3.0.1 descriptive fields and 3.1.0 ``attributes`` both accepted)."""

    program_name: str = Field(min_length=1, max_length=128)
    program_long_name: str | None = None
    retailer_name: str | None = None
    retailer_long_name: str | None = None
    program_type: str | None = None
    country: str | None = None
    principal_subdivision: str | None = None
    time_zone_offset: str | None = None
    interval_period: IntervalPeriod | None = None
    program_descriptions: tuple[ProgramDescription, ...] | None = None
    binding_events: bool | None = None
    local_price: bool | None = None
    payload_descriptors: tuple[EventPayloadDescriptor | ReportPayloadDescriptor, ...] | None = None
    attributes: tuple[ValuesMap, ...] | None = None
    targets: tuple[Target, ...] | None = None

    @field_validator("time_zone_offset")
    @classmethod
    def _offset(cls, value: str | None) -> str | None:
        return None if value is None else check_duration(value)


class Event(_Metadata):
    """An event of a program: intervals of payloads (prices, limits, setpoints ...)."""

    program_id: str = Field(alias="programID", min_length=1, max_length=128)
    event_name: str | None = None
    priority: int | None = Field(default=None, ge=0)
    duration: str | None = None
    targets: tuple[Target, ...] | None = None
    report_descriptors: tuple[ReportDescriptor, ...] | None = None
    payload_descriptors: tuple[EventPayloadDescriptor, ...] | None = None
    interval_period: IntervalPeriod | None = None
    intervals: tuple[Interval, ...] = ()

    @field_validator("duration")
    @classmethod
    def _duration(cls, value: str | None) -> str | None:
        return None if value is None else check_duration(value)


class ReportResource(_Model):
    """Report data of one resource (``AGGREGATED_REPORT`` for an aggregate)."""

    resource_name: str = Field(min_length=1, max_length=128)
    interval_period: IntervalPeriod | None = None
    intervals: tuple[Interval, ...]


class Report(_Metadata):
    """A VEN's report on an event (3.0.1 carries ``programID``; 3.1.0 a VTN-assigned ``clientID``)."""

    client_id: str | None = Field(default=None, alias="clientID", max_length=128)
    program_id: str | None = Field(default=None, alias="programID", max_length=128)
    event_id: str = Field(alias="eventID", min_length=1, max_length=128)
    client_name: str = Field(min_length=1, max_length=128)
    report_name: str | None = None
    payload_descriptors: tuple[ReportPayloadDescriptor | EventPayloadDescriptor, ...] | None = None
    resources: tuple[ReportResource, ...]


class ObjectOperation(_Model):
    """Which object types and operations a subscription wants, and the webhook to call."""

    objects: tuple[Literal["PROGRAM", "EVENT", "REPORT", "SUBSCRIPTION", "VEN", "RESOURCE"], ...]
    #: 3.1.0 names CREATE/READ/UPDATE/DELETE; 3.0.1 names GET/POST/PUT/DELETE.
    operations: tuple[Literal["CREATE", "READ", "UPDATE", "DELETE", "GET", "POST", "PUT"], ...]
    callback_url: str = Field(min_length=2, max_length=8000)
    bearer_token: str | None = None


class Subscription(_Metadata):
    """A client's request to be called back on operations on objects."""

    client_id: str | None = Field(default=None, alias="clientID", max_length=128)
    client_name: str = Field(min_length=1, max_length=128)
    program_id: str | None = Field(default=None, alias="programID", max_length=128)
    object_operations: tuple[ObjectOperation, ...]
    targets: tuple[Target, ...] | None = None


class Resource(_Metadata):
    """An end device or system behind a VEN (a charge point, a site meter ...)."""

    client_id: str | None = Field(default=None, alias="clientID", max_length=128)
    resource_name: str = Field(min_length=1, max_length=128)
    ven_id: str | None = Field(default=None, alias="venID", max_length=128)
    attributes: tuple[ValuesMap, ...] | None = None
    targets: tuple[Target, ...] | None = None


class Ven(_Metadata):
    """A VEN: the client that acts for a set of resources (3.0.1 may nest its resources)."""

    client_id: str | None = Field(default=None, alias="clientID", max_length=128)
    ven_name: str = Field(min_length=1, max_length=128)
    attributes: tuple[ValuesMap, ...] | None = None
    targets: tuple[Target, ...] | None = None
    resources: tuple[Resource, ...] | None = None


class Problem(_Model):
    """An error answer (RFC 7807 problem details, as the spec's ``problem`` schema)."""

    type: str = "about:blank"
    title: str | None = None
    status: int | None = Field(default=None, ge=100, lt=600)
    detail: str | None = None
    instance: str | None = None


class Notification(_Model):
    """What the VTN posts to a subscription's callback URL."""

    object_type: Literal["PROGRAM", "EVENT", "REPORT", "SUBSCRIPTION", "VEN", "RESOURCE"]
    operation: Literal["CREATE", "READ", "UPDATE", "DELETE", "GET", "POST", "PUT"]
    object: dict[str, Any]
    targets: tuple[Target, ...] | None = None


def to_wire(model: BaseModel) -> dict[str, Any]:
    """The JSON document of ``model``: spec (camelCase) names, ``null`` fields left out."""
    return model.model_dump(mode="json", by_alias=True, exclude_none=True)
