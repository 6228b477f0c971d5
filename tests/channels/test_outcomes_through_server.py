"""Every sandbox outcome of every channel driven through the real server to its final state.

The real app from the factory, real SQLite, the three sandboxes on loopback, the device API signed as a
device signs it. Schedules are short (query every 0.2 s, deadline 2 s) so a whole lifecycle takes seconds.
The lost-answer case must end SUCCESS, found by query, charged once and never reversed.
"""
import asyncio

import pytest

from hw_sim import test_codes
from server.keys import STORAGE

# scenario -> (final status, reason, charged)
EXPECTED = {
    test_codes.SUCCESS: ("SUCCESS", None, True),
    test_codes.PASSWORD: ("SUCCESS", None, True),
    test_codes.INSUFFICIENT_FUNDS: ("FAILED", "insufficient_funds", False),
    test_codes.EXPIRED: ("FAILED", "code_expired", False),
    test_codes.SYSTEM_ERROR: ("SUCCESS", None, True),
    test_codes.PAYER_GIVES_UP: ("CLOSED", "timeout", False),
    test_codes.NO_ANSWER: ("CLOSED", "timeout", False),
    test_codes.LOST_ANSWER: ("SUCCESS", None, True),
    test_codes.ALREADY_USED: ("FAILED", "code_used", False),
}
# What each channel says about a used code: WeChat "invalid", Alipay one sub_code for used and expired.
USED_REASON = {"wechat": "code_invalid", "alipay": "code_expired", "unionpay": "code_used"}
MAKERS = {"wechat": test_codes.make_wechat_code, "alipay": test_codes.make_alipay_code,
          "unionpay": test_codes.make_unionpay_code}
PARAMS = {test_codes.PASSWORD: 1, test_codes.NO_ANSWER: 4}


async def drive(stack, channel, scenario, order_no):
    code = MAKERS[channel](scenario, PARAMS.get(scenario, 0))
    status, body = await stack["call"]("pay", {"order_no": order_no, "amount_fen": 1250, "auth_code": code})
    assert status == 200, body
    status, body = await stack["call"]("query", {"order_no": order_no, "wait": 20})
    if body["order"]["status"] == "PAYING":
        status, body = await stack["call"]("query", {"order_no": order_no, "wait": 20})
    return body["order"]


@pytest.mark.parametrize("channel", ["wechat", "alipay", "unionpay"])
async def test_every_outcome_reaches_its_final_state(stack, channel):
    scenarios = sorted(EXPECTED)
    orders = await asyncio.gather(*(drive(stack, channel, s, f"{channel[:2]}-{s}") for s in scenarios))
    sandbox = stack[channel]
    storage = stack["app"][STORAGE]
    for scenario, order in zip(scenarios, orders):
        status, reason, charged = EXPECTED[scenario]
        if scenario == test_codes.ALREADY_USED:
            reason = USED_REASON[channel]
        assert (order["status"], order.get("reason")) == (status, reason), (channel, test_codes.SCENARIOS[scenario])
        stored = await storage.get_order("D1", order["order_no"])
        charges = sandbox.ledger.charges_for(stored.trade_no)
        assert len(charges) == (1 if charged else 0), (channel, test_codes.SCENARIOS[scenario])
        if charged:
            # paid, charged once, never reversed, and the channel's id kept
            assert stored.trade_no not in sandbox.ledger.reversals
            assert stored.channel_trade_no == charges[0].channel_trade_no
    assert sandbox.ledger.refunds == []


async def test_lost_answer_is_found_by_query_not_paid_twice(stack):
    for channel in ("wechat", "alipay", "unionpay"):
        order = await drive(stack, channel, test_codes.LOST_ANSWER, f"lost-{channel}")
        assert order["status"] == "SUCCESS"
        stored = await stack["app"][STORAGE].get_order("D1", order["order_no"])
        events = [e.kind for e in await stack["app"][STORAGE].list_events(stored.id)]
        assert events[:3] == ["created", "pay:UNKNOWN", "query:SUCCESS"], (channel, events)
        assert not any(kind.startswith("cancel") for kind in events)
