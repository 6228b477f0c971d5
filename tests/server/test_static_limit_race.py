"""The static-code payer limit holds when one payer opens the shop's code in two tabs at the same moment."""
import asyncio

from server.clock import new_id, new_trade_no, now_ms
from server.settings import DatabaseSettings
from server.storage import PAYING, Order, open_storage

LIMIT_FEN = 50_000      # 500 yuan


def static_order(device_id, order_no, amount_fen):
    now = now_ms()
    return Order(id=new_id(), device_id=device_id, order_no=order_no, trade_no=new_trade_no(),
                 amount_fen=amount_fen, channel="", status=PAYING, auth_code_hash="", auth_code_masked="",
                 created_at=now, deadline_at=now + 300_000, kind="C2B", merchant_id="M1", day=20261122,
                 static_code=1)


async def test_two_tabs_of_one_payer_cannot_both_pass_the_static_code_limit(database):
    async with open_storage(DatabaseSettings(**database)) as storage:
        await storage.add_merchant("M1", "Tea House")
        await storage.add_device("D1", "M1", "Nanjing Rd", "00" * 32)
        for attempt in range(5):
            first, _ = await storage.create_order(static_order("D1", f"S{attempt}a", 30_000))
            second, _ = await storage.create_order(static_order("D1", f"S{attempt}b", 30_000))
            payer = f"alice-{attempt}"
            engaged = await asyncio.gather(
                storage.engage_c2b_order(first.id, "wechat", payer, static_max_fen=LIMIT_FEN),
                storage.engage_c2b_order(second.id, "wechat", payer, static_max_fen=LIMIT_FEN))
            assert sorted(engaged) == [False, True], (attempt, engaged)   # 300 + 300 yuan > 500 yuan
            # the same payer in another channel still has its own 500 yuan
            third, _ = await storage.create_order(static_order("D1", f"S{attempt}c", 30_000))
            assert await storage.engage_c2b_order(third.id, "alipay", payer, static_max_fen=LIMIT_FEN)
