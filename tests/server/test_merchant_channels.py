"""A merchant takes payments only through the channels it is open at (on SQLite and PostgreSQL): a closed
wallet is left out of `info` and refused by `pay` with `channel_not_open`, storing nothing; the records
refuse another merchant's sub-merchant account and ids that cannot be the channel's."""
import asyncio

import pytest

from hw_sim import test_codes
from server import merchant_channels, merchants
from server.keys import PAYMENTS, SETTINGS, STORAGE
from server.settings import load_settings
from server.storage import AlreadyExists, NotFound

from tests.server.conftest import MERCHANT_ID

WECHAT_CODE = test_codes.make_wechat_code(test_codes.SUCCESS)


async def test_a_merchant_closed_at_a_channel_is_refused_with_nothing_stored(device, count_rows, sandbox):
    storage = device.app[STORAGE]
    status, info = await device.call("info", {})
    assert info["wallets"] == ["wechat"]
    await merchant_channels.close_merchant(storage, MERCHANT_ID, "wechat", actor="ops1")
    device.app[PAYMENTS].merchant_channels.forget(MERCHANT_ID)    # another process would wait out the cache
    before = await count_rows()

    status, body = await device.pay("C1", 1250, WECHAT_CODE)
    assert (status, body["error"]["code"]) == (403, "channel_not_open")
    assert await count_rows() == before              # no order, no event, and the nonce is not used up
    assert sandbox.ledger.calls == []
    status, info = await device.call("info", {})
    assert info["wallets"] == []

    await merchant_channels.open_merchant(storage, device.app[SETTINGS], MERCHANT_ID, "wechat", actor="ops1")
    device.app[PAYMENTS].merchant_channels.forget(MERCHANT_ID)
    status, body = await device.pay("C1", 1250, WECHAT_CODE)
    assert (status, body["order"]["status"]) == (200, "SUCCESS")


async def test_a_closed_merchant_channel_takes_effect_within_the_cache_time(device):
    """No `forget`: the pay path re-reads a merchant's records within a few seconds."""
    storage = device.app[STORAGE]
    assert (await device.pay("K1", 100, WECHAT_CODE))[0] == 200
    await merchant_channels.close_merchant(storage, MERCHANT_ID, "wechat", actor="ops1")
    for _ in range(80):
        status, body = await device.pay(f"K{_ + 2}", 100, WECHAT_CODE)
        if status == 403:
            break
        await asyncio.sleep(0.1)
    assert body["error"]["code"] == "channel_not_open"


async def test_channel_records_refuse_a_taken_account_an_unknown_merchant_and_bad_ids(device):
    storage, settings = device.app[STORAGE], device.app[SETTINGS]
    await storage.add_merchant("M2", "Noodle Bar")
    await merchant_channels.open_merchant(storage, settings, MERCHANT_ID, "alipay", account_id="2088000000000001",
                                          actor="ops1")
    with pytest.raises(AlreadyExists):
        await merchant_channels.open_merchant(storage, settings, "M2", "alipay", account_id="2088000000000001",
                                              actor="ops1")
    with pytest.raises(NotFound):
        await merchant_channels.open_merchant(storage, settings, "M9", "alipay", account_id="2088000000000002",
                                              actor="ops1")
    for channel, account, app_id in [("alipay", "1088000000000001", None), ("wechat", "19000", None),
                                     ("unionpay", "shop-1", None), ("alipay", "2088000000000003", "wx0123456789abcdef"),
                                     ("paypal", "1", None)]:
        with pytest.raises(ValueError):
            await merchant_channels.open_merchant(storage, settings, "M2", channel, account_id=account, app_id=app_id,
                                                  actor="ops1")
    # The same merchant may change its own account; closing keeps it for its old orders.
    await merchant_channels.open_merchant(storage, settings, MERCHANT_ID, "alipay", account_id="2088000000000009",
                                          actor="ops1")
    closed = await merchant_channels.close_merchant(storage, MERCHANT_ID, "alipay", actor="ops2")
    [record] = [r for r in await storage.merchant_channels(MERCHANT_ID) if r.channel == "alipay"]
    assert record == closed and (record.status, record.account_id, record.updated_by) == (
        "closed", "2088000000000009", "ops2")
    assert await storage.merchant_channels("M2") == []
    # A closed merchant is closed for good: no channel opens for it again.
    await merchants.set_status(storage, "M2", "closed")
    with pytest.raises(ValueError, match="closed"):
        await merchant_channels.open_merchant(storage, settings, "M2", "alipay", account_id="2088000000000004",
                                              actor="ops1")


def test_service_provider_mode_needs_an_open_account_direct_mode_only_not_closed():
    from server.storage.records import MerchantChannel
    direct = load_settings()
    provider = load_settings(channels={"wechat": {"service_provider": True}})
    opened = MerchantChannel("M1", "wechat", "1900000109", "wx0123456789abcdef", "open", 0, "ops")
    closed = MerchantChannel("M1", "wechat", "1900000109", None, "closed", 0, "ops")
    assert merchant_channels.identity(direct, "wechat", None) is None          # the acquirer's own account
    assert merchant_channels.identity(direct, "wechat", opened) is None
    sub = merchant_channels.identity(provider, "wechat", opened)
    assert (sub.account_id, sub.app_id) == ("1900000109", "wx0123456789abcdef")
    for settings, record in [(direct, closed), (provider, closed), (provider, None)]:
        with pytest.raises(merchant_channels.ChannelNotOpen):
            merchant_channels.identity(settings, "wechat", record)
