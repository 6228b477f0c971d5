# QR codes for the screen: the compact bitmap the server sends with the `qr` op (docs/device-api.md:
# `qr_bitmap: {size, rows}`), and an encoder on the device for the codes that come as text only
# (`info.static_code`, or a server without `qr_bitmap`).
#
# Compact bitmap: `size` modules per side (no quiet zone), rows top to bottom, each row left to right,
# most significant bit first, 1 = dark, each row padded to whole bytes (ceil(size/8)*size bytes, the
# server's layout); packed end to end (ceil(size*size/8) bytes) is accepted too, the length tells which.
#
# The encoder: byte mode, error correction level M, versions 1-10 (up to 213 bytes of text, plenty for
# a payment URL), fixed mask 0 (every mask gives a valid code; choosing the best only helps poor
# scanners). After ISO/IEC 18004; written for small heaps: one bytearray per matrix.
from core.compat import const

_MAX_VERSION = const(10)
_ECC_PER_BLOCK_M = (0, 10, 16, 26, 18, 24, 16, 18, 22, 22, 26)
_BLOCKS_M = (0, 1, 1, 1, 2, 2, 4, 4, 4, 5, 5)
_FORMAT_M = const(0)        # level M's two format bits


class QRError(ValueError):
    pass


class Bitmap:
    """A square 1-bit picture: `size` and `bits` (packed end to end, MSB first)."""

    def __init__(self, size, bits):
        self.size = size
        self.bits = bits

    def dark(self, x, y):
        i = y * self.size + x
        return (self.bits[i >> 3] >> (7 - (i & 7))) & 1


def unpack(size, data):
    """A Bitmap from the server's compact form (either layout, see the header)."""
    if not isinstance(size, int) or not 21 <= size <= 177:
        raise QRError("bad QR size %r" % (size,))
    packed = (size * size + 7) // 8
    row_bytes = (size + 7) // 8
    if len(data) == packed:
        return Bitmap(size, bytes(data))
    if len(data) != row_bytes * size:
        raise QRError("QR bitmap of %d bytes fits no layout for size %d" % (len(data), size))
    bits = bytearray(packed)
    for y in range(size):
        for x in range(size):
            if (data[y * row_bytes + (x >> 3)] >> (7 - (x & 7))) & 1:
                i = y * size + x
                bits[i >> 3] |= 0x80 >> (i & 7)
    return Bitmap(size, bytes(bits))


def from_answer(answer, text_field="qr_code"):
    """The Bitmap of a server answer: its `qr_bitmap` {size, rows} when present, else `text_field`
    encoded here. None when the answer has neither."""
    compact = answer.get("qr_bitmap") if isinstance(answer, dict) else None
    if isinstance(compact, dict):
        data = compact.get("rows", compact.get("bits"))
        if isinstance(data, (bytes, bytearray)):
            return unpack(compact.get("size"), data)
    text = answer.get(text_field) if isinstance(answer, dict) else None
    if isinstance(text, str) and text:
        return encode(text)
    return None


# ------------------------------------------------------------------------ the encoder
def _gf_mul(x, y):
    z = 0
    for i in range(7, -1, -1):
        z = ((z << 1) ^ ((z >> 7) * 0x11D)) & 0xFF
        z ^= ((y >> i) & 1) * x
    return z


def _rs_divisor(degree):
    result = bytearray(degree)
    result[degree - 1] = 1
    root = 1
    for _ in range(degree):
        for j in range(degree):
            result[j] = _gf_mul(result[j], root)
            if j + 1 < degree:
                result[j] ^= result[j + 1]
        root = _gf_mul(root, 0x02)
    return result


def _rs_remainder(data, divisor):
    n = len(divisor)
    result = bytearray(n)
    for b in data:
        factor = b ^ result[0]
        result[0:n - 1] = result[1:n]
        result[n - 1] = 0
        for i in range(n):
            result[i] ^= _gf_mul(divisor[i], factor)
    return result


def _raw_modules(ver):
    result = (16 * ver + 128) * ver + 64
    if ver >= 2:
        n = ver // 7 + 2
        result -= (25 * n - 10) * n - 55
        if ver >= 7:
            result -= 36
    return result


def _alignment_positions(ver):
    if ver == 1:
        return ()
    n = ver // 7 + 2
    step = (ver * 4 + n * 2 + 1) // (n * 2 - 2) * 2
    size = ver * 4 + 17
    positions = [size - 7 - i * step for i in range(n - 1)]
    positions.append(6)
    positions.reverse()
    return positions


def _codewords(data, ver):
    """Data codewords (mode, length, text, padding) followed by interleaved error correction."""
    total = _raw_modules(ver) // 8
    ecc_len = _ECC_PER_BLOCK_M[ver]
    blocks_n = _BLOCKS_M[ver]
    capacity = total - ecc_len * blocks_n
    count_bits = 8 if ver < 10 else 16
    bits = bytearray()      # one byte per bit: simple, and at most ~2.2k here

    def put(value, n):
        for i in range(n - 1, -1, -1):
            bits.append((value >> i) & 1)
    put(0x4, 4)
    put(len(data), count_bits)
    for b in data:
        put(b, 8)
    put(0, min(4, capacity * 8 - len(bits)))
    put(0, (-len(bits)) % 8)
    out = bytearray(capacity)
    for i in range(len(bits) // 8):
        v = 0
        for k in range(8):
            v = (v << 1) | bits[i * 8 + k]
        out[i] = v
    pad = 0xEC
    for i in range(len(bits) // 8, capacity):
        out[i] = pad
        pad ^= 0xEC ^ 0x11
    short_n = blocks_n - total % blocks_n
    short_len = total // blocks_n
    divisor = _rs_divisor(ecc_len)
    blocks = []
    k = 0
    for i in range(blocks_n):
        n = short_len - ecc_len + (0 if i < short_n else 1)
        dat = out[k:k + n]
        k += n
        ecc = _rs_remainder(dat, divisor)
        if i < short_n:
            dat.append(0)
        blocks.append(dat + ecc)
    result = bytearray()
    for i in range(len(blocks[0])):
        for j in range(blocks_n):
            if i != short_len - ecc_len or j >= short_n:
                result.append(blocks[j][i])
    return result


def encode(text):
    """A Bitmap of `text` (str or bytes) as a QR code, level M, the smallest version that fits."""
    data = text.encode() if isinstance(text, str) else bytes(text)
    ver = 1
    while True:
        capacity = _raw_modules(ver) // 8 - _ECC_PER_BLOCK_M[ver] * _BLOCKS_M[ver]
        count_bits = 8 if ver < 10 else 16
        if 4 + count_bits + len(data) * 8 <= capacity * 8:
            break
        ver += 1
        if ver > _MAX_VERSION:
            raise QRError("text too long for a QR code here: %d bytes" % len(data))
    size = ver * 4 + 17
    dark = bytearray(size * size)
    fixed = bytearray(size * size)

    def put(x, y, on):
        dark[y * size + x] = 1 if on else 0
        fixed[y * size + x] = 1

    for i in range(size):
        put(6, i, i % 2 == 0)
        put(i, 6, i % 2 == 0)
    for cx, cy in ((3, 3), (size - 4, 3), (3, size - 4)):
        for dy in range(-4, 5):
            for dx in range(-4, 5):
                x, y = cx + dx, cy + dy
                if 0 <= x < size and 0 <= y < size:
                    d = max(abs(dx), abs(dy))
                    put(x, y, d != 2 and d != 4)
    align = _alignment_positions(ver)
    last = len(align) - 1
    for i in range(len(align)):
        for j in range(len(align)):
            if (i == 0 and j == 0) or (i == 0 and j == last) or (i == last and j == 0):
                continue
            for dy in range(-2, 3):
                for dx in range(-2, 3):
                    put(align[i] + dx, align[j] + dy, max(abs(dx), abs(dy)) != 1)
    # format bits (level M, mask 0), both copies, and the dark module
    fmt = _FORMAT_M << 3
    rem = fmt
    for _ in range(10):
        rem = (rem << 1) ^ ((rem >> 9) * 0x537)
    fbits = ((fmt << 10) | rem) ^ 0x5412
    for i in range(6):
        put(8, i, (fbits >> i) & 1)
    put(8, 7, (fbits >> 6) & 1)
    put(8, 8, (fbits >> 7) & 1)
    put(7, 8, (fbits >> 8) & 1)
    for i in range(9, 15):
        put(14 - i, 8, (fbits >> i) & 1)
    for i in range(8):
        put(size - 1 - i, 8, (fbits >> i) & 1)
    for i in range(8, 15):
        put(8, size - 15 + i, (fbits >> i) & 1)
    put(8, size - 8, 1)
    if ver >= 7:
        rem = ver
        for _ in range(12):
            rem = (rem << 1) ^ ((rem >> 11) * 0x1F25)
        vbits = (ver << 12) | rem
        for i in range(18):
            on = (vbits >> i) & 1
            a, b = size - 11 + i % 3, i // 3
            put(a, b, on)
            put(b, a, on)
    # data, zigzag from the bottom right, mask 0 ((x + y) even flips) as it goes
    codewords = _codewords(data, ver)
    n_bits = len(codewords) * 8
    i = 0
    right = size - 1
    while right >= 1:
        if right == 6:
            right = 5
        for vert in range(size):
            for j in range(2):
                x = right - j
                y = size - 1 - vert if ((right + 1) & 2) == 0 else vert
                k = y * size + x
                if not fixed[k]:
                    on = 0
                    if i < n_bits:
                        on = (codewords[i >> 3] >> (7 - (i & 7))) & 1
                        i += 1
                    if (x + y) % 2 == 0:
                        on ^= 1
                    dark[k] = on
        right -= 2
    bits = bytearray((size * size + 7) // 8)
    for k in range(size * size):
        if dark[k]:
            bits[k >> 3] |= 0x80 >> (k & 7)
    return Bitmap(size, bytes(bits))
