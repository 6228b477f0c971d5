"""The payer's app, simulated on each channel sandbox: who the payer is, and the in-app confirm.

A real wallet app identifies its user to the merchant's page by an OAuth-style redirect (WeChat
snsapi_base → openid, Alipay auth_base → buyer_id, UnionPay userAuthCode → userId) and takes the
payment in its own cashier sheet. The sandboxes serve the same steps as plain pages:

    GET  /wallet/authorize?redirect_uri=…&state=…   302 to redirect_uri with code=…&state=…
    GET  /wallet/payer?code=…                       {"payer_id": …} (each code works once)
    GET  /wallet/cashier?trade_no=…&return_url=…    the confirm sheet: amount and a 确认支付 button
    POST /wallet/cashier                            pays the order (the sandbox's pay_c2b), 303 to return_url

The payer is whoever is "logged in to the app": the `sandbox_payer` cookie on the sandbox's host
(tests set it), else "payer1".
"""
from __future__ import annotations

import html
import secrets
from collections.abc import Awaitable, Callable
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from aiohttp import web

PAYER_COOKIE = "sandbox_payer"
DEFAULT_PAYER = "payer1"


class WalletApp:
    def __init__(self, *, title: str, payer_prefix: str, pay_c2b: Callable[[str], bool],
                 amount_of: Callable[[str], int | None],
                 after_pay: Callable[[str], Awaitable[None]] | None = None):
        self.title = title                  # 微信支付, 支付宝, 云闪付
        self.payer_prefix = payer_prefix    # what the channel's payer ids look like: oSbx…, 2088…, up…
        self._pay_c2b = pay_c2b
        self._amount_of = amount_of
        self._after_pay = after_pay     # e.g. the channel's payment notify to the merchant
        self._codes: dict[str, str] = {}
        self.confirmed: list[str] = []      # trade numbers paid through the cashier sheet

    def add_routes(self, app: web.Application) -> None:
        app.router.add_get("/wallet/authorize", self._authorize)
        app.router.add_get("/wallet/payer", self._payer)
        app.router.add_get("/wallet/cashier", self._cashier)
        app.router.add_post("/wallet/cashier", self._confirm)

    def payer_id(self, payer: str) -> str:
        return self.payer_prefix + payer

    async def _authorize(self, request: web.Request) -> web.Response:
        redirect_uri = request.query.get("redirect_uri", "")
        if not redirect_uri.startswith(("http://", "https://")):
            return web.Response(status=400, text="redirect_uri missing")
        code = secrets.token_urlsafe(12)
        self._codes[code] = self.payer_id(request.cookies.get(PAYER_COOKIE) or DEFAULT_PAYER)
        raise web.HTTPFound(_with_query(redirect_uri, code=code, state=request.query.get("state", "")))

    async def _payer(self, request: web.Request) -> web.Response:
        payer_id = self._codes.pop(request.query.get("code", ""), None)
        if payer_id is None:
            return web.json_response({"error": "invalid code"}, status=400)
        return web.json_response({"payer_id": payer_id})

    async def _cashier(self, request: web.Request) -> web.Response:
        trade_no, return_url = request.query.get("trade_no", ""), request.query.get("return_url", "")
        amount_fen = self._amount_of(trade_no)
        if amount_fen is None:
            return _page(self.title, "<p>订单不存在</p>", status=404)
        body = (f'<p class="amount">¥{amount_fen // 100}.{amount_fen % 100:02d}</p>'
                f'<form method="post"><input type="hidden" name="trade_no" value="{html.escape(trade_no)}">'
                f'<input type="hidden" name="return_url" value="{html.escape(return_url)}">'
                f'<button type="submit">确认支付</button></form>')
        return _page(self.title, body)

    async def _confirm(self, request: web.Request) -> web.Response:
        form = await request.post()
        trade_no, return_url = str(form.get("trade_no", "")), str(form.get("return_url", ""))
        if not self._pay_c2b(trade_no):
            return _page(self.title, "<p>支付失败：订单已关闭或已支付</p>", status=409)
        self.confirmed.append(trade_no)
        if self._after_pay is not None:
            await self._after_pay(trade_no)
        if return_url.startswith(("http://", "https://")):
            raise web.HTTPSeeOther(return_url)
        return _page(self.title, "<p>支付成功</p>")


def _with_query(url: str, **params: str) -> str:
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True) + list(params.items())
    return urlunsplit(parts._replace(query=urlencode(query)))


def _page(title: str, body: str, status: int = 200) -> web.Response:
    text = (f'<!doctype html><html lang="zh-CN"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width,initial-scale=1"><title>{title}</title>'
            f'<style>body{{font-family:sans-serif;text-align:center;padding:2em}}.amount{{font-size:2.5em}}'
            f'button{{font-size:1.2em;padding:.6em 3em}}</style></head>'
            f'<body><h1>{title}（沙箱）</h1>{body}</body></html>')
    return web.Response(text=text, content_type="text/html", status=status)
