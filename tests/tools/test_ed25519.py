"""Ed25519 verification (firmware/core/ed25519.py) against RFC 8032 section 7.1 test vectors, on
CPython (with hashlib's SHA-512 and with the pure one the device uses) and on real MicroPython."""
import hashlib
import json
import subprocess

import pytest

from tests.tools.conftest import FIRMWARE, REPO
from core import ed25519

# RFC 8032, 7.1: TEST 1, TEST 2, TEST 3 and TEST SHA(abc) (public key, message, signature)
RFC8032 = [
    ("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a", "",
     "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"),
    ("3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c", "72",
     "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00"),
    ("fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025", "af82",
     "6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac18ff9b538d16f290ae67f760984dc6594a7c15e9716ed28dc027beceea1ec40a"),
    ("ec172b93ad5e563bf4932c70e1245034c35467ef2efd4d64ebf819683467e2bf",
     "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f",
     "dc2a4459e7369633a52b1bf277839a00201009a3efbf3ecb69bea2186c26b58909351fc9ac90b3ecfdfbc7c66431e0303dca179c138ac17ad9bef1177331a704"),
]


def _tampered(pk, msg, sig):
    """The same vector with one bit changed in the message, the signature's R and S, and the key."""
    flip = lambda b, i: b[:i] + bytes([b[i] ^ 1]) + b[i + 1:]  # noqa: E731
    yield pk, msg + b"x", sig
    yield pk, msg, flip(sig, 0)
    yield pk, msg, flip(sig, 40)
    yield flip(pk, 3), msg, sig


@pytest.fixture(params=["hashlib", "pure"])
def sha512_impl(request, monkeypatch):
    if request.param == "pure":
        monkeypatch.setattr(ed25519, "_sha512_lib", None)
    return request.param


@pytest.mark.parametrize("vector", RFC8032, ids=["test1", "test2", "test3", "sha_abc"])
def test_rfc8032_vectors_on_cpython(vector, sha512_impl):
    pk, msg, sig = (bytes.fromhex(x) for x in vector)
    assert ed25519.verify(pk, msg, sig)
    for bad in _tampered(pk, msg, sig):
        assert not ed25519.verify(*bad)


def test_rejects_malformed_input():
    pk, msg, sig = (bytes.fromhex(x) for x in RFC8032[0])
    assert not ed25519.verify(pk[:31], msg, sig)
    assert not ed25519.verify(pk, msg, sig[:63])
    # S >= L is refused (signature malleability), even with R intact
    s = int.from_bytes(sig[32:], "little") + ed25519._L
    assert not ed25519.verify(pk, msg, sig[:32] + s.to_bytes(32, "little"))
    with pytest.raises(ed25519.SignatureError):
        ed25519.check(pk, b"other", sig)


@pytest.mark.parametrize("length", [0, 3, 111, 112, 127, 128, 129, 300])
def test_pure_sha512_matches_hashlib(length):
    data = bytes(range(256)) * 2
    assert ed25519.sha512_pure(data[:length]) == hashlib.sha512(data[:length]).digest()


def test_signatures_made_by_the_tools_verify(release_key):
    from tools import signing
    key = signing.load_private(release_key)
    body = b'{"files":{},"version":"1"}'
    sig = signing.sign(key, body)
    public = bytes.fromhex(signing.public_hex(key))
    assert ed25519.verify(public, body, sig)
    assert not ed25519.verify(public, body.replace(b"1", b"2"), sig)


def test_rfc8032_vectors_on_micropython(tmp_path):
    script = tmp_path / "vectors.py"
    script.write_text(
        "import json\nfrom binascii import unhexlify as u\nfrom core import ed25519\n"
        "vectors = json.loads(open('/input.json').read())\n"
        "out = []\n"
        "for pk, m, sig in vectors:\n"
        "    pk, m, sig = u(pk), u(m), u(sig)\n"
        "    bad = sig[:5] + bytes([sig[5] ^ 1]) + sig[6:]\n"
        "    out.append([ed25519.verify(pk, m, sig), ed25519.verify(pk, m + b'!', sig),"
        " ed25519.verify(pk, m, bad)])\n"
        "import sys\nprint(sys.implementation.name, json.dumps(out))\n")
    (tmp_path / "vectors.json").write_text(json.dumps(RFC8032))
    result = subprocess.run(["node", str(REPO / "tests/firmware/mp_runner.mjs"), str(FIRMWARE), str(script),
                             str(tmp_path / "vectors.json")], capture_output=True, text=True, timeout=60,
                            cwd=REPO)
    assert result.returncode == 0, result.stderr
    name, out = result.stdout.strip().split(" ", 1)
    assert name == "micropython"
    assert json.loads(out) == [[True, False, False]] * len(RFC8032)
