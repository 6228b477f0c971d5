"""Load generator for the server benchmarks: a process of its own, printing one JSON line of results
(run from the repository, where `tests` and `hw_sim` are packages).

    python -m tests.bench.server_loadgen echo     --urls URL --seconds S --concurrency C
    python -m tests.bench.server_loadgen pay      --urls URL[,URL] --devices-file F --seconds S --concurrency C
    python -m tests.bench.server_loadgen longpoll --urls URL --device D --key K --orders N --server-pid PID
    python -m tests.bench.server_loadgen poll5    --urls URL --device D --key K --orders N

The throughput modes (echo, pay) speak HTTP/1.1 over keep-alive connections of their own (Connection),
one per worker; the latency modes use aiohttp's client.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import secrets
import sys
import time
from pathlib import Path

import aiohttp

from hw_sim import test_codes
from hw_sim.device_client import sign_request


class Client:
    def __init__(self, session: aiohttp.ClientSession, device: str, key: str):
        self.session = session
        self.device = device
        self.key = key

    async def call(self, url: str, op: str, message: dict, device: tuple[str, str] | None = None) -> tuple[int, dict]:
        device_id, key = device or (self.device, self.key)
        body = json.dumps(message, separators=(",", ":")).encode()
        headers = {"Content-Type": "application/json", **sign_request(device_id, key, f"/d/v1/{op}", body)}
        async with self.session.post(f"{url}/d/v1/{op}", data=body, headers=headers) as resp:
            return resp.status, await resp.json()


class Connection:
    """One keep-alive HTTP/1.1 connection, written and read by hand: a few times cheaper per request than
    aiohttp's client, so the throughput runs measure the server, not the load generator sharing its cores."""

    def __init__(self, url: str):
        self._host, _, port = url.removeprefix("http://").partition(":")
        self._port = int(port or 80)
        self._streams: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None

    async def post(self, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
        if self._streams is None:
            self._streams = await asyncio.open_connection(self._host, self._port)
        reader, writer = self._streams
        head = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
        writer.write(f"POST {path} HTTP/1.1\r\nHost: {self._host}\r\nContent-Length: {len(body)}\r\n{head}\r\n"
                     .encode() + body)
        try:
            status_line = await reader.readuntil(b"\r\n")
            length, closing = 0, False
            while (line := await reader.readuntil(b"\r\n")) != b"\r\n":
                name, _, value = line.decode("latin-1").partition(":")
                name = name.strip().lower()
                if name == "content-length":
                    length = int(value)
                elif name == "connection" and value.strip().lower() == "close":
                    closing = True
            answer = await reader.readexactly(length)
        except (asyncio.IncompleteReadError, ConnectionError) as e:
            self.close()
            raise aiohttp.ClientConnectionError(str(e)) from None
        if closing:
            self.close()
        return int(status_line.split()[1]), answer

    def close(self) -> None:
        if self._streams is not None:
            self._streams[1].close()
            self._streams = None


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def run_for(seconds: float, concurrency: int, one) -> dict:
    done = errors = 0
    stop = time.monotonic() + seconds

    async def worker(index: int) -> None:
        nonlocal done, errors
        while time.monotonic() < stop:
            try:
                if await one(index):
                    done += 1
                else:
                    errors += 1
            except aiohttp.ClientError:
                errors += 1
    started = time.monotonic()
    await asyncio.gather(*(worker(i) for i in range(concurrency)))
    elapsed = time.monotonic() - started
    return {"done": done, "errors": errors, "seconds": elapsed, "rate": done / elapsed}


async def echo(args) -> dict:
    payload = b'{"order_no":"A1","amount_fen":1250,"auth_code":"134567890123456789"}'
    connections = [Connection(args.urls[0]) for _ in range(args.concurrency)]

    async def one(index: int) -> bool:
        status, _ = await connections[index].post("/echo", payload, {"Content-Type": "application/json"})
        return status == 200
    try:
        return await run_for(args.seconds, args.concurrency, one)
    finally:
        for connection in connections:
            connection.close()


async def pay(args) -> dict:
    run = secrets.token_hex(3)
    counter = 0
    # Many shops at once, as a real fleet: each worker is one device of its own merchant.
    devices = [tuple(d) for d in json.loads(Path(args.devices_file).read_text())]
    connections = [Connection(args.urls[index % len(args.urls)]) for index in range(args.concurrency)]

    async def one(index: int) -> bool:
        nonlocal counter
        counter += 1
        device_id, key = devices[index % len(devices)]
        body = json.dumps({"order_no": f"B{run}{counter}", "amount_fen": 1,
                           "auth_code": test_codes.make_wechat_code(test_codes.SUCCESS)}, separators=(",", ":")).encode()
        headers = {"Content-Type": "application/json", **sign_request(device_id, key, "/d/v1/pay", body)}
        status, answer = await connections[index].post("/d/v1/pay", body, headers)
        return status == 200 and json.loads(answer)["order"]["status"] == "SUCCESS"
    try:
        return await run_for(args.seconds, args.concurrency, one)
    finally:
        for connection in connections:
            connection.close()


async def _open_orders(client: Client, url: str, prefix: str, count: int) -> None:
    queue = list(range(count))

    async def worker() -> None:
        while queue:
            i = queue.pop()
            status, body = await client.call(url, "pay", {
                "order_no": f"{prefix}{i}", "amount_fen": 1,
                "auth_code": test_codes.make_wechat_code(test_codes.PAYER_GIVES_UP)})
            assert status == 200 and body["order"]["status"] == "PAYING", body
    await asyncio.gather(*(worker() for _ in range(32)))


async def _long_polls_held(session: aiohttp.ClientSession, url: str) -> float:
    async with session.get(f"{url}/metrics") as resp:
        for line in (await resp.text()).splitlines():
            if line.startswith("scanpay_long_polls "):
                return float(line.split()[1])
    return 0.0


async def longpoll(args) -> dict:
    url = args.urls[0]
    prefix = "L" + secrets.token_hex(3)
    timeout = aiohttp.ClientTimeout(total=None, sock_read=None)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0), timeout=timeout) as session:
        client = Client(session, args.device, args.key)
        rss_before = rss_mb(args.server_pid)
        started = time.monotonic()
        await _open_orders(client, url, prefix, args.orders)
        opened_s = time.monotonic() - started
        answered: dict[int, float] = {}

        async def hold(i: int) -> None:
            status, body = await client.call(url, "query", {"order_no": f"{prefix}{i}", "wait": args.wait})
            if status == 200 and body["order"]["status"] != "PAYING":
                answered[i] = time.monotonic()
        polls = [asyncio.create_task(hold(i)) for i in range(args.orders)]
        for _ in range(600):
            if await _long_polls_held(session, url) >= args.orders:
                break
            await asyncio.sleep(0.1)
        held = await _long_polls_held(session, url)
        rss_held = rss_mb(args.server_pid)
        closed: dict[int, float] = {}
        queue = list(range(args.orders))

        async def closer() -> None:
            while queue:
                i = queue.pop()
                status, body = await client.call(url, "close", {"order_no": f"{prefix}{i}"})
                closed[i] = time.monotonic()
        await asyncio.gather(*(closer() for _ in range(32)))
        await asyncio.gather(*polls)
    latencies = [max(0.0, answered[i] - closed[i]) * 1000 for i in answered if i in closed]
    return {"orders": args.orders, "held": held, "open_orders_s": opened_s, "rss_mb_before": rss_before,
            "rss_mb_held": rss_held, "answered": len(answered),
            "wake_ms_p50": percentile(latencies, 50), "wake_ms_p99": percentile(latencies, 99),
            "wake_ms_max": max(latencies) if latencies else float("nan")}


async def poll5(args) -> dict:
    """Fixed 5-second polling: the same close-to-answer latency as longpoll, without long polls."""
    url = args.urls[0]
    prefix = "P" + secrets.token_hex(3)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
        client = Client(session, args.device, args.key)
        await _open_orders(client, url, prefix, args.orders)
        seen: dict[int, float] = {}
        closed: dict[int, float] = {}
        requests = 0

        async def device(i: int) -> None:
            nonlocal requests
            await asyncio.sleep(5 * (i / args.orders))   # devices' polls are spread over the 5 s
            while True:
                requests += 1
                status, body = await client.call(url, "query", {"order_no": f"{prefix}{i}", "wait": 0})
                if body["order"]["status"] != "PAYING":
                    seen[i] = time.monotonic()
                    return
                await asyncio.sleep(5)
        devices = [asyncio.create_task(device(i)) for i in range(args.orders)]
        await asyncio.sleep(5)
        order = list(range(args.orders))
        random.shuffle(order)   # closes at random moments of each device's 5 s cycle
        for i in order:
            await client.call(url, "close", {"order_no": f"{prefix}{i}"})
            closed[i] = time.monotonic()
        await asyncio.gather(*devices)
    latencies = [max(0.0, seen[i] - closed[i]) * 1000 for i in seen]
    return {"orders": args.orders, "requests": requests, "wake_ms_p50": percentile(latencies, 50),
            "wake_ms_p99": percentile(latencies, 99)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", choices=["echo", "pay", "longpoll", "poll5"])
    parser.add_argument("--urls", type=lambda s: s.split(","), required=True)
    parser.add_argument("--device", default="BENCH")
    parser.add_argument("--key", default="")
    parser.add_argument("--devices-file", default="")
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--orders", type=int, default=1000)
    parser.add_argument("--wait", type=int, default=300)
    parser.add_argument("--server-pid", type=int, default=os.getpid())
    args = parser.parse_args()
    result = asyncio.run({"echo": echo, "pay": pay, "longpoll": longpoll, "poll5": poll5}[args.mode](args))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
