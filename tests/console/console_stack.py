"""The real server on loopback with the WeChat and Alipay sandboxes (hw_sim's ServerStack), two merchants with
a store, a device and a console user each, an operator, and a few orders paid through the signed device API.

Used by tests/console/conftest.py; the console's browser tests drive it with headless Chromium.
"""
from __future__ import annotations

import contextlib
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

from hw_sim import test_codes
from hw_sim.boards.stack import ServerStack
from server.clock import now_ms
from server.console import auth, queries
from server.device_auth import new_device_key

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
    server: ServerStack
    device_keys: dict[str, str] = field(default_factory=dict)
    # order_no -> the device API's order object, for the orders paid at start-up (and by `pay`)
    orders: dict[str, dict] = field(default_factory=dict)

    def __post_init__(self):
        self.app, self.url, self.sandboxes, self.http = (self.server.app, self.server.url, self.server.sandboxes,
                                                         self.server.http)

    @property
    def storage(self):
        return self.server.storage

    async def call(self, device_id: str, op: str, message: dict) -> tuple[int, dict]:
        return await self.server.device(device_id, self.device_keys[device_id]).call(op, message)

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
    settings = {
        # No answer delay after a wrong password in tests (the lock-out still counts).
        # Plain HTTP on loopback: cookies without the Secure flag (the server's default is Secure).
        "console": {"failed_login_delay_s": 0.0, "secure_cookies": False, **(console or {})},
        "reconcile": {"enabled": False, "out_dir": str(tmp_path / "reconcile")},
        "alerts": alerts or {},                     # [alerts] settings (tests/console/test_monitoring*.py)
        "throttle": throttle or {}}                 # [throttle]: tests/console/test_login_lockout.py
    async with ServerStack(tmp_path, (), channels=("wechat", "alipay"), **SHORT, merchant_name=None,
                           heartbeat_s=None, database=database,
                           resolver={"enabled": resolver, "tick_s": 0.05, "lease_s": 5.0},
                           settings=settings) as server:
        stack = Stack(server)
        storage = server.storage
        await add_console_user(storage, OPERATOR, PASSWORDS[OPERATOR], "operator", None)
        for shop in (TEA_SHOP, NOODLE_SHOP):
            await storage.add_merchant(shop.merchant_id, shop.merchant_name)
            stack.device_keys[shop.device_id] = new_device_key()
            await storage.add_device(shop.device_id, shop.merchant_id, shop.store_name,
                                     stack.device_keys[shop.device_id])
            await add_console_user(storage, shop.username, PASSWORDS[shop.username], "merchant",
                                   shop.merchant_id)
            await storage.set_refund_password(shop.merchant_id,
                                              auth.hash_password(REFUND_PASSWORDS[shop.merchant_id]),
                                              shop.username, now_ms())
        if pay_orders:
            await stack.pay(TEA_SHOP.device_id, "T1001", 1250)
            await stack.pay(TEA_SHOP.device_id, "T1002", 8800, wallet="alipay")
            await stack.pay(TEA_SHOP.device_id, "T1003", 3000)
            await stack.pay(NOODLE_SHOP.device_id, "N2001", 1800)
            await stack.pay(NOODLE_SHOP.device_id, "N2002", 2600, wallet="alipay")
        yield stack


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
