"""The application factory."""
from __future__ import annotations

import asyncio
import contextlib
import datetime
import logging
from collections.abc import AsyncIterator, Callable

from aiohttp import web

from . import alerts, throttle
from .announce import Announcer, MqttPublisher
from .channels.registry import open_channels
from .channels.routing import CodeRouter
from .clock import new_id
from .keys import ANNOUNCER, CHANNELS, DEVICES_SEEN, METRICS, PAYMENTS, RESOLVER_TASK, SETTINGS, STORAGE, WAKEUPS
from .metrics import Metrics
from .middlewares import body_deadline_middleware, drop_compact_headers, error_middleware
from .payments import Payments
from .reconcile import run_daily, service_provider_channels
from .resolver import Resolver
from .routes import setup_routes
from .settings import Settings, load_settings
from .storage import open_storage
from .wakeups import LocalWakeups

log = logging.getLogger(__name__)

_STOP_AFTER_PASS_S = 5.0


def create_app(settings: Settings | None = None) -> web.Application:
    settings = settings or load_settings()
    app = web.Application(middlewares=[error_middleware, body_deadline_middleware])
    app.on_response_prepare.append(drop_compact_headers)
    app[SETTINGS] = settings
    app[METRICS] = Metrics()
    app[DEVICES_SEEN] = {}
    if not settings.console.secure_cookies:
        log.warning("[console] secure_cookies is off: console session cookies travel over plain HTTP too "
                    "(for development only; behind HTTPS leave it on)")
    app.cleanup_ctx.append(_storage_ctx)
    app.cleanup_ctx.append(_channels_ctx)
    app.cleanup_ctx.append(_payments_ctx)
    app.cleanup_ctx.append(_resolver_ctx)
    app.cleanup_ctx.append(_reconcile_ctx)
    app.cleanup_ctx.append(_alerts_ctx)
    setup_routes(app)
    # Last, so innermost: inside the console's middleware, which answers a throttled login with its form.
    app.middlewares.append(throttle.middleware(settings.throttle))
    return app


async def _storage_ctx(app: web.Application) -> AsyncIterator[None]:
    async with open_storage(app[SETTINGS].database) as storage:
        app[STORAGE] = storage
        log.info("storage: %s", storage.backend)
        yield


async def _channels_ctx(app: web.Application) -> AsyncIterator[None]:
    async with open_channels(app[SETTINGS]) as channels:
        app[CHANNELS] = channels
        log.info("channels: %s", ", ".join(channels) or "none")
        yield


async def _payments_ctx(app: web.Application) -> AsyncIterator[None]:
    wakeups = LocalWakeups()
    app[WAKEUPS] = wakeups
    listen = getattr(app[STORAGE], "listen_orders", None)
    if listen is not None:
        # Other processes on the same database change orders too: their NOTIFY wakes our long polls.
        await listen(wakeups.notify)
    settings = app[SETTINGS]
    async with contextlib.AsyncExitStack() as stack:
        publisher = None
        if settings.announce.enabled and settings.announce.transport == "mqtt":
            publisher = await stack.enter_async_context(
                MqttPublisher(settings.announce, app[STORAGE], owner=new_id()).running())
        app[ANNOUNCER] = Announcer(app[STORAGE], wakeups, settings.announce, publisher)
        app[PAYMENTS] = Payments(app[STORAGE], app[CHANNELS], CodeRouter(settings.routing), wakeups, settings,
                                 app[METRICS], app[ANNOUNCER])
        if settings.resolver.enabled:
            # Payments a stopped process finished without announcing them, now and then every 30 s.
            keep_up = asyncio.create_task(app[ANNOUNCER].keep_up(), name="announce-catch-up")
            stack.push_async_callback(_cancel, keep_up)
        # The process's claims on orders (its resolver's, a device's close) count as alive while this holds.
        async with app[STORAGE].hold_claims(app[PAYMENTS].claim_owner):
            yield


async def _resolver_ctx(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS].resolver
    if not settings.enabled:
        yield
        return
    resolver = Resolver(app[STORAGE], app[PAYMENTS], settings, app[METRICS])
    task = asyncio.create_task(resolver.run(), name="resolver")
    app[RESOLVER_TASK] = task
    yield
    await _stop_after_pass(task, resolver.stop)


async def _reconcile_ctx(app: web.Application) -> AsyncIterator[None]:
    """The daily reconciliation, in the processes that run the resolver (one job, not one per web worker)."""
    settings = app[SETTINGS]
    if not (settings.reconcile.enabled and settings.resolver.enabled):
        yield
        return
    hour, minute = (int(part) for part in settings.reconcile.run_at.split(":"))
    task = asyncio.create_task(run_daily(app[STORAGE], app[CHANNELS], settings.reconcile.out_dir,
                                         datetime.time(hour, minute),
                                         service_provider=service_provider_channels(settings)), name="reconcile")
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def _alerts_ctx(app: web.Application) -> AsyncIterator[None]:
    """The alert rules, judged every [alerts] interval_s (in every process: raising is once per alert,
    and each process's scanpay_alerts_active gauge follows the database)."""
    settings = app[SETTINGS].alerts
    if not settings.enabled:
        yield
        return
    stopping = asyncio.Event()
    task = asyncio.create_task(alerts.run(app[STORAGE], settings, app[METRICS], stopping), name="alerts")
    yield
    await _stop_after_pass(task, stopping.set)


async def _cancel(task: asyncio.Task) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def _stop_after_pass(task: asyncio.Task, stop: Callable[[], object]) -> None:
    """Let the pass under way finish (a channel call cut off halfway only costs a repeat at the next
    start, but a database statement cut off halfway can leave its connection stuck); then cancel."""
    stop()
    try:
        await asyncio.wait_for(asyncio.shield(task), _STOP_AFTER_PASS_S)
    except TimeoutError:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
