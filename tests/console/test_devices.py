"""Console devices in headless Chromium: an operator swaps a device through the pages and the device API
follows; a cloned device shows flagged in the inventory and the detail, with its evidence; a merchant sees
only its own devices, and another merchant's by URL is 404."""
from __future__ import annotations

import pytest

from tests.console.conftest import in_english, login
from tests.console.console_stack import NOODLE_SHOP, OPERATOR, PASSWORDS, TEA, TEA_SHOP
from server import devices

SPARE = "SPARE-01"


async def device_call(stack, device_id: str, op: str, message: dict, *, key_hex: str | None = None,
                      hardware_id: str | None = None, boot_id: str | None = None) -> tuple[int, dict]:
    """A signed device-API request, with the identity headers when given (as the firmware sends them)."""
    return await stack.server.device(device_id, key_hex or stack.device_keys[device_id]).call(
        op, message, hardware_id=hardware_id, boot_id=boot_id)


async def spare_in_stock(stack, device_id: str = SPARE) -> None:
    await devices.register_device(stack.storage, device_id, TEA_SHOP.merchant_id, "-", activation=True)
    await devices.return_to_stock(stack.storage, device_id, actor="setup")


async def inventory(page, **filters) -> dict[str, str]:
    """device id -> its row's text, as the inventory shows it (with the filters chosen in the form)."""
    await page.goto("/console/devices")
    for name, value in filters.items():
        await page.select_option(f"select[name={name}]", value)
    if filters:
        async with page.expect_navigation():
            await page.click("form[role=search] button[type=submit]")
    rows = await page.query_selector_all("table[data-testid=devices] tbody tr[data-device-id]")
    return {await row.get_attribute("data-device-id"): " ".join((await row.inner_text()).split()) for row in rows}


async def test_operator_swaps_a_device_and_the_replacement_takes_over_the_store(stack, page):
    await spare_in_stock(stack)
    await login(page, OPERATOR, PASSWORDS[OPERATOR])
    await in_english(page, stack)
    shown = await inventory(page)
    assert "in stock" in shown[SPARE] and "installed" in shown[TEA_SHOP.device_id]

    await page.goto(f"/console/devices/{TEA_SHOP.device_id}")
    form = page.locator("[data-testid=swap-form]")
    await form.locator("select[name=replacement]").select_option(SPARE)
    await form.locator("input[name=note]").fill("screen broken")
    async with page.expect_navigation():
        await form.locator("button[type=submit]").click()
    # The confirmation page says what will happen; nothing has happened yet.
    assert f"replace device {TEA_SHOP.device_id} at “{TEA_SHOP.store_name}” with {SPARE}" in \
        await page.inner_text("[data-testid=confirm-what]")
    assert (await stack.storage.get_device(SPARE)).lifecycle == "in_stock"
    async with page.expect_navigation():
        await page.click("[data-testid=confirm]")

    assert page.url.endswith(f"/console/devices/{SPARE}?done=swapped-in&other={TEA_SHOP.device_id}")
    assert await page.inner_text("[data-testid=lifecycle]") == "installed"
    assert TEA_SHOP.store_name in await page.inner_text("[data-testid=store]")
    assert "swapped in" in await page.inner_text("table[data-testid=history]")

    # The old device's key no longer works; the replacement is activated with a code shown once.
    status, body = await device_call(stack, TEA_SHOP.device_id, "info", {})
    assert (status, body["error"]["code"]) == (403, "device_not_installed")
    async with page.expect_navigation():
        await page.click("[data-testid=issue-code]")
    code = (await page.inner_text("[data-testid=activation-code]")).replace(" ", "")
    assert len(code) == 12 and code.isdigit()
    async with stack.http.post(stack.url + "/d/v1/activate", json={"activation_code": code}) as resp:
        activated = await resp.json()
    assert resp.status == 200 and activated["store_name"] == TEA_SHOP.store_name
    status, body = await device_call(stack, SPARE, "info", {}, key_hex=activated["device_key"])
    assert (status, body["store_name"], body["merchant"]["id"]) == (200, TEA_SHOP.store_name, TEA_SHOP.merchant_id)

    shown = await inventory(page)
    assert "in stock" in shown[TEA_SHOP.device_id]
    assert "installed" in shown[SPARE] and TEA_SHOP.store_name in shown[SPARE]
    await page.goto(f"/console/devices/{TEA_SHOP.device_id}")
    history = await page.inner_text("table[data-testid=history]")
    assert f"swapped out ({SPARE})" in history and "screen broken" in history and OPERATOR in history


async def test_a_cloned_device_shows_flagged_with_its_evidence_until_cleared(stack, page):
    device_id = TEA_SHOP.device_id
    chip = "a4cf12000001"
    assert (await device_call(stack, device_id, "heartbeat", {"battery_pct": 77}, hardware_id=chip,
                              boot_id="bootAAAA"))[0] == 200
    assert (await device_call(stack, device_id, "heartbeat", {}, hardware_id=chip, boot_id="bootBBBB"))[0] == 200
    status, body = await device_call(stack, device_id, "heartbeat", {}, hardware_id=chip, boot_id="bootAAAA")
    assert (status, body["error"]["code"]) == (403, "device_cloned")

    await login(page, OPERATOR, PASSWORDS[OPERATOR])
    await in_english(page, stack)
    shown = await inventory(page)
    assert "cloned" in shown[device_id] and "cloned" not in shown[NOODLE_SHOP.device_id]
    assert list(await inventory(page, flagged="yes")) == [device_id]

    await page.goto(f"/console/devices/{device_id}")
    assert await page.inner_text("h1 [data-testid=flag]") == "⚑ cloned"
    evidence = page.locator("[data-testid=flag-evidence]")
    assert await evidence.locator("[data-testid=flag-reason]").get_attribute("data-reason") == "boot ids interleave"
    assert await evidence.locator("[data-testid=flag-reason]").inner_text() == "two boot ids take turns"
    assert "bootAAAA" in await evidence.locator("[data-testid=returning-boot]").inner_text()
    newer = await evidence.locator("[data-testid=newer-boot]").inner_text()
    assert "bootBBBB" in newer and "127.0.0.1" in newer and chip in newer

    # The operator clears it and revokes the key: the copy stays locked out.
    await evidence.locator("input[name=note]").fill("second box found at the counter, removed")
    async with page.expect_navigation():
        await evidence.locator("[data-testid=clear-flag]").click()
    assert "its key is revoked" in await page.inner_text("[data-testid=confirm-what]")
    async with page.expect_navigation():
        await page.click("[data-testid=confirm]")
    assert await page.locator("h1 [data-testid=flag]").count() == 0
    assert "second box found" in await page.inner_text("table[data-testid=flags]")
    status, body = await device_call(stack, device_id, "heartbeat", {}, hardware_id=chip, boot_id="bootBBBB")
    assert (status, body["error"]["code"]) == (403, "device_not_activated")


async def test_a_merchant_sees_only_its_own_devices_read_only(stack, page):
    await login(page, TEA, PASSWORDS[TEA])
    shown = await inventory(page)
    assert list(shown) == [TEA_SHOP.device_id]
    await page.goto(f"/console/devices/{TEA_SHOP.device_id}")
    assert await page.locator("form[action*='/swap'], form[action*='/decommission'], "
                              "[data-testid=inspection-form]").count() == 0

    response = await page.goto(f"/console/devices/{NOODLE_SHOP.device_id}")
    assert response.status == 404
    assert NOODLE_SHOP.store_name not in await page.content()
    response = await page.goto(f"/console/devices?merchant={NOODLE_SHOP.merchant_id}")
    assert NOODLE_SHOP.device_id not in await page.content()

    # Even with its own valid CSRF token, a merchant cannot act on a device.
    await page.goto(f"/console/devices/{TEA_SHOP.device_id}")
    token = await page.evaluate("document.querySelector('input[name=csrf_token]').value")
    for device_id in (NOODLE_SHOP.device_id, TEA_SHOP.device_id):
        answer = await page.request.post(f"/console/devices/{device_id}/decommission",
                                         form={"csrf_token": token, "confirmed": "yes"})
        assert answer.status == 403
        assert (await stack.storage.get_device(device_id)).lifecycle == "installed"


async def test_a_device_action_without_the_csrf_token_is_refused(stack, page):
    await login(page, OPERATOR, PASSWORDS[OPERATOR])
    await in_english(page, stack)
    answer = await page.request.post(f"/console/devices/{TEA_SHOP.device_id}/decommission",
                                     form={"confirmed": "yes"})
    assert answer.status == 403
    assert (await stack.storage.get_device(TEA_SHOP.device_id)).lifecycle == "installed"


async def test_operator_records_an_inspection(stack, page):
    await login(page, OPERATOR, PASSWORDS[OPERATOR])
    await in_english(page, stack)
    await page.goto(f"/console/devices/{NOODLE_SHOP.device_id}")
    form = page.locator("[data-testid=inspection-form]")
    await form.locator("input[name=inspected_on]").fill("2026-11-20")
    await form.locator("input[name=inspector]").fill("王师傅")
    await form.locator("select[name=result]").select_option("defect")
    await form.locator("input[name=notes]").fill("keypad key 5 sticks")
    async with page.expect_navigation():
        await form.locator("button[type=submit]").click()
    rows = await page.inner_text("table[data-testid=inspections]")
    assert "2026-11-20" in rows and "王师傅" in rows and "defect" in rows and "keypad key 5 sticks" in rows


@pytest.mark.parametrize("stack", [{"pay_orders": False}], indirect=True)
async def test_assign_and_install_a_device_from_stock(stack, page):
    await spare_in_stock(stack)
    await login(page, OPERATOR, PASSWORDS[OPERATOR])
    await in_english(page, stack)
    await page.goto(f"/console/devices/{SPARE}")
    form = page.locator("[data-testid=assign-form]")
    await form.locator("select[name=merchant_id]").select_option(NOODLE_SHOP.merchant_id)
    await form.locator("input[name=store_name]").fill("小李面馆 二号店")
    async with page.expect_navigation():
        await form.locator("button[type=submit]").click()
    async with page.expect_navigation():
        await page.click("[data-testid=confirm]")
    assert await page.inner_text("[data-testid=lifecycle]") == "assigned"
    async with page.expect_navigation():
        await page.click("form[action$='/install'] button")
    async with page.expect_navigation():
        await page.click("[data-testid=confirm]")
    assert await page.inner_text("[data-testid=lifecycle]") == "installed"
    assert "小李面馆 二号店" in await page.inner_text("[data-testid=store]")
    # A second install of the same device is refused with a reason, and changes nothing.
    answer = await page.request.post(f"/console/devices/{SPARE}/install", form={
        "csrf_token": await page.evaluate("document.querySelector('input[name=csrf_token]').value"),
        "confirmed": "yes"})
    assert answer.status == 409 and "only an assigned device" in await answer.text()
