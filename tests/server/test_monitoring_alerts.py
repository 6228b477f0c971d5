"""Monitoring figures and alert rules over real payments through the WeChat sandbox, on SQLite and PostgreSQL.

The console's monitoring page (tests/console/test_monitoring*.py) shows these figures; here they are
checked at the data level, with the clock passed in so nothing waits on time.
"""
import asyncio
import dataclasses
import logging

import pytest

from tests.server.conftest import DEVICE_ID, Device, add_device, test_settings
from hw_sim import test_codes
from server import alerts, monitoring
from server.app import create_app
from server.clock import now_ms
from server.device_auth import new_device_key
from server.keys import STORAGE
from server.metrics import Metrics
from server.settings import AlertsSettings
from server.storage import MerchantChannel

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
    # The empty wallet is its payer's refusal, not the channel's failure: the channel's rate is 100 %.
    assert (wechat.channel, wechat.succeeded, wechat.failed, wechat.paying, wechat.refused) == ("wechat", 2, 0, 0, 1)
    assert wechat.rate_pct == 100.0 and wechat.finished == 3
    assert [(r.channel, r.succeeded, r.refused) for r in every.today] == [("wechat", 2, 1)]
    assert len(every.per_minute) == 60 and sum(bar.total for bar in every.per_minute) == 3
    assert sum(bar.failed for bar in every.per_minute) == 1
    assert every.per_minute[-1].start_ms <= now < every.per_minute[-1].start_ms + 60_000

    mine = await monitoring.figures(storage, now, offline_after_s=300, utc_offset_h=8, merchant_id="M1")
    assert [(r.succeeded, r.refused) for r in mine.last_hour] == [(2, 1)]
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


async def test_a_device_taking_payments_without_heartbeats_is_online(device):
    """A kiosk that sends no heartbeat but pays is seen at its signed requests."""
    storage = device.app[STORAGE]
    await storage.record_heartbeat("D0001", now_ms() - 3_600_000, {})
    assert [d.id for d in (await monitoring.offline_devices(storage, now_ms(), 300))[0]] == ["D0001"]
    await pay(device, "K1", 1200)
    assert (await monitoring.offline_devices(storage, now_ms(), 300))[0] == []
    assert now_ms() - (await storage.get_device("D0001")).last_seen_at < 10_000


@pytest.fixture
async def provider(aiohttp_client, sandbox, database):
    """A service provider's server: the tea house's WeChat sub-merchant account is one WeChat knows; the
    shop M9's account is one WeChat refuses (as for an account it closed), so its payments are declined
    by the channel itself. Returns (tea house device, M9's device)."""
    settings = dataclasses.replace(test_settings(sandbox, database, service_provider=True),
                                   alerts=AlertsSettings(enabled=False))
    app = create_app(settings)
    client = await aiohttp_client(app)
    storage = app[STORAGE]
    tea = Device(client, DEVICE_ID, await add_device(app))
    sandbox.add_sub_merchant("1900000109")
    await storage.set_merchant_channel(MerchantChannel("M1", "wechat", "1900000109", None, "open", now_ms(), "ops"))
    await storage.add_merchant("M9", "Refused Shop")
    await storage.set_merchant_channel(MerchantChannel("M9", "wechat", "1900000999", None, "open", now_ms(), "ops"))
    key = new_device_key()
    await storage.add_device("Z0001", "M9", "Refused Shop", key)
    refused = Device(client, "Z0001", key)
    tea.app = refused.app = app
    return tea, refused


async def test_payer_refusals_raise_no_alert_while_a_refusing_channel_does(provider, caplog):
    tea, refused_shop = provider
    storage = tea.app[STORAGE]
    metrics = Metrics()
    await pay(tea, "S1", 100)
    for n, scenario in enumerate([test_codes.INSUFFICIENT_FUNDS] * 4 + [test_codes.EXPIRED, test_codes.ALREADY_USED]):
        assert (await pay(tea, f"X{n}", 100, scenario))["status"] == "FAILED"
    assert await alerts.evaluate(storage, RULES, metrics) == []      # six empty wallets are no outage

    for n in range(3):                                   # the channel declines the refused shop's account
        order = await pay(refused_shop, f"Z{n}", 100)
        assert (order["status"], order["reason"]) == ("FAILED", "channel_declined")
    with caplog.at_level(logging.INFO, logger="server.alerts"):
        active = await alerts.evaluate(storage, RULES, metrics)
        again = await asyncio.gather(alerts.evaluate(storage, RULES), alerts.evaluate(storage, RULES))
    assert [(a.rule, a.subject) for a in active] == [("success_rate", "wechat")]
    assert "25.0% of 4 payments" in active[0].message and "6 refused by their payers" in active[0].message
    assert all([a.id for a in run] == [active[0].id] for run in again)    # raised once, whoever evaluates
    assert metrics.registry.get_sample_value("scanpay_alerts_active", {"rule": "success_rate"}) == 1
    raised = [r for r in caplog.records if r.getMessage().startswith("alert raised")]
    assert len(raised) == 1 and (raised[0].alert, raised[0].alert_subject) == ("success_rate", "wechat")

    await pay(tea, "S2", 100)                            # 2 of 5: still low, the message follows the figures
    [still] = await alerts.evaluate(storage, RULES, metrics)
    assert still.id == active[0].id and "40.0% of 5 payments" in still.message
    for n in range(8):                                   # 10 of 13 = 76.9 %: back above 75 %
        await pay(tea, f"S{n + 3}", 100)
    with caplog.at_level(logging.INFO, logger="server.alerts"):
        assert await alerts.evaluate(storage, RULES, metrics) == []
    assert metrics.registry.get_sample_value("scanpay_alerts_active", {"rule": "success_rate"}) == 0
    assert any(r.getMessage().startswith("alert cleared") for r in caplog.records)
    [history] = await alerts.alert_history(storage)
    assert history.id == active[0].id and history.cleared_at is not None and not history.active


async def test_a_payer_who_gave_up_is_the_payers_a_channel_that_never_answered_is_the_channels(start):
    device = await start(enabled=True)                      # the resolver drives both to their deadline
    storage = device.app[STORAGE]
    gave_up = await pay(device, "W1", 100, test_codes.PAYER_GIVES_UP)       # WeChat: "waiting", then nothing
    silent = await pay(device, "W2", 100, test_codes.NO_ANSWER, 4)          # WeChat never answers the pay call
    assert gave_up["status"] == silent["status"] == "PAYING"
    for order_no in ("W1", "W2"):
        status, body = await device.query(order_no, wait=20)
        if body["order"]["status"] == "PAYING":
            status, body = await device.query(order_no, wait=20)
        assert (body["order"]["status"], body["order"]["reason"]) == ("CLOSED", "timeout"), body
    [wechat] = await monitoring.channel_rates(storage, 0, now_ms() + 1)
    assert (wechat.refused, wechat.failed) == (1, 1)


async def test_a_burst_of_refusals_raises_nothing_while_a_channel_outage_does(start):
    device = await start(enabled=True)
    storage = device.app[STORAGE]
    for n in range(6):                                        # six empty wallets in a row at one shop
        await pay(device, f"E{n}", 100, test_codes.INSUFFICIENT_FUNDS)
    assert await alerts.evaluate(storage, RULES) == []

    async def unanswered(order_no):                          # WeChat stops answering pay calls
        await pay(device, order_no, 100, test_codes.NO_ANSWER, 4)
        for _ in range(2):
            status, body = await device.query(order_no, wait=20)
            if body["order"]["status"] != "PAYING":
                return body["order"]
        return body["order"]
    orders = await asyncio.gather(*(unanswered(f"O{n}") for n in range(4)))
    assert {(o["status"], o["reason"]) for o in orders} == {("CLOSED", "timeout")}
    [alert] = await alerts.evaluate(storage, RULES)
    assert (alert.rule, alert.subject) == ("success_rate", "wechat") and "0.0% of 4 payments" in alert.message


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
