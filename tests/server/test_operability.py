"""What operators see: /healthz, Prometheus /metrics, JSON log lines with codes and keys masked."""
import io
import json
import logging

from hw_sim import test_codes
from server.keys import STORAGE
from server.logs import mask_text, setup_logging
from server.settings import LoggingSettings


async def test_healthz_reports_database_and_resolver(device):
    resp = await device.client.get("/healthz")
    body = await resp.json()
    assert resp.status == 200
    assert body["status"] == "ok" and body["checks"] == {"database": "ok", "resolver": "ok"}
    assert body["backend"] in ("sqlite", "postgresql")


async def test_healthz_fails_when_the_database_does(device):
    async def broken() -> None:
        raise OSError("database gone")
    device.app[STORAGE].ping = broken
    resp = await device.client.get("/healthz")
    assert resp.status == 503 and (await resp.json())["checks"]["database"] == "failing"


async def test_metrics_count_requests_payments_backlog_and_long_polls(device):
    await device.pay("M1", 100, test_codes.make_wechat_code(test_codes.SUCCESS))
    await device.pay("M2", 100, test_codes.make_wechat_code(test_codes.PAYER_GIVES_UP))
    await device.pay("M3", 0, test_codes.make_wechat_code(test_codes.SUCCESS))
    resp = await device.client.get("/metrics")
    assert resp.status == 200 and resp.content_type == "text/plain"
    text = await resp.text()
    lines = set(text.splitlines())
    assert 'scanpay_requests_total{code="ok",op="pay"} 2.0' in lines
    assert 'scanpay_requests_total{code="invalid_amount",op="pay"} 1.0' in lines
    assert 'scanpay_payments_total{channel="wechat",status="SUCCESS"} 1.0' in lines
    assert 'scanpay_resolver_backlog{kind="paying"} 1.0' in lines
    assert "scanpay_long_polls 0.0" in lines
    assert 'scanpay_channel_calls_total{call="pay",channel="wechat",outcome="WAITING"} 1.0' in lines
    assert any(line.startswith('scanpay_request_seconds_bucket{le="0.1",op="pay"}') for line in lines)


def test_json_log_lines_mask_codes_and_keys():
    stream = io.StringIO()
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    setup_logging(LoggingSettings(level="INFO", format="json"), stream=stream)
    try:
        code = test_codes.make_wechat_code(test_codes.SUCCESS)
        key = "ab" * 32
        log = logging.getLogger("scanpay.test")
        log.info("careless line with code %s and key %s", code, key)
        log.info("structured", extra={"auth_code": code, "order_no": "A1", "amount_fen": 1250})
        lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    finally:
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])
    assert [line["level"] for line in lines] == ["info", "info"]
    assert lines[0]["logger"] == "scanpay.test" and lines[0]["ts"].endswith("Z")
    text = stream.getvalue()
    assert code not in text and key not in text
    assert code[-4:] in lines[0]["msg"] and lines[1]["auth_code"].endswith(code[-4:])
    assert lines[1]["order_no"] == "A1" and lines[1]["amount_fen"] == 1250


def test_masking_keeps_ids_readable():
    assert mask_text("trade SP20261122021500abcdef0123456789 order A1") == \
        "trade SP20261122021500abcdef0123456789 order A1"
    assert mask_text("code 134567890123456789.") == "code **************6789."
