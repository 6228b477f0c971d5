"""The virtual basic box: real firmware, its USB serial line a real pseudo-terminal, spoken to with the
line protocol of docs/basic-box-protocol.md as the host agent speaks it."""
import asyncio
import os
import select

import pytest

from hw_sim.boards import VirtualBasicBox
from hw_sim.wallet import Wallet


class Agent:
    """The PC side of the pty, as a host agent would use it (raw bytes, lines)."""

    def __init__(self, port):
        self.fd = os.open(port, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
        self.buf = b""

    def send(self, line):
        os.write(self.fd, line.encode() + b"\n")

    async def line(self, timeout=3.0):
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while b"\n" not in self.buf:
            if loop.time() > deadline:
                raise TimeoutError("no line from the box; have %r" % self.buf)
            ready, _, _ = select.select([self.fd], [], [], 0)
            if ready:
                self.buf += os.read(self.fd, 1024)
            else:
                await asyncio.sleep(0.01)
        line, _, self.buf = self.buf.partition(b"\n")
        return line.decode()

    async def expect(self, prefix, timeout=3.0):
        while True:
            line = await self.line(timeout)
            if line.startswith(prefix):
                return line

    def close(self):
        os.close(self.fd)


@pytest.fixture
async def box():
    b = VirtualBasicBox("SPB0001")
    await b.start()
    yield b
    await b.stop()


@pytest.fixture
async def agent(box):
    a = Agent(box.port)
    yield a
    a.close()


async def test_hello_at_start_and_on_ping(box, agent):
    assert box.sent_lines()[0] == "HELLO 1 basic 0.2.0 SPB0001"
    assert await agent.line() == "HELLO 1 basic 0.2.0 SPB0001"      # waiting in the port for the agent
    agent.send("PING 40")
    assert await agent.line() == "HELLO 40 basic 0.2.0 SPB0001"


async def test_scan_goes_to_the_agent_and_is_repeated_until_acked(box, agent):
    wallet = Wallet()
    code = wallet.new_code()
    assert box.scan(wallet.screen()) == code
    first = await agent.expect("SCAN")
    verb, seq, sent_code = first.split(" ")
    assert sent_code == code
    again = await agent.expect("SCAN", timeout=2.5)         # no ACK within 1 s: sent again, same seq
    assert again == first
    agent.send("ACK %s" % seq)
    await box.wait_event(lambda e: e["event"] == "acked" and e["seq"] == int(seq))
    await asyncio.sleep(1.3)
    assert box.sent_lines().count(first) == 2                # nothing more after the ACK


async def test_unacked_scan_gives_up_after_five_tries(box):
    box.app.scan_repeat_ms = 50
    box.scan_text("134567890123456789")
    await box.wait_event(lambda e: e["event"] == "scan_lost", timeout=3)
    assert sum(1 for line in box.sent_lines() if line.startswith("SCAN ")) == 5


async def test_agent_commands_speak_light_beep_and_stop(box, agent):
    agent.send("SAY 7 请出示付款码")
    assert await agent.expect("ACK") == "ACK 7"
    await box.wait_spoken("请出示付款码")
    agent.send("LED 8 blue blink")
    assert await agent.expect("ACK") == "ACK 8"
    seen = set()
    for _ in range(30):
        seen.add(box.led)
        await asyncio.sleep(0.03)
    assert seen == {"blue", "off"}
    agent.send("LED 9 green")
    await agent.expect("ACK 9")
    assert box.led == "green"
    agent.send("BEEP 10")
    await agent.expect("ACK 10")
    await asyncio.sleep(0.15)
    assert box.beeps == 1
    agent.send("STOP 11")
    await agent.expect("ACK 11")
    assert any(f.command == 0x02 for f in box.voice.frames)     # the stop frame went to the module


async def test_a_resent_command_is_carried_out_once(box, agent):
    agent.send("SAY 9 微信收款 12.50 元")
    agent.send("SAY 9 微信收款 12.50 元")         # the agent missed our ACK and sent it again
    assert await agent.expect("ACK") == "ACK 9"
    assert await agent.expect("ACK") == "ACK 9"
    await box.wait_spoken("微信收款 12.50 元")
    await asyncio.sleep(0.2)
    assert box.spoken == ["微信收款 12.50 元"]


@pytest.mark.parametrize("line, answer", [
    ("HELLO", "ERR 0 bad_line"),
    ("say 3 hi", "ERR 0 bad_line"),
    ("JUMP 12 high", "ERR 12 unknown_verb"),
    ("LED 13 purple", "ERR 13 bad_line"),
    ("PING 70000", "ERR 0 bad_line"),
    ("SAY 14 " + "长" * 100, "ERR 0 too_long"),
])
async def test_bad_lines_are_refused(box, agent, line, answer):
    agent.send(line)
    assert await agent.expect("ERR") == answer
    agent.send("PING 5")
    assert (await agent.expect("HELLO 5 ")).endswith(" SPB0001")     # still listening


async def test_agent_may_unplug_and_come_back(box):
    a = Agent(box.port)
    a.send("SAY 1 一")
    await a.expect("ACK 1")
    a.close()
    box.scan_text("134567890123456789")        # nobody listening: the box keeps going
    await asyncio.sleep(0.1)
    b = Agent(box.port)
    try:
        b.send("PING 2")
        assert (await b.expect("HELLO 2")).endswith("SPB0001")
    finally:
        b.close()


async def test_in_process_line_without_a_pty():
    box = VirtualBasicBox("SPB0002", pty=False, config={"voice_chip": "xfs5152"})
    await box.start()
    try:
        box.host.write(b"SAY 3 \xe4\xbd\xa0\xe5\xa5\xbd\r\n")
        await box.wait_spoken("你好")
        assert b"ACK 3\n" in bytes(box.serial.written)
    finally:
        await box.stop()


async def test_what_the_box_said_as_a_wav(box, agent, tmp_path):
    import shutil
    agent.send("SAY 3 微信收款 12.50 元")
    await box.wait_spoken("微信收款 12.50 元")
    if shutil.which("espeak-ng") is None:
        pytest.fail("espeak-ng is not installed: make setup installs it")
    path = box.speak_to_wav(str(tmp_path / "said.wav"))
    with open(path, "rb") as f:
        head = f.read(12)
    assert head[:4] == b"RIFF" and head[8:12] == b"WAVE"
