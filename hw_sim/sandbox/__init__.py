"""Channel sandboxes: local HTTP servers speaking the channels' real wire formats and signatures.

The payment code chooses the outcome (hw_sim/test_codes.py), like card networks' test cards.
"""
from .wechat import WeChatSandbox, run_wechat_sandbox  # noqa: F401
