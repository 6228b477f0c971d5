"""WeChat Pay v2 sandbox: /pay/micropay, /pay/orderquery, /secapi/pay/reverse, signed XML both ways.

Checks what WeChat checks (appid, mch_id, signature MD5 or HMAC-SHA256, required fields, total_fee an
integer) and keeps a ledger of charges and reversals, so tests can assert "charged once". What a
payment does is chosen by its payment code (hw_sim.test_codes):

    success             paid at once
    password N          USERPAYING, paid N seconds later
    insufficient_funds  NOTENOUGH
    expired             AUTHCODEEXPIRE
    system_error        SYSTEMERROR, but the money was taken: orderquery says SUCCESS
    payer_gives_up      USERPAYING until reversed, or revoked by "WeChat" auto_revoke_s after creation

A reverse of an order still USERPAYING first answers recall=Y (`reverse_recalls` times), as WeChat
does when a payment is in flight, then revokes it.
"""
from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import secrets
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from aiohttp import web

from hw_sim import test_codes
from server.channels.wechat import signing
from server.channels.wechat.xmlcodec import XmlError, from_xml, to_xml
from server.settings import SANDBOX_API_KEY, SANDBOX_APPID, SANDBOX_MCH_ID

log = logging.getLogger(__name__)

USERPAYING = "USERPAYING"
SUCCESS = "SUCCESS"
PAYERROR = "PAYERROR"
REVOKED = "REVOKED"

_WECHAT_PREFIXES = ("10", "11", "12", "13", "14", "15")
_MICROPAY_FIELDS = ("appid", "mch_id", "nonce_str", "sign", "body", "out_trade_no", "total_fee",
                    "spbill_create_ip", "auth_code")
_QUERY_FIELDS = ("appid", "mch_id", "nonce_str", "sign")
_REVERSE_FIELDS = ("appid", "mch_id", "nonce_str", "sign")


@dataclass
class SandboxOrder:
    out_trade_no: str
    total_fee: int
    auth_code: str
    scenario: str
    param: int
    created: float
    state: str
    err_code: str = ""            # the micropay answer's error, repeated to a retried micropay
    err_code_des: str = ""
    transaction_id: str = ""
    time_end: str = ""
    reverse_calls: int = 0


@dataclass(frozen=True)
class Charge:
    out_trade_no: str
    total_fee: int
    transaction_id: str


@dataclass
class Ledger:
    orders: dict[str, SandboxOrder] = field(default_factory=dict)
    charges: list[Charge] = field(default_factory=list)      # money taken from payers
    refunds: list[Charge] = field(default_factory=list)      # money given back by a reverse
    reversals: list[str] = field(default_factory=list)       # out_trade_no of every order reversed
    calls: list[tuple[str, str]] = field(default_factory=list)   # (path, out_trade_no) of every valid call

    def charges_for(self, out_trade_no: str) -> list[Charge]:
        return [c for c in self.charges if c.out_trade_no == out_trade_no]

    def calls_to(self, path: str, out_trade_no: str | None = None) -> int:
        return sum(1 for p, t in self.calls if p == path and (out_trade_no is None or t == out_trade_no))


class WeChatSandbox:
    def __init__(self, *, appid: str = SANDBOX_APPID, mch_id: str = SANDBOX_MCH_ID, api_key: str = SANDBOX_API_KEY,
                 auto_revoke_s: float = 45.0, reverse_recalls: int = 1):
        self.appid = appid
        self.mch_id = mch_id
        self.api_key = api_key
        self.auto_revoke_s = auto_revoke_s
        self.reverse_recalls = reverse_recalls
        self._ledger = Ledger()
        self.base_url = ""

    @property
    def ledger(self) -> Ledger:
        """The ledger with every time-driven change (passwords typed, auto-revokes) applied."""
        self._advance_all()
        return self._ledger

    def make_app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/pay/micropay", self._endpoint(self._micropay, _MICROPAY_FIELDS))
        app.router.add_post("/pay/orderquery", self._endpoint(self._orderquery, _QUERY_FIELDS))
        app.router.add_post("/secapi/pay/reverse", self._endpoint(self._reverse, _REVERSE_FIELDS))
        return app

    # the protocol envelope

    def _endpoint(self, operation, required):
        async def handle(request: web.Request) -> web.Response:
            try:
                params = from_xml(await request.read())
            except XmlError:
                return self._fail("XML格式错误")
            if params.get("appid") != self.appid:
                return self._fail("appid不存在")
            if params.get("mch_id") != self.mch_id:
                return self._fail("商户号mch_id与appid不匹配")
            sign_type = params.get("sign_type") or signing.MD5
            if sign_type not in (signing.MD5, signing.HMAC_SHA256):
                return self._fail("签名类型错误")
            if not signing.signature_valid(params, self.api_key, sign_type):
                return self._fail("签名错误")
            missing = [name for name in required if not params.get(name)]
            if missing:
                return self._fail(f"缺少参数{missing[0]}")
            if not params.get("out_trade_no") and not params.get("transaction_id"):
                return self._fail("缺少参数out_trade_no")
            self._advance_all()
            self._ledger.calls.append((request.path, params.get("out_trade_no", "")))
            answer = operation(params)
            return self._answer(answer, sign_type)
        return handle

    def _fail(self, message: str) -> web.Response:
        # A transport-level refusal is not signed, as with WeChat.
        return web.Response(body=to_xml({"return_code": "FAIL", "return_msg": message}), content_type="text/xml")

    def _answer(self, fields: dict[str, str], sign_type: str) -> web.Response:
        answer = {"return_code": "SUCCESS", "return_msg": "OK", "appid": self.appid, "mch_id": self.mch_id,
                  "nonce_str": secrets.token_hex(16), **fields}
        answer = {k: v for k, v in answer.items() if v != ""}
        answer["sign"] = signing.sign(answer, self.api_key, sign_type)
        return web.Response(body=to_xml(answer), content_type="text/xml")

    # the operations

    def _micropay(self, params: dict[str, str]) -> dict[str, str]:
        trade_no, auth_code, fee = params["out_trade_no"], params["auth_code"], params["total_fee"]
        if len(trade_no) > 32:
            return _error("PARAM_ERROR", "out_trade_no长度超过32")
        if not (fee.isascii() and fee.isdigit()) or int(fee) <= 0:
            return _error("PARAM_ERROR", "total_fee必须为正整数")
        total_fee = int(fee)
        if not (len(auth_code) == 18 and auth_code.isdigit() and auth_code[:2] in _WECHAT_PREFIXES):
            return _error("AUTH_CODE_INVALID", "付款码无效，请重新扫码")

        order = self._ledger.orders.get(trade_no)
        if order is not None:
            if order.total_fee != total_fee or order.auth_code != auth_code:
                return _error("OUT_TRADE_NO_USED", "商户订单号重复")
            return self._repeat(order)
        if any(o.auth_code == auth_code for o in self._ledger.orders.values()):
            return _error("AUTH_CODE_INVALID", "付款码已使用，请用户刷新付款码")

        scenario, param = test_codes.scenario_of(auth_code)
        order = SandboxOrder(out_trade_no=trade_no, total_fee=total_fee, auth_code=auth_code, scenario=scenario,
                             param=param, created=time.monotonic(), state=USERPAYING)
        self._ledger.orders[trade_no] = order
        if scenario == "success":
            self._pay(order)
            return self._paid_fields(order)
        if scenario == "system_error":
            self._pay(order)   # the money moved, but the answer says otherwise: the server must query
            return _error("SYSTEMERROR", "系统超时")
        if scenario == "insufficient_funds":
            return self._refuse(order, "NOTENOUGH", "用户余额不足")
        if scenario == "expired":
            return self._refuse(order, "AUTHCODEEXPIRE", "二维码已过期，请用户在微信上刷新后再试")
        order.err_code, order.err_code_des = "USERPAYING", "需要用户输入支付密码"
        return _error(order.err_code, order.err_code_des)

    def _repeat(self, order: SandboxOrder) -> dict[str, str]:
        if order.state == SUCCESS:
            return _error("ORDERPAID", "订单已支付")
        if order.state == REVOKED:
            return _error("ORDERREVERSED", "订单已撤销")
        return _error(order.err_code or "SYSTEMERROR", order.err_code_des or "系统超时")

    def _orderquery(self, params: dict[str, str]) -> dict[str, str]:
        order = self._find(params)
        if order is None:
            return _error("ORDERNOTEXIST", "此交易订单号不存在")
        fields = {"result_code": "SUCCESS", "out_trade_no": order.out_trade_no, "trade_state": order.state,
                  "total_fee": str(order.total_fee), "trade_type": "MICROPAY",
                  "trade_state_desc": {SUCCESS: "支付成功", USERPAYING: "需要用户输入支付密码",
                                       PAYERROR: order.err_code_des or "支付失败",
                                       REVOKED: "已撤销"}[order.state]}
        if order.transaction_id:
            fields.update(transaction_id=order.transaction_id, time_end=order.time_end, openid=_openid(order))
        return fields

    def _reverse(self, params: dict[str, str]) -> dict[str, str]:
        order = self._find(params)
        if order is None:
            return _error("ORDERNOTEXIST", "此交易订单号不存在")
        if order.state == USERPAYING and order.reverse_calls < self.reverse_recalls:
            order.reverse_calls += 1
            return {**_error("SYSTEMERROR", "正在支付中，请稍后再试"), "recall": "Y"}
        if order.state != REVOKED:
            if order.state == SUCCESS:
                self._ledger.refunds.append(Charge(order.out_trade_no, order.total_fee, order.transaction_id))
            order.state = REVOKED
            self._ledger.reversals.append(order.out_trade_no)
        return {"result_code": "SUCCESS", "recall": "N"}

    # state

    def _find(self, params: dict[str, str]) -> SandboxOrder | None:
        if params.get("out_trade_no"):
            return self._ledger.orders.get(params["out_trade_no"])
        for order in self._ledger.orders.values():
            if order.transaction_id and order.transaction_id == params.get("transaction_id"):
                return order
        return None

    def _pay(self, order: SandboxOrder) -> None:
        order.state = SUCCESS
        # 28 digits, like WeChat's transaction ids
        digits = "".join(secrets.choice("0123456789") for _ in range(15))
        order.transaction_id = "42000" + time.strftime("%Y%m%d") + digits
        order.time_end = time.strftime("%Y%m%d%H%M%S")
        self._ledger.charges.append(Charge(order.out_trade_no, order.total_fee, order.transaction_id))

    def _refuse(self, order: SandboxOrder, err_code: str, err_code_des: str) -> dict[str, str]:
        order.state, order.err_code, order.err_code_des = PAYERROR, err_code, err_code_des
        return _error(err_code, err_code_des)

    def _paid_fields(self, order: SandboxOrder) -> dict[str, str]:
        return {"result_code": "SUCCESS", "out_trade_no": order.out_trade_no, "transaction_id": order.transaction_id,
                "total_fee": str(order.total_fee), "time_end": order.time_end, "trade_type": "MICROPAY",
                "openid": _openid(order)}

    def _advance_all(self) -> None:
        now = time.monotonic()
        for order in self._ledger.orders.values():
            if order.state != USERPAYING:
                continue
            paid_at = order.created + order.param if order.scenario == "password" else None
            revoke_at = order.created + self.auto_revoke_s
            if paid_at is not None and now >= paid_at and paid_at < revoke_at:
                self._pay(order)
            elif now >= revoke_at:
                order.state = REVOKED   # WeChat revokes an unpaid micropay by itself


def _error(err_code: str, err_code_des: str) -> dict[str, str]:
    return {"result_code": "FAIL", "err_code": err_code, "err_code_des": err_code_des}


def _openid(order: SandboxOrder) -> str:
    return "oSandbox" + order.auth_code[-6:]


@contextlib.asynccontextmanager
async def run_wechat_sandbox(port: int = 0, host: str = "127.0.0.1", **options) -> AsyncIterator[WeChatSandbox]:
    """Serve a sandbox on host:port (0 = any free port); `sandbox.base_url` says where."""
    sandbox = WeChatSandbox(**options)
    runner = web.AppRunner(sandbox.make_app(), access_log=None)
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port)
        await site.start()
        bound_host, bound_port = runner.addresses[0][:2]
        sandbox.base_url = f"http://{host}:{bound_port}"
        yield sandbox
    finally:
        await runner.cleanup()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m hw_sim.sandbox", description="WeChat Pay v2 sandbox")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8091)
    parser.add_argument("--auto-revoke-s", type=float, default=45.0)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    async def serve() -> None:
        async with run_wechat_sandbox(args.port, args.host, auto_revoke_s=args.auto_revoke_s) as sandbox:
            print(f"WeChat sandbox at {sandbox.base_url}", flush=True)
            await asyncio.Event().wait()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve())
