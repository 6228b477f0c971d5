"""Bytes on the wire for one payment: a `pay` and a `query` (wait 0), requests and answers with every
header, in the compact form, in CBOR with signing headers and in JSON with signing headers.

    .venv/bin/python -m pytest -q -s tests/bench/test_bench_wire_bytes.py -p no:cacheprovider

The firmware's own HTTP client (core/http.py, as on the device, with its identity: hardware id and boot
id) talks to the real server through a small asyncio proxy on loopback that counts every byte each way;
the server is aiohttp as deployed (hw_sim ServerStack). The JSON flavour is what a kiosk would send with
the same client. The `Host` header is `127.0.0.1` here; a real server name adds its extra length to each
request. Results are printed and written to var/bench/wire_bytes.json. Goal (issue 15): at most 700 B
for pay + query in the compact form, and at most half of JSON's.
"""
import asyncio
import json
import pathlib

from core import api as api_mod
from core.api import DeviceApi, order_of, pay_fields
from core.http import HttpClient
from hw_sim import test_codes
from hw_sim.boards.stack import ServerStack

ROOT = pathlib.Path(__file__).resolve().parents[2]
OUT = ROOT / "var" / "bench" / "wire_bytes.json"
HARDWARE_ID = "a4cf12fe3b5c"        # 6 bytes of machine.unique_id() in hex, as the boards send it


class CountingProxy:
    """Forwards loopback TCP to the server and counts the bytes each way."""

    def __init__(self, port):
        self.port = port
        self.up = self.down = 0

    async def start(self):
        self.server = await asyncio.start_server(self._connection, "127.0.0.1", 0)
        return "http://127.0.0.1:%d" % self.server.sockets[0].getsockname()[1]

    def reset(self):
        self.up = self.down = 0

    async def _connection(self, reader, writer):
        upstream_reader, upstream_writer = await asyncio.open_connection("127.0.0.1", self.port)

        async def pipe(source, sink, upward):
            try:
                while data := await source.read(65536):
                    if upward:
                        self.up += len(data)
                    else:
                        self.down += len(data)
                    sink.write(data)
                    await sink.drain()
            finally:
                sink.close()

        await asyncio.gather(pipe(reader, upstream_writer, True), pipe(upstream_reader, writer, False),
                             return_exceptions=True)

    async def close(self):
        self.server.close()
        await self.server.wait_closed()


class JsonDeviceApi(DeviceApi):
    """The same client sending JSON bodies with signing headers (what a kiosk sends)."""

    async def call(self, op, fields, timeout_ms=None):
        path = "/d/v1/" + op
        body = json.dumps(fields, separators=(",", ":")).encode()
        for _attempt in range(2):       # the first may be stale: signed before the clock was synced
            headers = api_mod.sign_headers(self._key, self.device_id, path, body, self.clock.now(),
                                           api_mod.make_nonce(), self.identity, content_type="application/json")
            response = await self.transport.request("POST", path, headers, body, timeout_ms or self.timeout_ms)
            answer = json.loads(response.body)
            self._adopt_time(response, answer)
            if response.status == 200:
                return answer
        raise api_mod.refusal(response.status, answer)


async def pay_and_query(stack, proxy, url, form, order_no):
    client = HttpClient(url)
    if form == "json":
        device = JsonDeviceApi(client, "D0001", stack.keys["D0001"], hardware_id=HARDWARE_ID)
    else:
        device = DeviceApi(client, "D0001", stack.keys["D0001"], hardware_id=HARDWARE_ID, compact=form == "compact")
    await device.info()           # clock synced and connection open, as on a device that has been up a while
    proxy.reset()
    order = order_of(await device.call("pay", pay_fields(order_no, 1250, test_codes.make_wechat_code())))
    assert order["status"] == "SUCCESS"
    pay_bytes = proxy.up, proxy.down
    assert (await device.query(order_no, 0))["status"] == "SUCCESS"
    await client.close()
    return {"pay_up": pay_bytes[0], "pay_down": pay_bytes[1], "query_up": proxy.up - pay_bytes[0],
            "query_down": proxy.down - pay_bytes[1], "total": proxy.up + proxy.down}


async def test_bytes_per_pay_and_query(tmp_path):
    async with ServerStack(tmp_path, ("D0001",)) as stack:
        proxy = CountingProxy(stack.port)
        url = await proxy.start()
        results = {}
        for n, form in enumerate(("compact", "cbor_headers", "json")):
            results[form] = await pay_and_query(stack, proxy, url, form, "W%d" % n)
        await proxy.close()
    for form, counts in results.items():
        print("%-13s pay %4d up %4d down, query %4d up %4d down: %5d B" % (
            form, counts["pay_up"], counts["pay_down"], counts["query_up"], counts["query_down"], counts["total"]))
    print("compact / json = %.2f, compact / cbor_headers = %.2f" % (
        results["compact"]["total"] / results["json"]["total"],
        results["compact"]["total"] / results["cbor_headers"]["total"]))
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(results, indent=2))
    # Functional, not a benchmark figure: the compact form exists to send fewer bytes than the header form.
    assert results["compact"]["total"] < results["cbor_headers"]["total"] < results["json"]["total"]
