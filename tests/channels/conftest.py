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


# Alipay and UnionPay: sandboxes with the project's sandbox keys, adapters configured to match.

from tests.channels.channel_settings import alipay_settings_for  # noqa: E402
from hw_sim.sandbox.alipay import run_alipay_sandbox  # noqa: E402
from server.channels import alipay as alipay_channel  # noqa: E402
from server.settings import AlipaySettings  # noqa: E402


@pytest.fixture
async def alipay_sandbox():
    async with run_alipay_sandbox() as sandbox:
        yield sandbox


@pytest.fixture
def alipay_settings(alipay_sandbox) -> AlipaySettings:
    return alipay_settings_for(alipay_sandbox.base_url)


@pytest.fixture
async def alipay(alipay_settings):
    async with alipay_channel.open_channel(alipay_settings) as channel:
        yield channel


from tests.channels.channel_settings import unionpay_settings_for  # noqa: E402
from hw_sim.sandbox.unionpay import run_unionpay_sandbox  # noqa: E402
from server.channels import unionpay as unionpay_channel  # noqa: E402


@pytest.fixture
async def unionpay_sandbox():
    async with run_unionpay_sandbox() as sandbox:
        yield sandbox


@pytest.fixture
async def unionpay(unionpay_sandbox):
    async with unionpay_channel.open_channel(unionpay_settings_for(unionpay_sandbox.base_url)) as channel:
        yield channel


# The real server with all three channels, each against its sandbox, and a signed device client.

from hw_sim.boards.stack import CHANNELS, ServerStack  # noqa: E402

SHORT = {"query_interval_s": 0.2, "deadline_s": 2.0, "cancel_retry_s": 0.1, "timeout_s": 0.6}


@pytest.fixture
async def stack(tmp_path):
    async with ServerStack(tmp_path, ("D1",), channels=CHANNELS, **SHORT, store_name="Tea House",
                           heartbeat_s=None) as server:
        device = server.device("D1")
        yield {"call": device.call, **server.sandboxes, "app": server.app, "settings": server.settings}
