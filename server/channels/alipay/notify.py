"""Alipay's asynchronous payment notification (异步通知) and web authorisation, as pure functions.

Notification: Alipay POSTs a form (application/x-www-form-urlencoded, charset as `charset` says; we ask
utf-8) to the notify_url of alipay.trade.create with notify_type=trade_status_sync, notify_id, app_id,
out_trade_no, trade_no, trade_status, total_amount (yuan), buyer_id, gmt_payment…, signed RSA2 by Alipay over
every parameter except `sign` and `sign_type`, sorted, `k=v` joined by `&` (values as decoded). Alipay repeats
it until the answer is the seven letters `success` (4m, 10m, 10m, 1h, 2h, 6h, 15h). Sources: Alipay's
notification sample as quoted at seasidecrab.com/cq/985.html (the fields, notify_type=trade_status_sync);
developer.aliyun.com/article/1558571 (verify the sign, answer success or Alipay keeps sending);
reference/channels.md section 3 (RSA2). The two signing rules differ only in sign_type: INFERRED from
python-alipay-sdk's `verify` (it pops sign_type before checking), not from Alipay's own page.

Web authorisation (auth_base, silent): https://openauth.alipay.com/oauth2/publicAppAuthorize.htm?app_id=…
&scope=auth_base&redirect_uri=…&state=… comes back to redirect_uri?app_id=…&source=alipay_wallet&scope=auth_base
&auth_code=…; alipay.system.oauth.token (grant_type=authorization_code, code=auth_code, both common-level
parameters, no biz_content) answers user_id (2088… 16 digits) and, for apps made since Alipay introduced it,
open_id instead. An auth_code works once. Sources: docs.antom.com/ac/common/obtain_uid and
docs.antom.com/ac/3rdpartryqrcode/standard_2 (the URL, the callback parameters, auth_code once only);
w3cschool.cn/aliminiapp/aliminiapp-osfv2j24.html (alipay.system.oauth.token parameters and answer).
"""
from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlencode

from Crypto.PublicKey import RSA

from .. import NoticeRefused as NotifyRefused
from ..form_notice import FormFields, check_form
from . import protocol, signing

AUTHORIZE_PATH = "/oauth2/publicAppAuthorize.htm"
OAUTH_TOKEN = "alipay.system.oauth.token"
PAID_STATUSES = frozenset({"TRADE_SUCCESS", "TRADE_FINISHED"})
_OPEN_ID = re.compile(r"[0-9A-Za-z_-]{1,128}", re.ASCII)
_FIELDS = FormFields(merchant="app_id", trade_no="out_trade_no", amount="total_amount",
                     amount_fen_of=protocol.fen_of, amount_unit="yuan", max_fields=200)


@dataclass(frozen=True)
class TradeNotify:
    trade_no: str
    paid: bool
    amount_fen: int
    alipay_trade_no: str | None
    notify_id: str


def authorize_url(base_url: str, *, app_id: str, redirect_uri: str, state: str) -> str:
    query = urlencode([("app_id", app_id), ("scope", "auth_base"), ("redirect_uri", redirect_uri),
                       ("state", state)])
    return f"{base_url.rstrip('/')}{AUTHORIZE_PATH}?{query}"


def buyer_of(answer: Mapping[str, object]) -> str | None:
    """The payer in alipay.system.oauth.token's answer: user_id, else open_id; None when neither is usable."""
    user_id, open_id = answer.get("user_id"), answer.get("open_id")
    if isinstance(user_id, str) and protocol.USER_ID.fullmatch(user_id):
        return user_id
    if isinstance(open_id, str) and _OPEN_ID.fullmatch(open_id):
        return open_id
    return None


def parse_notify(body: bytes, *, app_id: str, alipay_key: RSA.RsaKey) -> TradeNotify:
    def signed(params: Mapping[str, str]) -> bool:
        if params.get("sign_type") != "RSA2":
            raise NotifyRefused(f"sign_type {params.get('sign_type')!r}")
        unsigned = {k: v for k, v in params.items() if k != "sign_type"}
        return signing.verify_text(signing.content_to_sign(unsigned), params.get("sign", ""), alipay_key)

    form = check_form(body, _FIELDS, merchant_id=app_id, signed=signed)
    params = form.params
    notify_id = params.get("notify_id") or hashlib.sha256(params["sign"].encode()).hexdigest()[:24]
    return TradeNotify(trade_no=form.trade_no, paid=params.get("trade_status") in PAID_STATUSES,
                       amount_fen=form.amount_fen, alipay_trade_no=params.get("trade_no") or None, notify_id=notify_id)
