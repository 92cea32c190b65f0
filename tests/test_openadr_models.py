"""OpenADR 3 models: both versions' fields, explicit nulls, refusals that name the field."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from vgi.service.openadr.models import (
    Event,
    EventPayloadDescriptor,
    Notification,
    Problem,
    Program,
    Report,
    Resource,
    Subscription,
    Ven,
    to_wire,
)


def test_program_301_and_310_fields_with_explicit_nulls() -> None:
    old = Program.model_validate({
        "programName": "summer", "programLongName": "Summer peak", "retailerName": "utility",
        "retailerLongName": None, "programType": "PRICING_TARIFF", "country": "US", "principalSubdivision": "CA",
        "timeZoneOffset": "PT0S", "bindingEvents": False, "localPrice": None,
        "programDescriptions": [{"URL": "https://example.org/summer"}],
        "payloadDescriptors": [{"payloadType": "PRICE", "units": "KWH", "currency": "USD"},
                               {"objectType": "REPORT_PAYLOAD_DESCRIPTOR", "payloadType": "USAGE",
                                "readingType": "DIRECT_READ", "units": "KWH"}],
        "targets": [{"type": "GROUP", "values": ["g1"]}],
    })
    assert old.program_descriptions is not None and old.program_descriptions[0].url == "https://example.org/summer"
    assert isinstance(old.payload_descriptors[0], EventPayloadDescriptor)  # type: ignore[index]
    new = Program.model_validate({"programName": "flex", "attributes": [{"type": "BINDING_EVENTS", "values": [True]}],
                                  "targets": ["north", "ev"], "intervalPeriod": None, "payloadDescriptors": None})
    assert new.targets == ("north", "ev") and new.attributes is not None and new.attributes[0].values == (True,)
    assert to_wire(new) == {"programName": "flex", "attributes": [{"type": "BINDING_EVENTS", "values": [True]}],
                            "targets": ["north", "ev"]}
    with pytest.raises(ValidationError):
        new.program_name = "x"  # type: ignore[misc]


def test_event_values_keep_their_types_and_bad_fields_are_named() -> None:
    e = Event.model_validate({
        "programID": "p", "priority": None, "duration": "P9999Y",
        "intervals": [{"id": 0, "intervalPeriod": None, "payloads": [
            {"type": "SIMPLE", "values": [1]}, {"type": "PRICE", "values": [0.25]},
            {"type": "CURVE", "values": [{"x": 1, "y": 2.5}]}, {"type": "ALERT_OTHER", "values": ["text", False]}]}],
    })
    values = [p.values for p in e.intervals[0].payloads]
    assert values[0] == (1,) and type(values[0][0]) is int
    assert values[3] == ("text", False) and type(values[3][1]) is bool
    assert to_wire(e)["intervals"][0]["payloads"][2] == {"type": "CURVE", "values": [{"x": 1.0, "y": 2.5}]}
    for bad, field in [
        ({"programID": "p", "priority": -1}, "priority"),
        ({"programID": "p", "duration": "1h"}, "duration"),
        ({"programID": "p", "intervalPeriod": {"start": "soon"}}, "intervalPeriod.start"),
        ({"programID": "p", "eventNmae": "x"}, "eventNmae"),
        ({"programID": ""}, "programID"),
    ]:
        with pytest.raises(ValidationError) as info:
            Event.model_validate(bad)
        assert field in str(info.value)


def test_ven_resource_report_subscription_both_versions() -> None:
    bl = Ven.model_validate({"objectType": "BL_VEN_REQUEST", "clientID": "c1", "venName": "v", "targets": ["t"]})
    assert bl.client_id == "c1" and bl.object_type == "BL_VEN_REQUEST"
    old = Ven.model_validate({"venName": "v", "targets": [{"type": "GROUP", "values": ["g"]}], "resources": None})
    assert old.resources is None
    assert Resource.model_validate({"objectType": "VEN_RESOURCE_REQUEST", "resourceName": "r", "venID": "v1"}).ven_id \
        == "v1"
    report = Report.model_validate({"programID": "p", "eventID": "e", "clientName": "c", "reportName": None,
                                    "payloadDescriptors": None, "resources": [
                                        {"resourceName": "AGGREGATED_REPORT", "intervalPeriod": None,
                                         "intervals": [{"id": 0, "payloads": [{"type": "USAGE", "values": [1.5]}]}]}]})
    assert report.program_id == "p" and report.client_id is None
    sub = Subscription.model_validate({"clientName": "c", "programID": None, "objectOperations": [
        {"objects": ["EVENT"], "operations": ["GET", "POST"], "callbackUrl": "https://x/cb", "bearerToken": None}]})
    assert sub.object_operations[0].operations == ("GET", "POST")
    with pytest.raises(ValidationError, match="objects"):
        Subscription.model_validate({"clientName": "c", "objectOperations": [
            {"objects": ["THING"], "operations": ["CREATE"], "callbackUrl": "https://x/cb"}]})
    note = Notification.model_validate({"objectType": "EVENT", "operation": "CREATE", "object": {"id": "e"}})
    assert note.targets is None
    assert to_wire(Problem(title="Not Found", status=404, detail="no event")) == {
        "type": "about:blank", "title": "Not Found", "status": 404, "detail": "no event"}
