"""Resolver benchmarks (`make bench`): printed and written to var/bench/resolver.json. Not timed tests.

    1. Lag with N waiting orders, one process on SQLite: N payers gave up (WeChat sandbox; each reverse
       first answers recall=Y, as WeChat does while a payment is in flight, then revokes after a pause of
       cancel_retry_s). All N reach their deadline at the same moment; an order's lag is finished_at minus
       its deadline. Measured for this resolver (every order a task, calls paced per channel) and, in the
       same run, for the design before it (claim a batch of 50, gather, claim again), reproduced by
       `BatchAndGather` below on the same storage and channel.
    2. A server SIGKILLed in the middle of 400 deadline cancels, restarted on the same SQLite file: how
       long until every order is final, counted from the restart (a claim's lease is 60 s there, as it was
       before, so anything near 60 s means dead claims were waited out).

BENCH_RESOLVER_ORDERS (default 2000) sets N; `BENCH_RESOLVER_ORDERS=10000 make bench` (or
`BENCH_RESOLVER_ORDERS=10000 .venv/bin/python -m pytest -q -s tests/bench/test_bench_resolver_scale.py`) for
10,000. BENCH_RESOLVER_RATE (default 1000) is the per-channel call rate limit in run 1: the shipped
default of 100 a second would make run 1 measure that limit (3 calls an order) rather than the resolver.
"""
from __future__ import annotations

import asyncio
import json
import os
import signal
import statistics
import sys
import time
from pathlib import Path

import aiohttp
from aiohttp import web

from hw_sim import test_codes
from loopback import free_port
from hw_sim.sandbox import run_wechat_sandbox
from server.app import create_app
from server.channels import PayCommand
from server.clock import new_id, new_trade_no, now_ms
from server.device_auth import sign_request
from server.devices import register_device
from server.keys import CHANNELS, METRICS, PAYMENTS, STORAGE
from server.resolver import Resolver
from server.settings import DatabaseSettings, load_settings
from server.storage import B2C, PAYING, Order, open_storage

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "var" / "bench" / "resolver.json"
ORDERS = int(os.environ.get("BENCH_RESOLVER_ORDERS", "2000"))
RATE = float(os.environ.get("BENCH_RESOLVER_RATE", "1000"))
CANCEL_RETRY_S = 0.5        # WeChat's recall=Y pause, shortened so the old design's run stays bounded
CRASH_ORDERS = 400
RUN_LIMIT_S = 300.0         # a run that has not finished by then is reported as such


class BatchAndGather(Resolver):
    """The design before issue 15: each look claims up to 50 due orders and waits for all of them."""

    async def run_once(self) -> int:
        orders = await self._storage.claim_due_orders(now_ms(), 60_000, 50, owner=self.owner)
        await asyncio.gather(*(self._payments.step(order, claim=self.owner) for order in orders),
                             return_exceptions=True)
        return len(orders)


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


async def wait_healthy(url: str, process: asyncio.subprocess.Process) -> None:
    async with aiohttp.ClientSession() as session:
        for _ in range(400):
            assert process.returncode is None, "the server exited"
            try:
                async with session.get(f"{url}/healthz") as resp:
                    if resp.status == 200:
                        return
            except aiohttp.ClientConnectionError:
                pass
            await asyncio.sleep(0.05)
    raise AssertionError("the server never came up")


async def start_server(config: Path, port: int, log: Path) -> asyncio.subprocess.Process:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SCANPAY_")}
    with open(log, "ab") as out:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "server", "run", "--config", str(config), "--port", str(port), cwd=ROOT, env=env,
            stdout=asyncio.subprocess.DEVNULL, stderr=out)
    await wait_healthy(f"http://127.0.0.1:{port}", process)
    return process


async def crash_run(tmp: Path, sandbox) -> dict:
    database = {"path": str(tmp / "crash.db")}
    async with open_storage(DatabaseSettings(**database)) as storage:
        await storage.add_merchant("M1", "Tea House")
        key_hex = await register_device(storage, "D1", "M1", "Tea House")
    config = tmp / "crash.toml"
    config.write_text(f"""[database]
path = {json.dumps(database["path"])}

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
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    sandbox.reverse_recalls = 10_000          # every order stays in its cancel loop until the kill
    first = await start_server(config, port, tmp / "first.log")
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
    first.send_signal(signal.SIGKILL)
    await first.wait()
    async with open_storage(DatabaseSettings(**database)) as storage:
        held = (await storage.sql.fetchone(
            "SELECT COUNT(*) AS n FROM orders WHERE status = 'PAYING' AND claimed_by IS NOT NULL"))["n"]
    sandbox.reverse_recalls = 0
    second = await start_server(config, port, tmp / "second.log")
    restarted = time.monotonic()
    try:
        async with open_storage(DatabaseSettings(**database)) as storage:
            while time.monotonic() - restarted < RUN_LIMIT_S:
                if (await storage.count_backlog(now_ms()))["paying"] == 0:
                    break
                await asyncio.sleep(0.1)
            all_final_s = time.monotonic() - restarted
            rows = await storage.sql.fetchall("SELECT finished_at FROM orders WHERE finished_at IS NOT NULL")
    finally:
        second.send_signal(signal.SIGTERM)
        await second.wait()
    restart_ms = now_ms() - (time.monotonic() - restarted) * 1000
    after = sorted(max(0.0, (r["finished_at"] - restart_ms) / 1000) for r in rows)
    return {"orders": CRASH_ORDERS, "claimed_at_kill": held, "final": len(rows),
            "all_final_after_restart_s": round(all_final_s, 2),
            "final_after_restart_p50_s": round(percentile(after, 50), 2) if after else None,
            "final_after_restart_p99_s": round(percentile(after, 99), 2) if after else None}


def test_resolver_benchmarks(tmp_path):
    async def main() -> dict:
        results = {}
        for design in (Resolver, BatchAndGather):
            async with run_wechat_sandbox(reverse_recalls=1) as sandbox:
                results[design.__name__] = await lag_run(tmp_path, sandbox, design)
        async with run_wechat_sandbox(auto_revoke_s=3600) as sandbox:
            results["sigkill_mid_cancel"] = await crash_run(tmp_path, sandbox)
        return results

    results = asyncio.run(main())
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(results, indent=2))
    print()
    print(f"resolver lag, {ORDERS} orders reaching their deadline at once (SQLite, one process, WeChat sandbox,"
          f" recall=Y then a {CANCEL_RETRY_S} s pause; per-channel rate {RATE:g}/s):")
    for name in ("Resolver", "BatchAndGather"):
        r = results[name]
        print(f"  {name:15} final {r['final']}/{r['orders']}  lag p50 {r['lag_p50_s']} s  p99 {r['lag_p99_s']} s"
              f"  max {r['lag_max_s']} s  (oldest unclaimed due, max {r['unclaimed_due_max_s']} s)")
    crash = results["sigkill_mid_cancel"]
    print(f"SIGKILL during {crash['orders']} deadline cancels ({crash['claimed_at_kill']} claimed at the kill,"
          f" lease 60 s), restarted on the same SQLite file: all final {crash['all_final_after_restart_s']} s after the restart"
          f" (p50 {crash['final_after_restart_p50_s']} s, p99 {crash['final_after_restart_p99_s']} s)")
    print(f"  (N: BENCH_RESOLVER_ORDERS={ORDERS}; BENCH_RESOLVER_ORDERS=10000 for 10,000)  -> {OUT}")
