"""Every typed key the application stores things under."""
from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from aiohttp import web

if TYPE_CHECKING:
    from .announce import Announcer
    from .channels import Channels
    from .console.auth import ConsoleUser
    from .metrics import Metrics
    from .payments import Payments
    from .settings import Settings
    from .storage import Storage
    from .wakeups import OrderWakeups

SETTINGS = web.AppKey("settings", "Settings")
STORAGE = web.AppKey("storage", "Storage")
CHANNELS = web.AppKey("channels", "Channels")
WAKEUPS = web.AppKey("wakeups", "OrderWakeups")
PAYMENTS = web.AppKey("payments", "Payments")
ANNOUNCER = web.AppKey("announcer", "Announcer")
DEVICES_SEEN = web.AppKey("devices_seen", dict)     # device id -> when this process last recorded it seen
METRICS = web.AppKey("metrics", "Metrics")
RESOLVER_TASK = web.AppKey("resolver_task", asyncio.Task)

# Per request / response: the device API op (for metrics) and the error code an answer carries.
OP = web.RequestKey("op", str)
# Console: the logged-in user (None when nobody is) and the CSRF token of the session.
CONSOLE_USER = web.RequestKey("console_user", "ConsoleUser | None")
CONSOLE_CSRF_TOKEN = web.RequestKey("console_csrf_token", "str | None")
CONSOLE_ALERTS = web.RequestKey("console_alerts", list)   # open alerts, shown on operators' pages
ERROR_CODE = web.ResponseKey("error_code", str)
