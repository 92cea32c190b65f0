"""Write-behind batching of meter values: many charge points' readings committed in one transaction.

The store commits one transaction per :meth:`~vgi.service.store.Store.add_meter_values` call, and a commit costs
far more than a row (``benchmarks/bench_service.py`` wrote SQLite rows 28 to 68 times faster in one batch than
one per call; see ``docs/service.md``).  The CSMS
receives meter values from many charge points at once; :class:`MeterBatcher` queues them and writes whatever is
queued in one transaction (a group commit): a single writer takes every queued message (up to ``max_rows``
readings, never splitting a message) as soon as it is free, after waiting up to ``linger_s`` for more when the
queue holds fewer than ``max_rows`` (not while a :meth:`MeterBatcher.flush` waits).  Under a light load a value is
written at once; under a heavy one the values that arrive while a batch commits go together in the next.

:meth:`MeterBatcher.add` returns only once the message's readings are committed, so the CSMS still answers a
MeterValues only after its values are stored (the reliability contract: an answered value is never lost).  A batch
that fails is written again message by message, so one bad message fails alone.  :meth:`flush` waits until every
message queued before it is committed (the service calls it before a snapshot, a settlement or a read of a
transaction's last register); :meth:`close` flushes and stops the writer.  Idempotence is the store's: a reading
it already holds is skipped, in a batch as on its own.

No caller waits without end: a writer that stops for any reason (cancelled, or failing outside the store) fails
every message still queued with :class:`BatcherStopped` (the next :meth:`add` starts a new writer), and a
:meth:`flush` that has waited ``FLUSH_WARN_S`` logs a warning naming what it waits for, again every
``FLUSH_WARN_S``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass

from vgi.service.store import MeterReading, Store

__all__ = ["FLUSH_WARN_S", "BatcherStopped", "MeterBatcher"]

LOGGER = logging.getLogger("vgi.service.batching")
#: seconds a flush waits before it logs a warning (and again after each further such wait)
FLUSH_WARN_S = 30.0


class BatcherStopped(RuntimeError):
    """The batcher's writer stopped before this message was committed (it may or may not have been)."""


@dataclass(eq=False)
class _Message:
    readings: tuple[MeterReading, ...]
    done: asyncio.Future[None]


class MeterBatcher:
    """Group commits of meter readings into ``store`` (see the module docstring).

    ``max_rows``: readings per transaction at most (a single message larger than that is written alone);
    ``linger_s``: seconds the writer waits for more messages when it finds fewer than ``max_rows`` readings queued
    (0: none, the group commit alone batches; a larger value trades each value's latency for fewer commits).
    ``commits`` and ``rows`` count the transactions written and the readings they held.
    """

    def __init__(self, store: Store, *, max_rows: int = 500, linger_s: float = 0.0) -> None:
        if max_rows < 1:
            raise ValueError(f"max_rows must be at least 1, got {max_rows}")
        if linger_s < 0:
            raise ValueError(f"linger_s must not be negative, got {linger_s}")
        self.store = store
        self.max_rows = max_rows
        self.linger_s = linger_s
        self.commits = 0
        self.rows = 0
        self._queue: list[_Message] = []
        self._writing: list[_Message] = []
        self._wake: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None
        self._closed = False
        self._flushers = 0  # flush() calls waiting: the writer does not linger meanwhile

    async def add(self, readings: Sequence[MeterReading]) -> None:
        """Queue ``readings`` (one message's, stored all or none) and return once they are committed; raises what
        the store raised for them (:class:`~vgi.service.store.StoreError` for a reading it refuses)."""
        if not readings:
            return
        if self._closed:  # after close (the service stopping): written on its own
            await asyncio.to_thread(self.store.add_meter_values, list(readings))
            return
        message = _Message(tuple(readings), asyncio.get_running_loop().create_future())
        message.done.add_done_callback(_retrieved)  # a caller cancelled meanwhile leaves no unread exception
        self._queue.append(message)
        self._start()
        assert self._wake is not None
        self._wake.set()
        await asyncio.shield(message.done)  # a cancelled caller does not take the message out of the batch

    async def flush(self) -> None:
        """Wait until every message queued so far is committed (or has failed)."""
        pending = {m.done for m in (*self._writing, *self._queue)}
        if not pending:
            return
        self._flushers += 1
        if self._wake is not None:
            self._wake.set()
        started = asyncio.get_running_loop().time()
        try:
            while pending:
                _, pending = await asyncio.wait(pending, timeout=FLUSH_WARN_S)
                if pending:
                    writer = "none" if self._task is None else "stopped" if self._task.done() else "running"
                    LOGGER.warning("meter batcher: a flush has waited %.0f s for %d message(s) (writer %s, %d "
                                   "message(s) being written, %d queued)",
                                   asyncio.get_running_loop().time() - started, len(pending), writer,
                                   len(self._writing), len(self._queue))
        finally:
            self._flushers -= 1

    async def close(self) -> None:
        """Stop queueing (a later message is written in a transaction of its own), commit every queued message,
        then stop the writer."""
        self._closed = True  # first: a message that arrives during the flush below is not left in the queue
        await self.flush()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    # ------------------------------------------------------------------------------------------- the writer
    def _start(self) -> None:
        if self._task is None or self._task.done():
            self._wake = asyncio.Event()
            self._task = asyncio.create_task(self._run(), name="vgi-meter-batcher")

    def _queued_rows(self) -> int:
        return sum(len(m.readings) for m in self._queue)

    def _take(self) -> list[_Message]:
        taken: list[_Message] = []
        rows = 0
        while self._queue and (not taken or rows + len(self._queue[0].readings) <= self.max_rows):
            message = self._queue.pop(0)
            taken.append(message)
            rows += len(message.readings)
        return taken

    async def _run(self) -> None:
        try:
            await self._write_queued()
        except Exception:  # not the store's failures (those fail their messages): a bug; the next add restarts
            LOGGER.exception("meter batcher: the writer failed")
        finally:  # stopped (cancelled, or failed): nobody may wait on a message left behind
            left = [m for m in (*self._writing, *self._queue) if not m.done.done()]
            self._writing, self._queue = [], []
            for message in left:
                message.done.set_exception(BatcherStopped("the meter batcher's writer stopped before this "
                                                          "message's commit was confirmed"))

    async def _write_queued(self) -> None:
        assert self._wake is not None
        while True:
            if not self._queue:
                self._wake.clear()
                await self._wake.wait()
                continue
            if self.linger_s > 0 and self._queued_rows() < self.max_rows and not self._flushers:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._until_full(), self.linger_s)
            self._writing = self._take()
            # cancelled mid-write, the thread still finishes it; _run fails its messages (not known to be committed)
            outcomes = await asyncio.to_thread(self._write, self._writing)
            for message, outcome in zip(self._writing, outcomes, strict=True):
                if message.done.done():
                    continue
                if outcome is None:
                    message.done.set_result(None)
                else:
                    message.done.set_exception(outcome)
            self._writing = []

    async def _until_full(self) -> None:
        assert self._wake is not None
        while self._queued_rows() < self.max_rows and not self._flushers:
            self._wake.clear()
            await self._wake.wait()

    def _write(self, messages: list[_Message]) -> list[Exception | None]:
        """In a worker thread: all messages in one transaction; if that fails, each on its own."""
        readings = [r for m in messages for r in m.readings]
        try:
            self.store.add_meter_values(readings)
        except Exception as exc:
            if len(messages) == 1:
                return [exc]
            LOGGER.warning("a batch of %d meter messages failed (%s); writing them one by one", len(messages), exc)
        else:
            self.commits += 1
            self.rows += len(readings)
            return [None] * len(messages)
        outcomes: list[Exception | None] = []
        for message in messages:
            try:
                self.store.add_meter_values(message.readings)
            except Exception as exc:
                outcomes.append(exc)
            else:
                self.commits += 1
                self.rows += len(message.readings)
                outcomes.append(None)
        return outcomes


def _retrieved(done: asyncio.Future[None]) -> None:
    if not done.cancelled():
        done.exception()
