"""Which adapter serves each channel: one table from name to the adapter's opener. Which of them are active
is config: `[channels.<name>] enabled`."""
from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import AbstractAsyncContextManager
from typing import Any

from ..settings import Settings
from . import Channel, Channels, alipay, unionpay, wechat

# Each opener takes its channel's settings ([channels.<name>]) and holds the adapter's HTTP session.
ADAPTERS: Mapping[str, Callable[[Any], AbstractAsyncContextManager[Channel]]] = {
    "wechat": wechat.open_channel,
    "alipay": alipay.open_channel,
    "unionpay": unionpay.open_channel,
}


@contextlib.asynccontextmanager
async def open_channels(settings: Settings) -> AsyncIterator[Channels]:
    """The active channel adapters by name, each with its HTTP session; closed on exit."""
    async with contextlib.AsyncExitStack() as stack:
        channels: dict[str, Channel] = {}
        for name, open_channel in ADAPTERS.items():
            channel_settings = getattr(settings.channels, name)
            if channel_settings.enabled:
                channels[name] = await stack.enter_async_context(open_channel(channel_settings))
        yield channels
