"""The profile-specific firmware modules on real MicroPython (WebAssembly), checked against CPython:
the QR encoder bit for bit, a QR drawn on an SSD1306 frame byte for byte (real framebuf there, the
simulator's framebuf here), the battery curve, modem reply parsing, and the basic box's app speaking
the line protocol on MicroPython's asyncio."""
import json
import shutil
import subprocess

import pytest

from tests.firmware.test_fw_micropython import FIRMWARE, HERE, ROOT, RUNNER

from core import line_protocol as lp  # noqa: E402
from core import qr  # noqa: E402
from drivers.battery import percent_from_mv  # noqa: E402
from drivers.modem import csq_to_dbm, parse_reply  # noqa: E402
from hw_sim.boards.base import use_firmware  # noqa: E402

pytestmark = pytest.mark.skipif(
    shutil.which("node") is None
    or not (ROOT / "node_modules/@micropython/micropython-webassembly-pyscript").is_dir(),
    reason="needs node and npm install (make setup)")

PARAMS = {
    "qr": ["https://pay.example.com/c/s/D0001", "https://127.0.0.1:8080/c/JBQOfhzenWAYK4_Y12TO5-w7", "a" * 120],
    "mv": [4250, 4150, 3790, 3550, 3200],
    "replies": ["AT\r\r\nOK\r\n", "\r\n+CSQ: 20,99\r\n\r\nOK\r\n", "\r\nCONNECT 150000000\r\n", "\r\n+CME ERROR: 10\r\n"],
    "lines": ["PING 1", "SAY 7 请出示付款码\r\n", "JUMP 4 x", "ping 2", "ACK 65536"],
}


@pytest.fixture(scope="module")
def micropython(tmp_path_factory):
    path = tmp_path_factory.mktemp("mp") / "input.json"
    path.write_text(json.dumps(PARAMS, ensure_ascii=False))
    result = subprocess.run(["node", str(RUNNER), str(FIRMWARE), str(HERE / "mp_profiles.py"), str(path)],
                            cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr + result.stdout
    line = [x for x in result.stdout.splitlines() if x.startswith("RESULT ")][-1]
    return json.loads(line[len("RESULT "):])


def test_qr_encoder_same_bits(micropython):
    assert micropython["qr"] == [qr.encode(t).bits.hex() for t in PARAMS["qr"]]


def test_qr_on_an_oled_same_frame_as_the_simulator(micropython):
    use_firmware()
    from drivers.display import SSD1306, Screen
    from hw_sim.display import VirtualI2C, VirtualSSD1306
    i2c = VirtualI2C()
    panel = VirtualSSD1306()
    i2c.attach(0x3C, panel)
    screen = Screen(SSD1306(i2c))
    screen.clear()
    screen.qr(qr.encode(PARAMS["qr"][0]), top=0)
    screen.show()
    assert micropython["oled"] == ("40" + bytes(panel.ram).hex())


def test_battery_and_modem_parsing_same(micropython):
    assert micropython["battery"] == [percent_from_mv(mv) for mv in PARAMS["mv"]]
    expected = [list(parse_reply(t)) for t in PARAMS["replies"]] + [csq_to_dbm(["+CSQ: 20,99"])]
    assert micropython["modem"] == expected


def test_line_protocol_same(micropython):
    expected = []
    for raw in PARAMS["lines"]:
        try:
            expected.append(list(lp.parse_line(raw.encode())))
        except lp.BadLine as e:
            expected.append(["!" + e.reason, e.seq])
    assert micropython["lines"] == expected


def test_basic_box_app_on_micropython(micropython):
    basic = micropython["basic"]
    assert basic["tx"].splitlines() == ["HELLO 1 basic 0.2.0 SPB0009", "ACK 7", "ACK 8", "ACK 7",
                                        "ERR 9 unknown_verb", "SCAN 2 134567890123456789"]
    assert basic["said"] == ["请出示付款码"]                  # the resent SAY 7 was not spoken twice
    assert basic["led"] == [["off", False], ["blue", True]]
