"""Fixtures for channel tests: a real WeChat sandbox on loopback and the adapter pointed at it."""
import dataclasses

import pytest

from hw_sim.sandbox import run_wechat_sandbox
from server.channels.wechat import open_channel
from server.settings import WeChatSettings


@pytest.fixture
async def sandbox():
    async with run_wechat_sandbox() as sandbox:
        yield sandbox


@pytest.fixture
def wechat_settings(sandbox) -> WeChatSettings:
    return WeChatSettings(base_url=sandbox.base_url, timeout_s=2.0)


@pytest.fixture(params=["HMAC-SHA256", "MD5"])
async def wechat(request, wechat_settings):
    async with open_channel(dataclasses.replace(wechat_settings, sign_type=request.param)) as channel:
        yield channel
