"""The printable sheet of static-code stickers (server/code_sheet.py), read back the way a person would:
every page rendered by PDFium, every QR code decoded by ZBar, the serials read from the PDF's text."""
import math
import random

import pypdfium2
import pytest
from PIL import Image
from pyzbar.pyzbar import ZBarSymbol, decode

from server.code_sheet import MAX_CODES, PER_PAGE, StickerCode, serial_text, sheet_pdf, sticker_box
from tests.sheets import DPI, MM_PER_INCH, cut_out, rendered_pages

PT_PER_MM = 72 / MM_PER_INCH
A4_HEIGHT_MM = 297
_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"


def random_codes(count: int, seed: int = 7) -> list[StickerCode]:
    rng = random.Random(seed)
    serials = {"".join(rng.choices(_ALPHABET, k=10)) for _ in range(count * 2)}
    return [StickerCode(serial, f"http://127.0.0.1:8080/c/s/{serial}") for serial in sorted(serials)[:count]]


def sticker_texts(pdf: bytes) -> list[list[str]]:
    """The text PDFium reads inside each sticker, page by page; the header line last on each page."""
    document = pypdfium2.PdfDocument(pdf)
    try:
        pages = []
        for i in range(len(document)):
            text = document[i].get_textpage()
            stickers = []
            for slot in range(PER_PAGE):
                x, y, width, height = (mm * PT_PER_MM for mm in sticker_box(slot))
                bottom = A4_HEIGHT_MM * PT_PER_MM - y - height
                stickers.append(text.get_text_bounded(x, bottom, x + width, bottom + height))
            pages.append(stickers + [text.get_text_bounded(0, (A4_HEIGHT_MM - 12) * PT_PER_MM)])
        return pages
    finally:
        document.close()


def quiet_zone_is_light(page: Image.Image, left: int, top: int, width: int, height: int) -> bool:
    """4 modules of light pixels on every side of the symbol; a module measured on the top-left finder
    pattern (7 modules of dark pixels along its top edge)."""
    slack = 2   # ZBar's box and anti-aliased edges are a pixel or so off
    start, end, y = left + slack, left + slack, top + slack
    while page.getpixel((start - 1, y)) < 128:
        start -= 1
    while page.getpixel((end, y)) < 128:
        end += 1
    assert end - start > 7, "no finder pattern at the symbol's top-left corner"
    band = math.ceil(4 * (end - start) / 7)
    outer = (left - band, top - band, left + width + band, top + height + band)
    inner = (left - slack, top - slack, left + width + slack, top + height + slack)
    for x in range(outer[0], outer[2]):
        for y in range(outer[1], outer[3]):
            inside = inner[0] <= x < inner[2] and inner[1] <= y < inner[3]
            if not inside and page.getpixel((x, y)) < 128:
                return False
    return True


@pytest.mark.slow
def test_every_sticker_scans_back_to_its_url_once():
    codes = random_codes(100)
    pdf = sheet_pdf(codes, title="静态码 第 12 批", subtitle="地推一组 · 100 张")
    pages = rendered_pages(pdf)
    assert len(pages) == math.ceil(100 / PER_PAGE) == 9

    # One sticker at a time, as a phone scans it (ZBar on a whole page of twelve misses a few).
    scanned = []
    for index in range(len(pages) * PER_PAGE):
        sticker = cut_out(pages[index // PER_PAGE], index % PER_PAGE)
        symbols = decode(sticker, symbols=[ZBarSymbol.QRCODE])
        if index >= len(codes):
            assert symbols == [], "a code on the last page's empty places"
            continue
        assert len(symbols) == 1, f"sticker {index}: {len(symbols)} QR codes"
        scanned.append(symbols[0].data.decode())
        left, top, width, height = symbols[0].rect
        assert min(width, height) / DPI * MM_PER_INCH >= 40, "a QR code smaller than 40 mm"
        assert quiet_zone_is_light(sticker, left, top, width, height), "text or a guide in the quiet zone"
    assert scanned == [code.url for code in codes]


def test_serials_are_text_grouped_as_printed():
    codes = [StickerCode("7K3M9QXA4B", "http://127.0.0.1:8080/c/s/7K3M9QXA4B")] + random_codes(13)
    pages = sticker_texts(sheet_pdf(codes, title="静态码 第 3 批", subtitle="2025-06-01"))

    assert len(pages) == 2
    assert serial_text("7K3M9QXA4B") == "7K3M9 QXA4B"
    assert pages[0][0].split() == ["扫码付款", "微信", "·", "支付宝", "·", "云闪付", "7K3M9", "QXA4B"]
    for index, code in enumerate(codes):
        assert serial_text(code.serial) in pages[index // PER_PAGE][index % PER_PAGE]
    assert all(text.strip() == "" for text in pages[1][2:PER_PAGE])
    assert pages[0][PER_PAGE].split() == ["静态码", "第", "3", "批", "2025-06-01", "第", "1", "/", "2", "页"]
    assert pages[1][PER_PAGE].split()[-4:] == ["2", "/", "2", "页"]


@pytest.mark.parametrize("codes, refusal", [
    ([], "no codes"),
    (random_codes(MAX_CODES + 1), "at most 1000"),
    ([StickerCode("7K3M9\nQXA4B", "http://127.0.0.1:8080/c/s/x")], "printable ASCII"),
    ([StickerCode("7K3M9 QXA4B", "http://127.0.0.1:8080/c/s/x")], "printable ASCII"),
    ([StickerCode("码7K3M9", "http://127.0.0.1:8080/c/s/x")], "printable ASCII"),
    ([StickerCode("7K3M9QXA4B", "")], "URL is empty"),
    ([StickerCode("7K3M9QXA4B", "http://127.0.0.1:8080/c/s/" + "x" * 300)], "too long"),
])
def test_what_no_sheet_can_carry_is_refused(codes, refusal):
    with pytest.raises(ValueError, match=refusal):
        sheet_pdf(codes, title="静态码")


@pytest.mark.parametrize("title, subtitle", [
    ("静态码\n第 2 批", ""),
    ("静态码", "地推一组\r"),
    ("静态码" * 10, "地推一组 · 东城区 · 1000 张" * 2),   # would run into the page number
])
def test_a_header_that_cannot_be_printed_is_refused(title, subtitle):
    with pytest.raises(ValueError, match="title"):
        sheet_pdf(random_codes(1), title=title, subtitle=subtitle)


def test_the_longest_header_that_fits_is_printed_whole():
    title, subtitle = "静态码 · 东城区第 12 批 · 地推一组", "2025-06-01 · 王小明 · 1000 张 · 备注：老城区"
    pages = sticker_texts(sheet_pdf(random_codes(1), title=title, subtitle=subtitle))
    assert pages[0][PER_PAGE].split() == (title + " " + subtitle + " 第 1 / 1 页").split()
