"""python -m hw_sim.sandbox [--port 8091] [--sub-merchant ACCOUNT[:APP_ID]]... [--sub-merchants FILE.json]:
the WeChat Pay sandbox standalone, knowing the given sub-merchants (format: common.sub_merchants_from).

The others: python -m hw_sim.sandbox.alipay [--port 8092], python -m hw_sim.sandbox.unionpay [--port 8093],
with the same sub-merchant options.
"""
from .wechat import main

main()
