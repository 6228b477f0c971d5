"""WeChat itself as the payer's phone sees it, on the WeChat Pay sandbox: web authorisation and the in-app
payment sheet behind WeixinJSBridge.

    GET  /connect/oauth2/authorize?appid&redirect_uri&response_type=code&scope=snsapi_base&state
                                   302 to redirect_uri?code=…&state=… (refused: ?state=… alone)
    GET  /sns/oauth2/access_token?appid&secret&code&grant_type=authorization_code
                                   {"access_token", "expires_in", "refresh_token", "openid", "scope"} or
                                   {"errcode", "errmsg"} (40029 invalid code, 40163 code been used, 40125 secret)
    POST /wallet/wechat/pay        what the stand-in bridge (bridge_script) sends when the page calls
                                   getBrandWCPayRequest: checks it as WeChat does and pays the order

Facts: server/channels/wechat/oauth.py and docs/c2b.md. The logged-in payer is the `sandbox_payer` cookie
(wallet_app.PAYER_COOKIE); a `sandbox_oauth=deny` cookie makes the payer refuse the authorisation.
Openids differ per app, as WeChat's do: `openid_of(payer, appid)`.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from typing import TYPE_CHECKING

from aiohttp import web

from server.channels.wechat import signing

from .wallet_app import DEFAULT_PAYER, DENY_COOKIE, PAYER_COOKIE, with_query

if TYPE_CHECKING:
    from .wechat import WeChatSandbox

_CODE_LIFE_S = 300.0
_PAY_KEYS = {"appId", "timeStamp", "nonceStr", "package", "signType", "paySign"}


def openid_of(payer: str, appid: str) -> str:
    """A payer's openid under one app: 28 characters, different in every app."""
    digest = hashlib.sha256(f"{appid}/{payer}".encode()).digest()
    return "o" + base64.urlsafe_b64encode(digest).decode()[:27]


def app_secret_of(appid: str) -> str:
    """The AppSecret the sandbox gives a shop's own official account (sub_appid)."""
    return hashlib.md5(f"sandbox-secret/{appid}".encode()).hexdigest()


class WeChatWallet:
    def __init__(self, sandbox: WeChatSandbox, app_secret: str):
        self._sandbox = sandbox
        self.app_secrets: dict[str, str] = {sandbox.appid: app_secret}
        self._codes: dict[str, tuple[str, str, float]] = {}    # code -> (appid, openid, expiry)
        self._used: set[str] = set()
        self.paid: list[str] = []                              # out_trade_no paid through the bridge
        self.refusals: list[str] = []                          # why the bridge refused a payment
        self.requests: list[dict] = []                         # what pages handed getBrandWCPayRequest

    def add_app(self, appid: str, secret: str | None = None) -> str:
        self.app_secrets[appid] = secret or app_secret_of(appid)
        return self.app_secrets[appid]

    def add_routes(self, app: web.Application) -> None:
        app.router.add_get("/connect/oauth2/authorize", self._authorize)
        app.router.add_get("/sns/oauth2/access_token", self._access_token)
        app.router.add_post("/wallet/wechat/pay", self._pay)

    async def _authorize(self, request: web.Request) -> web.Response:
        q = request.query
        redirect_uri = q.get("redirect_uri", "")
        if q.get("appid") not in self.app_secrets or q.get("response_type") != "code" \
                or q.get("scope") not in ("snsapi_base", "snsapi_userinfo") \
                or not redirect_uri.startswith(("http://", "https://")):
            return _page("该链接无法访问，请检查参数是否填写错误。", status=400)
        if request.cookies.get(DENY_COOKIE) == "deny":
            raise web.HTTPFound(with_query(redirect_uri, state=q.get("state", "")))
        payer = request.cookies.get(PAYER_COOKIE) or DEFAULT_PAYER
        code = secrets.token_hex(16)
        self._codes[code] = (q["appid"], openid_of(payer, q["appid"]), time.monotonic() + _CODE_LIFE_S)
        raise web.HTTPFound(with_query(redirect_uri, code=code, state=q.get("state", "")))

    async def _access_token(self, request: web.Request) -> web.Response:
        q = request.query
        if q.get("grant_type") != "authorization_code":
            return _json({"errcode": 40002, "errmsg": "invalid grant_type"})
        appid = q.get("appid", "")
        if appid not in self.app_secrets:
            return _json({"errcode": 40013, "errmsg": "invalid appid"})
        if q.get("secret") != self.app_secrets[appid]:
            return _json({"errcode": 40125, "errmsg": "invalid appsecret"})
        code = q.get("code", "")
        if code in self._used:
            return _json({"errcode": 40163, "errmsg": "code been used"})
        given = self._codes.pop(code, None)
        if given is None or given[0] != appid or time.monotonic() > given[2]:
            return _json({"errcode": 40029, "errmsg": "invalid code"})
        self._used.add(code)
        return _json({"access_token": secrets.token_hex(20), "expires_in": 7200,
                      "refresh_token": secrets.token_hex(20), "openid": given[1], "scope": "snsapi_base"})

    async def _pay(self, request: web.Request) -> web.Response:
        try:
            sent = json.loads(await request.text())
            payer, params = str(sent["payer"]), sent["request"]
        except (ValueError, KeyError, TypeError):
            return _bridge_answer("fail", "参数错误")
        self.requests.append(params)
        refusal = self._refusal(payer, params)
        if refusal:
            self.refusals.append(refusal)
            return _bridge_answer("fail", refusal)
        trade_no = self._sandbox.order_of_prepay(params["package"].removeprefix("prepay_id="))
        if not self._sandbox.pay_c2b(trade_no):
            self.refusals.append("closed")
            return _bridge_answer("fail", "订单已关闭或已支付")
        self.paid.append(trade_no)
        await self._sandbox.send_notify(trade_no)
        return _bridge_answer("ok")

    def _refusal(self, payer: str, params: object) -> str:
        """Why WeChat would not open its payment sheet for these parameters ("" : it would)."""
        if not isinstance(params, dict) or set(params) != _PAY_KEYS or \
                not all(isinstance(v, str) for v in params.values()):
            return "调用支付JSAPI缺少参数"
        # paySign: appId, timeStamp, nonceStr, package and signType signed like any v2 request, with the
        # merchant's (the service provider's) API key.
        signed = {k: v for k, v in params.items() if k != "paySign"}
        if params["signType"] not in (signing.MD5, signing.HMAC_SHA256) or not hmac.compare_digest(
                params["paySign"], signing.sign(signed, self._sandbox.api_key, params["signType"])):
            return "支付验证签名失败"
        order = self._sandbox.order_by_prepay(params["package"].removeprefix("prepay_id="))
        if not params["package"].startswith("prepay_id=") or order is None:
            return "prepay_id无效"
        # appId must be the app the order's payer was named under (sp appid with openid, sub_appid with
        # sub_openid), and the payer at the phone must be that very payer.
        if params["appId"] != order.payer_appid:
            return "请求的appid与下单接口的appid不一致"
        if openid_of(payer, params["appId"]) != order.openid:
            return "下单账号与支付账号不一致"
        return ""


def bridge_script(base_url: str, payer: str = DEFAULT_PAYER, answer: str = "pay") -> str:
    """A stand-in for WeChat's WeixinJSBridge, for Playwright's add_init_script: getBrandWCPayRequest sends the
    page's parameters to the sandbox, which checks them as WeChat does and pays (answer "pay"), or the payer
    closes the sheet (answer "cancel")."""
    return """(() => {
  const sandbox = %s, payer = %s, answer = %s;
  window.__walletCalls = [];
  window.WeixinJSBridge = {
    invoke(name, params, callback) {
      window.__walletCalls.push({name, params});
      const done = (res) => setTimeout(() => callback(res), 0);
      if (name !== 'getBrandWCPayRequest') return done({err_msg: name + ':fail'});
      if (answer === 'cancel') return done({err_msg: 'get_brand_wcpay_request:cancel'});
      fetch(sandbox + '/wallet/wechat/pay', {method: 'POST', headers: {'Content-Type': 'text/plain'},
                                             body: JSON.stringify({payer, request: params})})
        .then((r) => r.json()).then(done, () => done({err_msg: 'get_brand_wcpay_request:fail'}));
    },
  };
})();""" % (json.dumps(base_url), json.dumps(payer), json.dumps(answer))


def _bridge_answer(result: str, desc: str = "") -> web.Response:
    body = {"err_msg": f"get_brand_wcpay_request:{result}"}
    if desc:
        body["err_desc"] = desc
    return web.json_response(body, headers={"Access-Control-Allow-Origin": "*"})


def _json(body: dict) -> web.Response:
    # WeChat's sns answers are JSON sent as text/plain.
    return web.Response(text=json.dumps(body), content_type="text/plain", charset="utf-8")


def _page(text: str, status: int = 200) -> web.Response:
    return web.Response(text=f'<!doctype html><html lang="zh-CN"><meta charset="utf-8"><p>{text}</p></html>',
                        content_type="text/html", status=status)
