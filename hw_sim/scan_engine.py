"""GM65 barcode scan engine behind a virtual UART (shared/reference/hardware.md section 2).

The engine "sees" a picture (a wallet's payment-code screen), decodes it with a real barcode reader
(zbar through pyzbar) and writes the text plus its line ending to the UART, exactly what the firmware
reads from a real module. Nothing readable means silence, as on the real engine.

It also answers the configuration protocol the firmware speaks:
    7E 00 | type (07 read, 08 write, 09 save) | len | addrH addrL | data | CRC16
CRC-CCITT/XMODEM over type..data; AB CD in the CRC slot skips the check. Every accepted command is
answered with 02 00 | 00 | len | data | CRC16 (CRC over 00..data); for a write or save that is the
datasheet's ACK 02 00 00 01 00 33 31.

Frame parsing, CRC and image degradation are pure functions; the GM65 class only does the I/O.
"""
import math
import random
import threading
import time
from dataclasses import dataclass

from PIL import Image, ImageChops, ImageFilter
from pyzbar import pyzbar
from pyzbar.pyzbar import ZBarSymbol

FRAME_HEAD = b"\x7e\x00"
RESPONSE_HEAD = b"\x02\x00"
CRC_SKIP = b"\xab\xcd"          # "don't check the CRC", accepted by the module in place of one

TYPE_READ = 0x07
TYPE_WRITE = 0x08
TYPE_SAVE = 0x09
COMMAND_TYPES = (TYPE_READ, TYPE_WRITE, TYPE_SAVE)
RESPONSE_OK = 0x00

# Register zones the simulator acts on. Others are stored and read back but change nothing.
ZONE_SETTINGS = 0x0000          # bits 1-0: trigger mode
ZONE_TRIGGER = 0x0002           # write 01: start a read (command-trigger mode)
ZONE_LINE_ENDING = 0x0060       # bits 6-5: what follows each code

TRIGGER_MODE_MASK = 0b11
TRIGGER_MODES = {0b00: "manual", 0b01: "command", 0b10: "continuous", 0b11: "sensor"}
LINE_ENDING_SHIFT = 5
LINE_ENDING_MASK = 0b11 << LINE_ENDING_SHIFT
# Sources disagree on this table (hardware.md): the firmware accepts CR, LF, CRLF and an idle timeout
# anyway, so the simulator picks one order and says so here.
LINE_ENDINGS = {0b00: b"\r", 0b01: b"\r\n", 0b10: b"\t", 0b11: b""}

TRIGGER_FRAME = bytes.fromhex("7E 00 08 01 00 02 01 AB CD")
SAVE_FRAME = bytes.fromhex("7E 00 09 01 00 00 00 DE C8")
ACK = bytes.fromhex("02 00 00 01 00 33 31")

# Symbologies enabled, as in a till configuration: payment codes are Code128 and QR; the retail ones
# stay on for goods. zbar's DataBar decoder is left off: it prints assertion noise on grainy images.
SYMBOLOGIES = (ZBarSymbol.QRCODE, ZBarSymbol.CODE128, ZBarSymbol.EAN13, ZBarSymbol.EAN8,
               ZBarSymbol.UPCA, ZBarSymbol.CODE39, ZBarSymbol.I25)
DENOISE_RADIUS = 1.0

_HEADER_LEN = 6                 # 7E 00 type len addrH addrL
_CRC_LEN = 2


class ScanEngineError(ValueError):
    pass


# --- protocol (pure) --------------------------------------------------------------------------
def crc16_xmodem(data, crc=0):
    """CRC-CCITT, XMODEM flavour: poly 0x1021, init 0, no reflection, no final xor."""
    for byte in data:
        crc ^= byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else crc << 1
            crc &= 0xFFFF
    return crc


def command_frame(frame_type, address, data=b"\x00", *, skip_crc=False):
    """A host→engine command frame (what the firmware sends)."""
    body = bytes([frame_type, len(data), address >> 8, address & 0xFF]) + bytes(data)
    crc = CRC_SKIP if skip_crc else crc16_xmodem(body).to_bytes(2, "big")
    return FRAME_HEAD + body + crc


def response_frame(data=b"\x00", status=RESPONSE_OK):
    """An engine→host answer; with the defaults this is the ACK."""
    body = bytes([status, len(data)]) + bytes(data)
    return RESPONSE_HEAD + body + crc16_xmodem(body).to_bytes(2, "big")


@dataclass(frozen=True)
class CommandFrame:
    frame_type: int
    address: int
    data: bytes
    crc_ok: bool
    raw: bytes


def parse_command_frames(buffer):
    """Split `buffer` into command frames: (frames, rest). `rest` is an unfinished frame to keep.

    Bytes that cannot start a frame are dropped. A frame with a wrong CRC is returned with
    crc_ok=False and scanning resumes one byte after its head, so a false head inside noise cannot
    swallow the real frame behind it.
    """
    buffer = bytes(buffer)
    frames = []
    i = 0
    while True:
        start, i = i, buffer.find(FRAME_HEAD, i)
        if i < 0:
            # keep a lone trailing 7E not yet consumed: it may be the first half of the next head
            tail = buffer[start:]
            return frames, tail[-1:] if tail.endswith(FRAME_HEAD[:1]) else b""
        if len(buffer) - i < _HEADER_LEN:
            return frames, buffer[i:]
        frame_type, length = buffer[i + 2], buffer[i + 3]
        if frame_type not in COMMAND_TYPES:
            i += 1
            continue
        end = i + _HEADER_LEN + length + _CRC_LEN
        if len(buffer) < end:
            return frames, buffer[i:]
        raw = buffer[i:end]
        crc = raw[-_CRC_LEN:]
        crc_ok = crc == CRC_SKIP or crc == crc16_xmodem(raw[2:-_CRC_LEN]).to_bytes(2, "big")
        frames.append(CommandFrame(frame_type, int.from_bytes(raw[4:6], "big"),
                                   raw[_HEADER_LEN:-_CRC_LEN], crc_ok, raw))
        i = end if crc_ok else i + 1


# --- optics (pure) ----------------------------------------------------------------------------
def degrade(image, *, blur=0.0, tilt_deg=0.0, noise=0.0, rng=None):
    """The picture as the engine's sensor gets it: grey, optionally tilted, blurred and noisy.

    blur is a Gaussian radius in pixels; noise the standard deviation as a fraction of full scale
    (above about 0.29 the grain saturates), drawn from `rng` (a random.Random; default: fresh).
    """
    grey = image.convert("L")
    if tilt_deg:
        grey = grey.rotate(tilt_deg, resample=Image.BILINEAR, expand=True, fillcolor=255)
    if blur:
        grey = grey.filter(ImageFilter.GaussianBlur(blur))
    if noise:
        # Uniform grain from random bytes (Image.effect_noise is ten times slower and cannot be
        # seeded): half-width sqrt(3)*sigma gives standard deviation sigma; centred on 128, added
        # with offset -128.
        rng = rng or random.Random()
        gain = math.sqrt(3) * noise * 255 / 128      # maps 0..255 onto 128 ± half-width
        grain = Image.frombytes("L", grey.size, rng.randbytes(grey.width * grey.height))
        grain = grain.point(lambda v: min(255, max(0, round(128 + (v - 128) * gain))))
        grey = ImageChops.add(grey, grain, scale=1.0, offset=-128)
    return grey


def decode_symbol(image):
    """Text of the first symbol zbar finds in `image`, or None.

    Like a real engine retrying with other image processing, a grainy picture that does not decode
    as it is gets a second try after smoothing (zbar's edge detector is easily upset by grain).
    """
    symbols = pyzbar.decode(image, symbols=SYMBOLOGIES)
    if not symbols:
        smoothed = image.filter(ImageFilter.GaussianBlur(DENOISE_RADIUS))
        symbols = pyzbar.decode(smoothed, symbols=SYMBOLOGIES)
    if not symbols:
        return None
    data = symbols[0].data
    # zbar hands QR text over as UTF-8; raw 1D data is the bytes as printed, GBK in Chinese use
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("gbk", errors="replace")


# --- the module -------------------------------------------------------------------------------
class GM65:
    """A GM65 on the peripheral end of a virtual UART. `present()` holds a picture in front of it."""

    # How long a command trigger keeps the engine reading (zone 0x0006 on the real module; that
    # default is unverified, so it is a setting here rather than a register).
    read_window_s = 5.0
    # The engine's output text encoding (GBK by default on the module).
    encoding = "gbk"

    def __init__(self, uart_end, *, line_ending=b"\r", mode="continuous", clock=time.monotonic,
                 rng=None):
        modes = {name: bits for bits, name in TRIGGER_MODES.items()}
        if mode not in modes:
            raise ScanEngineError("unknown trigger mode %r" % mode)
        self._uart = uart_end
        self._clock = clock
        self._rng = rng or random.Random()     # sensor grain; tests pass a seeded one
        self._lock = threading.RLock()      # firmware writes may come from another thread
        self._rx = b""
        self.registers = {ZONE_SETTINGS: modes[mode]}
        endings = {ending: bits for bits, ending in LINE_ENDINGS.items()}
        # an ending the register cannot express (e.g. LF) is kept until the firmware writes 0x0060
        self.line_ending = bytes(line_ending)
        self.registers[ZONE_LINE_ENDING] = endings.get(self.line_ending, 0) << LINE_ENDING_SHIFT
        self.saved_registers = dict(self.registers)
        self.frames = []            # every command frame received, bad CRCs included
        self.scans = []             # every text sent to the firmware
        self._in_view = None        # the degraded picture currently in front of the window
        self._armed_until = None    # command/manual trigger: reading until this clock time
        uart_end.subscribe(self._on_bytes)

    @property
    def mode(self):
        return TRIGGER_MODES[self.registers.get(ZONE_SETTINGS, 0) & TRIGGER_MODE_MASK]

    # --- what the customer and cashier do ---------------------------------------------------
    def present(self, image, *, blur=0.0, tilt_deg=0.0, noise=0.0):
        """Hold `image` in front of the engine. Returns the text sent, or None (nothing sent)."""
        with self._lock:
            self._in_view = degrade(image, blur=blur, tilt_deg=tilt_deg, noise=noise, rng=self._rng)
            if self.mode in ("continuous", "sensor") or self._armed():
                return self._read()
            return None     # triggered modes wait for the trigger; the picture stays in view

    def take_away(self):
        with self._lock:
            self._in_view = None

    def press_button(self):
        """The hardware trigger of manual mode: read what is (or comes) in view."""
        with self._lock:
            if self.mode == "manual":
                return self._arm()
            return None

    # --- internals ------------------------------------------------------------------------------
    def _armed(self):
        return self._armed_until is not None and self._clock() < self._armed_until

    def _arm(self):
        self._armed_until = self._clock() + self.read_window_s
        return self._read() if self._in_view is not None else None

    def _read(self):
        text = decode_symbol(self._in_view)
        if text is None:
            return None     # a real engine keeps trying silently
        self._armed_until = None    # one trigger, one code
        self.scans.append(text)
        self._uart.write(text.encode(self.encoding, errors="replace") + self.line_ending)
        return text

    def _on_bytes(self, data):
        with self._lock:
            frames, self._rx = parse_command_frames(self._rx + bytes(data))
            for frame in frames:
                self.frames.append(frame)
                if frame.crc_ok:
                    self._handle(frame)

    def _handle(self, frame):
        if frame.frame_type == TYPE_READ:
            count = frame.data[0] if frame.data else 1
            values = bytes(self.registers.get(frame.address + k, 0) for k in range(count))
            self._uart.write(response_frame(values))
            return
        if frame.frame_type == TYPE_SAVE:
            self.saved_registers = dict(self.registers)
            self._uart.write(ACK)
            return
        trigger = False
        for k, value in enumerate(frame.data):
            address = frame.address + k
            self.registers[address] = value
            if address == ZONE_LINE_ENDING:
                self.line_ending = LINE_ENDINGS[(value & LINE_ENDING_MASK) >> LINE_ENDING_SHIFT]
            elif address == ZONE_TRIGGER and value & 1:
                trigger = True
        # The ACK goes out before any code the trigger reads: that is the order the firmware sees on
        # a real module, and why it must filter the ACK out of its scan stream.
        self._uart.write(ACK)
        if trigger and self.mode == "command":
            self._arm()
