"""SYN6288 / XFS5152 frames, and the driver against the SYN6288 simulator."""
import asyncio

import pytest

from drivers import voice
from hw_sim.pins import Pin
from hw_sim.uart import VirtualUART
from hw_sim.voice import SYN6288, parse_syn6288_frames, syn6288_text


def xor(data):
    x = 0
    for b in data:
        x ^= b
    return x


def test_datasheet_example_gbk():
    # SYN6288 datasheet: GBK "你好" = FD 00 07 01 01 C4 E3 BA C3 A4
    frame = voice.syn6288_frame(b"\xc4\xe3\xba\xc3", encoding=1)
    assert frame == bytes.fromhex("FD 00 07 01 01 C4 E3 BA C3 A4")


def test_unicode_frame_follows_the_same_pattern():
    frame = voice.syn6288_frame("你好")
    # header, length = text (4 bytes of UTF-16 BE) + cmd + param + xor, Unicode param 3, checksum
    body = bytes.fromhex("FD 00 07 01 03 4F 60 59 7D")
    assert frame == body + bytes([xor(body)])
    assert frame[-1] == xor(frame[:-1])
    assert int.from_bytes(frame[1:3], "big") == len(frame) - 3


def test_announcement_frame_decodes_back():
    text = "微信收款 12.50 元"
    frame = voice.syn6288_frame(text)
    assert int.from_bytes(frame[1:3], "big") == len(text) * 2 + 3
    assert frame[-1] == xor(frame[:-1])
    frames, rest = parse_syn6288_frames(frame)
    assert rest == b"" and frames[0].ok and syn6288_text(frames[0]) == text
    assert frame[5:-1].decode("utf-16-be") == text


def test_characters_beyond_the_bmp_use_surrogate_pairs():
    assert voice.utf16("😀") == "😀".encode("utf-16-be")
    assert voice.utf16("a😀", big_endian=False) == "a😀".encode("utf-16-le")


def test_fixed_frames_have_correct_checksums():
    for frame in (voice.SYN_STOP, voice.SYN_PAUSE, voice.SYN_RESUME, voice.SYN_STATUS, voice.SYN_POWER_DOWN):
        assert frame[-1] == xor(frame[:-1])
        assert int.from_bytes(frame[1:3], "big") == len(frame) - 3


def test_xfs5152_datasheet_example():
    assert voice.xfs5152_frame("你好") == bytes.fromhex("FD 00 06 01 03 60 4F 7D 59")


def test_too_long_or_empty_text_is_refused():
    with pytest.raises(ValueError):
        voice.syn6288_frame("长" * 101)
    voice.syn6288_frame("长" * 100)
    with pytest.raises(ValueError):
        voice.syn6288_frame("")


@pytest.mark.parametrize("reply, idle", [(b"\x41\x4f", True), (b"\x41\x4e", False), (b"\x4f", True),
                                         (b"", None), (b"\x41", None), (b"\x4a\x41\x4e", False)])
def test_parse_status(reply, idle):
    assert voice.parse_status(reply) is idle


async def test_driver_waits_for_idle_between_utterances():
    device, peripheral = VirtualUART.pair("syn6288")
    module = SYN6288(peripheral, seconds_per_char=0.03)
    starts = []
    module.on_speech.append(lambda text: starts.append((text, asyncio.get_running_loop().time())))
    tts = voice.Voice(device)
    try:
        tts.say("请出示付款码")          # 6 chars: 0.18 s of speech
        tts.say("用户支付中，请稍候")
        await module.wait_spoken("稍候", timeout=3)
        assert module.spoken == ["请出示付款码", "用户支付中，请稍候"]
        assert starts[1][1] - starts[0][1] >= 6 * 0.03 - 0.02      # the second waited for the first
        assert not tts.silent_module
        await tts.wait_done()
    finally:
        tts.deinit()


async def test_driver_uses_the_busy_pin_when_wired():
    device, peripheral = VirtualUART.pair("syn6288")
    module = SYN6288(peripheral, seconds_per_char=0.03)
    busy = Pin(19, Pin.IN)
    busy.external = lambda: 1 if module.busy else 0
    tts = voice.Voice(device, busy_pin=busy)
    try:
        tts.say("一二三四")
        tts.say("五六")
        await module.wait_spoken("五六", timeout=3)
        assert module.spoken == ["一二三四", "五六"]
        status_queries = [f for f in module.frames if f.command == 0x21]
        assert status_queries == []         # the pin, not the UART, told it when to speak
    finally:
        tts.deinit()


async def test_silent_module_does_not_hang_the_driver():
    device, _peripheral = VirtualUART.pair("nothing")
    tts = voice.Voice(device)
    tts.reply_ms = 20
    try:
        tts.say("你好")
        await asyncio.wait_for(tts.wait_done(), 1)
        assert tts.silent_module
    finally:
        tts.deinit()


async def test_stop_sends_the_stop_frame_and_forgets_the_queue():
    device, peripheral = VirtualUART.pair("syn6288")
    module = SYN6288(peripheral, seconds_per_char=0.2)
    tts = voice.Voice(device)
    try:
        tts.say("一二三")
        await module.wait_spoken("一二三", timeout=2)
        tts.say("不该说")
        tts.stop()
        await asyncio.sleep(0.1)
        assert module.spoken == ["一二三"] and not module.busy
        assert voice.SYN_STOP in bytes(device.written)
    finally:
        tts.deinit()
