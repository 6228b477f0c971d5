"""python -m hw_sim.sandbox [--port 8091]: the WeChat Pay sandbox standalone.

The others: python -m hw_sim.sandbox.alipay [--port 8092], python -m hw_sim.sandbox.unionpay [--port 8093].
"""
from .wechat import main

main()
