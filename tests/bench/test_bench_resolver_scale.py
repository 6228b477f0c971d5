"""Resolver benchmarks (`make bench`): printed and written to var/bench/resolver.json. Not timed tests.

    .venv/bin/python -m pytest -q -s tests/bench/test_bench_resolver_scale.py -p no:cacheprovider

    1. A thundering herd, one process on SQLite: N payers gave up (WeChat sandbox; each reverse first
       answers recall=Y, as WeChat does while a payment is in flight, then revokes after a pause of
       cancel_retry_s). All N reach their deadline at the same moment; an order's lag is finished_at minus
       its deadline. This resolver against the design before issue 15 (claim a batch of 50, gather, claim
       again), reproduced by `BatchAndGather` below on the same storage and channel.
    2. Issue 15's lag: WAITING orders (default 10,000) whose payers are typing, each due on its own query
       schedule (1/1/1/2/2/3 s, then every 5 s; ages spread evenly over the 45 s deadline, so the schedule
       offers about 2,300 calls a second; deadlines beyond the window), for WINDOW_S, on SQLite with one
       server process and on PostgreSQL with two sharing them. An order's lag is from its due time to the
       moment its channel call starts (recorded by `TimedChannel` around the WeChat adapter in each server
       process; due times from the database and the journalled answers). Three channels, so the resolver's
       own lag is measured apart from the channel's capacity: `instant` (answers at once, no HTTP),
       `latency` (answers after LATENCY_S, no HTTP) and `sandbox` (the WeChat sandbox over HTTP, in the
       bench's own process on the same two cores: it sustains far fewer calls a second than the schedule
       offers, so that run measures the sandbox; "started" says how many calls a second it took). Each
       for this resolver, for `LookEachTick` (the resolver before this change, with its storage) and for
       `BatchAndGather`. A call due and never started counts with the window's end minus its due time.
       The channel's limits are raised (WAITING_CONCURRENCY under way, WAITING_RATE a second): the shipped
       32 and 100 a second serve about 500 waiting orders on that schedule, not 10,000.
    3. A server SIGKILLed in the middle of 400 deadline cancels (WeChat answering recall=Y until the kill):
       on SQLite restarted on the same file, on PostgreSQL one of two killed and the other left to finish.
       How long until every order is final, counted from the restart / the kill (a claim's lease is 60 s,
       so anything near 60 s means dead claims were waited out). Issue 15's goal: within 10 s.

Every run is bounded (RUN_LIMIT_S, WINDOW_S, STOP_LIMIT_S) and says so when it did not finish. Settings:
BENCH_RESOLVER_ORDERS (run 1's N, default 2000), BENCH_RESOLVER_RATE (run 1's per-channel rate limit,
default 1000: the shipped 100 a second would make run 1 measure that limit), BENCH_RESOLVER_WAITING
(default 10000), BENCH_RESOLVER_WINDOW_S (default 20), BENCH_RESOLVER_LATENCY_S (default 0.15),
BENCH_RESOLVER_WAITING_CONCURRENCY (default 1000), BENCH_RESOLVER_WAITING_RATE (default 10000),
BENCH_RESOLVER_ANSWERS (default instant,latency,sandbox), SCANPAY_TEST_PG (the PostgreSQL database; each run
uses a schema of its own, dropped afterwards).

Last figures (2026-12-06, the two cores otherwise idle, load average 0.3 to 2.2; docs/operations.md "What the
server does on its own" has them all). Run 2, p50 / p99, this resolver against LookEachTick against
BatchAndGather: SQLite instant 0.32 / 0.55 s (2,058 calls/s started) against 15.4 / 18.5 s (195/s) against
16.7 / 19.3 s (97/s); SQLite latency 0.31 / 0.50 s; PostgreSQL x2 instant 0.19 / 0.33 s (2,117/s) against
9.7 / 16.5 s (395/s) against 15.3 / 18.5 s (197/s); PostgreSQL x2 latency 0.09 / 0.30 s; the sandbox sustained
145 (SQLite) and 244 (PostgreSQL) calls a second. Run 1: 4.39 / 7.42 s against 13.79 / 25.64 s. Run 3: all
final 7.9 s after the restart (SQLite), 6.1 s after the kill (PostgreSQL, two processes). At a load average
of 10 to 13 from other work, PostgreSQL x2 instant gave p99 0.6 to 3.2 s in earlier runs.

Since then the resolver looks for an order it rescheduled when it is due, not at its next tick (Resolver.due_at).
The whole run again after that (2026-12-06 07:04 UTC, idle, load average 0.5 to 2.9), this resolver's rows: run
2 SQLite instant 0.048 / 0.423 s (2,187/s), latency 0.057 / 0.491 s, PostgreSQL x2 instant 0.036 / 0.331 s
(2,199/s), latency 0.030 / 0.365 s; run 1 4.56 / 7.54 s; run 3 7.87 s (SQLite), 6.03 s (PostgreSQL x2). Its
LookEachTick and BatchAndGather rows had inherited due_at (PostgreSQL x2 instant 2.83 / 5.71 s and 3.29 /
7.10 s): they no longer do, so compare with the figures above.
"""
from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
import signal
import sys
import time
from pathlib import Path

import aiohttp
import asyncpg
from aiohttp import web

import server.app
from server import listening
from hw_sim import test_codes
from hw_sim.sandbox import run_wechat_sandbox
from tests import loopback
from tests.loopback import server_environment, wait_for_port
from server.app import create_app
from server.channels import ChannelResult, Outcome, PayCommand
from server.channels.registry import open_channels
from server.clock import new_id, new_trade_no, now_ms
from hw_sim.device_client import sign_request
from server.devices import register_device
from server.keys import CHANNELS, METRICS, PAYMENTS, STORAGE
from server.resolver import Resolver
from server.settings import DatabaseSettings, load_settings
from server.storage import B2C, PAYING, Order, open_storage
from server.storage.postgres import PostgresStorage
from server.storage.sql import SqlStorage
from server.storage.sqlite import SqliteStorage

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "var" / "bench" / "resolver.json"
ORDERS = int(os.environ.get("BENCH_RESOLVER_ORDERS", "2000"))
RATE = float(os.environ.get("BENCH_RESOLVER_RATE", "1000"))
CANCEL_RETRY_S = 0.5        # WeChat's recall=Y pause, shortened so the old design's run stays bounded
CRASH_ORDERS = 400
RUN_LIMIT_S = 300.0         # a run that has not finished by then is reported as such
# Runs 3-4: waiting orders (payers typing), each due on its own query schedule.
WAITING = int(os.environ.get("BENCH_RESOLVER_WAITING", "10000"))
WINDOW_S = float(os.environ.get("BENCH_RESOLVER_WINDOW_S", "20"))
LATENCY_S = float(os.environ.get("BENCH_RESOLVER_LATENCY_S", "0.15"))
# The channel's limits in runs 3-4: the shipped 32 calls under way and 100 started a second would make
# these runs measure those limits (10,000 orders asked every 5 s are 2,000 calls a second), not the resolver.
WAITING_RATE = float(os.environ.get("BENCH_RESOLVER_WAITING_RATE", "10000"))
WAITING_CONCURRENCY = int(os.environ.get("BENCH_RESOLVER_WAITING_CONCURRENCY", "1000"))
ANSWERS = [a for a in os.environ.get("BENCH_RESOLVER_ANSWERS", "instant,latency,sandbox").split(",") if a]
QUERY_SCHEDULE_S = (1.0, 1.0, 1.0, 2.0, 2.0, 3.0)    # the shipped [channels.wechat] schedule
QUERY_INTERVAL_S = 5.0
DEADLINE_S = 45.0
STOP_LIMIT_S = 60.0         # a server not gone this long after SIGTERM is killed (and reported)
PG_URL = os.environ.get("SCANPAY_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")


class BatchAndGather(Resolver):
    """The design before issue 15: each look claims up to 50 due orders and waits for all of them."""

    async def run_once(self) -> int:
        orders = await self._storage.claim_due_orders(now_ms(), 60_000, 50, owner=self.owner)
        await asyncio.gather(*(self._payments.step(order, claim=self.owner) for order in orders),
                             return_exceptions=True)
        return len(orders)

    def due_at(self, at_ms: int) -> None:
        """It looked at its tick only (Resolver.due_at came later)."""


class LookEachTick(Resolver):
    """The resolver as of commit 789bccc (today's design before the change measured here): each channel looked
    at once a tick (at most `batch` of its orders claimed a tick), with that commit's storage (`serve` puts
    it back): each answer journalled in a transaction of its own, and on PostgreSQL a claim that took
    every due order whatever its limit."""

    async def _claim_channel(self, name, gate, now):
        claimed = await super()._claim_channel(name, gate, now)
        gate.full = False
        return claimed

    def due_at(self, at_ms: int) -> None:
        """It looked at its tick only (Resolver.due_at came later)."""


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(pct / 100 * (len(ordered) - 1))))]


async def lag_run(tmp: Path, sandbox, design: type[Resolver]) -> dict:
    settings = load_settings(
        database={"path": str(tmp / f"{design.__name__}.db")}, logging={"level": "WARNING"},
        resolver={"enabled": False, "tick_s": 0.05, "max_rate_per_channel_per_s": RATE},
        channels={"wechat": {"base_url": sandbox.base_url, "timeout_s": 10.0, "cancel_retry_s": CANCEL_RETRY_S}})
    app = create_app(settings)
    runner = web.AppRunner(app)
    await runner.setup()      # the cleanup contexts: storage, channels, payments (no resolver: started below)
    try:
        storage, channel = app[STORAGE], app[CHANNELS]["wechat"]
        await storage.add_merchant("M1", "Tea House")
        await storage.add_device("D1", "M1", "Tea House", "ab" * 32)
        trade_nos = [new_trade_no() for _ in range(ORDERS)]
        # The payers' codes reach WeChat (the sandbox), where they wait for a password that never comes.
        for start in range(0, ORDERS, 200):
            await asyncio.gather(*(channel.pay(PayCommand(
                trade_no=t, amount_fen=100, auth_code=test_codes.make_wechat_code(test_codes.PAYER_GIVES_UP),
                subject=None, device_id="D1")) for t in trade_nos[start:start + 200]))
        deadline = now_ms() + 2_000
        for start in range(0, ORDERS, 500):
            await asyncio.gather(*(storage.create_order(Order(
                id=new_id(), device_id="D1", order_no=f"N{start + i}", trade_no=t, amount_fen=100, channel="wechat",
                status=PAYING, auth_code_hash="0" * 64, auth_code_masked="*" * 14 + "0000",
                created_at=deadline - 45_000, deadline_at=deadline, next_check_at=deadline, kind=B2C, merchant_id="M1"))
                for i, t in enumerate(trade_nos[start:start + 500])))
        resolver = design(storage, app[PAYMENTS], settings.resolver, app[METRICS])
        task = asyncio.create_task(resolver.run())
        lags_seen = []
        started = time.monotonic()
        while time.monotonic() - started < RUN_LIMIT_S:
            await asyncio.sleep(0.5)
            backlog = await storage.count_backlog(now_ms())
            oldest = await storage.oldest_unclaimed_due(now_ms())
            lags_seen.append(max(0, now_ms() - oldest) / 1000 if oldest else 0.0)
            if backlog["paying"] == 0:
                break
        resolver.stop()
        await asyncio.wait_for(task, 30)
        rows = await storage.sql.fetchall("SELECT finished_at, deadline_at, status FROM orders")
        lags = [(r["finished_at"] - r["deadline_at"]) / 1000 for r in rows if r["finished_at"] is not None]
        return {"design": design.__name__, "orders": ORDERS, "final": len(lags),
                "closed": sum(1 for r in rows if r["status"] == "CLOSED"),
                "lag_p50_s": round(percentile(lags, 50), 2) if lags else None,
                "lag_p99_s": round(percentile(lags, 99), 2) if lags else None,
                "lag_max_s": round(max(lags), 2) if lags else None,
                "unclaimed_due_max_s": round(max(lags_seen), 2) if lags_seen else None}
    finally:
        await runner.cleanup()


def query_delay_s(answers: int) -> float:
    """The wait before the next query of an order answered `answers` times (server.channels.Schedule)."""
    if answers < len(QUERY_SCHEDULE_S):
        return min(QUERY_SCHEDULE_S[answers], QUERY_INTERVAL_S)
    return QUERY_INTERVAL_S


def schedule_at(age_s: float) -> tuple[int, float]:
    """An order `age_s` old whose every query was answered on time: (answers so far, seconds to the next)."""
    answers, at = 0, query_delay_s(0)
    while at <= age_s:
        answers += 1
        at += query_delay_s(answers)
    return answers, at - age_s


class TimedChannel:
    """The WeChat adapter as the waiting runs see it: when each query starts (`starts`, Unix ms), and who
    answers: `sandbox` (the real adapter over HTTP), `instant` (WAITING at once, no HTTP) or `latency`
    (WAITING after LATENCY_S, no HTTP): the resolver's own lag apart from the channel's capacity."""

    def __init__(self, channel, answer: str, latency_s: float):
        self._channel, self._answer, self._latency_s = channel, answer, latency_s
        self.starts: list[tuple[str, float]] = []

    def __getattr__(self, name: str):
        return getattr(self._channel, name)

    async def query(self, trade_no: str, merchant=None) -> ChannelResult:
        self.starts.append((trade_no, time.time() * 1000))
        if self._answer == "sandbox":
            return await self._channel.query(trade_no, merchant)
        if self._answer == "latency":
            await asyncio.sleep(self._latency_s)
        return ChannelResult(Outcome.WAITING, message="USERPAYING")


def serve(spec: dict) -> None:
    """A server process of the waiting runs: the real app from the factory, its resolver `spec["design"]`,
    its WeChat adapter timed; the starts are written to spec["starts"] when it stops (SIGTERM)."""
    if spec["design"] == "BatchAndGather":
        server.app.Resolver = BatchAndGather
    if spec["design"] == "LookEachTick":
        server.app.Resolver = LookEachTick
        SqliteStorage.reschedule_order = PostgresStorage.reschedule_order = SqlStorage.reschedule_order
        SqliteStorage.reschedule_order_returning = PostgresStorage.reschedule_order_returning = \
            SqlStorage.reschedule_order_returning       # the update, then a re-read
        PostgresStorage._CLAIM_IDS = SqlStorage._CLAIM_IDS
    app = create_app(load_settings(**spec["settings"]))

    async def timed_channel(app: web.Application):
        timed = app[CHANNELS]["wechat"] = TimedChannel(app[CHANNELS]["wechat"], spec["answer"], spec["latency_s"])
        yield
        Path(spec["starts"]).write_text(json.dumps(timed.starts))
    app.cleanup_ctx.insert(2, timed_channel)    # after the channels, before the payments that use them
    listener = listening.bind("127.0.0.1", 0)
    listening.say_when_started(app, listener, spec["port_file"])
    web.run_app(app, sock=listener, print=None)


@contextlib.asynccontextmanager
async def bench_database(tmp: Path, backend: str, name: str):
    """[database] settings of a fresh database: a SQLite file, or a PostgreSQL schema dropped afterwards."""
    if backend == "sqlite":
        yield {"path": str(tmp / f"{name}.db")}
        return
    schema = f"sp_bench_{os.getpid()}_{secrets.token_hex(4)}"
    try:
        yield {"path": PG_URL, "schema": schema}
    finally:
        conn = await asyncpg.connect(PG_URL)
        try:
            await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        finally:
            await conn.close()


async def stop_servers(processes: list[asyncio.subprocess.Process]) -> list[str]:
    """SIGTERM each, wait STOP_LIMIT_S; what went wrong, if anything."""
    problems = []
    for process in processes:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
    for process in processes:
        try:
            await asyncio.wait_for(process.wait(), STOP_LIMIT_S)
        except TimeoutError:
            process.kill()
            await process.wait()
            problems.append(f"a server did not stop in {STOP_LIMIT_S:g} s (killed)")
    return problems


async def waiting_run(tmp: Path, backend: str, processes: int, design: str, answer: str) -> dict:
    """WAITING payers typing, each order due on its own query schedule (ages spread evenly over DEADLINE_S,
    every query so far on time; deadlines beyond the window), `processes` servers sharing them for WINDOW_S.
    An order's lag: from its due time (the first from the database, the next from the journalled answer
    plus the schedule's wait) to the start of its channel call; a call due in the window that never started
    counts as the window's end minus its due time (so at least that)."""
    name = f"waiting-{backend}-{design}-{answer}"
    async with contextlib.AsyncExitStack() as stack:
        database = await stack.enter_async_context(bench_database(tmp, backend, name))
        sandbox = await stack.enter_async_context(run_wechat_sandbox(auto_revoke_s=3600)) if answer == "sandbox" \
            else None
        channel_settings = {"base_url": sandbox.base_url if sandbox else "http://127.0.0.1:9", "timeout_s": 10.0,
                            "query_schedule_s": list(QUERY_SCHEDULE_S), "query_interval_s": QUERY_INTERVAL_S,
                            "deadline_s": DEADLINE_S}
        settings = {"database": database, "logging": {"level": "WARNING"},
                    "resolver": {"tick_s": 0.5, "max_rate_per_channel_per_s": WAITING_RATE,
                                 "concurrency_per_channel": WAITING_CONCURRENCY},
                    "channels": {"wechat": channel_settings}}
        trade_nos = [new_trade_no() for _ in range(WAITING)]
        if sandbox is not None:     # the payers' codes reach WeChat, where they wait for passwords
            async with open_channels(load_settings(**settings)) as channels:
                for start in range(0, WAITING, 200):
                    await asyncio.gather(*(channels["wechat"].pay(PayCommand(
                        trade_no=t, amount_fen=100, auth_code=test_codes.make_wechat_code(test_codes.PAYER_GIVES_UP),
                        subject=None, device_id="D1")) for t in trade_nos[start:start + 200]))
        later = now_ms() + 3_600_000         # nothing due until the servers are up: then shifted to now
        first_due, answers_before = {}, {}
        async with open_storage(DatabaseSettings(**database)) as storage:
            await storage.add_merchant("M1", "Tea House")
            await storage.add_device("D1", "M1", "Tea House", "ab" * 32)
            orders = []
            for i, trade_no in enumerate(trade_nos):
                age_s = DEADLINE_S * i / WAITING
                answers, next_s = schedule_at(age_s)
                orders.append(Order(
                    id=new_id(), device_id="D1", order_no=f"W{i}", trade_no=trade_no, amount_fen=100,
                    channel="wechat", status=PAYING, auth_code_hash="0" * 64, auth_code_masked="*" * 14 + "0000",
                    created_at=later - int(age_s * 1000), deadline_at=later + 3_600_000,
                    next_check_at=later + int(next_s * 1000), attempts=answers, kind=B2C, merchant_id="M1"))
                answers_before[trade_no] = answers
            for start in range(0, WAITING, 500):
                await asyncio.gather(*(storage.create_order(order) for order in orders[start:start + 500]))
            servers, starts_files = [], []
            try:
                for n in range(processes):
                    starts_files.append(tmp / f"{name}-{n}.starts.json")
                    port_file = tmp / f"{name}-{n}.port"
                    port_file.unlink(missing_ok=True)
                    spec = {"settings": settings, "design": design, "answer": answer, "latency_s": LATENCY_S,
                            "starts": str(starts_files[-1]), "port_file": str(port_file)}
                    log = open(tmp / f"{name}-{n}.log", "ab")
                    stack.callback(log.close)
                    servers.append(await asyncio.create_subprocess_exec(
                        sys.executable, "-m", "tests.bench.test_bench_resolver_scale", "serve", json.dumps(spec), cwd=ROOT,
                        env=server_environment(), stdout=asyncio.subprocess.DEVNULL, stderr=log))
                    await wait_for_port(servers[-1], port_file, log.name)
                t0 = now_ms() + 500
                await storage.sql.execute(
                    "UPDATE orders SET next_check_at = next_check_at + ?, created_at = created_at + ?,"
                    " deadline_at = deadline_at + ?", (t0 - later,) * 3)
                await asyncio.sleep((t0 - now_ms()) / 1000 + WINDOW_S)
                t_end = now_ms()
                load = os.getloadavg()[0]     # the machine's, over the last minute: others' work counts too
            finally:
                problems = await stop_servers(servers)
            rows = await storage.sql.fetchall(
                "SELECT o.trade_no AS trade_no, e.at AS at FROM order_events e JOIN orders o ON o.id = e.order_id"
                " WHERE e.kind LIKE 'query:%' ORDER BY e.at")
            for order in orders:
                first_due[order.trade_no] = order.next_check_at + (t0 - later)
        answered: dict[str, list[int]] = {}
        for row in rows:
            answered.setdefault(row["trade_no"], []).append(row["at"])
        started: dict[str, list[float]] = {}
        for path in starts_files:
            if path.exists():
                for trade_no, at in json.loads(path.read_text()):
                    started.setdefault(trade_no, []).append(at)
            else:
                problems.append(f"{path.name}: no call starts written")
    lags, never_called, due_in_window, calls_in_window, offered = [], 0, 0, 0, 0
    for trade_no, due in first_due.items():
        ideal, answers = due, answers_before[trade_no]
        while ideal < t_end:        # every call answered the moment it is due: the load the schedule offers
            offered += 1
            ideal += int(query_delay_s(answers) * 1000)
            answers += 1
        answers, starts = answered.get(trade_no, []), sorted(started.get(trade_no, []))
        calls_in_window += sum(1 for at in starts if t0 <= at < t_end)
        for k in range(len(answers) + 1):
            if due >= t_end:
                break
            due_in_window += 1
            if k < len(starts):
                lags.append(max(0.0, starts[k] - due) / 1000)
            else:
                never_called += 1
                lags.append((t_end - due) / 1000)
            if k < len(answers):
                due = answers[k] + int(query_delay_s(answers_before[trade_no] + k) * 1000)
    window_s = (t_end - t0) / 1000
    return {"backend": backend, "processes": processes, "design": design, "answer": answer, "orders": WAITING,
            "window_s": round(window_s, 1), "calls_offered_per_s": round(offered / window_s),
            "calls_due": due_in_window, "calls_due_per_s": round(due_in_window / window_s),
            "calls_started_per_s": round(calls_in_window / window_s),
            "never_called": never_called,
            "lag_p50_s": round(percentile(lags, 50), 3) if lags else None,
            "lag_p99_s": round(percentile(lags, 99), 3) if lags else None,
            "lag_max_s": round(max(lags), 3) if lags else None, "load_avg_1min": round(load, 1), "problems": problems}


async def crash_run(tmp: Path, sandbox, backend: str) -> dict:
    """400 orders in their deadline cancel (WeChat answering recall=Y until the kill), then one server
    SIGKILLed. SQLite: the only server, restarted on the same file; PostgreSQL: one of two, the other left
    to finish. Counted from the moment after the kill when a server can finish them (the restart, or the
    kill itself), when WeChat stops answering recall=Y."""
    async with bench_database(tmp, backend, f"crash-{backend}") as database:
        async with open_storage(DatabaseSettings(**database)) as storage:
            await storage.add_merchant("M1", "Tea House")
            key_hex = await register_device(storage, "D1", "M1", "Tea House")
        config = tmp / f"crash-{backend}.toml"
        config.write_text(f"""[server]
sandbox = true

[database]
path = {json.dumps(database["path"])}
schema = {json.dumps(database.get("schema", ""))}

[resolver]
tick_s = 0.05
lease_s = 60.0

[logging]
level = "WARNING"

[channels.wechat]
base_url = "{sandbox.base_url}"
query_interval_s = 0.5
deadline_s = 2.0
cancel_retry_s = 0.5
cancel_attempts = 200
""")
        sandbox.reverse_recalls = 10_000          # every order stays in its cancel loop until the kill
        servers, ports = [], []
        for n in range(1 if backend == "sqlite" else 2):
            log = tmp / f"crash-{backend}-{n}.log"
            process, port = await loopback.start_server("--config", str(config), log=log,
                                                        port_file=log.with_suffix(".port"))
            servers.append(process)
            ports.append(port)
        url = f"http://127.0.0.1:{ports[0]}"
        try:
            async with aiohttp.ClientSession() as session:
                async def pay(i: int) -> None:
                    body = json.dumps({"order_no": f"K{i}", "amount_fen": 100,
                                       "auth_code": test_codes.make_wechat_code(test_codes.PAYER_GIVES_UP)}).encode()
                    headers = {"Content-Type": "application/json", **sign_request("D1", key_hex, "/d/v1/pay", body)}
                    async with session.post(f"{url}/d/v1/pay", data=body, headers=headers) as resp:
                        assert resp.status == 200, await resp.text()
                for start in range(0, CRASH_ORDERS, 50):
                    await asyncio.gather(*(pay(i) for i in range(start, min(start + 50, CRASH_ORDERS))))
                for _ in range(1200):
                    if len({t for p, t in sandbox.ledger.calls if p == "/secapi/pay/reverse"}) >= CRASH_ORDERS:
                        break
                    await asyncio.sleep(0.05)
            killed = servers.pop(0)
            killed.send_signal(signal.SIGKILL)
            await killed.wait()
            async with open_storage(DatabaseSettings(**database)) as storage:
                owners = await storage.sql.fetchall(
                    "SELECT claimed_by, COUNT(*) AS n FROM orders WHERE status = 'PAYING' AND claimed_by IS NOT NULL"
                    " GROUP BY claimed_by")
                held = {row["claimed_by"].split(":")[1]: row["n"] for row in owners}
                sandbox.reverse_recalls = 0
                if backend == "sqlite":
                    log = tmp / f"crash-{backend}-restart.log"      # on a port of its own: nobody calls it
                    restarted, _port = await loopback.start_server("--config", str(config), log=log,
                                                                   port_file=log.with_suffix(".port"))
                    servers.append(restarted)
                resumed, resumed_ms = time.monotonic(), now_ms()
                while time.monotonic() - resumed < RUN_LIMIT_S:
                    if (await storage.count_backlog(now_ms()))["paying"] == 0:
                        break
                    await asyncio.sleep(0.1)
                all_final_s = time.monotonic() - resumed
                rows = await storage.sql.fetchall("SELECT finished_at FROM orders WHERE finished_at IS NOT NULL")
        finally:
            await stop_servers(servers)
    after = sorted(max(0.0, (r["finished_at"] - resumed_ms) / 1000) for r in rows)
    return {"backend": backend, "processes": len(ports), "orders": CRASH_ORDERS,
            "claimed_at_kill": held.get(str(killed.pid), 0), "claimed_by_survivor_at_kill":
                sum(n for pid, n in held.items() if pid != str(killed.pid)),
            "final": len(rows), "all_final_s": round(all_final_s, 2) if len(rows) == CRASH_ORDERS else None,
            "final_p50_s": round(percentile(after, 50), 2) if after else None,
            "final_p99_s": round(percentile(after, 99), 2) if after else None}


WAITING_RUNS = [(backend, processes, design, answer) for backend, processes in (("sqlite", 1), ("postgresql", 2))
                for answer in ANSWERS for design in ("Resolver", "LookEachTick", "BatchAndGather")]


def test_resolver_benchmarks(tmp_path):
    async def main() -> dict:
        results = {}
        for design in (Resolver, BatchAndGather):
            async with run_wechat_sandbox(reverse_recalls=1) as sandbox:
                results[design.__name__] = await lag_run(tmp_path, sandbox, design)
        results["waiting"] = []
        for run in WAITING_RUNS:
            results["waiting"].append(await waiting_run(tmp_path, *run))
            print_waiting(results["waiting"][-1])
        for backend in ("sqlite", "postgresql"):
            async with run_wechat_sandbox(auto_revoke_s=3600) as sandbox:
                results[f"sigkill_mid_cancel_{backend}"] = await crash_run(tmp_path, sandbox, backend)
        return results

    results = asyncio.run(main())
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(results, indent=2))
    print()
    print(f"1. resolver lag, {ORDERS} orders reaching their deadline at once (SQLite, one process, WeChat sandbox,"
          f" recall=Y then a {CANCEL_RETRY_S} s pause; per-channel rate {RATE:g}/s); finished_at - deadline:")
    for name in ("Resolver", "BatchAndGather"):
        r = results[name]
        print(f"  {name:15} final {r['final']}/{r['orders']}  lag p50 {r['lag_p50_s']} s  p99 {r['lag_p99_s']} s"
              f"  max {r['lag_max_s']} s  (oldest unclaimed due, max {r['unclaimed_due_max_s']} s)")
    print(f"2. resolver lag, {WAITING} waiting orders (payers typing; due on the query schedule"
          f" {'/'.join(f'{w:g}' for w in QUERY_SCHEDULE_S)} s then every {QUERY_INTERVAL_S:g} s), {WINDOW_S:g} s;"
          f" due -> channel call starts; channel limits {WAITING_CONCURRENCY} under way, {WAITING_RATE:g}/s;"
          f" latency = WAITING after {LATENCY_S:g} s without HTTP, sandbox = WeChat sandbox over HTTP:")
    for r in results["waiting"]:
        print_waiting(r)
    for backend in ("sqlite", "postgresql"):
        crash = results[f"sigkill_mid_cancel_{backend}"]
        after = "the restart on the same file" if backend == "sqlite" else "the kill (the other process finishing)"
        took = (f"all final {crash['all_final_s']} s after {after}" if crash["all_final_s"] is not None
                else f"{crash['final']}/{crash['orders']} final, the rest did not finish in {RUN_LIMIT_S:g} s")
        print(f"3. SIGKILL during {crash['orders']} deadline cancels, {backend}, {crash['processes']} process(es)"
              f" ({crash['claimed_at_kill']} claimed by the killed one, {crash['claimed_by_survivor_at_kill']} by"
              f" the other; lease 60 s): {took} (p50 {crash['final_p50_s']} s, p99 {crash['final_p99_s']} s)")
    print(f"  (BENCH_RESOLVER_ORDERS={ORDERS}, BENCH_RESOLVER_WAITING={WAITING})  -> {OUT}")


def print_waiting(r: dict) -> None:
    lag = (f"lag p50 {r['lag_p50_s']} s  p99 {r['lag_p99_s']} s  max {r['lag_max_s']} s" if r["lag_p50_s"] is not None
           else "no calls due")
    print(f"  {r['backend']:10} x{r['processes']} {r['answer']:7} {r['design']:14} {lag}  calls offered {r['calls_offered_per_s']}/s,"
          f" due {r['calls_due_per_s']}/s, started {r['calls_started_per_s']}/s, {r['never_called']} due and never called,"
          f" load {r['load_avg_1min']}"
          + "".join(f"; {p}" for p in r["problems"]), flush=True)


if __name__ == "__main__" and sys.argv[1:2] == ["serve"]:
    serve(json.loads(sys.argv[2]))
