"""Onboarding pages over plain HTTP: a merchant user (the tea house) gets 404 for the noodle shop's merchant
page, evidence file, store and codes, and for the stock pages, as for things that do not exist, and may
neither approve its own tier nor open a channel; bad input is refused in Chinese on the page, never with a
500, and changes nothing. The domain modules' refusals the pages show all have their Chinese."""
from __future__ import annotations

import io
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_file
from PIL import Image

from tests.console.console_stack import NOODLE_SHOP, OPERATOR, TEA, TEA_SHOP, http_session, running_stack
from server import merchants, static_codes
from server.console import i18n
from server.console import merchants as console_merchants
from server.keys import SETTINGS

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
async def stack(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)           # [merchants] evidence_dir is relative: this test's folder
    async with running_stack(tmp_path, pay_orders=False, resolver=False, throttle={"enabled": False}) as stack:
        yield stack


async def session(stack, username: str) -> dict[str, str]:
    return await http_session(stack, username, "/console/codes")


async def get(stack, headers, path: str) -> tuple[int, str]:
    async with stack.http.get(stack.url + path, headers=headers, allow_redirects=False) as resp:
        return resp.status, await resp.text()


async def post(stack, headers, path: str, data) -> tuple[int, str]:
    async with stack.http.post(stack.url + path, headers=headers, data=data, allow_redirects=False) as resp:
        return resp.status, await resp.text()


def jpeg() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (64, 48), (10, 20, 30)).save(out, "JPEG")
    return out.getvalue()


async def noodle_shop_things(stack) -> dict[str, str]:
    """The noodle shop's evidence, store and bound code; a batch and an empty code."""
    storage = stack.storage
    evidence = await merchants.add_evidence(storage, stack.app[SETTINGS], NOODLE_SHOP.merchant_id, "id_photo", jpeg(),
                                            actor="setup")
    store_id = (await storage.get_device(NOODLE_SHOP.device_id)).store_id
    batch, printed = await static_codes.print_batch(storage, 2, actor="setup")
    await static_codes.bind(storage, printed[0].id, store_id=store_id, actor="setup")
    return {"evidence": evidence.id, "store": store_id, "code": printed[0].id, "empty": printed[1].id,
            "batch": batch.id}


async def test_a_merchant_user_sees_nothing_of_another_merchant_nor_the_stock(stack):
    noodle = await noodle_shop_things(stack)
    tea = await session(stack, TEA)
    m2 = NOODLE_SHOP.merchant_id
    for path in (f"/console/merchants/{m2}", f"/console/merchants/{m2}/evidence/{noodle['evidence']}",
                 f"/console/merchants/{TEA_SHOP.merchant_id}/evidence/{noodle['evidence']}",
                 f"/console/stores/{noodle['store']}", f"/console/codes/{noodle['code']}",
                 f"/console/codes/{noodle['empty']}", "/console/stock", f"/console/codes?code={noodle['code']}"):
        status, page = await get(stack, tea, path)
        assert status == 404, path
        assert NOODLE_SHOP.store_name not in page and NOODLE_SHOP.merchant_name not in page
    status, page = await get(stack, tea, "/console/codes")
    assert status == 200 and noodle["code"] not in page and "您的收款码" in page
    # Its own merchant page instead of the list; the operator-only steps refused, changing nothing.
    status, _ = await get(stack, tea, "/console/merchants")
    assert status == 303
    assert (await get(stack, tea, f"/console/merchants/{TEA_SHOP.merchant_id}"))[0] == 200
    own = f"/console/merchants/{TEA_SHOP.merchant_id}"
    for path, form in ((f"{own}/tier", {"tier": "3"}), (f"{own}/status", {"status": "closed", "confirmed": "yes"}),
                       (f"{own}/channels/wechat/open", {"account_id": "1900000109"}),
                       (f"/console/merchants/{m2}/stores", {"name": "冒名店"}),
                       (f"/console/merchants/{m2}/evidence", {"kind": "id_photo"}),
                       ("/console/stock/receive", {"serial": "TEA-STOCK-1"}),
                       ("/console/codes/batches", {"size": "3"}),
                       (f"/console/codes/{noodle['code']}/unbind", {"confirmed": "yes"}),
                       (f"/console/stores/{noodle['store']}/edit", {"name": "改名"})):
        status, _ = await post(stack, tea, path, form)
        assert status in (403, 404), path
    assert (await stack.storage.get_merchant(TEA_SHOP.merchant_id)).tier == 1
    assert await stack.storage.merchant_channels(TEA_SHOP.merchant_id) == []
    assert await stack.storage.get_device("TEA-STOCK-1") is None
    # An empty sticker may be bound to its own store, never to another merchant's.
    status, page = await post(stack, tea, "/console/codes/bind",
                              {"code_id": noodle["empty"], "store_id": noodle["store"], "confirmed": "yes"})
    assert status == 400 and "请选择一家营业中的门店。" in page
    status, page = await post(stack, tea, "/console/codes/bind",
                              {"code_id": noodle["code"], "store_id": noodle["store"], "confirmed": "yes"})
    assert status == 400 and f"没有码 {noodle['code']}。" in page
    tea_store = (await stack.storage.get_device(TEA_SHOP.device_id)).store_id
    status, _ = await post(stack, tea, "/console/codes/bind",
                           {"code_id": noodle["empty"].lower(), "store_id": tea_store, "confirmed": "yes"})
    assert status == 303
    bound = await static_codes.get(stack.storage, noodle["empty"])
    assert (bound.status, bound.merchant_id, bound.bound_by) == ("bound", TEA_SHOP.merchant_id, TEA)


async def test_bad_input_is_refused_in_chinese_on_the_page(stack):
    ops = await session(stack, OPERATOR)
    status, page = await post(stack, ops, "/console/merchants/new",
                              {"phone": "12345", "short_name": "老王茶馆", "legal_name": ""})
    assert status == 400 and "这不是中国大陆手机号" in page and 'value="老王茶馆"' in page
    status, page = await post(stack, ops, "/console/merchants/new", {"phone": "13900000000", "short_name": " "})
    assert status == 400 and "商户简称为 1 至 64 个字符。" in page and 'value="13900000000"' in page
    assert (await post(stack, ops, "/console/merchants/new", {"phone": "13900000000", "short_name": "甲"}))[0] == 303
    status, page = await post(stack, ops, "/console/merchants/new", {"phone": "139 0000 0000", "short_name": "乙"})
    assert status == 400 and "该手机号已注册。" in page

    status, page = await get(stack, ops, "/console/codes?code=NOSUCHCODE")
    assert status == 404 and "没有码 NOSUCHCODE。" in page

    csv = "serial,model\nSP1,box\nbad serial!,box\nSP1,box\n".encode()
    form = {"file": io.BytesIO(csv), "batch": "d-1"}
    status, page = await post(stack, ops, "/console/stock/upload", form)
    assert status == 400 and "文件中有 2 行有误；未入库任何设备" in page
    assert "第 3 行" in page and "第 4 行" in page and "序列号 SP1 已在第 2 行出现" in page
    assert await stack.storage.get_device("SP1") is None

    # An upload bigger than [merchants] evidence_max_bytes: refused on the page, its body not read.
    limit = stack.app[SETTINGS].merchants.evidence_max_bytes
    path = f"/console/merchants/{TEA_SHOP.merchant_id}/evidence"
    status, page = await post(stack, ops, path, {"kind": "id_photo", "file": io.BytesIO(b"\xff\xd8\xff" + b"0" * limit)})
    assert status == 413 and f"资料文件大小为 1 字节至 {limit // (1024 * 1024)} MiB。" in page
    status, page = await post(stack, ops, path, {"kind": "id_photo", "file": io.BytesIO(b"GIF89a")})
    assert status == 400 and "资料须为 JPEG 或 PNG 照片，或 PDF 文件。" in page
    assert await stack.storage.list_evidence(TEA_SHOP.merchant_id) == []
    status, page = await post(stack, ops, f"/console/merchants/{TEA_SHOP.merchant_id}/channels/wechat/open",
                              {"account_id": "1900000109", "fee_rate": "abc"})
    assert status == 400 and "费率为万分比数字（38）或百分比（0.38%），精确到百万分之一。" in page


def test_every_refusal_the_pages_show_has_its_chinese():
    catalog = i18n.read_catalog("zh_CN")
    missing = []
    for module in ("stores.py", "stock.py", "static_codes.py"):
        for lineno, message, _comments, _context in extract_from_file("python", ROOT / "server" / module,
                                                                     keywords={"N_": None}):
            entry = catalog.get(message)
            if entry is None or entry.fuzzy or not entry.string:
                missing.append(f"server/{module}:{lineno}: {message!r}")
    assert missing == []
    assert set(static_codes.END_REASONS) == set(console_merchants.END_REASON)
