"""INTEROP: the CSMS against an independent charge point, npm ``ocpp-rpc`` 2.2.1 in strict mode (1.6 and 2.0.1).

The charge point is tests/interop/charge_point.js, run by node.  Install it with
``npm install --prefix tests/interop ocpp-rpc@2.2.1``.  Skipped when node or the module is missing, except in CI
(env ``CI`` set), where that is a failure.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from vgi.service.ocpp import Csms, MemoryBackend, SetpointSeries

HERE = Path(__file__).parent / "interop"
SCRIPT = HERE / "charge_point.js"
MODULE = HERE / "node_modules" / "ocpp-rpc" / "package.json"
NODE = shutil.which("node")
T0 = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)


def _require_peer() -> str:
    missing = "node is not installed" if NODE is None else None
    if missing is None and not MODULE.exists():
        missing = "ocpp-rpc is not installed (npm install --prefix tests/interop ocpp-rpc@2.2.1)"
    if missing is not None:
        if os.environ.get("CI"):
            pytest.fail(f"interop peer missing in CI: {missing}")
        pytest.skip(missing)
    version = json.loads(MODULE.read_text())["version"]
    assert version == "2.2.1", f"ocpp-rpc {version} installed, the interop test pins 2.2.1"
    assert NODE is not None
    return NODE


@pytest.mark.parametrize("protocol", ["ocpp1.6", "ocpp2.0.1"])
def test_interop_with_ocpp_rpc_strict_charge_point(protocol: str) -> None:
    node = _require_peer()
    version = protocol.removeprefix("ocpp")
    backend = MemoryBackend(passwords={"RPC-CP-1": "interop-password-0123"})
    received: list[dict[str, Any]] = []
    series = SetpointSeries.of(T0, 900, [7.4, 7.4, 3.7, 0.0, 11.0])

    async def main() -> tuple[int, str]:
        async with Csms(backend, port=0, response_timeout_s=10.0) as csms:
            proc = await asyncio.create_subprocess_exec(
                node, str(SCRIPT), csms.url().rstrip("/"), "RPC-CP-1", "interop-password-0123", protocol,
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
            )
            assert proc.stdout is not None and proc.stderr is not None
            try:
                while True:
                    line = await asyncio.wait_for(proc.stdout.readline(), 30)
                    if not line:
                        raise AssertionError("charge point exited early: " + (await proc.stderr.read()).decode())
                    msg = json.loads(line)
                    received.append(msg)
                    if msg["event"] == "ready":
                        break
                assert csms.connected() == {"RPC-CP-1": version}
                tx = str(msg["transactionId"])
                result = await csms.send_profile("RPC-CP-1", 1, series, purpose="TxProfile", transaction_id=tx,
                                                 profile_id=21)
                assert result.accepted
                composite = await csms.get_composite_schedule("RPC-CP-1", 1, series.duration_s, step_s=900)
                assert composite.status == "Accepted"
                assert composite.series == series
                assert await csms.clear_profile("RPC-CP-1", profile_id=21) == "Accepted"
                out, err = await asyncio.wait_for(proc.communicate(), 30)
                received.extend(json.loads(x) for x in out.decode().splitlines() if x.strip())
                return proc.returncode or 0, err.decode()
            finally:
                if proc.returncode is None:
                    proc.kill()
                    await proc.wait()

    code, err = asyncio.run(main())
    assert code == 0, err
    events = [m["event"] for m in received]
    assert events == ["connected", "boot", "ready", "SetChargingProfile", "GetCompositeSchedule",
                      "ClearChargingProfile", "stopped"]
    assert received[0]["protocol"] == protocol and received[1]["status"] == "Accepted"
    assert received[2]["authorized"] == "Accepted"
    # what the independent charge point received is exactly the hand-checked wire profile
    params = received[3]["params"]
    expected_periods = [{"startPeriod": 0, "limit": 7400}, {"startPeriod": 1800, "limit": 3700},
                        {"startPeriod": 2700, "limit": 0}, {"startPeriod": 3600, "limit": 11000}]
    if version == "1.6":
        sched = params["csChargingProfiles"]["chargingSchedule"]
        assert params["connectorId"] == 1
        assert params["csChargingProfiles"]["transactionId"] == int(received[2]["transactionId"])
    else:
        sched = params["chargingProfile"]["chargingSchedule"][0]
        assert params["evseId"] == 1 and params["chargingProfile"]["transactionId"] == received[2]["transactionId"]
    assert sched["chargingSchedulePeriod"] == expected_periods
    assert sched["startSchedule"] == "2026-03-01T08:00:00Z" and sched["chargingRateUnit"] == "W"
    # what the CSMS recorded
    assert [b.vendor for b in backend.boots] == ["ocpp-rpc"]
    (started,) = backend.started
    assert started.at == T0 and started.meter_start_wh == 12000.0 and started.evse_id == 1
    (ended,) = backend.ended
    assert ended.meter_stop_wh == 15700.0 and ended.reason == "EVDisconnected"
    assert ended.transaction_id == started_tx(backend)
    energy = [s.value for s in backend.samples if s.measurand == "Energy.Active.Import.Register"]
    power = [s.value for s in backend.samples if s.measurand == "Power.Active.Import"]
    if version == "1.6":
        assert energy == [13850.0, 15700.0] and power == [7400.0]
    else:
        assert energy == [12000.0, 13850.0, 15700.0] and power == [7400.0, 7300.0]
    assert all(s.unit in ("Wh", "W") for s in backend.samples)


def started_tx(backend: MemoryBackend) -> str:
    ((_, tx),) = backend.transactions
    return tx
