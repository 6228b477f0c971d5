"""Alerts sent to the operations team's group chat: a WeCom (企业微信) or DingTalk (钉钉) group robot.

Each alert raised or cleared (server/alerts.py) is one text message, in Chinese, to every robot in
`[[alerts.robots]]`; a robot that cannot be reached or refuses the message is logged and never holds up
the alerts themselves. The robots' public documentation:

- WeCom group robot: POST the robot's webhook URL (https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=…)
  a JSON body {"msgtype": "text", "text": {"content": …}}, content at most 2,048 bytes of UTF-8; the answer
  is {"errcode": 0, "errmsg": "ok"}; at most 20 messages a minute per robot
  (developer.work.weixin.qq.com/document/path/91770, 群机器人配置说明).
- DingTalk custom robot: POST https://oapi.dingtalk.com/robot/send?access_token=… the same JSON shape. With
  the 加签 security setting the URL also carries `timestamp` (Unix ms, within an hour of DingTalk's clock)
  and `sign` = URL-encoded Base64 of HMAC-SHA256 keyed with the robot's secret (SEC…) over
  "<timestamp>\\n<secret>"; with the keyword setting the text must contain one of the robot's keywords:
  every message here starts with 【scanpay 告警】, so "告警" works. Answer {"errcode": 0, "errmsg": "ok"}
  (open.dingtalk.com, 自定义机器人接入 / 自定义机器人安全设置).
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import time
from urllib.parse import quote_plus

import aiohttp

from .settings import RobotSettings

log = logging.getLogger(__name__)

_TIMEOUT_S = 5.0
_MAX_TEXT_BYTES = 2048          # WeCom's limit on a text message (DingTalk's is larger)
WECOM, DINGTALK = "wecom", "dingtalk"

# Each rule's name as the team reads it in the chat.
RULE_NAMES = {
    "success_rate": "渠道成功率低",
    "devices_offline": "设备离线",
    "backlog": "待处理积压",
    "resolver_lag": "订单处理延迟",
    "refund_refused": "退款无法完成",
}


def text_for(rule: str, subject: str, detail: str, *, cleared: bool) -> str:
    head = "【scanpay 告警解除】" if cleared else "【scanpay 告警】"
    about = f"（{subject}）" if subject else ""
    text = f"{head}{RULE_NAMES.get(rule, rule)}{about}\n{detail}"
    encoded = text.encode("utf-8")
    if len(encoded) > _MAX_TEXT_BYTES:
        text = encoded[:_MAX_TEXT_BYTES - 3].decode("utf-8", "ignore") + "…"
    return text


def signed_url(url: str, secret: str, now_ms: int | None = None) -> str:
    """A DingTalk robot URL with its 加签 timestamp and sign (the URL itself when there is no secret)."""
    if not secret:
        return url
    timestamp = str(int(time.time() * 1000) if now_ms is None else now_ms)
    digest = hmac.new(secret.encode("utf-8"), f"{timestamp}\n{secret}".encode("utf-8"), hashlib.sha256).digest()
    return f"{url}{'&' if '?' in url else '?'}timestamp={timestamp}&sign={quote_plus(base64.b64encode(digest))}"


async def send(robots: tuple[RobotSettings, ...], text: str) -> int:
    """Send `text` to every robot; how many took it (errcode 0)."""
    taken = 0
    if not robots:
        return 0
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=_TIMEOUT_S)) as session:
        for robot in robots:
            url = robot.url.reveal()
            if robot.kind == DINGTALK:
                url = signed_url(url, robot.secret.reveal())
            try:
                async with session.post(url, json={"msgtype": "text", "text": {"content": text}}) as resp:
                    answer = await resp.json(content_type=None) if resp.status == 200 else None
            except (aiohttp.ClientError, TimeoutError, ValueError) as e:
                log.warning("alert robot %s (%s) unreachable: %s", robot.name or robot.kind, robot.kind, e)
                continue
            if isinstance(answer, dict) and answer.get("errcode") == 0:
                taken += 1
            else:
                log.warning("alert robot %s (%s) refused the message: %s", robot.name or robot.kind, robot.kind,
                            answer if answer is not None else f"HTTP {resp.status}")
    return taken
