"""The service store against SQLite (a temporary file) and a real PostgreSQL (a fresh schema per test).

PostgreSQL: ``VGI_TEST_POSTGRES_URL`` (default ``postgresql+psycopg://postgres@localhost:5432/test``). When it cannot
be reached the PostgreSQL cases are skipped with the reason, except under ``CI``, where they fail.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import numpy as np
import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text

from conftest import PG_URL
from vgi.service.documents import DocumentStore, MemoryDocumentStore
from vgi.service.store import MeterReading, SqlDocumentStore, Store, StoreError, make_engine, migrate
from vgi.service.store.models import Base
from vgi.service.store.passwords import hash_password, verify_password

T0 = datetime(2026, 7, 1, 8, 0, tzinfo=UTC)
TABLES = {"charge_points", "evse_status", "charging_sessions", "meter_values", "plans", "plan_setpoints",
          "grid_events", "reports", "settlements", "documents"}


# ------------------------------------------------------------------------------------------------------ fixtures


@pytest.fixture
def store(database: tuple[str, str | None]) -> Iterator[Store]:
    url, schema = database
    opened = Store.open(url, schema=schema)
    yield opened
    opened.close()


@pytest.fixture
def cp_store(store: Store) -> Store:
    """A store with charge points CP1 (password 's3cret', 22 kW / 11 kW) and CP2."""
    store.upsert_charge_point("CP1", password="s3cret", site_id="depot", protocol="ocpp2.0.1", max_charge_kw=22,
                              max_discharge_kw=11)
    store.upsert_charge_point("CP2", site_id="depot", protocol="ocpp1.6", max_charge_kw=7.4)
    return store


def reading(at: datetime, value: float, *, cp: str = "CP1", evse: int = 1, measurand: str = "Power.Active.Import",
            unit: str = "W", phase: str | None = None, tx: str | None = "T1") -> MeterReading:
    return MeterReading(charge_point_id=cp, evse_id=evse, at=at, measurand=measurand, value=value, unit=unit,
                        phase=phase, transaction_id=tx)


# ---------------------------------------------------------------------------------------------------- migrations


def _tables(engine: Any) -> set[str]:
    return set(inspect(engine).get_table_names())


def test_upgrade_from_empty_to_head_and_downgrade_to_base(database: tuple[str, str | None]) -> None:
    url, schema = database
    engine = make_engine(url, schema=schema)
    try:
        assert migrate.current_revision(engine) is None
        assert _tables(engine) - {"alembic_version"} == set()
        migrate.upgrade(engine)
        assert migrate.current_revision(engine) == migrate.head_revision() == "0001"
        assert _tables(engine) == TABLES | {"alembic_version"}
        migrate.upgrade(engine)  # a second upgrade is a no-op
        assert migrate.current_revision(engine) == "0001"
        migrate.downgrade(engine, "base")
        assert migrate.current_revision(engine) is None
        assert _tables(engine) - {"alembic_version"} == set()
        migrate.upgrade(engine)
        assert _tables(engine) == TABLES | {"alembic_version"}
    finally:
        engine.dispose()


def test_models_and_migrations_agree(database: tuple[str, str | None]) -> None:
    url, schema = database
    engine = make_engine(url, schema=schema)
    try:
        migrate.upgrade(engine)
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            assert compare_metadata(context, Base.metadata) == []
    finally:
        engine.dispose()


def test_models_and_migrations_disagree_is_detected(tmp_path: Any) -> None:
    """The comparison above can fail: a table the migrations lack shows up as a difference."""
    engine = make_engine(f"sqlite:///{tmp_path / 'x.db'}")
    migrate.upgrade(engine)
    with engine.begin() as connection:
        connection.execute(text("DROP TABLE reports"))
    with engine.connect() as connection:
        diff = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    engine.dispose()
    assert diff[0][0] == "add_table" and diff[0][1].name == "reports"
    assert [d[0] for d in diff[1:]] == ["add_index"] and diff[1][1].table.name == "reports"


def test_open_without_upgrade_refuses_an_old_schema(database: tuple[str, str | None]) -> None:
    url, schema = database
    with pytest.raises(StoreError, match="vgi db upgrade"):
        Store.open(url, schema=schema, upgrade=False)
    Store.open(url, schema=schema).close()
    with Store.open(url, schema=schema, upgrade=False) as opened:
        assert opened.charge_points() == []


def test_sqlite_is_wal_with_foreign_keys(tmp_path: Any) -> None:
    with Store.open(f"sqlite:///{tmp_path / 'w.db'}") as opened, opened.engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1


def test_default_url_is_a_sqlite_file_in_the_working_directory(tmp_path: Any, monkeypatch: Any) -> None:
    monkeypatch.chdir(tmp_path)
    with Store.open() as opened:
        assert opened.dialect == "sqlite"
        opened.upsert_charge_point("CP1")
    assert (tmp_path / "vgi.db").exists()


@pytest.mark.parametrize("url", ["mysql://x/y", "not a url", "sqlite:///x.db?"])
def test_bad_urls_are_one_line_errors(url: str, tmp_path: Any, monkeypatch: Any) -> None:
    monkeypatch.chdir(tmp_path)
    if url.startswith("sqlite"):
        with pytest.raises(StoreError, match="schema is only for PostgreSQL"):
            make_engine(url, schema="s")
    else:
        with pytest.raises(StoreError, match="database URL"):
            make_engine(url)


def test_unreachable_postgres_is_a_store_error() -> None:
    with pytest.raises(StoreError, match="cannot open database"):
        Store.open("postgresql+psycopg://postgres@127.0.0.1:1/none")


def test_missing_postgres_schema_is_a_store_error(pg_schemas: Any) -> None:
    with pytest.raises(StoreError, match="cannot open database"):
        Store.open(PG_URL, schema=f"missing_{uuid.uuid4().hex[:8]}")


# -------------------------------------------------------------------------------------------------- passwords


def test_password_hash_is_salted_and_checked() -> None:
    first, second = hash_password("s3cret"), hash_password("s3cret")
    assert first != second and "s3cret" not in first and first.startswith("scrypt$14$8$1$")
    assert verify_password("s3cret", first) and verify_password("s3cret", second)
    assert not verify_password("s3cret!", first)
    assert not verify_password("s3cret", "plain") and not verify_password("s3cret", "scrypt$14$8$1$!!$!!")


# ---------------------------------------------------------------------------------------------- charge points


def test_charge_points(cp_store: Store) -> None:
    store = cp_store
    cp1 = store.charge_point("CP1")
    assert cp1 is not None and cp1.has_password and cp1.max_charge_kw == 22.0 and cp1.max_discharge_kw == 11.0
    assert cp1.created_at.tzinfo is not None and not cp1.connected
    assert [c.id for c in store.charge_points()] == ["CP1", "CP2"]
    assert [c.id for c in store.charge_points(site_id="depot")] == ["CP1", "CP2"]
    assert store.charge_points(site_id="elsewhere") == []
    # an update changes only the fields given
    updated = store.upsert_charge_point("CP1", max_charge_kw=11)
    assert updated.max_charge_kw == 11.0 and updated.max_discharge_kw == 11.0 and updated.site_id == "depot"
    assert store.check_password("CP1", "s3cret")
    assert not store.check_password("CP1", "wrong")
    assert not store.check_password("CP2", "")  # no password set: refused
    assert not store.check_password("nobody", "s3cret")
    store.upsert_charge_point("CP1", password="new")
    assert store.check_password("CP1", "new") and not store.check_password("CP1", "s3cret")
    with store.engine.connect() as connection:
        stored = connection.execute(text("SELECT password_hash FROM charge_points WHERE id = 'CP1'")).scalar()
    assert isinstance(stored, str) and "new" not in stored.split("$")
    with pytest.raises(StoreError, match="max_charge_kw"):
        store.upsert_charge_point("CP3", max_charge_kw=-1)
    with pytest.raises(StoreError, match="non-empty"):
        store.upsert_charge_point("")
    assert store.delete_charge_point("CP2") and not store.delete_charge_point("CP2")
    assert store.charge_point("CP2") is None


def test_boot_heartbeat_and_times_in_utc(cp_store: Store) -> None:
    store = cp_store
    beijing = timezone(timedelta(hours=8))
    boot = datetime(2026, 7, 1, 16, 0, tzinfo=beijing)  # = 08:00 UTC
    record = store.record_boot("CP1", boot, vendor="ABB", model="Terra AC", firmware_version="1.2",
                               serial_number="S1")
    assert (record.vendor, record.model, record.firmware_version, record.serial_number) == ("ABB", "Terra AC", "1.2",
                                                                                           "S1")
    assert record.connected and record.boot_at == T0 and record.boot_at.utcoffset() == timedelta(0)
    store.record_seen("CP1", T0 + timedelta(seconds=300))
    store.record_seen("CP1", T0 + timedelta(seconds=100))  # late: last_seen_at does not go back
    assert store.charge_point("CP1").last_seen_at == T0 + timedelta(seconds=300)  # type: ignore[union-attr]
    store.record_seen("CP1", T0 + timedelta(seconds=400), connected=False)
    cp1 = store.charge_point("CP1")
    assert cp1 is not None and not cp1.connected and cp1.last_seen_at == T0 + timedelta(seconds=400)
    with pytest.raises(StoreError, match="unknown charge point 'CP9'"):
        store.record_boot("CP9", T0)
    with pytest.raises(StoreError, match="UTC offset"):
        store.record_seen("CP1", datetime(2026, 7, 1, 8, 0))


def test_status_history_and_latest(cp_store: Store) -> None:
    store = cp_store
    store.record_status("CP1", 1, 1, "Available", T0)
    store.record_status("CP1", 1, 1, "Occupied", T0 + timedelta(minutes=5))
    store.record_status("CP1", 1, 1, "Faulted", T0 + timedelta(minutes=1), error_code="GroundFailure")  # late, older
    store.record_status("CP1", 2, 1, "Available", T0)
    store.record_status("CP2", 1, 1, "Unavailable", T0)
    latest = store.evse_statuses("CP1")
    assert [(s.evse_id, s.connector_id, s.status) for s in latest] == [(1, 1, "Occupied"), (2, 1, "Available")]
    assert len(store.evse_statuses()) == 3
    with pytest.raises(StoreError):
        store.record_status("CP9", 1, 1, "Available", T0)


# --------------------------------------------------------------------------------------------------- sessions


def test_sessions(cp_store: Store) -> None:
    store = cp_store
    start = store.start_session("CP1", 1, T0, 1000.0, transaction_id="T1", connector_id=1, id_tag="TAG",
                                departure_at=T0 + timedelta(hours=8), energy_wanted_kwh=30, v2g_consent=True)
    again = store.start_session("CP1", 1, T0, 1000.0, transaction_id="T1")
    assert again == start and again.v2g_consent and again.energy_wanted_kwh == 30.0
    # OCPP 1.6: the store numbers the transaction; the same start sent again is the same session
    s16 = store.start_session("CP2", 1, T0, 500.0, id_tag="X")
    assert s16.transaction_id == str(s16.id)
    assert store.start_session("CP2", 1, T0, 500.0, id_tag="X").id == s16.id
    other = store.start_session("CP2", 2, T0, 0.0)
    assert other.transaction_id != s16.transaction_id
    assert [s.transaction_id for s in store.open_sessions()] == ["T1", s16.transaction_id, other.transaction_id]
    assert [s.transaction_id for s in store.open_sessions("CP1")] == ["T1"]
    updated = store.update_session("CP1", "T1", energy_wanted_kwh=25.5, v2g_consent=False)
    assert updated.energy_wanted_kwh == 25.5 and not updated.v2g_consent
    assert updated.departure_at == T0 + timedelta(hours=8)
    stop_at = T0 + timedelta(hours=3)
    stopped = store.stop_session("CP1", "T1", stop_at, 13500.0, reason="EVDisconnected")
    assert stopped.stopped_at == stop_at and stopped.meter_stop_wh == 13500.0
    assert stopped.energy_kwh == pytest.approx(12.5)  # (13500 - 1000) Wh
    # a stop sent again changes nothing
    assert store.stop_session("CP1", "T1", stop_at + timedelta(minutes=1), 99999.0) == stopped
    assert store.session("CP1", "T1") == stopped
    assert [s.transaction_id for s in store.open_sessions("CP1")] == []
    assert start.energy_kwh is None
    with pytest.raises(StoreError, match="before start"):
        store.stop_session("CP2", s16.transaction_id, T0 - timedelta(seconds=1), 600.0)
    with pytest.raises(StoreError, match="unknown transaction"):
        store.stop_session("CP1", "nope", stop_at, 1.0)
    with pytest.raises(StoreError, match="unknown charge point"):
        store.start_session("CP9", 1, T0, 0.0)
    with pytest.raises(StoreError, match="finite"):
        store.start_session("CP1", 1, T0, float("nan"))
    # overlap with a window: T1 is [T0, T0+3h); the CP2 sessions are still open
    assert {s.transaction_id for s in store.sessions(T0 + timedelta(hours=3), T0 + timedelta(hours=4))} == {
        s16.transaction_id, other.transaction_id}
    assert len(store.sessions(T0 + timedelta(hours=2), T0 + timedelta(hours=4))) == 3
    assert store.sessions(T0 - timedelta(hours=2), T0) == []
    assert store.session("CP1", "missing") is None


# ----------------------------------------------------------------------------------------------- meter values


def test_meter_values_are_idempotent(cp_store: Store) -> None:
    store = cp_store
    first = [reading(T0 + timedelta(seconds=10 * i), 7000.0 + i) for i in range(10)]
    assert store.add_meter_values(first) == 10
    # the charge point resends its queue after a restart, plus 5 new ones
    resend = first + [reading(T0 + timedelta(seconds=100 + 10 * i), 8000.0 + i) for i in range(5)]
    assert store.add_meter_values(resend) == 5
    assert store.add_meter_values(resend) == 0
    assert store.add_meter_values([]) == 0
    # duplicates inside one batch count once; phases and measurands are distinct readings
    at = T0 + timedelta(hours=1)
    batch = [reading(at, 1.0, phase="L1"), reading(at, 1.0, phase="L1"), reading(at, 2.0, phase="L2"),
             reading(at, 3.0), reading(at, 50.0, measurand="SoC", unit="Percent")]
    assert store.add_meter_values(batch) == 4
    values = store.meter_values(charge_point_id="CP1")
    assert len(values) == 19
    assert values[0] == first[0]
    assert [v.value for v in values[:15]] == [7000.0 + i for i in range(10)] + [8000.0 + i for i in range(5)]
    assert all(v.at.tzinfo is not None for v in values)
    # the window is half-open [start, end)
    window = store.meter_values(T0 + timedelta(seconds=20), T0 + timedelta(seconds=50))
    assert [v.value for v in window] == [7002.0, 7003.0, 7004.0]
    assert [v.phase for v in store.meter_values(at, measurand="Power.Active.Import")] == ["L1", "L2", None]
    assert [v.value for v in store.meter_values(measurand="SoC")] == [50.0]
    assert store.meter_values(transaction_id="T9") == []
    assert len(store.meter_values(transaction_id="T1", evse_id=1)) == 19


def test_meter_frame_matches_meter_values(cp_store: Store) -> None:
    store = cp_store
    assert len(store.meter_frame()) == 0 and list(store.meter_frame().columns)[:2] == ["charge_point_id", "evse_id"]
    rows = [reading(T0 + timedelta(seconds=10 * i), 1000.0 * i, cp="CP1" if i % 3 else "CP2", phase="L1" if i % 2
                    else None) for i in range(12)]
    store.add_meter_values(rows)
    frame = store.meter_frame(T0 + timedelta(seconds=10), charge_point_id="CP1")
    records = store.meter_values(T0 + timedelta(seconds=10), charge_point_id="CP1")
    assert len(frame) == len(records) == 8
    assert frame["value"].dtype == np.float64 and frame["evse_id"].dtype == np.int64
    assert frame["value"].tolist() == [r.value for r in records] == [1000.0 * i for i in range(12) if i % 3]
    assert [t.to_pydatetime() for t in frame["at"]] == [r.at for r in records]
    assert frame["phase"].tolist() == [r.phase for r in records]
    assert frame["location"].tolist() == [None] * 8


def test_meter_values_all_or_none(cp_store: Store) -> None:
    store = cp_store
    good = reading(T0, 1.0)
    with pytest.raises(StoreError, match="unknown charge point"):
        store.add_meter_values([good, reading(T0, 1.0, cp="CP9")])
    assert store.meter_values() == []
    with pytest.raises(StoreError, match="finite"):
        store.add_meter_values([good, reading(T0, float("inf"), phase="L1")])
    with pytest.raises(StoreError, match="UTC offset"):
        store.add_meter_values([reading(datetime(2026, 1, 1), 1.0)])
    assert store.meter_values() == []


def test_concurrent_writers_from_threads(cp_store: Store) -> None:
    """8 threads send overlapping batches: every distinct reading is stored once, and the 'new' counts add up."""
    store = cp_store
    n_threads, per_thread = 8, 60
    news: list[int] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(n_threads, timeout=120)

    def worker(i: int) -> None:
        try:
            barrier.wait()
            # thread i covers seconds [20 i, 20 i + 60): neighbours overlap by 40 s
            rows = [reading(T0 + timedelta(seconds=20 * i + k), float(k), cp="CP1" if k % 2 else "CP2")
                    for k in range(per_thread)]
            total = 0
            for first in range(0, per_thread, 15):
                total += store.add_meter_values(rows[first : first + 15])
            news.append(total)
            store.start_session("CP1", 1, T0, 0.0, transaction_id="shared")
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)
            barrier.abort()  # the other threads stop waiting for this one

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(n_threads)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    distinct = 20 * (n_threads - 1) + per_thread  # seconds 0 .. 199
    assert sum(news) == distinct
    assert len(store.meter_values()) == distinct
    assert len(store.open_sessions()) == 1


def test_concurrent_read_then_write_transactions(cp_store: Store) -> None:
    """Threads that read then write at the same moment (a session start sent by several connections at once) all
    succeed and make one session per transaction, not a duplicate nor a 'database is locked'."""
    store = cp_store
    n_threads, rounds = 8, 5
    errors: list[BaseException] = []
    barrier = threading.Barrier(n_threads, timeout=120)
    ids: list[list[int]] = [[] for _ in range(rounds)]

    def worker(i: int) -> None:
        try:
            for r in range(rounds):
                barrier.wait()
                ids[r].append(store.start_session("CP1", 1, T0 + timedelta(hours=r), 0.0, transaction_id=f"tx{r}").id)
                store.record_status("CP1", 1, 1, "Occupied", T0 + timedelta(hours=r, seconds=i))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)
            barrier.abort()  # the other threads stop waiting for this one

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(n_threads)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert all(len(set(r)) == 1 and len(r) == n_threads for r in ids)
    assert len(store.open_sessions()) == rounds


def test_concurrent_open_migrates_once(database: tuple[str, str | None]) -> None:
    """Several processes' worth of Store.open on an empty database at once: one migrates, the others wait."""
    url, schema = database
    errors: list[BaseException] = []
    barrier = threading.Barrier(4, timeout=120)

    def worker() -> None:
        try:
            barrier.wait()
            Store.open(url, schema=schema).close()
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)
            barrier.abort()  # the other threads stop waiting for this one

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    engine = make_engine(url, schema=schema)
    assert migrate.current_revision(engine) == migrate.head_revision()
    engine.dispose()


def test_concurrent_open_from_processes(database: tuple[str, str | None]) -> None:
    """Three processes open an empty database at the same moment: all succeed, the schema is made once."""
    url, schema = database
    start_at = time.time() + 4.0  # after every process has imported vgi
    code = ("import sys, time; from vgi.service.store import Store; time.sleep(max(0.0, float(sys.argv[3]) - "
            "time.time())); Store.open(sys.argv[1], schema=sys.argv[2] or None).close()")
    procs = [subprocess.Popen([sys.executable, "-c", code, url, schema or "", str(start_at)], stderr=subprocess.PIPE,
                              text=True) for _ in range(3)]
    outcomes = [(p.wait(timeout=120), p.stderr.read() if p.stderr else "") for p in procs]
    errors = [[line for line in err.splitlines() if "Error" in line][-1:] for _, err in outcomes]
    assert [rc for rc, _ in outcomes] == [0, 0, 0], errors
    engine = make_engine(url, schema=schema)
    assert migrate.current_revision(engine) == migrate.head_revision()
    engine.dispose()


def test_store_from_asyncio_through_threads(cp_store: Store) -> None:
    store = cp_store

    async def main() -> list[int]:
        batches = [[reading(T0 + timedelta(seconds=i), float(i))] for i in range(20)]
        return await asyncio.gather(*(asyncio.to_thread(store.add_meter_values, b) for b in batches))

    assert sum(asyncio.run(main())) == 20


# ------------------------------------------------------------------------------------------------------- plans


def test_plans(cp_store: Store) -> None:
    store = cp_store
    assert store.latest_plan() is None
    keys = [("CP1", 1), ("CP2", 1)]
    power = np.array([[11.0, 7.5, -3.0, 0.0], [7.4, 7.4, 0.0, 0.0]])
    saved = store.save_plan(T0, 900, keys, power, site_id="depot", meta={"objective_cny": 12.5},
                            created_at=T0 - timedelta(minutes=1))
    later = store.save_plan(T0 + timedelta(minutes=15), 900, keys[:1], [[1.0, 2.0]], site_id="depot",
                            created_at=T0 + timedelta(minutes=14))
    latest = store.latest_plan()
    assert latest is not None and latest.id == later.id and latest.keys == (("CP1", 1),)
    first = store.latest_plan(at=T0)
    assert first is not None and first.id == saved.id and first.keys == (("CP1", 1), ("CP2", 1))
    np.testing.assert_array_equal(first.power_kw, power)
    assert first.meta == {"objective_cny": 12.5} and first.step_s == 900 and first.n_steps == 4
    assert first.end_at == T0 + timedelta(hours=1)
    assert not first.power_kw.flags.writeable
    # step 2 covers [T0+30 min, T0+45 min)
    assert first.setpoint_kw("CP1", 1, T0 + timedelta(minutes=30)) == -3.0
    assert first.setpoint_kw("CP1", 1, T0 + timedelta(minutes=44, seconds=59)) == -3.0
    assert first.setpoint_kw("CP2", 1, T0 + timedelta(minutes=15)) == 7.4
    assert first.setpoint_kw("CP1", 1, T0 + timedelta(hours=1)) is None
    assert first.setpoint_kw("CP1", 1, T0 - timedelta(seconds=1)) is None
    assert first.setpoint_kw("CP3", 1, T0) is None
    assert store.latest_plan(site_id="other") is None
    with pytest.raises(StoreError, match="shape"):
        store.save_plan(T0, 900, keys, [[1.0, 2.0]])
    with pytest.raises(StoreError, match="finite"):
        store.save_plan(T0, 900, keys[:1], [[1.0, float("nan")]])
    with pytest.raises(StoreError, match="once"):
        store.save_plan(T0, 900, [("CP1", 1), ("CP1", 1)], [[1.0], [2.0]])
    with pytest.raises(StoreError, match="seconds"):
        store.save_plan(T0, 0, keys[:1], [[1.0]])


# ------------------------------------------------------------------------------------------------------ events


def test_events(store: Store) -> None:
    intervals = [{"id": 0, "payloads": [{"type": "IMPORT_CAPACITY_LIMIT", "values": [50.0]}]}]
    start, end = T0 + timedelta(hours=9), T0 + timedelta(hours=11)
    event, changed = store.save_event("vtn-a", "ev1", "IMPORT_CAPACITY_LIMIT", start, end, program_id="p1",
                                      intervals=intervals, targets=[{"type": "VEN_NAME", "values": ["agg"]}],
                                      payload={"eventName": "peak"}, received_at=T0)
    assert changed and event.intervals == intervals and event.modification_number == 0
    assert event.received_at == T0
    same, changed = store.save_event("vtn-a", "ev1", "IMPORT_CAPACITY_LIMIT", start, end, program_id="p1")
    assert not changed and same.intervals == intervals
    moved, changed = store.save_event("vtn-a", "ev1", "IMPORT_CAPACITY_LIMIT", start, end + timedelta(hours=1),
                                      program_id="p1", modification_number=2)
    assert changed and moved.end_at == end + timedelta(hours=1) and moved.id == event.id
    stale, changed = store.save_event("vtn-a", "ev1", "IMPORT_CAPACITY_LIMIT", start, end, modification_number=1)
    assert not changed and stale.end_at == end + timedelta(hours=1)
    store.save_event("vtn-b", "ev1", "PRICE", start, None)  # same id from another source, open-ended
    store.save_event("vtn-a", "ev2", "PRICE", T0, start)
    # active: start <= t < end
    assert [(e.source, e.event_id) for e in store.events(active_at=start)] == [("vtn-a", "ev1"), ("vtn-b", "ev1")]
    assert [e.event_id for e in store.events(active_at=start - timedelta(microseconds=1))] == ["ev2"]
    assert [e.source for e in store.events(active_at=end + timedelta(hours=5))] == ["vtn-b"]
    assert [e.event_id for e in store.events(source="vtn-a")] == ["ev2", "ev1"]
    assert [e.event_id for e in store.events(program_id="p1")] == ["ev1"]
    assert store.cancel_event("vtn-b", "ev1") and not store.cancel_event("vtn-b", "nope")
    assert [e.source for e in store.events(active_at=end + timedelta(hours=5))] == []
    assert len(store.events(include_cancelled=True)) == 3
    cancelled = store.event("vtn-b", "ev1")
    assert cancelled is not None and cancelled.cancelled and not cancelled.active_at(start)
    assert store.event("vtn-c", "ev1") is None
    with pytest.raises(StoreError, match="not after start"):
        store.save_event("vtn-a", "ev3", "PRICE", start, start)


# ---------------------------------------------------------------------------------------- reports, settlements


def test_reports(store: Store) -> None:
    payload = {"reportName": "usage", "resources": [{"resourceName": "agg", "intervals": []}]}
    first = store.save_report("vtn-a", T0, T0 + timedelta(hours=1), payload, event_id="ev1", program_id="p1",
                              report_name="usage")
    second = store.save_report("vtn-a", T0, T0 + timedelta(hours=1), {"reportName": "x"}, event_id="ev2")
    assert first.payload == payload and first.sent_at is None
    assert [r.id for r in store.reports(unsent=True)] == [first.id, second.id]
    store.mark_report_sent(first.id, T0 + timedelta(hours=2))
    assert [r.id for r in store.reports(unsent=True)] == [second.id]
    assert store.reports(event_id="ev1")[0].sent_at == T0 + timedelta(hours=2)
    with pytest.raises(StoreError, match="unknown report"):
        store.mark_report_sent(10_000, T0)


def test_settlements(store: Store) -> None:
    # baseline 10, 10, 8, 6 kW and measured 4 kW each quarter hour: 8.5 kWh and 4 kWh, 4.5 kWh delivered
    record = store.save_settlement("uk-dfs", "ev1", T0, 900, [10, 10, 8, 6], [4, 4, 4, 4], delivered_kwh=4.5,
                                   payment=13.5, penalty=1.0, currency="GBP", details={"rate_per_kwh": 3.0})
    assert record.baseline_kwh == pytest.approx(8.5) and record.measured_kwh == pytest.approx(4.0)
    assert record.net_payment == pytest.approx(12.5)
    assert record.baseline_kw == (10.0, 10.0, 8.0, 6.0)
    again = store.save_settlement("uk-dfs", "ev1", T0, 900, [10, 10, 8, 6], [4, 4, 5, 4], delivered_kwh=4.25,
                                  payment=12.75)
    assert [s.id for s in store.settlements(event_id="ev1")] == [record.id, again.id]
    assert store.settlements(programme_id="uk-dfs")[0] == record
    assert store.settlements(programme_id="other") == []
    with pytest.raises(StoreError, match="baseline steps"):
        store.save_settlement("uk-dfs", "ev2", T0, 900, [1, 2], [1], delivered_kwh=0, payment=0)


# ------------------------------------------------------------------------------------ the DocumentStore contract


@pytest.fixture(params=["memory", "sqlite", "postgresql"])
def documents(request: pytest.FixtureRequest, tmp_path: Any) -> Iterator[DocumentStore]:
    if request.param == "memory":
        yield MemoryDocumentStore()
        return
    if request.param == "sqlite":
        url, schema = f"sqlite:///{tmp_path / 'docs.db'}", None
    else:
        url, schema = PG_URL, request.getfixturevalue("pg_schemas")()
    with Store.open(url, schema=schema) as opened:
        assert isinstance(opened.documents, SqlDocumentStore)
        yield opened.documents


def _program(i: int, **extra: Any) -> dict[str, Any]:
    return {"id": f"p{i}", "objectType": "PROGRAM", "programName": f"prog {i}", "intervals": [{"v": [i, 1.5]}],
            **extra}


def test_documents_add_get_and_copies(documents: DocumentStore) -> None:
    doc = _program(1, programID="x")
    documents.add("program", doc)
    doc["programName"] = "changed by caller"
    got = documents.get("program", "p1")
    assert got == _program(1, programID="x")
    assert got is not None
    got["programName"] = "changed again"
    assert documents.get("program", "p1") == _program(1, programID="x")
    assert documents.get("program", "p2") is None
    assert documents.get("event", "p1") is None  # kinds are separate
    documents.add("event", {"id": "p1", "programID": "p1"})
    assert documents.get("event", "p1") == {"id": "p1", "programID": "p1"}
    with pytest.raises(KeyError):
        documents.add("program", _program(1))


def test_documents_list_filters_order_and_paging(documents: DocumentStore) -> None:
    for i in range(6):
        documents.add("event", {"id": f"e{i}", "programID": "pA" if i % 2 == 0 else "pB", "priority": i % 3,
                                "eventName": None if i == 5 else f"n{i}"})
    documents.add("event", {"id": "odd", "programID": 7})  # a non-string value of an indexed field
    documents.add("report", {"id": "r1", "programID": "pA", "eventID": "e0", "clientName": "ven1"})
    ids = lambda docs: [d["id"] for d in docs]  # noqa: E731
    assert ids(documents.list("event")) == ["e0", "e1", "e2", "e3", "e4", "e5", "odd"]
    assert ids(documents.list("event", {"programID": "pA"})) == ["e0", "e2", "e4"]
    assert ids(documents.list("event", {"programID": 7})) == ["odd"]
    assert ids(documents.list("event", {"programID": "pA", "priority": 2})) == ["e2"]
    assert ids(documents.list("event", {"priority": 0})) == ["e0", "e3"]
    assert ids(documents.list("event", {"eventName": None})) == ["e5", "odd"]  # missing equals None
    assert ids(documents.list("event", {"programID": None})) == []
    assert ids(documents.list("event", skip=2, limit=3)) == ["e2", "e3", "e4"]
    assert ids(documents.list("event", {"programID": "pA"}, skip=1, limit=1)) == ["e2"]
    assert ids(documents.list("event", {"priority": 1}, skip=1)) == ["e4"]
    assert ids(documents.list("event", {"priority": 1}, limit=0)) == []
    assert ids(documents.list("event", skip=10)) == []
    assert ids(documents.list("report", {"eventID": "e0", "clientName": "ven1"})) == ["r1"]
    assert ids(documents.list("report", {"clientName": "ven2"})) == []
    assert documents.list("ven") == []


def test_documents_replace_and_delete(documents: DocumentStore) -> None:
    for i in range(3):
        documents.add("program", _program(i, programID=f"id{i}"))
    assert documents.replace("program", _program(0, programID="renamed", programName="new"))
    assert not documents.replace("program", _program(9))
    assert documents.get("program", "p9") is None
    assert [d["id"] for d in documents.list("program")] == ["p0", "p1", "p2"]  # replace keeps the place
    assert documents.get("program", "p0") == _program(0, programID="renamed", programName="new")
    assert [d["id"] for d in documents.list("program", {"programID": "renamed"})] == ["p0"]
    assert documents.list("program", {"programID": "id0"}) == []
    assert documents.delete("program", "p1") == _program(1, programID="id1")
    assert documents.delete("program", "p1") is None
    assert [d["id"] for d in documents.list("program")] == ["p0", "p2"]
    documents.add("program", _program(1))  # re-added after delete: at the end
    assert [d["id"] for d in documents.list("program")] == ["p0", "p2", "p1"]


def test_documents_unknown_kind(documents: DocumentStore) -> None:
    with pytest.raises(KeyError):
        documents.get("nonsense", "x")  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------------------------------- CLI


def test_cli_db_upgrade_and_current(tmp_path: Any, capsys: pytest.CaptureFixture[str]) -> None:
    from vgi.cli import main

    url = f"sqlite:///{tmp_path / 'cli.db'}"
    main(["db", "current", "--url", url])
    assert "current: (empty)" in capsys.readouterr().out
    main(["db", "upgrade", "--url", url])
    assert "(empty) -> 0001" in capsys.readouterr().out
    main(["db", "current", "--url", url])
    out = capsys.readouterr().out
    assert "current: 0001" in out and "up to date" in out
    with pytest.raises(SystemExit) as exit_info:
        main(["db", "upgrade", "--url", url, "--revision", "nope"])
    assert exit_info.value.code == 2
    assert "error: revision 'nope'" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_info:
        main(["db", "upgrade", "--url", "mysql://x/y"])
    assert exit_info.value.code == 2


def test_cli_db_upgrade_postgres(pg_schemas: Any, capsys: pytest.CaptureFixture[str]) -> None:
    from vgi.cli import main

    schema = pg_schemas()
    main(["db", "upgrade", "--url", PG_URL, "--schema", schema])
    assert "-> 0001" in capsys.readouterr().out
    with Store.open(PG_URL, schema=schema, upgrade=False) as opened:
        assert opened.dialect == "postgresql"
