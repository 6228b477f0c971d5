"""WeChat web authorisation (网页授权) with scope snsapi_base: who the payer is, as pure functions.

The landing page sends the payer's WeChat to
    https://open.weixin.qq.com/connect/oauth2/authorize?appid=…&redirect_uri=…&response_type=code
        &scope=snsapi_base&state=…#wechat_redirect
WeChat comes back silently to redirect_uri?code=CODE&state=STATE (a payer who refuses comes back with state
alone); the server then asks
    GET https://api.weixin.qq.com/sns/oauth2/access_token?appid=…&secret=…&code=…&grant_type=authorization_code
and reads `openid` (the payer's id under that appid) from the JSON answer, or `errcode`/`errmsg`.
A code lasts 5 minutes and works once. Sources: WeChat's official-account web authorisation page
(developers.weixin.qq.com/doc/offiaccount/OA_Web_Apps/Wechat_webpage_authorization.html, as mirrored on
wohugb.gitbooks.io/wechat "第一步：用户同意授权，获取code": parameters, "#wechat_redirect", "若用户禁止授权，则
重定向后不会带上code参数，仅会带上state参数"; state a-zA-Z0-9 up to 128 bytes); snsapi_base is silent (csdndocs
"OAuth2.0微信code获取失败怎么办": "以snsapi_base为scope发起的网页授权…静默授权并自动跳转到回调页").
Error codes: 40029 invalid code, 40163 code been used (WeChat's global return-code table); others (40125
invalid appsecret, -1 busy) mean we cannot identify the payer now.
"""
from __future__ import annotations

import json
from collections.abc import Mapping
from urllib.parse import urlencode

AUTHORIZE_PATH = "/connect/oauth2/authorize"
TOKEN_PATH = "/sns/oauth2/access_token"
SCOPE = "snsapi_base"

# errcodes that say the code itself is bad (never given, expired, used): the payer scans again.
CODE_ERRORS = frozenset({40029, 40163, 41008})


class TokenRefused(Exception):
    def __init__(self, message: str, *, bad_code: bool):
        super().__init__(message)
        self.bad_code = bad_code


def authorize_url(base_url: str, *, appid: str, redirect_uri: str, state: str) -> str:
    query = urlencode([("appid", appid), ("redirect_uri", redirect_uri), ("response_type", "code"),
                       ("scope", SCOPE), ("state", state)])
    return f"{base_url.rstrip('/')}{AUTHORIZE_PATH}?{query}#wechat_redirect"


def token_query(*, appid: str, secret: str, code: str) -> dict[str, str]:
    return {"appid": appid, "secret": secret, "code": code, "grant_type": "authorization_code"}


def openid_of(text: str) -> str:
    """The openid in sns/oauth2/access_token's answer; raises TokenRefused."""
    try:
        answer = json.loads(text)
    except (ValueError, RecursionError):
        raise TokenRefused("access_token answer is not JSON", bad_code=False) from None
    if not isinstance(answer, Mapping):
        raise TokenRefused("access_token answer is not an object", bad_code=False)
    errcode = answer.get("errcode")
    if errcode not in (None, 0):
        raise TokenRefused(f"errcode {errcode}: {answer.get('errmsg')}", bad_code=errcode in CODE_ERRORS)
    openid = answer.get("openid")
    if not isinstance(openid, str) or not 0 < len(openid) <= 128 or not openid.isascii():
        raise TokenRefused("no openid in the answer", bad_code=False)
    return openid
