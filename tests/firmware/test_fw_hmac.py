import hashlib
import hmac
import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.hmac_sha256 import compare_digest, hmac_sha256, hmac_sha256_hex, sha256_hex

RFC4231 = [     # (key, data, HMAC-SHA256)
    (b"\x0b" * 20, b"Hi There",
     "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"),
    (b"Jefe", b"what do ya want for nothing?",
     "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"),
    (b"\xaa" * 20, b"\xdd" * 50,
     "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe"),
    (bytes(range(1, 26)), b"\xcd" * 50,
     "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b"),
    (b"\xaa" * 131, b"Test Using Larger Than Block-Size Key - Hash Key First",
     "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"),
    (b"\xaa" * 131, b"This is a test using a larger than block-size key and a larger than block-size data."
     b" The key needs to be hashed before being used by the HMAC algorithm.",
     "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2"),
]


@pytest.mark.parametrize("key, data, expected", RFC4231)
def test_rfc4231_vectors(key, data, expected):
    assert hmac_sha256_hex(key, data) == expected
    assert hmac_sha256(key, data).hex() == expected


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=200), st.binary(max_size=500))
def test_same_as_pythons_hmac(key, data):
    assert hmac_sha256(key, data) == hmac.new(key, data, hashlib.sha256).digest()


def test_sha256_hex():
    assert sha256_hex(b"") == hashlib.sha256(b"").hexdigest()


def test_compare_digest():
    a = os.urandom(32).hex()
    assert compare_digest(a, a)
    assert compare_digest(a.encode(), a)
    assert not compare_digest(a, a[:-1] + ("0" if a[-1] != "0" else "1"))
    assert not compare_digest(a, a[:-1])
    assert not compare_digest(b"", b"x")
    assert compare_digest(b"", b"")
