"""The write-behind meter batcher (vgi.service.batching.MeterBatcher), against SQLite and a real PostgreSQL.

Many charge points' meter messages are committed in one transaction; each ``add`` returns only once its own
readings are committed; a repeated reading is stored once; a message the store refuses fails alone; ``flush`` and
``close`` leave nothing queued; no caller waits for ever (a stopped writer fails what it left, a long flush
warns).
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from vgi.service import batching
from vgi.service.batching import BatcherStopped, MeterBatcher
from vgi.service.store import MeterReading, Store, StoreError

T0 = datetime(2030, 1, 1, tzinfo=UTC)
N_CPS = 50


@pytest.fixture
def store(database: tuple[str, str | None]) -> Iterator[Store]:
    url, schema = database
    opened = Store.open(url, schema=schema)
    for n in range(N_CPS):
        opened.upsert_charge_point(f"CP{n}", site_id="depot", max_charge_kw=7.4)
    yield opened
    opened.close()


def _reading(cp: str, second: float, wh: float) -> MeterReading:
    return MeterReading(cp, 1, T0 + timedelta(seconds=second), "Energy.Active.Import.Register", wh, "Wh",
                        transaction_id="T1")


def _stored(store: Store, cp: str | None = None) -> list[tuple[str, float]]:
    return [(r.charge_point_id, r.value) for r in store.meter_values(charge_point_id=cp)]


def test_concurrent_messages_of_many_charge_points_commit_in_one_transaction(store: Store) -> None:
    async def body() -> MeterBatcher:
        batcher = MeterBatcher(store)
        # 50 charge points' messages arrive together; the writer first runs after all 50 are queued (asyncio
        # runs ready tasks in order, and the writer task is created by the first message, after the 50)
        await asyncio.gather(*(batcher.add([_reading(f"CP{n}", 0, 100.0 + n)]) for n in range(N_CPS)))
        return batcher

    batcher = asyncio.run(body())
    assert (batcher.commits, batcher.rows) == (1, N_CPS)  # one-by-one writes would be 50 commits
    assert sorted(_stored(store)) == sorted((f"CP{n}", 100.0 + n) for n in range(N_CPS))


def test_add_returns_once_committed_and_a_repeat_is_stored_once(store: Store, database: tuple[str, str | None]
                                                                 ) -> None:
    url, schema = database

    async def body() -> None:
        batcher = MeterBatcher(store)
        await batcher.add([_reading("CP1", 0, 10.0), _reading("CP1", 10, 20.0)])
        # answered: another connection to the database already sees both (the commit came before the return)
        with Store.open(url, schema=schema) as other:
            assert _stored(other, "CP1") == [("CP1", 10.0), ("CP1", 20.0)]
        # the same value re-sent after a lost answer, alone and twice in one batch beside a new one
        await batcher.add([_reading("CP1", 10, 20.0)])
        await asyncio.gather(batcher.add([_reading("CP1", 10, 20.0)]), batcher.add([_reading("CP1", 10, 20.0)]),
                             batcher.add([_reading("CP1", 20, 30.0)]))
        await batcher.close()

    asyncio.run(body())
    assert _stored(store, "CP1") == [("CP1", 10.0), ("CP1", 20.0), ("CP1", 30.0)]


def test_a_refused_message_fails_alone(store: Store) -> None:
    async def body() -> list[BaseException | None]:
        batcher = MeterBatcher(store)
        results = await asyncio.gather(
            batcher.add([_reading("CP1", 0, 1.0)]),
            batcher.add([_reading("NO-SUCH-CP", 0, 2.0)]),  # a charge point the store does not know
            batcher.add([_reading("CP2", 0, 3.0), _reading("CP2", 1, 4.0)]),
            return_exceptions=True)
        return list(results)

    results = asyncio.run(body())
    assert results[0] is None and results[2] is None
    assert isinstance(results[1], StoreError)
    assert sorted(_stored(store)) == [("CP1", 1.0), ("CP2", 3.0), ("CP2", 4.0)]


def test_max_rows_splits_batches_between_messages(store: Store) -> None:
    async def body() -> MeterBatcher:
        batcher = MeterBatcher(store, max_rows=4)
        # three messages of two readings: 2 + 2 fit in 4, the third goes in a second transaction; a message of
        # five (more than max_rows on its own) is written whole, alone: three transactions in all
        await asyncio.gather(*(batcher.add([_reading(f"CP{n}", 0, 1.0), _reading(f"CP{n}", 1, 2.0)])
                               for n in range(3)))
        await batcher.add([_reading("CP9", s, float(s)) for s in range(5)])
        return batcher

    batcher = asyncio.run(body())
    assert (batcher.commits, batcher.rows) == (3, 11)
    assert len(_stored(store)) == 11


def test_linger_gathers_messages_that_arrive_a_little_apart(store: Store) -> None:
    async def body() -> MeterBatcher:
        batcher = MeterBatcher(store, linger_s=0.5)

        async def later(n: int) -> None:
            await asyncio.sleep(0.02 * n)  # 0 to 0.18 s apart, all within the 0.5 s the writer waits
            await batcher.add([_reading(f"CP{n}", 0, float(n))])

        await asyncio.gather(*(later(n) for n in range(10)))
        return batcher

    batcher = asyncio.run(body())
    assert (batcher.commits, batcher.rows) == (1, 10)


def test_flush_and_close_leave_nothing_queued(store: Store) -> None:
    async def body() -> None:
        batcher = MeterBatcher(store, linger_s=30.0)  # the writer would wait 30 s for more
        pending = [asyncio.create_task(batcher.add([_reading(f"CP{n}", 0, float(n))])) for n in range(3)]
        await asyncio.sleep(0.05)  # queued, the writer lingering
        assert not any(t.done() for t in pending)
        await asyncio.wait_for(batcher.flush(), 10)  # cuts the linger short
        assert all(t.done() and t.exception() is None for t in pending)
        assert len(_stored(store)) == 3
        late = asyncio.create_task(batcher.add([_reading("CP7", 0, 7.0)]))
        await asyncio.sleep(0.05)
        await asyncio.wait_for(batcher.close(), 10)  # commits the late one before it stops
        assert late.done() and late.exception() is None
        await batcher.add([_reading("CP8", 0, 8.0)])  # after close: written on its own

    asyncio.run(asyncio.wait_for(body(), 30))
    assert sorted(_stored(store)) == [("CP0", 0.0), ("CP1", 1.0), ("CP2", 2.0), ("CP7", 7.0), ("CP8", 8.0)]


def _gate_first_write(store: Store, monkeypatch: pytest.MonkeyPatch) -> threading.Event:
    """Hold the store's first add_meter_values (in the writer's thread) until the returned event is set."""
    gate = threading.Event()
    original = store.add_meter_values
    calls = []

    def gated(readings: Any) -> int:
        calls.append(1)
        if len(calls) == 1 and not gate.wait(10):
            raise AssertionError("the test never opened the gate")
        return original(readings)

    monkeypatch.setattr(store, "add_meter_values", gated)
    return gate


def test_a_message_arriving_while_close_flushes_is_committed_not_failed(store: Store,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """close() used to stop queueing only after its flush: a message queued meanwhile was taken by the writer
    and then cancelled with it (its caller failed although its readings were being written)."""
    gate = _gate_first_write(store, monkeypatch)

    async def body() -> None:
        batcher = MeterBatcher(store)
        first = asyncio.create_task(batcher.add([_reading("CP1", 0, 1.0)]))
        await asyncio.sleep(0.05)  # the writer holds CP1's batch in the gated store call
        closing = asyncio.create_task(batcher.close())
        await asyncio.sleep(0.05)  # close() waits for CP1
        second = asyncio.create_task(batcher.add([_reading("CP2", 0, 2.0)]))  # arrives during the flush
        await asyncio.sleep(0.05)
        gate.set()
        await asyncio.wait_for(asyncio.gather(first, closing, second), 10)  # raises if CP2 failed

    asyncio.run(body())
    assert sorted(_stored(store)) == [("CP1", 1.0), ("CP2", 2.0)]


def test_a_writer_that_stops_fails_its_queued_messages_instead_of_leaving_them_waiting(store: Store) -> None:
    async def body() -> list[BaseException | None]:
        batcher = MeterBatcher(store, linger_s=30.0)  # the writer waits 30 s for more before writing
        waiting = [asyncio.create_task(batcher.add([_reading(f"CP{n}", 0, float(n))])) for n in range(2)]
        await asyncio.sleep(0.05)
        assert batcher._task is not None
        batcher._task.cancel()  # the writer stops (here: cancelled) with both messages queued
        # before the fix both callers waited for ever (the wait_for below timed out)
        done = await asyncio.wait_for(asyncio.gather(*waiting, return_exceptions=True), 5)
        batcher.linger_s = 0.0
        await asyncio.wait_for(batcher.add([_reading("CP9", 0, 9.0)]), 5)  # a new writer takes the next one
        return list(done)

    outcomes = asyncio.run(body())
    assert all(isinstance(o, BatcherStopped) for o in outcomes), outcomes
    assert _stored(store) == [("CP9", 9.0)]


def test_a_flush_that_waits_long_says_so(store: Store, monkeypatch: pytest.MonkeyPatch,
                                         caplog: pytest.LogCaptureFixture) -> None:
    gate = _gate_first_write(store, monkeypatch)
    monkeypatch.setattr(batching, "FLUSH_WARN_S", 0.05)

    async def body() -> None:
        batcher = MeterBatcher(store)
        adding = asyncio.create_task(batcher.add([_reading("CP1", 0, 1.0)]))
        await asyncio.sleep(0.02)
        flushing = asyncio.create_task(batcher.flush())
        await asyncio.sleep(0.3)  # about six warning periods with the writer held
        assert not flushing.done()
        gate.set()
        await asyncio.wait_for(asyncio.gather(adding, flushing), 10)
        await batcher.close()

    with caplog.at_level(logging.WARNING, logger="vgi.service.batching"):
        asyncio.run(body())
    warnings = [r.getMessage() for r in caplog.records if "flush has waited" in r.getMessage()]
    assert warnings and "1 message(s)" in warnings[0] and "writer running" in warnings[0]
    assert _stored(store) == [("CP1", 1.0)]
