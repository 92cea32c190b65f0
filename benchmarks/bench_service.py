"""Load on the live service: simulated OCPP charge points on loopback sending meter values, and the re-plan.

    .venv/bin/python benchmarks/bench_service.py                       # 100 then 1,000 charge points, ~2 min
    .venv/bin/python benchmarks/bench_service.py --seconds 300 --interval 10
    .venv/bin/python benchmarks/bench_service.py --db postgresql+psycopg://postgres@localhost:5432/test

The service (:class:`vgi.service.app.Service`, its OCPP CSMS, HTTP server and store) runs in its own process; the
charge points run in ``--processes`` client processes, each holding its share of websockets (half OCPP 1.6, half
2.0.1), all on 127.0.0.1.  Each charge point connects with HTTP Basic auth, boots, starts a transaction (plugged
in an hour ago) and then sends a MeterValues (1.6) or TransactionEvent Updated (2.0.1) every ``--interval``
seconds at a random phase, and answers the CSMS's SetChargingProfile.  Two phases run one after the other in the
same run: the baseline (``--baseline`` charge points) and the load (``--charge-points``), each metering for
``--seconds``; in the middle of each, the service runs one pass of its loop (snapshot from the store, re-plan over
every plugged-in car, a profile sent to each charge point), twice.  Printed per phase: the handshake storm (connect,
authenticate, boot, start), meter messages per second, the p50/p99 round trip of a meter value (sent to answered:
parsed, validated, stored), the pass's snapshot + re-plan time and its time to deliver every profile, meter rows
stored per second and per transaction of the service's meter batcher; then the store's write rate for meter values
one per call (as the CSMS wrote them before the batcher) and batched, and the ratios of the load phase to the
baseline.  Everything stops by itself; counts and times are bounded by the flags.  The run never hangs silently:
a child process that ends early stops it with the step it was waiting for (its traceback above), and a step
that waits ``--stall-s`` past its expected time first has every process write its thread stacks (faulthandler)
and asyncio tasks to stderr (``kill -USR1`` / ``-USR2`` on a child does the same by hand).

Charge point passwords are hashed with scrypt at log2 n = ``--hash-log2-n`` (default 10; the store's own is 14,
which costs 16 times as much per handshake: ``--hash-log2-n 14`` measures the real storm).  On a shared machine
the figures move with what else runs.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import collections
import contextlib
import faulthandler
import json
import multiprocessing as mp
import os
import random
import signal
import statistics
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

PASSWORD = "bench-charge-point-password"
ENERGY = "Energy.Active.Import.Register"
MAX_CHARGE_POINTS = 5000
MAX_SECONDS = 3600


def _iso(at: datetime) -> str:
    return at.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _cp_id(number: int) -> str:
    return f"BENCH{number:05d}"


# ------------------------------------------------------------------------------------- never a silent hang


def _debuggable(loop: asyncio.AbstractEventLoop | None = None) -> None:
    """In a child process, first without ``loop`` (before anything else), then with it: SIGUSR1 writes every
    thread's stack to stderr (from C, so also while the event loop is blocked), SIGUSR2 every asyncio task's
    (identical stacks once, with their count; ignored until the loop runs)."""
    if loop is None:
        faulthandler.register(signal.SIGUSR1, all_threads=True)
        signal.signal(signal.SIGUSR2, signal.SIG_IGN)
    else:
        loop.add_signal_handler(signal.SIGUSR2, _dump_tasks)


def _dump_tasks() -> None:
    groups: collections.Counter[tuple[str, ...]] = collections.Counter()
    for task in asyncio.all_tasks():
        frames = tuple(f"{f.f_code.co_filename}:{f.f_lineno} {f.f_code.co_qualname}" for f in task.get_stack())
        groups[(task.get_coro().__qualname__, *frames)] += 1  # type: ignore[union-attr]
    print(f"--- process {os.getpid()}: {sum(groups.values())} asyncio tasks", file=sys.stderr)
    for (name, *frames), count in groups.most_common():
        print(f"{count} x task {name}", file=sys.stderr)
        for frame in frames:
            print(f"    {frame}", file=sys.stderr)
    sys.stderr.flush()


@dataclass
class _Child:
    """A child process (the service or a client) and the parent's end of its pipe."""

    name: str
    process: Any
    pipe: Any


def _spawn(name: str, target: Any, args: tuple[Any, ...]) -> _Child:
    """Start ``target(*args, child_end)`` in a spawned process.  The parent closes its copy of the child's end,
    so that a child that dies is seen at once (EOF) instead of being waited for without end."""
    ctx = mp.get_context("spawn")
    parent, child = ctx.Pipe()
    process = ctx.Process(target=target, args=(*args, child), name=name)
    process.start()
    child.close()
    return _Child(name, process, parent)


def _recv(child: _Child, what: str, bound_s: float, everyone: list[_Child]) -> Any:
    """The next message from ``child``; a child that ended, or no message within ``bound_s``, stops the run with a
    message naming the step (on a stall, every child's thread and task stacks are written to stderr first)."""
    if not child.pipe.poll(bound_s):
        for other in everyone:
            if other.process.is_alive() and other.process.pid is not None:
                for sig in (signal.SIGUSR1, signal.SIGUSR2):
                    os.kill(other.process.pid, sig)
        time.sleep(2.0)
        raise SystemExit(f"bench_service: {child.name} sent nothing for {bound_s:.0f} s while waiting for {what} "
                         "(a stall: the stacks of every process are above)")
    try:
        return child.pipe.recv()
    except EOFError:
        child.process.join(5)
        raise SystemExit(f"bench_service: {child.name} ended (exit code {child.process.exitcode}) while waiting "
                         f"for {what}; its error is above") from None


# ------------------------------------------------------------------------------------------------ the service


def _count_rows(store: Any) -> int:
    from sqlalchemy import func, select

    from vgi.service.store.models import MeterValue

    with store.engine.connect() as connection:
        return int(connection.execute(select(func.count()).select_from(MeterValue)).scalar_one())


def _service_main(db_url: str, schema: str | None, site_limit_kw: float | None, conn: Any) -> None:
    """The service process: start, say where it listens, then run one loop pass per 'tick' asked for."""
    _debuggable()
    from vgi.service.app import build_service
    from vgi.service.config import ListenConfig, ServiceConfig, VtnConfig

    cfg = ServiceConfig(database_url=db_url, database_schema=schema, http=ListenConfig(port=0),
                        ocpp=ListenConfig(port=0), vtn=VtnConfig(enabled=False),
                        site_limits_kw={"depot": site_limit_kw} if site_limit_kw else {})

    async def main() -> None:
        _debuggable(asyncio.get_running_loop())
        service = build_service(cfg)
        await service.start(loop=False)  # the passes are asked for below, at known moments
        assert service.store is not None and service.fleet is not None
        conn.send({"ocpp_port": service.ocpp_port})
        loop = asyncio.get_running_loop()
        try:
            while True:
                command = await loop.run_in_executor(None, conn.recv)
                if command == "stop":
                    break
                if command == "count":
                    assert service.backend is not None
                    batcher = service.backend.meter_batcher
                    conn.send((await asyncio.to_thread(_count_rows, service.store), batcher.commits, batcher.rows))
                    continue
                started_at, passes = time.time(), []
                for _ in range(2):  # the first pass with these cars, then the same again (warm)
                    t0 = time.perf_counter()
                    step = await service.tick()
                    passes.append((step.plan_seconds, time.perf_counter() - t0))
                accepted = sum(1 for s in service.fleet.sent.values() if s == "Accepted")
                service.fleet.sent.clear()
                conn.send({"n_sessions": step.n_sessions, "first_plan_s": passes[0][0], "plan_s": passes[1][0],
                           "total_s": passes[1][1], "profiles_accepted": accepted,
                           "window": (started_at, time.time())})
        finally:
            await service.stop()

    asyncio.run(main())


# ------------------------------------------------------------------------------------------------ the clients


class _Cp:
    """One simulated charge point on a raw websocket (OCPP-J frames built by hand, no per-message schema work)."""

    def __init__(self, cp_id: str, version: str, url: str) -> None:
        self.cp_id, self.version, self.url = cp_id, version, url
        self.ws: Any = None
        self.pending: dict[str, asyncio.Future[Any]] = {}
        self.reader: asyncio.Task[None] | None = None
        self.tx: Any = None
        self.wh = 0.0
        self.profiles = 0

    async def call(self, action: str, payload: dict[str, Any]) -> Any:
        unique = uuid.uuid4().hex
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self.pending[unique] = fut
        await self.ws.send(json.dumps([2, unique, action, payload]))
        return await asyncio.wait_for(fut, 60)

    async def _read(self) -> None:
        async for raw in self.ws:
            msg = json.loads(raw)
            if msg[0] == 2:  # the CSMS's SetChargingProfile
                self.profiles += msg[2] == "SetChargingProfile"
                await self.ws.send(json.dumps([3, msg[1], {"status": "Accepted"}]))
            else:
                fut = self.pending.pop(msg[1], None)
                if fut is not None and not fut.done():
                    if msg[0] == 3:
                        fut.set_result(msg[2])
                    else:
                        fut.set_exception(RuntimeError(f"{self.cp_id}: CALLERROR {msg[2:]}"))

    async def begin(self, plugged_in: datetime) -> None:
        import websockets

        token = base64.b64encode(f"{self.cp_id}:{PASSWORD}".encode()).decode()
        subprotocol: Any = "ocpp1.6" if self.version == "1.6" else "ocpp2.0.1"
        self.ws = await websockets.connect(self.url + self.cp_id, open_timeout=600, ping_interval=None,
                                           subprotocols=[subprotocol],
                                           additional_headers={"Authorization": f"Basic {token}"})
        self.reader = asyncio.create_task(self._read())
        at = _iso(plugged_in)
        if self.version == "1.6":
            await self.call("BootNotification", {"chargePointVendor": "bench", "chargePointModel": "sim"})
            started = await self.call("StartTransaction", {"connectorId": 1, "idTag": "BENCH", "meterStart": 0,
                                                           "timestamp": at})
            self.tx = started["transactionId"]
        else:
            await self.call("BootNotification", {"chargingStation": {"vendorName": "bench", "model": "sim"},
                                                 "reason": "PowerUp"})
            self.tx = f"tx-{self.cp_id}"
            await self.call("TransactionEvent", {
                "eventType": "Started", "timestamp": at, "triggerReason": "Authorized", "seqNo": 0,
                "transactionInfo": {"transactionId": self.tx}, "evse": {"id": 1, "connectorId": 1},
                "idToken": {"idToken": "BENCH", "type": "ISO14443"},
                "meterValue": [{"timestamp": at, "sampledValue": [
                    {"value": 0, "context": "Transaction.Begin", "measurand": ENERGY}]}]})

    async def meter(self) -> tuple[float, float]:
        """Send one meter value; when it was sent (epoch s) and its round trip (s)."""
        self.wh += 500.0
        now = _iso(datetime.now(UTC))
        t0, sent_at = time.perf_counter(), time.time()
        if self.version == "1.6":
            await self.call("MeterValues", {"connectorId": 1, "transactionId": self.tx, "meterValue": [
                {"timestamp": now, "sampledValue": [{"value": f"{self.wh:.1f}", "unit": "Wh", "measurand": ENERGY}]}]})
        else:
            await self.call("TransactionEvent", {
                "eventType": "Updated", "timestamp": now, "triggerReason": "MeterValuePeriodic", "seqNo": 1,
                "transactionInfo": {"transactionId": self.tx},
                "meterValue": [{"timestamp": now, "sampledValue": [{"value": self.wh, "measurand": ENERGY}]}]})
        return sent_at, time.perf_counter() - t0

    async def end(self) -> None:
        now = _iso(datetime.now(UTC))
        try:
            if self.version == "1.6":
                await self.call("StopTransaction", {"transactionId": self.tx, "meterStop": int(self.wh),
                                                    "timestamp": now})
            else:
                await self.call("TransactionEvent", {
                    "eventType": "Ended", "timestamp": now, "triggerReason": "EVCommunicationLost", "seqNo": 2,
                    "transactionInfo": {"transactionId": self.tx, "stoppedReason": "EVDisconnected"}})
        finally:
            await self.ws.close()
            if self.reader is not None:
                self.reader.cancel()


def _client_main(url: str, numbers: list[int], interval_s: float, seconds: float, conn: Any) -> None:
    """A client process: connect its charge points, say so, then meter for ``seconds`` from the start time (epoch
    s) the parent sends once every client is connected."""
    _debuggable()

    async def main() -> dict[str, Any]:
        _debuggable(asyncio.get_running_loop())
        cps = [_Cp(_cp_id(n), "1.6" if n % 2 == 0 else "2.0.1", url) for n in numbers]
        plugged_in = datetime.now(UTC) - timedelta(hours=1)
        gate = asyncio.Semaphore(50)  # handshakes in flight from this process

        async def begin(cp: _Cp) -> None:
            async with gate:
                await cp.begin(plugged_in)

        t0 = time.perf_counter()
        await asyncio.gather(*(begin(cp) for cp in cps))
        connect_s = time.perf_counter() - t0
        conn.send({"connected": len(cps), "connect_s": connect_s})
        start_at = float(await asyncio.get_running_loop().run_in_executor(None, conn.recv))
        await asyncio.sleep(max(start_at - time.time(), 0.0))
        rtts: list[tuple[float, float]] = []
        errors = 0
        end_at = start_at + seconds
        rng = random.Random(numbers[0])

        async def run(cp: _Cp) -> None:
            nonlocal errors
            await asyncio.sleep(rng.uniform(0, interval_s))  # each at its own phase
            next_at = time.time()
            while next_at < end_at:
                try:
                    rtts.append(await cp.meter())
                except Exception:
                    errors += 1
                next_at += interval_s
                await asyncio.sleep(max(next_at - time.time(), 0.0))

        await asyncio.gather(*(run(cp) for cp in cps))
        await asyncio.gather(*(cp.end() for cp in cps), return_exceptions=True)
        return {"rtts": rtts, "errors": errors, "profiles": sum(cp.profiles for cp in cps)}

    conn.send(asyncio.run(main()))


# ------------------------------------------------------------------------------------------------- the phases


def _quantiles(values: list[float]) -> list[float]:
    return statistics.quantiles(values, n=100, method="inclusive") if len(values) >= 2 else [float("nan")] * 99


def _phase(service: _Child, ocpp_port: int, first: int, count: int, args: argparse.Namespace) -> dict[str, Any]:
    url = f"ws://127.0.0.1:{ocpp_port}/ocpp/"
    numbers = list(range(first, first + count))
    shares = [numbers[i :: args.processes] for i in range(args.processes) if numbers[i :: args.processes]]
    connect_t0 = time.perf_counter()
    clients = [_spawn(f"client {i + 1}", _client_main, (url, share, args.interval, args.seconds))
               for i, share in enumerate(shares)]
    everyone = [service, *clients]
    stall = args.stall_s
    try:
        # a handshake's password check: about 0.023 s at log2 n = 10 here, twice as long per step of log2 n
        storm_s = count * 0.023 * 2 ** (args.hash_log2_n - 10)
        connected = [_recv(c, "its charge points to connect", storm_s + stall, everyone) for c in clients]
        connect_wall_s = time.perf_counter() - connect_t0
        start_at = time.time() + 1.0
        for c in clients:
            c.pipe.send(start_at)
        service.pipe.send("count")
        rows_before, commits_before, batched_before = _recv(service, "the meter row count", stall, everyone)
        time.sleep(max(start_at + args.seconds / 2 - time.time(), 0.0))
        service.pipe.send("tick")
        tick = _recv(service, "the loop's passes", stall, everyone)
        # the metering ends at start_at + seconds; then each charge point's stop (answered within 60 s)
        results = [_recv(c, "its meter round trips", max(start_at + args.seconds - time.time(), 0.0) + 60 + stall,
                         everyone) for c in clients]
    finally:
        for c in clients:
            c.process.join(60)
            if c.process.is_alive():
                c.process.terminate()
    service.pipe.send("count")
    rows_after, commits_after, batched_after = _recv(service, "the meter row count", stall, everyone)
    timed = [tuple(r) for res in results for r in res["rtts"]]
    rtts = sorted(r for _, r in timed)
    begin, end = tick["window"]
    quiet = sorted(r for at, r in timed if at + r < begin or at > end)  # not waiting on the loop's pass
    quantile = _quantiles(rtts)
    return {
        "charge_points": count, "handshake_storm_s": connect_wall_s,
        "slowest_client_connect_s": max(c["connect_s"] for c in connected),
        "meter_messages": len(rtts), "errors": sum(r["errors"] for r in results),
        "messages_per_s": len(rtts) / args.seconds, "p50_ms": quantile[49] * 1000, "p99_ms": quantile[98] * 1000,
        "max_ms": rtts[-1] * 1000 if rtts else float("nan"), "p99_quiet_ms": _quantiles(quiet)[98] * 1000,
        "rows_per_s": (rows_after - rows_before) / args.seconds, "tick": tick,
        "rows_per_commit": (batched_after - batched_before) / max(commits_after - commits_before, 1),
        "profiles_received": sum(r["profiles"] for r in results),
    }


def _store_write_rate(db_url: str, schema: str | None, n: int) -> dict[str, float]:
    """Meter rows stored per second, one reading per call (as the CSMS stores a MeterValues) and in one batch."""
    from vgi.service.store import MeterReading, Store

    t0 = datetime(2030, 1, 1, tzinfo=UTC)
    out = {}
    with Store.open(db_url, schema=schema) as store:
        cp = _cp_id(0)
        for name, offset in (("one_by_one", 0), ("batched", n)):
            readings = [MeterReading(cp, 9, t0 + timedelta(seconds=offset + i), ENERGY, float(i), "Wh")
                        for i in range(n)]
            start = time.perf_counter()
            if name == "one_by_one":
                for r in readings:
                    store.add_meter_values([r])
            else:
                store.add_meter_values(readings)
            out[name] = n / (time.perf_counter() - start)
    return out


def _count_and_limits(args: argparse.Namespace) -> None:
    if not 1 <= args.baseline <= args.charge_points <= MAX_CHARGE_POINTS:
        raise SystemExit(f"need 1 <= --baseline <= --charge-points <= {MAX_CHARGE_POINTS}")
    if not 1 <= args.seconds <= MAX_SECONDS or not 1 <= args.interval <= args.seconds:
        raise SystemExit(f"need 1 <= --interval <= --seconds <= {MAX_SECONDS}")
    if not 1 <= args.processes <= 16:
        raise SystemExit("need 1 <= --processes <= 16")
    if not 1 <= args.stall_s <= MAX_SECONDS:
        raise SystemExit(f"need 1 <= --stall-s <= {MAX_SECONDS}")


def _register(db_url: str, schema: str | None, count: int, log2_n: int) -> None:
    """Let ``count`` charge points in, all with the same password (hashed once, salt and all)."""
    from vgi.service.store import Store, passwords
    from vgi.service.store import store as store_module

    saved = passwords.SCRYPT_LOG2_N
    passwords.SCRYPT_LOG2_N = log2_n
    try:
        hashed = passwords.hash_password(PASSWORD)
    finally:
        passwords.SCRYPT_LOG2_N = saved
    original = store_module.hash_password
    store_module.hash_password = lambda _: hashed
    try:
        with Store.open(db_url, schema=schema) as store:
            for n in range(count):
                store.upsert_charge_point(_cp_id(n), password=PASSWORD, site_id="depot", max_charge_kw=7.4)
    finally:
        store_module.hash_password = original


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--charge-points", type=int, default=1000, help="charge points of the load phase")
    parser.add_argument("--baseline", type=int, default=100, help="charge points of the baseline phase")
    parser.add_argument("--seconds", type=float, default=40.0, help="metering time of each phase, s")
    parser.add_argument("--interval", type=float, default=10.0, help="seconds between one charge point's values")
    parser.add_argument("--processes", type=int, default=4, help="client processes")
    parser.add_argument("--db", default=None, help="database URL (default: a SQLite file in a temporary folder; "
                                                   "PostgreSQL gets a fresh schema, dropped at the end)")
    parser.add_argument("--site-limit-kw", type=float, default=None,
                        help="a site limit over every charge point (a coupled re-plan); default none")
    parser.add_argument("--hash-log2-n", type=int, default=10, choices=range(10, 21), metavar="10..20",
                        help="scrypt cost of the charge points' password hashes (the store's own: 14)")
    parser.add_argument("--store-rows", type=int, default=2000, help="rows of the store write-rate measure")
    parser.add_argument("--stall-s", type=float, default=120.0,
                        help="seconds a step may wait past its expected time before the run stops with every "
                             "process's stacks on stderr (default 120)")
    args = parser.parse_args()
    _count_and_limits(args)
    total = args.baseline + args.charge_points

    with tempfile.TemporaryDirectory() as tmp:
        schema = None
        db_url = args.db or f"sqlite:///{Path(tmp) / 'bench.db'}"
        admin = None
        if db_url.startswith("postgresql"):
            from sqlalchemy import create_engine, text

            schema = f"vgi_bench_{os.getpid()}_{uuid.uuid4().hex[:8]}"
            admin = create_engine(db_url)
            with admin.begin() as connection:
                connection.execute(text(f'CREATE SCHEMA "{schema}"'))
        try:
            t0 = time.perf_counter()
            _register(db_url, schema, total, args.hash_log2_n)
            print(f"vgi service load: {total} charge points registered in {time.perf_counter() - t0:.1f} s; "
                  f"database {db_url.split('@')[-1]}{f' schema {schema}' if schema else ''}; "
                  f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}")
            server = _spawn("the service", _service_main, (db_url, schema, args.site_limit_kw))
            try:
                port = _recv(server, "the service to start", args.stall_s, [server])["ocpp_port"]
                server.pipe.send("tick")  # a first pass with no car: imports, tariff tables and JIT out of the figures
                _recv(server, "a first pass", args.stall_s, [server])
                phases = [("baseline", _phase(server, port, 0, args.baseline, args)),
                          ("load", _phase(server, port, args.baseline, args.charge_points, args))]
            finally:
                if server.process.is_alive():
                    with contextlib.suppress(OSError):
                        server.pipe.send("stop")
                server.process.join(60)
                if server.process.is_alive():
                    server.process.terminate()
            writes = _store_write_rate(db_url, schema, args.store_rows)
        finally:
            if admin is not None:
                from sqlalchemy import text

                with admin.begin() as connection:
                    connection.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
                admin.dispose()

    print(f"meter values every {args.interval:g} s for {args.seconds:g} s per phase, {args.processes} client "
          f"processes, half OCPP 1.6 and half 2.0.1; password hashes at scrypt log2 n = {args.hash_log2_n}")
    header = (f"{'phase':<9}{'CPs':>6}{'storm s':>9}{'msgs':>7}{'msg/s':>8}{'p50 ms':>8}{'p99 ms':>8}"
              f"{'max ms':>8}{'p99 q':>7}{'err':>5}{'rows/s':>8}{'rows/tx':>8}{'cars':>6}{'1st s':>7}{'plan s':>8}"
              f"{'send s':>8}"
              f"{'profiles':>9}")
    print(header)
    print("(p99 q: p99 of the values answered outside the loop's passes; rows/tx: meter rows per transaction of the "
          "service's batcher; 1st s / plan s: snapshot + re-plan of the first pass with these cars and of the same "
          "pass again; send s: delivering every profile, 2 each)")
    for name, r in phases:
        t = r["tick"]
        print(f"{name:<9}{r['charge_points']:>6}{r['handshake_storm_s']:>9.1f}{r['meter_messages']:>7}"
              f"{r['messages_per_s']:>8.1f}{r['p50_ms']:>8.1f}{r['p99_ms']:>8.1f}{r['max_ms']:>8.1f}"
              f"{r['p99_quiet_ms']:>7.1f}{r['errors']:>5}{r['rows_per_s']:>8.1f}{r['rows_per_commit']:>8.1f}{t['n_sessions']:>6}{t['first_plan_s']:>7.2f}{t['plan_s']:>8.2f}"
              f"{t['total_s'] - t['plan_s']:>8.2f}{r['profiles_received']:>9}")
    (_, base), (_, load) = phases
    print(f"load / baseline: charge points x{load['charge_points'] / base['charge_points']:.0f}, messages/s "
          f"x{load['messages_per_s'] / base['messages_per_s']:.1f}, p99 x{load['p99_ms'] / base['p99_ms']:.1f}, "
          f"re-plan (snapshot + solve) x{load['tick']['plan_s'] / base['tick']['plan_s']:.1f}")
    print(f"store meter writes ({args.store_rows} rows): one per call {writes['one_by_one']:.0f} rows/s, batched "
          f"{writes['batched']:.0f} rows/s (x{writes['batched'] / writes['one_by_one']:.0f})")


if __name__ == "__main__":
    main()
