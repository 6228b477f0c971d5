"""Alipay OpenAPI sandbox: POST /gateway.do (form, RSA2 both ways) and GET /bill/<file>.zip.

Checks what Alipay checks (app_id, sign_type RSA2, the request signature, timestamp format, required
biz_content fields, yuan amounts with 2 decimals) and answers `{"<method>_response": {...}, "sign": ...}`
signed over the member's exact JSON text. Keeps a ledger of charges, refunds and cancels. The payment code
chooses the outcome (hw_sim.test_codes):

    success             10000 paid at once
    password N          10003 (waiting for the buyer), paid N seconds later
    insufficient_funds  40004 ACQ.BUYER_BALANCE_NOT_ENOUGH
    merchant_barred     40004 ACQ.SELLER_BEEN_BLOCKED (the channel refuses the merchant itself)
    expired             40004 ACQ.PAYMENT_AUTH_CODE_INVALID
    system_error        20000 ACQ.SYSTEM_ERROR, but the money was taken: trade.query says TRADE_SUCCESS
    payer_gives_up      10003, never paid; closed when cancelled (or by Alipay after `auto_close_s`)
    no_answer N         trade.pay held N s (0: until shutdown), then 20000; nothing happens at Alipay
    lost_answer         paid, then the connection is dropped without an answer
    already_used        40004 ACQ.PAYMENT_AUTH_CODE_INVALID (the code was used before)
    slow_answer N       paid at once, the answer comes N seconds later

trade.cancel of a trade still waiting for the buyer answers retry_flag=Y `cancel_retries` times first.

Indirect acquiring (间连): the shops' smids the acquirer registered are given with `add_sub_merchant(smid)`
(standalone: --sub-merchant / --sub-merchants, see common.py). A biz_content `sub_merchant` without a
merchant_id is refused 40004 ACQ.SECONDARY_MERCHANT_ID_BLANK (二级商户编号错误), an unknown smid 40004
ACQ.SECONDARY_MERCHANT_ID_INVALID (二级商户不存在), a merchant_type other than "alipay" 40004
ACQ.SUB_MERCHANT_TYPE_INVALID; no sub_merchant is the acquirer's own (direct mode). Each trade belongs to the
smid it was made under: asked under another it does not exist (ACQ.TRADE_NOT_EXIST; INFERRED for Alipay,
which finds trades by out_trade_no under the app). trade.query answers carry alipay_sub_merchant_id, ledger
entries name their smid, and the trade bill carries a 二级商户编号 column (`bill_zip(day, smid)` for one shop).
"""
from __future__ import annotations

import datetime
import io
import json
import logging
import secrets
import time
import zipfile
from dataclasses import dataclass
from decimal import Decimal

from aiohttp import web

from hw_sim import test_codes
from server import fees
from server.channels.alipay import protocol, signing
from server.channels.alipay.bill import COLUMNS, SUB_MERCHANT_COLUMN

from . import keys
from .common import (Charge, DropConnection, Holds, Ledger, SubMerchants, china_now, drop, run_sandbox,
                     run_standalone)
from .alipay_wallet import AlipayWallet, bridge_script, user_id_of

log = logging.getLogger(__name__)

SANDBOX_APP_ID = "2021000000000001"
OAUTH_TOKEN = "alipay.system.oauth.token"
WAIT_BUYER_PAY, TRADE_SUCCESS, TRADE_CLOSED = "WAIT_BUYER_PAY", "TRADE_SUCCESS", "TRADE_CLOSED"


@dataclass
class AlipayOrder:
    out_trade_no: str
    amount_fen: int
    auth_code: str          # empty for C2B orders
    scenario: str
    param: int
    created: float
    status: str
    trade_no: str
    subject: str = ""
    paid_at: float | None = None     # password scenario: when the payer finishes
    expires: float | None = None     # C2B: timeout_express
    cancel_calls: int = 0
    refunded_fen: int = 0
    merchant: str = ""               # the smid it was made under; "" the acquirer's own
    buyer: str = ""                  # trade.create: the buyer_id (or buyer_open_id) it is for
    notify_url: str = ""             # where its payment is notified


class AlipaySandbox:
    name = "alipay"

    def __init__(self, *, app_id: str = SANDBOX_APP_ID, app_public_key: str = keys.ALIPAY_APP_PUBLIC_KEY,
                 alipay_private_key: str = keys.ALIPAY_PLATFORM_PRIVATE_KEY, auto_close_s: float = 120.0,
                 cancel_retries: int = 1):
        self.app_id = app_id
        self._app_key = signing.load_public_key(app_public_key)
        self._alipay_key = signing.load_private_key(alipay_private_key)
        self.auto_close_s = auto_close_s
        self.cancel_retries = cancel_retries
        self.holds = Holds()
        self._ledger = Ledger()
        self.refund_requests: dict[str, Charge] = {}
        self.base_url = ""
        self.sub_merchants = SubMerchants()
        self.wallet = AlipayWallet(self)     # the Alipay app: web authorisation, tradePay, notifications
        # The bills' fees (test knobs): every row's fee at fee_rate_ppm, rounded as server/fees.py says; a row's
        # fee off by fee_drift[out_trade_no or refund_no] fen, the summary's fee total off by summary_drift_fen.
        self.fee_rate_ppm = 6000
        self.fee_drift: dict[str, int] = {}
        self.summary_drift_fen = 0

    @property
    def alipay_key(self):
        return self._alipay_key

    def bridge_script(self, payer: str = "payer1", answer: str = "pay") -> str:
        """AlipayJSBridge's stand-in for a page opened in this sandbox's Alipay (alipay_wallet.bridge_script)."""
        return bridge_script(self.base_url, payer, answer)

    def buyer_of(self, payer: str) -> str:
        return self.wallet.buyer_of(payer)

    def user_id_of(self, payer: str) -> str:
        return user_id_of(payer)

    def order_by_trade_no(self, trade_no: str) -> AlipayOrder | None:
        return next((o for o in self._ledger.orders.values() if trade_no and o.trade_no == trade_no), None)

    def add_sub_merchant(self, account_id: str, app_id: str | None = None) -> None:
        """A shop registered for indirect acquiring, by the smid Alipay gave it (app_id: unused by Alipay)."""
        self.sub_merchants.add(account_id)

    @property
    def ledger(self) -> Ledger:
        self._advance_all()
        return self._ledger

    def make_app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/gateway.do", self._gateway)
        app.router.add_get("/bill/{day}.zip", self._bill_file)
        self.wallet.add_routes(app)
        return app

    # the envelope

    async def _gateway(self, request: web.Request) -> web.Response:
        params = dict(await request.post())
        method = str(params.get("method", ""))
        node = signing.response_node_name(method) if method else "error_response"
        if params.get("app_id") != self.app_id:
            return self._error(node, "40002", "isv.invalid-app-id", "无效的AppID参数")
        if params.get("sign_type") != "RSA2":
            return self._error(node, "40002", "isv.invalid-signature-type", "无效的签名类型")
        if not signing.verify_text(signing.content_to_sign(params), str(params.get("sign", "")), self._app_key):
            return self._error(node, "40002", "isv.invalid-signature", "验签出错")
        if method == OAUTH_TOKEN:
            # No biz_content: grant_type and code are common-level parameters.
            token = self.wallet.oauth_token({k: str(v) for k, v in params.items()})
            if token is None:
                return self._error("error_response", "40002", "isv.code-invalid", "授权码code无效")
            return self._answer(node, token)
        try:
            datetime.datetime.strptime(str(params.get("timestamp", "")), "%Y-%m-%d %H:%M:%S")
            biz = json.loads(str(params.get("biz_content", "")))
            if not isinstance(biz, dict):
                raise ValueError
        except ValueError:
            return self._error(node, "40002", "isv.invalid-parameter", "参数无效")
        operation = self._operations().get(method)
        if operation is None:
            return self._error(node, "40002", "isv.invalid-method", "不存在的方法名")
        refusal = self._sub_merchant_refusal(biz)
        if refusal:
            return self._answer(node, refusal)
        self._advance_all()
        self._ledger.calls.append((method, str(biz.get("out_trade_no", ""))))
        try:
            fields = await operation(biz)
        except DropConnection:
            return drop(request)
        order = self._ledger.orders.get(str(biz.get("out_trade_no", "")))
        if method in (protocol.CREATE, protocol.PRECREATE) and order is not None and params.get("notify_url"):
            order.notify_url = str(params["notify_url"])
        return self._answer(node, fields)

    def _operations(self):
        return {protocol.PAY: self._pay, protocol.QUERY: self._query, protocol.CANCEL: self._cancel,
                protocol.PRECREATE: self._precreate, protocol.CREATE: self._create, protocol.CLOSE: self._close,
                protocol.REFUND: self._refund, protocol.REFUND_QUERY: self._refund_query,
                protocol.BILL_URL: self._bill_url}

    def _sub_merchant_refusal(self, biz: dict) -> dict | None:
        if "sub_merchant" not in biz:
            return None
        sub = biz["sub_merchant"]
        if not isinstance(sub, dict) or not sub.get("merchant_id"):
            return _fail("ACQ.SECONDARY_MERCHANT_ID_BLANK", "二级商户编号错误")
        if sub.get("merchant_type", "alipay") != "alipay":
            return _fail("ACQ.SUB_MERCHANT_TYPE_INVALID", "二级商户类型非法")
        if sub["merchant_id"] not in self.sub_merchants:
            return _fail("ACQ.SECONDARY_MERCHANT_ID_INVALID", "二级商户不存在")
        return None

    def _order(self, biz: dict) -> AlipayOrder | None:
        """The trade the request names, if it was made under the smid the request names."""
        order = self._ledger.orders.get(biz.get("out_trade_no", ""))
        return order if order is not None and order.merchant == _merchant(biz) else None

    def _answer(self, node: str, fields: dict) -> web.Response:
        fields = {"code": "10000", "msg": "Success", **fields}
        text = json.dumps(fields, ensure_ascii=False, separators=(",", ":"))
        sign = signing.sign_text(text, self._alipay_key)
        body = '{"%s":%s,"sign":"%s"}' % (node, text, sign)
        return web.Response(text=body, content_type="application/json", charset="utf-8")

    def _error(self, node: str, code: str, sub_code: str, sub_msg: str) -> web.Response:
        # Alipay's refusals of the envelope (bad app_id, bad signature) come unsigned.
        body = {node: {"code": code, "msg": "Invalid Arguments", "sub_code": sub_code, "sub_msg": sub_msg}}
        return web.json_response(body)

    # the operations

    async def _pay(self, biz: dict) -> dict:
        missing = _missing(biz, "out_trade_no", "scene", "auth_code", "subject", "total_amount")
        if missing:
            return _fail("ACQ.INVALID_PARAMETER", f"缺少参数{missing}", code="40002")
        try:
            amount_fen = _fen(biz["total_amount"])
        except ValueError:
            return _fail("ACQ.INVALID_PARAMETER", "total_amount格式错误")
        trade_no, auth_code = biz["out_trade_no"], biz["auth_code"]
        if biz["scene"] != "bar_code" or not (16 <= len(auth_code) <= 24 and auth_code.isdigit()
                                              and auth_code[:2] in ("25", "26", "27", "28", "29", "30")):
            return _fail("ACQ.PAYMENT_AUTH_CODE_INVALID", "支付失败，获取顾客账户信息失败，请顾客刷新付款码后重新收款")
        order = self._ledger.orders.get(trade_no)
        if order is not None:
            if order.amount_fen != amount_fen or order.auth_code != auth_code or order.merchant != _merchant(biz):
                return _fail("ACQ.CONTEXT_INCONSISTENT", "交易信息被篡改")
            return self._repeat(order)
        scenario, param = test_codes.scenario_of(auth_code)
        if scenario == "no_answer":
            await self.holds.hold(param)
            return _fail("ACQ.SYSTEM_ERROR", "系统错误", code="20000")
        if scenario == "already_used" or any(o.auth_code == auth_code for o in self._ledger.orders.values()):
            return _fail("ACQ.PAYMENT_AUTH_CODE_INVALID", "支付失败，获取顾客账户信息失败，请顾客刷新付款码后重新收款")
        order = AlipayOrder(out_trade_no=trade_no, amount_fen=amount_fen, auth_code=auth_code, scenario=scenario,
                            param=param, created=time.monotonic(), status=WAIT_BUYER_PAY, trade_no=_trade_no(),
                            subject=biz["subject"], merchant=_merchant(biz))
        self._ledger.orders[trade_no] = order
        if scenario in ("success", "lost_answer", "slow_answer"):
            self._charge(order)
            if scenario == "lost_answer":
                raise DropConnection
            if scenario == "slow_answer":
                await self.holds.hold(param)
            return self._paid_fields(order)
        if scenario == "system_error":
            self._charge(order)
            return _fail("ACQ.SYSTEM_ERROR", "系统错误", code="20000")
        if scenario == "insufficient_funds":
            order.status = TRADE_CLOSED
            return _fail("ACQ.BUYER_BALANCE_NOT_ENOUGH", "买家余额不足")
        if scenario == "expired":
            order.status = TRADE_CLOSED
            return _fail("ACQ.PAYMENT_AUTH_CODE_INVALID", "支付失败，获取顾客账户信息失败，请顾客刷新付款码后重新收款")
        if scenario == "merchant_barred":
            order.status = TRADE_CLOSED
            return _fail("ACQ.SELLER_BEEN_BLOCKED", "商家账号被冻结")
        if scenario == "password":
            order.paid_at = order.created + param
        return {"code": "10003", "msg": "order success pay inprocess", "out_trade_no": trade_no,
                "trade_no": order.trade_no}

    def _repeat(self, order: AlipayOrder) -> dict:
        if order.status == TRADE_SUCCESS:
            return self._paid_fields(order)      # Alipay answers a repeated pay of a paid trade with its result
        if order.status == TRADE_CLOSED:
            return _fail("ACQ.TRADE_HAS_CLOSE", "交易已关闭")
        return {"code": "10003", "msg": "order success pay inprocess", "out_trade_no": order.out_trade_no,
                "trade_no": order.trade_no}

    async def _query(self, biz: dict) -> dict:
        order = self._order(biz)
        if order is None:
            return _fail("ACQ.TRADE_NOT_EXIST", "交易不存在")
        fields = {"out_trade_no": order.out_trade_no, "trade_no": order.trade_no, "trade_status": order.status,
                  "total_amount": protocol.yuan_of(order.amount_fen)}
        if order.merchant:
            fields["alipay_sub_merchant_id"] = order.merchant
        if order.status == TRADE_SUCCESS:
            fields.update(buyer_logon_id="159****5620", receipt_amount=protocol.yuan_of(order.amount_fen))
        return fields

    async def _cancel(self, biz: dict) -> dict:
        order = self._order(biz)
        if order is None:
            return _fail("ACQ.TRADE_NOT_EXIST", "交易不存在")
        if order.status == WAIT_BUYER_PAY and order.auth_code and order.cancel_calls < self.cancel_retries:
            order.cancel_calls += 1
            return {"code": "10000", "msg": "Success", "retry_flag": "Y", "out_trade_no": order.out_trade_no,
                    "trade_no": order.trade_no}
        action = "close"
        if order.status == TRADE_SUCCESS:
            action = "refund"   # cancelling a paid trade gives the money back
            self._ledger.refunds.append(Charge(order.out_trade_no, order.amount_fen - order.refunded_fen,
                                               order.trade_no, refund_no="cancel", merchant=order.merchant))
        if order.status != TRADE_CLOSED or action == "refund":
            self._ledger.reversals.append(order.out_trade_no)
        order.status = TRADE_CLOSED
        return {"retry_flag": "N", "action": action, "out_trade_no": order.out_trade_no, "trade_no": order.trade_no}

    async def _precreate(self, biz: dict) -> dict:
        return self._c2b(biz, qr=True)

    async def _create(self, biz: dict) -> dict:
        buyer = biz.get("buyer_id") or biz.get("buyer_open_id")
        if not buyer:
            return _fail("ACQ.INVALID_PARAMETER", "缺少参数buyer_id", code="40002")
        fields = self._c2b(biz, qr=False)
        order = self._ledger.orders.get(biz.get("out_trade_no", ""))
        if fields.get("code", "10000") == "10000" and order is not None:
            if order.buyer and order.buyer != buyer:
                return _fail("ACQ.CONTEXT_INCONSISTENT", "交易信息被篡改")
            order.buyer = str(buyer)
        return fields

    def _c2b(self, biz: dict, *, qr: bool) -> dict:
        missing = _missing(biz, "out_trade_no", "total_amount", "subject")
        if missing:
            return _fail("ACQ.INVALID_PARAMETER", f"缺少参数{missing}", code="40002")
        try:
            amount_fen = _fen(biz["total_amount"])
        except ValueError:
            return _fail("ACQ.INVALID_PARAMETER", "total_amount格式错误")
        trade_no = biz["out_trade_no"]
        order = self._ledger.orders.get(trade_no)
        if order is None:
            minutes = int(str(biz.get("timeout_express", "120m")).rstrip("m") or 120)
            order = AlipayOrder(out_trade_no=trade_no, amount_fen=amount_fen, auth_code="", scenario="c2b", param=0,
                                created=time.monotonic(), status=WAIT_BUYER_PAY, trade_no=_trade_no(),
                                subject=biz["subject"], merchant=_merchant(biz))
            order.expires = order.created + minutes * 60
            self._ledger.orders[trade_no] = order
        elif order.amount_fen != amount_fen or order.merchant != _merchant(biz):
            return _fail("ACQ.CONTEXT_INCONSISTENT", "交易信息被篡改")
        if qr:
            return {"out_trade_no": trade_no, "qr_code": f"https://qr.alipay.com/sbx{order.trade_no[-12:]}"}
        return {"out_trade_no": trade_no, "trade_no": order.trade_no}

    async def _close(self, biz: dict) -> dict:
        order = self._order(biz)
        if order is None:
            return _fail("ACQ.TRADE_NOT_EXIST", "交易不存在")
        if order.status == TRADE_SUCCESS:
            return _fail("ACQ.TRADE_STATUS_ERROR", "交易状态不合法")
        order.status = TRADE_CLOSED
        return {"out_trade_no": order.out_trade_no, "trade_no": order.trade_no}

    async def _refund(self, biz: dict) -> dict:
        missing = _missing(biz, "out_trade_no", "refund_amount")
        if missing:
            return _fail("ACQ.INVALID_PARAMETER", f"缺少参数{missing}", code="40002")
        order = self._order(biz)
        if order is None:
            return _fail("ACQ.TRADE_NOT_EXIST", "交易不存在")
        try:
            amount_fen = _fen(biz["refund_amount"])
        except ValueError:
            return _fail("ACQ.INVALID_PARAMETER", "refund_amount格式错误")
        refund_no = biz.get("out_request_no") or order.out_trade_no
        key = f"{order.out_trade_no}/{refund_no}"
        done = self.refund_requests.get(key)
        if done is not None:
            if done.amount_fen != amount_fen:
                return _fail("ACQ.CONTEXT_INCONSISTENT", "退款信息不一致")
            return self._refund_fields(order, "N")
        if order.status != TRADE_SUCCESS:
            return _fail("ACQ.TRADE_STATUS_ERROR", "交易状态不合法")
        if order.refunded_fen + amount_fen > order.amount_fen:
            return _fail("ACQ.REFUND_AMT_NOT_EQUAL_TOTAL", "退款金额超限")
        refund = Charge(order.out_trade_no, amount_fen, order.trade_no, refund_no=refund_no, merchant=order.merchant)
        self.refund_requests[key] = refund
        self._ledger.refunds.append(refund)
        order.refunded_fen += amount_fen
        return self._refund_fields(order, "Y")

    def _refund_fields(self, order: AlipayOrder, fund_change: str) -> dict:
        return {"out_trade_no": order.out_trade_no, "trade_no": order.trade_no, "fund_change": fund_change,
                "refund_fee": protocol.yuan_of(order.refunded_fen) if order.refunded_fen else "0.00"}

    async def _refund_query(self, biz: dict) -> dict:
        key = f"{biz.get('out_trade_no', '')}/{biz.get('out_request_no', '')}"
        refund = self.refund_requests.get(key)
        if refund is None or refund.merchant != _merchant(biz):
            return {"out_trade_no": biz.get("out_trade_no", "")}   # Alipay: success, but no refund fields
        return {"out_trade_no": refund.out_trade_no, "trade_no": refund.channel_trade_no,
                "out_request_no": refund.refund_no, "refund_amount": protocol.yuan_of(refund.amount_fen),
                "refund_status": "REFUND_SUCCESS"}

    async def _bill_url(self, biz: dict) -> dict:
        if biz.get("bill_type") != "trade":
            return _fail("isv.invalid-bill-type", "账单类型不支持")
        try:
            day = datetime.date.fromisoformat(str(biz.get("bill_date")))
        except ValueError:
            return _fail("isv.invalid-bill-date", "账单时间格式不正确")
        if day >= china_now().date() + datetime.timedelta(days=1):
            return _fail("isv.bill-not-exist", "账单不存在")
        return {"bill_download_url": f"{self.base_url}/bill/{day.isoformat()}.zip"}

    async def _bill_file(self, request: web.Request) -> web.Response:
        try:
            day = datetime.date.fromisoformat(request.match_info["day"])
        except ValueError:
            raise web.HTTPNotFound()
        return web.Response(body=self.bill_zip(day), content_type="application/zip")

    def row_fee_fen(self, c: Charge) -> int:
        """The fee on the bill row of a payment or refund (positive; a refund's is given back)."""
        return fees.fee_fen(c.amount_fen, self.fee_rate_ppm) + self.fee_drift.get(c.refund_no or c.out_trade_no, 0)

    def bill_zip(self, day: datetime.date, smid: str | None = None) -> bytes:
        """The trade bill of `day`: every shop's rows, or with `smid` that shop's alone."""
        charges, refunds = self.ledger.bill_of(day, smid)
        columns = COLUMNS + (SUB_MERCHANT_COLUMN,)
        lines = ["#支付宝业务明细查询", f"#账号：[{self.app_id}0156]",
                 f"#起始日期：[{day:%Y年%m月%d日} 00:00:00]   终止日期：[{day + datetime.timedelta(days=1):%Y年%m月%d日} 00:00:00]",
                 "#-----------------------------------------业务明细列表----------------------------------------",
                 ",".join(columns)]

        def row(c: Charge, kind: str, sign: str) -> str:
            order = self._ledger.orders.get(c.out_trade_no)
            yuan = sign + protocol.yuan_of(c.amount_fen)
            fee_fen = self.row_fee_fen(c)
            fee = f"{abs(fee_fen) // 100}.{abs(fee_fen) % 100:02d}"
            cells = {"支付宝交易号": c.channel_trade_no + "\t", "商户订单号": c.out_trade_no + "\t", "业务类型": kind,
                     "商品名称": order.subject if order else "", "创建时间": f"{c.at:%Y-%m-%d %H:%M:%S}",
                     "完成时间": f"{c.at:%Y-%m-%d %H:%M:%S}", "对方账户": "159****5620", "订单金额（元）": yuan,
                     "商家实收（元）": yuan, "退款批次号/请求号": c.refund_no + ("\t" if c.refund_no else ""),
                     # Alipay takes its fee on payments and gives it back on refunds.
                     "服务费（元）": ("-" if sign == "" else "") + fee if fee != "0.00" else "0.00",
                     SUB_MERCHANT_COLUMN: c.merchant}
            return ",".join(cells.get(name, "") for name in columns)

        lines += [row(c, "交易", "") for c in charges] + [row(r, "退款", "-") for r in refunds]
        lines += ["#-----------------------------------------业务明细列表结束------------------------------------",
                  f"#交易合计：{len(charges)}笔，退款合计：{len(refunds)}笔", f"#导出时间：[{china_now():%Y年%m月%d日 %H:%M:%S}]"]
        stem = f"{self.app_id}0156_{day:%Y%m%d}"
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as archive:
            archive.writestr(f"{stem}_业务明细.csv", ("\r\n".join(lines) + "\r\n").encode("gbk"))
            archive.writestr(f"{stem}_业务明细(汇总).csv", self._summary_csv(day, charges, refunds).encode("gbk"))
        return buf.getvalue()

    def _summary_csv(self, day: datetime.date, charges: list[Charge], refunds: list[Charge]) -> str:
        """The summary file: one store line and the 合计 line (订单金额 payments less refunds, 服务费 signed as in
        the detail rows, negative when Alipay takes it)."""
        net = sum(c.amount_fen for c in charges) - sum(r.amount_fen for r in refunds)
        fee = sum(self.row_fee_fen(c) for c in charges) - sum(self.row_fee_fen(r) for r in refunds) \
            + self.summary_drift_fen

        def yuan(fen: int) -> str:
            return f"{'-' if fen < 0 else ''}{abs(fen) // 100}.{abs(fen) % 100:02d}"

        def line(first: str) -> str:
            return f"{first},,{len(charges)},{len(refunds)},{yuan(net)},{yuan(-fee)}"
        return "\r\n".join([
            "#支付宝业务汇总查询", f"#账号：[{self.app_id}0156]", f"#起始日期：[{day:%Y年%m月%d日} 00:00:00]",
            "#-----------------------------------------业务汇总列表----------------------------------------",
            "门店编号,门店名称,交易订单总笔数,退款订单总笔数,订单金额（元）,服务费（元）", line(""), line("合计"),
            "#-----------------------------------------业务汇总列表结束------------------------------------"]) + "\r\n"

    # state

    def _charge(self, order: AlipayOrder) -> None:
        order.status = TRADE_SUCCESS
        self._ledger.charges.append(Charge(order.out_trade_no, order.amount_fen, order.trade_no,
                                           merchant=order.merchant))

    def _paid_fields(self, order: AlipayOrder) -> dict:
        return {"out_trade_no": order.out_trade_no, "trade_no": order.trade_no, "buyer_logon_id": "159****5620",
                "total_amount": protocol.yuan_of(order.amount_fen), "receipt_amount": protocol.yuan_of(order.amount_fen),
                "gmt_payment": f"{china_now():%Y-%m-%d %H:%M:%S}"}

    def _advance_all(self) -> None:
        now = time.monotonic()
        for order in self._ledger.orders.values():
            if order.status != WAIT_BUYER_PAY:
                continue
            close_at = order.expires if order.expires is not None else order.created + self.auto_close_s
            if order.paid_at is not None and now >= order.paid_at and order.paid_at < close_at:
                self._charge(order)
            elif now >= close_at:
                order.status = TRADE_CLOSED

    def pay_c2b(self, out_trade_no: str) -> bool:
        """The payer pays a C2B order in the Alipay app (alipay_wallet.py's tradePay, or a test directly)."""
        self._advance_all()
        order = self._ledger.orders.get(out_trade_no)
        if order is None or order.status != WAIT_BUYER_PAY:
            return False
        self._charge(order)
        return True


def _merchant(biz: dict) -> str:
    """The smid a request names ("" for none: the acquirer's own account)."""
    sub = biz.get("sub_merchant")
    return str(sub.get("merchant_id") or "") if isinstance(sub, dict) else ""


def _missing(biz: dict, *names: str) -> str:
    return next((n for n in names if not biz.get(n)), "")


def _fen(yuan) -> int:
    fen = protocol.fen_of(str(yuan))
    if fen <= 0 or Decimal(str(yuan)).as_tuple().exponent < -2:
        raise ValueError(yuan)
    return fen


def _fail(sub_code: str, sub_msg: str, *, code: str = "40004") -> dict:
    msg = {"40004": "Business Failed", "20000": "Service Currently Unavailable"}.get(code, "Invalid Arguments")
    return {"code": code, "msg": msg, "sub_code": sub_code, "sub_msg": sub_msg}


def _trade_no() -> str:
    # 28 digits like Alipay's trade numbers: date + random
    return time.strftime("%Y%m%d") + "22001" + "".join(secrets.choice("0123456789") for _ in range(15))


def run_alipay_sandbox(port: int = 0, host: str = "127.0.0.1", **options):
    """Serve a Alipay sandbox on host:port (0 = any free port): `async with ... as sandbox`, then sandbox.base_url."""
    return run_sandbox(AlipaySandbox(**options), host, port)


def main(argv: list[str] | None = None) -> None:
    def add_arguments(parser):
        parser.add_argument("--fee-ppm", type=int, default=6000, help="the bills' fee rate, ppm (0.38%% is 3800)")

    def make(args):
        sandbox = AlipaySandbox()
        sandbox.fee_rate_ppm = args.fee_ppm
        return sandbox

    run_standalone("python -m hw_sim.sandbox.alipay", "Alipay sandbox", 8092, make, argv, add_arguments)


if __name__ == "__main__":
    main()
