"""A UnionPay app as the payer's phone sees it, on the UnionPay sandbox: user authorisation, the userId
look-up, UnionPay's cashier page for an order made for that userId, and the notification to the backUrl.

    GET  /qrcGtwWeb-web/api/userAuth?version=1.0.0&redirectUrl=…
                                  302 to redirectUrl?userAuthCode=…&respCode=00 (refused: respCode=34, no code)
    gateway USER_ID  (userAuthCode, appUpIdentifier)   respCode 00 and userId; a bad or used code: 34
    gateway JS_ORDER (userId, frontUrl, backUrl, ...)  respCode 00 and redirectUrl (the cashier below)
    GET  /wallet/unionpay/cashier?orderNo=…  the cashier: amount, 确认付款 / 取消; only the order's own payer
    POST /wallet/unionpay/cashier            pays, notifies backUrl (signed form), 303 to frontUrl

What in this flow is INFERRED (reqTypes, the path, respCode 34): server/channels/unionpay/protocol.py and
docs/c2b.md. The logged-in payer is the `sandbox_payer` cookie; `sandbox_oauth=deny` makes the payer refuse.
"""
from __future__ import annotations

import hashlib
import html
import secrets
import time
import urllib.parse
from typing import TYPE_CHECKING

import aiohttp
from aiohttp import web

from server.channels.unionpay import protocol, signing

from .wallet_app import DEFAULT_PAYER, DENY_COOKIE, PAYER_COOKIE, with_query

if TYPE_CHECKING:
    from .unionpay import UnionPaySandbox

REFUSED_CODE = "34"          # INFERRED: what comes back when the payer does not authorise
_CODE_LIFE_S = 300.0


def user_id_of(payer: str) -> str:
    return "up" + hashlib.sha256(f"unionpay/{payer}".encode()).hexdigest()[:30]


class UnionPayWallet:
    def __init__(self, sandbox: UnionPaySandbox):
        self._sandbox = sandbox
        self._codes: dict[str, tuple[str, float]] = {}   # userAuthCode -> (userId, expiry)
        self.app_ups: list[str] = []                     # appUpIdentifier of every userId look-up
        self.paid: list[str] = []
        self.refusals: list[str] = []
        self.notifications: list[tuple[str, int]] = []   # (orderNo, the acquirer's HTTP status)
        self.sent_notices: list[bytes] = []

    def add_routes(self, app: web.Application) -> None:
        app.router.add_get(protocol.USER_AUTH_PATH, self._user_auth)
        app.router.add_get("/wallet/unionpay/cashier", self._cashier)
        app.router.add_post("/wallet/unionpay/cashier", self._confirm)

    async def _user_auth(self, request: web.Request) -> web.Response:
        redirect = request.query.get("redirectUrl", "")
        if request.query.get("version") != protocol.VERSION or not redirect.startswith(("http://", "https://")):
            return web.Response(text="参数错误", status=400)
        if request.cookies.get(DENY_COOKIE) == "deny":
            raise web.HTTPFound(with_query(redirect, respCode=REFUSED_CODE))
        code = secrets.token_urlsafe(24)
        self._codes[code] = (user_id_of(request.cookies.get(PAYER_COOKIE) or DEFAULT_PAYER),
                             time.monotonic() + _CODE_LIFE_S)
        raise web.HTTPFound(with_query(redirect, userAuthCode=code, respCode="00"))

    def user_id(self, params: dict[str, str]) -> dict[str, str]:
        """The USER_ID message's answer fields."""
        if not params.get("appUpIdentifier"):
            return {"respCode": "30", "respMsg": "缺少appUpIdentifier"}
        given = self._codes.pop(params.get("userAuthCode", ""), None)
        if given is None or time.monotonic() > given[1]:
            return {"respCode": REFUSED_CODE, "respMsg": "用户授权码无效"}
        self.app_ups.append(params["appUpIdentifier"])
        return {"respCode": "00", "respMsg": "成功", "userId": given[0]}

    async def _cashier(self, request: web.Request) -> web.Response:
        order = self._sandbox.ledger.orders.get(request.query.get("orderNo", ""))
        if order is None or not order.user_id:
            return _page("<p>订单不存在</p>", status=404)
        if user_id_of(request.cookies.get(PAYER_COOKIE) or DEFAULT_PAYER) != order.user_id:
            self.refusals.append("another payer")
            return _page("<p>付款人与订单不符，不能付款</p>", status=403)
        back = html.escape(order.front_url)
        return _page(f'<p class="amount">¥{order.amount_fen // 100}.{order.amount_fen % 100:02d}</p>'
                     f'<form method="post"><input type="hidden" name="orderNo" value="{html.escape(order.order_no)}">'
                     f'<button type="submit">确认付款</button></form><p><a href="{back}">取消</a></p>')

    async def _confirm(self, request: web.Request) -> web.Response:
        form = await request.post()
        order = self._sandbox.ledger.orders.get(str(form.get("orderNo", "")))
        if order is None or user_id_of(request.cookies.get(PAYER_COOKIE) or DEFAULT_PAYER) != order.user_id:
            return _page("<p>付款人与订单不符，不能付款</p>", status=403)
        if not self._sandbox.pay_c2b(order.order_no):
            self.refusals.append("closed")
            return _page("<p>支付失败：订单已关闭或已支付</p>", status=409)
        self.paid.append(order.order_no)
        await self.send_notify(order.order_no)
        raise web.HTTPSeeOther(order.front_url)

    def notice(self, order_no: str, *, paid: bool = True, key=None, amount_fen: int | None = None) -> bytes:
        """The signed notification of an order as UnionPay POSTs it to backUrl; `paid` False, `key` (another
        signing key) and `amount_fen` make the ones a test needs that UnionPay would never send."""
        order = self._sandbox.ledger.orders[order_no]
        fields = {"version": protocol.VERSION, "acqCode": self._sandbox.acq_code, "reqType": protocol.JS_ORDER,
                  "merId": order.merchant or self._sandbox.mer_id, "orderNo": order.order_no,
                  "orderTime": order.order_time, "txnAmt": str(amount_fen or order.amount_fen),
                  "currencyCode": protocol.CURRENCY_CNY, "respCode": "00" if paid else "05",
                  "respMsg": "成功" if paid else "处理中", "voucherNum": order.voucher_num or "0000000000",
                  "notifyId": secrets.token_hex(8)}
        signed = signing.sign(fields, key or self._sandbox.unionpay_key, self._sandbox.unionpay_cert_id)
        return urllib.parse.urlencode(signed).encode()

    async def send_notify(self, order_no: str) -> None:
        order = self._sandbox.ledger.orders.get(order_no)
        if order is None or not order.back_url:
            return
        body = self.notice(order_no)
        self.sent_notices.append(body)
        try:
            async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as session:
                async with session.post(order.back_url, data=body, headers={
                        "Content-Type": "application/x-www-form-urlencoded; charset=utf-8"}) as resp:
                    self.notifications.append((order_no, resp.status))
        except aiohttp.ClientError:
            self.notifications.append((order_no, 0))


def _page(body: str, status: int = 200) -> web.Response:
    text = ('<!doctype html><html lang="zh-CN"><head><meta charset="utf-8">'
            '<meta name="viewport" content="width=device-width,initial-scale=1"><title>云闪付收银台</title>'
            '<style>body{font-family:sans-serif;text-align:center;padding:2em}.amount{font-size:2.5em}'
            'button{font-size:1.2em;padding:.6em 3em}</style></head>'
            f'<body><h1>云闪付收银台（沙箱）</h1>{body}</body></html>')
    return web.Response(text=text, content_type="text/html", status=status)
