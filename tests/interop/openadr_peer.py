"""An independent OpenADR 3 peer: the PyPI package openadr3-client as business logic and as a VEN.

Run by tests/test_openadr_interop.py in the Python 3.12 venv ``.venv312`` against vgi's VTN on loopback:

    .venv312/bin/python tests/interop/openadr_peer.py BASE_URL EVENT_START_ISO {3.1.0|3.0.1}

The business logic (client ``bl``) creates a program and an event with a PRICE and an IMPORT_CAPACITY_LIMIT
interval; the VEN (client ``ven-a``) registers itself and a resource, reads the event back and posts a USAGE
report, each with the package's models of the version asked for. It prints one JSON object with what the peer
saw, for the test to check against the VTN's store.
"""

from __future__ import annotations

import json
import os
import sys
from datetime import datetime, timedelta

# oauthlib refuses plain-HTTP token URLs unless told this is a test set-up.
os.environ.setdefault("OAUTHLIB_INSECURE_TRANSPORT", "1")

from openadr3_client._models.common.interval import Interval
from openadr3_client._models.common.interval_period import IntervalPeriod
from openadr3_client.bl.http_factory import BusinessLogicHttpClientFactory
from openadr3_client.ven.http_factory import VirtualEndNodeHttpClientFactory
from openadr3_client.version import OADRVersion

VERSION = sys.argv[3] if len(sys.argv) > 3 else "3.1.0"
if VERSION == "3.1.0":
    from openadr3_client.oadr310.models.event.event import NewEvent
    from openadr3_client.oadr310.models.event.event_payload import (
        EventPayload,
        EventPayloadDescriptor,
        EventPayloadType,
    )
    from openadr3_client.oadr310.models.program.program import NewProgram
    from openadr3_client.oadr310.models.report.report import NewReport, ReportResource
    from openadr3_client.oadr310.models.report.report_payload import ReportPayload, ReportPayloadType
    from openadr3_client.oadr310.models.resource.resource import NewResourceVenRequest
    from openadr3_client.oadr310.models.unit import Unit
    from openadr3_client.oadr310.models.ven.ven import NewVenVenRequest
else:
    from openadr3_client.oadr301.models.event.event import NewEvent  # type: ignore[assignment]
    from openadr3_client.oadr301.models.event.event_payload import (  # type: ignore[assignment]
        EventPayload,
        EventPayloadDescriptor,
        EventPayloadType,
    )
    from openadr3_client.oadr301.models.program.program import NewProgram  # type: ignore[assignment]
    from openadr3_client.oadr301.models.report.report import NewReport, ReportResource  # type: ignore[assignment]
    from openadr3_client.oadr301.models.report.report_payload import (  # type: ignore[assignment]
        ReportPayload,
        ReportPayloadType,
    )
    from openadr3_client.oadr301.models.target import Target
    from openadr3_client.oadr301.models.unit import Unit  # type: ignore[assignment]
    from openadr3_client.oadr301.models.ven.resource import NewResource
    from openadr3_client.oadr301.models.ven.ven import NewVen


def main(base_url: str, start_iso: str) -> dict[str, object]:
    start = datetime.fromisoformat(start_iso)
    v310 = VERSION == "3.1.0"
    version = OADRVersion.OADR_310 if v310 else OADRVersion.OADR_301
    insecure = {"allow_insecure_http": True} if v310 else {}
    bl = BusinessLogicHttpClientFactory.create_http_bl_client(
        vtn_base_url=base_url,
        client_id="bl",
        client_secret="bl-secret",
        token_url=None if v310 else f"{base_url}/auth/token",  # 3.1.0: discovered through /auth/server
        scopes=["read_all", "write_programs", "write_events"],
        version=version,
        **insecure,
    )
    targets = ("north",) if v310 else (Target(type="GROUP", values=("north",)),)
    program = bl.programs.create_program(NewProgram(program_name="interop-dr", targets=targets))
    event = bl.events.create_event(
        NewEvent(
            program_id=program.id,
            event_name="evening-peak",
            priority=1,
            payload_descriptors=(
                EventPayloadDescriptor(payload_type=EventPayloadType.PRICE, units=Unit.KWH, currency="EUR"),
                EventPayloadDescriptor(payload_type=EventPayloadType.IMPORT_CAPACITY_LIMIT, units=Unit.KW),
            ),
            interval_period=IntervalPeriod(start=start, duration=timedelta(hours=1)),
            intervals=(
                Interval(
                    id=0,
                    payloads=(
                        EventPayload(type=EventPayloadType.PRICE, values=(0.42,)),
                        EventPayload(type=EventPayloadType.IMPORT_CAPACITY_LIMIT, values=(250.0,)),
                    ),
                ),
                Interval(
                    id=1,
                    interval_period=IntervalPeriod(start=start + timedelta(hours=1), duration=timedelta(minutes=30)),
                    payloads=(EventPayload(type=EventPayloadType.PRICE, values=(0.30,)),),
                ),
            ),
        )
    )

    ven = VirtualEndNodeHttpClientFactory.create_http_ven_client(
        vtn_base_url=base_url,
        client_id="ven-a",
        client_secret="ven-a-secret",
        token_url=f"{base_url}/auth/token",
        scopes=["read_targets", "read_ven_objects", "write_reports", "write_vens"],
        version=version,
        **insecure,
    )
    if v310:
        me = ven.vens.create_ven(NewVenVenRequest(ven_name="depot-a"))
        resource = ven.resources.create_resource(NewResourceVenRequest(resource_name="cp-1", ven_id=me.id))
    else:
        me = ven.vens.create_ven(NewVen(ven_name="depot-a"))
        resource = ven.vens.create_ven_resource(me.id, NewResource(resource_name="cp-1", ven_id=me.id))
    seen = ven.events.get_events(target=None, pagination=None, program_id=program.id)
    report = ven.reports.create_report(
        NewReport(
            **({} if v310 else {"program_id": program.id}),
            event_id=seen[0].id,
            client_name="depot-a",
            report_name="usage",
            resources=(
                ReportResource(
                    resource_name="cp-1",
                    interval_period=IntervalPeriod(start=start, duration=timedelta(minutes=30)),
                    intervals=(
                        Interval(id=0, payloads=(ReportPayload(type=ReportPayloadType.USAGE, values=(11.5,)),)),
                        Interval(id=1, payloads=(ReportPayload(type=ReportPayloadType.USAGE, values=(9.0,)),)),
                    ),
                ),
            ),
        )
    )
    reports_seen_by_bl = bl.reports.get_reports(pagination=None, program_id=None, event_id=event.id, client_name=None)
    return {
        "program_id": program.id,
        "event_id": event.id,
        "ven_id": me.id,
        "ven_client_id": getattr(me, "client_id", None),
        "resource_id": resource.id,
        "resource_ven_id": resource.ven_id,
        "events_seen": [e.id for e in seen],
        "event_seen_price": [float(p.values[0]) for i in seen[0].intervals or () for p in i.payloads
                             if p.type == EventPayloadType.PRICE],
        "report_id": report.id,
        "report_client_id": getattr(report, "client_id", None),
        "reports_seen_by_bl": [r.id for r in reports_seen_by_bl],
    }


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1], sys.argv[2])))
