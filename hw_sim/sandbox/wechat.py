"""WeChat Pay v2 sandbox: micropay, orderquery, reverse, unifiedorder, closeorder, refund, refundquery and
downloadbill, signed XML both ways.

Checks what WeChat checks (appid, mch_id, signature MD5 or HMAC-SHA256, required fields, total_fee an
integer) and keeps a ledger of charges and reversals, so tests can assert "charged once". What a
payment does is chosen by its payment code (hw_sim.test_codes):

    success             paid at once
    password N          USERPAYING, paid N seconds later
    insufficient_funds  NOTENOUGH
    expired             AUTHCODEEXPIRE
    system_error        SYSTEMERROR, but the money was taken: orderquery says SUCCESS
    payer_gives_up      USERPAYING until reversed, or revoked by "WeChat" auto_revoke_s after creation
    no_answer N         micropay held N s (0: until shutdown), then SYSTEMERROR; nothing happens at WeChat
    lost_answer         paid, then the connection is dropped without an answer
    already_used        AUTH_CODE_INVALID (the code was used before)
    slow_answer N       paid at once, the answer comes N seconds later

C2B orders (unifiedorder) wait for the payer (`pay_c2b`; in WeChat: wechat_wallet.py, the web authorisation and
the JSAPI payment sheet, which also notifies) until time_expire or closeorder. Refunds are accepted at once and
reported SUCCESS by refundquery; with `lose_refund_answers` N, the next N refund answers are lost (the refund is
made, the connection dropped without an answer).

A reverse of an order still USERPAYING first answers recall=Y (`reverse_recalls` times), as WeChat
does when a payment is in flight, then revokes it.

Trouble on the line, for the resolver's tests: `slow_queries` {out_trade_no: seconds} holds that order's
orderquery answers that long; `bad_signatures` signs every answer with a wrong key (a man in the middle, or
a key changed on one side only); `refund_http_status` (e.g. 404) answers refund and refundquery with that
HTTP status and no body, as a wrong endpoint or a proxy refusing it would.

Service-provider mode: the sub-merchants (特约商户) the acquirer registered are given with
`add_sub_merchant(sub_mch_id, sub_appid=None)` (standalone: --sub-merchant / --sub-merchants, see common.py).
A request with an unknown sub_mch_id is refused as WeChat refuses it (return_code=FAIL, unsigned,
"特约子商户商户号未授权服务商的产品权限"), a sub_appid not bound to it likewise ("sub_mch_id与sub_appid不匹配").
A request without sub_mch_id is the acquirer's own (direct mode). Each order belongs to the sub-merchant it was
made under: asked under another one it does not exist (ORDERNOTEXIST). Answers echo sub_mch_id and sub_appid;
every charge and refund in the ledger names its sub-merchant, and downloadbill with a sub_mch_id gives that
shop's rows alone (without one: every row, each naming its shop in 特约商户号).
"""
from __future__ import annotations

import asyncio
import datetime
import inspect
import logging
import secrets
import time
from dataclasses import dataclass

import aiohttp
from aiohttp import web

from hw_sim import test_codes
from server import fees
from server.channels.wechat import signing
from server.channels.wechat.bill import COLUMNS, SUMMARY
from server.channels.wechat.xmlcodec import XmlError, from_xml, to_xml
from server.settings import SANDBOX_API_KEY, SANDBOX_APP_SECRET, SANDBOX_APPID, SANDBOX_MCH_ID

from .common import (CHINA, Charge, DropConnection, Holds, Ledger, SubMerchants, drop, run_sandbox,
                     run_standalone)
from .wechat_wallet import WeChatWallet, bridge_script, openid_of

log = logging.getLogger(__name__)

USERPAYING = "USERPAYING"
SUCCESS = "SUCCESS"
PAYERROR = "PAYERROR"
REVOKED = "REVOKED"
NOTPAY = "NOTPAY"      # a C2B order waiting for the payer
CLOSED = "CLOSED"

_WECHAT_PREFIXES = ("10", "11", "12", "13", "14", "15")
_MICROPAY_FIELDS = ("appid", "mch_id", "nonce_str", "sign", "body", "out_trade_no", "total_fee",
                    "spbill_create_ip", "auth_code")
_QUERY_FIELDS = ("appid", "mch_id", "nonce_str", "sign")
_REVERSE_FIELDS = ("appid", "mch_id", "nonce_str", "sign")
_UNIFIEDORDER_FIELDS = ("appid", "mch_id", "nonce_str", "sign", "body", "out_trade_no", "total_fee",
                        "spbill_create_ip", "notify_url", "trade_type")
_REFUND_FIELDS = ("appid", "mch_id", "nonce_str", "sign", "out_refund_no", "total_fee", "refund_fee")
_REFUNDQUERY_FIELDS = ("appid", "mch_id", "nonce_str", "sign", "out_refund_no")
_DOWNLOADBILL_FIELDS = ("appid", "mch_id", "nonce_str", "sign", "bill_date")


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
    body: str = ""
    trade_type: str = "MICROPAY"
    expires: float | None = None      # C2B: time_expire
    notify_url: str = ""              # C2B: where the payment result is POSTed
    sign_type: str = "MD5"            # C2B: the notify is signed as unifiedorder was
    openid: str = ""                  # JSAPI: the payer (under sub_appid, the payer's sub_openid there)
    refunded: int = 0
    sub_mch_id: str = ""              # the sub-merchant the order was made under; "" the acquirer's own
    sub_appid: str = ""
    prepay_id: str = ""               # JSAPI: what the payer's page hands to getBrandWCPayRequest
    payer_appid: str = ""             # JSAPI: the app `openid` belongs to (sub_appid for a sub_openid)


class WeChatSandbox:
    name = "wechat"

    def __init__(self, *, appid: str = SANDBOX_APPID, mch_id: str = SANDBOX_MCH_ID, api_key: str = SANDBOX_API_KEY,
                 auto_revoke_s: float = 45.0, reverse_recalls: int = 1, app_secret: str = SANDBOX_APP_SECRET):
        self.appid = appid
        self.mch_id = mch_id
        self.api_key = api_key
        self.auto_revoke_s = auto_revoke_s
        self.reverse_recalls = reverse_recalls
        self._ledger = Ledger()
        self.holds = Holds()
        self.refund_requests: dict[str, Charge] = {}   # by out_refund_no
        self.lose_refund_answers = 0   # the next N refund answers are dropped after the refund is made
        self.slow_queries: dict[str, float] = {}     # out_trade_no -> seconds its orderquery answers are held
        self.bad_signatures = False                  # answers signed with a wrong key
        self.refund_http_status: int | None = None   # refund and refundquery answer this HTTP status
        self.base_url = ""
        self.notifications: list[tuple[str, str]] = []   # (out_trade_no, the merchant's return_code)
        self.sent_notices: list[bytes] = []              # every notification body sent, for replay tests
        self.wallet = WeChatWallet(self, app_secret)     # WeChat's web authorisation and JSAPI payment sheet
        self._prepay: dict[str, str] = {}                # prepay_id -> out_trade_no
        # Indexes, so a request costs the same after 100,000 orders as after 10 (the benchmarks):
        self._used_codes: set[str] = set()                 # every payment code a micropay took
        self._open: dict[str, SandboxOrder] = {}           # orders time may still change (paying, C2B unpaid)
        self.sub_merchants = SubMerchants()
        # The bills' fees (test knobs): every row's fee at fee_rate_ppm, rounded as server/fees.py says; a row's
        # fee off by fee_drift[out_trade_no or refund_no] fen, the summary's fee total off by summary_drift_fen.
        self.fee_rate_ppm = 6000
        self.fee_drift: dict[str, int] = {}
        self.summary_drift_fen = 0

    def add_sub_merchant(self, account_id: str, app_id: str | None = None) -> None:
        """A 特约商户 of this service provider (sub_mch_id), with a sub_appid bound to it when given (its
        AppSecret: wechat_wallet.app_secret_of)."""
        self.sub_merchants.add(account_id, app_id)
        if app_id:
            self.wallet.add_app(app_id)

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
        app.router.add_post("/pay/unifiedorder", self._endpoint(self._unifiedorder, _UNIFIEDORDER_FIELDS))
        app.router.add_post("/pay/closeorder", self._endpoint(self._closeorder, _QUERY_FIELDS))
        app.router.add_post("/secapi/pay/refund", self._endpoint(self._refund, _REFUND_FIELDS))
        app.router.add_post("/pay/refundquery", self._endpoint(self._refundquery, _REFUNDQUERY_FIELDS, by_order=False))
        app.router.add_post("/pay/downloadbill", self._endpoint(self._downloadbill, _DOWNLOADBILL_FIELDS,
                                                                by_order=False))
        self.wallet.add_routes(app)
        return app

    def bridge_script(self, payer: str = "payer1", answer: str = "pay") -> str:
        """WeixinJSBridge's stand-in for a page opened in this sandbox's WeChat (wechat_wallet.bridge_script)."""
        return bridge_script(self.base_url, payer, answer)

    def openid_of(self, payer: str, appid: str | None = None) -> str:
        return openid_of(payer, appid or self.appid)

    def order_by_prepay(self, prepay_id: str) -> SandboxOrder | None:
        return self._ledger.orders.get(self._prepay.get(prepay_id, ""))

    def order_of_prepay(self, prepay_id: str) -> str:
        return self._prepay.get(prepay_id, "")

    # the protocol envelope

    def _endpoint(self, operation, required, by_order=True):
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
            refusal = self._sub_merchant_refusal(params)
            if refusal:
                return self._fail(refusal)
            missing = [name for name in required if not params.get(name)]
            if missing:
                return self._fail(f"缺少参数{missing[0]}")
            if by_order and not params.get("out_trade_no") and not params.get("transaction_id"):
                return self._fail("缺少参数out_trade_no")
            self._advance_all()
            self._ledger.calls.append((request.path, params.get("out_trade_no", "")))
            if self.refund_http_status is not None and request.path in ("/secapi/pay/refund", "/pay/refundquery"):
                return web.Response(status=self.refund_http_status)
            if request.path == "/pay/orderquery" and params.get("out_trade_no") in self.slow_queries:
                await asyncio.sleep(self.slow_queries[params["out_trade_no"]])
            try:
                answer = operation(params)
                if inspect.isawaitable(answer):
                    answer = await answer
            except DropConnection:
                return drop(request)
            if isinstance(answer, web.Response):
                return answer
            # WeChat's answers to a service provider name the sub-merchant they are about.
            echo = {k: params[k] for k in ("sub_appid", "sub_mch_id") if params.get(k)}
            return self._answer({**echo, **answer}, sign_type)
        return handle

    def _sub_merchant_refusal(self, params: dict[str, str]) -> str:
        sub_mch_id, sub_appid = params.get("sub_mch_id", ""), params.get("sub_appid", "")
        if not sub_mch_id:
            return "受理机构必须传入sub_mch_id" if sub_appid else ""
        known = self.sub_merchants.get(sub_mch_id)
        if known is None:
            return "特约子商户商户号未授权服务商的产品权限"
        if sub_appid and sub_appid not in known.app_ids:
            return "sub_mch_id与sub_appid不匹配"
        return ""

    def _fail(self, message: str) -> web.Response:
        # A transport-level refusal is not signed, as with WeChat.
        return web.Response(body=to_xml({"return_code": "FAIL", "return_msg": message}), content_type="text/xml")

    def _answer(self, fields: dict[str, str], sign_type: str) -> web.Response:
        answer = {"return_code": "SUCCESS", "return_msg": "OK", "appid": self.appid, "mch_id": self.mch_id,
                  "nonce_str": secrets.token_hex(16), **fields}
        answer = {k: v for k, v in answer.items() if v != ""}
        answer["sign"] = signing.sign(answer, "0" * 32 if self.bad_signatures else self.api_key, sign_type)
        return web.Response(body=to_xml(answer), content_type="text/xml")

    # the operations

    async def _micropay(self, params: dict[str, str]) -> dict[str, str]:
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
            if (order.total_fee != total_fee or order.auth_code != auth_code
                    or order.sub_mch_id != params.get("sub_mch_id", "")):
                return _error("OUT_TRADE_NO_USED", "商户订单号重复")
            return self._repeat(order)
        scenario, param = test_codes.scenario_of(auth_code)
        if scenario == "no_answer":
            await self.holds.hold(param)
            return _error("SYSTEMERROR", "系统超时")
        if scenario == "already_used" or auth_code in self._used_codes:
            return _error("AUTH_CODE_INVALID", "付款码已使用，请用户刷新付款码")

        order = SandboxOrder(out_trade_no=trade_no, total_fee=total_fee, auth_code=auth_code, scenario=scenario,
                             param=param, created=time.monotonic(), state=USERPAYING,
                             sub_mch_id=params.get("sub_mch_id", ""), sub_appid=params.get("sub_appid", ""))
        self._ledger.orders[trade_no] = order
        self._used_codes.add(auth_code)
        self._open[trade_no] = order
        if scenario in ("success", "lost_answer", "slow_answer"):
            self._pay(order)
            if scenario == "lost_answer":
                raise DropConnection
            if scenario == "slow_answer":
                await self.holds.hold(param)
            return self._paid_fields(order)
        if scenario == "system_error":
            self._pay(order)   # the money moved, but the answer says otherwise: the server must query
            return _error("SYSTEMERROR", "系统超时")
        if scenario == "insufficient_funds":
            return self._refuse(order, "NOTENOUGH", "用户余额不足")
        if scenario == "expired":
            return self._refuse(order, "AUTHCODEEXPIRE", "二维码已过期，请用户在微信上刷新后再试")
        if scenario == "merchant_barred":
            return self._refuse(order, "NOAUTH", "商户无此接口权限")
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
                  "total_fee": str(order.total_fee), "trade_type": order.trade_type,
                  "trade_state_desc": {SUCCESS: "支付成功", USERPAYING: "需要用户输入支付密码",
                                       PAYERROR: order.err_code_des or "支付失败",
                                       REVOKED: "已撤销", NOTPAY: "未支付", CLOSED: "已关闭"}[order.state]}
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
                self._ledger.refunds.append(Charge(order.out_trade_no, order.total_fee, order.transaction_id,
                                                   refund_no="reverse", merchant=order.sub_mch_id))
            order.state = REVOKED
            self._ledger.reversals.append(order.out_trade_no)
        return {"result_code": "SUCCESS", "recall": "N"}

    def _unifiedorder(self, params: dict[str, str]) -> dict[str, str]:
        trade_no, fee, trade_type = params["out_trade_no"], params["total_fee"], params["trade_type"]
        if trade_type not in ("NATIVE", "JSAPI"):
            return _error("PARAM_ERROR", "trade_type不支持")
        if params.get("sub_openid") and not params.get("sub_appid"):
            return _error("PARAM_ERROR", "sub_openid需与sub_appid一起传")
        if trade_type == "JSAPI" and not (params.get("openid") or params.get("sub_openid")):
            return _error("PARAM_ERROR", "JSAPI支付必须传openid或sub_openid")
        if not (fee.isascii() and fee.isdigit()) or int(fee) <= 0:
            return _error("PARAM_ERROR", "total_fee必须为正整数")
        order = self._ledger.orders.get(trade_no)
        if order is not None and order.sub_mch_id != params.get("sub_mch_id", ""):
            return _error("INVALID_REQUEST", "201 商户订单号重复")
        if order is None:
            expires = time.monotonic() + 7200
            if params.get("time_expire"):
                end = datetime.datetime.strptime(params["time_expire"], "%Y%m%d%H%M%S").replace(tzinfo=CHINA)
                expires = time.monotonic() + (end - datetime.datetime.now(CHINA)).total_seconds()
            order = SandboxOrder(out_trade_no=trade_no, total_fee=int(fee), auth_code="", scenario="c2b", param=0,
                                 created=time.monotonic(), state=NOTPAY, body=params["body"], trade_type=trade_type,
                                 expires=expires, notify_url=params["notify_url"],
                                 sign_type=params.get("sign_type") or signing.MD5,
                                 openid=params.get("openid") or params.get("sub_openid", ""),
                                 sub_mch_id=params.get("sub_mch_id", ""), sub_appid=params.get("sub_appid", ""),
                                 payer_appid=params["sub_appid"] if params.get("sub_openid") else self.appid,
                                 prepay_id="wx" + time.strftime("%Y%m%d%H%M%S") + secrets.token_hex(9))
            self._ledger.orders[trade_no] = order
            self._prepay[order.prepay_id] = trade_no
            self._open[trade_no] = order
        elif order.total_fee != int(fee) or order.trade_type != trade_type:
            return _error("INVALID_REQUEST", "201 商户订单号重复")
        elif order.state != NOTPAY:
            return _error("ORDERPAID" if order.state == SUCCESS else "ORDERCLOSED", "订单已支付或已关闭")
        fields = {"result_code": "SUCCESS", "trade_type": trade_type, "prepay_id": order.prepay_id}
        if trade_type == "NATIVE":
            fields["code_url"] = "weixin://wxpay/bizpayurl?pr=" + order.out_trade_no[-7:]
        return fields

    def _closeorder(self, params: dict[str, str]) -> dict[str, str]:
        order = self._find(params)
        if order is None:
            return _error("ORDERNOTEXIST", "订单不存在")
        if order.state == SUCCESS:
            return _error("ORDERPAID", "订单已支付，不能发起关单")
        if order.state in (NOTPAY, USERPAYING):
            order.state = CLOSED
        return {"result_code": "SUCCESS"}

    def _refund(self, params: dict[str, str]) -> dict[str, str]:
        order = self._find(params)
        if order is None:
            return _error("ORDERNOTEXIST", "订单不存在")
        total, refund = params["total_fee"], params["refund_fee"]
        if not all(v.isascii() and v.isdigit() for v in (total, refund)) or int(refund) <= 0:
            return _error("PARAM_ERROR", "金额必须为正整数")
        if int(total) != order.total_fee:
            return _error("PARAM_ERROR", "订单金额或退款金额与之前请求不一致")
        done = self.refund_requests.get(params["out_refund_no"])
        if done is not None:
            if done.amount_fen != int(refund) or done.out_trade_no != order.out_trade_no:
                return _error("PARAM_ERROR", "订单金额或退款金额与之前请求不一致")
            return self._refund_fields(order, done)
        if order.state != SUCCESS:
            return _error("TRADE_STATE_ERROR", "订单状态错误")
        if order.refunded + int(refund) > order.total_fee:
            return _error("ERROR", "累计退款金额大于支付金额")
        charge = Charge(order.out_trade_no, int(refund), "50" + secrets.token_hex(13)[:26],
                        refund_no=params["out_refund_no"], merchant=order.sub_mch_id)
        order.refunded += int(refund)
        self.refund_requests[charge.refund_no] = charge
        self._ledger.refunds.append(charge)
        if self.lose_refund_answers > 0:
            self.lose_refund_answers -= 1
            raise DropConnection
        return self._refund_fields(order, charge)

    def _refund_fields(self, order: SandboxOrder, charge: Charge) -> dict[str, str]:
        return {"result_code": "SUCCESS", "out_trade_no": order.out_trade_no, "transaction_id": order.transaction_id,
                "out_refund_no": charge.refund_no, "refund_id": charge.channel_trade_no,
                "refund_fee": str(charge.amount_fen), "total_fee": str(order.total_fee)}

    def _refundquery(self, params: dict[str, str]) -> dict[str, str]:
        charge = self.refund_requests.get(params["out_refund_no"])
        if charge is None or charge.merchant != params.get("sub_mch_id", ""):
            return _error("REFUNDNOTEXIST", "退款订单查询失败")
        return {"result_code": "SUCCESS", "out_trade_no": charge.out_trade_no, "refund_count": "1",
                "out_refund_no_0": charge.refund_no, "refund_id_0": charge.channel_trade_no,
                "refund_fee_0": str(charge.amount_fen), "refund_status_0": "SUCCESS"}

    def _downloadbill(self, params: dict[str, str]) -> web.Response | dict[str, str]:
        try:
            day = datetime.datetime.strptime(params["bill_date"], "%Y%m%d").date()
        except ValueError:
            return self._fail("invalid bill_date")
        sub_mch_id = params.get("sub_mch_id") or None
        charges, refunds = self._ledger.bill_of(day, sub_mch_id)
        if not charges and not refunds:
            return self._fail("No Bill Exist")
        return web.Response(text=self.bill_text(day, sub_mch_id), content_type="text/plain", charset="utf-8")

    def row_fee_fen(self, c: Charge) -> int:
        """The fee on the bill row of a payment or refund (positive; a refund's is given back)."""
        return fees.fee_fen(c.amount_fen, self.fee_rate_ppm) + self.fee_drift.get(c.refund_no or c.out_trade_no, 0)

    def bill_text(self, day: datetime.date, sub_mch_id: str | None = None) -> str:
        """The ALL bill of `day`: header, a backticked row per payment and refund, the summary. With a
        sub_mch_id that sub-merchant's rows alone; without, everyone's (direct rows say 特约商户号 "0")."""
        charges, refunds = self.ledger.bill_of(day, sub_mch_id)

        def yuan(fen: int) -> str:
            return f"{'-' if fen < 0 else ''}{abs(fen) // 100}.{abs(fen) % 100:02d}"

        def row(c: Charge, refund: bool) -> str:
            order = self._ledger.orders.get(c.out_trade_no)
            total = order.total_fee if order else c.amount_fen
            cells = {"交易时间": f"{c.at:%Y-%m-%d %H:%M:%S}", "公众账号ID": self.appid, "商户号": self.mch_id,
                     "特约商户号": c.merchant or "0", "设备号": "",
                     "微信订单号": order.transaction_id if order else c.channel_trade_no,
                     "商户订单号": c.out_trade_no, "用户标识": _openid(order) if order else "",
                     "交易类型": order.trade_type if order else "MICROPAY", "交易状态": "REFUND" if refund else "SUCCESS",
                     "付款银行": "OTHERS", "货币种类": "CNY", "应结订单总金额": yuan(0 if refund else c.amount_fen),
                     "代金券金额": "0.00", "微信退款单号": c.channel_trade_no if refund else "0",
                     "商户退款单号": c.refund_no if refund else "0", "退款金额": yuan(c.amount_fen if refund else 0),
                     "充值券退款金额": "0.00", "退款类型": "ORIGINAL" if refund else "",
                     "退款状态": "SUCCESS" if refund else "", "商品名称": order.body if order else "", "商户数据包": "",
                     "手续费": yuan(-self.row_fee_fen(c) if refund else self.row_fee_fen(c)),
                     "费率": fees.rate_text(self.fee_rate_ppm),
                     "订单金额": yuan(total), "申请退款金额": yuan(c.amount_fen if refund else 0), "费率备注": ""}
            return ",".join("`" + cells[name] for name in COLUMNS)

        lines = [",".join(COLUMNS)] + [row(c, False) for c in charges] + [row(r, True) for r in refunds]
        paid = sum(c.amount_fen for c in charges)
        back = sum(r.amount_fen for r in refunds)
        fee_total = (sum(self.row_fee_fen(c) for c in charges) - sum(self.row_fee_fen(r) for r in refunds)
                     + self.summary_drift_fen)
        lines.append(f"{SUMMARY},应结订单总金额,退款总金额,充值券退款总金额,手续费总金额,订单总金额,申请退款总金额")
        lines.append(f"`{len(charges) + len(refunds)},`{yuan(paid)},`{yuan(back)},`0.00,`{yuan(fee_total)},`{yuan(paid)},"
                     f"`{yuan(back)}")
        return "\r\n".join(lines) + "\r\n"

    def pay_c2b(self, out_trade_no: str) -> bool:
        """The payer pays a C2B order in WeChat (wechat_wallet.py's payment sheet, or a test directly)."""
        self._advance_all()
        order = self._ledger.orders.get(out_trade_no)
        if order is None or order.state != NOTPAY:
            return False
        self._pay(order)
        return True

    def notice(self, out_trade_no: str, *, paid: bool = True, key: str | None = None) -> bytes:
        """The signed payment result (支付结果通知) of an order as WeChat POSTs it to notify_url; `paid` False
        and `key` (another signing key) make the ones a test needs that WeChat would never send."""
        order = self._ledger.orders[out_trade_no]
        payer = {"sub_openid": order.openid} if order.payer_appid and order.payer_appid == order.sub_appid \
            else {"openid": order.openid}
        fields = {"return_code": "SUCCESS", "appid": self.appid, "mch_id": self.mch_id,
                  "sub_appid": order.sub_appid, "sub_mch_id": order.sub_mch_id,
                  "nonce_str": secrets.token_hex(16), "result_code": "SUCCESS" if paid else "FAIL", **payer,
                  "trade_type": order.trade_type, "bank_type": "OTHERS", "total_fee": str(order.total_fee),
                  "cash_fee": str(order.total_fee), "transaction_id": order.transaction_id or "4200000000000000",
                  "out_trade_no": order.out_trade_no, "time_end": order.time_end or time.strftime("%Y%m%d%H%M%S")}
        if order.sign_type != signing.MD5:
            fields["sign_type"] = order.sign_type
        fields = {k: v for k, v in fields.items() if v != ""}
        fields["sign"] = signing.sign(fields, key or self.api_key, order.sign_type)
        return to_xml(fields)

    async def send_notify(self, out_trade_no: str) -> None:
        """POST the signed payment result (支付结果通知) to the order's notify_url, as WeChat does."""
        order = self._ledger.orders.get(out_trade_no)
        if order is None or not order.notify_url or order.state != SUCCESS:
            return
        body = self.notice(out_trade_no)
        self.sent_notices.append(body)
        try:
            async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as session:
                async with session.post(order.notify_url, data=body, headers={"Content-Type": "text/xml"}) as resp:
                    answer = from_xml(await resp.read())
            self.notifications.append((out_trade_no, answer.get("return_code", "")))
        except (aiohttp.ClientError, asyncio.TimeoutError, XmlError) as e:
            log.info("notify of %s to %s failed: %s", out_trade_no, order.notify_url, e)
            self.notifications.append((out_trade_no, "no answer"))

    # state

    def _find(self, params: dict[str, str]) -> SandboxOrder | None:
        """The order the request names, if it was made under the sub-merchant the request names."""
        order = None
        if params.get("out_trade_no"):
            order = self._ledger.orders.get(params["out_trade_no"])
        else:
            for candidate in self._ledger.orders.values():
                if candidate.transaction_id and candidate.transaction_id == params.get("transaction_id"):
                    order = candidate
                    break
        if order is None or order.sub_mch_id != params.get("sub_mch_id", ""):
            return None
        return order

    def _pay(self, order: SandboxOrder) -> None:
        order.state = SUCCESS
        # 28 digits, like WeChat's transaction ids
        digits = "%015d" % secrets.randbelow(10 ** 15)
        order.transaction_id = "42000" + time.strftime("%Y%m%d") + digits
        order.time_end = time.strftime("%Y%m%d%H%M%S")
        self._ledger.charges.append(Charge(order.out_trade_no, order.total_fee, order.transaction_id,
                                           merchant=order.sub_mch_id))

    def _refuse(self, order: SandboxOrder, err_code: str, err_code_des: str) -> dict[str, str]:
        order.state, order.err_code, order.err_code_des = PAYERROR, err_code, err_code_des
        return _error(err_code, err_code_des)

    def _paid_fields(self, order: SandboxOrder) -> dict[str, str]:
        return {"result_code": "SUCCESS", "out_trade_no": order.out_trade_no, "transaction_id": order.transaction_id,
                "total_fee": str(order.total_fee), "time_end": order.time_end, "trade_type": "MICROPAY",
                "openid": _openid(order)}

    def _advance_all(self) -> None:
        now = time.monotonic()
        for trade_no, order in list(self._open.items()):
            if order.state == NOTPAY and order.expires is not None and now >= order.expires:
                order.state = CLOSED
            if order.state != USERPAYING:
                if order.state != NOTPAY:
                    del self._open[trade_no]   # final: time changes nothing any more
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


def run_wechat_sandbox(port: int = 0, host: str = "127.0.0.1", **options):
    """Serve a WeChat sandbox on host:port (0 = any free port): `async with ... as sandbox`, then sandbox.base_url."""
    return run_sandbox(WeChatSandbox(**options), host, port)


def main(argv: list[str] | None = None) -> None:
    def add_arguments(parser):
        parser.add_argument("--auto-revoke-s", type=float, default=45.0)
        parser.add_argument("--fee-ppm", type=int, default=6000, help="the bills' fee rate, ppm (0.38%% is 3800)")

    def make(args):
        sandbox = WeChatSandbox(auto_revoke_s=args.auto_revoke_s)
        sandbox.fee_rate_ppm = args.fee_ppm
        return sandbox

    run_standalone("python -m hw_sim.sandbox", "WeChat sandbox", 8091, make, argv, add_arguments)
