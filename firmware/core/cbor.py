# CBOR (RFC 8949) for the device API: the subset money needs and nothing more.
# int (64-bit, negative too), bytes, text, list, map, bool, None; definite lengths only.
# Floats, tags, indefinite lengths and other simple values are refused with CBORError: an amount
# must never arrive as a float, and a codec that silently accepted one would hide the mistake.
from core.compat import const

_UINT = const(0)
_NINT = const(1)
_BYTES = const(2)
_TEXT = const(3)
_ARRAY = const(4)
_MAP = const(5)
_TAG = const(6)
_SIMPLE = const(7)

_FALSE = const(20)
_TRUE = const(21)
_NULL = const(22)

_MAX_DEPTH = const(16)
_U64_LIMIT = 1 << 64       # not const(): MicroPython's const() takes small ints only


class CBORError(ValueError):
    pass


# ----------------------------------------------------------------------------------- encoding

def _head(out, major, n):
    if n < 24:
        out.append((major << 5) | n)
    elif n < 0x100:
        out.append((major << 5) | 24)
        out.append(n)
    elif n < 0x10000:
        out.append((major << 5) | 25)
        out.extend(n.to_bytes(2, "big"))
    elif n < 0x100000000:
        out.append((major << 5) | 26)
        out.extend(n.to_bytes(4, "big"))
    elif n < _U64_LIMIT:
        out.append((major << 5) | 27)
        out.extend(n.to_bytes(8, "big"))
    else:
        raise CBORError("integer out of 64-bit range")


def _encode(out, obj, depth):
    if depth > _MAX_DEPTH:
        raise CBORError("nested too deeply")
    if obj is None:
        out.append(0xF6)
    elif obj is True:
        out.append(0xF5)
    elif obj is False:
        out.append(0xF4)
    elif isinstance(obj, int):
        if obj >= 0:
            _head(out, _UINT, obj)
        else:
            _head(out, _NINT, -1 - obj)
    elif isinstance(obj, str):
        data = obj.encode("utf-8")
        _head(out, _TEXT, len(data))
        out.extend(data)
    elif isinstance(obj, (bytes, bytearray, memoryview)):
        _head(out, _BYTES, len(obj))
        out.extend(obj)
    elif isinstance(obj, (list, tuple)):
        _head(out, _ARRAY, len(obj))
        for item in obj:
            _encode(out, item, depth + 1)
    elif isinstance(obj, dict):
        _head(out, _MAP, len(obj))
        for key in obj:
            if not isinstance(key, (str, int)) or isinstance(key, bool):
                raise CBORError("map keys must be text or int, not %s" % type(key).__name__)
            _encode(out, key, depth + 1)
            _encode(out, obj[key], depth + 1)
    elif isinstance(obj, float):
        raise CBORError("floats are not allowed (money is integer fen)")
    else:
        raise CBORError("cannot encode %s" % type(obj).__name__)


def encode(obj):
    out = bytearray()
    _encode(out, obj, 0)
    return bytes(out)


# ----------------------------------------------------------------------------------- decoding

class _Reader:
    def __init__(self, data):
        self.data = memoryview(data)
        self.pos = 0

    def take(self, n):
        end = self.pos + n
        if end > len(self.data):
            raise CBORError("truncated at byte %d" % self.pos)
        chunk = self.data[self.pos:end]
        self.pos = end
        return chunk

    def byte(self):
        if self.pos >= len(self.data):
            raise CBORError("truncated at byte %d" % self.pos)
        b = self.data[self.pos]
        self.pos += 1
        return b


def _argument(reader, info):
    if info < 24:
        return info
    if info == 24:
        return reader.byte()
    if info == 25:
        return int.from_bytes(bytes(reader.take(2)), "big")
    if info == 26:
        return int.from_bytes(bytes(reader.take(4)), "big")
    if info == 27:
        return int.from_bytes(bytes(reader.take(8)), "big")
    if info == 31:
        raise CBORError("indefinite lengths are not supported")
    raise CBORError("reserved additional information %d" % info)


def _decode(reader, depth):
    if depth > _MAX_DEPTH:
        raise CBORError("nested too deeply")
    start = reader.pos
    initial = reader.byte()
    major = initial >> 5
    info = initial & 0x1F
    if major == _SIMPLE:
        if info == _FALSE:
            return False
        if info == _TRUE:
            return True
        if info == _NULL:
            return None
        if 25 <= info <= 27:
            raise CBORError("floats are not allowed (byte %d)" % start)
        raise CBORError("unsupported simple value %d (byte %d)" % (info, start))
    if major == _TAG:
        raise CBORError("tags are not supported (byte %d)" % start)
    n = _argument(reader, info)
    if major == _UINT:
        return n
    if major == _NINT:
        return -1 - n
    if major == _BYTES:
        return bytes(reader.take(n))
    if major == _TEXT:
        try:
            return str(bytes(reader.take(n)), "utf-8")
        except UnicodeError:
            raise CBORError("text is not valid UTF-8 (byte %d)" % start)
    if major == _ARRAY:
        if n > len(reader.data) - reader.pos:   # each item takes at least one byte
            raise CBORError("array longer than the data")
        return [_decode(reader, depth + 1) for _ in range(n)]
    # major == _MAP
    if 2 * n > len(reader.data) - reader.pos:
        raise CBORError("map longer than the data")
    result = {}
    for _ in range(n):
        key = _decode(reader, depth + 1)
        if not isinstance(key, (str, int)) or isinstance(key, bool):
            raise CBORError("map keys must be text or int (byte %d)" % start)
        if key in result:
            raise CBORError("duplicate map key %r" % (key,))
        result[key] = _decode(reader, depth + 1)
    return result


def decode(data):
    """One CBOR item from `data`, which must hold exactly that item."""
    reader = _Reader(data)
    obj = _decode(reader, 0)
    if reader.pos != len(reader.data):
        raise CBORError("%d bytes after the item" % (len(reader.data) - reader.pos))
    return obj
