"""Every typed key the application stores things under."""
from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from aiohttp import web

# The classes behind the keys import the keys: they are named for the type checker only, as annotations (a key's
# type is then no argument: aiohttp takes a class there, not its name).
if TYPE_CHECKING:
    from .announce import Announcer
    from .channels import Channels
    from .console.auth import ConsoleUser
    from .metrics import Metrics
    from .payments import Payments
    from .settings import Settings
    from .storage import Storage
    from .wakeups import OrderWakeups

SETTINGS: web.AppKey[Settings] = web.AppKey("settings")
STORAGE: web.AppKey[Storage] = web.AppKey("storage")
CHANNELS: web.AppKey[Channels] = web.AppKey("channels")
WAKEUPS: web.AppKey[OrderWakeups] = web.AppKey("wakeups")
PAYMENTS: web.AppKey[Payments] = web.AppKey("payments")
ANNOUNCER: web.AppKey[Announcer] = web.AppKey("announcer")
DEVICES_SEEN = web.AppKey("devices_seen", dict)     # device id -> when this process last recorded it seen
METRICS: web.AppKey[Metrics] = web.AppKey("metrics")
RESOLVER_TASK = web.AppKey("resolver_task", asyncio.Task)

# Per request / response: the device API op (for metrics) and the error code an answer carries.
OP = web.RequestKey("op", str)
# Console: the logged-in user (None when nobody is) and the CSRF token of the session.
CONSOLE_USER: web.RequestKey[ConsoleUser | None] = web.RequestKey("console_user")
CONSOLE_CSRF_TOKEN: web.RequestKey[str | None] = web.RequestKey("console_csrf_token")
CONSOLE_ALERTS = web.RequestKey("console_alerts", list)   # open alerts, shown on operators' pages
ERROR_CODE = web.ResponseKey("error_code", str)
