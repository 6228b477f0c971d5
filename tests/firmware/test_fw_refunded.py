"""A REFUNDED order is said as refunded, never as money received, on every kind of device: the enhanced box,
the handheld gun, the QR stand (firmware) and the host agent for the basic box. Each is driven through its
own path to the announcement, with a server that answers the order as refunded."""
import asyncio

import pytest

from core import texts
from core.app import App
from core.gun import GunApp
from core.journal import Journal
from core.stand import StandApp
from hw_sim.virtual_board.jig.mp_standins import Led, Source, Speaker

REFUNDED = {"order_no": "D0001-5a00-000001", "status": "REFUNDED", "channel": "wechat", "amount_fen": 1250, "refunded_fen": 1250}
SAID = "已退款 12.50 元"
CODE = "134567890123456789"


class Server:
    """pay and qr answer PAYING; query, orders and close the refunded order."""

    async def pay(self, order_no, amount_fen, auth_code, subject=None):
        return dict(REFUNDED, order_no=order_no, status="PAYING", refunded_fen=0)

    async def qr(self, order_no, amount_fen, subject=None):
        return dict(REFUNDED, order_no=order_no, status="PAYING", refunded_fen=0), "https://x/c/1", \
            {"qr_code": "https://x/c/1"}

    async def query(self, order_no, wait=0):
        return dict(REFUNDED, order_no=order_no)

    async def orders(self, limit=20, before=None):
        return [REFUNDED]


class Screen:
    width = height = 240
    lines = ()
    qr_size = 0

    def __getattr__(self, name):
        return lambda *args, **kwargs: 0


def parts(tmp_path, speaker):
    return dict(keypad=Source(), scanner=Source(), voice=speaker, led=Led(), api=Server(),
                journal=Journal(str(tmp_path / "journal.json")), device_id="D0001")


async def said_until(speaker, text):
    for _ in range(200):
        if text in speaker.said:
            return speaker.said
        await asyncio.sleep(0.01)
    return speaker.said


async def enhanced_box(tmp_path):
    speaker = Speaker()
    box = App(**parts(tmp_path, speaker))
    box.min_poll_ms = 0
    for key in ("1", "2", ".", "5", "OK"):
        box.on_key(key)
    box.on_scan(CODE)                       # paid, then refunded before the answer came
    return await said_until(speaker, SAID), box


async def gun(tmp_path):
    speaker = Speaker()
    gun = GunApp(Screen(), **parts(tmp_path, speaker))
    await gun.look_up("1")                  # the merchant looks up an order refunded since
    return await said_until(speaker, SAID), gun


async def stand(tmp_path):
    speaker = Speaker()
    stand = StandApp(Screen(), **parts(tmp_path, speaker))
    stand.min_poll_ms = 0
    for key in ("1", "2", ".", "5", "OK"):
        stand.on_key(key)                   # a one-time code; the payer pays, the shop refunds
    return await said_until(speaker, SAID), stand


async def host_agent(tmp_path):
    from host_agent.agent import Agent
    from host_agent.sources import AmountReading

    class Box:
        def __init__(self):
            self.said = []

        async def say(self, text):
            self.said.append(text)

        async def led(self, colour, blink=False):
            pass

    class Scan:
        seq, code, at = 1, CODE, 0.0

    box = Box()
    agent = Agent(source=None, box=box, api=Server(), retry_s=0.01)
    agent.on_amount(AmountReading(1250, "manual"))
    agent.on_scan(Scan())
    return await said_until(box, SAID), agent


@pytest.mark.parametrize("device", [enhanced_box, gun, stand, host_agent])
async def test_a_refunded_order_is_said_refunded_on_every_device(tmp_path, device):
    said, running = await device(tmp_path)
    assert said[-1] == SAID == texts.result_text(REFUNDED)
    assert not any("收款" in text for text in said)          # never "微信收款 12.50 元"
    for task in [getattr(running, "_payment", None), getattr(running, "_timer", None)]:
        if isinstance(task, asyncio.Task):
            task.cancel()
    for task in list(getattr(running, "_tasks", ())):
        if isinstance(task, asyncio.Task):
            task.cancel()
