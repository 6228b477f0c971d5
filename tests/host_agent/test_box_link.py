"""The agent's box link over a real pseudo-terminal, against a scripted box speaking the line protocol."""
import asyncio
import os

import pytest

from tests.host_agent.agent_test_peers import replug
from core import line_protocol as lp
from host_agent.box_link import BoxError, BoxLink

CODE = "134567890123456789"


@pytest.fixture
async def link_to(request):
    links = []

    async def make(path):
        link = BoxLink(path)
        link.ack_timeout_s = 0.3        # resends sooner than the protocol's 1 s: a quicker test
        links.append(link)
        await link.start()
        return link

    yield make
    for link in links:
        await link.stop()


async def test_hello_scan_ack_and_commands(scripted_box, link_to):
    box = scripted_box()
    link = await link_to(box.path)
    info = await link.wait_ready()
    assert (info.profile, info.firmware, info.serial) == ("basic", "0.1.0", "SPB0001")

    seq = await asyncio.to_thread(box.scan, CODE)
    scan = await asyncio.wait_for(link.scans.get(), 2)
    assert (scan.seq, scan.code) == (seq, CODE)
    assert "ACK %d" % seq in box.lines

    await link.led("blue", blink=True)
    await link.say("微信收款 12.50 元")
    await link.beep()
    await link.stop_speaking()
    assert box.said == ["微信收款 12.50 元"]
    assert box.leds == ["blue blink"]
    assert [line.split(" ")[0] for line in box.lines if not line.startswith("ACK")] == \
        ["PING", "LED", "SAY", "BEEP", "STOP"]


async def test_a_repeated_scan_is_one_scan(scripted_box, link_to):
    box = scripted_box()
    link = await link_to(box.path)
    await link.wait_ready()
    seq = box.next_seq()
    for _ in range(3):                  # the box did not see our ACK and repeats the SCAN
        await asyncio.to_thread(box.send, "SCAN %d %s" % (seq, CODE))
    await asyncio.sleep(0.3)
    assert link.scans.qsize() == 1
    assert box.lines.count("ACK %d" % seq) == 3     # each repeat is answered

    await asyncio.to_thread(box.scan, "134567890123450000")      # a new seq is a new scan
    await asyncio.sleep(0.1)
    assert link.scans.qsize() == 2


async def test_a_box_restart_starts_its_numbers_over(scripted_box, link_to):
    box = scripted_box()
    link = await link_to(box.path)
    await link.wait_ready()
    await asyncio.to_thread(box.send, "SCAN 5 %s" % CODE)
    await asyncio.to_thread(box.send, "HELLO 1 basic 0.1.0 SPB0001")      # it rebooted
    await asyncio.to_thread(box.send, "SCAN 5 %s" % CODE)                 # a new customer, same code
    await asyncio.sleep(0.3)
    assert link.scans.qsize() == 2


async def test_a_command_without_answer_is_resent(scripted_box, link_to):
    box = scripted_box()
    link = await link_to(box.path)
    await link.wait_ready()
    box.ignore = 2
    await link.say("请出示付款码")
    says = [line for line in box.lines if line.startswith("SAY")]
    assert len(says) == 3 and len(set(says)) == 1        # the same seq each time
    assert box.said == ["请出示付款码"]                     # and said once


async def test_a_box_that_never_answers(scripted_box, link_to):
    box = scripted_box()
    link = await link_to(box.path)
    await link.wait_ready()
    box.ignore = 100
    with pytest.raises(BoxError, match="did not answer"):
        await link.say("请出示付款码")
    assert len([line for line in box.lines if line.startswith("SAY")]) == 4     # once and 3 resends


async def test_bad_lines_from_the_box_are_answered_err(scripted_box, link_to):
    box = scripted_box()
    link = await link_to(box.path)
    await link.wait_ready()
    await asyncio.to_thread(box.send, "what is this")
    await asyncio.to_thread(box.send, "FROB 7 x")
    await asyncio.to_thread(box.port.write, b"X" * 300 + b"\n")
    await asyncio.sleep(0.3)
    assert {"ERR 0 bad_line", "ERR 7 unknown_verb", "ERR 0 too_long"} <= set(box.lines)
    assert link.scans.empty()


async def test_unplug_and_replug(scripted_box, link_to, tmp_path):
    port_name = tmp_path / "ttyBOX"
    first = scripted_box()
    os.symlink(first.path, port_name)
    link = await link_to(str(port_name))
    await link.wait_ready()

    first.unplug()
    await asyncio.sleep(0.3)
    assert not link.connected
    with pytest.raises(BoxError, match="not connected"):
        await link.say("请出示付款码")

    second = scripted_box(serial="SPB0002")
    replug(port_name, second.port)
    info = await link.wait_ready(timeout=5)
    assert info.serial == "SPB0002"
    await asyncio.to_thread(second.scan, CODE)
    assert (await asyncio.wait_for(link.scans.get(), 2)).code == CODE
    await link.say("微信收款 1.00 元")
    assert second.said == ["微信收款 1.00 元"]


def test_line_protocol_parsing():
    """The agent reads the box's lines with the box's own module (firmware/core/line_protocol.py)."""
    box_verbs = lp.BOX_VERBS
    assert lp.parse_line(b"SCAN 2 134567890123456789\r\n", box_verbs) == ("SCAN", 2, "134567890123456789")
    assert lp.parse_line(b"HELLO 1 basic 0.1.0 SPB0001\n", box_verbs) == ("HELLO", 1, "basic 0.1.0 SPB0001")
    assert lp.parse_line(b"ACK 65535", box_verbs) == ("ACK", 65535, "")
    assert lp.format_line("SAY", 9, "微信收款 12.50 元") == "SAY 9 微信收款 12.50 元\n".encode()
    for bad, seq in ((b"ACK", 0), (b"ACK x", 0), (b"ACK 65536", 0), (b"ack 3", 0), (b"A1K 3", 3), (b"\xff\xfe 1", 0)):
        with pytest.raises(lp.BadLine) as caught:
            lp.parse_line(bad, box_verbs)
        assert caught.value.seq == seq
    with pytest.raises(ValueError):
        lp.format_line("SAY", 1, "x" * 300)
    with pytest.raises(ValueError):
        lp.format_line("ACK", 65536)


class _Serial:
    """The box's USB CDC port: bytes the agent wrote come out of read(), what the box writes is kept."""

    def __init__(self):
        self.incoming = b""
        self.written = b""

    def any(self):
        return len(self.incoming)

    def read(self):
        data, self.incoming = self.incoming, b""
        return data

    def write(self, data):
        self.written += data


class _Quiet:
    """A scan engine that reads nothing, a voice and a LED that only listen."""

    def __aiter__(self):
        return self

    async def __anext__(self):
        await asyncio.Event().wait()

    def say(self, text):
        pass

    def show(self, colour, blink=False):
        pass

    def stop(self):
        pass

    def deinit(self):
        pass


def _line(verb, seq, size):
    """A `<verb> <seq> xxx...` line of exactly `size` bytes before its newline."""
    head = "%s %d " % (verb, seq)
    return head + "x" * (size - len(head))


@pytest.mark.parametrize("size, taken", [(255, True), (256, True), (257, False)])
async def test_the_line_limit_is_the_same_on_the_box_and_the_agent(size, taken, scripted_box, link_to):
    """256 bytes before the newline: the box's firmware (core/basic_box.py) and the agent's link take
    the same lines and refuse the same, because both run firmware/core/line_protocol.py."""
    from core.basic_box import BasicBox
    serial, quiet = _Serial(), _Quiet()
    box = BasicBox(serial, quiet, quiet, quiet, "SPB0001")
    runner = asyncio.create_task(box.run())
    serial.incoming = _line("SAY", 7, size).encode() + b"\n"        # the agent speaks to the box
    for _ in range(100):
        await asyncio.sleep(0.01)
        if b"7 " in serial.written or b"ERR 0" in serial.written:
            break
    runner.cancel()
    await asyncio.gather(runner, return_exceptions=True)
    answer = serial.written.decode().splitlines()[-1]
    assert answer == ("ACK 7" if taken else "ERR 0 too_long")

    scripted = scripted_box()                                       # the box speaks to the agent
    link = await link_to(scripted.path)
    await link.wait_ready()
    await asyncio.to_thread(scripted.send, _line("SCAN", 9, size))
    await asyncio.sleep(0.3)
    if taken:
        assert "ACK 9" in scripted.lines and (await asyncio.wait_for(link.scans.get(), 2)).seq == 9
    else:
        assert "ERR 0 too_long" in scripted.lines and link.scans.empty()
