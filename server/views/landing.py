"""The C2B landing page: what a payer's phone opens from a one-time code or the shop's static code.

    GET  /c/<token>           one-time code: the wallet app (User-Agent, c2b.wallets) is sent to learn
                              the payer's id, then the channel's in-app payment starts (precreate)
    GET  /c/<token>/done      back from the app's cashier: asks the channel at once, shows the result
    GET  /c/s/<code_id>       the shop's static code (server/static_codes.py): the payer types the amount
    POST /c/s/<code_id>       makes a one-time order for that amount and continues as above
    POST /n/wechat            WeChat's payment result notification (signed XML): checked, then the
                              order is queried and settled (the resolver's queries are the fallback)

Any other browser gets a page naming the apps that can pay. A static-code payment is held to the PBoC
296 level-D limit (device_api.static_code_max_fen per payer, per channel, per China-time day); over it
the payer is asked for a one-time code. Expired codes are closed at the channel by the resolver.
"""
from __future__ import annotations

import html
import logging
import re
import secrets
from collections.abc import AsyncIterator
from urllib.parse import urlencode

import aiohttp
from aiohttp import web

from .. import params, static_codes
from ..c2b import fen_of_yuan, wallet_for, yuan_text
from ..channels import PrecreateCommand, TradeType
from ..channels.wechat.notify import NotifyRefused, notify_answer, parse_notify
from ..clock import ms, now_ms
from ..device_auth import DEVICE_ID
from ..device_messages import CloseRequest, QrRequest
from ..keys import CHANNELS, LANDING_SESSION, PAYMENTS, SETTINGS, STORAGE
from ..merchant_channels import ChannelNotOpen
from ..payments import DailyLimitExceeded, MerchantNotActive
from ..settings import WalletRule
from ..storage import CLOSED, FAILED, PAYING, REFUNDED, SUCCESS, Order

log = logging.getLogger(__name__)

_PAYER_LOOKUP_S = 5.0
# Channels whose app pays from our page with the payer's id (WeChat JSAPI, Alipay trade.create); UnionPay
# apps pay the C2B code itself.
_IN_APP = {"wechat": TradeType.JSAPI, "alipay": TradeType.JSAPI}
# Channels whose payment notifications we take (the others are learnt by query only).
_NOTIFY = {"wechat": "/n/wechat"}
# The wallet's one-time code for the payer's id (?code=): OAuth codes are short printable ASCII.
_WALLET_CODE = re.compile(r"[\x21-\x7e]{1,256}", re.ASCII)


class PayerCodeRefused(Exception):
    """The ?code= is not one the wallet gave (or it was used already): the payer scans again."""


def setup(app: web.Application) -> None:
    app.router.add_get("/c/s/{code_id}", static_code)
    app.router.add_post("/c/s/{code_id}", static_code_amount)
    app.router.add_get("/c/{token}", one_time_code)
    app.router.add_get("/c/{token}/done", returned)
    app.router.add_post("/n/wechat", wechat_notify)
    app.cleanup_ctx.append(_session_ctx)


async def _session_ctx(app: web.Application) -> AsyncIterator[None]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=_PAYER_LOOKUP_S)) as session:
        app[LANDING_SESSION] = session
        yield


# one-time codes

async def _order_of_token(request: web.Request) -> Order | None:
    # A token no code can carry (secrets.token_urlsafe: A-Z a-z 0-9 _ -) is an unknown code, unasked.
    token = request.match_info["token"]
    return await request.app[STORAGE].get_order_by_qr_token(token) if params.fits(token, params.ID) else None


async def one_time_code(request: web.Request) -> web.Response:
    order = await _order_of_token(request)
    if order is None:
        return _page("二维码无效", "<p>找不到这个收款码。请向收银员索取新的收款码。</p>", status=404)
    finished = _finished_page(order)
    if finished is not None:
        return finished
    wallet = _wallet(request)
    if wallet is None:
        return _which_apps(request, order.amount_fen)
    if order.channel and order.channel != wallet.channel:
        return _page("请用原应用付款", f"<p>这个收款码已在{html.escape(_name_of(request, order.channel))}中打开，"
                     "请用同一个应用完成付款，或向收银员索取新的收款码。</p>", status=409)
    code = request.query.get("code")
    if not code:
        # Step 1: the app tells us who the payer is (OAuth-style redirect back here with ?code=).
        raise web.HTTPFound(_url(_wallet_url(request, wallet, "authorize"),
                                 redirect_uri=_public(request, f"/c/{order.qr_token}"), state=wallet.channel))
    try:
        payer_id = await _payer_id(request, wallet, code)
    except PayerCodeRefused:
        return _page("请重新扫码", "<p>付款人身份确认已失效，请重新扫码。</p>", status=400)
    if payer_id is None:
        return _page("暂时无法付款", "<p>无法确认付款人身份，请重新扫码。</p>", status=502)
    if order.static_code and order.payer_id and order.payer_id != payer_id:
        # A static-code order counts against its payer's limit: nobody else pays it.
        return _page("请重新扫码", "<p>这笔付款属于另一位付款人。请扫描商家的收款码重新输入金额。</p>", status=409)
    return await _start_payment(request, order, wallet, payer_id)


async def _start_payment(request: web.Request, order: Order, wallet: WalletRule, payer_id: str) -> web.Response:
    storage, settings, payments = request.app[STORAGE], request.app[SETTINGS], request.app[PAYMENTS]
    channel = request.app[CHANNELS][wallet.channel]
    try:
        merchant = await payments.identity(order.merchant_id or "", channel)
    except ChannelNotOpen:
        if not order.channel:
            # The shop does not take this wallet: nothing engaged, the payer can still use another app.
            return _page("本店暂不支持此付款方式", f"<p>这家店暂不支持{html.escape(wallet.name or wallet.channel)}付款，"
                         "请换用其他付款应用扫码，或请收银员扫您的付款码。</p>", status=403)
        merchant = payments.sub_merchant(order)
    if order.channel and order.channel_account != (merchant.account_id if merchant else None):
        merchant = payments.sub_merchant(order)      # engaged under an account the merchant has since changed
    if not order.channel:
        limit = settings.device_api.static_code_max_fen if order.static_code else None
        if not await storage.engage_c2b_order(order.id, wallet.channel, payer_id, static_max_fen=limit,
                                              channel_account=merchant.account_id if merchant else None):
            fresh = await storage.get_order_by_id(order.id)
            if fresh is not None and fresh.status == PAYING and not fresh.channel and order.static_code:
                log.info("static code %s: payer %s over the %s limit", order.trade_no, payer_id[-4:], wallet.channel)
                # Nobody will pay this amount: close it now, giving the merchant's daily allowance back.
                device = await storage.get_device(order.device_id)
                if device is not None:
                    await request.app[PAYMENTS].close(device, CloseRequest(order_no=order.order_no))
                return _static_limit_page(request, wallet)
            # Engaged in another app or finished meanwhile.
            return (_finished_page(fresh) if fresh is not None else None) or _page(
                "请用原应用付款", "<p>这个收款码已在其他应用中打开，请用同一个应用完成付款。</p>", status=409)
        await storage.add_event(order.id, now_ms(), "c2b:opened", f"{wallet.channel} payer …{payer_id[-4:]}")
        # From now on the resolver asks the channel on its schedule (the payer may never come back to us).
        await storage.reschedule_order(order.id, now_ms() + ms(channel.schedule.query_interval_s),
                                       count_attempt=False)
    left_s = max(1, (order.deadline_at - now_ms()) // 1000)
    notify_url = _public(request, _NOTIFY[wallet.channel]) if wallet.channel in _NOTIFY else None
    trade_type = _IN_APP.get(wallet.channel, TradeType.NATIVE)
    result = await channel.precreate(PrecreateCommand(
        trade_no=order.trade_no, amount_fen=order.amount_fen, subject=order.subject, trade_type=trade_type,
        payer_id=payer_id if trade_type == TradeType.JSAPI else None, expire_s=int(left_s),
        client_ip=request.remote, notify_url=notify_url, merchant=merchant))
    if not result.ok:
        log.warning("precreate %s at %s failed: %s", order.trade_no, wallet.channel, result.message)
        return _page("暂时无法付款", "<p>支付渠道暂时不可用，请稍后重新扫码，或请收银员扫您的付款码。</p>", status=502)
    await storage.add_event(order.id, now_ms(), "precreate:ok", wallet.channel, dict(result.raw) or None)
    # The app's cashier sheet (in the sandboxes: the simulated one), which sends the payer back to /done.
    raise web.HTTPSeeOther(_url(_wallet_url(request, wallet, "cashier"), trade_no=order.trade_no,
                                return_url=_public(request, f"/c/{order.qr_token}/done")))


async def returned(request: web.Request) -> web.Response:
    storage = request.app[STORAGE]
    order = await _order_of_token(request)
    if order is None:
        return _page("二维码无效", "<p>找不到这个收款码。</p>", status=404)
    channel = request.app[CHANNELS].get(order.channel)
    if order.status == PAYING and channel is not None:
        # Ask now rather than wait for the resolver: the device's long poll wakes at once.
        payments = request.app[PAYMENTS]
        order = await payments.apply(order, await payments.query_channel(channel, order), source="query")
    finished = _finished_page(order)
    if finished is not None:
        return finished
    return _page("正在确认付款", f"<p class=amount>¥{yuan_text(order.amount_fen)}</p><p>正在向支付渠道确认，请稍候……</p>",
                 refresh_s=2)


async def wechat_notify(request: web.Request) -> web.Response:
    s = request.app[SETTINGS].channels.wechat
    try:
        notify = parse_notify(await request.content.read(16384), appid=s.appid, mch_id=s.mch_id,
                              api_key=s.api_key.reveal())
    except NotifyRefused as e:
        log.warning("wechat notify refused: %s", e)
        return web.Response(body=notify_answer(False, "refused"), content_type="text/xml")
    storage = request.app[STORAGE]
    order = await storage.get_order_by_trade_no(notify.trade_no)
    channel = request.app[CHANNELS].get("wechat")
    if order is None or order.channel != "wechat" or channel is None:
        return web.Response(body=notify_answer(False, "unknown order"), content_type="text/xml")
    await storage.add_event(order.id, now_ms(), "notify:wechat", "paid" if notify.paid else "not paid")
    if order.status == PAYING:
        # The notify is a hint; the order changes on orderquery's answer, as it would from the resolver.
        payments = request.app[PAYMENTS]
        await payments.apply(order, await payments.query_channel(channel, order), source="query")
    return web.Response(body=notify_answer(True), content_type="text/xml")


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
    return _amount_form(request, payee)


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
        return _amount_form(request, payee, error="请输入正确的金额，例如 12.50", status=400)
    if amount_fen > api.static_code_max_fen:
        return _static_limit_page(request, wallet)
    order_no = "S" + str(now_ms()) + secrets.token_hex(4)
    try:
        order = await request.app[PAYMENTS].qr(payee.device, QrRequest(order_no=order_no, amount_fen=amount_fen),
                                               static_code=payee.code)
    except DailyLimitExceeded:
        return _page("暂时无法付款", "<p>本店今日收款已达上限，请向收银员询问其他付款方式。</p>", status=403)
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
    return _page(title, f"<p>{html.escape(text)}</p>", status=status)


# pieces

def _wallet(request: web.Request) -> WalletRule | None:
    return wallet_for(request.headers.get("User-Agent", ""), request.app[SETTINGS].c2b.wallets,
                      request.app[CHANNELS])


def _name_of(request: web.Request, channel: str) -> str:
    return next((w.name or w.channel for w in request.app[SETTINGS].c2b.wallets if w.channel == channel), channel)


def _wallet_url(request: web.Request, wallet: WalletRule, step: str) -> str:
    configured = {"authorize": wallet.authorize_url, "payer": wallet.payer_url, "cashier": wallet.cashier_url}[step]
    if configured:
        return configured
    # Not configured: the channel sandbox's simulated wallet app (hw_sim/sandbox/wallet_app.py).
    base_url = getattr(request.app[SETTINGS].channels, wallet.channel).base_url
    return f"{base_url.rstrip('/')}/wallet/{step}"


async def _payer_id(request: web.Request, wallet: WalletRule, code: str) -> str | None:
    """The payer's id at the wallet; None when the wallet cannot be asked (502), PayerCodeRefused when it
    refuses the code (a 4xx: a code it never gave, or gave and took back)."""
    if not params.fits(code, _WALLET_CODE):
        raise PayerCodeRefused()
    url = _wallet_url(request, wallet, "payer")
    try:
        async with request.app[LANDING_SESSION].get(url, params={"code": code}) as resp:
            if 400 <= resp.status < 500:
                raise PayerCodeRefused()
            answer = await resp.json(content_type=None) if resp.status == 200 else {}
    except (aiohttp.ClientError, TimeoutError, ValueError) as e:
        log.warning("payer look-up at %s failed: %s", wallet.channel, e)
        return None
    payer_id = answer.get("payer_id") if isinstance(answer, dict) else None
    return payer_id if isinstance(payer_id, str) and 0 < len(payer_id) <= 128 else None


def _public(request: web.Request, path: str) -> str:
    return request.app[SETTINGS].device_api.public_url.rstrip("/") + path


def _url(base: str, **params: str) -> str:
    return base + ("&" if "?" in base else "?") + urlencode(params)


def _finished_page(order: Order) -> web.Response | None:
    amount = f"<p class=amount>¥{yuan_text(order.amount_fen)}</p>"
    if order.status in (SUCCESS, REFUNDED):
        return _page("支付成功", f"{amount}<p>这个收款码已付款，无需再付。</p>")
    if order.status in (CLOSED, FAILED):
        return _page("二维码已失效", f"{amount}<p>这个收款码已关闭，不能再付款。请向收银员索取新的收款码。</p>", status=410)
    if now_ms() >= order.deadline_at:
        return _page("二维码已过期", f"{amount}<p>这个收款码已过期。请向收银员索取新的收款码。</p>", status=410)
    return None


def _which_apps(request: web.Request, amount_fen: int | None) -> web.Response:
    active = request.app[CHANNELS]
    names = [w.name or w.channel for w in request.app[SETTINGS].c2b.wallets if w.channel in active]
    apps = "、".join(html.escape(n) for n in dict.fromkeys(names))
    amount = f"<p class=amount>¥{yuan_text(amount_fen)}</p>" if amount_fen is not None else ""
    return _page("请用支付应用扫码", f"{amount}<p>请用以下应用扫描这个收款码付款：</p><p class=apps>{apps}</p>"
                 "<p>普通浏览器无法付款。</p>")


def _static_limit_page(request: web.Request, wallet: WalletRule) -> web.Response:
    limit = yuan_text(request.app[SETTINGS].device_api.static_code_max_fen)
    return _page("超出静态码限额",
                 f"<p>按中国人民银行规定，通过商家静态收款码付款，每人每个支付渠道每天累计不超过 {limit} 元。</p>"
                 f"<p>您今天通过{html.escape(wallet.name or wallet.channel)}付的静态码款项加上这笔已超过限额。</p>"
                 "<p><strong>请向收银员索取一次性收款码（动态码）</strong>，或请收银员扫您的付款码。</p>", status=403)


def _amount_form(request: web.Request, payee: static_codes.Payee, *, error: str = "",
                 status: int = 200) -> web.Response:
    message = f'<p class=error>{html.escape(error)}</p>' if error else ""
    # The name payers know the shop by, and which of its stores (a chain's branches share the name).
    shop = payee.merchant_name if payee.store_name in ("", payee.merchant_name) else \
        f"{payee.merchant_name}（{payee.store_name}）"
    return _page(f"向{shop}付款",
                 f'{message}<form method=post><label>金额（元）<br><input name=amount inputmode=decimal '
                 f'pattern="[0-9]+([.][0-9]{{1,2}})?" required autofocus></label><br><button type=submit>付款</button>'
                 "</form>", status=status)


_STYLE = ("body{font-family:sans-serif;margin:0;padding:1.5em;text-align:center;color:#222}"
          "h1{font-size:1.4em}.amount{font-size:2.2em;margin:.4em}.apps{font-size:1.3em;font-weight:bold}"
          ".error{color:#c00}input{font-size:1.6em;width:8em;text-align:center;margin:.5em}"
          "button{font-size:1.2em;padding:.6em 3em}")


def _page(title: str, body: str, *, status: int = 200, refresh_s: int | None = None) -> web.Response:
    refresh = f'<meta http-equiv="refresh" content="{refresh_s}">' if refresh_s else ""
    text = (f'<!doctype html><html lang="zh-CN"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width,initial-scale=1">{refresh}'
            f"<title>{html.escape(title)}</title><style>{_STYLE}</style></head>"
            f"<body><h1>{html.escape(title)}</h1>{body}</body></html>")
    return web.Response(text=text, content_type="text/html", status=status,
                        headers={"Cache-Control": "no-store"})

