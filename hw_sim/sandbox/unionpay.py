"""UnionPay QR acquirer sandbox: POST /gateway (the QR messages) and /file (the daily file).

Form-encoded, signed as UnionPay signs (SHA-256 hex digest, SHA256withRSA, certId), both ways; what
the messages mean is documented, with sources and inferences, in server/channels/unionpay/protocol.py.
Checks the acquirer's certId and signature, version, required fields and txnAmt; keeps a ledger. The
payment code (qrNo) chooses the outcome (hw_sim.test_codes):

    success             00, paid
    password N          05 (accepted, payer confirming); paid N seconds later
    insufficient_funds  51
    expired             54
    system_error        04 (state unknown), but the money was taken: the query says 00
    payer_gives_up      05, never paid; reversed at the deadline
    no_answer N         the consume is held N s (0: until shutdown), then 03; nothing happens at UnionPay
    lost_answer         paid, then the connection is dropped without an answer
    already_used        94
    slow_answer N       paid at once, the answer comes N seconds later
    merchant_barred     31 商户状态不正确 (UnionPay refuses the merchant itself, as it refuses an unknown merId)

Merchants: a message names its merchant by merId: the acquirer's own (`mer_id`, direct mode) or a
sub-merchant registered with `add_sub_merchant(mer_id)` (standalone: --sub-merchant / --sub-merchants, see
common.py); any other merId is refused 31 商户状态不正确 (acp's code; INFERRED for QR). Answers echo merId.
Each order belongs to the merId it was made under: asked under another it does not exist (34). Ledger
entries name their sub-merchant; the daily file asked with a sub-merchant's merId holds its lines alone
(each with its merId as an 8th field), asked with the acquirer's own merId or none it holds every line.
"""
from __future__ import annotations

import datetime
import logging
import secrets
import time
import urllib.parse
from dataclasses import dataclass

from aiohttp import web

from hw_sim import test_codes
from server import fees
from server.channels.unionpay import protocol, signing
from server.channels.unionpay.bill import encode_file_content

from . import keys
from .common import (Charge, DropConnection, Holds, Ledger, SubMerchants, drop, run_sandbox,
                     run_standalone)
from .unionpay_wallet import UnionPayWallet, user_id_of

log = logging.getLogger(__name__)

SANDBOX_ACQ_CODE = "48020000"
SANDBOX_MER_ID = "777290058110048"
SANDBOX_ACQUIRER_CERT_ID = "69629715588"
SANDBOX_UNIONPAY_CERT_ID = "69042905377"

PAID, PENDING, REFUSED, REVERSED = "00", "05", "refused", "RV"

_REQUIRED = {
    protocol.CONSUME: ("merCatCode", "merName", "termId", "qrNo", "currencyCode", "txnAmt", "orderNo", "orderTime"),
    protocol.QUERY: ("orderNo", "orderTime"),
    protocol.REVERSAL: ("orderNo", "orderTime", "origOrderNo", "origOrderTime"),
    protocol.CANCEL: ("orderNo", "orderTime", "origOrderNo", "origOrderTime", "txnAmt"),
    protocol.REFUND: ("orderNo", "orderTime", "origOrderNo", "origOrderTime", "txnAmt"),
    protocol.C2B_APPLY: ("merCatCode", "merName", "termId", "currencyCode", "txnAmt", "orderNo", "orderTime",
                         "qrValidTime"),
    protocol.USER_ID: ("orderNo", "orderTime", "userAuthCode"),
    protocol.JS_ORDER: ("merCatCode", "merName", "termId", "currencyCode", "txnAmt", "orderNo", "orderTime",
                        "qrValidTime", "userId", "frontUrl", "backUrl"),
}


@dataclass
class UnionPayOrder:
    order_no: str
    order_time: str
    amount_fen: int
    qr_no: str
    scenario: str
    param: int
    created: float
    state: str                 # 00 paid, 05 pending, refused, RV reversed/cancelled
    resp_code: str = ""        # the consume's own answer code, repeated to a query of a refused order
    voucher_num: str = ""
    paid_at: float | None = None
    expires: float | None = None
    merchant: str = ""         # the sub-merchant's merId; "" the acquirer's own
    user_id: str = ""          # JS_ORDER: the payer it was made for, and where the cashier goes and notifies
    front_url: str = ""
    back_url: str = ""


class UnionPaySandbox:
    name = "unionpay"

    def __init__(self, *, acq_code: str = SANDBOX_ACQ_CODE, mer_id: str = SANDBOX_MER_ID,
                 acquirer_public_key: str = keys.UNIONPAY_ACQUIRER_PUBLIC_KEY,
                 acquirer_cert_id: str = SANDBOX_ACQUIRER_CERT_ID,
                 unionpay_private_key: str = keys.UNIONPAY_PLATFORM_PRIVATE_KEY,
                 unionpay_cert_id: str = SANDBOX_UNIONPAY_CERT_ID):
        self.acq_code = acq_code
        self.mer_id = mer_id
        self._acquirer_key = signing.load_public_key(acquirer_public_key)
        self.acquirer_cert_id = acquirer_cert_id
        self._unionpay_key = signing.load_private_key(unionpay_private_key)
        self.unionpay_cert_id = unionpay_cert_id
        self.holds = Holds()
        self._ledger = Ledger()
        self.undos: dict[str, dict] = {}      # reversal / cancel / refund messages by their orderNo
        self._undo_merchant: dict[str, str] = {}   # and the merchant each was made for
        self.base_url = ""
        self.sub_merchants = SubMerchants()
        self.wallet = UnionPayWallet(self)    # a UnionPay app: user authorisation, the cashier, notifications
        # The bills' fees (test knobs): every row's fee at fee_rate_ppm, rounded as server/fees.py says; a row's
        # fee off by fee_drift[out_trade_no or refund_no] fen.
        self.fee_rate_ppm = 6000
        self.fee_drift: dict[str, int] = {}

    @property
    def unionpay_key(self):
        return self._unionpay_key

    def user_id_of(self, payer: str) -> str:
        return user_id_of(payer)

    def add_sub_merchant(self, account_id: str, app_id: str | None = None) -> None:
        """A merchant of the acquirer with its own merId (app_id: unused by UnionPay)."""
        self.sub_merchants.add(account_id)

    def _merchant_of(self, params: dict[str, str]) -> str:
        mer_id = params.get("merId", "")
        return "" if mer_id == self.mer_id else mer_id

    @property
    def ledger(self) -> Ledger:
        self._advance_all()
        return self._ledger

    def make_app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/gateway", self._gateway)
        app.router.add_post("/file", self._file)
        self.wallet.add_routes(app)
        return app

    # the envelope

    async def _checked(self, request: web.Request, *, mer_id_optional: bool = False
                       ) -> tuple[dict[str, str] | None, web.Response | None]:
        params = {k: str(v) for k, v in (await request.post()).items()}
        if params.get("certId") != self.acquirer_cert_id:
            return None, self._answer({"respCode": "11", "respMsg": "证书ID不匹配"})
        if not signing.signature_valid(params, self._acquirer_key):
            return None, self._answer({"respCode": "11", "respMsg": "验证签名失败"})
        if params.get("version") != protocol.VERSION or params.get("acqCode") != self.acq_code:
            return None, self._answer({"respCode": "10", "respMsg": "报文格式错误"})
        mer_id = params.get("merId", "")
        if not (mer_id == self.mer_id or mer_id in self.sub_merchants or (mer_id_optional and not mer_id)):
            return None, self._answer({"respCode": "31", "respMsg": "商户状态不正确", "reqType": params.get("reqType", ""),
                                       "merId": mer_id})
        return params, None

    async def _gateway(self, request: web.Request) -> web.Response:
        params, refusal = await self._checked(request)
        if refusal is not None:
            return refusal
        req_type = params.get("reqType", "")
        operation = {protocol.CONSUME: self._consume, protocol.QUERY: self._query, protocol.REVERSAL: self._undo,
                     protocol.CANCEL: self._undo, protocol.REFUND: self._undo,
                     protocol.C2B_APPLY: self._c2b, protocol.USER_ID: self._user_id,
                     protocol.JS_ORDER: self._js_order}.get(req_type)
        if operation is None:
            return self._answer({"respCode": "12", "respMsg": "交易类型错误"})
        missing = [name for name in _REQUIRED[req_type] if not params.get(name)]
        if missing:
            return self._answer({"respCode": "30", "respMsg": f"缺少{missing[0]}", "reqType": req_type})
        self._advance_all()
        self._ledger.calls.append((req_type, params.get("origOrderNo") or params["orderNo"]))
        try:
            fields = await operation(params)
        except DropConnection:
            return drop(request)
        return self._answer({"reqType": req_type, "orderNo": params["orderNo"], "merId": params["merId"], **fields})

    def _answer(self, fields: dict[str, str]) -> web.Response:
        fields = {"version": protocol.VERSION, "acqCode": self.acq_code, **fields}
        signed = signing.sign(fields, self._unionpay_key, self.unionpay_cert_id)
        return web.Response(text=urllib.parse.urlencode(signed), content_type="application/x-www-form-urlencoded")

    # the operations

    async def _consume(self, params: dict[str, str]) -> dict[str, str]:
        try:
            amount_fen = protocol.amount_fen_of(params["txnAmt"])
        except ValueError:
            return {"respCode": "30", "respMsg": "txnAmt格式错误"}
        if amount_fen <= 0 or params["currencyCode"] != protocol.CURRENCY_CNY:
            return {"respCode": "30", "respMsg": "金额或币种错误"}
        qr_no, order_no = params["qrNo"], params["orderNo"]
        if not (len(qr_no) == 19 and qr_no.isdigit() and qr_no.startswith("62")):
            return {"respCode": "12", "respMsg": "付款码无效"}
        order = self._ledger.orders.get(order_no)
        if order is not None:
            if order.amount_fen != amount_fen or order.qr_no != qr_no or order.merchant != self._merchant_of(params):
                return {"respCode": "94", "respMsg": "重复交易"}
            return self._state_fields(order)
        scenario, param = test_codes.scenario_of(qr_no)
        if scenario == "no_answer":
            await self.holds.hold(param)
            return {"respCode": "03", "respMsg": "交易通讯超时，请发起查询交易"}
        if scenario == "already_used" or any(o.qr_no == qr_no for o in self._ledger.orders.values()):
            return {"respCode": "94", "respMsg": "付款码已使用"}
        order = UnionPayOrder(order_no=order_no, order_time=params["orderTime"], amount_fen=amount_fen, qr_no=qr_no,
                              scenario=scenario, param=param, created=time.monotonic(), state=PENDING,
                              merchant=self._merchant_of(params))
        self._ledger.orders[order_no] = order
        if scenario in ("success", "lost_answer", "slow_answer"):
            self._charge(order)
            if scenario == "lost_answer":
                raise DropConnection
            if scenario == "slow_answer":
                await self.holds.hold(param)
            return self._state_fields(order)
        if scenario == "system_error":
            self._charge(order)
            return {"respCode": "04", "respMsg": "交易状态未明，请查询对账结果"}
        refusals = {"insufficient_funds": ("51", "余额不足"), "expired": ("54", "付款码已过期"),
                    "merchant_barred": ("31", "商户状态不正确")}
        if scenario in refusals:
            order.state = REFUSED
            order.resp_code, message = refusals[scenario]
            return {"respCode": order.resp_code, "respMsg": message}
        if scenario == "password":
            order.paid_at = order.created + param
        return {"respCode": PENDING, "respMsg": "交易已受理，请稍后查询交易结果"}

    def _state_fields(self, order: UnionPayOrder) -> dict[str, str]:
        if order.state == PAID:
            return {"respCode": "00", "respMsg": "成功", "voucherNum": order.voucher_num, "txnAmt": str(order.amount_fen),
                    "settleKey": f"{self.acq_code} {order.voucher_num[-8:]}"}
        if order.state == REVERSED:
            return {"respCode": REVERSED, "respMsg": "原交易已冲正"}
        if order.state == REFUSED:
            return {"respCode": order.resp_code, "respMsg": "交易失败"}
        return {"respCode": PENDING, "respMsg": "交易已受理，请稍后查询交易结果"}

    async def _query(self, params: dict[str, str]) -> dict[str, str]:
        # UnionPay finds an order by orderNo and orderTime; the sandbox by orderNo alone.
        order_no, merchant = params["orderNo"], self._merchant_of(params)
        order = self._ledger.orders.get(order_no)
        if order is not None and order.merchant == merchant:
            state = self._state_fields(order)
            return {"respCode": "00", "respMsg": "成功", "origRespCode": state["respCode"],
                    "origRespMsg": state["respMsg"], "voucherNum": order.voucher_num,
                    "txnAmt": str(order.amount_fen)}
        undo = self.undos.get(order_no)
        if undo is not None and self._undo_merchant.get(order_no) == merchant:
            return {"respCode": "00", "respMsg": "成功", "origRespCode": undo["respCode"],
                    "origRespMsg": undo["respMsg"], "voucherNum": undo.get("voucherNum", "")}
        return {"respCode": protocol.NOT_FOUND_CODE, "respMsg": "查无此交易"}

    async def _undo(self, params: dict[str, str]) -> dict[str, str]:
        order_no, req_type, merchant = params["orderNo"], params["reqType"], self._merchant_of(params)
        if order_no in self.undos and self._undo_merchant.get(order_no) == merchant:
            return self.undos[order_no]            # a repeated message: the same answer
        order = self._ledger.orders.get(params["origOrderNo"])
        if order is None or order.merchant != merchant:
            return {"respCode": protocol.NOT_FOUND_CODE, "respMsg": "原交易不存在"}
        if params["origOrderTime"] != order.order_time:
            return {"respCode": "30", "respMsg": "原交易时间不符"}
        if req_type == protocol.REVERSAL:
            answer = self._reverse(order)
        else:
            try:
                amount_fen = protocol.amount_fen_of(params["txnAmt"])
            except ValueError:
                return {"respCode": "30", "respMsg": "txnAmt格式错误"}
            answer = self._give_back(order, req_type, amount_fen, order_no)
        if answer["respCode"] == "00":
            self.undos[order_no] = answer
            self._undo_merchant[order_no] = merchant
        return answer

    def _reverse(self, order: UnionPayOrder) -> dict[str, str]:
        if order.state == PAID:
            self._ledger.refunds.append(Charge(order.order_no, order.amount_fen, order.voucher_num,
                                               refund_no="reversal", merchant=order.merchant))
        if order.state != REVERSED:
            self._ledger.reversals.append(order.order_no)
        order.state = REVERSED
        return {"respCode": "00", "respMsg": "冲正成功"}

    def _give_back(self, order: UnionPayOrder, req_type: str, amount_fen: int, order_no: str) -> dict[str, str]:
        if order.state != PAID:
            return {"respCode": "25", "respMsg": "原交易状态不正确"}
        refunded = sum(r.amount_fen for r in self._ledger.refunds if r.out_trade_no == order.order_no)
        if req_type == protocol.CANCEL and (amount_fen != order.amount_fen or refunded):
            return {"respCode": "30", "respMsg": "撤销金额须等于原交易金额"}
        if refunded + amount_fen > order.amount_fen:
            return {"respCode": "30", "respMsg": "退货金额超限"}
        voucher = _voucher()
        self._ledger.refunds.append(Charge(order.order_no, amount_fen, voucher, refund_no=order_no,
                                           merchant=order.merchant))
        if req_type == protocol.CANCEL:
            order.state = REVERSED
            self._ledger.reversals.append(order.order_no)
        return {"respCode": "00", "respMsg": "成功", "voucherNum": voucher}

    async def _c2b(self, params: dict[str, str]) -> dict[str, str]:
        try:
            amount_fen = protocol.amount_fen_of(params["txnAmt"])
            valid_s = int(params["qrValidTime"])
        except ValueError:
            return {"respCode": "30", "respMsg": "格式错误"}
        order_no = params["orderNo"]
        existing = self._ledger.orders.get(order_no)
        if existing is not None and existing.merchant != self._merchant_of(params):
            return {"respCode": "94", "respMsg": "重复交易"}
        if existing is None:
            order = UnionPayOrder(order_no=order_no, order_time=params["orderTime"], amount_fen=amount_fen, qr_no="",
                                  scenario="c2b", param=0, created=time.monotonic(), state=PENDING,
                                  merchant=self._merchant_of(params))
            order.expires = order.created + valid_s
            self._ledger.orders[order_no] = order
        return {"respCode": "00", "respMsg": "成功", "qrCode": f"https://qr.95516.com/00010000/sbx{order_no[-16:]}"}

    async def _user_id(self, params: dict[str, str]) -> dict[str, str]:
        return self.wallet.user_id(params)

    async def _js_order(self, params: dict[str, str]) -> dict[str, str]:
        fields = await self._c2b(params)
        order = self._ledger.orders.get(params["orderNo"])
        if fields.get("respCode") != "00" or order is None:
            return fields
        if order.user_id and order.user_id != params["userId"]:
            return {"respCode": "94", "respMsg": "重复交易"}
        order.user_id, order.front_url, order.back_url = params["userId"], params["frontUrl"], params["backUrl"]
        return {"respCode": "00", "respMsg": "成功",
                "redirectUrl": f"{self.base_url}/wallet/unionpay/cashier?orderNo={order.order_no}"}

    async def _file(self, request: web.Request) -> web.Response:
        params, refusal = await self._checked(request, mer_id_optional=True)
        if refusal is not None:
            return refusal
        try:
            day = datetime.datetime.strptime(params.get("settleDate", ""), "%Y%m%d").date()
        except ValueError:
            return self._answer({"respCode": "30", "respMsg": "settleDate格式错误"})
        merchant = self._merchant_of(params) or None
        echo = {"merId": params["merId"]} if params.get("merId") else {}
        return self._answer({"respCode": "00", "respMsg": "成功", **echo,
                             "fileContent": encode_file_content(self.file_text(day, merchant))})

    def row_fee_fen(self, c: Charge) -> int:
        """The fee on the bill row of a payment or refund (positive; a refund's is given back)."""
        return fees.fee_fen(c.amount_fen, self.fee_rate_ppm) + self.fee_drift.get(c.refund_no or c.out_trade_no, 0)

    def file_text(self, day: datetime.date, mer_id: str | None = None) -> str:
        """The file of `day`: every line, or with a sub-merchant's merId its lines alone. A sub-merchant's line
        ends with its merId; the acquirer's own lines keep the 7 fields."""
        charges, refunds = self.ledger.bill_of(day, mer_id)

        def owner(c: Charge) -> str:
            return f"|{c.merchant}" if c.merchant else ""

        lines = [f"{c.out_trade_no}||{protocol.CONSUME}|{c.amount_fen}|{self.row_fee_fen(c)}|{c.at:%Y%m%d%H%M%S}|"
                 f"{c.channel_trade_no}{owner(c)}" for c in charges]
        for r in refunds:
            kind = protocol.REVERSAL if r.refund_no == "reversal" else protocol.REFUND
            if kind == protocol.REVERSAL:
                continue   # a reversed consume leaves the file: UnionPay settles neither
            lines.append(f"{r.refund_no}|{r.out_trade_no}|{kind}|{r.amount_fen}|{-self.row_fee_fen(r)}|"
                         f"{r.at:%Y%m%d%H%M%S}|{r.channel_trade_no}{owner(r)}")
        reversed_orders = {r.out_trade_no for r in refunds if r.refund_no == "reversal"}
        lines = [line for line in lines if line.split("|")[0] not in reversed_orders]
        return "\n".join(["#orderNo|origOrderNo|reqType|txnAmt|fee|txnTime|voucherNum", *lines]) + "\n"

    # state

    def _charge(self, order: UnionPayOrder) -> None:
        order.state = PAID
        order.voucher_num = _voucher()
        self._ledger.charges.append(Charge(order.order_no, order.amount_fen, order.voucher_num,
                                           merchant=order.merchant))

    def _advance_all(self) -> None:
        now = time.monotonic()
        for order in self._ledger.orders.values():
            if order.state == PENDING and order.paid_at is not None and now >= order.paid_at:
                self._charge(order)
            elif order.state == PENDING and order.expires is not None and now >= order.expires:
                order.state = REVERSED   # the C2B code expired unpaid

    def pay_c2b(self, order_no: str) -> bool:
        """A UnionPay app pays a C2B code or order (unionpay_wallet.py's cashier, or a test directly)."""
        self._advance_all()
        order = self._ledger.orders.get(order_no)
        if order is None or order.state != PENDING or order.expires is None:
            return False
        self._charge(order)
        return True


def _voucher() -> str:
    return time.strftime("%m%d") + "".join(secrets.choice("0123456789") for _ in range(16))


def run_unionpay_sandbox(port: int = 0, host: str = "127.0.0.1", **options):
    """Serve a UnionPay sandbox on host:port (0 = any free port): `async with ... as sandbox`, then sandbox.base_url."""
    return run_sandbox(UnionPaySandbox(**options), host, port)


def main(argv: list[str] | None = None) -> None:
    def add_arguments(parser):
        parser.add_argument("--fee-ppm", type=int, default=6000, help="the bills' fee rate, ppm (0.38%% is 3800)")

    def make(args):
        sandbox = UnionPaySandbox()
        sandbox.fee_rate_ppm = args.fee_ppm
        return sandbox

    run_standalone("python -m hw_sim.sandbox.unionpay", "UnionPay sandbox", 8093, make, argv, add_arguments)


if __name__ == "__main__":
    main()
