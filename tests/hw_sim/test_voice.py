"""The TTS simulators hear what the firmware asks the voice module to say, and answer like the chips."""
import asyncio
import shutil

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hw_sim import voice
from hw_sim.uart import VirtualUART
from hw_sim.voice import SYN6288, XFS5152, EspeakMissing, parse_syn6288_frames

NIHAO_GBK = bytes.fromhex("FD 00 07 01 01 C4 E3 BA C3 A4")     # SYN6288 datasheet example
NIHAO_XFS = bytes.fromhex("FD 00 06 01 03 60 4F 7D 59")         # XFS5152CE datasheet example
STATUS = bytes.fromhex("FD 00 02 21 DE")
STOP = bytes.fromhex("FD 00 02 02 FD")
PAUSE = bytes.fromhex("FD 00 02 03 FC")
RESUME = bytes.fromhex("FD 00 02 04 FB")
POWER_DOWN = bytes.fromhex("FD 00 02 88 77")
ANNOUNCEMENT = "微信收款 12.50 元"


def syn_frame(param, payload):
    """A SYN6288 synth frame built by hand from the datasheet rules (independent of hw_sim.voice)."""
    head = bytes([0xFD]) + (len(payload) + 3).to_bytes(2, "big") + bytes([0x01, param]) + payload
    check = 0
    for byte in head:
        check ^= byte
    return head + bytes([check])


class FakeClock:
    def __init__(self):
        self.now = 50.0

    def __call__(self):
        return self.now


@pytest.fixture
def uart():
    return VirtualUART.pair("tts")


@pytest.fixture
def syn(uart):
    return SYN6288(uart[1])


# --- SYN6288 ----------------------------------------------------------------------------------
def test_datasheet_gbk_frame_says_nihao_and_acks(uart, syn):
    device, _ = uart
    device.write(NIHAO_GBK)
    assert syn.spoken == ["你好"]
    assert device.read() == b"\x41"


def test_unicode_announcement_frame_decodes(uart, syn):
    device, _ = uart
    frame = syn_frame(0x03, ANNOUNCEMENT.encode("utf-16-be"))
    assert voice.syn6288_synth_frame(ANNOUNCEMENT) == frame
    device.write(frame)
    assert syn.spoken == [ANNOUNCEMENT]
    assert device.read() == b"\x41"
    assert syn.frames[0].command == voice.CMD_SYNTH


@pytest.mark.parametrize("param, codec", [
    (0x00, "gb2312"), (0x01, "gbk"), (0x02, "big5"), (0x03, "utf-16-be"),
])
def test_every_encoding_decodes(uart, syn, param, codec):
    device, _ = uart
    device.write(syn_frame(param, "支付成功 8.00 元".encode(codec)))
    assert syn.spoken == ["支付成功 8.00 元"]


def test_background_music_bits_do_not_change_the_encoding(uart, syn):
    device, _ = uart
    device.write(syn_frame(0x08 | 0x03, "你好".encode("utf-16-be")))   # music 1 in the high bits
    assert syn.spoken == ["你好"]


def test_inline_tags_are_not_spoken(uart, syn):
    device, _ = uart
    device.write(syn_frame(0x03, "[v5][t3]微信收款[m0] 12.50 元[d]".encode("utf-16-be")))
    assert syn.spoken == [ANNOUNCEMENT]


def test_bad_checksum_is_ignored_without_reply(uart, syn):
    device, _ = uart
    device.write(NIHAO_GBK[:-1] + b"\x00")
    assert syn.spoken == [] and syn.frames == []
    assert device.any() == 0
    assert len(syn.rejected) == 1


def test_frame_split_byte_by_byte_is_heard_once(uart, syn):
    device, _ = uart
    frame = voice.syn6288_synth_frame(ANNOUNCEMENT)
    for k in range(len(frame)):
        device.write(frame[k:k + 1])
    assert syn.spoken == [ANNOUNCEMENT]
    assert device.read() == b"\x41"


def test_garbage_between_frames_is_skipped(uart, syn):
    device, _ = uart
    second = voice.syn6288_synth_frame("支付宝收款 3.00 元")
    device.write(b"\x00\x13garbage\xfd\x12\x34" + NIHAO_GBK + b"\xff\xfd" + second[:5])
    device.write(second[5:] + b"\x01\x02")
    assert syn.spoken == ["你好", "支付宝收款 3.00 元"]
    assert device.read() == b"\x41\x41"


def test_a_false_fd_is_skipped_at_once(uart, syn):
    device, _ = uart
    device.write(b"\xfd\x00\x50" + NIHAO_GBK)   # "command" FD is no command: noise
    assert syn.spoken == ["你好"]


def test_noise_shaped_like_a_header_delays_but_never_loses_a_frame(uart, syn):
    device, _ = uart
    device.write(b"\xfd\x00\x10\x01" + NIHAO_GBK)   # a synth header claiming 16 more bytes
    assert syn.spoken == []                         # nothing can tell yet: wait for the bytes
    device.write(STATUS)                            # the claimed length is reached, checksum fails
    assert syn.spoken == ["你好"]
    assert device.read() == b"\x41\x41\x4f"


def test_text_that_contains_a_frame_is_not_mistaken_for_one(uart, syn):
    device, _ = uart
    # U+FD00 U+0202 U+FD41 encode as FD 00 02 02 FD 41: a complete stop frame inside the payload
    text = "\ufd00\u0202\ufd41 12.50"
    assert STOP in text.encode("utf-16-be")
    frame = voice.syn6288_synth_frame(text)
    for k in range(len(frame)):
        device.write(frame[k:k + 1])
    assert syn.spoken == [text]
    assert device.read() == b"\x41"


def test_status_busy_while_speaking_then_idle():
    device, peripheral = VirtualUART.pair("tts")
    clock = FakeClock()
    syn = SYN6288(peripheral, seconds_per_char=0.25, clock=clock)
    device.write(STATUS)
    assert device.read() == b"\x41\x4f"
    device.write(NIHAO_GBK)                 # 2 characters: 0.5 s of speech
    device.read()
    clock.now += 0.4
    device.write(STATUS)
    assert device.read() == b"\x41\x4e"
    clock.now += 0.2
    device.write(STATUS)
    assert device.read() == b"\x41\x4f"
    assert not syn.busy


def test_pause_holds_the_speech_and_resume_finishes_it():
    device, peripheral = VirtualUART.pair("tts")
    clock = FakeClock()
    syn = SYN6288(peripheral, seconds_per_char=0.25, clock=clock)
    device.write(NIHAO_GBK)
    clock.now += 0.2
    device.write(PAUSE)
    clock.now += 10
    assert syn.busy
    device.write(RESUME)
    clock.now += 0.2
    assert syn.busy                         # 0.3 s were left at the pause
    clock.now += 0.2
    assert not syn.busy
    assert device.read() == b"\x41" * 3


def test_stop_and_power_down_end_the_speech():
    device, peripheral = VirtualUART.pair("tts")
    clock = FakeClock()
    syn = SYN6288(peripheral, seconds_per_char=1.0, clock=clock)
    device.write(NIHAO_GBK + STOP)
    assert not syn.busy
    device.write(NIHAO_GBK + POWER_DOWN)
    assert not syn.busy and syn.powered_down
    assert device.read() == b"\x41" * 4


def test_speech_callbacks_hear_each_text(uart, syn):
    device, _ = uart
    heard = []
    syn.on_speech.append(heard.append)
    device.write(NIHAO_GBK + voice.syn6288_synth_frame(ANNOUNCEMENT))
    assert heard == ["你好", ANNOUNCEMENT]


async def test_wait_spoken_waits_for_the_announcement(uart, syn):
    device, _ = uart
    loop = asyncio.get_running_loop()
    loop.call_later(0.02, device.write, voice.syn6288_synth_frame("请输入密码"))
    loop.call_later(0.05, device.write, voice.syn6288_synth_frame(ANNOUNCEMENT))
    assert await syn.wait_spoken("12.50", timeout=2) == ANNOUNCEMENT
    assert await syn.wait_spoken(lambda text: text.startswith("请"), timeout=0.1) == "请输入密码"


async def test_wait_spoken_from_another_thread(uart, syn):
    device, _ = uart
    loop = asyncio.get_running_loop()
    writer = loop.run_in_executor(None, device.write, voice.syn6288_synth_frame(ANNOUNCEMENT))
    assert await syn.wait_spoken(ANNOUNCEMENT, timeout=2) == ANNOUNCEMENT
    await writer


async def test_wait_spoken_times_out_saying_what_was_said(uart, syn):
    device, _ = uart
    device.write(NIHAO_GBK)
    with pytest.raises(TimeoutError, match="你好"):
        await syn.wait_spoken("12.50", timeout=0.05)
    assert syn.on_speech == []


async def test_wait_spoken_start_skips_earlier_speech(uart, syn):
    device, _ = uart
    device.write(NIHAO_GBK)
    with pytest.raises(TimeoutError):
        await syn.wait_spoken("你好", timeout=0.05, start=len(syn.spoken))


@given(texts=st.lists(st.text(st.characters(codec="utf-8", exclude_characters="[]"),
                              min_size=1, max_size=40), max_size=4),
       junk=st.binary(max_size=6).filter(lambda b: 0xFD not in b),
       cut=st.integers(0, 400))
def test_parse_recovers_every_frame_however_the_stream_is_cut(texts, junk, cut):
    texts = [t for t in texts if len(t.encode("utf-16-be")) <= voice.SYN6288_MAX_TEXT]
    wire = b"".join(junk + voice.syn6288_synth_frame(t) for t in texts) + junk
    cut = min(cut, len(wire))
    first, rest = parse_syn6288_frames(wire[:cut])
    second, rest = parse_syn6288_frames(rest + wire[cut:])
    assert rest == b""
    assert [voice.syn6288_text(f) for f in first + second] == texts


# --- XFS5152 ----------------------------------------------------------------------------------
def test_xfs5152_datasheet_frame_says_nihao(uart):
    device, peripheral = uart
    xfs = XFS5152(peripheral)
    device.write(NIHAO_XFS)
    assert xfs.spoken == ["你好"]
    assert device.read() == b"\x41"


def test_xfs5152_announcement_status_and_stop(uart):
    device, peripheral = uart
    clock = FakeClock()
    xfs = XFS5152(peripheral, seconds_per_char=0.1, clock=clock, announce_ready=True)
    assert device.read() == b"\x4a"
    payload = ANNOUNCEMENT.encode("utf-16-le")
    device.write(b"\xfd" + (len(payload) + 2).to_bytes(2, "big") + b"\x01\x03" + payload)
    device.write(bytes.fromhex("FD 00 01 21"))
    assert device.read() == b"\x41\x41\x4e"
    device.write(bytes.fromhex("FD 00 01 02") + bytes.fromhex("FD 00 01 21"))
    assert device.read() == b"\x41\x41\x4f"
    assert xfs.spoken == [ANNOUNCEMENT]


def test_xfs5152_bad_encoding_answers_bad_frame(uart):
    device, peripheral = uart
    xfs = XFS5152(peripheral)
    device.write(bytes.fromhex("FD 00 04 01 09 60 4F"))
    assert device.read() == b"\x45"
    assert xfs.spoken == []


def test_xfs5152_split_and_noisy_stream(uart):
    device, peripheral = uart
    xfs = XFS5152(peripheral)
    wire = b"\x00\xfd\x99" + NIHAO_XFS + b"\x13" + voice.xfs5152_synth_frame(ANNOUNCEMENT)
    for k in range(0, len(wire), 3):
        device.write(wire[k:k + 3])
    assert xfs.spoken == ["你好", ANNOUNCEMENT]


# --- hearing it -------------------------------------------------------------------------------
def test_speak_to_wav_writes_a_wav_or_says_why_not(tmp_path, syn):
    path = tmp_path / "announcement.wav"
    if shutil.which("espeak-ng") is None:
        with pytest.raises(EspeakMissing, match="espeak-ng"):
            syn.speak_to_wav(ANNOUNCEMENT, path)
    else:
        syn.speak_to_wav(ANNOUNCEMENT, path)
        assert path.read_bytes()[:4] == b"RIFF"
