"""MicroPython's `framebuf` module for CPython, so the firmware's display code runs unchanged in the
simulator: `FrameBuffer(buffer, width, height, format[, stride])` with `fill`, `pixel`, `hline`,
`vline`, `line`, `rect`, `fill_rect`, `text`, `blit`, `scroll`, in the formats MONO_VLSB, MONO_HLSB,
MONO_HMSB and RGB565 (the ones the firmware uses). `hw_sim.boards.base.use_firmware()` installs it as
`framebuf` when CPython has none.

`text` draws 8x8 glyphs rendered from Pillow's built-in bitmap font (MicroPython has its own font: the
pixels differ, the cell size is the same); characters outside ASCII 32-126 are drawn as a filled block,
as MicroPython does.
"""
MONO_VLSB = 0
RGB565 = 1
GS4_HMSB = 2
MONO_HLSB = 3
MONO_HMSB = 4
GS2_HMSB = 5
GS8 = 6
MVLSB = MONO_VLSB

_glyphs = {}


def _glyph(ch):
    """8 rows of 8 bits (MSB = left) for ch."""
    if ch in _glyphs:
        return _glyphs[ch]
    if not 32 <= ord(ch) <= 126:
        rows = (0xFF,) * 8
    else:
        from PIL import Image, ImageDraw, ImageFont
        font = ImageFont.load_default()
        if hasattr(font, "font_variant") and not isinstance(font, ImageFont.ImageFont):
            font = ImageFont.load_default(size=8)
        img = Image.new("1", (8, 8), 0)
        try:    # baseline on row 6: capitals and ascenders fit, descenders keep one row
            ImageDraw.Draw(img).text((0, 6), ch, fill=1, font=font, anchor="ls")
        except (ValueError, TypeError):     # a bitmap font has no anchors
            ImageDraw.Draw(img).text((1, -1), ch, fill=1, font=font)
        rows = tuple(sum(0x80 >> x for x in range(8) if img.getpixel((x, y))) for y in range(8))
    _glyphs[ch] = rows
    return rows


class FrameBuffer:
    def __init__(self, buffer, width, height, format, stride=None):
        self.buf = buffer
        self.width = width
        self.height = height
        self.format = format
        self.stride = stride or width
        if format not in (MONO_VLSB, MONO_HLSB, MONO_HMSB, RGB565):
            raise ValueError("format not supported by the simulator's framebuf")
        need = {MONO_VLSB: self.stride * ((height + 7) // 8), MONO_HLSB: (self.stride + 7) // 8 * height,
                MONO_HMSB: (self.stride + 7) // 8 * height, RGB565: self.stride * height * 2}[format]
        if len(buffer) < need:
            raise ValueError("buffer too small")

    def _set(self, x, y, c):
        f = self.format
        if f == MONO_VLSB:
            i, bit = (y >> 3) * self.stride + x, 1 << (y & 7)
        elif f == MONO_HLSB:
            i, bit = y * ((self.stride + 7) // 8) + (x >> 3), 0x80 >> (x & 7)
        elif f == MONO_HMSB:
            i, bit = y * ((self.stride + 7) // 8) + (x >> 3), 1 << (x & 7)
        else:
            i = (y * self.stride + x) * 2
            self.buf[i] = c & 0xFF
            self.buf[i + 1] = (c >> 8) & 0xFF
            return
        if c:
            self.buf[i] |= bit
        else:
            self.buf[i] &= ~bit & 0xFF

    def _get(self, x, y):
        f = self.format
        if f == MONO_VLSB:
            return (self.buf[(y >> 3) * self.stride + x] >> (y & 7)) & 1
        if f == MONO_HLSB:
            return (self.buf[y * ((self.stride + 7) // 8) + (x >> 3)] >> (7 - (x & 7))) & 1
        if f == MONO_HMSB:
            return (self.buf[y * ((self.stride + 7) // 8) + (x >> 3)] >> (x & 7)) & 1
        i = (y * self.stride + x) * 2
        return self.buf[i] | (self.buf[i + 1] << 8)

    def pixel(self, x, y, c=None):
        if not (0 <= x < self.width and 0 <= y < self.height):
            return None
        if c is None:
            return self._get(x, y)
        self._set(x, y, c)
        return None

    def fill_rect(self, x, y, w, h, c):
        x0, x1 = max(0, x), min(self.width, x + w)
        y0, y1 = max(0, y), min(self.height, y + h)
        if x0 >= x1 or y0 >= y1:
            return
        if self.format == MONO_HLSB:
            self._fill_rows_hlsb(x0, x1, y0, y1, c)
            return
        for yy in range(y0, y1):
            for xx in range(x0, x1):
                self._set(xx, yy, c)

    def _fill_rows_hlsb(self, x0, x1, y0, y1, c):
        # whole bytes by slice, the partial bytes at either end by mask: a screen clear or a QR
        # module is a handful of operations instead of one per pixel
        row_bytes = (self.stride + 7) // 8
        first, last = x0 >> 3, (x1 - 1) >> 3
        head = (0xFF >> (x0 & 7)) & 0xFF
        tail = (0xFF << (7 - ((x1 - 1) & 7))) & 0xFF
        fill = b"\xff" if c else b"\x00"
        for yy in range(y0, y1):
            base = yy * row_bytes
            if first == last:
                masks = ((first, head & tail),)
            else:
                masks = ((first, head), (last, tail))
                if last - first > 1:
                    self.buf[base + first + 1:base + last] = fill * (last - first - 1)
            for i, mask in masks:
                if c:
                    self.buf[base + i] |= mask
                else:
                    self.buf[base + i] &= ~mask & 0xFF

    def fill(self, c):
        if self.format in (MONO_HLSB, MONO_HMSB, MONO_VLSB):
            self.buf[:] = (b"\xff" if c else b"\x00") * len(self.buf)
            return
        self.fill_rect(0, 0, self.width, self.height, c)

    def hline(self, x, y, w, c):
        self.fill_rect(x, y, w, 1, c)

    def vline(self, x, y, h, c):
        self.fill_rect(x, y, 1, h, c)

    def rect(self, x, y, w, h, c, f=False):
        if f:
            self.fill_rect(x, y, w, h, c)
            return
        self.hline(x, y, w, c)
        self.hline(x, y + h - 1, w, c)
        self.vline(x, y, h, c)
        self.vline(x + w - 1, y, h, c)

    def line(self, x1, y1, x2, y2, c):
        dx, dy = abs(x2 - x1), -abs(y2 - y1)
        sx, sy = (1 if x1 < x2 else -1), (1 if y1 < y2 else -1)
        err = dx + dy
        while True:
            self.pixel(x1, y1, c)
            if x1 == x2 and y1 == y2:
                return
            e2 = 2 * err
            if e2 >= dy:
                err += dy
                x1 += sx
            if e2 <= dx:
                err += dx
                y1 += sy

    def text(self, s, x, y, c=1):
        for ch in s:
            rows = _glyph(ch)
            for dy in range(8):
                bits = rows[dy]
                for dx in range(8):
                    if bits & (0x80 >> dx):
                        self.pixel(x + dx, y + dy, c)
            x += 8

    def blit(self, fbuf, x, y, key=-1, palette=None):
        for yy in range(fbuf.height):
            for xx in range(fbuf.width):
                c = fbuf._get(xx, yy)
                if palette is not None:
                    c = palette._get(c, 0)
                if c != key:
                    self.pixel(x + xx, y + yy, c)

    def scroll(self, xstep, ystep):
        raise NotImplementedError("scroll is not used by the firmware")
