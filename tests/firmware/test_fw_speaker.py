"""The cloud speaker (profile `speaker`) booted whole on real MicroPython (mp_speaker.py, main.main() on
wire-level stand-ins), on the native port with a fixed heap and on the WebAssembly port, against the real
server: a payment made before it
came up and one made while it listens are said, once each; its volume key is heard on the chip; the
cursor is in its flash. With the server's `[announce] transport = "mqtt"`, the same through a real
Mosquitto with micropython-lib's umqtt.simple on the device."""
import asyncio
import importlib.util
import pathlib

import pytest

from tests.firmware import mp_run
from hw_sim.boards.stack import ServerStack


SPEAKER = "S0001"
HEAP = 192 * 1024


def umqtt_source():
    # micropython-lib's umqtt.simple, which `make setup` puts into the virtual environment (see the Makefile)
    spec = importlib.util.find_spec("umqtt.simple")
    assert spec is not None and spec.origin and spec.origin.endswith(".py"), "run make setup: umqtt.simple is missing"
    return pathlib.Path(spec.origin).read_bytes()


async def speaker_hears(stack, tmp_path, files=None, port="native"):
    """Pays 25.80 before the speaker boots and 9.90 once it has said the first (its "HEARD 1"); its RESULT."""
    await stack.pay_static_code(SPEAKER, 2580)
    config = {"profile": "speaker", "device_id": SPEAKER, "device_key": stack.keys[SPEAKER],
              "server_url": stack.url, "heartbeat_first_s": 0}
    args = mp_run.command("mp_speaker.py", {"config": config, "expect": 2, "keys": ["VOL+"]}, port=port,
                          workdir=tmp_path / "mp", heap=HEAP if port == "native" else None, files=files)
    process = await asyncio.create_subprocess_exec(*args, cwd=mp_run.ROOT, stdout=asyncio.subprocess.PIPE,
                                                   stderr=asyncio.subprocess.PIPE)
    stdout = []
    try:
        async with asyncio.timeout(60):
            while line := await process.stdout.readline():
                stdout.append(line.decode())
                if line.startswith(b"HEARD 1"):
                    await asyncio.sleep(0.3)            # MQTT: subscribed after its catch-up
                    await stack.pay_static_code(SPEAKER, 990)
            stderr = (await process.stderr.read()).decode()
            await process.wait()
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    return mp_run.parse(process.returncode, "".join(stdout), stderr)


@pytest.mark.parametrize("port", mp_run.PORTS)
async def test_the_speaker_says_the_shops_payments_on_micropython(tmp_path, port):
    if not mp_run.available(port):
        pytest.skip(mp_run.skip_reason(port))
    async with ServerStack(tmp_path / "stack", (SPEAKER,)) as stack:
        result = await speaker_hears(stack, tmp_path, port=port)
    assert result["done"] and result["errors"] == []
    assert result["announce_transport"] == "events"
    # natively core/http.py on real sockets; on WebAssembly the JS bridge
    assert result["transport"] == ("HttpClient" if port == "native" else "JsHttpTransport")
    assert result["said"] == ["微信收款 25.80 元", "音量 7", "微信收款 9.90 元"]
    assert result["announced"] == [[2580, True, "events"], [990, True, "events"]]
    assert result["volume"] == 7 and result["volume_tags"] >= 2        # said louder after VOL+
    assert result["saved"] == {"cursor": 2}


async def test_the_speaker_hears_the_broker_on_micropython(tmp_path):
    if not mp_run.available("native"):      # the WebAssembly port has no sockets for MQTT
        pytest.skip(mp_run.skip_reason("native"))
    source = umqtt_source()
    from tests.loopback import Mosquitto
    broker = Mosquitto(tmp_path)
    broker.start()
    try:
        mqtt = {"host": "127.0.0.1", "port": broker.port, "username": broker.admin_user,
                "password": broker.admin_password, "provision": True, "keepalive_s": 5}
        async with ServerStack(tmp_path / "stack", (SPEAKER,), announce={"transport": "mqtt", "mqtt": mqtt}) as stack:
            result = await speaker_hears(stack, tmp_path, files={"lib/umqtt/__init__.py": b"",
                                                                 "lib/umqtt/simple.py": source})
    finally:
        broker.stop()
    assert result["done"], result
    assert result["announce_transport"] == "mqtt" and result["mqtt_client"]
    assert result["said"] == ["微信收款 25.80 元", "音量 7", "微信收款 9.90 元"]
    assert result["announced"] == [[2580, True, "events"], [990, True, "mqtt"]]
    assert result["saved"] == {"cursor": 2}
