"""The pole-display amount source against hw_sim's POS over real pseudo-terminals: the POS writes its
display protocol to one pty, the agent opens the other end with pyserial as it opens COM ports."""
import asyncio
import os
import random

import pytest

from tests.host_agent.agent_test_peers import replug
from host_agent.sources.pole_display import PoleDisplaySource
from hw_sim.pos.pole_display import PoleDisplayRecorder, PosCashier


class Running:
    """The source's run() as a task, collecting what it emits."""

    def __init__(self, source):
        self.source = source
        self.readings = []
        self._arrived = asyncio.Event()

    def emit(self, reading):
        self.readings.append(reading)
        self._arrived.set()

    async def __aenter__(self):
        self.task = asyncio.create_task(self.source.run(self.emit))
        await asyncio.sleep(0)
        assert await asyncio.to_thread(self.source.wait_open, 5), "the agent did not open its ports"
        return self

    async def __aexit__(self, *exc):
        self.task.cancel()
        await asyncio.gather(self.task, return_exceptions=True)

    async def amounts(self, count, timeout=15.0):
        async with asyncio.timeout(timeout):
            while len(self.readings) < count:
                self._arrived.clear()
                await self._arrived.wait()
        return [r.amount_fen for r in self.readings]


async def cashier_does(*steps):
    """Each step is one cashier action; the POS writes it in one go, then the cashier takes a moment."""
    for step in steps:
        await asyncio.to_thread(step)
        await asyncio.sleep(0.1)


@pytest.mark.parametrize("protocol, lamps", [("led8n", "wintec"), ("led8n", "partner"), ("led8n", "ascii"),
                                             ("cd5220", "wintec"), ("epson", "wintec")])
async def test_sniff_reads_each_total(pty_pair, protocol, lamps):
    pos_port = pty_pair()
    source = PoleDisplaySource(pos_port.path, mode="sniff", protocol=protocol, lamps=lamps)
    pos = PosCashier(pos_port, protocol, lamps=lamps, label="应收" if protocol == "epson" else "TOTAL")
    async with Running(source) as running:
        await cashier_does(pos.start, lambda: pos.show_item(350), lambda: pos.show_item(900),
                           lambda: pos.show_total(1250),
                           lambda: pos.write(pos.collect_change_bytes(2000, 750)),
                           pos.clear, lambda: pos.show_item(123456), lambda: pos.show_total(123456))
        assert await running.amounts(2) == [1250, 123456]
        await asyncio.sleep(0.2)
        assert [r.amount_fen for r in running.readings] == [1250, 123456]   # nothing else was a total
        assert running.readings[0].source == "pole_display"


async def test_a_pos_writing_byte_by_byte_at_2400_baud(pty_pair):
    pos_port = pty_pair()
    source = PoleDisplaySource(pos_port.path, protocol="cd5220")
    pos = PosCashier(pos_port, "cd5220", byte_gap_s=0.004)       # ~ one byte time at 2400 baud
    async with Running(source) as running:
        await cashier_does(lambda: pos.show_total(8850))
        assert await running.amounts(1) == [8850]


async def test_a_display_that_is_written_without_pause(pty_pair):
    # some POS programs keep refreshing the display (a scrolling message) and the line never goes quiet
    pos_port = pty_pair()
    source = PoleDisplaySource(pos_port.path, protocol="led8n")
    pos = PosCashier(pos_port, "led8n", byte_gap_s=0.003)
    async with Running(source) as running:
        writer = asyncio.create_task(asyncio.to_thread(lambda: [pos.show_total(4321) for _ in range(80)]))
        assert await running.amounts(1, timeout=3) == [4321]
        assert not writer.done()            # known while the POS was still writing
        await writer


async def write_with_pauses(port, *pieces, pause_s=0.15):
    """What the POS writes, with a pause (longer than the agent's quiet gap) after each piece."""
    for piece in pieces:
        await asyncio.to_thread(port.write, piece)
        await asyncio.sleep(pause_s)


async def test_a_pos_pausing_between_the_lamp_and_the_value(pty_pair):
    # the "total" lamp lights while the last price 3.00 is still shown; the total follows a pause
    pos_port = pty_pair()
    source = PoleDisplaySource(pos_port.path, protocol="led8n")
    async with Running(source) as running:
        await write_with_pauses(pos_port, b"\x1b@\x0c\x1bs\x01\x1bQA3.00\r\x1bs\x02", b"\x1bQA15",
                                b".50\r\x1bs\x03\x1bQA20.00\r\x1bs\x04\x1bQA4.50\r")
        assert await running.amounts(1) == [1550]
        await asyncio.sleep(0.2)
        assert [r.amount_fen for r in running.readings] == [1550]


@pytest.mark.parametrize("protocol", ["led8n", "cd5220", "epson"])
async def test_total_change_and_clear_in_one_write_protocol_from_the_bytes(pty_pair, protocol):
    pos_port = pty_pair()
    source = PoleDisplaySource(pos_port.path)          # no protocol named: told from the bytes
    pos = PosCashier(pos_port, protocol, label="合计")
    sale = b"".join([pos.init_bytes(), pos.price_bytes(350), pos.price_bytes(900), pos.total_bytes(1250),
                     pos.collect_change_bytes(2000, 750), b"\x0c"])
    async with Running(source) as running:
        await asyncio.to_thread(pos.write, sale + sale.replace(b"12.50", b"13.50").replace(b"7.50", b"6.50"))
        assert await running.amounts(2) == [1250, 1350]


async def test_passthrough_keeps_every_byte_and_reads_the_total(pty_pair):
    pos_port, display_port = pty_pair(), pty_pair()
    display = PoleDisplayRecorder(display_port)
    source = PoleDisplaySource(pos_port.path, mode="passthrough", display_port=display_port.path,
                               protocol="led8n", lamps="wintec")
    pos = PosCashier(pos_port, "led8n", lamps="wintec")
    try:
        async with Running(source) as running:
            await cashier_does(pos.start, lambda: pos.show_item(350), lambda: pos.show_total(1250),
                               lambda: pos.write(bytes(range(256)) * 4),     # every byte value there is
                               # noise, the same every run (os.urandom made a run that failed once unrepeatable)
                               lambda: pos.write(random.Random(2026).randbytes(3000)),
                               pos.clear, lambda: pos.show_total(99))
            amounts = await running.amounts(2)
            received = await asyncio.to_thread(display.wait_for, len(pos.written))
    finally:
        display.stop()
    assert received == bytes(pos.written)      # the customer display got exactly what the POS sent
    assert amounts[:1] == [1250] and amounts[-1] == 99
    assert source.forwarded == len(pos.written) and source.dropped == 0


async def test_passthrough_passes_the_display_answers_back_to_the_pos(pty_pair):
    pos_port, display_port = pty_pair(), pty_pair()
    source = PoleDisplaySource(pos_port.path, mode="passthrough", display_port=display_port.path)
    async with Running(source):
        answer = bytes(range(256))
        await asyncio.to_thread(display_port.write, answer)
        assert await asyncio.to_thread(pos_port.read_exactly, len(answer)) == answer


async def test_passthrough_without_a_display_still_reads_amounts(pty_pair, tmp_path):
    pos_port = pty_pair()
    source = PoleDisplaySource(pos_port.path, mode="passthrough", display_port=str(tmp_path / "no-such-port"),
                               protocol="led8n")
    pos = PosCashier(pos_port, "led8n")
    running = Running(source)
    running.task = asyncio.create_task(source.run(running.emit))
    try:
        await asyncio.sleep(0.3)
        await cashier_does(lambda: pos.show_total(4200))
        assert await running.amounts(1) == [4200]
        assert source.dropped == len(pos.written)
    finally:
        await running.__aexit__()


async def test_pos_port_unplugged_and_back(pty_pair, tmp_path):
    link = tmp_path / "ttyPOS"          # a stable name, as /dev/serial/by-id/... or COM5 is
    first = pty_pair()
    os.symlink(first.path, link)
    source = PoleDisplaySource(str(link), protocol="led8n")
    async with Running(source) as running:
        await cashier_does(lambda: PosCashier(first, "led8n").show_total(100))
        assert await running.amounts(1) == [100]
        first.unplug()
        await asyncio.sleep(0.2)
        second = pty_pair()
        replug(link, second)
        await asyncio.sleep(1.0)        # the agent retries the port every 0.5 s
        await cashier_does(lambda: PosCashier(second, "led8n").show_total(200))
        assert await running.amounts(2) == [100, 200]
        assert source._pos.opens == 2


def test_passthrough_needs_a_display_port():
    with pytest.raises(ValueError, match="display_port"):
        PoleDisplaySource("COM5", mode="passthrough")
