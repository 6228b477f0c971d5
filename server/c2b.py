"""Customer scans merchant: which app opened a code, the amount a payer typed, the code as a bitmap.

Pure functions; the pages are server/views/landing.py.
"""
from __future__ import annotations

import re
from collections.abc import Iterable

import segno

from .settings import WalletRule

_YUAN = re.compile(r"^([0-9]{1,7})(?:\.([0-9]{1,2}))?\Z")   # ASCII digits only (\d takes any script's)


def wallet_for(user_agent: str, wallets: Iterable[WalletRule], enabled: Iterable[str]) -> WalletRule | None:
    """The first wallet whose User-Agent marker is in `user_agent` and whose channel is active."""
    active = set(enabled)
    for wallet in wallets:
        if wallet.channel in active and any(marker in user_agent for marker in wallet.user_agent):
            return wallet
    return None


def fen_of_yuan(text: str) -> int | None:
    """"12.5" -> 1250; None for anything that is not a plain amount of yuan with at most 2 decimals."""
    match = _YUAN.match(text.strip())
    if match is None:
        return None
    return int(match.group(1)) * 100 + int((match.group(2) or "0").ljust(2, "0"))


def yuan_text(fen: int) -> str:
    return f"{fen // 100}.{fen % 100:02d}"


def qr_bitmap(text: str) -> dict:
    """`text` as a QR code for a device without a QR encoder: {size, rows}.

    size: modules per side (no quiet zone: the device draws 4 white modules around it);
    rows: size rows of ceil(size / 8) bytes each, 1 bit per module, most significant bit first,
    1 = dark; the bytes are Base64 in JSON and raw bytes in CBOR (see docs/device-api.md).
    """
    code = segno.make_qr(text, error="m")
    matrix = [list(row) for row in code.matrix]
    size = len(matrix)
    row_bytes = (size + 7) // 8
    packed = bytearray()
    for row in matrix:
        line = bytearray(row_bytes)
        for x, dark in enumerate(row):
            if dark:
                line[x >> 3] |= 0x80 >> (x & 7)
        packed += line
    return {"size": size, "rows": bytes(packed)}


def unpack_bitmap(size: int, rows: bytes) -> list[list[bool]]:
    """The inverse of qr_bitmap's packing (what a device does to draw it)."""
    row_bytes = (size + 7) // 8
    return [[bool(rows[y * row_bytes + (x >> 3)] & (0x80 >> (x & 7))) for x in range(size)] for y in range(size)]
