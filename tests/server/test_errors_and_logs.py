"""Unexpected faults become a logged JSON 500; logs never hold a whole payment code or key."""
import logging

from aiohttp import web

from hw_sim import test_codes
from server.middlewares import error_middleware


async def test_unexpected_error_is_a_logged_internal_error(aiohttp_client, caplog):
    async def broken(request):
        raise RuntimeError("disk on fire")

    app = web.Application(middlewares=[error_middleware])
    app.router.add_post("/d/v1/broken", broken)
    client = await aiohttp_client(app)
    with caplog.at_level(logging.ERROR):
        resp = await client.post("/d/v1/broken")
    body = await resp.json()
    assert resp.status == 500 and body["error"]["code"] == "internal_error"
    assert "disk on fire" not in body["error"]["message"]   # details go to the log, not to devices
    assert resp.headers["X-Server-Time"].isdigit()
    assert "disk on fire" in caplog.text


async def test_a_whole_payment_lifecycle_logs_only_masked_codes(device, caplog):
    codes = [test_codes.make_wechat_code(s, 0) for s in
             (test_codes.SUCCESS, test_codes.PASSWORD, test_codes.INSUFFICIENT_FUNDS, test_codes.SYSTEM_ERROR)]
    with caplog.at_level(logging.DEBUG):
        for i, code in enumerate(codes):
            await device.pay(f"L{i}", 100, code)
            await device.query(f"L{i}", wait=5)
    assert "L0" in caplog.text and codes[0][-4:] in caplog.text
    for code in codes:
        assert code not in caplog.text
    assert device.key_hex not in caplog.text
    assert "192006250b4c09247ec02edce69f6a2d" not in caplog.text
