"""python -m hw_sim.sandbox [--port 8091]: run the WeChat Pay sandbox standalone."""
from .wechat import main

main()
