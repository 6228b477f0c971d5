"""WeChat Pay (v2 XML API): micropay, orderquery, reverse, unifiedorder, closeorder, refund, downloadbill."""
from .adapter import WeChatChannel, open_channel  # noqa: F401
