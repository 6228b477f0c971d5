# HMAC-SHA256 (RFC 2104) over hashlib.sha256. The micropython-lib `hmac` package is not frozen
# into stock ESP32 firmware, and MicroPython's hashlib has no hexdigest() nor copy(), so this is
# the whole of it.
import hashlib
from binascii import hexlify

from core.compat import const

_BLOCK = const(64)

# XOR tables built once: translating the padded key through them is cheaper than a byte loop per call
_IPAD = bytes((x ^ 0x36) for x in range(256))
_OPAD = bytes((x ^ 0x5C) for x in range(256))


def _translate(data, table):
    out = bytearray(len(data))
    for i in range(len(data)):
        out[i] = table[data[i]]
    return out


def hmac_sha256(key, msg):
    """The 32-byte HMAC-SHA256 of msg (bytes) under key (bytes)."""
    if len(key) > _BLOCK:
        key = hashlib.sha256(key).digest()
    key = bytes(key) + bytes(_BLOCK - len(key))
    inner = hashlib.sha256(_translate(key, _IPAD))
    inner.update(msg)
    outer = hashlib.sha256(_translate(key, _OPAD))
    outer.update(inner.digest())
    return outer.digest()


def hmac_sha256_hex(key, msg):
    return hexlify(hmac_sha256(key, msg)).decode()


def sha256_hex(data):
    return hexlify(hashlib.sha256(data).digest()).decode()


def compare_digest(a, b):
    """Equal, in time that depends only on the lengths (not on where the first difference is)."""
    if isinstance(a, str):
        a = a.encode()
    if isinstance(b, str):
        b = b.encode()
    diff = len(a) ^ len(b)
    if len(a) != len(b):
        b = a       # still walk the whole of `a`
    for i in range(len(a)):
        diff |= a[i] ^ b[i]
    return diff == 0
