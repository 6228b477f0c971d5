"""Channel sandboxes: local HTTP servers speaking the channels' real wire formats and signatures.

The payment code chooses the outcome (hw_sim/test_codes.py), like card networks' test cards.
WeChat Pay (wechat.py), Alipay (alipay.py) and UnionPay QR (unionpay.py); keys.py holds the sandboxes'
own key pairs.
"""
from .alipay import AlipaySandbox, run_alipay_sandbox  # noqa: F401
from .unionpay import UnionPaySandbox, run_unionpay_sandbox  # noqa: F401
from .wechat import WeChatSandbox, run_wechat_sandbox  # noqa: F401
