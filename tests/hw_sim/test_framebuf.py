"""The simulator's framebuf (MicroPython's module for CPython): the fast row fill of MONO_HLSB draws
exactly the pixels a pixel-by-pixel fill would, and the formats the panels use address pixels as
MicroPython documents them."""
from hypothesis import given, settings
from hypothesis import strategies as st

from hw_sim import framebuf

rects = st.lists(st.tuples(st.integers(-5, 40), st.integers(-5, 20), st.integers(0, 40), st.integers(0, 12),
                           st.integers(0, 1)), max_size=6)


@settings(max_examples=150, deadline=None)
@given(st.integers(1, 40), st.integers(1, 20), rects)
def test_fast_fill_rect_matches_pixel_by_pixel(w, h, drawn):
    fast = framebuf.FrameBuffer(bytearray((w + 7) // 8 * h), w, h, framebuf.MONO_HLSB)
    slow = framebuf.FrameBuffer(bytearray((w + 7) // 8 * h), w, h, framebuf.MONO_HLSB)
    for x, y, rw, rh, c in drawn:
        fast.fill_rect(x, y, rw, rh, c)
        for yy in range(max(0, y), min(h, y + rh)):
            for xx in range(max(0, x), min(w, x + rw)):
                slow.pixel(xx, yy, c)
    assert [[fast.pixel(x, y) for x in range(w)] for y in range(h)] == \
        [[slow.pixel(x, y) for x in range(w)] for y in range(h)]


def test_pixel_addressing():
    buf = bytearray(2)
    framebuf.FrameBuffer(buf, 8, 2, framebuf.MONO_HLSB).pixel(1, 1, 1)
    assert buf == bytearray([0, 0x40])          # row-major, leftmost pixel in the top bit
    buf = bytearray(8)
    framebuf.FrameBuffer(buf, 8, 8, framebuf.MONO_VLSB).pixel(2, 3, 1)
    assert buf[2] == 0x08                       # column bytes, top pixel in the low bit
    buf = bytearray(8)
    fb = framebuf.FrameBuffer(buf, 2, 2, framebuf.RGB565)
    fb.pixel(1, 0, 0xF800)
    assert buf[2:4] == b"\x00\xf8" and fb.pixel(1, 0) == 0xF800
    fb.fill(0x001F)
    assert fb.pixel(0, 1) == 0x001F
