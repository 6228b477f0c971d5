"""Onboarding in headless Chromium, in Chinese: an operator takes a shop from its owner's phone number to
tier 3 (an ID photo, a business licence and a photo of the shop, each tier approved on them), opens WeChat
Pay for it, adds its store, receives two devices into stock from a CSV file and assigns one there, prints a
batch of three static codes, downloads their PDF sheet (each sticker's QR code read back by ZBar) and binds
one sticker, typed as read off it, to the store."""
from __future__ import annotations

import io

import pypdfium2
from fpdf import FPDF
from PIL import Image
from pyzbar.pyzbar import ZBarSymbol, decode

from tests.console.conftest import login
from tests.console.console_stack import OPERATOR, PASSWORDS
from server import static_codes, stores
from server.keys import PAYMENTS

PHONE = "138 0013 8000"


def image(kind: str, colour: tuple[int, int, int]) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (320, 240), colour).save(out, kind)
    return out.getvalue()


def licence_pdf() -> bytes:
    pdf = FPDF()
    pdf.add_page()
    pdf.set_font("helvetica", size=14)
    pdf.cell(text="Business licence 91310000MA1FL0000X")
    return bytes(pdf.output())


async def heading(page) -> str:
    return (await page.inner_text("h1")).strip()


async def submit(page, form: str) -> None:
    async with page.expect_navigation():
        await page.click(f"{form} button[type=submit]")


async def upload(page, kind: str, name: str, mime: str, data: bytes) -> None:
    form = f"[data-testid=evidence-{kind}] form"
    await page.set_input_files(f"{form} input[type=file]", files=[{"name": name, "mimeType": mime, "buffer": data}])
    await submit(page, form)
    assert await page.inner_text("[data-testid=done]") == "文件已上传存档。"


async def approve(page, tier: int) -> None:
    async with page.expect_navigation():
        await page.click(f"[data-testid=approve-tier-{tier}]")
    assert (await page.inner_text("[data-testid=tier]")).startswith(str(tier))


async def test_an_operator_onboards_a_shop_from_its_phone_number_to_a_bound_static_code(stack, page, tmp_path,
                                                                                         monkeypatch):
    monkeypatch.chdir(tmp_path)           # [merchants] evidence_dir is relative: this test's folder
    storage = stack.storage
    await login(page, OPERATOR, PASSWORDS[OPERATOR])

    # Registered by the owner's mobile number: tier 1.
    await page.goto("/console/merchants")
    assert await heading(page) == "商户"
    async with page.expect_navigation():
        await page.click("[data-testid=new-merchant]")
    assert await heading(page) == "注册商户"
    await page.fill("input[name=phone]", PHONE)
    await page.fill("input[name=short_name]", "老王包子")
    await page.fill("input[name=legal_name]", "上海老王包子铺")
    await submit(page, "[data-testid=new-merchant-form]")
    merchant = await storage.get_merchant_by_phone("13800138000")
    assert merchant is not None and merchant.tier == 1
    assert page.url.endswith(f"/console/merchants/{merchant.id}?done=registered")
    assert await heading(page) == f"商户 {merchant.id} · 老王包子 正常"
    assert "等级与资料" in await page.inner_text("main")

    # Tier 2 on the ID photo; tier 3 is refused until the licence and the shop's photo are on file.
    await upload(page, "id_photo", "id.jpg", "image/jpeg", image("JPEG", (200, 160, 120)))
    await approve(page, 2)
    async with page.expect_navigation():
        await page.click("[data-testid=approve-tier-3]")
    assert await page.inner_text("[data-testid=error]") == "等级 3 需要先上传以下资料：营业执照、门店照片。"
    await upload(page, "business_licence", "licence.pdf", "application/pdf", licence_pdf())
    await upload(page, "shop_photo", "shop.png", "image/png", image("PNG", (30, 120, 60)))
    await approve(page, 3)
    evidence = await storage.list_evidence(merchant.id)
    assert sorted((e.kind, e.content_type) for e in evidence) == [
        ("business_licence", "application/pdf"), ("id_photo", "image/jpeg"), ("shop_photo", "image/png")]
    photo = next(e for e in evidence if e.kind == "id_photo")
    async with stack.http.get(f"{stack.url}/console/merchants/{merchant.id}/evidence/{photo.id}",
                              headers={"Cookie": "; ".join(f"{c['name']}={c['value']}"
                                                           for c in await page.context.cookies())}) as resp:
        assert resp.status == 200 and resp.headers["Content-Type"] == "image/jpeg"
        assert resp.headers["Content-Disposition"].startswith("inline")
        assert resp.headers["X-Content-Type-Options"] == "nosniff"
        assert (await resp.read())[:3] == b"\xff\xd8\xff"

    # WeChat Pay under its own sub_mch_id, at 0.38%.
    wechat = "[data-testid=open-wechat]"
    await page.fill(f"{wechat} input[name=account_id]", "1900000109")
    await page.fill(f"{wechat} input[name=fee_rate]", "0.38%")
    await submit(page, wechat)
    assert await page.inner_text("tr[data-channel=wechat] [data-testid=channel-status]") == "已开通"
    [record] = await storage.merchant_channels(merchant.id)
    assert (record.channel, record.account_id, record.status, record.fee_rate_ppm) == ("wechat", "1900000109",
                                                                                      "open", 3800)

    # Its store.
    await page.fill("[data-testid=add-store-form] input[name=name]", "老王包子 南京路店")
    await page.fill("[data-testid=add-store-form] input[name=address]", "上海市黄浦区南京东路 100 号")
    await submit(page, "[data-testid=add-store-form]")
    [store] = await stores.list_stores(storage, merchant.id)
    assert store.name == "老王包子 南京路店"

    # Two devices into stock from a delivery's CSV; one assigned to the store.
    await page.goto("/console/stock")
    assert await heading(page) == "库存"
    await page.set_input_files("[data-testid=upload-form] input[type=file]", files=[{
        "name": "delivery.csv", "mimeType": "text/csv",
        "buffer": "\ufeffserial,model\nSP2026000001,box-e2\nSP2026000002,box-e2\n".encode()}])
    await page.fill("[data-testid=upload-form] input[name=batch]", "2026-03 第一批")
    await submit(page, "[data-testid=upload-form]")
    assert await page.inner_text("[data-testid=done]") == "已入库。"
    for serial in ("SP2026000001", "SP2026000002"):
        assert "2026-03 第一批" in await page.inner_text(f"table[data-testid=stock] tr[data-device-id={serial}]")
    await page.select_option("[data-testid=assign-form] select[name=device_id]", "SP2026000001")
    await page.select_option("[data-testid=assign-form] select[name=store_id]", store.id)
    await submit(page, "[data-testid=assign-form]")
    assert await page.inner_text("[data-testid=done]") == "设备已分配到门店。"
    device = await storage.get_device("SP2026000001")
    assert (device.lifecycle, device.merchant_id, device.store_id) == ("assigned", merchant.id, store.id)
    assert (await storage.get_device("SP2026000002")).lifecycle == "in_stock"

    # A batch of three codes, its PDF downloaded: one page, three QR codes with the codes' URLs.
    await page.goto("/console/codes")
    assert await heading(page) == "收款码"
    await page.fill("[data-testid=print-form] input[name=size]", "3")
    await page.fill("[data-testid=print-form] input[name=note]", "南京路地推")
    await submit(page, "[data-testid=print-form]")
    [batch] = await static_codes.batches(storage)
    codes = await static_codes.batch_codes(storage, batch.id)
    assert (batch.size, batch.note, len(codes)) == (3, "南京路地推", 3)
    assert await heading(page) == f"批次 {batch.id}"
    async with page.expect_download() as download_info:
        await page.click("[data-testid=sheet]")
    download = await download_info.value
    assert download.suggested_filename == f"codes-{batch.id}.pdf"
    pdf = (tmp_path / "sheet.pdf")
    await download.save_as(pdf)
    assert pdf.read_bytes().startswith(b"%PDF-")
    document = pypdfium2.PdfDocument(pdf.read_bytes())
    try:
        assert len(document) == 1
        rendered = document[0].render(scale=150 / 72).to_pil().convert("L")
    finally:
        document.close()
    urls = sorted(symbol.data.decode() for symbol in decode(rendered, symbols=[ZBarSymbol.QRCODE]))
    assert urls == sorted(stack.app[PAYMENTS].static_code_url(code.id) for code in codes)

    # One sticker bound to the store, its id typed as read off it (lower case, in groups).
    sticker = codes[1]
    typed = f"{sticker.id[:5].lower()} {sticker.id[5:].lower()}"
    await page.goto(f"/console/stores/{store.id}")
    assert await heading(page) == "门店 老王包子 南京路店 营业中"
    await page.fill("[data-testid=bind-form] input[name=code_id]", typed)
    await submit(page, "[data-testid=bind-form]")
    assert sticker.id in await page.inner_text("[data-testid=confirm-what]")
    assert (await static_codes.get(storage, sticker.id)).status == "empty"      # not before it is confirmed
    async with page.expect_navigation():
        await page.click("[data-testid=confirm]")
    assert await page.inner_text("[data-testid=done]") == "收款码已绑定到该门店。"
    assert sticker.id in await page.inner_text("table[data-testid=store-codes]")
    assert "SP2026000001" in await page.inner_text("table[data-testid=store-devices]")

    # The final state, in storage.
    merchant = await storage.get_merchant(merchant.id)
    assert (merchant.tier, merchant.status, merchant.phone, merchant.tier_verified_by) == (3, "active",
                                                                                         "13800138000", OPERATOR)
    bound = await static_codes.get(storage, sticker.id)
    assert (bound.status, bound.merchant_id, bound.store_id, bound.device_id) == ("bound", merchant.id, store.id,
                                                                                  "SP2026000001")
    assert [c.status for c in codes if c.id != sticker.id] == ["empty", "empty"]
    assert [(c.id, c.status) for c in await static_codes.list_codes(storage, store_id=store.id)] == [
        (sticker.id, "bound")]
