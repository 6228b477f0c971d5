"""Monitoring figures and alert rules over real payments through the WeChat sandbox, on SQLite and PostgreSQL.

The console's monitoring page (tests/console/test_monitoring*.py) shows these figures; here they are
checked at the data level, with the clock passed in so nothing waits on time.
"""
import asyncio
import dataclasses
import logging

import pytest

from conftest import DEVICE_ID, Device, add_device, test_settings
from hw_sim import test_codes
from server import alerts, monitoring
from server.app import create_app
from server.clock import now_ms
from server.device_auth import new_device_key
from server.keys import STORAGE
from server.metrics import Metrics
from server.settings import AlertsSettings

# resolver_lag (tests/server/test_resolver_claims.py) is set out of reach: these tests run without a resolver.
RULES = AlertsSettings(success_rate_min_pct=75.0, success_rate_window_s=600, success_rate_min_payments=4,
                       devices_offline_max=0, offline_after_s=300, backlog_max=5, backlog_oldest_max_s=60,
                       resolver_lag_max_s=3600)


@pytest.fixture
def start(aiohttp_client, sandbox, database):
    """The server with its own alert evaluator off (these tests evaluate with a clock they choose),
    or with the given [alerts] settings."""
    async def start(alert_settings: AlertsSettings = AlertsSettings(enabled=False), **resolver) -> Device:
        settings = dataclasses.replace(test_settings(sandbox, database, resolver=resolver), alerts=alert_settings)
        app = create_app(settings)
        client = await aiohttp_client(app)
        device = Device(client, DEVICE_ID, await add_device(app))
        device.app = app
        return device
    return start


@pytest.fixture
async def device(start):
    return await start()


async def pay(device, order_no, amount_fen, scenario=test_codes.SUCCESS, param=0):
    status, body = await device.pay(order_no, amount_fen, test_codes.make_wechat_code(scenario, param))
    assert status == 200, body
    return body["order"]


async def add_other_merchant(storage):
    await storage.add_merchant("M2", "Noodle Shop")
    await storage.add_device("N0001", "M2", "Noodle Shop, Huaihai Rd", new_device_key())


async def test_figures_count_what_was_paid_and_refused_per_merchant(device):
    storage = device.app[STORAGE]
    await add_other_merchant(storage)
    await pay(device, "F1", 1250)
    await pay(device, "F2", 300)
    await pay(device, "F3", 800, test_codes.INSUFFICIENT_FUNDS)
    now = now_ms()

    every = await monitoring.figures(storage, now, offline_after_s=300, utc_offset_h=8)
    [wechat] = every.last_hour
    assert (wechat.channel, wechat.succeeded, wechat.failed, wechat.paying) == ("wechat", 2, 1, 0)
    assert round(wechat.rate_pct, 1) == 66.7
    assert [(r.channel, r.succeeded, r.failed) for r in every.today] == [("wechat", 2, 1)]
    assert len(every.per_minute) == 60 and sum(bar.total for bar in every.per_minute) == 3
    assert sum(bar.failed for bar in every.per_minute) == 1
    assert every.per_minute[-1].start_ms <= now < every.per_minute[-1].start_ms + 60_000

    mine = await monitoring.figures(storage, now, offline_after_s=300, utc_offset_h=8, merchant_id="M1")
    assert [(r.succeeded, r.failed) for r in mine.last_hour] == [(2, 1)]
    theirs = await monitoring.figures(storage, now, offline_after_s=300, utc_offset_h=8, merchant_id="M2")
    assert theirs.last_hour == [] and sum(bar.total for bar in theirs.per_minute) == 0
    assert theirs.active_devices == 1 and every.active_devices == 2


async def test_offline_devices_are_those_without_a_recent_heartbeat(device):
    storage = device.app[STORAGE]
    await add_other_merchant(storage)
    now = now_ms()
    await storage.record_heartbeat("D0001", now - 301_000, {"firmware": "1.0.0"})
    await storage.record_heartbeat("N0001", now - 10_000, {})

    offline, active = await monitoring.offline_devices(storage, now, 300)
    assert [(d.id, d.firmware) for d in offline] == [("D0001", "1.0.0")] and active == 2
    assert await monitoring.offline_devices(storage, now, 300, merchant_id="M2") == ([], 1)

    await storage.record_heartbeat("D0001", now, {})       # it came back
    assert (await monitoring.offline_devices(storage, now, 300))[0] == []


async def test_success_rate_alert_is_raised_once_and_cleared_when_payments_recover(device, caplog):
    storage = device.app[STORAGE]
    metrics = Metrics()
    await pay(device, "S1", 100)
    for n in range(3):
        await pay(device, f"X{n}", 100, test_codes.INSUFFICIENT_FUNDS)

    with caplog.at_level(logging.INFO, logger="server.alerts"):
        active = await alerts.evaluate(storage, RULES, metrics)
        again = await asyncio.gather(alerts.evaluate(storage, RULES), alerts.evaluate(storage, RULES))
    assert [(a.rule, a.subject) for a in active] == [("success_rate", "wechat")]
    assert "25.0% of 4 payments" in active[0].message
    assert all([a.id for a in run] == [active[0].id] for run in again)    # raised once, whoever evaluates
    assert metrics.registry.get_sample_value("scanpay_alerts_active", {"rule": "success_rate"}) == 1
    raised = [r for r in caplog.records if r.getMessage().startswith("alert raised")]
    assert len(raised) == 1 and (raised[0].alert, raised[0].alert_subject) == ("success_rate", "wechat")

    await pay(device, "S2", 100)                         # 2 of 5: still low, the message follows the figures
    [still] = await alerts.evaluate(storage, RULES, metrics)
    assert still.id == active[0].id and "40.0% of 5 payments" in still.message
    for n in range(8):                                   # 10 of 13 = 76.9 %: back above 75 %
        await pay(device, f"S{n + 3}", 100)
    with caplog.at_level(logging.INFO, logger="server.alerts"):
        assert await alerts.evaluate(storage, RULES, metrics) == []
    assert metrics.registry.get_sample_value("scanpay_alerts_active", {"rule": "success_rate"}) == 0
    assert any(r.getMessage().startswith("alert cleared") for r in caplog.records)
    [history] = await alerts.alert_history(storage)
    assert history.id == active[0].id and history.cleared_at is not None and not history.active


async def test_too_few_payments_raise_nothing(device):
    await pay(device, "Y1", 100, test_codes.INSUFFICIENT_FUNDS)
    await pay(device, "Y2", 100, test_codes.EXPIRED)
    assert await alerts.evaluate(device.app[STORAGE], RULES) == []


async def test_backlog_and_offline_rules(start):
    device = await start(enabled=False)     # nobody finishes the waiting payment
    storage = device.app[STORAGE]
    order = await pay(device, "W1", 100, test_codes.PASSWORD, 90)
    assert order["status"] == "PAYING"
    created = (await storage.get_order("D0001", "W1")).created_at

    work = await monitoring.backlog(storage)
    assert (work.paying, work.refunds_pending, work.oldest_at) == (1, 0, created)
    assert (await monitoring.backlog(storage, merchant_id="M2")).total == 0
    soon = await alerts.evaluate(storage, RULES, now=created + 30_000)
    assert soon == []                                    # one order, 30 s old: within the rule
    late = await alerts.evaluate(storage, RULES, now=created + 61_000)
    assert [a.rule for a in late] == ["backlog"] and "oldest 61 s" in late[0].message

    await storage.record_heartbeat("D0001", created - 400_000, {})
    both = await alerts.evaluate(storage, RULES, now=created + 61_000)
    assert sorted(a.rule for a in both) == ["backlog", "devices_offline"]
    await storage.record_heartbeat("D0001", created + 61_000, {})
    assert [a.rule for a in await alerts.evaluate(storage, RULES, now=created + 61_000)] == ["backlog"]


async def test_the_server_evaluates_in_the_background_and_exports_the_gauge(start):
    device = await start(AlertsSettings(interval_s=0.05, devices_offline_max=0))
    storage = device.app[STORAGE]
    assert await alerts.active_alerts(storage) == []
    await storage.record_heartbeat(DEVICE_ID, now_ms() - 3_600_000, {})   # silent for an hour
    for _ in range(200):
        if await alerts.active_alerts(storage):
            break
        await asyncio.sleep(0.05)
    assert [a.rule for a in await alerts.active_alerts(storage)] == ["devices_offline"]
    text = await (await device.client.get("/metrics")).text()
    assert 'scanpay_alerts_active{rule="devices_offline"} 1.0' in text
    assert 'scanpay_alerts_active{rule="success_rate"} 0.0' in text
