"""docs/sandbox.md says what every test payment code does; the sandboxes do exactly that.

The page's three tables are read as a reader reads them, then a payment with a code of every scenario runs
through the real server and the three real sandboxes on loopback (hw_sim.boards.stack.ServerStack, signed
device-API calls): each order must end as "Where the order ends" says, and the channel's answer to the pay
call, kept with the order's history, must be what "What each channel answers the pay call" says.
Every scenario of hw_sim/test_codes.py must be on the page with its two digits and its code prefixes."""
import asyncio
import json
import re
import subprocess
import sys

import pytest

from tests.docs.docs_pages import REPO, section, table_rows
from hw_sim import test_codes
from hw_sim.boards.stack import CHANNELS, ServerStack

PAGE = "docs/sandbox.md"
PREFIXES = {"wechat": test_codes.WECHAT_PREFIX, "alipay": test_codes.ALIPAY_PREFIX,
            "unionpay": test_codes.UNIONPAY_PREFIX}
MAKERS = {"wechat": test_codes.make_wechat_code, "alipay": test_codes.make_alipay_code,
          "unionpay": test_codes.make_unionpay_code}
# PP per scenario: a payer typing for 1 s, a pay call held 8 s (past the server's 3 s timeout below, and its
# 6 s deadline), a slow answer 1 s late (within the timeout)
PARAMS = {test_codes.PASSWORD: 1, test_codes.NO_ANSWER: 8, test_codes.SLOW_ANSWER: 1}


def ticked(cell):
    """The `backticked` words of a table cell."""
    return re.findall(r"`([^`]*)`", cell)


def codes_table():
    return table_rows(section(PAGE, "Test codes"))


def by_scenario(heading):
    """{scenario: {channel: cell}} of a table whose first column is the scenario, then one per channel."""
    return {row[0]: dict(zip(CHANNELS, row[1:])) for row in table_rows(section(PAGE, heading))}


def test_every_scenario_is_documented_with_its_digits_and_prefixes():
    rows = codes_table()
    assert {ticked(row[0])[0]: row[1] for row in rows} == test_codes.SCENARIOS
    for row in rows:
        digits = ticked(row[0])[0]
        for channel, cell in zip(CHANNELS, row[3:]):
            start = ticked(cell)[0]
            assert start.startswith(PREFIXES[channel] + digits) and start.endswith("…"), (row[1], channel, cell)
            pp = start[4:6]
            assert pp == "PP" if "`PP`" in row[2] else pp == "00", (row[1], channel, cell)
    for heading in ("Where the order ends", "What each channel answers the pay call"):
        assert set(by_scenario(heading)) == set(test_codes.SCENARIOS.values()), heading


def test_the_code_layout_is_what_test_codes_makes():
    layout = {row[0]: row for row in table_rows(section(PAGE, "How a test code is made"))}
    for name, channel in (("WeChat", "wechat"), ("Alipay", "alipay"), ("UnionPay", "unionpay")):
        prefix, scenario, param = ticked(layout[name][1])[0].split()
        code = MAKERS[channel](test_codes.EXPIRED, 7)
        assert (prefix, scenario, param) == (PREFIXES[channel], "SS", "PP")
        assert len(code) == int(layout[name][2]) and code.startswith(prefix + "0307")
        assert test_codes.scenario_of(code) == ("expired", 7)


def test_the_pages_commands_start_without_a_warning():
    """Each sandbox the page starts (`python -m hw_sim.sandbox...`) runs as a module without runpy's
    RuntimeWarning that it was imported before it ran: nothing on stderr."""
    modules = set(re.findall(r"python -m (hw_sim\.sandbox[\w.]*)", (REPO / PAGE).read_text("utf-8")))
    assert modules == {"hw_sim.sandbox", "hw_sim.sandbox.alipay", "hw_sim.sandbox.unionpay"}
    for module in sorted(modules):
        done = subprocess.run([sys.executable, "-m", module, "--help"], cwd=REPO, capture_output=True, text=True,
                              timeout=120, stdin=subprocess.DEVNULL)
        assert (done.returncode, done.stderr) == (0, ""), (module, done.stderr)
        assert done.stdout.startswith(f"usage: python -m {module} "), (module, done.stdout)


async def pay(stack, channel, scenario, order_no):
    """One payment driven to its final state: (the order as the device sees it, the pay call's raw answer)."""
    client = stack.device("D0001")
    code = MAKERS[channel](scenario, PARAMS.get(scenario, 0))
    status, body = await client.pay(order_no, 1250, code)
    assert status == 200, body
    for _ in range(3):
        if body["order"]["status"] != "PAYING":
            break
        status, body = await client.query(order_no, wait=20)
    stored = await stack.storage.get_order("D0001", order_no)
    first = [e for e in await stack.storage.list_events(stored.id) if e.kind.startswith("pay:")][0]
    return body["order"], first


@pytest.mark.slow
@pytest.mark.parametrize("channel", CHANNELS)
async def test_every_code_does_what_the_page_says(tmp_path, channel):
    ends = by_scenario("Where the order ends")
    answers = by_scenario("What each channel answers the pay call")
    names = test_codes.SCENARIOS
    async with ServerStack(tmp_path, channels=CHANNELS, query_interval_s=0.2, deadline_s=6.0, cancel_retry_s=0.1,
                           timeout_s=3.0) as stack:
        results = await asyncio.gather(*(pay(stack, channel, scenario, f"{channel[:2]}-{scenario}")
                                         for scenario in sorted(names)))
        ledger = stack.sandboxes[channel].ledger
        for scenario, (order, first) in zip(sorted(names), results):
            name = names[scenario]
            expected = ticked(ends[name][channel])
            assert [order["status"], order.get("reason")] == (expected + [None])[:2], (channel, name)
            raw = json.dumps(first.raw or {}, ensure_ascii=False)
            said = answers[name][channel]
            if said.startswith("none"):
                assert first.kind == "pay:UNKNOWN" and not first.raw, (channel, name, first)
            else:
                assert f'"{ticked(said)[0]}"' in raw, (channel, name, raw)
            stored = await stack.storage.get_order("D0001", order["order_no"])
            charged = len(ledger.charges_for(stored.trade_no))
            assert charged == (1 if order["status"] == "SUCCESS" else 0), (channel, name)
