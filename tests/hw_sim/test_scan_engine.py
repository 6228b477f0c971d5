"""The GM65 simulator reads a wallet screen and sends what a real engine sends over the UART."""
import binascii
import random

import pytest
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image

from hw_sim import scan_engine as se
from hw_sim.scan_engine import GM65, crc16_xmodem, parse_command_frames
from hw_sim.uart import VirtualUART
from hw_sim.wallet import ALIPAY, UNIONPAY, WECHAT, Wallet

TRIGGER = bytes.fromhex("7E 00 08 01 00 02 01 AB CD")
ACK = bytes.fromhex("02 00 00 01 00 33 31")


class FakeClock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


@pytest.fixture
def uart():
    return VirtualUART.pair("scan")


@pytest.fixture(scope="module")
def wechat():
    # A fixed code and (below) seeded grain make the optics tests the same on every run.
    code = "134200" + "738105926483"
    return code, Wallet(WECHAT).screen(code)


def test_presented_code_arrives_on_the_device_end_with_cr(uart, wechat):
    device, peripheral = uart
    code, screen = wechat
    engine = GM65(peripheral)
    assert engine.present(screen) == code
    assert device.read() == code.encode() + b"\r"
    assert engine.scans == [code]


@pytest.mark.parametrize("channel", [ALIPAY, UNIONPAY])
def test_other_wallets_scan_too(uart, channel):
    device, peripheral = uart
    wallet = Wallet(channel)
    GM65(peripheral).present(wallet.screen())
    assert device.readline() == wallet.code.encode() + b"\r"


@pytest.mark.parametrize("optics", [
    {"blur": 2.0},
    {"tilt_deg": 12},
    {"tilt_deg": -20},
    {"noise": 0.06},
    {"blur": 1.5, "tilt_deg": 8, "noise": 0.04},
])
def test_a_somewhat_blurred_tilted_grainy_phone_still_reads(uart, wechat, optics):
    device, peripheral = uart
    code, screen = wechat
    assert GM65(peripheral, rng=random.Random(7)).present(screen, **optics) == code
    assert device.read() == code.encode() + b"\r"


def test_a_badly_blurred_phone_sends_nothing(uart, wechat):
    device, peripheral = uart
    code, screen = wechat
    assert GM65(peripheral).present(screen, blur=20) is None
    assert device.any() == 0 and peripheral.written == b""


def test_a_screen_without_a_code_sends_nothing(uart):
    device, peripheral = uart
    assert GM65(peripheral).present(Image.new("RGB", (720, 1280), "white")) is None
    assert device.any() == 0 and peripheral.written == b""


def test_line_ending_is_configurable(uart, wechat):
    device, peripheral = uart
    code, screen = wechat
    GM65(peripheral, line_ending=b"\r\n").present(screen)
    assert device.read() == code.encode() + b"\r\n"


# --- command-trigger mode -------------------------------------------------------------------
def test_command_mode_reads_only_after_the_trigger_and_acks_first(uart, wechat):
    device, peripheral = uart
    code, screen = wechat
    engine = GM65(peripheral, mode="command")
    assert engine.present(screen) is None        # phone held up, nobody pressed scan yet
    assert device.any() == 0
    device.write(TRIGGER)
    assert device.read() == ACK + code.encode() + b"\r"


def test_trigger_before_the_phone_arrives_reads_when_it_does(uart, wechat):
    device, peripheral = uart
    code, screen = wechat
    engine = GM65(peripheral, mode="command")
    device.write(TRIGGER)
    assert device.read() == ACK
    assert engine.present(screen) == code
    assert device.read() == code.encode() + b"\r"


def test_one_trigger_reads_one_code(uart, wechat):
    device, peripheral = uart
    code, screen = wechat
    engine = GM65(peripheral, mode="command")
    device.write(TRIGGER)
    engine.present(screen)
    device.read()
    assert engine.present(Wallet(WECHAT).screen()) is None
    assert device.any() == 0


def test_the_trigger_lapses_after_the_read_window(uart, wechat):
    device, peripheral = uart
    code, screen = wechat
    clock = FakeClock()
    engine = GM65(peripheral, mode="command", clock=clock)
    device.write(TRIGGER)
    device.read()
    clock.now += engine.read_window_s + 0.1
    assert engine.present(screen) is None
    assert device.any() == 0


def test_a_trigger_with_a_bad_crc_is_ignored(uart, wechat):
    device, peripheral = uart
    code, screen = wechat
    engine = GM65(peripheral, mode="command")
    engine.present(screen)
    device.write(TRIGGER[:-2] + b"\x12\x34")
    assert device.any() == 0
    assert engine.frames[-1].crc_ok is False


def test_a_trigger_with_a_real_crc_works_too(uart, wechat):
    device, peripheral = uart
    code, screen = wechat
    engine = GM65(peripheral, mode="command")
    engine.present(screen)
    device.write(se.command_frame(se.TYPE_WRITE, se.ZONE_TRIGGER, b"\x01"))
    assert device.read() == ACK + code.encode() + b"\r"


def test_trigger_frame_split_across_writes_and_after_noise(uart, wechat):
    device, peripheral = uart
    code, screen = wechat
    engine = GM65(peripheral, mode="command")
    engine.present(screen)
    for chunk in (b"\x00\x7e\xff", TRIGGER[:3], TRIGGER[3:7], TRIGGER[7:]):
        device.write(chunk)
    assert device.read() == ACK + code.encode() + b"\r"


def test_continuous_mode_ignores_the_trigger_but_acks_it(uart, wechat):
    device, peripheral = uart
    code, screen = wechat
    engine = GM65(peripheral)
    device.write(TRIGGER)
    assert device.read() == ACK
    assert engine.present(screen) == code


def test_manual_mode_reads_on_the_button(uart, wechat):
    device, peripheral = uart
    code, screen = wechat
    engine = GM65(peripheral, mode="manual")
    assert engine.present(screen) is None
    assert engine.press_button() == code
    assert device.read() == code.encode() + b"\r"


# --- registers --------------------------------------------------------------------------------
def test_writing_the_trigger_mode_register_switches_mode(uart, wechat):
    device, peripheral = uart
    code, screen = wechat
    engine = GM65(peripheral)
    device.write(se.command_frame(se.TYPE_WRITE, 0x0000, bytes([0b01])))
    assert device.read() == ACK
    assert engine.mode == "command"
    assert engine.present(screen) is None


def test_writing_the_line_ending_register_changes_the_suffix(uart, wechat):
    device, peripheral = uart
    code, screen = wechat
    engine = GM65(peripheral)
    device.write(se.command_frame(se.TYPE_WRITE, 0x0060, bytes([0b01 << 5])))
    assert device.read() == ACK
    engine.present(screen)
    assert device.read() == code.encode() + b"\r\n"


def test_reading_a_register_answers_its_value(uart):
    device, peripheral = uart
    GM65(peripheral, mode="command")
    device.write(se.command_frame(se.TYPE_READ, 0x0000, b"\x01"))
    body = bytes([0x00, 0x01, 0b01])
    assert device.read() == b"\x02\x00" + body + binascii.crc_hqx(body, 0).to_bytes(2, "big")


def test_save_acks_and_keeps_the_settings(uart):
    device, peripheral = uart
    engine = GM65(peripheral)
    device.write(se.command_frame(se.TYPE_WRITE, 0x0000, bytes([0b01])))
    device.write(bytes.fromhex("7E 00 09 01 00 00 00 DE C8"))
    assert device.read() == ACK + ACK
    assert engine.saved_registers[0x0000] == 0b01


# --- CRC and frames (pure) ---------------------------------------------------------------------
def test_crc_is_ccitt_xmodem():
    assert crc16_xmodem(b"123456789") == 0x31C3          # the catalogued XMODEM check value


def test_datasheet_save_frame_crc():
    assert crc16_xmodem(bytes.fromhex("09 01 00 00 00")) == 0xDEC8
    assert se.command_frame(se.TYPE_SAVE, 0x0000, b"\x00") == bytes.fromhex("7E 00 09 01 00 00 00 DE C8")


def test_datasheet_trigger_frame_and_ack():
    body = bytes.fromhex("08 01 00 02 01")
    assert crc16_xmodem(body) == binascii.crc_hqx(body, 0)
    assert se.command_frame(se.TYPE_WRITE, se.ZONE_TRIGGER, b"\x01", skip_crc=True) == TRIGGER
    assert se.response_frame() == ACK                    # 33 31 is the CRC of 00 01 00


@given(st.binary(max_size=64))
def test_crc_matches_binascii(data):
    assert crc16_xmodem(data) == binascii.crc_hqx(data, 0)


frame_spec = st.tuples(
    st.sampled_from(se.COMMAND_TYPES), st.integers(0, 0xFFFF), st.binary(min_size=1, max_size=8),
    st.booleans(),
)


@given(specs=st.lists(frame_spec, max_size=5), cut=st.integers(0, 200))
def test_frames_parse_back_however_the_bytes_are_cut(specs, cut):
    wire = b"".join(se.command_frame(t, a, d, skip_crc=s) for t, a, d, s in specs)
    cut = min(cut, len(wire))
    first, rest = parse_command_frames(wire[:cut])
    second, rest = parse_command_frames(rest + wire[cut:])
    frames = first + second
    assert rest == b""
    assert [(f.frame_type, f.address, f.data, f.crc_ok) for f in frames] == \
        [(t, a, d, True) for t, a, d, _ in specs]


def test_parse_flags_a_bad_crc_and_keeps_going():
    good = se.command_frame(se.TYPE_WRITE, 0x0060, b"\x20")
    bad = good[:-1] + bytes([good[-1] ^ 1])
    frames, rest = parse_command_frames(b"\x11" + bad + good + good[:4])
    assert [f.crc_ok for f in frames] == [False, True]
    assert rest == good[:4]


def test_a_frame_ending_in_7e_leaves_nothing_behind():
    frame = next(f for f in (se.command_frame(se.TYPE_WRITE, 0x0060, bytes([v])) for v in range(256))
                 if f.endswith(b"\x7e"))
    frames, rest = parse_command_frames(frame)
    assert len(frames) == 1 and frames[0].crc_ok and rest == b""
    # whereas a lone 7E after it may begin the next frame, so it is kept
    assert parse_command_frames(frame + b"\x7e")[1] == b"\x7e"
