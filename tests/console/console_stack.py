"""The real server on loopback with the WeChat and Alipay sandboxes, two merchants with a store, a device and
a console user each, an operator, and a few orders paid through the signed device API.

Used by tests/console/conftest.py; the console's browser tests drive it with headless Chromium.
"""
from __future__ import annotations

import contextlib
import json
import re
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

# The channel tests' sandbox-key settings (appended: never shadows another folder's conftest).
sys.path.append(str(Path(__file__).resolve().parent.parent / "channels"))

from channel_settings import alipay_settings_for, plain_settings  # noqa: E402
from loopback import free_port  # noqa: E402
from hw_sim import test_codes  # noqa: E402
from hw_sim.sandbox import run_alipay_sandbox, run_wechat_sandbox  # noqa: E402
from server.app import create_app  # noqa: E402
from server.clock import now_ms  # noqa: E402
from server.console import auth, queries  # noqa: E402
from server.device_auth import new_device_key, sign_request  # noqa: E402
from server.keys import STORAGE  # noqa: E402
from server.settings import load_settings  # noqa: E402

SHORT = {"query_interval_s": 0.3, "deadline_s": 3.0, "cancel_retry_s": 0.1, "timeout_s": 2.0}

# Console users (user name -> password): one operator, one user per merchant.
OPERATOR, TEA, NOODLE = "ops", "tea", "noodle"
PASSWORDS = {OPERATOR: "operator-password-1", TEA: "tea-house-password", NOODLE: "noodle-shop-password"}
# Each merchant's refund password (its owner sets it; a refund by a merchant user must give it).
REFUND_PASSWORDS = {"M1": "tea-refund-1", "M2": "noodle-refund-2"}


@dataclass(frozen=True)
class Shop:
    merchant_id: str
    merchant_name: str
    store_name: str
    device_id: str
    username: str


TEA_SHOP = Shop("M1", "茶馆", "老王茶馆", "TEA-D1", TEA)
NOODLE_SHOP = Shop("M2", "面馆", "小李面馆", "NOODLE-D1", NOODLE)


@dataclass
class Stack:
    app: web.Application
    url: str
    sandboxes: dict[str, Any]
    http: aiohttp.ClientSession
    device_keys: dict[str, str] = field(default_factory=dict)
    # order_no -> the device API's order object, for the orders paid at start-up (and by `pay`)
    orders: dict[str, dict] = field(default_factory=dict)

    @property
    def storage(self):
        return self.app[STORAGE]

    async def call(self, device_id: str, op: str, message: dict) -> tuple[int, dict]:
        path = f"/d/v1/{op}"
        body = json.dumps(message).encode()
        headers = {"Content-Type": "application/json",
                   **sign_request(device_id, self.device_keys[device_id], path, body)}
        async with self.http.post(self.url + path, data=body, headers=headers) as resp:
            return resp.status, await resp.json()

    async def pay(self, device_id: str, order_no: str, amount_fen: int, *, wallet: str = "wechat",
                  scenario: str = test_codes.SUCCESS, param: int = 0) -> dict:
        prefix = {"wechat": test_codes.WECHAT_PREFIX, "alipay": test_codes.ALIPAY_PREFIX}[wallet]
        code = test_codes.make_code(prefix, scenario, param)
        status, answer = await self.call(device_id, "pay", {"order_no": order_no, "amount_fen": amount_fen,
                                                             "auth_code": code})
        assert status == 200, answer
        self.orders[order_no] = answer["order"]
        return answer["order"]

    async def order_id(self, device_id: str, order_no: str) -> str:
        """The console's id of an order (its URL: /console/orders/<id>)."""
        order = await self.storage.get_order(device_id, order_no)
        assert order is not None, order_no
        return order.id


async def add_console_user(storage, username: str, password: str, role: str, merchant_id: str | None) -> str:
    return await queries.add_user(storage, username, auth.hash_password(password), role, merchant_id, now_ms())


@contextlib.asynccontextmanager
async def running_stack(tmp_path: Path, *, database: dict | None = None, console: dict | None = None,
                        resolver: bool = True, pay_orders: bool = True,
                        alerts: dict | None = None, throttle: dict | None = None) -> AsyncIterator[Stack]:
    """Start everything; with `pay_orders`, the tea house has three paid orders and the noodle shop two.
    `resolver=False`: nothing drives open orders but the console's "sync status"."""
    async with run_wechat_sandbox() as wechat, run_alipay_sandbox() as alipay:
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        settings = load_settings(
            database=database or {"path": str(tmp_path / "scanpay.db")},
            resolver={"enabled": resolver, "tick_s": 0.05, "lease_s": 5.0}, device_api={"public_url": url},
            # No answer delay after a wrong password in tests (the lock-out still counts).
            # Plain HTTP on loopback: cookies without the Secure flag (the server's default is Secure).
            console={"failed_login_delay_s": 0.0, "secure_cookies": False, **(console or {})},
            reconcile={"enabled": False, "out_dir": str(tmp_path / "reconcile")},
            alerts=alerts or {},                     # [alerts] settings (tests/console/test_monitoring*.py)
            throttle=throttle or {},                 # [throttle]: tests/console/test_login_lockout.py
            channels={"wechat": {"base_url": wechat.base_url, **SHORT},
                      "alipay": {**plain_settings(alipay_settings_for(alipay.base_url)), **SHORT}})
        app = create_app(settings)
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await runner.setup()
        http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30))
        try:
            await web.TCPSite(runner, "127.0.0.1", port).start()
            stack = Stack(app, url, {"wechat": wechat, "alipay": alipay}, http)
            storage = app[STORAGE]
            await add_console_user(storage, OPERATOR, PASSWORDS[OPERATOR], "operator", None)
            for shop in (TEA_SHOP, NOODLE_SHOP):
                await storage.add_merchant(shop.merchant_id, shop.merchant_name)
                stack.device_keys[shop.device_id] = new_device_key()
                await storage.add_device(shop.device_id, shop.merchant_id, shop.store_name,
                                         stack.device_keys[shop.device_id])
                await add_console_user(storage, shop.username, PASSWORDS[shop.username], "merchant",
                                       shop.merchant_id)
                await queries.set_refund_password(storage, shop.merchant_id,
                                                  auth.hash_password(REFUND_PASSWORDS[shop.merchant_id]),
                                                  shop.username, now_ms())
            if pay_orders:
                await stack.pay(TEA_SHOP.device_id, "T1001", 1250)
                await stack.pay(TEA_SHOP.device_id, "T1002", 8800, wallet="alipay")
                await stack.pay(TEA_SHOP.device_id, "T1003", 3000)
                await stack.pay(NOODLE_SHOP.device_id, "N2001", 1800)
                await stack.pay(NOODLE_SHOP.device_id, "N2002", 2600, wallet="alipay")
            yield stack
        finally:
            await http.close()
            await runner.cleanup()


_LOGIN_CSRF = "l" * 43


async def http_session(stack: "Stack", username: str, page: str = "/console/devices") -> dict[str, str]:
    """Log `username` in over plain HTTP: the headers of a request in that session (its cookie and the CSRF
    token a form on `page` carries)."""
    from server.console import auth
    async with stack.http.post(stack.url + "/console/login", allow_redirects=False,
                               headers={"Cookie": f"{auth.LOGIN_CSRF_COOKIE}={_LOGIN_CSRF}"},
                               data={"csrf_token": _LOGIN_CSRF, "username": username,
                                     "password": PASSWORDS[username]}) as resp:
        assert resp.status == 303
        cookie = f"{auth.SESSION_COOKIE}={resp.cookies[auth.SESSION_COOKIE].value}"
    async with stack.http.get(stack.url + page, headers={"Cookie": cookie}) as resp:
        text = await resp.text()
        assert resp.status == 200
    return {"Cookie": cookie, auth.CSRF_HEADER: re.search(r'name="csrf_token" value="([^"]+)"', text).group(1)}
