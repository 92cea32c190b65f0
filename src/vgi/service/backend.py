"""The CSMS's backend on the store: what charge points say goes into the database.

:class:`StoreBackend` implements :class:`~vgi.service.ocpp.models.CsmsBackend`.  Charge points authenticate with
the password whose hash the store keeps; boots, statuses, transactions (sessions) and meter values are stored.
Every write is idempotent (a message sent again after a lost answer stores nothing twice: the store skips a
meter value it has, and returns the session already opened for a repeated start).  The store is synchronous, so
each call runs in a worker thread (``asyncio.to_thread``).  Password checks (scrypt, about 0.2 s of CPU each) run
in a pool of their own of ``PASSWORD_THREADS`` threads: a storm of handshakes (every charge point reconnecting
after a restart) queues there instead of filling the event loop's default pool, which the meter values of the
charge points already connected, their messages' schema checks and the re-plan share.  Meter values go through a
:class:`~vgi.service.batching.MeterBatcher`: the values of many charge points are committed in one transaction,
and each call returns (so the CSMS answers) only once its own values are committed.  Every id token is accepted:
the service plans charging, it does not sell it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from vgi.service.batching import MeterBatcher
from vgi.service.ocpp.models import (
    BootInfo,
    MeterSample,
    StatusInfo,
    TransactionEnded,
    TransactionStarted,
    TransactionUpdated,
)
from vgi.service.store import MeterReading, Store, StoreError

__all__ = ["ENERGY_REGISTER", "PASSWORD_THREADS", "StoreBackend"]

LOGGER = logging.getLogger("vgi.service.backend")
ENERGY_REGISTER = "Energy.Active.Import.Register"
#: threads checking charge point passwords (scrypt releases the GIL; more threads than cores gain nothing)
PASSWORD_THREADS = 2


class StoreBackend:
    """A :class:`~vgi.service.ocpp.models.CsmsBackend` that keeps everything in ``store``."""

    def __init__(self, store: Store, on_started: Callable[[str], None] | None = None,
                 on_authenticated: Callable[[str], None] | None = None, *,
                 meter_batcher: MeterBatcher | None = None) -> None:
        """``on_started(charge_point_id)`` is called after a new transaction is stored (the service re-plans);
        ``on_authenticated(charge_point_id)`` after a charge point's handshake credentials are accepted (the
        service sends it the plan once it is connected, however quickly it came back).  ``meter_batcher``
        (default: one on ``store`` with its defaults) writes the meter values; :meth:`close` flushes it."""
        self.store = store
        self.on_started = on_started
        self.on_authenticated = on_authenticated
        self.meter_batcher = meter_batcher or MeterBatcher(store)
        self._password_pool: ThreadPoolExecutor | None = None

    async def flush(self) -> None:
        """Wait until every meter value received so far is committed."""
        await self.meter_batcher.flush()

    async def close(self) -> None:
        """Commit the meter values still queued and stop the batcher's writer (and the password checks' pool)."""
        await self.meter_batcher.close()
        if self._password_pool is not None:
            self._password_pool.shutdown(wait=False, cancel_futures=True)
            self._password_pool = None

    async def authenticate(self, charge_point_id: str, password: str) -> bool:
        if self._password_pool is None:
            self._password_pool = ThreadPoolExecutor(PASSWORD_THREADS, thread_name_prefix="vgi-password")
        ok = await asyncio.get_running_loop().run_in_executor(self._password_pool, self.store.check_password,
                                                              charge_point_id, password)
        if ok and self.on_authenticated is not None:
            self.on_authenticated(charge_point_id)
        return ok

    async def on_boot(self, boot: BootInfo) -> bool:
        try:
            await asyncio.to_thread(
                self.store.record_boot, boot.charge_point_id, boot.at, vendor=boot.vendor, model=boot.model,
                firmware_version=boot.firmware_version, serial_number=boot.serial_number, protocol=boot.protocol)
        except StoreError as exc:
            LOGGER.warning("boot of %s refused: %s", boot.charge_point_id, exc)
            return False
        return True

    async def on_status(self, status: StatusInfo) -> None:
        connector = status.connector_id if status.connector_id is not None else status.evse_id
        await asyncio.to_thread(self.store.record_status, status.charge_point_id, status.evse_id, connector,
                                status.status, status.at, error_code=status.error_code)

    async def authorize(self, id_token: str) -> bool:
        return True

    async def on_transaction_started(self, event: TransactionStarted) -> str:
        def work() -> str:
            record = self.store.start_session(
                event.charge_point_id, event.evse_id, event.at,
                event.meter_start_wh if event.meter_start_wh is not None else 0.0,
                transaction_id=event.transaction_id, id_tag=event.id_token)
            if event.meter_start_wh is not None:
                self.store.add_meter_values([MeterReading(
                    event.charge_point_id, event.evse_id, event.at, ENERGY_REGISTER, event.meter_start_wh, "Wh",
                    location="Outlet", context="Transaction.Begin", transaction_id=record.transaction_id)])
            return record.transaction_id

        transaction_id = await asyncio.to_thread(work)
        if self.on_started is not None:
            self.on_started(event.charge_point_id)
        return transaction_id

    async def on_transaction_updated(self, event: TransactionUpdated) -> bool:
        found = await asyncio.to_thread(self.store.session, event.charge_point_id, event.transaction_id)
        return found is not None

    async def on_transaction_ended(self, event: TransactionEnded) -> bool:
        await self.flush()  # the last register read below must include every value received before the end

        def work() -> bool:
            found = self.store.session(event.charge_point_id, event.transaction_id)
            if found is None:
                return False
            stop_wh = event.meter_stop_wh
            if stop_wh is None:  # 2.x without a Transaction.End register: the last one read
                readings = self.store.meter_values(charge_point_id=event.charge_point_id,
                                                   transaction_id=event.transaction_id, measurand=ENERGY_REGISTER)
                stop_wh = readings[-1].value if readings else found.meter_start_wh
            self.store.stop_session(event.charge_point_id, event.transaction_id, event.at, stop_wh,
                                    reason=event.reason)
            if event.meter_stop_wh is not None:
                self.store.add_meter_values([MeterReading(
                    event.charge_point_id, found.evse_id, event.at, ENERGY_REGISTER, event.meter_stop_wh, "Wh",
                    location="Outlet", context="Transaction.End", transaction_id=event.transaction_id)])
            return True

        return await asyncio.to_thread(work)

    async def on_meter_values(self, samples: tuple[MeterSample, ...]) -> None:
        evse_of: dict[str, int | None] = {}
        for s in samples:  # a 2.x value without an EVSE takes its transaction's (one read per transaction)
            if s.evse_id is None and s.transaction_id is not None and s.transaction_id not in evse_of:
                found = await asyncio.to_thread(self.store.session, s.charge_point_id, s.transaction_id)
                evse_of[s.transaction_id] = None if found is None else found.evse_id
        readings = []
        for s in samples:
            evse = s.evse_id
            if evse is None and s.transaction_id is not None:
                evse = evse_of[s.transaction_id]
            if evse is None:
                raise StoreError(f"{s.charge_point_id}: a {s.measurand} value at {s.at.isoformat()} names "
                                 "no EVSE and no known transaction")
            readings.append(MeterReading(s.charge_point_id, evse, s.at, s.measurand, s.value, s.unit,
                                         phase=s.phase, location=s.location, context=s.context,
                                         transaction_id=s.transaction_id))
        await self.meter_batcher.add(readings)  # returns once committed: the CSMS answers after that
