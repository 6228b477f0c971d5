"""The whole till with the real basic-box firmware: the POS writes its total to the pole display over a
pseudo-terminal -> the agent reads it -> the customer's phone screen is scanned by the virtual basic
box (firmware/core/basic_box.py on virtual peripherals, its USB line a real pseudo-terminal) -> the
agent pays through the real server -> WeChat sandbox -> the box's voice module announces the result."""
import asyncio

from host_agent.agent import Agent
from host_agent.api import DeviceApi
from host_agent.box_link import BoxLink
from host_agent.sources.pole_display import PoleDisplaySource
from hw_sim import test_codes
from hw_sim.boards.basic_box import VirtualBasicBox
from hw_sim.pos.pole_display import PoleDisplayRecorder, PosCashier
from hw_sim.wallet import WECHAT, Wallet


async def run_till(payment_server, pty_pair, sales):
    """sales: [(amount_fen, scenario, param)]; returns (box, agent results, display bytes, pos bytes)."""
    pos_port, display_port = pty_pair(), pty_pair()
    display = PoleDisplayRecorder(display_port)
    box = VirtualBasicBox(serial_no="SPB0001")
    await box.start()
    source = PoleDisplaySource(pos_port.path, mode="passthrough", display_port=display_port.path,
                               protocol="led8n", lamps="partner")
    api = DeviceApi(payment_server.url, "PC0001", payment_server.key_hex)
    agent = Agent(source, BoxLink(box.port), api, query_wait_s=5, retry_s=0.2)
    task = asyncio.create_task(agent.run())
    pos = PosCashier(pos_port, "led8n", lamps="partner")
    results = []
    try:
        await agent.box.wait_ready(10)
        assert await asyncio.to_thread(source.wait_open, 5)
        for amount_fen, scenario, param in sales:
            start, spoken = len(agent.events), len(box.spoken)
            await asyncio.to_thread(pos.sale, [amount_fen // 2, amount_fen - amount_fen // 2])
            await box.wait_spoken("请出示付款码", timeout=10, start=spoken)
            code = test_codes.make_wechat_code(scenario, param)
            assert box.scan(Wallet(WECHAT).screen(code)) == code      # zbar read the phone's screen
            result = await agent.wait_event(lambda e: e["event"] == "result", timeout=60, start=start)
            await box.wait_spoken(result["text"], timeout=10, start=spoken)
            results.append((result, box.spoken[spoken:]))
        received = await asyncio.to_thread(display.wait_for, len(pos.written))
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await box.stop()
        display.stop()
    return box, results, received, bytes(pos.written)


async def test_pos_to_basic_box_announcement(payment_server, pty_pair):
    box, results, received, written = await run_till(payment_server, pty_pair, [
        (1250, test_codes.PASSWORD, 1),
        (800, test_codes.INSUFFICIENT_FUNDS, 0),
    ])
    (paid, paid_spoken), (refused, refused_spoken) = results
    assert paid["status"] == "SUCCESS"
    assert paid_spoken == ["请出示付款码", "用户支付中，请稍候", "微信收款 12.50 元"]
    assert (refused["status"], refused["why"]) == ("FAILED", "insufficient_funds")
    assert refused_spoken == ["请出示付款码", "余额不足"]
    assert received == written              # the customer display saw every byte the POS sent

    order = await payment_server.storage.get_order("PC0001", paid["order_no"])
    assert (order.status, order.amount_fen, order.channel) == ("SUCCESS", 1250, "wechat")
    charges = payment_server.sandbox.ledger.charges
    assert [(c.out_trade_no, c.total_fee) for c in charges] == [(order.trade_no, 1250)]
