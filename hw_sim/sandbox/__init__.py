"""Channel sandboxes: local HTTP servers speaking the channels' real wire formats and signatures.

The payment code chooses the outcome (hw_sim/test_codes.py), like card networks' test cards.
WeChat Pay (wechat.py), Alipay (alipay.py) and UnionPay QR (unionpay.py); keys.py holds the sandboxes'
own key pairs.

The sandboxes' classes and runners are offered here too, and imported from their module when first asked
for: importing the package must not import alipay.py or unionpay.py, or `python -m hw_sim.sandbox.alipay`
would run a module already imported (runpy's RuntimeWarning).
"""
import importlib

_HOMES = {
    "AlipaySandbox": "alipay", "run_alipay_sandbox": "alipay",
    "UnionPaySandbox": "unionpay", "run_unionpay_sandbox": "unionpay",
    "WeChatSandbox": "wechat", "run_wechat_sandbox": "wechat",
}


def __getattr__(name):
    if name not in _HOMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f".{_HOMES[name]}", __name__), name)
