"""The operations API's onboarding calls over real HTTP, on SQLite and PostgreSQL: a merchant from its phone
number to tier 3, a channel, a store, devices received by CSV and one assigned there, a printed batch of
static codes whose PDF sheet scans back to their URLs, and a code bound, replaced and deregistered; with the
refusals a back office meets on the way."""
from __future__ import annotations

import io
import json

import pytest
from PIL import Image
from tests.sheets import scanned_urls

from server.app import create_app
from server.keys import STORAGE
from server.settings import load_settings

TOKEN = "ops-token-0123456789"
PUBLIC_URL = "https://pay.example.cn"
EVIDENCE_MAX_BYTES = 64 * 1024


@pytest.fixture
async def ops(aiohttp_client, database, tmp_path):
    settings = load_settings(database=database, resolver={"enabled": False}, ops={"tokens": [TOKEN]},
                             device_api={"public_url": PUBLIC_URL},
                             merchants={"evidence_dir": str(tmp_path / "evidence"),
                                        "evidence_max_bytes": EVIDENCE_MAX_BYTES})
    return await aiohttp_client(create_app(settings))


async def call(client, method, path, body=None, *, token=TOKEN, raw=None, content_type="application/json"):
    headers = {"Authorization": "Bearer " + token}
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    if data is not None:
        headers["Content-Type"] = content_type
    resp = await client.request(method, path, data=data, headers=headers)
    return resp.status, await resp.json()


def refused(answer) -> str:
    return answer["error"]["code"]


def photo(fmt: str) -> bytes:
    """A real small photo: a gradient Pillow encodes as JPEG or PNG."""
    image = Image.new("RGB", (24, 16))
    image.putdata([(x * 10, y * 15, 128) for y in range(16) for x in range(24)])
    out = io.BytesIO()
    image.save(out, fmt)
    return out.getvalue()


def minimal_pdf() -> bytes:
    """One empty page: the smallest document a PDF reader opens."""
    objects = [b"<< /Type /Catalog /Pages 2 0 R >>", b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
               b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] >>"]
    out = io.BytesIO()
    out.write(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(out.tell())
        out.write(b"%d 0 obj\n%s\nendobj\n" % (number, body))
    xref = out.tell()
    out.write(b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1))
    out.write(b"".join(b"%010d 00000 n \n" % offset for offset in offsets))
    out.write(b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref))
    return out.getvalue()


async def onboard(ops) -> tuple[str, str]:
    """A merchant at tier 3, open at WeChat, with a store: (merchant id, store id)."""
    status, merchant = await call(ops, "POST", "/ops/v1/merchants", {
        "phone": "+86 138 0013 8000", "short_name": "老王茶馆", "legal_name": "上海老王餐饮有限公司"})
    assert status == 201, merchant
    merchant_id = merchant["id"]
    for kind, raw, content_type in (("id_photo", photo("JPEG"), "image/jpeg"),
                                    ("business_licence", minimal_pdf(), "application/pdf"),
                                    ("shop_photo", photo("PNG"), "image/png")):
        status, evidence = await call(ops, "POST", f"/ops/v1/merchants/{merchant_id}/evidence/{kind}", raw=raw,
                                      content_type=content_type)
        assert (status, evidence["kind"], evidence["content_type"]) == (201, kind, content_type), evidence
    status, merchant = await call(ops, "PUT", f"/ops/v1/merchants/{merchant_id}/tier", {"tier": 3})
    assert status == 200 and merchant["tier"] == 3, merchant
    status, store = await call(ops, "POST", f"/ops/v1/merchants/{merchant_id}/stores",
                               {"name": "南京路店", "address": "上海市黄浦区南京东路 1 号"})
    assert status == 201, store
    return merchant_id, store["id"]


async def test_a_merchant_goes_from_its_phone_number_to_tier_3(ops):
    status, merchant = await call(ops, "POST", "/ops/v1/merchants", {
        "phone": "138 0013 8000", "short_name": "老王茶馆", "legal_name": "上海老王餐饮有限公司"})
    assert status == 201, merchant
    assert (merchant["phone"], merchant["short_name"], merchant["tier"], merchant["status"]) == (
        "13800138000", "老王茶馆", 1, "active")
    merchant_id = merchant["id"]
    evidence_url = f"/ops/v1/merchants/{merchant_id}/evidence"

    # the same number again, a number that is none, a name of control characters
    status, answer = await call(ops, "POST", "/ops/v1/merchants", {"phone": "13800138000", "short_name": "别家"})
    assert (status, refused(answer)) == (409, "already_exists"), answer
    status, answer = await call(ops, "POST", "/ops/v1/merchants", {"phone": "12345", "short_name": "别家"})
    assert (status, refused(answer)) == (400, "invalid_field"), answer
    status, answer = await call(ops, "POST", "/ops/v1/merchants", {"phone": "13900139000", "short_name": "a\nb"})
    assert (status, refused(answer)) == (400, "invalid_field"), answer

    # a tier before its evidence; files that are no evidence
    status, answer = await call(ops, "PUT", f"/ops/v1/merchants/{merchant_id}/tier", {"tier": 2})
    assert (status, refused(answer)) == (409, "conflict") and "id_photo" in answer["error"]["message"], answer
    for raw, content_type, expected in ((b"GIF89a....", "image/jpeg", (422, "bad_evidence")),
                                        (photo("JPEG")[:300], "image/jpeg", (422, "bad_evidence")),
                                        (photo("JPEG"), "text/plain", (415, "unsupported_media_type")),
                                        (b"%PDF-" + b"x" * EVIDENCE_MAX_BYTES, "application/pdf",
                                         (413, "body_too_large"))):
        status, answer = await call(ops, "POST", f"{evidence_url}/id_photo", raw=raw, content_type=content_type)
        assert (status, refused(answer)) == expected, answer
    status, answer = await call(ops, "POST", f"{evidence_url}/selfie", raw=photo("PNG"), content_type="image/png")
    assert (status, refused(answer)) == (400, "invalid_parameter"), answer
    status, answer = await call(ops, "POST", "/ops/v1/merchants/M404/evidence/id_photo", raw=photo("PNG"),
                                content_type="image/png")
    assert (status, refused(answer)) == (404, "not_found"), answer

    jpeg, pdf, png = photo("JPEG"), minimal_pdf(), photo("PNG")
    for kind, raw, content_type, tier in (("id_photo", jpeg, "image/jpeg", 2),
                                          ("business_licence", pdf, "application/pdf", None),
                                          ("shop_photo", png, "image/png", 3)):
        status, evidence = await call(ops, "POST", f"{evidence_url}/{kind}", raw=raw, content_type=content_type)
        assert status == 201, evidence
        assert (evidence["kind"], evidence["size_bytes"], evidence["uploaded_by"]) == (kind, len(raw), "ops-api")
        if tier:
            status, merchant = await call(ops, "PUT", f"/ops/v1/merchants/{merchant_id}/tier", {"tier": tier})
            assert status == 200 and merchant["tier"] == tier, merchant
    assert merchant["tier_verified_by"] == "ops-api"

    status, channel = await call(ops, "PUT", f"/ops/v1/merchants/{merchant_id}/channels/wechat",
                                 {"account_id": "1900000109", "fee_rate_ppm": 3800})
    assert status == 200, channel
    assert (channel["status"], channel["account_id"], channel["fee_rate_ppm"]) == ("open", "1900000109", 3800)
    status, answer = await call(ops, "PUT", f"/ops/v1/merchants/{merchant_id}/channels/alipay",
                                {"account_id": "1900000109"})
    assert (status, refused(answer)) == (400, "invalid_field"), answer
    status, answer = await call(ops, "PUT", f"/ops/v1/merchants/{merchant_id}/channels/paypal", {})
    assert (status, refused(answer)) == (400, "invalid_parameter"), answer
    status, closed = await call(ops, "DELETE", f"/ops/v1/merchants/{merchant_id}/channels/unionpay")
    assert (status, closed["status"]) == (200, "closed"), closed

    status, detail = await call(ops, "GET", f"/ops/v1/merchants/{merchant_id}")
    assert status == 200, detail
    assert detail["tier"] == 3
    assert [(e["kind"], e["content_type"]) for e in detail["evidence"]] == [
        ("id_photo", "image/jpeg"), ("business_licence", "application/pdf"), ("shop_photo", "image/png")]
    assert not any("path" in e or "dir" in json.dumps(e) for e in detail["evidence"])
    assert [(c["channel"], c["status"]) for c in detail["channels"]] == [("unionpay", "closed"), ("wechat", "open")]

    # suspended and back; closed for good
    for status_, expected in (("suspended", 200), ("active", 200), ("closed", 200), ("active", 409)):
        status, answer = await call(ops, "PUT", f"/ops/v1/merchants/{merchant_id}/status", {"status": status_})
        assert status == expected, answer
    assert refused(answer) == "conflict"
    status, answer = await call(ops, "PUT", f"/ops/v1/merchants/{merchant_id}/status", {"status": "gone"})
    assert (status, refused(answer)) == (400, "invalid_field"), answer


async def test_stores_stock_and_a_device_assigned(ops):
    merchant_id, store_id = await onboard(ops)
    storage = ops.app[STORAGE]
    status, answer = await call(ops, "POST", f"/ops/v1/merchants/{merchant_id}/stores", {"name": "南京路店"})
    assert (status, refused(answer)) == (409, "conflict"), answer
    status, answer = await call(ops, "POST", f"/ops/v1/merchants/{merchant_id}/stores", {"name": ""})
    assert (status, refused(answer)) == (400, "invalid_field"), answer
    status, store = await call(ops, "PUT", f"/ops/v1/stores/{store_id}", {"name": "南京东路店", "address": "1 号"})
    assert (status, store["name"], store["address"]) == (200, "南京东路店", "1 号"), store

    # a file with bad lines is refused whole, each bad line named
    bad = "serial,model\nSP2026000001,box-e2\nSP 2026,box-e2\nSP2026000001,box-e2\n"
    status, answer = await call(ops, "POST", "/ops/v1/stock?batch=delivery-7", raw=bad.encode(),
                                content_type="text/csv")
    assert (status, refused(answer)) == (422, "bad_stock_file"), answer
    assert [p["line"] for p in answer["error"]["problems"]] == [3, 4]
    assert "line 2" in answer["error"]["problems"][1]["message"]
    assert await storage.get_device("SP2026000001") is None
    status, answer = await call(ops, "POST", "/ops/v1/stock", raw=b"id\nSP1\n", content_type="text/csv")
    assert (status, refused(answer), answer["error"]["problems"]) == (422, "bad_stock_file", []), answer

    good = "\ufeffserial,model\nSP2026000001,box-e2\nSP2026000002,box-e2\nSP2026000003,\n"
    status, answer = await call(ops, "POST", "/ops/v1/stock?batch=delivery-7", raw=good.encode(),
                                content_type="text/csv")
    assert (status, answer) == (201, {"received": 3, "batch": "delivery-7"}), answer
    status, answer = await call(ops, "POST", "/ops/v1/stock", {"devices": [{"serial": "SP2026000003"}]})
    assert (status, refused(answer)) == (409, "already_exists"), answer
    status, answer = await call(ops, "POST", "/ops/v1/stock", {"devices": [{"serial": "X1"}, {"serial": "X1"}]})
    assert (status, refused(answer)) == (400, "invalid_field"), answer
    status, answer = await call(ops, "POST", "/ops/v1/stock", {"batch": "b", "devices": [{"serial": "SP4"}]})
    assert (status, answer) == (201, {"received": 1, "batch": "b"}), answer
    device = await storage.get_device("SP2026000002")
    assert (device.lifecycle, device.model, device.stock_batch, device.received_by) == (
        "in_stock", "box-e2", "delivery-7", "ops-api")

    status, assigned = await call(ops, "PUT", "/ops/v1/devices/SP2026000002/assignment",
                                  {"merchant_id": merchant_id, "store_id": store_id})
    assert status == 200, assigned
    assert (assigned["lifecycle"], assigned["store_id"], assigned["store_name"]) == ("assigned", store_id, "南京东路店")
    status, answer = await call(ops, "PUT", "/ops/v1/devices/SP2026000002/assignment",
                                {"merchant_id": merchant_id, "store_id": store_id})
    assert (status, refused(answer)) == (409, "conflict"), answer
    for device_id, store in (("SP404", store_id), ("SP2026000001", "ST404")):
        status, answer = await call(ops, "PUT", f"/ops/v1/devices/{device_id}/assignment",
                                    {"merchant_id": merchant_id, "store_id": store})
        assert (status, refused(answer)) == (404, "not_found"), answer

    status, listed = await call(ops, "GET", f"/ops/v1/merchants/{merchant_id}/stores")
    assert [(s["id"], s["devices"], s["codes"]) for s in listed["stores"]] == [(store_id, 1, 0)]
    status, answer = await call(ops, "POST", f"/ops/v1/stores/{store_id}/close", {})
    assert (status, refused(answer)) == (409, "conflict"), answer
    status, other = await call(ops, "POST", f"/ops/v1/merchants/{merchant_id}/stores", {"name": "分店"})
    status, closed = await call(ops, "POST", f"/ops/v1/stores/{other['id']}/close", {})
    assert (status, closed["status"]) == (200, "closed"), closed


async def test_a_printed_batch_scans_back_and_its_codes_are_bound_replaced_and_deregistered(ops):
    merchant_id, store_id = await onboard(ops)
    await call(ops, "POST", "/ops/v1/stock", {"devices": [{"serial": "SP1"}, {"serial": "SP2"}]})
    await call(ops, "PUT", "/ops/v1/devices/SP2/assignment", {"merchant_id": merchant_id, "store_id": store_id})

    status, printed = await call(ops, "POST", "/ops/v1/code-batches", {"size": 5, "note": "地推一组"})
    assert status == 201, printed
    batch_id, codes = printed["batch"]["id"], printed["codes"]
    assert (printed["batch"]["size"], printed["batch"]["note"], len(codes)) == (5, "地推一组", 5)
    urls = {f"{PUBLIC_URL}/c/s/{code['id']}" for code in codes}
    assert {code["url"] for code in codes} == urls
    status, batch = await call(ops, "GET", f"/ops/v1/code-batches/{batch_id}")
    assert (status, {code["url"] for code in batch["codes"]}) == (200, urls), batch
    assert (batch["note"], batch["created_by"], batch["size"]) == ("地推一组", "ops-api", 5)

    resp = await ops.get(f"/ops/v1/code-batches/{batch_id}/sheet.pdf", headers={"Authorization": "Bearer " + TOKEN})
    assert resp.status == 200 and resp.content_type == "application/pdf"
    assert resp.headers["Content-Disposition"].startswith("attachment")
    assert sorted(scanned_urls(await resp.read())) == sorted(urls)     # PDFium renders it, ZBar reads it

    first, second = codes[0]["id"], codes[1]["id"]
    status, bound = await call(ops, "POST", f"/ops/v1/codes/{first}/bind", {"store_id": store_id})
    assert status == 200, bound
    assert (bound["status"], bound["merchant_id"], bound["store_id"], bound["device_id"], bound["bound_by"]) == (
        "bound", merchant_id, store_id, "SP2", "ops-api")
    status, answer = await call(ops, "POST", f"/ops/v1/codes/{first}/bind", {"store_id": store_id})
    assert (status, refused(answer)) == (409, "conflict"), answer
    status, answer = await call(ops, "POST", f"/ops/v1/codes/{second}/bind", {"store_id": store_id,
                                                                             "device_id": "SP1"})
    assert (status, refused(answer)) == (409, "conflict"), answer    # SP1 is in stock, not at the store

    status, replaced = await call(ops, "POST", f"/ops/v1/codes/{first}/replace", {"new_code_id": second,
                                                                                 "reason": "damaged"})
    assert status == 200, replaced
    assert (replaced["replaced"]["status"], replaced["replaced"]["end_reason"]) == ("deregistered", "damaged")
    assert (replaced["code"]["status"], replaced["code"]["store_id"], replaced["code"]["replaces_id"]) == (
        "bound", store_id, first)
    status, answer = await call(ops, "POST", f"/ops/v1/codes/{first}/replace", {"new_code_id": codes[2]["id"]})
    assert (status, refused(answer)) == (409, "conflict"), answer

    status, ended = await call(ops, "POST", f"/ops/v1/codes/{second}/deregister", {"reason": "shop_request"})
    assert (status, ended["status"], ended["ended_by"]) == (200, "deregistered", "ops-api"), ended
    status, answer = await call(ops, "POST", f"/ops/v1/codes/{second}/bind", {"store_id": store_id})
    assert (status, refused(answer)) == (409, "conflict"), answer
    status, answer = await call(ops, "POST", f"/ops/v1/codes/{second}/deregister", {"reason": "because"})
    assert (status, refused(answer)) == (400, "invalid_field"), answer

    third = codes[2]["id"]
    status, _ = await call(ops, "POST", f"/ops/v1/codes/{third}/bind", {"store_id": store_id})
    status, unbound = await call(ops, "POST", f"/ops/v1/codes/{third}/unbind", {})
    assert (status, unbound["status"], unbound["store_id"]) == (200, "empty", None), unbound
    status, code = await call(ops, "GET", f"/ops/v1/codes/{third.lower()}")   # as typed off a sticker
    assert (status, code["id"]) == (200, third), code

    for method, path, body in (("GET", "/ops/v1/codes/ZZZZZZZZZZ", None),
                               ("POST", "/ops/v1/codes/ZZZZZZZZZZ/bind", {"store_id": store_id}),
                               ("GET", "/ops/v1/code-batches/B00000000", None),
                               ("GET", "/ops/v1/code-batches/B00000000/sheet.pdf", None),
                               ("POST", f"/ops/v1/codes/{codes[3]['id']}/bind", {"store_id": "ST404"})):
        status, answer = await call(ops, method, path, body)
        assert (status, refused(answer)) == (404, "not_found"), (path, answer)
    status, answer = await call(ops, "POST", "/ops/v1/code-batches", {"size": 1001})
    assert (status, refused(answer)) == (400, "invalid_field"), answer
    status, answer = await call(ops, "GET", "/ops/v1/codes/a%00b")
    assert (status, refused(answer)) == (400, "invalid_parameter"), answer


@pytest.mark.parametrize("method, path", [
    ("POST", "/ops/v1/merchants"), ("GET", "/ops/v1/merchants/M1"), ("PUT", "/ops/v1/merchants/M1/tier"),
    ("POST", "/ops/v1/merchants/M1/evidence/id_photo"), ("DELETE", "/ops/v1/merchants/M1/channels/wechat"),
    ("POST", "/ops/v1/stock"), ("PUT", "/ops/v1/devices/D1/assignment"), ("POST", "/ops/v1/code-batches"),
    ("GET", "/ops/v1/code-batches/B1/sheet.pdf"), ("POST", "/ops/v1/codes/C1/deregister")])
async def test_a_wrong_token_is_refused_before_anything(ops, method, path):
    status, answer = await call(ops, method, path, {}, token="wrong-token-0123456789")
    assert (status, answer["error"]) == (401, {"code": "unauthorized", "message": "bad operator token"})
