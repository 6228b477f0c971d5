"""The release key: an Ed25519 pair. The private half signs build manifests on a developer or
release machine; the public half goes onto every device (/release.pub) and into the server."""
import os
import pathlib

from Crypto.PublicKey import ECC
from Crypto.Signature import eddsa


class SigningError(Exception):
    pass


def generate(private_path, public_path):
    """Write a new key pair: PEM private key (mode 0600) and the raw public key as hex."""
    private_path, public_path = pathlib.Path(private_path), pathlib.Path(public_path)
    if private_path.exists():
        raise SigningError("%s exists; refusing to overwrite a release key" % private_path)
    key = ECC.generate(curve="ed25519")
    private_path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(private_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(key.export_key(format="PEM"))
    public_path.parent.mkdir(parents=True, exist_ok=True)
    public_path.write_text(public_hex(key) + "\n")
    return public_hex(key)


def load_private(path):
    try:
        return ECC.import_key(pathlib.Path(path).read_text())
    except FileNotFoundError:
        raise SigningError("no release key at %s (make one with `python -m tools keygen`)" % path)
    except ValueError as e:
        raise SigningError("%s is not an Ed25519 private key: %s" % (path, e))


def public_hex(key):
    return key.public_key().export_key(format="raw").hex()


def sign(key, message):
    return eddsa.new(key, "rfc8032").sign(message)


def verify(public_key_hex, message, signature):
    """True when signature is valid; the tools check a bundle before they flash or publish it."""
    try:
        key = eddsa.import_public_key(bytes.fromhex(public_key_hex))
        eddsa.new(key, "rfc8032").verify(message, signature)
        return True
    except ValueError:
        return False
