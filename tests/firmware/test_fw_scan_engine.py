"""GM65 parsing (pure) and the driver against the GM65 simulator."""
import asyncio

import pytest

from drivers import scan_engine as se
from hw_sim.scan_engine import GM65, parse_command_frames
from hw_sim.uart import VirtualUART

CODE = "134567890123456789"


@pytest.mark.parametrize("ending", [b"\r", b"\n", b"\r\n", b"\t"])
def test_line_endings_end_a_code(ending):
    codes, rest = se.parse(CODE.encode() + ending)
    assert codes == [CODE] and rest == b""


def test_several_codes_and_a_partial_one():
    codes, rest = se.parse(b"111\r\n222\n\r333\r44")
    assert codes == ["111", "222", "333"] and rest == b"44"
    codes, rest = se.parse(rest + b"4\r")
    assert codes == ["444"] and rest == b""


def test_ack_is_filtered_wherever_it_lands():
    codes, rest = se.parse(se.ACK + CODE.encode() + b"\r")
    assert codes == [CODE] and rest == b""
    # split across reads: the partial ACK is kept until the rest arrives
    codes, rest = se.parse(se.ACK[:3])
    assert codes == [] and rest == se.ACK[:3]
    codes, rest = se.parse(rest + se.ACK[3:] + CODE.encode() + b"\r\n")
    assert codes == [CODE] and rest == b""


def test_idle_end_without_line_ending():
    codes, rest = se.parse(CODE.encode())
    assert codes == [] and se.finish(rest) == CODE
    assert se.finish(se.ACK[:4]) is None            # a lone partial ACK is no code
    assert se.finish(b"") is None


def test_non_utf8_text_does_not_crash():
    codes, _ = se.parse("微信".encode("gbk") + b"\r")
    assert codes == ["????"]


def test_command_frames_match_the_datasheet_and_the_simulator():
    assert se.SAVE == bytes.fromhex("7E 00 09 01 00 00 00 DE C8")
    assert se.command_frame(0x09, 0x0000, b"\x00") == se.SAVE       # CRC computed, not copied
    frame = se.write_zone(0x0000, 0x01)         # command-trigger mode
    frames, rest = parse_command_frames(frame)
    assert rest == b"" and frames[0].crc_ok and frames[0].address == 0 and frames[0].data == b"\x01"
    frames, _ = parse_command_frames(se.TRIGGER)
    assert frames[0].crc_ok and frames[0].address == 0x0002


def test_crc_check_value():
    assert se.crc16_xmodem(b"123456789") == 0x31C3     # CRC-16/XMODEM check value


async def next_code(engine, timeout=1.0):
    return await asyncio.wait_for(engine.__anext__(), timeout)


@pytest.mark.parametrize("ending", [b"\r", b"\r\n", b"\n", b""])
async def test_driver_reads_codes_with_any_ending(ending):
    device, peripheral = VirtualUART.pair("gm65")
    engine = se.ScanEngine(device)
    try:
        peripheral.write(CODE.encode() + ending)
        assert await next_code(engine) == CODE
    finally:
        engine.deinit()


async def test_trigger_ack_is_not_a_code():
    device, peripheral = VirtualUART.pair("gm65")
    gm65 = GM65(peripheral, mode="command")
    engine = se.ScanEngine(device)
    try:
        engine.trigger()
        assert gm65.frames[-1].address == 0x0002
        peripheral.write(CODE.encode() + b"\r")
        assert await next_code(engine) == CODE
        assert se.ACK in bytes(peripheral.written)      # the ACK did go over the wire
        with pytest.raises(asyncio.TimeoutError):
            await next_code(engine, 0.2)                # and nothing else came out of it
    finally:
        engine.deinit()


async def test_overflow_drops_the_oldest():
    device, peripheral = VirtualUART.pair("gm65")
    engine = se.ScanEngine(device, queue_size=2)
    try:
        peripheral.write(b"1111\r2222\r3333\r")
        await asyncio.sleep(0.05)
        assert [await next_code(engine), await next_code(engine)] == ["2222", "3333"]
        assert engine._codes.dropped == 1
        peripheral.write(b"4444\r")
        await asyncio.sleep(0.05)
        engine.clear()
        with pytest.raises(asyncio.TimeoutError):
            await next_code(engine, 0.1)
    finally:
        engine.deinit()
