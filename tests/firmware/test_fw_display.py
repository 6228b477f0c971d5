"""Screens: the SSD1306 and ST7789 drivers against the virtual panels that decode their bytes, text
and QR codes on them (read back with zbar), and the QR encoder and compact-bitmap parser."""
import pytest
import segno

from hw_sim.boards.base import use_firmware
from hw_sim.display import VirtualI2C, VirtualSPI, VirtualSSD1306, VirtualST7789
from hw_sim.pins import Pin
from hw_sim.scan_engine import decode_symbol

use_firmware()
from core import qr  # noqa: E402
from drivers.display import SSD1306, ST7789, Screen  # noqa: E402

URL = "https://pay.example.com/c/JBQOfhzenWAYK4_Y12TO5-w7"


def oled():
    i2c = VirtualI2C()
    panel = VirtualSSD1306()
    i2c.attach(0x3C, panel)
    return Screen(SSD1306(i2c)), panel


def tft():
    spi = VirtualSPI()
    dc, cs = Pin(9, Pin.OUT, value=0), Pin(10, Pin.OUT, value=1)
    panel = VirtualST7789(dc)
    spi.attach(cs, panel)
    return Screen(ST7789(spi, dc, cs)), panel


def test_ssd1306_init_and_a_frame():
    screen, panel = oled()
    assert panel.on and panel.contrast == 0xFF
    screen.clear()
    screen.fb.fill_rect(0, 0, 8, 8, 1)
    screen.show()
    assert panel.frames == 1
    img = panel.image()
    assert img.getpixel((3, 3)) == 255 and img.getpixel((20, 20)) == 0


def test_st7789_init_window_and_pixels():
    screen, panel = tft()
    assert panel.on and not panel.asleep and panel.colmod == 0x55 and panel.inverted
    screen.clear()
    screen.fb.fill_rect(100, 100, 10, 10, 1)
    screen.show()
    assert panel.frames == 1 and panel.window == (0, 0, 239, 239)
    img = panel.image()
    assert img.getpixel((105, 105)) == (0, 0, 0) and img.getpixel((5, 5))[0] >= 240


def test_missing_i2c_device_is_an_oserror():
    with pytest.raises(OSError):
        SSD1306(VirtualI2C())


@pytest.mark.parametrize("make", [oled, tft])
@pytest.mark.parametrize("text", ["https://pay.example.com/c/s/D0001", URL])
def test_qr_on_the_screen_reads_back(make, text):
    screen, panel = make()
    screen.clear()
    screen.text("12.50", 0, 0)
    screen.qr(qr.encode(text), top=10)
    screen.show()
    scale = 2 if panel.width < 200 else 1
    assert decode_symbol(panel.image(scale).convert("L")) == text
    assert screen.lines == ["12.50"] and screen.qr_size >= 21


def test_text_scaled_and_centred():
    screen, panel = tft()
    screen.clear()
    y = screen.center("PAID", 20, 4)
    assert y == 52 and screen.lines == ["PAID"]
    screen.show()
    img = panel.image().convert("L")
    dark = [x for x in range(240) if img.getpixel((x, 36)) < 128]
    assert dark and min(dark) >= 56 and max(dark) < 184       # 4 glyphs of 32 px, centred


@pytest.mark.parametrize("text", ["a", "x" * 60, URL, "https://127.0.0.1:8080/c/" + "Z" * 150])
def test_encoder_matches_segno_size_and_decodes(text):
    bitmap = qr.encode(text)
    reference = segno.make_qr(text, error="m", mode="byte", boost_error=False)
    assert bitmap.size == reference.symbol_size(border=0)[0]


def test_compact_bitmap_both_layouts():
    reference = segno.make_qr(URL, error="m")
    matrix = [[1 if v else 0 for v in row] for row in reference.matrix]
    size = len(matrix)
    flat = [v for row in matrix for v in row]
    packed = bytes(int("".join(map(str, (flat[i:i + 8] + [0] * 8)[:8])), 2) for i in range(0, len(flat), 8))
    padded = b"".join(bytes(int("".join(map(str, (row[i:i + 8] + [0] * 8)[:8])), 2)
                            for i in range(0, size, 8)) for row in matrix)
    for data in (packed, padded):
        bitmap = qr.unpack(size, data)
        assert all(bitmap.dark(x, y) == matrix[y][x] for y in range(size) for x in range(size))
    bitmap = qr.from_answer({"qr_bitmap": {"size": size, "rows": padded}, "qr_code": "ignored"})
    assert all(bitmap.dark(x, y) == matrix[y][x] for y in range(size) for x in range(size))
    with pytest.raises(qr.QRError):
        qr.unpack(size, packed[:-1])
    assert qr.from_answer({}) is None
    with pytest.raises(qr.QRError):
        qr.encode("x" * 300)


def test_the_servers_bitmap_reads_as_the_server_means_it():
    from server.c2b import qr_bitmap, unpack_bitmap
    compact = qr_bitmap(URL)
    mine = qr.from_answer({"qr_bitmap": compact})
    theirs = unpack_bitmap(compact["size"], compact["rows"])
    assert mine.size == compact["size"] == qr.encode(URL).size      # same version at level M
    assert all(bool(mine.dark(x, y)) == theirs[y][x] for y in range(mine.size) for x in range(mine.size))
