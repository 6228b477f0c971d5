"""End to end on one PC: the POS writes its total to the pole display over a pseudo-terminal, the
agent reads it, the basic box (scripted, on a second pseudo-terminal) sends the customer's code, the
agent pays through the real server and WeChat sandbox on loopback, and tells the box what to say."""
import asyncio
import logging

import pytest

from host_agent.agent import Agent
from host_agent.api import DeviceApi
from host_agent.box_link import BoxLink
from host_agent.sources.pole_display import PoleDisplaySource
from hw_sim import test_codes
from hw_sim.pos.pole_display import PosCashier
from hw_sim.scan_engine import decode_symbol
from hw_sim.wallet import WECHAT, Wallet


class Till:
    """The POS, the scripted box and the agent, wired over pseudo-terminals."""

    def __init__(self, server, pos_port, box, **agent_kw):
        self.server = server
        self.pos = PosCashier(pos_port, "led8n", lamps="wintec")
        self.box = box
        link = BoxLink(box.path)
        source = PoleDisplaySource(pos_port.path, protocol="led8n", lamps="wintec")
        api = DeviceApi(server.url, "PC0001", server.key_hex, body_format=agent_kw.pop("body_format", "cbor"))
        api.retry_s = 0.1
        self.agent = Agent(source, link, api, query_wait_s=5, retry_s=0.2, **agent_kw)

    async def __aenter__(self):
        self.task = asyncio.create_task(self.agent.run())
        await self.agent.box.wait_ready(5)
        assert await asyncio.to_thread(self.agent.source.wait_open, 5)
        return self

    async def __aexit__(self, *exc):
        self.task.cancel()
        await asyncio.gather(self.task, return_exceptions=True)

    async def total(self, amount_fen):
        start = len(self.agent.events)
        await asyncio.to_thread(self.pos.show_total, amount_fen)
        await self.agent.wait_event(lambda e: e["event"] == "amount" and e["amount_fen"] == amount_fen,
                                    start=start)

    async def customer_scans(self, code):
        start = len(self.agent.events)
        await asyncio.to_thread(self.box.scan, code)
        return await self.agent.wait_event(lambda e: e["event"] == "result", timeout=30, start=start)


def scanned_from_phone(scenario, param=0):
    """A fresh WeChat code, shown on the phone and read off its screen by a real barcode decoder."""
    code = test_codes.make_wechat_code(scenario, param)
    assert decode_symbol(Wallet(WECHAT).screen(code)) == code
    return code


async def test_pos_total_to_announced_payment(payment_server, pty_pair, scripted_box, agent_log):
    async with Till(payment_server, pty_pair(), scripted_box()) as till:
        await till.total(1250)
        await asyncio.to_thread(till.box.wait_said, "请出示付款码")
        code = scanned_from_phone(test_codes.PASSWORD, 1)
        result = await till.customer_scans(code)
        await asyncio.to_thread(till.box.wait_said, "微信收款 12.50 元")

    assert result["status"] == "SUCCESS"
    assert till.box.said == ["请出示付款码", "用户支付中，请稍候", "微信收款 12.50 元"]
    assert till.box.leds[-1] == "green"
    order = await payment_server.storage.get_order("PC0001", result["order_no"])
    assert (order.status, order.amount_fen) == ("SUCCESS", 1250)
    charges = [c for c in payment_server.sandbox.ledger.charges if c.out_trade_no == order.trade_no]
    assert len(charges) == 1 and charges[0].total_fee == 1250
    logged = "\n".join(record.getMessage() for record in agent_log.records)
    assert code[-4:] in logged and code not in logged          # codes masked in the logs


async def test_a_scan_before_any_total(payment_server, pty_pair, scripted_box):
    async with Till(payment_server, pty_pair(), scripted_box()) as till:
        start = len(till.agent.events)
        await asyncio.to_thread(till.box.scan, test_codes.make_wechat_code())
        await till.agent.wait_event(lambda e: e["event"] == "refused", start=start)
        await asyncio.to_thread(till.box.wait_said, "请先输入金额")
    assert payment_server.sandbox.ledger.charges == []


async def test_refused_code_keeps_the_amount_for_another_code(payment_server, pty_pair, scripted_box):
    async with Till(payment_server, pty_pair(), scripted_box()) as till:
        await till.total(800)
        refused = await till.customer_scans(scanned_from_phone(test_codes.INSUFFICIENT_FUNDS))
        await asyncio.to_thread(till.box.wait_said, "余额不足")
        paid = await till.customer_scans(scanned_from_phone(test_codes.SUCCESS))
        await asyncio.to_thread(till.box.wait_said, "微信收款 8.00 元")
        # paid: the same total is not taken again without the POS showing a new one
        again = len(till.agent.events)
        await asyncio.to_thread(till.box.scan, test_codes.make_wechat_code())
        await till.agent.wait_event(lambda e: e["event"] == "refused", start=again)
    assert (refused["status"], refused["why"]) == ("FAILED", "insufficient_funds")
    assert paid["status"] == "SUCCESS"
    assert len(payment_server.sandbox.ledger.charges) == 1


@pytest.mark.parametrize("code, said, why, channel", [
    ("9912345678901234", "不支持的付款码", "unknown_prefix", None),            # no wallet's code at all
    ("281234567890123456", "本店暂不支持支付宝付款", "not_taken", "alipay"),   # the shop takes WeChat only
])
async def test_a_code_the_shop_does_not_take_is_refused_before_asking_the_server(payment_server, pty_pair,
                                                                                 scripted_box, code, said, why,
                                                                                 channel):
    """The agent runs the firmware's pre-check (core/codes.py) on the prefixes the server's `info` sends for
    this shop, as the enhanced box does: refused in the devices' own words, and no pay request made."""
    async with Till(payment_server, pty_pair(), scripted_box(), body_format="json") as till:
        await till.agent.wait_event(lambda e: e["event"] == "info")
        await till.total(500)
        start = len(till.agent.events)
        await asyncio.to_thread(till.box.scan, code)
        refused = await till.agent.wait_event(lambda e: e["event"] == "refused", start=start)
        await asyncio.to_thread(till.box.wait_said, said)
        assert not [e for e in till.agent.events[start:] if e["event"] == "pay"]
    assert (refused["why"], refused["channel"]) == (why, channel)
    assert payment_server.sandbox.ledger.calls == []


async def test_server_unreachable(payment_server, pty_pair, scripted_box, unused_tcp_port, agent_log):
    till = Till(payment_server, pty_pair(), scripted_box())
    till.agent.api.base_url = "http://127.0.0.1:%d" % unused_tcp_port
    async with till:
        await till.total(1250)
        result = await till.customer_scans(test_codes.make_wechat_code())
        await asyncio.to_thread(till.box.wait_said, "网络异常")
    assert result["why"] == "server_unreachable"
    assert till.box.leds[-1] == "red"
    assert any("cannot be reached" in r.getMessage() and r.levelno == logging.ERROR for r in agent_log.records)


async def test_the_wrong_device_key(payment_server, pty_pair, scripted_box, agent_log):
    till = Till(payment_server, pty_pair(), scripted_box())
    till.agent.api._key = bytes(32)
    async with till:
        await till.total(1250)
        result = await till.customer_scans(test_codes.make_wechat_code())
        await asyncio.to_thread(till.box.wait_said, "设备未授权")
    assert result["why"] == "bad_signature"
    assert any("device_key" in r.getMessage() for r in agent_log.records)


@pytest.fixture
def unused_tcp_port():
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
