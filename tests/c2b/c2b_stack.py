"""The real server with all three channel sandboxes on loopback (hw_sim's ServerStack), a signed device, and
headless Chromium: the landing-page tests' stack.

Chromium is Debian's (`apt-get install chromium`), driven by Playwright's Python API; the browser
reaches the server and the sandboxes' simulated wallet apps over real HTTP.
"""
import contextlib

from hw_sim.boards.stack import CHANNELS, ServerStack

SHORT = {"query_interval_s": 0.3, "deadline_s": 3.0, "cancel_retry_s": 0.1, "timeout_s": 2.0}

UA = {
    "wechat": ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
               "Mobile/15E148 MicroMessenger/8.0.47(0x18002f2c) NetType/WIFI Language/zh_CN"),
    "alipay": ("Mozilla/5.0 (Linux; U; Android 13; zh-CN; M2012K11AC Build/TKQ1.220829.002) AppleWebKit/537.36 "
               "(KHTML, like Gecko) Version/4.0 Chrome/69.0.3497.100 Mobile Safari/537.36 NebulaSDK/1.8.100112 "
               "Nebula AliApp(AP/10.5.36.8100) AlipayClient/10.5.36.8100 Language/zh-Hans"),
    "unionpay": ("Mozilla/5.0 (iPhone; CPU iPhone OS 16_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
                 "Mobile/15E148/sa-sdk-ios (com.unionpay.chsp) (cordova 4.5.4) (version 938) (UnionPay/1.0 CloudPay) "
                 "(clientVersion 198) (language zh_CN) (upHtml) (walletMode 00)"),
    "desktop": ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 "
                "Safari/537.36"),
}


class Stack:
    """The shop's stand STAND1 (merchant M1 茶馆, store 老王茶馆, its static code bound) on the running server."""

    def __init__(self, server: ServerStack):
        self.server = server
        self.app, self.server_url, self.sandboxes = server.app, server.url, server.sandboxes
        self.storage, self.settings, self.http = server.storage, server.settings, server.http
        self.device_id = "STAND1"
        self.key_hex = server.keys[self.device_id]
        self.device = server.device(self.device_id)

    async def phone(self, browser, wallet: str, payer: str = "alice", *, answer: str = "pay", deny: bool = False):
        """A phone with `wallet`'s User-Agent, logged in to that wallet as `payer`, with the wallet's JavaScript
        bridge stood in for (the sandbox's bridge_script: it checks what the page hands it as the wallet does,
        then pays at the sandbox, or the payer backs out: answer "cancel"). deny: the payer refuses the
        wallet's authorisation."""
        context = await phone(browser, wallet, payer)
        sandbox = self.sandboxes.get(wallet)
        if sandbox is not None and hasattr(sandbox, "bridge_script"):
            await context.add_init_script(script=sandbox.bridge_script(payer, answer))
        if deny:
            await context.add_cookies([{"name": "sandbox_oauth", "value": "deny", "domain": "127.0.0.1",
                                        "path": "/"}])
        return context

    async def call(self, op, message, *, cbor=False):
        status, answer = await self.device.call(op, message, fmt="cbor" if cbor else "json")
        assert status == 200, answer
        return answer


@contextlib.asynccontextmanager
async def running_stack(tmp_path, *, channels=None, **device_api):
    """`channels`: more settings per channel, e.g. {"wechat": {"service_provider": True}}."""
    async with ServerStack(tmp_path, ("STAND1",), channels=CHANNELS, channel_options=channels, **SHORT,
                           merchant_name="茶馆", store_name="老王茶馆", heartbeat_s=None,
                           device_api=device_api) as server:
        yield Stack(server)


async def phone(browser, wallet: str, payer: str = "alice"):
    """A phone with `wallet`'s User-Agent, logged in to the sandbox wallet apps as `payer`."""
    context = await browser.new_context(user_agent=UA[wallet], locale="zh-CN",
                                        viewport={"width": 390, "height": 844})
    context.set_default_timeout(10_000)
    await context.add_cookies([{"name": "sandbox_payer", "value": payer, "domain": "127.0.0.1", "path": "/"}])
    return context
