"""WeChat Pay (v2 XML API): micropay, orderquery, reverse."""
from .adapter import WeChatChannel, open_channel  # noqa: F401
