"""Prometheus metrics, one registry per application (so several apps in one test process stay apart).

prometheus_client writes the text exposition format exactly as Prometheus parses it (escaping,
histogram buckets, `_total` suffixes); rendering it by hand is where exporters usually go wrong.
"""
from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

CONTENT_TYPE = CONTENT_TYPE_LATEST


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests = Counter("scanpay_requests", "Device API requests by op and answer code "
                                "(ok or the error code)", ["op", "code"], registry=r)
        self.request_seconds = Histogram("scanpay_request_seconds", "Device API request time by op", ["op"],
                                         buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
                                         registry=r)
        self.payments = Counter("scanpay_payments", "Orders that left PAYING, by channel and final status",
                                ["channel", "status"], registry=r)
        self.refunds = Counter("scanpay_refunds", "Refunds that became final, by channel and status",
                               ["channel", "status"], registry=r)
        self.channel_calls = Counter("scanpay_channel_calls", "Calls to payment channels by channel, call, outcome",
                                     ["channel", "call", "outcome"], registry=r)
        self.long_polls = Gauge("scanpay_long_polls", "query long polls held right now", registry=r)
        self.resolver_backlog = Gauge("scanpay_resolver_backlog", "Unfinished work in the database "
                                      "(kind: paying, due, refunds_pending)", ["kind"], registry=r)
        self.resolver_steps = Counter("scanpay_resolver_steps", "Resolver steps done by this process",
                                      ["kind"], registry=r)
        self.resolver_lag = Gauge("scanpay_resolver_lag_seconds", "Now minus the due time of the oldest order or "
                                  "refund due a check that no resolver has claimed (0: none waits)", registry=r)
        self.alerts_active = Gauge("scanpay_alerts_active", "Monitoring alerts open now, by rule (success_rate, "
                                   "devices_offline, backlog, resolver_lag, refund_refused)", ["rule"], registry=r)

    def render(self) -> bytes:
        return generate_latest(self.registry)
