"""Alipay itself as the payer's phone sees it, on the Alipay sandbox: web authorisation, the auth_code exchange,
the cashier behind AlipayJSBridge tradePay, and the asynchronous notification.

    GET  /oauth2/publicAppAuthorize.htm?app_id&scope=auth_base&redirect_uri&state
                                 302 to redirect_uri?app_id=…&source=alipay_wallet&scope=auth_base&auth_code=…
                                 &state=… (refused: without auth_code)
    gateway alipay.system.oauth.token (grant_type=authorization_code, code)
                                 user_id (or open_id with `open_ids`), access_token…; a bad or used code:
                                 error_response 40002 isv.code-invalid
    POST /wallet/alipay/pay      what the stand-in bridge (bridge_script) sends when the page calls tradePay:
                                 the trade must be the logged-in payer's and still unpaid; then paid, notified

Facts: server/channels/alipay/notify.py and docs/c2b.md. The logged-in payer is the `sandbox_payer` cookie;
`sandbox_oauth=deny` makes the payer refuse.
"""
from __future__ import annotations

import hashlib
import json
import secrets
import time
from typing import TYPE_CHECKING

import aiohttp
from aiohttp import web

from server.channels.alipay import protocol, signing

from .common import china_now
from .wallet_app import DEFAULT_PAYER, DENY_COOKIE, PAYER_COOKIE, with_query

if TYPE_CHECKING:
    from .alipay import AlipaySandbox

_CODE_LIFE_S = 300.0


def user_id_of(payer: str) -> str:
    return "2088" + str(int(hashlib.sha256(payer.encode()).hexdigest(), 16))[:12]


def open_id_of(payer: str, app_id: str) -> str:
    return "0" + hashlib.sha256(f"{app_id}/{payer}".encode()).hexdigest()[:47]


class AlipayWallet:
    def __init__(self, sandbox: AlipaySandbox):
        self._sandbox = sandbox
        self.open_ids = False                           # answer open_id instead of user_id (newer apps)
        self._codes: dict[str, tuple[str, float]] = {}  # auth_code -> (payer, expiry)
        self.paid: list[str] = []                       # out_trade_no paid through tradePay
        self.refusals: list[str] = []
        self.requests: list[dict] = []                  # what pages handed tradePay
        self.notifications: list[tuple[str, str]] = []  # (out_trade_no, the merchant's answer)
        self.sent_notices: list[bytes] = []

    def add_routes(self, app: web.Application) -> None:
        app.router.add_get("/oauth2/publicAppAuthorize.htm", self._authorize)
        app.router.add_post("/wallet/alipay/pay", self._pay)

    def buyer_of(self, payer: str) -> str:
        return open_id_of(payer, self._sandbox.app_id) if self.open_ids else user_id_of(payer)

    async def _authorize(self, request: web.Request) -> web.Response:
        q = request.query
        redirect_uri = q.get("redirect_uri", "")
        if q.get("app_id") != self._sandbox.app_id or q.get("scope") not in ("auth_base", "auth_user") \
                or not redirect_uri.startswith(("http://", "https://")):
            return web.Response(text="参数错误", status=400)
        back = {"app_id": q["app_id"], "source": "alipay_wallet", "scope": q["scope"]}
        if request.cookies.get(DENY_COOKIE) != "deny":
            code = secrets.token_hex(16)
            self._codes[code] = (request.cookies.get(PAYER_COOKIE) or DEFAULT_PAYER, time.monotonic() + _CODE_LIFE_S)
            back["auth_code"] = code
        if q.get("state"):
            back["state"] = q["state"]
        raise web.HTTPFound(with_query(redirect_uri, **back))

    def oauth_token(self, params: dict[str, str]) -> dict | None:
        """alipay.system.oauth.token's answer fields, or None for an error_response (bad code)."""
        if params.get("grant_type") != "authorization_code":
            return None
        given = self._codes.pop(params.get("code", ""), None)
        if given is None or time.monotonic() > given[1]:
            return None
        token = {"access_token": "authbseB" + secrets.token_hex(16), "expires_in": 1296000,
                 "refresh_token": "authbseB" + secrets.token_hex(16), "re_expires_in": 2592000}
        if self.open_ids:
            return {**token, "open_id": open_id_of(given[0], self._sandbox.app_id)}
        return {**token, "user_id": user_id_of(given[0])}

    async def _pay(self, request: web.Request) -> web.Response:
        try:
            sent = json.loads(await request.text())
            payer, trade = str(sent["payer"]), sent["request"]
        except (ValueError, KeyError, TypeError):
            return _bridge_answer("4000")
        self.requests.append(trade)
        order = self._sandbox.order_by_trade_no(trade.get("tradeNO", "") if isinstance(trade, dict) else "")
        if order is None:
            self.refusals.append("no such trade")
            return _bridge_answer("4000", "交易不存在")
        if order.buyer != self.buyer_of(payer):
            self.refusals.append("another buyer")
            return _bridge_answer("4000", "买家与交易不符")
        if not self._sandbox.pay_c2b(order.out_trade_no):
            self.refusals.append("closed")
            return _bridge_answer("4000", "交易已关闭或已支付")
        self.paid.append(order.out_trade_no)
        await self.send_notify(order.out_trade_no)
        return _bridge_answer("9000")

    def notice(self, out_trade_no: str, *, paid: bool = True, key=None, amount_fen: int | None = None) -> bytes:
        """The signed trade_status_sync notification of a trade as Alipay POSTs it; `paid` False, `key` (another
        signing key) and `amount_fen` make the ones a test needs that Alipay would never send."""
        order = self._sandbox.ledger.orders[out_trade_no]
        now = f"{china_now():%Y-%m-%d %H:%M:%S}"
        fields = {"notify_time": now, "notify_type": "trade_status_sync", "notify_id": secrets.token_hex(16),
                  "app_id": self._sandbox.app_id, "charset": "utf-8", "version": "1.0",
                  "trade_no": order.trade_no, "out_trade_no": order.out_trade_no, "buyer_id": order.buyer,
                  "total_amount": protocol.yuan_of(amount_fen or order.amount_fen),
                  "receipt_amount": protocol.yuan_of(amount_fen or order.amount_fen),
                  "trade_status": "TRADE_SUCCESS" if paid else "WAIT_BUYER_PAY", "subject": order.subject,
                  "gmt_create": now, "gmt_payment": now}
        fields = {k: v for k, v in fields.items() if v}
        fields["sign"] = signing.sign(fields, key or self._sandbox.alipay_key)
        fields["sign_type"] = "RSA2"
        return "&".join(f"{k}={_quote(v)}" for k, v in fields.items()).encode()

    async def send_notify(self, out_trade_no: str) -> None:
        order = self._sandbox.ledger.orders.get(out_trade_no)
        if order is None or not order.notify_url:
            return
        body = self.notice(out_trade_no)
        self.sent_notices.append(body)
        try:
            async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as session:
                async with session.post(order.notify_url, data=body, headers={
                        "Content-Type": "application/x-www-form-urlencoded; charset=utf-8"}) as resp:
                    self.notifications.append((out_trade_no, (await resp.text()).strip()))
        except aiohttp.ClientError:
            self.notifications.append((out_trade_no, "no answer"))


def bridge_script(base_url: str, payer: str = DEFAULT_PAYER, answer: str = "pay") -> str:
    """A stand-in for the Alipay app's AlipayJSBridge, for Playwright's add_init_script: tradePay sends the trade
    number to the sandbox, which pays it when it is the logged-in payer's (resultCode 9000, else 4000), or the
    payer closes the cashier (answer "cancel": 6001)."""
    return """(() => {
  const sandbox = %s, payer = %s, answer = %s;
  window.AlipayJSBridge = {
    call(name, params, callback) {
      const done = (res) => setTimeout(() => callback && callback(res), 0);
      if (name !== 'tradePay') return done({error: 1, errorMessage: 'not available'});
      if (answer === 'cancel') return done({resultCode: '6001'});
      fetch(sandbox + '/wallet/alipay/pay', {method: 'POST', headers: {'Content-Type': 'text/plain'},
                                             body: JSON.stringify({payer, request: params})})
        .then((r) => r.json()).then(done, () => done({resultCode: '6002'}));
    },
  };
})();""" % (json.dumps(base_url), json.dumps(payer), json.dumps(answer))


def _quote(value: str) -> str:
    from urllib.parse import quote
    return quote(value, safe="")


def _bridge_answer(result_code: str, memo: str = "") -> web.Response:
    return web.json_response({"resultCode": result_code, "memo": memo}, headers={"Access-Control-Allow-Origin": "*"})
