"""How soon a password payment's result reaches the device (`make bench`): printed and written to
var/bench/password_result.json. Not a timed test.

Payers who confirm their password PAYER_S seconds after the scan (the WeChat sandbox's password
scenario); the device long-polls `query` as the firmware does. Measured per payment: the delay from the
payer's confirmation to the device's answer, and the queries the server made, with the default
`query_schedule_s` against fixed 5-second polling in the same run. BENCH_PASSWORD_PAYMENTS (default 12)
and BENCH_PASSWORD_PAYER_S (default 3) scale it.
"""
from __future__ import annotations

import asyncio
import json
import os
import statistics
import time
from pathlib import Path

import aiohttp

from hw_sim import test_codes
from hw_sim.boards.stack import ServerStack
from hw_sim.device_client import DeviceClient
from server.settings import load_settings

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "var" / "bench" / "password_result.json"
PAYMENTS = int(os.environ.get("BENCH_PASSWORD_PAYMENTS", "12"))
PAYER_S = int(os.environ.get("BENCH_PASSWORD_PAYER_S", "3"))


async def _run(tmp: Path, label: str, schedule: list[float]) -> dict:
    # the server's own timings but the query schedule under test
    async with ServerStack(tmp, ("B1",), database={"path": str(tmp / f"{label}.db")}, query_interval_s=None,
                           deadline_s=None, cancel_retry_s=None, timeout_s=None, resolver={}, heartbeat_s=None,
                           merchant_name="茶馆", store_name="老王茶馆",
                           channel_options={"wechat": {"query_schedule_s": schedule}}) as stack:
        wechat, storage = stack.sandbox, stack.storage
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=90)) as http:
            device = DeviceClient(http, "B1", stack.keys["B1"], base_url=stack.url)

            async def one(n: int) -> tuple[float, int]:
                await asyncio.sleep(n * 0.37)            # payers arrive spread out, not in step
                order_no = f"{label}-{n}"
                code = test_codes.make_wechat_code(test_codes.PASSWORD, PAYER_S)
                sent = time.monotonic()
                _, answer = await device.pay(order_no, 1250, code)
                while answer["order"]["status"] == "PAYING":
                    _, answer = await device.query(order_no, wait=25)
                assert answer["order"]["status"] == "SUCCESS", answer
                heard = time.monotonic()
                trade_no = (await storage.get_order("B1", order_no)).trade_no
                # The sandbox's payer confirms PAYER_S seconds after the micropay call reached it.
                return heard - sent - PAYER_S, wechat.ledger.calls_to("/pay/orderquery", trade_no)
            results = await asyncio.gather(*(one(n) for n in range(PAYMENTS)))
    delays = sorted(delay for delay, _ in results)
    queries = [count for _, count in results]
    return {"label": label, "schedule_s": schedule, "payments": PAYMENTS, "payer_s": PAYER_S,
            "confirm_to_device_s_p50": round(statistics.median(delays), 3),
            "confirm_to_device_s_p99": round(delays[min(len(delays) - 1, int(len(delays) * 0.99))], 3),
            "queries_per_payment": round(statistics.mean(queries), 2)}


async def test_bench_password_result(tmp_path):
    fixed = await _run(tmp_path, "fixed-5s", [])
    scheduled = await _run(tmp_path, "schedule", list(load_settings().channels.wechat.query_schedule_s))
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps([fixed, scheduled], indent=2))
    for row in (fixed, scheduled):
        print(f"\n{row['label']:>9}: payer confirms -> device p50 {row['confirm_to_device_s_p50']:.2f} s,"
              f" p99 {row['confirm_to_device_s_p99']:.2f} s, {row['queries_per_payment']} queries per payment"
              f" ({row['payments']} payments, payer {row['payer_s']} s)")
    assert fixed["payments"] == scheduled["payments"] == PAYMENTS
