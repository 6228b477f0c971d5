# Screens: an SSD1306 OLED (I2C, 128x64, 1 bit) or an ST7789 TFT (SPI, 240x240 or 320x240, RGB565),
# both drawn through a 1-bit framebuf the size of the panel. The ST7789 gets its 16-bit pixels row by
# row through a lookup table at show(), so the frame costs width*height/8 bytes (7.2 KB at 240x240)
# instead of 115 KB of RGB565: an ESP32 without PSRAM keeps its heap for TLS.
#
# `Screen` is what the apps draw on: lines of text (scaled 8x8 font), the amount big, a QR bitmap
# (core/qr.py) as large as fits. It keeps the text it drew (`lines`) so a console or a test can read
# the screen without OCR. framebuf's font is ASCII: the apps write pinyin/English on the screen and
# say the Chinese aloud.
import framebuf

from core.compat import const

_SSD_ADDR = const(0x3C)
# SSD1306 commands
_SET_CONTRAST = const(0x81)
_DISPLAY_ON = const(0xAF)
_DISPLAY_OFF = const(0xAE)
_SET_COL_ADDR = const(0x21)
_SET_PAGE_ADDR = const(0x22)
# ST7789 commands
_SWRESET = const(0x01)
_SLPOUT = const(0x11)
_NORON = const(0x13)
_INVON = const(0x21)
_DISPON = const(0x29)
_CASET = const(0x2A)
_RASET = const(0x2B)
_RAMWR = const(0x2C)
_MADCTL = const(0x36)
_COLMOD = const(0x3A)

WHITE = const(0xFFFF)
BLACK = const(0x0000)


class SSD1306:
    """128x64 (or 128x32) monochrome OLED on I2C."""

    ink_is_light = True     # a set bit lights a pixel: a QR code is drawn inverted (dark modules unlit)

    def __init__(self, i2c, width=128, height=64, addr=_SSD_ADDR):
        self.i2c = i2c
        self.addr = addr
        self.width = width
        self.height = height
        self.buffer = bytearray(width * height // 8)
        self.fb = framebuf.FrameBuffer(self.buffer, width, height, framebuf.MONO_VLSB)
        self._cmd = bytearray(2)
        self.init()

    def command(self, *values):
        self._cmd[0] = 0x80         # Co = 1, D/C = 0: one command byte follows
        for v in values:
            self._cmd[1] = v
            self.i2c.writeto(self.addr, self._cmd)

    def init(self):
        self.command(_DISPLAY_OFF)
        self.command(0x20, 0x00)                    # horizontal addressing
        self.command(0x40)                          # start line 0
        self.command(0xA1)                          # column 127 is SEG0 (mounted rotated)
        self.command(0xA8, self.height - 1)         # multiplex ratio
        self.command(0xC8)                          # scan from COM[N-1]
        self.command(0xD3, 0x00)                    # no display offset
        self.command(0xDA, 0x12 if self.height == 64 else 0x02)
        self.command(0xD5, 0x80)                    # clock
        self.command(0xD9, 0xF1)                    # precharge (internal charge pump)
        self.command(0xDB, 0x30)                    # VCOMH
        self.command(_SET_CONTRAST, 0xFF)
        self.command(0xA4, 0xA6)                    # follow RAM, not inverted
        self.command(0x8D, 0x14)                    # charge pump on
        self.command(_DISPLAY_ON)

    def show(self):
        self.command(_SET_COL_ADDR, 0, self.width - 1)
        self.command(_SET_PAGE_ADDR, 0, self.height // 8 - 1)
        self.i2c.writevto(self.addr, (b"\x40", self.buffer))

    def power(self, on):
        self.command(_DISPLAY_ON if on else _DISPLAY_OFF)


def _rgb565_table(fg, bg):
    # one byte of 8 mono pixels -> 16 bytes of big-endian RGB565
    table = bytearray(256 * 16)
    for b in range(256):
        for k in range(8):
            c = fg if b & (0x80 >> k) else bg
            table[b * 16 + k * 2] = c >> 8
            table[b * 16 + k * 2 + 1] = c & 0xFF
    return table


class ST7789:
    """240x240 (or 320x240) colour TFT on SPI, drawn in two colours from a 1-bit frame."""

    ink_is_light = False    # a set bit is fg (black by default) on bg (white)

    def __init__(self, spi, dc, cs, rst=None, width=240, height=240, fg=BLACK, bg=WHITE,
                 x_offset=0, y_offset=0):
        self.spi = spi
        self.dc = dc
        self.cs = cs
        self.rst = rst
        self.width = width
        self.height = height
        self.x_offset = x_offset    # panels smaller than the controller's 240x320 RAM sit at an offset
        self.y_offset = y_offset
        self.buffer = bytearray((width + 7) // 8 * height)
        self.fb = framebuf.FrameBuffer(self.buffer, width, height, framebuf.MONO_HLSB)
        self._table = _rgb565_table(fg, bg)
        self._line = bytearray(width * 2)
        self._arg = bytearray(4)
        self.init()

    def _write(self, command, data=None):
        self.cs.value(0)
        self.dc.value(0)
        self.spi.write(bytes((command,)))
        if data is not None:
            self.dc.value(1)
            self.spi.write(data)
        self.cs.value(1)

    def init(self):
        if self.rst is not None:
            self.rst.value(0)
            self.rst.value(1)
        self._write(_SWRESET)
        self._write(_SLPOUT)
        self._write(_COLMOD, b"\x55")      # 16 bits per pixel
        self._write(_MADCTL, b"\x00")
        self._write(_INVON)                 # IPS panels show true colours inverted
        self._write(_NORON)
        self._write(_DISPON)

    def _window(self, x0, y0, x1, y1):
        a = self._arg
        a[0], a[1], a[2], a[3] = x0 >> 8, x0 & 0xFF, x1 >> 8, x1 & 0xFF
        self._write(_CASET, a)
        a[0], a[1], a[2], a[3] = y0 >> 8, y0 & 0xFF, y1 >> 8, y1 & 0xFF
        self._write(_RASET, a)

    def show(self):
        x0, y0 = self.x_offset, self.y_offset
        self._window(x0, y0, x0 + self.width - 1, y0 + self.height - 1)
        self.cs.value(0)
        self.dc.value(0)
        self.spi.write(bytes((_RAMWR,)))
        self.dc.value(1)
        row_bytes = (self.width + 7) // 8
        table = self._table
        line = self._line
        buf = self.buffer
        n = self.width * 2
        for y in range(self.height):
            base = y * row_bytes
            for k in range(row_bytes):
                b = buf[base + k] * 16
                line[k * 16:k * 16 + 16] = table[b:b + 16]
            self.spi.write(memoryview(line)[:n])
        self.cs.value(1)

    def power(self, on):
        self._write(_DISPON if on else 0x28)


class Screen:
    """Text and QR codes on a panel. Call show() after drawing."""

    def __init__(self, panel):
        self.panel = panel
        self.fb = panel.fb
        self.width = panel.width
        self.height = panel.height
        self.lines = []         # the text drawn since the last clear(), top to bottom
        self.qr_size = 0        # modules of the QR code on screen (0: none)
        self._glyph_buf = bytearray(8)
        self._glyph = framebuf.FrameBuffer(self._glyph_buf, 8, 8, framebuf.MONO_HLSB)

    def clear(self):
        self.fb.fill(0)
        self.lines = []
        self.qr_size = 0

    def text(self, s, x, y, scale=1):
        """Draw s with its top left at (x, y), each font pixel a scale x scale square."""
        if scale == 1:
            self.fb.text(s, x, y, 1)
        else:
            g = self._glyph
            for ch in s:
                g.fill(0)
                g.text(ch, 0, 0, 1)
                for gy in range(8):
                    for gx in range(8):
                        if g.pixel(gx, gy):
                            self.fb.fill_rect(x + gx * scale, y + gy * scale, scale, scale, 1)
                x += 8 * scale
        self.lines.append(s)

    def center(self, s, y, scale=1):
        """Draw s centred horizontally (shrunk to fit the width)."""
        while scale > 1 and len(s) * 8 * scale > self.width:
            scale -= 1
        self.text(s, max(0, (self.width - len(s) * 8 * scale) // 2), y, scale)
        return y + 8 * scale

    def qr(self, bitmap, top=0, bottom=None):
        """Draw a core.qr.Bitmap as large as fits between top and bottom, centred, with a quiet zone
        of at least 2 modules (4 when there is room). Returns the scale (pixels per module)."""
        bottom = self.height if bottom is None else bottom
        size = bitmap.size
        room = min(self.width, bottom - top)
        scale = room // (size + 8)
        if scale < 1:
            scale = room // (size + 4)
        if scale < 1:
            raise ValueError("QR code of %d modules does not fit %d pixels" % (size, room))
        px = size * scale
        x0 = (self.width - px) // 2
        y0 = top + (bottom - top - px) // 2
        dark = 0 if getattr(self.panel, "ink_is_light", False) else 1
        # light background: the quiet zone must be light whatever was drawn before
        q = 4 * scale if px + 8 * scale <= room else 2 * scale
        self.fb.fill_rect(x0 - q, y0 - q, px + 2 * q, px + 2 * q, 1 - dark)
        for y in range(size):
            for x in range(size):
                if bitmap.dark(x, y):
                    self.fb.fill_rect(x0 + x * scale, y0 + y * scale, scale, scale, dark)
        self.qr_size = size
        return scale

    def show(self):
        self.panel.show()
