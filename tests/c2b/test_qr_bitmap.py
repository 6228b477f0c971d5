"""The `qr` op's bitmap, drawn as a stand would draw it, decodes (zbar) to the qr_code URL."""
import base64

from PIL import Image
from pyzbar.pyzbar import decode

from server.c2b import qr_bitmap, unpack_bitmap

QUIET, SCALE = 4, 4


def draw(size: int, rows: bytes) -> Image.Image:
    """What the stand does: a light quiet zone of 4 modules, each module SCALE x SCALE pixels."""
    modules = unpack_bitmap(size, rows)
    side = (size + 2 * QUIET) * SCALE
    image = Image.new("L", (side, side), 255)
    for y, row in enumerate(modules):
        for x, dark in enumerate(row):
            if dark:
                image.paste(0, ((x + QUIET) * SCALE, (y + QUIET) * SCALE, (x + QUIET + 1) * SCALE,
                                (y + QUIET + 1) * SCALE))
    return image


def test_packing_is_row_major_msb_first():
    bitmap = qr_bitmap("https://pay.example.com/c/x")
    size, rows = bitmap["size"], bitmap["rows"]
    assert size in range(21, 178, 4) and len(rows) == size * ((size + 7) // 8)
    # Every QR code has finder patterns: the top-left 7 modules of row 0 are dark, the 8th light.
    assert rows[0] == 0b11111110
    modules = unpack_bitmap(size, rows)
    assert modules[0][:7] == [True] * 7 and modules[0][7] is False and modules[1][1] is False


async def test_the_qr_ops_bitmap_decodes_to_its_url(stack):
    answer = await stack.call("qr", {"order_no": "BMP-1", "amount_fen": 1999})
    bitmap = answer["qr_bitmap"]
    rows = base64.b64decode(bitmap["rows"], validate=True)   # JSON: Base64
    [found] = decode(draw(bitmap["size"], rows))
    assert found.data.decode() == answer["qr_code"]

    answer = await stack.call("qr", {"order_no": "BMP-2", "amount_fen": 2000}, cbor=True)
    assert isinstance(answer["qr_bitmap"]["rows"], bytes)       # CBOR: a byte string
    [found] = decode(draw(answer["qr_bitmap"]["size"], answer["qr_bitmap"]["rows"]))
    assert found.data.decode() == answer["qr_code"]
