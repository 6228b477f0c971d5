"""One whole payment on real MicroPython (WebAssembly port, Node.js) against the real server and the
WeChat sandbox: the firmware's state machine, API client, CBOR, HMAC and journal, its HTTP going
through Node's http module registered as the `scanpay_http` JS module (core/js_http.py)."""
import asyncio
import json
import pathlib
import shutil

import pytest

from hw_sim import test_codes
from hw_sim.boards.stack import ServerStack

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parents[1]

pytestmark = pytest.mark.skipif(
    shutil.which("node") is None
    or not (ROOT / "node_modules/@micropython/micropython-webassembly-pyscript").is_dir(),
    reason="needs node and npm install (make setup)")


async def pay_on_micropython(tmp_path, scenario=test_codes.PASSWORD, param=1, heap=None):
    """Run mp_payment.py against a fresh server; (result, stack facts)."""
    async with ServerStack(tmp_path, ("D0001",)) as stack:
        code = test_codes.make_wechat_code(scenario, param)
        params = tmp_path / "input.json"
        params.write_text(json.dumps({"url": stack.url, "device_id": "D0001", "key_hex": stack.keys["D0001"],
                                      "code": code, "keys": list("12.50") + ["OK"]}))
        args = ["node", str(HERE / "mp_runner.mjs"), str(ROOT / "firmware"), str(HERE / "mp_payment.py"),
                str(params)]
        if heap:
            args.append("--heap=%d" % heap)
        process = await asyncio.create_subprocess_exec(*args, cwd=ROOT, stdout=asyncio.subprocess.PIPE,
                                                       stderr=asyncio.subprocess.PIPE)
        out, err = await asyncio.wait_for(process.communicate(), 120)
        assert process.returncode == 0, "MicroPython failed:\n" + err.decode() + out.decode()
        lines = [line for line in out.decode().splitlines() if line.startswith("RESULT ")]
        assert lines, out.decode() + err.decode()
        result = json.loads(lines[-1][len("RESULT "):])
        order_no = result["journal"][0]["order_no"] if result["journal"] else None
        order = await stack.order("D0001", order_no) if order_no else None
        return result, {"order": order, "charges": list(stack.ledger.charges)}


async def test_whole_payment_on_micropython_against_the_real_server(tmp_path):
    result, server = await pay_on_micropython(tmp_path)
    assert result["transport"] == "JsHttpTransport"        # picked by the firmware on the webassembly port
    assert result["said"] == ["请出示付款码", "用户支付中，请稍候", "微信收款 12.50 元"]
    assert result["states"] == ["IDLE", "AMOUNT", "WAIT_SCAN", "PAYING", "RESULT", "IDLE"]
    assert result["journal"][0]["status"] == "SUCCESS" and result["journal"][0]["amount_fen"] == 1250
    assert server["order"].status == "SUCCESS" and server["order"].amount_fen == 1250
    assert [c.total_fee for c in server["charges"]] == [1250]
    assert result["wire"]["connections"] == 1               # keep-alive: one connection for everything
    assert result["wire"]["requests"] >= 3                  # info, pay, query (and one clock correction)


def frame_to_image(frame_hex):
    """An SSD1306 frame (0x40 + 1024 bytes of page-ordered RAM) as the panel shows it, scaled x2."""
    from hw_sim.display import VirtualSSD1306
    panel = VirtualSSD1306()
    panel.on = True
    panel.ram[:] = bytes.fromhex(frame_hex)[1:]
    return panel.image(2).convert("L")


async def test_stand_and_gun_on_micropython_against_the_real_server(tmp_path):
    from hw_sim.scan_engine import decode_symbol
    async with ServerStack(tmp_path, ("S0001", "G0001")) as stack:
        params = tmp_path / "input.json"
        params.write_text(json.dumps({"url": stack.url, "stand": ["S0001", stack.keys["S0001"]],
                                      "gun": ["G0001", stack.keys["G0001"]],
                                      "code": test_codes.make_wechat_code(test_codes.INSUFFICIENT_FUNDS)}))
        process = await asyncio.create_subprocess_exec(
            "node", str(HERE / "mp_runner.mjs"), str(ROOT / "firmware"), str(HERE / "mp_screens.py"), str(params),
            cwd=ROOT, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        out, err = await asyncio.wait_for(process.communicate(), 120)
        assert process.returncode == 0, err.decode() + out.decode()
        result = json.loads([x for x in out.decode().splitlines() if x.startswith("RESULT ")][-1][7:])
        stand = result["stand"]
        assert stand["state"] == "SHOW_CODE" and stand["lines"] == ["688.00"]
        assert stand["said"] == ["请扫码支付 688.00 元", "已取消"]
        order = await stack.order("S0001", stand["order_no"])
        assert order.status == "CLOSED" and order.amount_fen == 68800 and order.kind == "c2b"
        # what MicroPython's framebuf drew, read by a phone camera (zbar): the server's one-time code
        one_time = decode_symbol(frame_to_image(stand["frame"]))
        static_url = "/c/s/" + stack.static_codes["S0001"]
        assert one_time and "/c/" in one_time and not one_time.endswith(static_url)
        assert decode_symbol(frame_to_image(result["static_frame"])).endswith(static_url)
        gun = result["gun"]
        assert gun["said"][-1] == "余额不足" and gun["said"][-2] == "余额不足"   # the payment, then the look-up
        assert gun["history"][1:3] == ["History 1/1", "#1 3.00 FAILED"]
        assert gun["lookup"][1:4] == ["#1", "3.00", "FAILED"]
        assert gun["spi_bytes"] > 240 * 240 * 2          # whole RGB565 frames went to the ST7789
