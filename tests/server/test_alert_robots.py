"""Alerts in the team's group chat: a local receiver speaking WeCom's and DingTalk's robot webhooks (their
URLs, JSON bodies, DingTalk's 加签 signature, their answers) gets one Chinese message per alert raised and
one per alert cleared; a refusing or unreachable robot never stops the alerts."""
import base64
import dataclasses
import hashlib
import hmac
import logging
import time

import pytest
from aiohttp import web

from tests.server.conftest import DEVICE_ID, add_device, test_settings
from tests.loopback import free_port
from server import alerts
from server.app import create_app
from server.clock import now_ms
from server.keys import STORAGE
from server.settings import AlertsSettings, RobotSettings, Secret

WECOM_KEY = "693a91f6-7aaa-4bc4-97a0-0ec2sifa5aaa"
DING_TOKEN = "e9a8118c8a3dc0000000000685fab41df25b9dc865fd74"
DING_SECRET = "SEC10d6e79b42bd94be0d0d603843651aa2ccd7186db6edbc0000000000cf421cd"


class Receiver:
    """WeCom's and DingTalk's robot endpoints as their documentation describes them."""

    def __init__(self, ding_keyword: str = "告警"):
        self.wecom, self.dingtalk, self.refused = [], [], []
        self.ding_keyword = ding_keyword
        self.app = web.Application()
        self.app.router.add_post("/cgi-bin/webhook/send", self.wecom_send)
        self.app.router.add_post("/robot/send", self.ding_send)

    @staticmethod
    def text_of(body) -> str | None:
        if isinstance(body, dict) and body.get("msgtype") == "text" and isinstance(body.get("text"), dict):
            content = body["text"].get("content")
            return content if isinstance(content, str) else None
        return None

    async def wecom_send(self, request):
        text = self.text_of(await request.json())
        if request.query.get("key") != WECOM_KEY:
            return web.json_response({"errcode": 93000, "errmsg": "invalid webhook url"})
        if text is None or len(text.encode()) > 2048:
            return web.json_response({"errcode": 40008, "errmsg": "invalid message type"})
        self.wecom.append(text)
        return web.json_response({"errcode": 0, "errmsg": "ok"})

    async def ding_send(self, request):
        text = self.text_of(await request.json())
        query = request.query
        if query.get("access_token") != DING_TOKEN:
            return web.json_response({"errcode": 300001, "errmsg": "token is not exist"})
        timestamp = query.get("timestamp", "")
        expected = base64.b64encode(hmac.new(DING_SECRET.encode(), f"{timestamp}\n{DING_SECRET}".encode(),
                                             hashlib.sha256).digest()).decode()
        if not timestamp.isdigit() or abs(int(timestamp) - time.time() * 1000) > 3_600_000 \
                or query.get("sign") != expected:
            self.refused.append("sign")
            return web.json_response({"errcode": 310000, "errmsg": "sign not match"})
        if text is None or self.ding_keyword not in text:
            self.refused.append("keyword")
            return web.json_response({"errcode": 310000, "errmsg": "keywords not in content"})
        self.dingtalk.append(text)
        return web.json_response({"errcode": 0, "errmsg": "ok"})


@pytest.fixture
async def receiver(aiohttp_server):
    robot_receiver = Receiver()
    server = await aiohttp_server(robot_receiver.app)
    robot_receiver.base = str(server.make_url("")).rstrip("/")
    return robot_receiver


def robots(base: str, *, ding_secret: str = DING_SECRET) -> tuple[RobotSettings, ...]:
    return (RobotSettings(kind="wecom", url=Secret(f"{base}/cgi-bin/webhook/send?key={WECOM_KEY}"), name="ops"),
            RobotSettings(kind="dingtalk", url=Secret(f"{base}/robot/send?access_token={DING_TOKEN}"),
                          secret=Secret(ding_secret), name="ops-ding"))


@pytest.fixture
async def storage(aiohttp_client, sandbox, database):
    settings = dataclasses.replace(test_settings(sandbox, database), alerts=AlertsSettings(enabled=False))
    app = create_app(settings)
    await aiohttp_client(app)
    await add_device(app)
    return app[STORAGE]


def offline_rule(robot_settings) -> AlertsSettings:
    return AlertsSettings(devices_offline_max=0, offline_after_s=300, resolver_lag_max_s=3600,
                          robots=robot_settings)


async def test_an_alert_raised_and_cleared_is_told_to_both_group_chats_once_in_chinese(storage, receiver):
    rules = offline_rule(robots(receiver.base))
    await storage.record_heartbeat(DEVICE_ID, now_ms() - 3_600_000, {})
    [alert] = await alerts.evaluate(storage, rules)
    await alerts.evaluate(storage, rules)                 # still holds: nothing new to tell
    assert alert.rule == "devices_offline"
    assert len(receiver.wecom) == len(receiver.dingtalk) == 1
    assert receiver.wecom[0] == receiver.dingtalk[0]
    assert receiver.wecom[0].startswith("【scanpay 告警】设备离线\n1 台设备离线（300 秒无任何请求")

    await storage.record_heartbeat(DEVICE_ID, now_ms(), {})
    assert await alerts.evaluate(storage, rules) == []
    assert [m.split("\n")[0] for m in receiver.wecom] == ["【scanpay 告警】设备离线", "【scanpay 告警解除】设备离线"]
    assert len(receiver.dingtalk) == 2 and receiver.refused == []


async def test_a_refusing_or_unreachable_robot_never_stops_the_alerts(storage, receiver, caplog):
    dead = RobotSettings(kind="wecom", url=Secret(f"http://127.0.0.1:{free_port()}/cgi-bin/webhook/send?key=x"),
                         name="gone")
    rules = offline_rule((*robots(receiver.base, ding_secret="SECwrong"), dead))
    await storage.record_heartbeat(DEVICE_ID, now_ms() - 3_600_000, {})
    with caplog.at_level(logging.WARNING, logger="server.alert_robots"):
        [alert] = await alerts.evaluate(storage, rules)
    assert alert.rule == "devices_offline" and len(receiver.wecom) == 1
    assert receiver.refused == ["sign"] and receiver.dingtalk == []
    warnings = [r.getMessage() for r in caplog.records]
    assert any("ops-ding (dingtalk) refused" in w and "sign not match" in w for w in warnings)
    assert any("gone (wecom) unreachable" in w for w in warnings)
    assert not any(WECOM_KEY in w or DING_TOKEN in w for w in warnings)      # the URLs' keys stay out of logs


def test_robot_settings_are_checked():
    from server.settings import SettingsError, load_settings
    with pytest.raises(SettingsError, match=r"alerts.robots\[0\].kind"):
        load_settings(alerts={"robots": [{"kind": "slack", "url": "https://hooks.example/x"}]})
    with pytest.raises(SettingsError, match=r"alerts.robots\[0\].url"):
        load_settings(alerts={"robots": [{"kind": "wecom", "url": "qyapi.weixin.qq.com"}]})
    settings = load_settings(alerts={"robots": [{"kind": "dingtalk", "url": "https://oapi.dingtalk.com/robot/send?"
                                                 "access_token=t", "secret": "SECx"}]})
    assert "access_token" not in repr(settings.alerts.robots)
