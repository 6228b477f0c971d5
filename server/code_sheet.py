"""A printable sheet of empty static payment codes: A4 pages of stickers for an acquirer's ground teams.

Each sticker says 扫码付款 (and which wallets), carries a QR code of its URL and the code's serial number
in text, grouped for reading, so whoever binds the sticker to a shop later can type or scan it. The QR
modules are filled rectangles (vector: sharp at any print resolution). Pure: codes in, PDF bytes out.

    pdf = sheet_pdf([StickerCode("7K3M9QXA4B", "https://pay.example.cn/c/s/7K3M9QXA4B")],
                    title="静态码 第 12 批", subtitle="2025-06-01 · 100 张")
"""
from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import dataclass

import segno
from fpdf import FPDF
from fpdf.drawing import PaintedPath
from fpdf.fonts import TTFFont

from .params import is_text

MAX_CODES = 1000
SERIAL = re.compile(r"[!-~]{1,24}", re.ASCII)   # printable ASCII but space, which splits the printed groups
SERIAL_GROUP = 5                                 # "7K3M9QXA4B" is printed "7K3M9 QXA4B"
TITLE_MAX_LEN = 100   # characters; what fits on the header line is measured (CJK is twice as wide as Latin)

# Debian's fonts-wqy-microhei (the Makefile's DEB_PACKAGES), then where other distributions put it. One
# collection, two faces: 0 WenQuanYi Micro Hei for the Chinese text, 1 its Mono twin for the serials.
FONT_PATHS = (
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/wenquanyi/wqy-microhei/wqy-microhei.ttc",
)

# Layout in millimetres, A4 portrait: a 3 x 4 grid under a one-line header, dashed cut guides on every
# sticker edge. A sticker, top to bottom: caption, wallets line, the QR box, the serial.
_PAGE_W, _PAGE_H = 210, 297
_COLUMNS, _ROWS = 3, 4
PER_PAGE = _COLUMNS * _ROWS
_MARGIN_X, _MARGIN_TOP, _MARGIN_BOTTOM = 7, 5, 5   # inside what office printers can print
_HEADER_H = 7
_TITLE_PT, _SUBTITLE_PT, _GAP = 11, 8.5, 4
_GRID_TOP = _MARGIN_TOP + _HEADER_H
_CELL_W = (_PAGE_W - 2 * _MARGIN_X) / _COLUMNS     # 65.3
_CELL_H = (_PAGE_H - _GRID_TOP - _MARGIN_BOTTOM) / _ROWS   # 70
_PAD_TOP, _CAPTION_H, _WALLETS_H, _SERIAL_H, _PAD_BOTTOM = 2, 6, 3.5, 5, 1.5
# The QR box holds the symbol and its quiet zone of exactly 4 modules; the text sits outside it.
_QR_BOX = _CELL_H - _PAD_TOP - _CAPTION_H - _WALLETS_H - _SERIAL_H - _PAD_BOTTOM   # 52
_QUIET_MODULES = 4
# Version 3 (29 modules) at least, so the symbol is never smaller than 52 * 29 / 37 = 40.8 mm; version 10
# (57 modules, 213 bytes at level M) at most, so a module stays 0.8 mm or more.
_MIN_VERSION, _MAX_VERSION = 3, 10

_CAPTION = "扫码付款"
_WALLETS = "微信 · 支付宝 · 云闪付"
_GUIDE_GREY = 170


class FontMissing(RuntimeError):
    """No CJK TrueType font on this machine to print the Chinese text with."""


@dataclass(frozen=True)
class StickerCode:
    serial: str   # printed under the QR code: "7K3M9QXA4B"
    url: str      # what the QR code encodes


def serial_text(serial: str) -> str:
    """The serial as printed, in groups for reading: "7K3M9QXA4B" -> "7K3M9 QXA4B"."""
    return " ".join(serial[i:i + SERIAL_GROUP] for i in range(0, len(serial), SERIAL_GROUP))


def sticker_box(slot: int) -> tuple[float, float, float, float]:
    """Where sticker `slot` (0 to 11, row by row) sits on its page, cut guides included: x, y, width,
    height in millimetres from the top-left corner."""
    return (_MARGIN_X + (slot % _COLUMNS) * _CELL_W, _GRID_TOP + (slot // _COLUMNS) * _CELL_H, _CELL_W, _CELL_H)


def cjk_font_path() -> str:
    """The WenQuanYi Micro Hei collection (face 0 proportional, face 1 mono); FontMissing if absent."""
    for path in FONT_PATHS:
        if os.path.isfile(path):
            return path
    raise FontMissing("no CJK font for code sheets: install Debian's fonts-wqy-microhei "
                      "(make setup does); looked for " + ", ".join(FONT_PATHS))


def sheet_pdf(codes: Sequence[StickerCode], *, title: str, subtitle: str = "") -> bytes:
    """A4 pages of 12 stickers each (3 x 4), in the order given; ValueError for codes no sheet can carry."""
    symbols = _symbols(codes)
    for name, text in (("title", title), ("subtitle", subtitle)):
        if not is_text(text, TITLE_MAX_LEN):
            raise ValueError(f"{name}: at most {TITLE_MAX_LEN} characters, with no control characters")
    pdf = FPDF(orientation="portrait", unit="mm", format="A4")
    pdf.set_auto_page_break(False)
    pdf.set_margin(0)
    pdf.set_title(title)
    pdf.set_creator("scanpay")
    font = cjk_font_path()
    pdf.add_font("cjk", fname=font, collection_font_number=0)
    pdf.add_font("cjk-mono", fname=font, collection_font_number=1)
    pages = -(-len(codes) // PER_PAGE)
    if _header_width(pdf, title, subtitle, _page_label(pages, pages)) > _PAGE_W - 2 * _MARGIN_X:
        for loaded in pdf.fonts.values():   # fpdf2 closes the font file at output(), which never comes now
            if isinstance(loaded, TTFFont):
                loaded.close()
        raise ValueError("title and subtitle: too long for the one header line of a page")
    for index, (code, matrix) in enumerate(zip(codes, symbols)):
        slot = index % PER_PAGE
        if slot == 0:
            pdf.add_page()
            _header(pdf, title, subtitle, index // PER_PAGE + 1, pages)
        x, y, _, _ = sticker_box(slot)
        _sticker(pdf, x, y, code.serial, matrix)
    return bytes(pdf.output())


def _version(qr: segno.QRCode) -> int:
    """The symbol's version: a number, make_qr making no Micro QR (whose versions are "M1".."M4")."""
    return int(qr.version)


def _symbols(codes: Sequence[StickerCode]) -> list[list[list[bool]]]:
    """Each code's QR module matrix (no quiet zone), after refusing what cannot go on a sheet."""
    if not codes:
        raise ValueError("no codes: a sheet needs at least one")
    if len(codes) > MAX_CODES:
        raise ValueError(f"{len(codes)} codes: at most {MAX_CODES} per sheet")
    symbols = []
    for code in codes:
        if not (isinstance(code.serial, str) and SERIAL.fullmatch(code.serial)):
            raise ValueError(f"serial {code.serial!r}: 1-24 printable ASCII characters, no spaces")
        if not (isinstance(code.url, str) and code.url):
            raise ValueError(f"serial {code.serial}: the URL is empty")
        qr = segno.make_qr(code.url, error="m")
        if _version(qr) < _MIN_VERSION:   # a short URL: larger modules would shrink the symbol under 40 mm
            qr = segno.make_qr(code.url, error="m", version=_MIN_VERSION)
        if _version(qr) > _MAX_VERSION:
            raise ValueError(f"serial {code.serial}: the URL is too long for a sticker's QR code")
        symbols.append([[bool(dark) for dark in row] for row in qr.matrix])
    return symbols


def _page_label(page: int, pages: int) -> str:
    return f"第 {page} / {pages} 页"


def _header_width(pdf: FPDF, title: str, subtitle: str, page_label: str) -> float:
    pdf.set_font("cjk", size=_TITLE_PT)
    width = pdf.get_string_width(title)
    pdf.set_font("cjk", size=_SUBTITLE_PT)
    return width + _GAP + pdf.get_string_width(subtitle) + _GAP + pdf.get_string_width(page_label)


def _header(pdf: FPDF, title: str, subtitle: str, page: int, pages: int) -> None:
    """Title, subtitle after it in grey, the page number at the right."""
    pdf.set_text_color(0)
    pdf.set_font("cjk", size=_TITLE_PT)
    pdf.set_xy(_MARGIN_X, _MARGIN_TOP)
    pdf.cell(pdf.get_string_width(title) + _GAP, _HEADER_H, title)
    pdf.set_font("cjk", size=_SUBTITLE_PT)
    pdf.set_text_color(90)
    pdf.cell(0, _HEADER_H, subtitle)
    pdf.set_xy(_MARGIN_X, _MARGIN_TOP)
    pdf.cell(_PAGE_W - 2 * _MARGIN_X, _HEADER_H, _page_label(page, pages), align="R")


def _sticker(pdf: FPDF, x: float, y: float, serial: str, matrix: list[list[bool]]) -> None:
    _cut_guides(pdf, x, y)
    pdf.set_text_color(0)
    pdf.set_font("cjk", size=14)
    pdf.set_xy(x, y + _PAD_TOP)
    pdf.cell(_CELL_W, _CAPTION_H, _CAPTION, align="C")
    pdf.set_font("cjk", size=7)
    pdf.set_text_color(70)
    pdf.set_xy(x, y + _PAD_TOP + _CAPTION_H)
    pdf.cell(_CELL_W, _WALLETS_H, _WALLETS, align="C")
    box_y = y + _PAD_TOP + _CAPTION_H + _WALLETS_H
    _qr(pdf, x + (_CELL_W - _QR_BOX) / 2, box_y, matrix)
    pdf.set_text_color(0)
    pdf.set_font("cjk-mono", size=12)
    pdf.set_xy(x, box_y + _QR_BOX)
    pdf.cell(_CELL_W, _SERIAL_H, serial_text(serial), align="C")


def _qr(pdf: FPDF, x: float, y: float, matrix: list[list[bool]]) -> None:
    """The symbol centred in the square QR box at (x, y), a quiet zone of 4 modules around it.

    Dark runs of a row are one rectangle each, and all of them one path filled once: separate fills would
    leave hairline seams between rows where a renderer anti-aliases each edge.
    """
    size = len(matrix)
    module = _QR_BOX / (size + 2 * _QUIET_MODULES)
    left, top = x + _QUIET_MODULES * module, y + _QUIET_MODULES * module
    path = PaintedPath()
    path.style.fill_color = "#000000"
    path.style.stroke_color = None
    for row_index, row in enumerate(matrix):
        run_start = None
        for column, dark in enumerate(row + [False]):
            if dark and run_start is None:
                run_start = column
            elif not dark and run_start is not None:
                path.rectangle(left + run_start * module, top + row_index * module,
                               (column - run_start) * module, module)
                run_start = None
    # built here and never touched again: fpdf2's copy costs 0.1 s a code. (fpdf2 2.8 annotates the argument as
    # a GraphicsContext; its docstring and every example pass a PaintedPath, which is what it draws.)
    pdf.draw_path(path, copy=False)  # pyright: ignore[reportArgumentType]


def _cut_guides(pdf: FPDF, x: float, y: float) -> None:
    """Dashed lines on the sticker's four edges; a neighbour's shared edge is drawn identically over it."""
    pdf.set_draw_color(_GUIDE_GREY)
    pdf.set_line_width(0.2)
    pdf.set_dash_pattern(dash=2, gap=1.5)
    right, bottom = x + _CELL_W, y + _CELL_H
    pdf.line(x, y, right, y)
    pdf.line(x, bottom, right, bottom)
    pdf.line(x, y, x, bottom)
    pdf.line(right, y, right, bottom)
    pdf.set_dash_pattern()
