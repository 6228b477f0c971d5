"""Monitoring alerts: rules over the figures of server/monitoring.py, judged in the background.

Rules ([alerts] in the settings, docs/operations.md "Alerts"):
  success_rate     per channel: under success_rate_min_pct of the payments the channel decided in the last
                   success_rate_window_s succeeded, once it decided at least success_rate_min_payments
                   (payers' refusals — no money, an expired code, gave up — are not the channel's: left out)
  devices_offline  more than devices_offline_max active devices made no signed request for offline_after_s
  backlog          more than backlog_max orders PAYING plus refunds PENDING, or the oldest of them is
                   older than backlog_oldest_max_s (the resolver does not keep up, or a channel hangs)
  resolver_lag     work due a check resolver_lag_max_s ago or longer is still not claimed by a resolver
  refund_refused   per refund: its channel's last answer refused the call itself (HTTP 4xx), so asking
                   again will not help until someone fixes the endpoint or the account

`judge` is a pure function of the figures. `evaluate` compares its verdict with the open alerts in the
database and raises the new ones and clears the ones no longer true; each change is a row in `alerts`
(one open row per rule and subject, a unique index: processes evaluating at once raise it once), a log
line with structured fields, the `scanpay_alerts_active` gauge, and a message in Chinese to the group
chats' robots of `[[alerts.robots]]` (server/alert_robots.py; only by the process whose change won, so
once). `run` does that every interval_s.
"""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass

from . import alert_robots
from .clock import new_id, now_ms
from .metrics import Metrics
from .monitoring import Backlog, ChannelRate, backlog, channel_rates, offline_devices
from .settings import AlertsSettings
from .storage import Refund

log = logging.getLogger(__name__)

SUCCESS_RATE, DEVICES_OFFLINE, BACKLOG = "success_rate", "devices_offline", "backlog"
RESOLVER_LAG, REFUND_REFUSED = "resolver_lag", "refund_refused"
RULES = (SUCCESS_RATE, DEVICES_OFFLINE, BACKLOG, RESOLVER_LAG, REFUND_REFUSED)
_CHANNEL_NAMES = {"wechat": "微信支付", "alipay": "支付宝", "unionpay": "云闪付"}
HISTORY_LIMIT = 50


@dataclass(frozen=True)
class Finding:
    """A rule that holds now: what it is about and what the operator reads."""

    rule: str
    subject: str          # the channel for success_rate, the refund for refund_refused, else ""
    message: str
    zh: str = ""          # the same in Chinese, for the group chats


@dataclass(frozen=True)
class Alert:
    id: str
    rule: str
    subject: str
    message: str
    raised_at: int
    cleared_at: int | None
    clear_note: str | None
    message_zh: str = ""      # the same in Chinese ("" for alerts raised before there was one)

    @property
    def active(self) -> bool:
        return self.cleared_at is None


def judge(settings: AlertsSettings, rates: list[ChannelRate], offline: int, work: Backlog, now: int, *,
          lag_s: int = 0, refused: Sequence[Refund] = ()) -> list[Finding]:
    """The rules that hold, given the window's channel rates, the offline count, the backlog, the resolver's
    lag (seconds the oldest unclaimed due work has waited) and the refunds whose channel refuses them."""
    findings = []
    window_min = settings.success_rate_window_s / 60
    for rate in rates:
        pct = rate.rate_pct
        if rate.decided >= settings.success_rate_min_payments and pct is not None \
                and pct < settings.success_rate_min_pct:
            findings.append(Finding(SUCCESS_RATE, rate.channel,
                                    f"{rate.channel}: {pct:.1f}% of {rate.decided} payments succeeded in the last"
                                    f" {window_min:g} min (alert below {settings.success_rate_min_pct:g}%;"
                                    f" {rate.refused} refused by their payers not counted)",
                                    f"{_CHANNEL_NAMES.get(rate.channel, rate.channel)}最近 {window_min:g} 分钟渠道决定的"
                                    f" {rate.decided} 笔支付只有 {pct:.1f}% 成功（低于 {settings.success_rate_min_pct:g}%"
                                    f" 告警；顾客原因未完成的 {rate.refused} 笔不计）"))
    if offline > settings.devices_offline_max:
        findings.append(Finding(DEVICES_OFFLINE, "", f"{offline} devices offline (not seen for"
                                f" {settings.offline_after_s} s; alert above {settings.devices_offline_max})",
                                f"{offline} 台设备离线（{settings.offline_after_s} 秒无任何请求；超过"
                                f" {settings.devices_offline_max} 台告警）"))
    age = work.oldest_age_s(now)
    if work.total > settings.backlog_max or (work.total and age > settings.backlog_oldest_max_s):
        findings.append(Finding(BACKLOG, "", f"resolver backlog: {work.paying} orders paying, {work.refunds_pending}"
                                f" refunds pending, oldest {age} s (alert above {settings.backlog_max}"
                                f" or {settings.backlog_oldest_max_s} s)",
                                f"待处理：{work.paying} 笔支付中，{work.refunds_pending} 笔退款待完成，最早的已 {age} 秒"
                                f"（超过 {settings.backlog_max} 笔或 {settings.backlog_oldest_max_s} 秒告警）"))
    if lag_s >= settings.resolver_lag_max_s:
        findings.append(Finding(RESOLVER_LAG, "", f"resolver lag: work due {lag_s} s ago is still waiting for a"
                                f" resolver (alert at {settings.resolver_lag_max_s} s)",
                                f"订单处理延迟：{lag_s} 秒前就该查询的订单还在等待（{settings.resolver_lag_max_s} 秒告警）"))
    for refund in refused:
        findings.append(Finding(REFUND_REFUSED, refund.refund_trade_no,
                                f"refund {refund.refund_no} of device {refund.device_id} ({refund.amount_fen} fen)"
                                f" cannot succeed: its channel refuses the call ({refund.faults} times in a row, last:"
                                f" {refund.message or 'no reason given'})",
                                f"设备 {refund.device_id} 的退款 {refund.refund_no}（{refund.amount_fen / 100:.2f} 元）无法完成："
                                f"渠道连续 {refund.faults} 次拒绝调用（最后一次：{refund.message or '未说明原因'}）"))
    return findings


async def resolver_lag_s(storage, now: int) -> float:
    """Seconds the oldest order or refund due a check has waited for a resolver to claim it (0: none waits)."""
    oldest_due = await storage.oldest_unclaimed_due(now)
    return max(0, now - oldest_due) / 1000 if oldest_due is not None else 0.0


async def current_findings(storage, settings: AlertsSettings, now: int,
                           metrics: Metrics | None = None) -> list[Finding]:
    rates = await channel_rates(storage, now - settings.success_rate_window_s * 1000, now + 1)
    offline, _active = await offline_devices(storage, now, settings.offline_after_s)
    lag_s = await resolver_lag_s(storage, now)
    if metrics is not None:
        metrics.resolver_lag.set(lag_s)
    return judge(settings, rates, len(offline), await backlog(storage), now, lag_s=int(lag_s),
                 refused=await storage.refused_refunds())


# the alerts table

async def active_alerts(storage) -> list[Alert]:
    return [Alert(**row) for row in await storage.open_alerts()]


async def alert_history(storage, limit: int = HISTORY_LIMIT) -> list[Alert]:
    """The latest alerts, open or cleared, newest first."""
    return [Alert(**row) for row in await storage.alert_history(limit)]


async def raise_alert(storage, finding: Finding, now: int) -> bool:
    """Open an alert for the finding; False when one is open already (raised here or by another process)."""
    return await storage.raise_alert(new_id(), finding.rule, finding.subject, finding.message, finding.zh, now)


async def clear_alert(storage, alert: Alert, now: int, note: str) -> bool:
    """Close an open alert; False when it was closed already."""
    return await storage.clear_alert(alert.id, now, note)


async def evaluate(storage, settings: AlertsSettings, metrics: Metrics | None = None,
                   now: int | None = None) -> list[Alert]:
    """One pass: raise what holds and is not open, clear what is open and no longer holds; the open alerts."""
    now = now_ms() if now is None else now
    findings = {(f.rule, f.subject): f for f in await current_findings(storage, settings, now, metrics)}
    open_ = {(a.rule, a.subject): a for a in await active_alerts(storage)}
    for key, finding in findings.items():
        if key not in open_ and await raise_alert(storage, finding, now):
            log.warning("alert raised: %s", finding.message,
                        extra={"alert": finding.rule, "alert_subject": finding.subject, "alert_state": "raised"})
            await alert_robots.send(settings.robots, alert_robots.text_for(
                finding.rule, finding.subject, finding.zh or finding.message, cleared=False))
    for key, alert in open_.items():
        if key in findings and (findings[key].message, findings[key].zh) != (alert.message, alert.message_zh):
            # Still true: the banner shows the figures of now, not of when it was raised.
            await storage.restate_alert(alert.id, findings[key].message, findings[key].zh)
        if key not in findings and await clear_alert(storage, alert, now, "back within the rule"):
            log.info("alert cleared: %s", alert.message,
                     extra={"alert": alert.rule, "alert_subject": alert.subject, "alert_state": "cleared"})
            await alert_robots.send(settings.robots, alert_robots.text_for(
                alert.rule, alert.subject, "已恢复正常（原告警：" + (alert.message_zh or alert.message) + "）", cleared=True))
    active = await active_alerts(storage)
    if metrics is not None:
        for rule in RULES:
            metrics.alerts_active.labels(rule).set(sum(1 for a in active if a.rule == rule))
    return active


async def run(storage, settings: AlertsSettings, metrics: Metrics | None = None,
              stopping: asyncio.Event | None = None) -> None:
    """Every interval_s until `stopping` is set: evaluate. A failed pass is logged, never fatal."""
    stopping = stopping or asyncio.Event()
    while not stopping.is_set():
        try:
            await evaluate(storage, settings, metrics)
        except Exception:
            log.exception("alert evaluation failed")
        try:
            await asyncio.wait_for(stopping.wait(), settings.interval_s)
        except TimeoutError:
            pass
