"""Merchants onboarded as the acquirer does it (on SQLite and PostgreSQL): registered by a unique mobile
number, evidence checked from its bytes and kept by its hash, each tier verified only on its evidence,
suspended and closed merchants taking no payments."""
import hashlib
import io

import pytest
from PIL import Image

from hw_sim import test_codes
from server import merchants
from server.keys import PAYMENTS, SETTINGS, STORAGE
from server.storage import NotFound

from tests.server.conftest import MERCHANT_ID


def jpeg(colour=(200, 30, 30)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (64, 48), colour).save(out, "JPEG")
    return out.getvalue()


@pytest.fixture
def evidence_settings(device, tmp_path):
    """The app's settings with evidence stored under this test's folder."""
    import dataclasses
    settings = device.app[SETTINGS]
    return dataclasses.replace(settings, merchants=dataclasses.replace(settings.merchants,
                                                                       evidence_dir=str(tmp_path / "evidence")))


async def test_registration_is_by_a_unique_mobile_number(device):
    storage = device.app[STORAGE]
    first = await merchants.register(storage, phone="+86 138-0013-8000", short_name="老王茶馆",
                                     legal_name="上海老王餐饮有限公司")
    assert (first.phone, first.tier, first.status, first.name) == ("13800138000", 1, "active", "老王茶馆")
    assert (await storage.get_merchant_by_phone("13800138000")).id == first.id
    with pytest.raises(merchants.MerchantRefused, match="registered already"):
        await merchants.register(storage, phone="13800138000", short_name="另一家")
    for phone in ("12800138000", "1380013800", "138001380001", "１３８００１３８０００", "abc"):
        with pytest.raises(merchants.MerchantRefused, match="mobile number"):
            await merchants.register(storage, phone=phone, short_name="x")
    for name in ("", " " * 3, "x" * 65, "tea\x00", "tea\ud800"):
        with pytest.raises(merchants.MerchantRefused):
            await merchants.register(storage, phone="13900139000", short_name=name)


async def test_evidence_is_checked_from_its_bytes_and_stored_once_by_its_hash(device, evidence_settings, tmp_path):
    storage = device.app[STORAGE]
    photo = jpeg()
    stored = await merchants.add_evidence(storage, evidence_settings, MERCHANT_ID, "id_photo", photo, actor="ops1")
    again = await merchants.add_evidence(storage, evidence_settings, MERCHANT_ID, "id_photo", photo, actor="ops2")
    assert again == stored and stored.sha256 == hashlib.sha256(photo).hexdigest()
    assert (stored.content_type, stored.size_bytes, stored.uploaded_by) == ("image/jpeg", len(photo), "ops1")
    assert len(await storage.list_evidence(MERCHANT_ID)) == 1
    found = await merchants.evidence_file(storage, evidence_settings, MERCHANT_ID, stored.id, None)
    assert found is not None and found[1].read_bytes() == photo

    refused = [b"GIF89a" + b"\x00" * 100,                 # not a type we take
               b"MZ\x90\x00" + b"\x00" * 100,             # a program named photo.jpg
               photo[: len(photo) // 2],                  # a JPEG cut short
               photo[:-40],                               # its last scan lines lost (verify alone misses it)
               b"\xff\xd8\xff" + b"\x00" * 200,            # a JPEG header on nothing
               b"",
               b"%PDF-" + b"0" * (evidence_settings.merchants.evidence_max_bytes)]
    for data in refused:
        with pytest.raises(merchants.MerchantRefused):
            await merchants.add_evidence(storage, evidence_settings, MERCHANT_ID, "shop_photo", data, actor="ops1")
    with pytest.raises(merchants.MerchantRefused):
        await merchants.add_evidence(storage, evidence_settings, MERCHANT_ID, "selfie", photo, actor="ops1")
    with pytest.raises(NotFound):
        await merchants.add_evidence(storage, evidence_settings, "M9", "id_photo", photo, actor="ops1")
    assert len(await storage.list_evidence(MERCHANT_ID)) == 1


async def test_another_merchant_never_gets_the_evidence(device, evidence_settings):
    storage = device.app[STORAGE]
    await storage.add_merchant("M2", "Noodle Bar")
    stored = await merchants.add_evidence(storage, evidence_settings, MERCHANT_ID, "id_photo", jpeg(), actor="ops1")
    assert await merchants.evidence_file(storage, evidence_settings, MERCHANT_ID, stored.id, "M2") is None
    assert await merchants.evidence_file(storage, evidence_settings, "M2", stored.id, "M2") is None
    assert await merchants.evidence_file(storage, evidence_settings, MERCHANT_ID, stored.id, MERCHANT_ID) is not None


async def test_each_tier_is_verified_only_on_its_evidence(device, evidence_settings):
    storage = device.app[STORAGE]
    with pytest.raises(merchants.MerchantRefused, match="tier 2 needs id_photo"):
        await merchants.verify_tier(storage, MERCHANT_ID, 2, actor="ops1")
    await merchants.add_evidence(storage, evidence_settings, MERCHANT_ID, "id_photo", jpeg(), actor="ops1")
    verified = await merchants.verify_tier(storage, MERCHANT_ID, 2, actor="ops1")
    assert (verified.tier, verified.tier_verified_by) == (2, "ops1") and verified.tier_verified_at
    with pytest.raises(merchants.MerchantRefused, match="business_licence, shop_photo"):
        await merchants.verify_tier(storage, MERCHANT_ID, 3, actor="ops1")
    await merchants.add_evidence(storage, evidence_settings, MERCHANT_ID, "business_licence", b"%PDF-1.4\n%%EOF\n",
                                 actor="ops1")
    await merchants.add_evidence(storage, evidence_settings, MERCHANT_ID, "shop_photo", jpeg((0, 90, 0)),
                                 actor="ops1")
    assert (await merchants.verify_tier(storage, MERCHANT_ID, 3, actor="ops2")).tier == 3
    # The higher tier's cap is what `info` reports.
    device.app[PAYMENTS].forget_merchant(MERCHANT_ID)
    status, info = await device.call("info", {})
    assert info["limits"]["daily_cap_fen"] == device.app[SETTINGS].limits.tier3_daily_cap_fen
    assert (await merchants.verify_tier(storage, MERCHANT_ID, 1, actor="ops2")).tier == 1   # lowering needs nothing


async def test_a_suspended_merchant_takes_no_payments_and_a_closed_one_never_again(device, count_rows, sandbox):
    storage = device.app[STORAGE]
    await merchants.set_status(storage, MERCHANT_ID, "suspended")
    device.app[PAYMENTS].forget_merchant(MERCHANT_ID)
    before = await count_rows()
    for call in (device.pay("S1", 100, test_codes.make_wechat_code(test_codes.SUCCESS)), device.qr("S2", 100)):
        status, body = await call
        assert (status, body["error"]["code"]) == (403, "merchant_not_active")
    assert await count_rows() == before and sandbox.ledger.calls == []

    await merchants.set_status(storage, MERCHANT_ID, "active")
    device.app[PAYMENTS].forget_merchant(MERCHANT_ID)
    assert (await device.pay("S1", 100, test_codes.make_wechat_code(test_codes.SUCCESS)))[0] == 200

    await merchants.set_status(storage, MERCHANT_ID, "closed")
    for status in ("active", "suspended"):
        with pytest.raises(merchants.MerchantRefused, match="closed"):
            await merchants.set_status(storage, MERCHANT_ID, status)
    with pytest.raises(merchants.MerchantRefused):
        await merchants.set_status(storage, MERCHANT_ID, "paused")
    device.app[PAYMENTS].forget_merchant(MERCHANT_ID)
    status, body = await device.qr("S3", 100)
    assert body["error"]["code"] == "merchant_not_active"
    status, body = await device.query("S1")           # what it took before is still its own to follow
    assert (status, body["order"]["status"]) == (200, "SUCCESS")
