"""The acquirer as every channel's service provider: two merchants paying through one server each land in
their own sub-merchant's ledger at WeChat, Alipay and UnionPay, each merchant's bill reconciles alone, and a
shop not open at a channel is refused there with nothing stored."""
import asyncio
import datetime

import pytest

from tests.channels.conftest import SHORT
from hw_sim import test_codes
from hw_sim.boards.stack import CHANNELS, ServerStack
from hw_sim.sandbox.common import CHINA
from server import merchant_channels
from server.device_auth import new_device_key
from server.keys import STORAGE
from server.reconcile import EXIT_DIFFERENCES, EXIT_OK, exit_status, reconcile

MAKERS = {"wechat": test_codes.make_wechat_code, "alipay": test_codes.make_alipay_code,
          "unionpay": test_codes.make_unionpay_code}
# Each shop's own account at each channel (the noodle bar is not open at Alipay).
ACCOUNTS = {
    "M1": {"wechat": "1900000101", "alipay": "2088000000000101", "unionpay": "898310000000101"},
    "M2": {"wechat": "1900000102", "unionpay": "898310000000102"},
}
DEVICES = {"M1": "TEA-1", "M2": "NOODLE-1"}


@pytest.fixture
async def provider(tmp_path):
    async with ServerStack(tmp_path, (), channels=CHANNELS, **SHORT, heartbeat_s=None, merchant_name=None,
                           channel_options={channel: {"service_provider": True} for channel in CHANNELS}) as server:
        storage, settings, sandboxes = server.storage, server.settings, server.sandboxes
        keys = {}
        for merchant_id, name in (("M1", "Tea House"), ("M2", "Noodle Bar")):
            await storage.add_merchant(merchant_id, name)
            for channel, account in ACCOUNTS[merchant_id].items():
                sandboxes[channel].add_sub_merchant(account)          # the channel knows the shop
                await merchant_channels.open_merchant(storage, settings, merchant_id, channel, account_id=account,
                                                      actor="ops1")
            keys[merchant_id] = new_device_key()
            await storage.add_device(DEVICES[merchant_id], merchant_id, name, keys[merchant_id])

        async def call(merchant_id, op, message):
            return await server.device(DEVICES[merchant_id], keys[merchant_id]).call(op, message)

        yield {"call": call, "app": server.app, "settings": settings, "sandboxes": sandboxes}


async def test_each_merchants_money_lands_in_its_own_account_and_reconciles_alone(provider, tmp_path):
    call, sandboxes, storage = provider["call"], provider["sandboxes"], provider["app"][STORAGE]
    for merchant_id in ("M1", "M2"):
        for channel in ACCOUNTS[merchant_id]:
            for n, amount in enumerate((1250, 99)):
                order_no = f"{merchant_id}-{channel}-{n}"
                status, body = await call(merchant_id, "pay", {"order_no": order_no, "amount_fen": amount,
                                                               "auth_code": MAKERS[channel]()})
                assert (status, body["order"]["status"]) == (200, "SUCCESS"), body
                order = await storage.get_order(DEVICES[merchant_id], order_no)
                assert order.channel_account == ACCOUNTS[merchant_id][channel]

    for channel, sandbox in sandboxes.items():
        by_shop = {}
        for charge in sandbox.ledger.charges:
            by_shop.setdefault(charge.merchant, []).append(charge.amount_fen)
        expected = {ACCOUNTS[m][channel]: [1250, 99] for m in ("M1", "M2") if channel in ACCOUNTS[m]}
        assert by_shop == expected, channel                     # nothing on the acquirer's own account

    # A refund goes back out of the same shop's account.
    status, body = await call("M2", "refund", {"order_no": "M2-wechat-0", "refund_no": "R1", "amount_fen": 250})
    assert status == 200
    assert [(r.merchant, r.amount_fen) for r in sandboxes["wechat"].ledger.refunds] == [("1900000102", 250)]
    refunded = await storage.get_order(DEVICES["M2"], "M2-wechat-0")
    for _ in range(100):              # WeChat pays a refund out a moment later: the resolver asks until then
        if [r.status for r in await storage.list_refunds(refunded.id)] == ["SUCCESS"]:
            break
        await asyncio.sleep(0.05)

    today = datetime.datetime.now(CHINA).date()
    reports = await reconcile(provider["settings"], today, out_dir=tmp_path)
    assert exit_status(reports) == EXIT_OK, [r.text() for r in reports]
    for channel in ("wechat", "alipay", "unionpay"):
        for merchant_id in ("M1", "M2"):
            path = tmp_path / today.isoformat() / "merchants" / merchant_id / f"{channel}.txt"
            if channel not in ACCOUNTS[merchant_id]:
                assert not path.exists()
                continue
            text = path.read_text()
            assert text.splitlines()[0].endswith(": OK") and f"merchant: {merchant_id}" in text
            assert "2 payments 13.49 yuan" in text               # its own two payments, not the other shop's

    # One shop's payment missing from its bill is that shop's difference, named, and nobody else's.
    charges = sandboxes["unionpay"].ledger.charges
    missing = await storage.get_order(DEVICES["M1"], "M1-unionpay-1")
    charges[:] = [c for c in charges if c.out_trade_no != missing.trade_no]
    reports = {r.channel: r for r in await reconcile(provider["settings"], today, out_dir=tmp_path / "again")}
    assert exit_status(list(reports.values())) == EXIT_DIFFERENCES
    [difference] = reports["unionpay"].differences
    assert (difference.kind, difference.trade_no, difference.merchant_id) == ("missing_in_bill", missing.trade_no,
                                                                             "M1")
    assert (tmp_path / "again" / today.isoformat() / "merchants" / "M2" / "unionpay.txt").read_text().splitlines()[
        0].endswith(": OK")


async def test_a_shop_not_open_at_alipay_is_refused_there_with_nothing_stored(provider):
    call, storage = provider["call"], provider["app"][STORAGE]
    status, info = await call("M2", "info", {})
    assert info["wallets"] == ["unionpay", "wechat"]
    before = await storage.table_counts(["orders", "order_events", "nonces"])
    status, body = await call("M2", "pay", {"order_no": "A1", "amount_fen": 1250,
                                            "auth_code": test_codes.make_alipay_code()})
    assert (status, body["error"]["code"]) == (403, "channel_not_open")
    assert await storage.table_counts(["orders", "order_events", "nonces"]) == before
    assert provider["sandboxes"]["alipay"].ledger.calls == []


async def test_a_shop_the_channel_does_not_know_is_declined_and_charged_nothing(provider):
    """Opened here with an account the channel never registered (a typo that passed the format check)."""
    storage, settings = provider["app"][STORAGE], provider["settings"]
    await merchant_channels.open_merchant(storage, settings, "M2", "alipay", account_id="2088000000000999",
                                          actor="ops1")
    status, body = await provider["call"]("M2", "pay", {"order_no": "A2", "amount_fen": 1250,
                                                        "auth_code": test_codes.make_alipay_code()})
    assert (status, body["order"]["status"], body["order"]["reason"]) == (200, "FAILED", "channel_declined")
    assert provider["sandboxes"]["alipay"].ledger.charges == []
