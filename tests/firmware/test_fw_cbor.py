"""The firmware's CBOR codec against cbor2 (the server's), both ways, plus what it must refuse."""
import cbor2
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core import cbor

ints = st.integers(min_value=-(2 ** 64), max_value=2 ** 64 - 1)
scalars = st.none() | st.booleans() | ints | st.binary(max_size=300) | st.text(max_size=100)
values = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=6)
    | st.dictionaries(st.text(max_size=10) | ints, children, max_size=6),
    max_leaves=25)


def same(a, b):
    """Equal and of the same CBOR type all the way down (True == 1 in Python, not in CBOR)."""
    if isinstance(a, bool) or isinstance(b, bool) or a is None or b is None:
        return a is b
    if type(a) is not type(b):
        return False
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    return a == b


@settings(max_examples=300, deadline=None)
@given(values)
def test_ours_decodes_what_cbor2_encodes(value):
    assert same(cbor.decode(cbor2.dumps(value)), value)


@settings(max_examples=300, deadline=None)
@given(values)
def test_cbor2_decodes_what_ours_encodes(value):
    assert same(cbor2.loads(cbor.encode(value)), value)


@settings(max_examples=200, deadline=None)
@given(values)
def test_ours_round_trips(value):
    assert same(cbor.decode(cbor.encode(value)), value)


@pytest.mark.parametrize("value, hex_", [       # RFC 8949 appendix A
    (0, "00"), (23, "17"), (24, "1818"), (100, "1864"), (1000, "1903e8"), (1000000, "1a000f4240"),
    (1000000000000, "1b000000e8d4a51000"), (18446744073709551615, "1bffffffffffffffff"),
    (-1, "20"), (-100, "3863"), (-1000, "3903e7"), (-18446744073709551616, "3bffffffffffffffff"),
    (False, "f4"), (True, "f5"), (None, "f6"), (b"", "40"), (b"\x01\x02\x03\x04", "4401020304"),
    ("", "60"), ("a", "6161"), ("IETF", "6449455446"), ("\u00fc", "62c3bc"), ("\u6c34", "63e6b0b4"),
    ([], "80"), ([1, [2, 3], [4, 5]], "8301820203820405"), ({}, "a0"), ({1: 2, 3: 4}, "a201020304"),
    ({"a": 1, "b": [2, 3]}, "a26161016162820203"),
])
def test_rfc_examples(value, hex_):
    assert cbor.encode(value).hex() == hex_
    assert same(cbor.decode(bytes.fromhex(hex_)), value)


def test_tuples_and_bytearrays_encode_as_arrays_and_bytes():
    assert cbor2.loads(cbor.encode((1, bytearray(b"x")))) == [1, b"x"]


@pytest.mark.parametrize("value", [1.5, 0.0, {"amount_fen": 12.5}, [float("nan")]])
def test_floats_are_refused_when_encoding(value):
    with pytest.raises(cbor.CBORError, match="float"):
        cbor.encode(value)


@pytest.mark.parametrize("data, match", [
    (cbor2.dumps(12.5), "float"),
    (bytes.fromhex("f93c00"), "float"),                     # half-precision 1.0
    (cbor2.dumps({"amount_fen": 1250.0}), "float"),
    (bytes.fromhex("c11a514b67b0"), "tag"),                 # epoch date tag
    (cbor2.dumps(2 ** 64), "tag"),                          # bignum
    (bytes.fromhex("9f0102ff"), "indefinite"),
    (bytes.fromhex("5f42010243030405ff"), "indefinite"),
    (bytes.fromhex("f7"), "simple"),                         # undefined
    (bytes.fromhex("1c"), "reserved"),
    (bytes.fromhex("1a0000"), "truncated"),
    (bytes.fromhex("62c3"), "truncated"),
    (bytes.fromhex("0000"), "after"),
    (bytes.fromhex("62c328"), "UTF-8"),
    (bytes.fromhex("a2616101616102"), "duplicate"),
    (bytes.fromhex("a1810102"), "keys"),                     # a list as a map key
    (bytes.fromhex("a1f501"), "keys"),                       # true as a map key
    (bytes.fromhex("9bffffffffffffffff"), "longer than"),    # huge count, no data
    (b"", "truncated"),
    (b"\x81" * 40 + b"\x00", "deeply"),
])
def test_bad_input_is_refused_clearly(data, match):
    with pytest.raises(cbor.CBORError, match=match):
        cbor.decode(data)


def test_refuses_other_types_and_huge_ints():
    for value in (object(), {1.5: 1}, {(1,): 2}, 2 ** 64, -(2 ** 64) - 1, {True: 1}):
        with pytest.raises(cbor.CBORError):
            cbor.encode(value)


def test_device_request_matches_cbor2():
    body = {"order_no": "D0001-3f9c-000001", "amount_fen": 1250, "auth_code": "134567890123456789"}
    assert cbor.encode(body) == cbor2.dumps(body)
