"""The demo's flow as a test: keypad → scan of a rendered wallet screen → server → WeChat sandbox → voice.

Everything is real on loopback: HTTP, SQLite, zbar decoding, the firmware running under CPython on
virtual peripherals. Only the resolver's query interval is shortened so the test is quick.
"""
from hw_sim import test_codes
from hw_sim.demo import DemoStack


async def test_password_payment_is_announced_and_charged_once(tmp_path):
    async with DemoStack(tmp_path / "e2e.db", query_interval_s=0.3) as stack:
        paid = await stack.pay("12.50", test_codes.PASSWORD, 2)
        charges = [c for c in stack.sandbox.ledger.charges if c.out_trade_no == paid.order.trade_no]

    assert paid.spoken == ["请出示付款码", "用户支付中，请稍候", "微信收款 12.50 元"]
    assert paid.order.status == "SUCCESS"
    assert paid.order.amount_fen == 1250
    assert paid.order.channel == "wechat"
    assert [e.kind for e in paid.events][-1] == "query:SUCCESS"
    assert len(charges) == 1 and charges[0].total_fee == 1250


async def test_refused_payment_is_announced_and_nothing_charged(tmp_path):
    async with DemoStack(tmp_path / "e2e.db", query_interval_s=0.3) as stack:
        refused = await stack.pay("8.00", test_codes.INSUFFICIENT_FUNDS)
        charges = list(stack.sandbox.ledger.charges)

    assert refused.spoken == ["请出示付款码", "余额不足"]
    assert (refused.order.status, refused.order.reason) == ("FAILED", "insufficient_funds")
    assert charges == []


async def test_two_payments_in_a_row_on_one_box(tmp_path):
    async with DemoStack(tmp_path / "e2e.db", query_interval_s=0.3) as stack:
        first = await stack.pay("0.01", test_codes.SUCCESS)
        second = await stack.pay("3", test_codes.SUCCESS)

    assert first.spoken[-1] == "微信收款 0.01 元"
    assert second.spoken[-1] == "微信收款 3.00 元"
    assert first.order.order_no != second.order.order_no
    assert (first.order.amount_fen, second.order.amount_fen) == (1, 300)


def test_the_demo_answers_help_without_running():
    import subprocess
    import sys
    result = subprocess.run([sys.executable, "-m", "hw_sim.demo", "--help"], capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0 and result.stdout.startswith("usage: python -m hw_sim.demo")
    assert "demo OK" not in result.stdout and "demo FAILED" not in result.stderr
