"""The real server with all three channel sandboxes on loopback, a signed device, and headless Chromium.

Chromium is Debian's (`apt-get install chromium`), driven by Playwright's Python API; the browser
reaches the server and the sandboxes' simulated wallet apps over real HTTP.
"""
import contextlib
import json
import socket
import sys
from pathlib import Path

import aiohttp
from aiohttp import web

# The channel tests' sandbox-key settings (appended: never shadows another folder's conftest).
sys.path.append(str(Path(__file__).resolve().parent.parent / "channels"))

from channel_settings import alipay_settings_for, plain_settings, unionpay_settings_for  # noqa: E402
from hw_sim.sandbox import run_alipay_sandbox, run_unionpay_sandbox, run_wechat_sandbox  # noqa: E402
from server import static_codes  # noqa: E402
from server.app import create_app  # noqa: E402
from server.device_auth import new_device_key, sign_request  # noqa: E402
from server.keys import STORAGE  # noqa: E402
from server.settings import load_settings  # noqa: E402

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
    def __init__(self, app, server_url, sandboxes, device_id, key_hex):
        self.app, self.server_url, self.sandboxes = app, server_url, sandboxes
        self.device_id, self.key_hex = device_id, key_hex
        self.storage = app[STORAGE]
        self.http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30))

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
        path = f"/d/v1/{op}"
        if cbor:
            import cbor2
            body, content_type = cbor2.dumps(message), "application/cbor"
        else:
            body, content_type = json.dumps(message).encode(), "application/json"
        headers = {"Content-Type": content_type, **sign_request(self.device_id, self.key_hex, path, body)}
        async with self.http.post(self.server_url + path, data=body, headers=headers) as resp:
            raw = await resp.read()
            answer = cbor2.loads(raw) if cbor else json.loads(raw)
            assert resp.status == 200, answer
            return answer


@contextlib.asynccontextmanager
async def running_stack(tmp_path, *, channels=None, **device_api):
    """`channels`: more settings per channel, e.g. {"wechat": {"service_provider": True}}."""
    channels = channels or {}
    async with run_wechat_sandbox() as wechat, run_alipay_sandbox() as alipay, run_unionpay_sandbox() as unionpay:
        # The server's socket is bound before its URL goes into the settings: no other test can take the port
        # in between (free_port() would leave that gap, with other suites running on the same machine).
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        server_url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        settings = load_settings(
            database={"path": str(tmp_path / "scanpay.db")}, resolver={"tick_s": 0.05, "lease_s": 5.0},
            device_api={"public_url": server_url, **device_api},
            channels={"wechat": {"base_url": wechat.base_url, **SHORT, **channels.get("wechat", {})},
                      "alipay": {**plain_settings(alipay_settings_for(alipay.base_url)), **SHORT,
                                 **channels.get("alipay", {})},
                      "unionpay": {**plain_settings(unionpay_settings_for(unionpay.base_url)), **SHORT,
                                   **channels.get("unionpay", {})}})
        app = create_app(settings)
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await runner.setup()
        try:
            await web.SockSite(runner, sock).start()
            await app[STORAGE].add_merchant("M1", "茶馆")
            key_hex = new_device_key()
            stand = await app[STORAGE].add_device("STAND1", "M1", "老王茶馆", key_hex)
            # The shop's static code: a printed sticker bound to the stand's store (info.static_code).
            _, (sticker,) = await static_codes.print_batch(app[STORAGE], 1, actor="test")
            await static_codes.bind(app[STORAGE], sticker.id, store_id=stand.store_id, device_id="STAND1",
                                    actor="test")
            stack = Stack(app, server_url, {"wechat": wechat, "alipay": alipay, "unionpay": unionpay},
                          "STAND1", key_hex)
            stack.settings = settings
            try:
                yield stack
            finally:
                await stack.http.close()
        finally:
            await runner.cleanup()


async def phone(browser, wallet: str, payer: str = "alice"):
    """A phone with `wallet`'s User-Agent, logged in to the sandbox wallet apps as `payer`."""
    context = await browser.new_context(user_agent=UA[wallet], locale="zh-CN",
                                        viewport={"width": 390, "height": 844})
    context.set_default_timeout(10_000)
    await context.add_cookies([{"name": "sandbox_payer", "value": payer, "domain": "127.0.0.1", "path": "/"}])
    return context
