"""Reading a printed code sheet back as a ground-team member's phone would: every page rendered by PDFium,
each sticker cut along its guides and decoded by ZBar."""
from __future__ import annotations

import pypdfium2
from PIL import Image
from pyzbar.pyzbar import ZBarSymbol, decode

from server.code_sheet import PER_PAGE, sticker_box

DPI = 200
MM_PER_INCH = 25.4


def rendered_pages(pdf: bytes) -> list[Image.Image]:
    document = pypdfium2.PdfDocument(pdf)
    try:
        return [document[i].render(scale=DPI / 72).to_pil().convert("L") for i in range(len(document))]
    finally:
        document.close()


def cut_out(page: Image.Image, slot: int) -> Image.Image:
    """Sticker `slot` of a rendered page, cut along its guides."""
    x, y, width, height = (round(mm / MM_PER_INCH * DPI) for mm in sticker_box(slot))
    return page.crop((x, y, x + width, y + height))


def scanned_urls(pdf: bytes) -> list[str]:
    """What each sticker's QR code says, in sheet order (an empty place on the last page gives nothing)."""
    urls = []
    for page in rendered_pages(pdf):
        for slot in range(PER_PAGE):
            urls += [symbol.data.decode() for symbol in decode(cut_out(page, slot), symbols=[ZBarSymbol.QRCODE])]
    return urls
