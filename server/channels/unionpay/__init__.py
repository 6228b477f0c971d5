"""UnionPay QR, acquirer side: B2C consume, status query, reversal, cancel, refund; C2B code application."""
from .adapter import UnionPayChannel, open_channel  # noqa: F401
