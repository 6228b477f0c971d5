"""What the three simulated wallet apps share (wechat_wallet.py, alipay_wallet.py, unionpay_wallet.py): who is
logged in to the app, and building the redirect back to the merchant's page.

The payer is whoever is "logged in to the app": the `sandbox_payer` cookie on the sandbox's host (tests set
it), else "payer1". A `sandbox_oauth=deny` cookie makes the payer refuse the app's authorisation.
"""
from __future__ import annotations

from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

PAYER_COOKIE = "sandbox_payer"
DENY_COOKIE = "sandbox_oauth"
DEFAULT_PAYER = "payer1"


def with_query(url: str, **params: str) -> str:
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True) + list(params.items())
    return urlunsplit(parts._replace(query=urlencode(query)))
