"""Real server processes (`python -m server run`): killed with SIGKILL mid-payment and restarted, and
two processes sharing one PostgreSQL (cross-process long-poll wake-ups, resolver work never doubled)."""
from __future__ import annotations

import asyncio
import json
import signal
import time
from pathlib import Path

import aiohttp
import pytest

from tests.server.conftest import DEVICE_ID, MERCHANT_ID
from tests.loopback import start_server
from hw_sim import test_codes
from hw_sim.device_client import DeviceClient as SignedDevice
from server.devices import register_device
from server.settings import DatabaseSettings
from server.storage import open_storage

pytestmark = pytest.mark.slow


def toml_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value)
    return repr(value)


def write_config(path: Path, sections: dict[str, dict]) -> Path:
    lines = []
    for name, table in sections.items():
        lines.append(f"[{name}]")
        lines += [f"{key} = {toml_value(value)}" for key, value in table.items()]
        lines.append("")
    path.write_text("\n".join(lines))
    return path


class ServerProcess:
    """One `python -m server run` child process, its stderr in a file."""

    def __init__(self, config: Path, log_path: Path):
        self.config = config
        self.log_path = log_path
        self.port: int | None = None        # the one it binds, once started
        self.url = ""
        self.process: asyncio.subprocess.Process | None = None

    async def start(self) -> "ServerProcess":
        self.process, self.port = await start_server("--config", str(self.config), log=self.log_path,
                                                     port_file=self.log_path.with_suffix(".port"))
        self.url = f"http://127.0.0.1:{self.port}"
        return self

    async def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.process is not None and self.process.returncode is None:
            self.process.send_signal(sig)
            await self.process.wait()

    async def metric(self, session: aiohttp.ClientSession, name: str) -> float:
        async with session.get(f"{self.url}/metrics") as resp:
            text = await resp.text()
        return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(name))


class DeviceClient:
    """hw_sim's signed device client, at whichever server process a call names."""

    def __init__(self, session: aiohttp.ClientSession, key_hex: str):
        self.session = session
        self.key_hex = key_hex

    async def call(self, server: ServerProcess, op: str, message: dict) -> dict:
        device = SignedDevice(self.session, DEVICE_ID, self.key_hex, base_url=server.url)
        status, answer = await device.call(op, message)
        assert status == 200, answer
        return answer


def server_config(tmp_path: Path, name: str, database: dict, sandbox, *, resolver: bool = True,
                  recheck_s: float = 5.0, deadline_s: float = 4.0) -> Path:
    return write_config(tmp_path / f"{name}.toml", {
        "server": {"sandbox": True},
        "database": database,
        "device_api": {"poll_recheck_s": recheck_s},
        "resolver": {"enabled": resolver, "tick_s": 0.05, "lease_s": 5.0},
        "logging": {"format": "json"},
        "channels.wechat": {"base_url": sandbox.base_url, "timeout_s": 2.0, "query_interval_s": 0.3,
                            "deadline_s": deadline_s, "cancel_retry_s": 0.1},
    })


async def add_device(database: dict) -> str:
    async with open_storage(DatabaseSettings(**database)) as storage:
        return await register_device(storage, DEVICE_ID, MERCHANT_ID, "Tea House")


@pytest.fixture
async def processes():
    started: list[ServerProcess] = []

    async def start(config: Path, log_name: str) -> ServerProcess:
        server = ServerProcess(config, config.parent / log_name)
        started.append(server)
        return await server.start()
    yield start
    for server in started:
        await server.stop(signal.SIGKILL)


@pytest.mark.parametrize("scenario", ["payer_typing", "pay_call_in_flight"])
async def test_sigkill_mid_payment_then_restart_finishes_the_order_once(tmp_path, database, sandbox, processes,
                                                                       scenario):
    key_hex = await add_device(database)
    config = server_config(tmp_path, "server", database, sandbox)
    first = await processes(config, "first.log")
    async with aiohttp.ClientSession() as session:
        device = DeviceClient(session, key_hex)
        if scenario == "payer_typing":
            # The payer is typing the password (2 s) when the server dies.
            code = test_codes.make_wechat_code(test_codes.PASSWORD, 2)
            answer = await device.call(first, "pay", {"order_no": "K1", "amount_fen": 1250, "auth_code": code})
            assert answer["order"]["status"] == "PAYING"
        else:
            # The server dies while its micropay call is still waiting for WeChat's answer.
            code = test_codes.make_wechat_code(test_codes.NO_ANSWER, 0)
            pay = asyncio.create_task(device.call(first, "pay", {"order_no": "K1", "amount_fen": 1250,
                                                                 "auth_code": code}))
            for _ in range(200):
                if sandbox.ledger.calls_to("/pay/micropay"):
                    break
                await asyncio.sleep(0.02)
            assert sandbox.ledger.calls_to("/pay/micropay") == 1
        await first.stop(signal.SIGKILL)
        if scenario == "pay_call_in_flight":
            with pytest.raises(aiohttp.ClientError):
                await pay

        second = await processes(config, "second.log")
        answer = await device.call(second, "query", {"order_no": "K1", "wait": 20})
        for _ in range(3):   # a reversal retried by the restarted resolver may take a little longer
            if answer["order"]["status"] != "PAYING":
                break
            answer = await device.call(second, "query", {"order_no": "K1", "wait": 20})
    if scenario == "payer_typing":
        assert answer["order"]["status"] == "SUCCESS"
        assert len(sandbox.ledger.charges) == 1
    else:
        assert (answer["order"]["status"], answer["order"]["reason"]) == ("CLOSED", "timeout")
        assert sandbox.ledger.charges == []
        assert sandbox.ledger.calls_to("/secapi/pay/reverse") >= 1   # cancelled at WeChat, not only here
    assert sandbox.ledger.calls_to("/pay/micropay") == 1   # never paid twice


async def test_long_poll_on_one_process_wakes_when_another_finishes_the_order(tmp_path, pg_database, sandbox,
                                                                              processes):
    key_hex = await add_device(pg_database)
    # A serves the device but resolves nothing and re-reads held polls only every 60 s: only a
    # NOTIFY from B can end A's long poll early.
    a = await processes(server_config(tmp_path, "a", pg_database, sandbox, resolver=False, recheck_s=60), "a.log")
    b = await processes(server_config(tmp_path, "b", pg_database, sandbox, resolver=True), "b.log")
    async with aiohttp.ClientSession() as session:
        device = DeviceClient(session, key_hex)
        code = test_codes.make_wechat_code(test_codes.PASSWORD, 1)
        answer = await device.call(a, "pay", {"order_no": "W1", "amount_fen": 880, "auth_code": code})
        assert answer["order"]["status"] == "PAYING"
        started = time.monotonic()
        answer = await device.call(a, "query", {"order_no": "W1", "wait": 25})
        waited = time.monotonic() - started
        assert answer["order"]["status"] == "SUCCESS"
        assert waited < 10, waited   # woken by B's change, long before the 25 s wait or the 60 s re-read
        assert await b.metric(session, 'scanpay_resolver_steps_total{kind="order"}') >= 1
        assert await a.metric(session, "scanpay_resolver_steps_total") == 0
    assert len(sandbox.ledger.charges) == 1


async def test_two_resolvers_share_the_work_and_never_do_it_twice(tmp_path, pg_database, sandbox, processes):
    key_hex = await add_device(pg_database)
    a = await processes(server_config(tmp_path, "a", pg_database, sandbox), "a.log")
    b = await processes(server_config(tmp_path, "b", pg_database, sandbox), "b.log")
    orders = 24
    async with aiohttp.ClientSession() as session:
        device = DeviceClient(session, key_hex)
        for i in range(orders):
            # Half are paid after 1-2 s of typing; the other half are never paid and reversed at 4 s.
            scenario = (test_codes.PASSWORD, 1 + i % 2) if i % 2 else (test_codes.PAYER_GIVES_UP, 0)
            code = test_codes.make_wechat_code(*scenario)
            await device.call((a, b)[i % 2], "pay", {"order_no": f"S{i}", "amount_fen": 100 + i, "auth_code": code})
        finals = await asyncio.gather(*(device.call((b, a)[i % 2], "query", {"order_no": f"S{i}", "wait": 25})
                                        for i in range(orders)))
        assert all(f["order"]["status"] != "PAYING" for f in finals), finals
        steps_a = await a.metric(session, "scanpay_resolver_steps_total")
        steps_b = await b.metric(session, "scanpay_resolver_steps_total")
    assert steps_a > 0 and steps_b > 0, (steps_a, steps_b)   # both processes did resolver work
    assert len(sandbox.ledger.charges) == orders // 2
    assert len(sandbox.ledger.reversals) == orders // 2
    async with open_storage(DatabaseSettings(**pg_database)) as storage:
        for i in range(orders):
            order = await storage.get_order(DEVICE_ID, f"S{i}")
            events = await storage.list_events(order.id)
            asks = [e.at for e in events if e.kind.startswith(("pay:", "query:"))]
            gaps = [later - earlier for earlier, later in zip(asks, asks[1:])]
            # One step at a time: a second process querying the same order would show up as asks
            # much closer together than the 300 ms query interval.
            assert all(gap >= 250 for gap in gaps), (order.order_no, [e.kind for e in events], gaps)
            assert sum(1 for e in events if e.kind == "cancel:done") <= 1
