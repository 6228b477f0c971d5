"""`make demo`: one enhanced scan box takes a WeChat payment end to end, then one that is refused.

Everything runs for real on loopback: the payment server (aiohttp, SQLite under var/), the WeChat Pay
sandbox (v2 XML, signed), and a virtual scan box running the firmware under CPython with a virtual
keypad, GM65 scan engine and SYN6288 voice module. The customer's phone is a rendered wallet screen
that the scan engine decodes with zbar.

The end-to-end test (tests/e2e) drives the same `DemoStack`, so the demo and the test cannot drift.
"""
import asyncio
import contextlib
import os
import sys
import time
from dataclasses import dataclass

from hw_sim import test_codes
from hw_sim.boards import VirtualEnhancedBox
from hw_sim.boards.stack import ServerStack
from hw_sim.wallet import WECHAT, Wallet, mask_code
from server.devices import register_device

DEVICE_ID = "BOX0001"
MERCHANT_ID = "M0001"
STORE_NAME = "老王便利店 (Demo Road)"


@dataclass
class Payment:
    """What happened to one payment, as the box and the server saw it."""
    amount_text: str
    code: str
    spoken: list          # what the box said from the amount to the final result
    order: object         # server.storage.Order, as stored
    events: list          # the server's history of the order (server.storage.OrderEvent)


class DemoStack(ServerStack):
    """The server and the WeChat sandbox (hw_sim's ServerStack, with the server's own channel timings) and one
    registered virtual box, all on 127.0.0.1 with free ports."""

    def __init__(self, db_path, *, on_event=None, query_interval_s=None):
        super().__init__(os.path.dirname(os.path.abspath(db_path)), (), database={"path": str(db_path)},
                         query_interval_s=query_interval_s, deadline_s=None, cancel_retry_s=None, timeout_s=None,
                         resolver={}, heartbeat_s=None, shutdown_timeout=60.0)
        self.on_event = on_event

    @property
    def server_url(self):
        return self.url

    async def seed(self):
        device = await self.storage.get_device(DEVICE_ID)
        key_hex = device.key_hex if device else await register_device(
            self.storage, DEVICE_ID, MERCHANT_ID, STORE_NAME, merchant_name="老王便利店")
        self.box = VirtualEnhancedBox(self.url, DEVICE_ID, key_hex, on_event=self.on_event,
                                      speech_s_per_char=0.02)
        await self.box.start()
        self._stack.push_async_callback(self.box.stop)

    async def pay(self, amount_text, scenario, param=0, timeout=90.0):
        """The cashier types the amount, the customer shows a fresh WeChat code made for `scenario`."""
        code = test_codes.make_wechat_code(scenario, param)
        start, first_event = len(self.box.spoken), len(self.box.events)
        await self.box.type_amount(amount_text)
        await self.box.wait_spoken("付款码", timeout=10, start=start)
        if self.on_event:
            self.on_event({"event": "wallet", "text": "customer shows WeChat code %s" % mask_code(code)})
        decoded = self.box.scan(Wallet(WECHAT).screen(code))
        if decoded != code:
            raise RuntimeError("the scan engine read %r from the wallet screen" % decoded)
        finished = await self.box.wait_state("RESULT", timeout=timeout, start=first_event)
        verdict = await self.box.wait_event(lambda e: e["event"] == "say", start=first_event
                                            + self.box.events[first_event:].index(finished))
        await self.box.wait_spoken(verdict["text"], timeout=30, start=start)
        order = await self.storage.get_order(DEVICE_ID, finished["order_no"])
        events = await self.storage.list_events(order.id)
        return Payment(amount_text, code, self.box.spoken[start:], order, events)


# ---------------------------------------------------------------------------------------------- printing
class Narrator:
    """Prints what the box says and shows, as it happens, with the time since the demo began."""

    def __init__(self, out=sys.stdout):
        self.out = out
        self.t0 = time.monotonic()
        self.last_led = None

    def say(self, who, text):
        print("[%6.2fs] %-7s %s" % (time.monotonic() - self.t0, who, text), file=self.out, flush=True)

    def __call__(self, event):
        kind = event.get("event")
        if kind == "spoken":
            self.say("box", "says   “%s”" % event["text"])
        elif kind == "state":
            self.say("box", "state  %s" % event["state"])
        elif kind == "led":
            colour = event.get("colour")
            if colour != self.last_led:
                self.last_led = colour
                self.say("box", "LED    %s%s" % (colour, " (blinking)" if event.get("blink") else ""))
        elif kind == "amount":
            self.say("box", "keypad %s" % event["text"])
        elif kind == "wallet":
            self.say("wallet", event["text"])


def describe(payment):
    order = payment.order
    yuan = "%d.%02d" % divmod(order.amount_fen, 100)
    seconds = (order.finished_at - order.created_at) / 1000 if order.finished_at else None
    lines = [
        "  order_no   %s" % order.order_no,
        "  channel    %s (trade %s)" % (order.channel, order.trade_no),
        "  amount     %s yuan (%d fen)" % (yuan, order.amount_fen),
        "  status     %s%s" % (order.status, " (%s)" % order.reason if order.reason else ""),
    ]
    if seconds is not None:
        lines.append("  took       %.1f s from pay to final" % seconds)
    lines.append("  history    " + "\n             ".join(
        "+%5.2fs %s" % ((event.at - order.created_at) / 1000, event.kind) for event in payment.events))
    return "\n".join(lines)


async def run_demo():
    os.makedirs("var", exist_ok=True)
    db_path = os.path.join("var", "demo.db")
    for suffix in ("", "-wal", "-shm"):
        with contextlib.suppress(FileNotFoundError):
            os.remove(db_path + suffix)
    narrate = Narrator()
    problems = []
    async with DemoStack(db_path, on_event=narrate) as stack:
        narrate.say("demo", "server %s, WeChat sandbox %s, box %s"
                    % (stack.server_url, stack.sandbox.base_url, DEVICE_ID))

        narrate.say("demo", "payment 1: 12.50 yuan; the customer takes 3 s to type the password")
        paid = await stack.pay("12.50", test_codes.PASSWORD, 3)
        print("\nOrder 1 on the server:\n" + describe(paid) + "\n", flush=True)
        if paid.order.status != "SUCCESS" or "微信收款 12.50 元" not in paid.spoken:
            problems.append("payment 1 ended %s, box said %r" % (paid.order.status, paid.spoken))

        narrate.say("demo", "payment 2: 8.00 yuan with a code whose account lacks the funds")
        refused = await stack.pay("8.00", test_codes.INSUFFICIENT_FUNDS)
        print("\nOrder 2 on the server:\n" + describe(refused) + "\n", flush=True)
        if refused.order.status != "FAILED" or refused.order.reason != "insufficient_funds":
            problems.append("payment 2 ended %s (%s)" % (refused.order.status, refused.order.reason))
        charges = len(stack.sandbox.ledger.charges)
        if charges != 1:
            problems.append("the sandbox charged %d times, expected once" % charges)
    if problems:
        for problem in problems:
            print("demo FAILED: " + problem, file=sys.stderr)
        return 1
    print("demo OK: one payment taken, one refused, charged once")
    return 0


def main(argv=None):
    from tools.one_line_args import OneLineParser
    OneLineParser(prog="python -m hw_sim.demo", description=__doc__.split("\n\n")[0]
                  + " Exits 0 when both payments end as they should.").parse_args(argv)
    try:
        return asyncio.run(run_demo())
    except Exception as exc:   # the demo's one top-level handler: say why, exit non-zero
        print("demo FAILED: %s: %s" % (type(exc).__name__, exc), file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
