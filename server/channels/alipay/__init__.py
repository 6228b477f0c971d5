"""Alipay (OpenAPI gateway, RSA2): trade.pay/query/cancel, precreate/create/close, refund, daily bill."""
from .adapter import AlipayChannel, open_channel  # noqa: F401
