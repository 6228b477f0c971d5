"""Virtual screens: an SSD1306 on a virtual I2C bus and an ST7789 on a virtual SPI bus, each decoding
the bytes the firmware's driver sends (commands, address windows, pixel data) into the picture the
panel would show. `image()` gives it as a Pillow image, `save_png(path)` writes it, so a test can decode
the QR code on the screen with zbar, and a developer can look at it.

Parsing is pure where it can be (`ssd1306_command_lengths`); the classes keep panel RAM.
"""
from PIL import Image

# SSD1306: command -> number of argument bytes that follow it
SSD1306_ARGS = {0x20: 1, 0x21: 2, 0x22: 2, 0x81: 1, 0x8D: 1, 0xA8: 1, 0xD3: 1, 0xD5: 1, 0xD9: 1,
                0xDA: 1, 0xDB: 1}


class VirtualI2C:
    """machine.I2C's write calls, routed to devices by address."""

    def __init__(self):
        self.devices = {}

    def attach(self, addr, device):
        self.devices[addr] = device

    def scan(self):
        return sorted(self.devices)

    def writeto(self, addr, buf, stop=True):
        if addr not in self.devices:
            raise OSError(19, "ENODEV")     # what MicroPython raises for a missing device (no ACK)
        self.devices[addr].receive(bytes(buf))
        return len(buf)

    def writevto(self, addr, vector, stop=True):
        return self.writeto(addr, b"".join(bytes(v) for v in vector), stop)


class VirtualSSD1306:
    def __init__(self, width=128, height=64):
        self.width = width
        self.height = height
        self.ram = bytearray(width * height // 8)
        self.on = False
        self.contrast = 0x7F
        self.col = (0, width - 1)
        self.page = (0, height // 8 - 1)
        self._ptr = (0, 0)
        self._pending = []          # a command still waiting for its argument bytes
        self.frames = 0             # complete screen updates received

    def receive(self, data):
        control = data[0]
        body = data[1:]
        if control & 0x40:          # D/C = 1: display RAM
            self._write_ram(body)
        else:
            for b in body:
                self._command_byte(b)

    def _command_byte(self, b):
        if self._pending:
            self._pending.append(b)
        else:
            self._pending = [b]
        cmd = self._pending[0]
        if len(self._pending) - 1 < SSD1306_ARGS.get(cmd, 0):
            return
        args, self._pending = self._pending[1:], []
        if cmd == 0xAF:
            self.on = True
        elif cmd == 0xAE:
            self.on = False
        elif cmd == 0x81:
            self.contrast = args[0]
        elif cmd == 0x21:
            self.col = (args[0], args[1])
            self._ptr = (self.col[0], self.page[0])
        elif cmd == 0x22:
            self.page = (args[0], args[1])
            self._ptr = (self.col[0], self.page[0])

    def _write_ram(self, data):
        x, page = self._ptr
        for b in data:
            self.ram[page * self.width + x] = b
            x += 1
            if x > self.col[1]:
                x = self.col[0]
                page += 1
                if page > self.page[1]:
                    page = self.page[0]
                    self.frames += 1
        self._ptr = (x, page)

    def image(self, scale=1):
        """What the panel shows: lit pixels white on black (all black when off)."""
        img = Image.new("L", (self.width, self.height), 0)
        if self.on:
            px = img.load()
            for y in range(self.height):
                for x in range(self.width):
                    if (self.ram[(y >> 3) * self.width + x] >> (y & 7)) & 1:
                        px[x, y] = 255
        return img.resize((self.width * scale, self.height * scale), Image.NEAREST) if scale > 1 else img

    def save_png(self, path, scale=2):
        self.image(scale).save(path)
        return path


class VirtualSPI:
    """machine.SPI's write, handed to the device whose chip-select pin is low."""

    def __init__(self):
        self.devices = []       # (cs pin, device)

    def attach(self, cs, device):
        self.devices.append((cs, device))

    def write(self, buf):
        for cs, device in self.devices:
            if cs.driven == 0:
                device.receive(bytes(buf))

    def init(self, *args, **kwargs):
        pass


class VirtualST7789:
    """ST7789 RAM as RGB565; commands and data told apart by the D/C pin, as on the wire."""

    def __init__(self, dc, width=240, height=240):
        self.dc = dc
        self.width = width
        self.height = height
        self.ram = bytearray(width * height * 2)
        self.on = False
        self.asleep = True
        self.colmod = None
        self.inverted = False
        self.window = (0, 0, width - 1, height - 1)
        self.frames = 0
        self._cmd = None
        self._args = bytearray()
        self._x = self._y = 0
        self._half = None

    def receive(self, data):
        if self.dc.driven == 0:
            for b in data:
                self._command(b)
        elif self._cmd == 0x2C:
            self._pixels(data)
        else:
            self._args += data
            self._apply()

    def _command(self, b):
        self._cmd = b
        self._args = bytearray()
        if b == 0x11:
            self.asleep = False
        elif b == 0x10:
            self.asleep = True
        elif b == 0x29:
            self.on = True
        elif b == 0x28:
            self.on = False
        elif b == 0x21:
            self.inverted = True
        elif b == 0x20:
            self.inverted = False
        elif b == 0x01:
            self.on, self.asleep = False, True
        elif b == 0x2C:
            self._x, self._y = self.window[0], self.window[1]
            self._half = None

    def _apply(self):
        a = self._args
        if self._cmd == 0x2A and len(a) == 4:
            x0, x1 = (a[0] << 8) | a[1], (a[2] << 8) | a[3]
            self.window = (x0, self.window[1], x1, self.window[3])
        elif self._cmd == 0x2B and len(a) == 4:
            y0, y1 = (a[0] << 8) | a[1], (a[2] << 8) | a[3]
            self.window = (self.window[0], y0, self.window[2], y1)
        elif self._cmd == 0x3A and len(a) == 1:
            self.colmod = a[0]

    def _pixels(self, data):
        data = (self._half or b"") + data
        n = len(data) // 2 * 2
        self._half = data[n:] or None
        x0, y0, x1, y1 = self.window
        x, y = self._x, self._y
        i = 0
        while i < n:
            run = min(x1 - x + 1, (n - i) // 2)       # pixels left on this row of the window
            if 0 <= y < self.height:
                a, b = max(x, 0), min(x + run, self.width)
                if a < b:
                    k = (y * self.width + a) * 2
                    self.ram[k:k + (b - a) * 2] = data[i + (a - x) * 2:i + (b - x) * 2]
            i += run * 2
            x += run
            if x > x1:
                x = x0
                y += 1
                if y > y1:
                    y = y0
                    self.frames += 1
        self._x, self._y = x, y

    def image(self, scale=1):
        img = Image.new("RGB", (self.width, self.height), (0, 0, 0))
        if self.on and not self.asleep:
            px = img.load()
            for y in range(self.height):
                for x in range(self.width):
                    k = (y * self.width + x) * 2
                    c = (self.ram[k] << 8) | self.ram[k + 1]
                    rgb = ((c >> 11) << 3, ((c >> 5) & 0x3F) << 2, (c & 0x1F) << 3)
                    if not self.inverted:   # an IPS panel needs INVON to show true colours
                        rgb = tuple(255 - v for v in rgb)
                    px[x, y] = rgb
        return img.resize((self.width * scale, self.height * scale), Image.NEAREST) if scale > 1 else img

    def save_png(self, path, scale=1):
        self.image(scale).save(path)
        return path
