"""A box at a shop that does not take a wallet says so, in its own words, before and after asking the server."""
import asyncio

from core import app as app_mod
from core import codes, texts
from core.api import ApiError
from core.journal import Journal
from hw_sim.virtual_board.jig.mp_standins import Led, Source, Speaker

ALIPAY_CODE = "281234567890123456"


class Server:
    def __init__(self, refuse: str | None = None):
        self.refuse = refuse
        self.calls = []

    async def pay(self, order_no, amount_fen, auth_code, subject=None):
        self.calls.append(("pay", order_no, amount_fen))
        if self.refuse:
            raise ApiError(self.refuse, "this shop does not take alipay payments", 403)
        return {"order_no": order_no, "amount_fen": amount_fen, "channel": "alipay", "status": "SUCCESS"}


async def pay_with_alipay(tmp_path, server: Server, prefixes, code=ALIPAY_CODE) -> list[str]:
    keys, scans, speaker = Source(), Source(), Speaker()
    box = app_mod.App(keys, scans, speaker, Led(), server, Journal(str(tmp_path / "journal.json")), "D0001",
                      prefixes=prefixes)
    box.result_ms = 10
    runner = asyncio.create_task(box.run())
    for key in ["8", "8", "OK"]:
        keys.ring.put(key)
        await asyncio.sleep(0.01)
    scans.ring.put(code)
    for _ in range(100):
        await asyncio.sleep(0.01)
        if any("支付宝" in text for text in speaker.said):
            break
    runner.cancel()
    return speaker.said


async def test_a_shop_not_open_at_alipay_refuses_the_code_without_asking_the_server(tmp_path):
    server = Server()
    said = await pay_with_alipay(tmp_path, server, codes.prefixes_from_info({"wallets": ["wechat"]}))
    assert "本店暂不支持支付宝付款" in said
    assert texts.SAY_UNSUPPORTED not in said
    assert server.calls == []


async def test_the_servers_channel_not_open_is_spoken_with_the_wallet(tmp_path):
    """The shop was closed at Alipay after the box last read `info`: the server refuses, the box names it."""
    server = Server(refuse="channel_not_open")
    said = await pay_with_alipay(tmp_path, server, codes.DEFAULT_PREFIXES)
    assert len(server.calls) == 1 and "本店暂不支持支付宝付款" in said


async def test_the_servers_code_prefixes_decide_what_the_box_refuses(tmp_path):
    """`info.code_prefixes` is the server's routing for this shop: the box follows it, not `wallets` nor its
    built-in table."""
    server = Server()
    alipay_listed_but_not_routed = {"wallets": ["wechat", "alipay"], "code_prefixes": {"wechat": ["13"]},
                                    "code_lengths": {"wechat": [18]}}
    said = await pay_with_alipay(tmp_path, server, codes.prefixes_from_info(alipay_listed_but_not_routed))
    assert "本店暂不支持支付宝付款" in said and server.calls == []

    # a prefix the box's built-in table does not know, routed to Alipay by this server
    wider = {"wallets": ["alipay"], "code_prefixes": {"alipay": ["31"]}, "code_lengths": {"alipay": [18]}}
    (tmp_path / "2").mkdir()
    said = await pay_with_alipay(tmp_path / "2", server, codes.prefixes_from_info(wider), "311234567890123456")
    assert len(server.calls) == 1 and "支付宝收款 88.00 元" in said


async def test_a_box_takes_its_table_from_the_real_servers_info(tmp_path):
    """The real server's `info` for a WeChat-only shop: the box refuses an Alipay code in its own words,
    before the customer waits for any pay request."""
    from core.api import DeviceApi
    from core.http import HttpClient
    from hw_sim.boards.stack import ServerStack

    async with ServerStack(tmp_path / "stack", ("D0001",)) as stack:
        client = HttpClient(stack.url)
        api = DeviceApi(client, "D0001", stack.keys["D0001"])
        keys, scans, speaker = Source(), Source(), Speaker()
        box = app_mod.App(keys, scans, speaker, Led(), api, Journal(str(tmp_path / "journal.json")), "D0001")
        info = await box.load_info()
        assert info["code_prefixes"] == {"wechat": ["10", "11", "12", "13", "14", "15"]}
        for key in ["8", "8", "OK"]:
            box.on_key(key)
        box.on_scan(ALIPAY_CODE)
        await client.close()
    assert speaker.said[-1] == "本店暂不支持支付宝付款"
    assert box.state == app_mod.WAIT_SCAN and box.order_no is None and box.journal.orders() == []
