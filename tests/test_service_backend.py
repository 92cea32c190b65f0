"""The CSMS's store backend under a handshake storm: password checks do not starve the meter path.

Every blocking call of the service used to share the event loop's default thread pool (min(32, CPUs + 4)
threads).  Password checks cost about 0.2 s of CPU each (scrypt at the store's cost), so a storm of handshakes
(every charge point reconnecting after a restart) filled that pool, and the meter values of the charge points
already connected, their schema checks and the re-plan waited behind the whole storm.  The checks now run in a
pool of their own (``PASSWORD_THREADS``).
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from vgi.service.backend import ENERGY_REGISTER, PASSWORD_THREADS, StoreBackend
from vgi.service.ocpp.models import MeterSample
from vgi.service.store import Store

T0 = datetime(2030, 1, 1, tzinfo=UTC)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    opened = Store.open(f"sqlite:///{tmp_path / 'backend.db'}")
    opened.upsert_charge_point("CP1", site_id="depot", max_charge_kw=7.4)
    yield opened
    opened.close()


def test_a_storm_of_password_checks_leaves_meter_values_their_threads(store: Store,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    gate = threading.Event()
    checking = []

    def slow_check(charge_point_id: str, password: str) -> bool:  # a check that takes as long as the test wants
        checking.append(charge_point_id)
        if not gate.wait(20):
            raise AssertionError("the test never opened the gate")
        return True

    monkeypatch.setattr(store, "check_password", slow_check)
    # more handshakes at once than the default pool has threads on any machine (at most 32)
    storm = 40
    default_threads = min(32, (os.cpu_count() or 1) + 4)
    assert storm > default_threads

    async def body() -> None:
        backend = StoreBackend(store)
        handshakes = [asyncio.create_task(backend.authenticate(f"CP{n}", "secret-password")) for n in range(storm)]
        await asyncio.sleep(0.2)
        sample = MeterSample("CP1", 1, "T1", T0, ENERGY_REGISTER, None, 1234.0, "Wh")
        try:
            # before the fix the storm held every default thread: this waited until the storm was over
            await asyncio.wait_for(backend.on_meter_values((sample,)), 10)
            assert len(checking) == PASSWORD_THREADS  # the other checks queue in their own pool
        finally:
            gate.set()
        assert all(await asyncio.wait_for(asyncio.gather(*handshakes), 20))
        await backend.close()

    asyncio.run(body())
    assert [(r.charge_point_id, r.value) for r in store.meter_values()] == [("CP1", 1234.0)]
