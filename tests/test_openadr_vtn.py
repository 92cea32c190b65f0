"""The OpenADR 3 VTN: OAuth2 client credentials, scopes, problems, searches, both versions' paths, webhooks."""

from __future__ import annotations

import base64
from typing import Any

import numpy as np
import pandas as pd
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from vgi.errors import VgiError
from vgi.model.timegrid import TimeGrid
from vgi.service.documents import MemoryDocumentStore
from vgi.service.openadr import ClientConfig, VenClient, create_vtn_app, usage_report
from vgi.service.openadr.auth import TokenIssuer
from vgi.service.openadr.models import Event, Program, Ven
from vgi.service.openadr.vtn import http_notifier

CLIENTS = [
    ClientConfig("bl", "bl-secret", "BL"),
    ClientConfig("ven-a", "a-secret", "VEN", ven_name="depot-a"),
    ClientConfig("ven-b", "b-secret", "VEN", ven_name="depot-b"),
]
NOW = pd.Timestamp("2030-01-01T00:00:00Z").timestamp()


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> float:
        return self.now


class Calls:
    def __init__(self) -> None:
        self.sent: list[tuple[str, dict[str, Any], str | None]] = []

    def __call__(self, url: str, notification: dict[str, Any], token: str | None) -> None:
        self.sent.append((url, notification, token))


@pytest.fixture()
def setup() -> tuple[TestClient, MemoryDocumentStore, Clock, Calls]:
    store, clock, calls = MemoryDocumentStore(), Clock(), Calls()
    app = create_vtn_app(store, CLIENTS, key=b"k" * 32, clock=clock, notifier=calls)
    return TestClient(app), store, clock, calls


def token(client: TestClient, client_id: str, secret: str, scope: str | None = None) -> dict[str, str]:
    data = {"grant_type": "client_credentials", **({"scope": scope} if scope else {})}
    r = client.post("/auth/token", data=data, auth=(client_id, secret))
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


def program(client: TestClient, bl: dict[str, str], name: str = "dr", **fields: Any) -> dict[str, Any]:
    r = client.post("/programs", json={"programName": name, **fields}, headers=bl)
    assert r.status_code == 201, r.text
    return dict(r.json())


def event(client: TestClient, bl: dict[str, str], program_id: str, start: str = "2030-01-01T01:00:00Z",
          duration: str = "PT1H", **fields: Any) -> dict[str, Any]:
    body = {"programID": program_id, "intervalPeriod": {"start": start, "duration": duration},
            "intervals": [{"id": 0, "payloads": [{"type": "PRICE", "values": [0.2]}]}], **fields}
    r = client.post("/events", json=body, headers=bl)
    assert r.status_code == 201, r.text
    return dict(r.json())


def test_token_endpoint(setup: tuple[TestClient, MemoryDocumentStore, Clock, Calls]) -> None:
    client, *_ = setup
    assert client.get("/auth/server").json() == {"tokenURL": "http://testserver/auth/token"}
    basic = client.post("/auth/token", data={"grant_type": "client_credentials"}, auth=("bl", "bl-secret"))
    assert basic.status_code == 200 and basic.json()["token_type"] == "Bearer"
    assert basic.json()["scope"] == "read_all write_events write_programs write_subscriptions write_vens"
    form = client.post("/auth/token", data={"grant_type": "client_credentials", "client_id": "ven-a",
                                            "client_secret": "a-secret", "scope": "read_targets write_reports"})
    assert form.status_code == 200 and form.json()["scope"] == "read_targets write_reports"
    wrong = client.post("/auth/token", data={"grant_type": "client_credentials"}, auth=("bl", "nope"))
    assert wrong.status_code == 401 and wrong.json()["error"] == "invalid_client"
    grant = client.post("/auth/token", data={"grant_type": "password"}, auth=("bl", "bl-secret"))
    assert grant.status_code == 400 and grant.json()["error"] == "unsupported_grant_type"
    scope = client.post("/auth/token", data={"grant_type": "client_credentials", "scope": "write_events"},
                        auth=("ven-a", "a-secret"))
    assert scope.status_code == 400 and scope.json()["error"] == "invalid_scope"
    missing = client.post("/auth/token", data={"grant_type": "client_credentials"})
    assert missing.status_code == 400 and missing.json()["error"] == "invalid_request"
    header = base64.b64encode(b"bl:bl-secret").decode()
    raw = client.post("/auth/token", content="grant_type=client_credentials",
                      headers={"Authorization": f"Basic {header}",
                               "Content-Type": "application/x-www-form-urlencoded"})
    assert raw.status_code == 200


def test_every_endpoint_needs_a_valid_token(setup: tuple[TestClient, MemoryDocumentStore, Clock, Calls]) -> None:
    client, _, clock, _ = setup
    app: FastAPI = client.app  # type: ignore[assignment]
    checked = 0
    for route in app.routes:
        path = getattr(route, "path", "")
        if path.startswith(("/auth/", "/docs", "/openapi", "/redoc")):
            continue
        for method in getattr(route, "methods", set()) - {"HEAD", "OPTIONS"}:
            url = path.replace("{object_id}", "x").replace("{venID}", "v").replace("{resourceID}", "r")
            r = client.request(method, url, json={})
            assert r.status_code == 401, (method, url, r.status_code)
            assert r.json()["status"] == 401 and r.json()["title"] == "Unauthorized"
            assert r.headers["WWW-Authenticate"] == "Bearer"
            checked += 1
    assert checked >= 30
    bl = token(client, "bl", "bl-secret")
    assert client.get("/programs", headers={"Authorization": "Bearer forged.token"}).status_code == 401
    clock.now += 7200  # tokens live an hour
    expired = client.get("/programs", headers=bl)
    assert expired.status_code == 401 and "expired" in expired.json()["detail"]


def test_tokens_survive_a_restart_with_the_same_key() -> None:
    first = TokenIssuer(CLIENTS, key=b"same")
    text, _ = first.issue("bl", "bl-secret", None, NOW)
    assert TokenIssuer(CLIENTS, key=b"same").verify(text, NOW).client_id == "bl"
    with pytest.raises(Exception, match="signature"):
        TokenIssuer(CLIENTS, key=b"other").verify(text, NOW)


def test_programs_crud_metadata_and_roles(setup: tuple[TestClient, MemoryDocumentStore, Clock, Calls]) -> None:
    client, store, clock, _ = setup
    bl, ven = token(client, "bl", "bl-secret"), token(client, "ven-a", "a-secret")
    # explicit nulls (as openadr3-client sends them) and a client-sent id/objectType that the VTN replaces
    p = program(client, bl, "tou", id="mine", objectType="EVENT", intervalPeriod=None, targets=None,
                programLongName="Time of use", retailerName=None, attributes=[{"type": "X", "values": [1]}])
    assert p["id"] != "mine" and p["objectType"] == "PROGRAM"
    assert p["createdDateTime"] == p["modificationDateTime"] == "2030-01-01T00:00:00Z"
    assert "targets" not in p and store.get("program", p["id"]) == p
    Program.model_validate(p)
    clock.now += 60
    r = client.put(f"/programs/{p['id']}", json={"programName": "tou", "programLongName": "TOU v2"}, headers=bl)
    assert r.status_code == 200 and r.json()["createdDateTime"] == "2030-01-01T00:00:00Z"
    assert r.json()["modificationDateTime"] == "2030-01-01T00:01:00Z" and r.json()["programLongName"] == "TOU v2"
    assert client.get(f"/programs/{p['id']}", headers=ven).json()["programLongName"] == "TOU v2"
    forbidden = client.post("/programs", json={"programName": "x"}, headers=ven)
    assert forbidden.status_code == 403 and forbidden.json()["title"] == "Forbidden"
    conflict = client.post("/programs", json={"programName": "tou"}, headers=bl)
    assert conflict.status_code == 409
    bad = client.post("/programs", json={"programName": "y", "programNmae": "typo"}, headers=bl)
    assert bad.status_code == 400 and "programNmae" in bad.json()["detail"]
    bad_time = client.post("/events", json={"programID": p["id"], "intervalPeriod": {"start": "tomorrow"}},
                           headers=bl)
    assert bad_time.status_code == 400 and "RFC 3339" in bad_time.json()["detail"]
    not_json = client.post("/programs", content="{oops", headers={**bl, "Content-Type": "application/json"})
    assert not_json.status_code == 400 and not_json.json()["title"] == "Bad Request"
    array = client.post("/programs", json=[{"programName": "z"}], headers=bl)
    assert array.status_code == 400 and "JSON object" in array.json()["detail"]
    assert client.get("/programs/nope", headers=bl).status_code == 404
    assert client.get("/programs/nope", headers=bl).json()["status"] == 404
    assert client.delete(f"/programs/{p['id']}", headers=bl).json()["id"] == p["id"]
    assert store.get("program", p["id"]) is None
    unknown = client.post("/events", json={"programID": "ghost", "intervals": []}, headers=bl)
    assert unknown.status_code == 409 and "ghost" in unknown.json()["detail"]


def test_pagination_and_target_filters(setup: tuple[TestClient, MemoryDocumentStore, Clock, Calls]) -> None:
    client, *_ = setup
    bl = token(client, "bl", "bl-secret")
    names = [f"p{i:02d}" for i in range(55)]
    for i, name in enumerate(names):
        targets = ["north", "ev"] if i % 2 == 0 else ["south"]
        program(client, bl, name, targets=targets)
    first = client.get("/programs", headers=bl).json()
    assert [p["programName"] for p in first] == names[:50]  # the spec's maximum page
    page = client.get("/programs", params={"skip": 10, "limit": 3}, headers=bl).json()
    assert [p["programName"] for p in page] == names[10:13]
    assert client.get("/programs", params={"limit": 51}, headers=bl).status_code == 400
    assert client.get("/programs", params={"skip": -1}, headers=bl).json()["status"] == 400
    north = client.get("/programs", params={"targets": ["north", "ev"], "limit": 50}, headers=bl).json()
    assert [p["programName"] for p in north] == names[0::2]  # 28 of them
    north_page = client.get("/programs", params={"targets": ["north"], "skip": 26}, headers=bl).json()
    assert [p["programName"] for p in north_page] == [names[52], names[54]]
    assert client.get("/programs", params={"targets": ["north", "south"]}, headers=bl).json() == []
    # 3.0.1 valuesMap targets and targetType/targetValues
    program(client, bl, "old", targets=[{"type": "GROUP", "values": ["g1", "g2"]}])
    old = client.get("/programs", params={"targetType": "GROUP", "targetValues": ["g2"]}, headers=bl).json()
    assert [p["programName"] for p in old] == ["old"]
    assert client.get("/programs", params={"targetType": "GROUP", "targetValues": ["g3"]}, headers=bl).json() == []
    assert [p["programName"] for p in client.get("/programs", params={"targets": ["g1"]}, headers=bl).json()] == [
        "old"]


def test_event_filters_active_and_program(setup: tuple[TestClient, MemoryDocumentStore, Clock, Calls]) -> None:
    client, _, clock, _ = setup
    bl = token(client, "bl", "bl-secret")
    p1, p2 = program(client, bl, "a")["id"], program(client, bl, "b")["id"]
    past = event(client, bl, p1, start="2029-12-31T20:00:00Z", duration="PT1H")
    now_on = event(client, bl, p1, start="2029-12-31T23:30:00Z", duration="PT1H")
    later = event(client, bl, p2, start="2030-01-02T00:00:00Z")
    ids = lambda r: [e["id"] for e in r.json()]  # noqa: E731
    assert ids(client.get("/events", params={"programID": p1}, headers=bl)) == [past["id"], now_on["id"]]
    assert ids(client.get("/events", params={"active": "true"}, headers=bl)) == [now_on["id"], later["id"]]
    assert ids(client.get("/events", params={"active": "false"}, headers=bl)) == [past["id"]]
    clock.now += 3600
    bl = token(client, "bl", "bl-secret")  # the first one has just expired
    assert ids(client.get("/events", params={"active": "true", "programID": p1}, headers=bl)) == []


def test_vens_resources_both_versions_and_privacy(
    setup: tuple[TestClient, MemoryDocumentStore, Clock, Calls],
) -> None:
    client, store, _, _ = setup
    bl = token(client, "bl", "bl-secret")
    a, b = token(client, "ven-a", "a-secret"), token(client, "ven-b", "b-secret")
    ven_a = client.post("/vens", json={"objectType": "VEN_VEN_REQUEST", "venName": "depot-a", "attributes": None},
                        headers=a).json()
    assert ven_a["clientID"] == "ven-a" and ven_a["objectType"] == "VEN"
    Ven.model_validate(ven_a)
    wrong = client.post("/vens", json={"venName": "depot-a"}, headers=b)
    assert wrong.status_code == 403 and "depot-b" in wrong.json()["detail"]
    targets = client.post("/vens", json={"venName": "depot-b", "targets": ["vip"]}, headers=b)
    assert targets.status_code == 403
    ven_b = client.post("/vens", json={"venName": "depot-b"}, headers=b).json()  # 3.0.1 shape
    # BL registers a third VEN, 3.1.0 style, with targets
    ven_c = client.post("/vens", json={"objectType": "BL_VEN_REQUEST", "clientID": "ven-c", "venName": "depot-c",
                                       "targets": ["north"]}, headers=bl)
    assert ven_c.status_code == 201 and ven_c.json()["clientID"] == "ven-c"
    assert client.post("/vens", json={"venName": "depot-c"}, headers=bl).status_code == 409
    # a VEN sees only itself; BL sees all
    assert [v["id"] for v in client.get("/vens", headers=a).json()] == [ven_a["id"]]
    assert len(client.get("/vens", headers=bl).json()) == 3
    assert client.get(f"/vens/{ven_b['id']}", headers=a).status_code == 403
    # resources: 3.1.0 /resources and 3.0.1 /vens/{id}/resources reach the same objects
    r1 = client.post("/resources", json={"objectType": "VEN_RESOURCE_REQUEST", "resourceName": "cp-1",
                                         "venID": ven_a["id"]}, headers=a)
    assert r1.status_code == 201 and r1.json()["clientID"] == "ven-a"
    r2 = client.post(f"/vens/{ven_a['id']}/resources", json={"resourceName": "cp-2"}, headers=a)
    assert r2.status_code == 201 and r2.json()["venID"] == ven_a["id"]
    assert client.post(f"/vens/{ven_a['id']}/resources", json={"resourceName": "cp-1"}, headers=a).status_code == 409
    assert client.post(f"/vens/{ven_a['id']}/resources", json={"resourceName": "x"}, headers=b).status_code == 403
    assert client.post("/vens/ghost/resources", json={"resourceName": "x"}, headers=bl).status_code == 404
    listed = client.get(f"/vens/{ven_a['id']}/resources", headers=a).json()
    assert [r["resourceName"] for r in listed] == ["cp-1", "cp-2"]
    assert [r["resourceName"] for r in client.get("/resources", params={"venID": ven_a["id"]}, headers=bl).json()] \
        == ["cp-1", "cp-2"]
    assert client.get("/resources", headers=b).json() == []
    one = client.get(f"/vens/{ven_a['id']}/resources/{r1.json()['id']}", headers=a)
    assert one.json()["resourceName"] == "cp-1"
    assert client.get(f"/vens/{ven_b['id']}/resources/{r1.json()['id']}", headers=bl).status_code == 404
    assert client.delete(f"/vens/{ven_a['id']}", headers=a).status_code == 409  # resources first
    assert client.delete(f"/vens/{ven_a['id']}/resources/{r2.json()['id']}", headers=a).status_code == 200
    assert client.delete(f"/resources/{r1.json()['id']}", headers=a).status_code == 200
    assert client.delete(f"/vens/{ven_a['id']}", headers=a).status_code == 200
    assert store.list("resource") == []


def test_reports_owned_by_their_ven(setup: tuple[TestClient, MemoryDocumentStore, Clock, Calls]) -> None:
    client, *_ = setup
    bl = token(client, "bl", "bl-secret")
    a, b = token(client, "ven-a", "a-secret"), token(client, "ven-b", "b-secret")
    pid = program(client, bl)["id"]
    eid = event(client, bl, pid)["id"]
    usage = [{"id": 0, "payloads": [{"type": "USAGE", "values": [3]}]}]
    body = {"eventID": eid, "clientName": "depot-a", "resources": [{"resourceName": "AGGREGATED_REPORT",
                                                                     "intervals": usage}]}
    ra = client.post("/reports", json=body, headers=a)
    assert ra.status_code == 201 and ra.json()["clientID"] == "ven-a"
    rb = client.post("/reports", json={**body, "clientName": "depot-b", "programID": pid}, headers=b)  # 3.0.1 shape
    assert rb.status_code == 201
    assert client.post("/reports", json=body, headers=bl).status_code == 403  # BL does not write reports
    assert client.post("/reports", json={**body, "eventID": "ghost"}, headers=a).status_code == 409
    assert [r["id"] for r in client.get("/reports", headers=a).json()] == [ra.json()["id"]]
    assert client.get(f"/reports/{rb.json()['id']}", headers=a).status_code == 403
    assert client.put(f"/reports/{rb.json()['id']}", json=body, headers=a).status_code == 403
    by_program = client.get("/reports", params={"programID": pid}, headers=bl).json()
    assert [r["id"] for r in by_program] == [ra.json()["id"], rb.json()["id"]]  # via the event for 3.1.0 reports
    assert client.get("/reports", params={"clientName": "depot-b"}, headers=bl).json()[0]["id"] == rb.json()["id"]


def test_webhooks_on_create_update_delete(setup: tuple[TestClient, MemoryDocumentStore, Clock, Calls]) -> None:
    client, _, _, calls = setup
    bl = token(client, "bl", "bl-secret")
    a, b = token(client, "ven-a", "a-secret"), token(client, "ven-b", "b-secret")
    p1, p2 = program(client, bl, "one")["id"], program(client, bl, "two")["id"]
    sub = client.post("/subscriptions", json={
        "clientName": "depot-a", "programID": p1, "objectOperations": [
            {"objects": ["EVENT"], "operations": ["CREATE", "UPDATE", "DELETE"], "callbackUrl": "http://a/cb",
             "bearerToken": "tok-a"}]}, headers=a)
    assert sub.status_code == 201 and sub.json()["clientID"] == "ven-a"
    old_style = client.post("/subscriptions", json={
        "clientName": "depot-b", "programID": None, "objectOperations": [
            {"objects": ["EVENT", "REPORT"], "operations": ["POST"], "callbackUrl": "http://b/cb"}]}, headers=b)
    assert old_style.status_code == 201
    calls.sent.clear()
    e1 = event(client, bl, p1)
    assert [(u, n["operation"], n["object"]["id"], t) for u, n, t in calls.sent] == [
        ("http://a/cb", "CREATE", e1["id"], "tok-a"), ("http://b/cb", "POST", e1["id"], None)]
    assert calls.sent[0][1]["objectType"] == "EVENT"
    calls.sent.clear()
    event(client, bl, p2)  # not ven-a's programme; ven-b subscribed to every programme
    assert [u for u, _, _ in calls.sent] == ["http://b/cb"]
    calls.sent.clear()
    client.put(f"/events/{e1['id']}", json={"programID": p1, "eventName": "renamed", "intervals": []}, headers=bl)
    client.delete(f"/events/{e1['id']}", headers=bl)
    assert [(u, n["operation"]) for u, n, _ in calls.sent] == [("http://a/cb", "UPDATE"), ("http://a/cb", "DELETE")]
    calls.sent.clear()
    # a VEN is not told of another VEN's reports
    e3 = event(client, bl, p1)
    calls.sent.clear()
    client.post("/reports", json={"eventID": e3["id"], "clientName": "depot-a", "resources": []}, headers=a)
    assert calls.sent == []
    # subscriptions are private to their VEN
    assert [s["clientName"] for s in client.get("/subscriptions", headers=a).json()] == ["depot-a"]
    assert len(client.get("/subscriptions", params={"objects": ["REPORT"]}, headers=bl).json()) == 1
    bad = client.post("/subscriptions", json={"clientName": "x", "objectOperations": [
        {"objects": ["EVENT"], "operations": ["SHOUT"], "callbackUrl": "http://x"}]}, headers=a)
    assert bad.status_code == 400


def test_ven_client_end_to_end_and_mounted_under_a_prefix() -> None:
    store, clock = MemoryDocumentStore(), Clock()
    parent = FastAPI()
    parent.mount("/openadr", create_vtn_app(store, CLIENTS, key=b"k", clock=clock, notifier=Calls()))
    http = TestClient(parent)
    bl = {"Authorization": "Bearer " + http.post(
        "/openadr/auth/token", data={"grant_type": "client_credentials"}, auth=("bl", "bl-secret")).json()[
        "access_token"]}
    assert http.get("/openadr/auth/server").json()["tokenURL"] == "http://testserver/openadr/auth/token"
    pid = http.post("/openadr/programs", json={"programName": "flex"}, headers=bl).json()["id"]
    http.post("/openadr/events", headers=bl, json={
        "programID": pid, "priority": 2,
        "payloadDescriptors": [{"payloadType": "EXPORT_CAPACITY_LIMIT", "units": "KW"}],
        "intervalPeriod": {"start": "2030-01-01T00:30:00Z", "duration": "PT30M"},
        "intervals": [{"id": 0, "payloads": [{"type": "EXPORT_CAPACITY_LIMIT", "values": [50]},
                                             {"type": "DISPATCH_SETPOINT", "values": [20]}]}]})
    for version in ("3.1.0", "3.0.1"):
        ven = VenClient("http://testserver/openadr", "ven-a", "a-secret", "depot-a", http=http, clock=clock,
                        version=version)  # type: ignore[arg-type]
        registered = ven.register(["cp-1", "cp-2"])
        assert registered["venName"] == "depot-a"
        assert sorted(r["resourceName"] for r in ven.resources()) == ["cp-1", "cp-2"]
    assert len(store.list("ven")) == 1 and len(store.list("resource")) == 2  # registering twice adds nothing
    sub = ven.subscribe("http://agg/cb", program_id=pid)
    assert sub["objectOperations"][0]["operations"] == ["POST", "PUT", "DELETE"]  # the 3.0.1 client's words
    ven.register(callback_url="http://agg/cb")  # already subscribed there: no second subscription
    ven.register(callback_url="http://agg/other")
    assert [s["objectOperations"][0]["callbackUrl"] for s in store.list("subscription")] == [
        "http://agg/cb", "http://agg/other"]
    grid = TimeGrid(pd.Timestamp("2030-01-01T00:00:00Z"), pd.Timestamp("2030-01-01T01:30:00Z"), 30)
    signals = ven.poll(grid, [pid])
    np.testing.assert_array_equal(signals.export_limit_kw, [np.nan, 50, np.nan])
    np.testing.assert_array_equal(signals.dispatch_setpoint_kw, [np.nan, 20, np.nan])
    assert ven.events([pid])[0].priority == 2 and isinstance(ven.events()[0], Event)
    eid = ven.events([pid])[0].id
    assert eid is not None
    posted = ven.post_report(usage_report(grid, eid, "depot-a", power_kw=[0.0, 10.0, 4.0], program_id=pid))
    assert posted["clientID"] == "ven-a"
    assert [i["payloads"][0]["values"][0] for i in store.list("report")[0]["resources"][0]["intervals"]] == [
        0.0, 5.0, 2.0]
    stranger = VenClient("http://testserver/openadr", "ven-a", "wrong", "depot-a", http=http, clock=clock)
    with pytest.raises(VgiError, match="token request refused"):
        stranger.programs()
    other = VenClient("http://testserver/openadr", "ven-b", "b-secret", "depot-a", http=http, clock=clock)
    with pytest.raises(VgiError, match=r"VEN registration failed \(403\): client 'ven-b' may only register"):
        other.register()


def test_client_config_from_mapping() -> None:
    assert ClientConfig.from_mapping({"client_id": "x", "secret": "s", "role": "ven", "ven_name": "v"}).role == "VEN"
    with pytest.raises(VgiError, match="clients row 2: missing secret"):
        ClientConfig.from_mapping({"client_id": "x", "role": "BL"}, where="clients row 2")
    with pytest.raises(VgiError, match="role 'admin' is not BL or VEN"):
        ClientConfig.from_mapping({"client_id": "x", "secret": "s", "role": "admin"})
    with pytest.raises(VgiError, match="configured twice"):
        TokenIssuer([CLIENTS[0], CLIENTS[0]])


def test_http_notifier_posts_to_a_real_callback() -> None:
    import json
    import threading
    from http.server import BaseHTTPRequestHandler, HTTPServer

    received: list[tuple[str, dict[str, Any], str | None]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            received.append((self.path, body, self.headers.get("Authorization")))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            return None

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/cb"
        send = http_notifier(timeout_s=5)
        send(url, {"objectType": "EVENT", "operation": "CREATE", "object": {"id": "e1"}}, "tok")
        send(url, {"objectType": "EVENT", "operation": "DELETE", "object": {"id": "e1"}}, None)
        send("http://127.0.0.1:9/unreachable", {"objectType": "EVENT"}, None)  # logged, not raised
    finally:
        server.shutdown()
        thread.join(timeout=5)
    assert received == [
        ("/cb", {"objectType": "EVENT", "operation": "CREATE", "object": {"id": "e1"}}, "Bearer tok"),
        ("/cb", {"objectType": "EVENT", "operation": "DELETE", "object": {"id": "e1"}}, None),
    ]
