"""The C2B landing page: what a payer's phone opens from a one-time code or the shop's static code.

    GET  /c/<token>           one-time code: the wallet app (User-Agent, c2b.wallets) is sent to its web
                              authorisation (WeChat snsapi_base, Alipay auth_base, UnionPay userAuth) and comes
                              back here with ?auth=<nonce>&<its one-time code>; the server learns the payer's id
                              from the channel, makes the in-app order (WeChat JSAPI unifiedorder, Alipay
                              trade.create, UnionPay's order for that user) and answers the page that opens the
                              app's payment sheet (templates_c2b/pay_<channel>.html)
    GET  /c/<token>/done      back from the payment sheet: asks the channel at once, shows the result
    GET  /c/s/<code_id>       the shop's static code (server/static_codes.py): the payer types the amount
    POST /c/s/<code_id>       makes a one-time order for that amount and continues as above
    POST /n/<channel>         the channel's payment notification (wechat, alipay, unionpay): checked, kept as an
                              order event, answered as the channel expects; then the order is queried, and only
                              the query's answer changes it (the resolver's queries are the fallback)

This module parses requests and renders pages (templates_c2b/); the order's lifecycle (engaging it to a channel
and payer, the in-app order, notifications, queries) is the payments layer's (server/payments.py).

Any other browser gets a page naming the apps that can pay. A static-code payment is held to the PBoC
296 level-D limit (device_api.static_code_max_fen per payer, per channel, per China-time day); over it
the payer is asked for a one-time code. Expired codes are closed at the channel by the resolver.
The payer's flow in each app, with sources: docs/c2b.md.
"""
from __future__ import annotations

import hmac
import logging
import secrets
from pathlib import Path

import jinja2
from aiohttp import web

from .. import params, static_codes
from ..c2b import fen_of_yuan, wallet_for, yuan_text
from ..channels import AuthCodeInvalid, AuthDeclined, AuthUnavailable, Channel, SubMerchant
from ..channels.registry import ADAPTERS
from ..clock import now_ms
from ..device_auth import DEVICE_ID
from ..device_messages import QrRequest
from ..keys import CHANNELS, PAYMENTS, SETTINGS, STORAGE
from ..merchant_channels import ChannelNotOpen
from ..payments import (DailyLimitExceeded, EngagedElsewhere, MerchantNotActive, OtherPayersOrder,
                        StaticLimitReached)
from ..settings import WalletRule
from ..storage import CLOSED, FAILED, REFUNDED, SUCCESS, Order

log = logging.getLogger(__name__)

# The nonce that ties a wallet's answer to the phone that was sent to ask (OAuth's state), as a query parameter
# of our redirect_uri (UnionPay's userAuth has no state parameter) and a cookie.
_AUTH_PARAM = "auth"
_AUTH_COOKIE = "c2b_auth"
_AUTH_COOKIE_S = 600
_QUERY_VALUE_MAX = 512
# What the wallets call the one-time code they come back with (WeChat, Alipay, UnionPay).
_WALLET_CODES = frozenset({"code", "auth_code", "userAuthCode"})
_NOTICE_PATH = "/n/{channel}"
_NOTICE_MAX = 65536

_TEMPLATES = jinja2.Environment(loader=jinja2.FileSystemLoader(str(Path(__file__).resolve().parent.parent
                                                                   / "templates_c2b")),
                                autoescape=True, undefined=jinja2.StrictUndefined)


def setup(app: web.Application) -> None:
    app.router.add_get("/c/s/{code_id}", static_code)
    app.router.add_post("/c/s/{code_id}", static_code_amount)
    app.router.add_get("/c/{token}", one_time_code)
    app.router.add_get("/c/{token}/done", returned)
    for channel in ADAPTERS:
        app.router.add_post(_NOTICE_PATH.format(channel=channel), payment_notice)


# one-time codes

async def _order_of_token(request: web.Request) -> Order | None:
    # A token no code can carry (secrets.token_urlsafe: A-Z a-z 0-9 _ -) is an unknown code, unasked.
    token = request.match_info["token"]
    return await request.app[STORAGE].get_order_by_qr_token(token) if params.fits(token, params.ID) else None


async def one_time_code(request: web.Request) -> web.Response:
    order = await _order_of_token(request)
    if order is None:
        return _message("二维码无效", "找不到这个收款码。请向收银员索取新的收款码。", status=404)
    finished = _finished_page(order)
    if finished is not None:
        return finished
    wallet = _wallet(request)
    if wallet is None:
        return _which_apps(request, order.amount_fen)
    if order.channel and order.channel != wallet.channel:
        return _message("请用原应用付款", f"这个收款码已在{_name_of(request, order.channel)}中打开，"
                        "请用同一个应用完成付款，或向收银员索取新的收款码。", status=409)
    channel = request.app[CHANNELS][wallet.channel]
    merchant = await _merchant_of(request, order, wallet, channel)
    if isinstance(merchant, web.Response):
        return merchant
    nonce = request.query.get(_AUTH_PARAM)
    if nonce is None and not _WALLET_CODES.isdisjoint(request.query):
        # A wallet's code with no nonce of ours: a forwarded or stale link. The payer scans again.
        return _scan_again()
    if nonce is None:
        # Step 1: the app tells us who the payer is (its web authorisation, back here with a one-time code).
        # The nonce ties the answer to this phone (OAuth's state): a link carrying someone else's code fails.
        nonce = secrets.token_hex(16)
        back = _public(request, f"/c/{order.qr_token}?{_AUTH_PARAM}={nonce}")
        found = web.HTTPFound(channel.authorize_url(back, nonce, merchant))
        found.set_cookie(_AUTH_COOKIE, nonce, path="/c/", max_age=_AUTH_COOKIE_S, httponly=True, samesite="Lax",
                         secure=back.startswith("https://"))
        raise found
    if not hmac.compare_digest(nonce.encode("utf-8", "replace"),
                               request.cookies.get(_AUTH_COOKIE, "").encode("utf-8", "replace")) \
            or any(len(v) > _QUERY_VALUE_MAX for v in request.query.values()):
        return _scan_again()
    try:
        payer = await channel.identify_payer(request.query, merchant, request.headers.get("User-Agent", ""))
    except AuthDeclined:
        app = wallet.name or wallet.channel
        return _message("您已取消授权", f"需要您在{app}中确认身份后才能付款，这不会公开您的任何信息。",
                        f"如需付款，请重新扫码，并在{app}询问时选择“允许”。", status=403)
    except AuthCodeInvalid:
        return _scan_again()
    except AuthUnavailable as e:
        log.warning("payer look-up at %s failed: %s", wallet.channel, e)
        return _message("暂时无法付款", "无法确认付款人身份，请稍后重新扫码，或请收银员扫您的付款码。", status=502)
    try:
        result = await request.app[PAYMENTS].open_in_app(
            order, channel, payer, merchant, client_ip=request.remote,
            notify_url=_public(request, _NOTICE_PATH.format(channel=wallet.channel)),
            return_url=_public(request, f"/c/{order.qr_token}/done"))
    except OtherPayersOrder:
        return _message("请重新扫码", "这笔付款属于另一位付款人。请扫描商家的收款码重新输入金额。", status=409)
    except StaticLimitReached:
        return _static_limit_page(request, wallet)
    except EngagedElsewhere as e:
        return (_finished_page(e.order) if e.order is not None else None) or _message(
            "请用原应用付款", "这个收款码已在其他应用中打开，请用同一个应用完成付款。", status=409)
    if not result.ok:
        return _message("暂时无法付款", "支付渠道暂时不可用，请稍后重新扫码，或请收银员扫您的付款码。", status=502)
    # The page that runs inside the wallet app and opens its payment sheet (templates_c2b/pay_<channel>.html).
    return _render(f"pay_{wallet.channel}.html", title=f"{wallet.name or wallet.channel}付款",
                   amount=yuan_text(order.amount_fen), pay_params=dict(result.pay_params),
                   done_url=f"/c/{order.qr_token}/done")


async def _merchant_of(request: web.Request, order: Order, wallet: WalletRule,
                       channel: Channel) -> SubMerchant | None | web.Response:
    """Whose money the order moves at this channel (None: the acquirer's own account), or the page saying
    the shop does not take this wallet."""
    try:
        return await request.app[PAYMENTS].in_app_merchant(order, channel)
    except ChannelNotOpen:
        # Nothing engaged: the payer can still use another app.
        return _message("本店暂不支持此付款方式", f"这家店暂不支持{wallet.name or wallet.channel}付款，"
                        "请换用其他付款应用扫码，或请收银员扫您的付款码。", status=403)


async def returned(request: web.Request) -> web.Response:
    order = await _order_of_token(request)
    if order is None:
        return _message("二维码无效", "找不到这个收款码。", status=404)
    order = await request.app[PAYMENTS].ask_now(order)
    finished = _finished_page(order)
    if finished is not None:
        return finished
    # Not paid (yet): the payer may have left the app's payment sheet; they can go back to it from here.
    return _render("confirming.html", title="正在确认付款", amount=yuan_text(order.amount_fen),
                   lines=["正在向支付渠道确认，请稍候……"], pay_url=f"/c/{order.qr_token}", refresh_s=2)


async def payment_notice(request: web.Request) -> web.Response:
    """A channel's payment notification, handed to the payments layer; answered as the channel expects."""
    channel = request.app[CHANNELS].get(request.path.rsplit("/", 1)[-1])
    if channel is None:
        raise web.HTTPNotFound()
    body = await request.content.read(_NOTICE_MAX)
    said = await request.app[PAYMENTS].take_notice(channel, body, request.content_type)
    return web.Response(body=said.body, content_type=said.content_type, status=said.status)


# the static code

# What the payer of a code that takes no money reads (static_codes.payee says why), and the HTTP status.
_NO_PAYEE = {
    static_codes.UNKNOWN: ("二维码无效", "找不到这个收款码。请向收银员询问付款方式。", 404),
    static_codes.NOT_BOUND: ("收款码尚未启用", "这个收款码还没有开通收款，请不要付款，并向收银员询问付款方式。", 404),
    static_codes.DEREGISTERED: ("收款码已停用", "这个收款码已停用，不能再付款。请向收银员询问付款方式。", 410),
    static_codes.MERCHANT_GONE: ("商户已停止收款", "这家商户已停止使用这个收款码，请不要付款。", 410),
    static_codes.MERCHANT_OFF: ("暂停收款", "本店暂停收款，请向收银员询问其他付款方式。", 403),
    static_codes.NO_DEVICE: ("暂停收款", "本店的收款设备暂时不可用，请收银员扫您的付款码。", 503),
}


async def static_code(request: web.Request) -> web.Response:
    payee = await _static_payee(request)
    if not isinstance(payee, static_codes.Payee):
        return _no_payee(payee)
    if _wallet(request) is None:
        return _which_apps(request, None)
    return _amount_form(payee)


async def static_code_amount(request: web.Request) -> web.Response:
    payee = await _static_payee(request)
    if not isinstance(payee, static_codes.Payee):
        return _no_payee(payee)
    wallet = _wallet(request)
    if wallet is None:
        return _which_apps(request, None)
    api = request.app[SETTINGS].device_api
    form = await request.post()
    amount_fen = fen_of_yuan(str(form.get("amount", "")))
    if amount_fen is None or amount_fen < api.min_amount_fen:
        return _amount_form(payee, error="请输入正确的金额，例如 12.50", status=400)
    if amount_fen > api.static_code_max_fen:
        return _static_limit_page(request, wallet)
    order_no = "S" + str(now_ms()) + secrets.token_hex(4)
    try:
        order = await request.app[PAYMENTS].qr(payee.device, QrRequest(order_no=order_no, amount_fen=amount_fen),
                                               static_code=payee.code)
    except DailyLimitExceeded:
        return _message("暂时无法付款", "本店今日收款已达上限，请向收银员询问其他付款方式。", status=403)
    except MerchantNotActive:
        return _no_payee(static_codes.MERCHANT_OFF)
    raise web.HTTPSeeOther(f"/c/{order.qr_token}")


async def _static_payee(request: web.Request) -> static_codes.Payee | str:
    code_id = request.match_info["code_id"]
    if not request.app[SETTINGS].c2b.static_code_enabled or not params.fits(code_id, DEVICE_ID):
        return static_codes.UNKNOWN
    return await static_codes.payee(request.app[STORAGE], code_id)


def _no_payee(reason: str) -> web.Response:
    title, text, status = _NO_PAYEE[reason]
    return _message(title, text, status=status)


# pieces

def _wallet(request: web.Request) -> WalletRule | None:
    return wallet_for(request.headers.get("User-Agent", ""), request.app[SETTINGS].c2b.wallets,
                      request.app[CHANNELS])


def _name_of(request: web.Request, channel: str) -> str:
    return next((w.name or w.channel for w in request.app[SETTINGS].c2b.wallets if w.channel == channel), channel)


def _public(request: web.Request, path: str) -> str:
    return request.app[SETTINGS].device_api.public_url.rstrip("/") + path


def _finished_page(order: Order) -> web.Response | None:
    amount_fen = order.amount_fen
    if order.status in (SUCCESS, REFUNDED):
        return _message("支付成功", "这个收款码已付款，无需再付。", amount_fen=amount_fen)
    if order.status in (CLOSED, FAILED):
        return _message("二维码已失效", "这个收款码已关闭，不能再付款。请向收银员索取新的收款码。", amount_fen=amount_fen,
                        status=410)
    if now_ms() >= order.deadline_at:
        return _message("二维码已过期", "这个收款码已过期。请向收银员索取新的收款码。", amount_fen=amount_fen, status=410)
    return None


def _scan_again() -> web.Response:
    return _message("请重新扫码", "付款人身份确认已失效，请重新扫码。", status=400)


def _which_apps(request: web.Request, amount_fen: int | None) -> web.Response:
    active = request.app[CHANNELS]
    names = [w.name or w.channel for w in request.app[SETTINGS].c2b.wallets if w.channel in active]
    return _render("which_apps.html", title="请用支付应用扫码", lines=[], apps=list(dict.fromkeys(names)),
                   amount=yuan_text(amount_fen) if amount_fen is not None else None)


def _static_limit_page(request: web.Request, wallet: WalletRule) -> web.Response:
    return _render("static_limit.html", title="超出静态码限额", status=403,
                   limit=yuan_text(request.app[SETTINGS].device_api.static_code_max_fen),
                   wallet=wallet.name or wallet.channel)


def _amount_form(payee: static_codes.Payee, *, error: str = "", status: int = 200) -> web.Response:
    # The name payers know the shop by, and which of its stores (a chain's branches share the name).
    shop = payee.merchant_name if payee.store_name in ("", payee.merchant_name) else \
        f"{payee.merchant_name}（{payee.store_name}）"
    return _render("amount_form.html", title=f"向{shop}付款", error=error, status=status)


def _render(template: str, *, status: int = 200, **values) -> web.Response:
    values.setdefault("refresh_s", None)
    text = _TEMPLATES.get_template(template).render(**values)
    return web.Response(text=text, content_type="text/html", status=status, headers={"Cache-Control": "no-store"})


def _message(title: str, *lines: str, amount_fen: int | None = None, status: int = 200) -> web.Response:
    """A page of plain sentences (templates_c2b/message.html), each escaped there."""
    return _render("message.html", status=status, title=title, lines=lines,
                   amount=yuan_text(amount_fen) if amount_fen is not None else None)
