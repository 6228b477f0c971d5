"""Merchants as the acquirer onboards them: registered by the owner's mobile number, verified tier by tier
on evidence, suspended or closed. The one way the CLI, the console, the ops API and the tests do it.

Tiers (PBoC micro-merchant practice; /work/shared reference "UnionPay", seed 000): 1 the phone number is
registered; 2 an ID photo is on file; 3 the business licence and a photo of the shop are on file too.
Each tier has a higher daily cap ([limits]). An operator verifies a tier; who and when is kept.

Evidence files are checked from their bytes (JPEG, PNG or PDF; images must decode), stored once under
[merchants] evidence_dir/<merchant_id>/<sha256>.<ext>, and only ever given to operators and to the merchant
they belong to (`evidence_file`).
"""
from __future__ import annotations

import hashlib
import io
import os
import re
import secrets
from pathlib import Path

from .clock import new_id, now_ms
from .params import is_text
from .settings import Settings
from .storage import AlreadyExists, Evidence, Merchant, NotFound, Storage
from .storage.records import MERCHANT_ACTIVE, MERCHANT_CLOSED, MERCHANT_SUSPENDED

STATUSES = (MERCHANT_ACTIVE, MERCHANT_SUSPENDED, MERCHANT_CLOSED)
# Which status may follow which: closed is for good.
_STATUS_FROM = {MERCHANT_ACTIVE: (MERCHANT_SUSPENDED,), MERCHANT_SUSPENDED: (MERCHANT_ACTIVE,),
                MERCHANT_CLOSED: (MERCHANT_ACTIVE, MERCHANT_SUSPENDED)}
EVIDENCE_KINDS = ("id_photo", "business_licence", "shop_photo")
# What each tier needs on file, beyond the phone number every merchant registers with.
TIER_EVIDENCE = {1: (), 2: ("id_photo",), 3: ("id_photo", "business_licence", "shop_photo")}
# Mainland mobile numbers: 11 digits, 1 then 3-9 (the numbering plan's mobile ranges).
PHONE = re.compile(r"1[3-9][0-9]{9}")
MERCHANT_ID = re.compile(r"[A-Za-z0-9_-]{1,32}")
NAME_MAX = 64
_TYPES = ((b"\xff\xd8\xff", "image/jpeg", "jpg"), (b"\x89PNG\r\n\x1a\n", "image/png", "png"),
          (b"%PDF-", "application/pdf", "pdf"))


class MerchantRefused(ValueError):
    """The request cannot be carried out; the message says why, for an operator."""


def normalise_phone(phone: str) -> str:
    """The number as stored: digits only, without +86 or spaces; MerchantRefused when it is no mobile number."""
    digits = re.sub(r"[\s-]", "", phone or "")
    if digits.startswith("+86"):
        digits = digits[3:]
    elif digits.startswith("0086"):
        digits = digits[4:]
    if not PHONE.fullmatch(digits):
        raise MerchantRefused(f"{phone!r} is not a mainland mobile number (11 digits starting 13-19)")
    return digits


def _name(text: str | None, what: str) -> str:
    text = (text or "").strip()
    if not 1 <= len(text) <= NAME_MAX or not is_text(text, NAME_MAX):
        raise MerchantRefused(f"the {what} is 1-{NAME_MAX} characters of text")
    return text


async def register(storage: Storage, *, phone: str, short_name: str, legal_name: str | None = None,
                   merchant_id: str | None = None) -> Merchant:
    """A new merchant at tier 1 (its phone number registered). MerchantRefused for bad input; a number
    registered already is refused with the same error type, naming it."""
    phone = normalise_phone(phone)
    if merchant_id is not None and not MERCHANT_ID.fullmatch(merchant_id):
        raise MerchantRefused(f"a merchant id is 1-32 of A-Z a-z 0-9 _ -, not {merchant_id[:40]!r}")
    short_name = _name(short_name, "short name")
    legal_name = _name(legal_name, "legal name") if legal_name else None
    for _ in range(5):
        candidate = merchant_id or "M" + "%010d" % secrets.randbelow(10 ** 10)
        try:
            return await storage.add_merchant(candidate, short_name, 1, legal_name=legal_name, phone=phone)
        except AlreadyExists as e:
            if merchant_id is not None or "phone" in str(e):
                raise MerchantRefused(str(e)) from None
    raise MerchantRefused("no free merchant id: try again")


async def set_status(storage: Storage, merchant_id: str, status: str) -> None:
    """active <-> suspended; either -> closed, for good. MerchantRefused otherwise."""
    if status not in STATUSES:
        raise MerchantRefused(f"a status is one of {', '.join(STATUSES)}")
    merchant = await storage.get_merchant(merchant_id)
    if merchant is None:
        raise NotFound(f"no merchant {merchant_id}")
    if merchant.status == status:
        return
    if not await storage.set_merchant_status(merchant_id, status, allowed_from=_STATUS_FROM[status]):
        raise MerchantRefused(f"merchant {merchant_id} is {merchant.status}: it cannot become {status}")


def _sniff(data: bytes) -> tuple[str, str]:
    for magic, content_type, extension in _TYPES:
        if data.startswith(magic):
            return content_type, extension
    raise MerchantRefused("evidence must be a JPEG or PNG photo or a PDF")


def _check_image(data: bytes) -> None:
    from PIL import Image, UnidentifiedImageError
    try:
        with Image.open(io.BytesIO(data)) as image:
            image.verify()                       # the file's structure and checksums
        with Image.open(io.BytesIO(data)) as image:
            image.load()                         # every pixel: a file cut short fails here (verify misses it)
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError) as e:
        raise MerchantRefused(f"the photo cannot be read ({e.__class__.__name__})") from None


async def add_evidence(storage: Storage, settings: Settings, merchant_id: str, kind: str, data: bytes, *,
                       actor: str) -> Evidence:
    """Store a file that proves a tier; the same file again is stored once. MerchantRefused for a kind,
    type or size that will not do; NotFound without the merchant."""
    if kind not in EVIDENCE_KINDS:
        raise MerchantRefused(f"evidence is one of {', '.join(EVIDENCE_KINDS)}")
    limit = settings.merchants.evidence_max_bytes
    if not data or len(data) > limit:
        size = f"{limit // (1024 * 1024)} MiB" if limit >= 1024 * 1024 else f"{limit // 1024} KiB"
        raise MerchantRefused(f"evidence files are 1 byte to {size}")
    if await storage.get_merchant(merchant_id) is None:
        raise NotFound(f"no merchant {merchant_id}")
    content_type, extension = _sniff(data)
    if content_type.startswith("image/"):
        _check_image(data)
    digest = hashlib.sha256(data).hexdigest()
    path = _path(settings, merchant_id, digest, extension)
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(path.name + ".part")
        with open(partial, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(partial, path)               # whole or not at all
    evidence, _ = await storage.add_evidence(Evidence(
        id=new_id(), merchant_id=merchant_id, kind=kind, sha256=digest, content_type=content_type,
        size_bytes=len(data), uploaded_at=now_ms(), uploaded_by=actor))
    return evidence


def _path(settings: Settings, merchant_id: str, digest: str, extension: str) -> Path:
    return Path(settings.merchants.evidence_dir) / merchant_id / f"{digest}.{extension}"


async def evidence_file(storage: Storage, settings: Settings, merchant_id: str, evidence_id: str,
                        viewer_merchant_id: str | None) -> tuple[Evidence, Path] | None:
    """The evidence and its file, for an operator (viewer None) or the merchant it belongs to; None for
    anybody else, as for evidence that does not exist."""
    if viewer_merchant_id is not None and viewer_merchant_id != merchant_id:
        return None
    found = [e for e in await storage.list_evidence(merchant_id) if e.id == evidence_id]
    if not found:
        return None
    extension = next(ext for _, content_type, ext in _TYPES if content_type == found[0].content_type)
    return found[0], _path(settings, merchant_id, found[0].sha256, extension)


async def verify_tier(storage: Storage, merchant_id: str, tier: int, *, actor: str) -> Merchant:
    """Raise (or lower) the merchant's tier; raising needs that tier's evidence on file."""
    if tier not in TIER_EVIDENCE:
        raise MerchantRefused("a tier is 1, 2 or 3")
    merchant = await storage.get_merchant(merchant_id)
    if merchant is None:
        raise NotFound(f"no merchant {merchant_id}")
    if merchant.status == MERCHANT_CLOSED:
        raise MerchantRefused(f"merchant {merchant_id} is closed")
    on_file = {e.kind for e in await storage.list_evidence(merchant_id)}
    missing = [kind for kind in TIER_EVIDENCE[tier] if kind not in on_file]
    if tier > merchant.tier and missing:
        raise MerchantRefused(f"tier {tier} needs {', '.join(missing)} on file first")
    await storage.verify_merchant_tier(merchant_id, tier, actor=actor, now=now_ms())
    fresh = await storage.get_merchant(merchant_id)
    assert fresh is not None
    return fresh
