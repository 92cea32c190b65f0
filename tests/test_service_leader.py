"""Leader election of the live service (several ``vgi serve`` processes on one database), SQLite and PostgreSQL.

* The lock (``vgi.service.leader``): two holders cannot both hold it; releasing it, closing its connection or file,
  or killing the process that holds it (SIGKILL) frees it for the next; ``holder()`` names the process holding it.
* Two ``vgi serve`` processes A and B on one database, both configured with the aggregator: exactly one leads;
  a charge point connected to each is sent the leader's plan, and under a 6 kW OpenADR import limit their summed
  setpoints keep to 6 kW.  The leader is then killed (SIGKILL): the other takes the lock within 15 s, re-plans, and
  its charge point is sent a new profile that alone may use the 6 kW.

PostgreSQL: ``VGI_TEST_POSTGRES_URL`` (default ``postgresql+psycopg://postgres@localhost:5432/test``), a fresh
schema per test; skipped with the reason when unreachable, failed under ``CI``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

import vgi
from test_service_reliability import (
    DASH,
    LIMIT_KW,
    STEP_MINUTES,
    MeteringCharger,
    _free_port,
    _iso,
    _start_serve,
    _until,
    _wait_ready,
    service_config,
)
from utility import publish_import_limit
from vgi.service.leader import FileLeaderLock, LocalLock, leader_lock, lock_key
from vgi.service.store import Store

# ------------------------------------------------------------------------------------------------------- the lock


def test_lock_has_one_holder_and_is_released_on_release_and_close(database: tuple[str, str | None]) -> None:
    url, schema = database
    with Store.open(url, schema=schema) as one, Store.open(url, schema=schema) as two:
        a = leader_lock(one.engine, schema, "host-a:1")
        b = leader_lock(two.engine, schema, "host-b:2")
        assert a.holder() is None and b.holder() is None
        assert a.acquire()
        assert a.acquire()  # again: still held, not taken twice
        assert not b.acquire()  # two holders cannot both hold it
        assert a.check() and not b.check()
        assert b.holder() == "host-a:1" and a.holder() == "host-a:1"
        a.release()
        assert not a.check()
        assert b.holder() is None
        assert b.acquire()
        assert not a.acquire()
        assert a.holder() == "host-b:2"
        b.release()
        assert a.acquire()
        # the holder's connection (PostgreSQL) or file (SQLite) closed without a release frees it too
        if one.dialect == "postgresql":
            a._connection.invalidate()  # type: ignore[attr-defined]  # the session ends, as when a process dies
        else:
            a._file.close()  # type: ignore[attr-defined]  # the kernel drops a flock with its file
        assert not a.check()
        assert b.acquire()
        b.release()


def test_lock_keys_differ_by_schema_and_a_store_in_memory_is_local(tmp_path: Path) -> None:
    assert lock_key("test", "a") != lock_key("test", "b")
    assert lock_key("test", None) == lock_key("test", "public")
    with Store.open("sqlite://") as memory:
        assert isinstance(leader_lock(memory.engine), LocalLock)
    with Store.open(f"sqlite:///{tmp_path / 'x.db'}") as store:
        lock = leader_lock(store.engine)
        assert isinstance(lock, FileLeaderLock) and lock.path == tmp_path / "x.db.leader"


def test_a_leader_whose_connection_is_cut_stands_by_and_another_leads(pg_schemas: Any) -> None:
    """PostgreSQL ends the leader's lock session (as when its connection is lost): the leader sees it at its next
    check and stands by, and a process leads again (the other, as a rule: it tries every 0.2 s, while the old
    leader first finds its session gone and then waits 0.2 s)."""
    from sqlalchemy import create_engine, text

    from conftest import PG_URL
    from vgi.service.app import build_service

    schema = pg_schemas()
    cfg = service_config(PG_URL, schema).with_(ven={"enabled": False}, leader_retry_seconds=0.2,
                                               plan_poll_seconds=0.2)
    first, second = build_service(cfg), build_service(cfg)
    second.process_name = "other-host:2"  # one OS process here: tell the two apart

    async def main() -> dict[str, Any]:
        await first.start()
        await second.start()
        try:
            await _until(lambda: first.leading or second.leading, 10)
            await asyncio.sleep(0.5)
            leaders = [first.leading, second.leading]
            assert first.leader_lock is not None and second.leader_lock is not None
            named = second._leader_name()
            holder = first if first.leading else second
            admin = create_engine(PG_URL)
            try:
                with admin.begin() as connection:  # the server ends the lock's session
                    connection.execute(text(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = :name"),
                        {"name": "vgi-leader " + holder.process_name})
            finally:
                admin.dispose()
            started = time.monotonic()
            await _until(lambda: not holder.leading, 10)
            stood_by_s = time.monotonic() - started
            await _until(lambda: first.leading != second.leading, 10)
            again_s = time.monotonic() - started
            now_leading, standing = (first, second) if first.leading else (second, first)
            return {"leaders": leaders, "named": named, "first": first.process_name, "stood_by_s": stood_by_s,
                    "again_s": again_s, "named_again": standing._leader_name(), "new": now_leading.process_name}
        finally:
            await second.stop()
            await first.stop()

    out = asyncio.run(main())
    assert out["leaders"] == [True, False]  # the first to start leads, and only it
    assert out["named"] == out["first"]  # the other names it
    assert out["stood_by_s"] < 2  # checked every 0.2 s
    assert out["again_s"] < 5
    assert out["named_again"] == out["new"]


_HOLD = """
import sys, time
from vgi.service.store import Store
from vgi.service.leader import leader_lock
store = Store.open(sys.argv[1], schema=sys.argv[2] or None)
lock = leader_lock(store.engine, sys.argv[2] or None, "child:1")
print("held" if lock.acquire() else "refused", flush=True)
time.sleep(120)
"""


def test_lock_is_released_when_its_process_is_killed(database: tuple[str, str | None]) -> None:
    url, schema = database
    env = {**os.environ, "PYTHONPATH": str(Path(vgi.__file__).resolve().parents[1])}
    child = subprocess.Popen([sys.executable, "-c", _HOLD, url, schema or ""], stdout=subprocess.PIPE, env=env)
    try:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == b"held"
        with Store.open(url, schema=schema) as store:
            lock = leader_lock(store.engine, schema, "parent:2")
            assert not lock.acquire()
            assert lock.holder() == "child:1"
            child.send_signal(signal.SIGKILL)
            child.wait(10)
            deadline = time.monotonic() + 10  # PostgreSQL ends the session as soon as it sees the socket closed
            while not lock.acquire():
                assert time.monotonic() < deadline, "the dead holder's lock was not released"
                time.sleep(0.1)
            assert lock.holder() == "parent:2"
            lock.release()
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()


def test_store_plan_id_and_sessions_marker(database: tuple[str, str | None]) -> None:
    url, schema = database
    t0 = datetime(2026, 3, 1, 8, tzinfo=UTC)
    with Store.open(url, schema=schema) as store:
        assert store.latest_plan_id() is None
        assert store.sessions_marker() == (0, 0)
        store.upsert_charge_point("CP1", password="cp1-password")
        first = store.save_plan(t0, 900, [("CP1", 1)], [[7.0, 7.0]])
        second = store.save_plan(t0, 900, [("CP1", 1)], [[3.0, 3.0]])
        assert store.latest_plan_id() == second.id != first.id
        latest = store.latest_plan()
        assert latest is not None and latest.id == second.id
        s = store.start_session("CP1", 1, t0, 0.0, transaction_id="T1")
        started = store.sessions_marker()
        assert started == (s.id, 1)
        store.stop_session("CP1", "T1", t0 + timedelta(hours=1), 5000.0)
        assert store.sessions_marker() == (s.id, 0)  # a stop changes it too


# ------------------------------------------------------------------------------------ two vgi serve processes


async def _state(http: httpx.AsyncClient, port: int) -> dict[str, Any]:
    answer = await http.get(f"http://127.0.0.1:{port}/api/state", auth=DASH, timeout=5)
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def _allowed_kw(chargers: list[MeteringCharger], at: datetime) -> float:
    """What the chargers' last profiles together let their cars draw at ``at``, kW."""
    from chargers import limit_kw_at

    return sum(limit_kw_at(c.profiles[-1], at) for c in chargers)


def _next_steps() -> list[datetime]:
    """The starts of the next three steps (inside the event, which covers the hour from the current step)."""
    step_s = STEP_MINUTES * 60
    now = datetime.fromtimestamp(time.time() // step_s * step_s, UTC)
    return [now + timedelta(seconds=k * step_s) for k in (1, 2, 3)]


def _plans_with(store: Store, cp_id: str) -> int:
    """How many stored plans have a row for ``cp_id``."""
    from sqlalchemy import func, select

    from vgi.service.store.models import PlanSetpoint

    with store.engine.connect() as connection:
        return int(connection.execute(select(func.count(func.distinct(PlanSetpoint.plan_id))).where(
            PlanSetpoint.charge_point_id == cp_id)).scalar() or 0)


async def _two_process_story(url: str, schema: str | None, tmp_path: Path) -> dict[str, Any]:
    ports = {name: (_free_port(), _free_port()) for name in "AB"}
    procs: dict[str, subprocess.Popen[bytes]] = {}
    logs = {name: tmp_path / f"serve-{name}.log" for name in "AB"}
    for name, (http_port, ocpp_port) in ports.items():
        cfg = service_config(url, schema, http_port=http_port, ocpp_port=ocpp_port).with_(
            leader_retry_seconds=1.0, plan_poll_seconds=0.5)
        path = tmp_path / f"serve-{name}.yaml"
        path.write_text(yaml.safe_dump(json.loads(cfg.model_dump_json())))
        procs[name] = _start_serve(path, logs[name])
    chargers = {"A": MeteringCharger("CP1", "1.6", f"ws://127.0.0.1:{ports['A'][1]}/ocpp/"),
                "B": MeteringCharger("CP2", "2.0.1", f"ws://127.0.0.1:{ports['B'][1]}/ocpp/")}
    out: dict[str, Any] = {}
    try:
        for name, proc in procs.items():
            await _wait_ready(proc, ports[name][0], logs[name])
        async with httpx.AsyncClient() as http:
            # (a) exactly one leads, and both say which
            deadline = time.monotonic() + 20
            while True:
                states = {name: await _state(http, ports[name][0]) for name in "AB"}
                leaders = [name for name, s in states.items() if s["leader"]]
                if len(leaders) == 1 or time.monotonic() > deadline:
                    break
                await asyncio.sleep(0.2)
            out["leaders"] = leaders
            assert len(leaders) == 1, states
            leader = leaders[0]
            follower = "B" if leader == "A" else "A"
            out["leader_named"] = {name: s["leader_process"] for name, s in states.items()}
            out["leader_process"] = states[leader]["process"]
            assert states[follower]["process"] != states[leader]["process"]

            step = timedelta(minutes=STEP_MINUTES)
            now = datetime.now(UTC)
            event_start = datetime.fromtimestamp(now.timestamp() // step.total_seconds() * step.total_seconds(), UTC)
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{ports[follower][0]}/openadr") as vtn:
                await publish_import_limit(vtn, _iso(event_start), LIMIT_KW, "import-limit")
            with Store.open(url, schema=schema) as store:
                await _until(lambda: bool(store.events()), 20)  # the leader's VEN polls every 0.5 s
            # a charge point on each process, plugged in before the step began: first the leader's, which alone
            # may draw the 6 kW; then the follower's, whose start only the store tells the leader of
            pair = [chargers[leader], chargers[follower]]
            await chargers[leader].begin(event_start - timedelta(minutes=1))
            await _until(lambda: bool(chargers[leader].profiles), 90)  # the first solve compiles the scheduler
            out["alone_kw"] = [_allowed_kw(pair[:1], at) for at in _next_steps()]
            started = time.monotonic()
            await chargers[follower].begin(event_start - timedelta(minutes=1))

            def kept_to_limit() -> bool:
                return all(c.profiles for c in pair) and all(
                    abs(_allowed_kw(pair, at) - LIMIT_KW) < 1e-3 for at in _next_steps())

            await _until(kept_to_limit, 60)
            out["follower_start_to_profile_s"] = time.monotonic() - started
            out["before_kw"] = [_allowed_kw(pair, at) for at in _next_steps()]
            await asyncio.sleep(1.5)  # time for a profile sent twice to arrive
            with Store.open(url, schema=schema) as store:
                plan = store.latest_plan()
                assert plan is not None
                out["plan_keys"] = sorted(plan.keys)
                out["plan_process"] = plan.meta.get("process")
                out["plans_with"] = {name: _plans_with(store, c.cp_id) for name, c in chargers.items()}
            out["profiles_before"] = {name: len(c.profiles) for name, c in chargers.items()}

            # (b) the leader is killed: the follower takes over, re-plans and sends its charge point a new profile
            procs[leader].send_signal(signal.SIGKILL)
            procs[leader].wait(10)
            killed_at = time.monotonic()
            await chargers[leader].close()  # its connection is gone with the process
            while True:
                state = await _state(http, ports[follower][0])
                if state["leader"] or time.monotonic() - killed_at > 30:
                    break
                await asyncio.sleep(0.1)
            out["takeover_s"] = time.monotonic() - killed_at
            out["new_leader"] = state["leader_process"] if state["leader"] else None
            survivor = chargers[follower]
            await _until(lambda: len(survivor.profiles) > out["profiles_before"][follower], 90)
            out["profile_after_s"] = time.monotonic() - killed_at
            with Store.open(url, schema=schema) as store:
                plan = store.latest_plan()
                assert plan is not None
                out["replan_process"] = plan.meta.get("process")
                out["replan_keys"] = sorted(plan.keys)
            out["survivor_process"] = state["process"]
            # the orphaned charge point reconnects to the survivor (as through a load balancer) and is sent the plan
            orphan = chargers[leader]
            orphan.url = f"ws://127.0.0.1:{ports[follower][1]}/ocpp/"
            had = len(orphan.profiles)
            await orphan._connect()
            await _until(lambda: len(orphan.profiles) > had, 30)
            out["after_kw"] = [_allowed_kw(pair, at) for at in _next_steps()]
    finally:
        for charger in chargers.values():
            with contextlib.suppress(Exception):
                await charger.close()
        for proc in procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in procs.values():
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    out["logs"] = {name: path.read_text() for name, path in logs.items()}
    return out


def test_two_processes_one_leader_and_failover(database: tuple[str, str | None], tmp_path: Path) -> None:
    url, schema = database
    out = asyncio.run(asyncio.wait_for(_two_process_story(url, schema, tmp_path), 400))
    leader = out["leaders"][0]
    # both processes name the same leader, the one that says it leads
    assert out["leader_named"] == {"A": out["leader_process"], "B": out["leader_process"]}
    # the plan both charge points follow is the leader's, with both cars in it, and keeps them to the 6 kW limit
    # (two 7 kW cars wanting more than the event allows: together exactly 6 kW in each event step)
    assert out["plan_keys"] == [("CP1", 1), ("CP2", 1)]
    assert out["plan_process"] == out["leader_process"]
    assert out["alone_kw"] == pytest.approx([LIMIT_KW] * 3, abs=1e-3)  # one 7 kW car under 6 kW
    assert out["before_kw"] == pytest.approx([LIMIT_KW] * 3, abs=1e-3)
    # a start at the follower reaches the leader through the store (polled every 0.5 s), and its plan comes back
    assert out["follower_start_to_profile_s"] < 30
    # the leader sends each of its plans to its own charge point once (the plan watcher does not send them again);
    # the follower sends each plan it sees once (a plan replaced within a poll may never be seen)
    follower = "B" if leader == "A" else "A"
    assert out["profiles_before"][leader] == out["plans_with"][leader] >= 2
    assert 1 <= out["profiles_before"][follower] <= out["plans_with"][follower]
    # the survivor leads within 15 s of the kill (it tries the lock every second), re-plans and sends
    assert out["takeover_s"] < 15, out["logs"]
    assert out["new_leader"] == out["survivor_process"] != out["leader_process"]
    assert out["replan_process"] == out["survivor_process"]
    assert out["replan_keys"] == [("CP1", 1), ("CP2", 1)]  # the dead process's car is still plugged in
    # the orphaned charge point, reconnected to the survivor, and the survivor's own still keep to 6 kW together
    assert out["after_kw"] == pytest.approx([LIMIT_KW] * 3, abs=1e-3)
    assert "leads" in out["logs"][leader]
