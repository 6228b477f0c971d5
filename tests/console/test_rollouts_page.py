"""The rollouts page: an operator starts a staged rollout of a published build, confirms, watches the device
counts, adds a stage and stops it; devices get (and lose) their update offers; merchants may not."""
from __future__ import annotations

import hashlib

from playwright.async_api import expect

from tests.console.conftest import in_english, login, new_page
from tests.console.console_stack import OPERATOR, PASSWORDS, TEA, TEA_SHOP
from server import rollouts
from server.device_auth import new_device_key

PROFILE, VERSION = "basic_box", "1.2.0"
BOXES = ["BOX1", "BOX2", "BOX3", "BOX4"]


async def publish_and_place_boxes(stack) -> None:
    """Four basic boxes of the tea house (BOX4 in the group "pilot") and a published build for them."""
    storage = stack.storage
    for device_id in BOXES:
        await storage.add_device(device_id, TEA_SHOP.merchant_id, TEA_SHOP.store_name, new_device_key())
        await rollouts.set_device_profile(storage, device_id, PROFILE, "pilot" if device_id == "BOX4" else None)
    # What `tools release publish` leaves in the database (the upload path is tests/server/test_ops_api.py's).
    await rollouts.add_release(storage, PROFILE, VERSION, hashlib.sha256(b"manifest").hexdigest(), "ab" * 64)


async def offers(stack) -> dict[str, list[str]]:
    """The update offers each box has not acknowledged: what its next heartbeat would get."""
    found = {}
    for device_id in BOXES:
        found[device_id] = [c.args["version"] for c in await stack.storage.pending_commands(device_id)
                            if c.kind == "update_firmware"]
    return found


async def test_an_operator_starts_a_rollout_adds_a_stage_and_stops_it(stack, page):
    await publish_and_place_boxes(stack)
    await login(page, OPERATOR, PASSWORDS[OPERATOR])
    await in_english(page, stack)
    await page.goto("/console/rollouts")
    form = page.locator("form[data-testid=start-rollout]")
    await form.locator("select[name=release]").select_option(f"{PROFILE} {VERSION}")
    await form.locator("input[name=share]").fill("50")
    await form.locator("input[name=failure_threshold]").fill("25")
    async with page.expect_navigation():
        await form.locator("button[type=submit]").click()
    # The confirmation says what will happen; nothing has happened yet.
    await expect(page.locator("[data-testid=reach]")).to_have_text(f"2 of 4 active {PROFILE} devices")
    assert await offers(stack) == {device_id: [] for device_id in BOXES}
    async with page.expect_navigation():
        await page.click("text=Start the rollout")

    assert "/console/rollouts/R" in page.url
    rollout_id = page.url.rsplit("/", 1)[1]
    await expect(page.locator("[data-testid=rollout-state]")).to_have_text("running")
    await expect(page.locator("[data-testid=total-offered]")).to_have_text("2")
    assert await offers(stack) == {"BOX1": [VERSION], "BOX2": [VERSION], "BOX3": [], "BOX4": []}

    # BOX1 starts installing; the page counts it.
    assert await rollouts.record_step(stack.storage, "BOX1", VERSION, "download", None)
    await page.reload()
    await expect(page.locator("tr[data-device=BOX1] .device-status")).to_have_text("installing")

    # The next stage: the pilot group.
    stage = page.locator("form[data-testid=add-stage]")
    await stage.locator("input[value=groups]").check()
    await stage.locator("input[name=groups]").fill("pilot")
    async with page.expect_navigation():
        await stage.locator("button[type=submit]").click()
    await expect(page.locator("[data-testid=total-offered]")).to_have_text("3")
    assert (await offers(stack))["BOX4"] == [VERSION]

    # Stop, with a confirmation and a reason.
    async with page.expect_navigation():
        await page.click("[data-testid=stop-link]")
    await page.fill("input[name=reason]", "boxes reboot in a loop")
    async with page.expect_navigation():
        await page.click("button.danger")
    await expect(page.locator("[data-testid=rollout-state]")).to_have_text("stopped")
    await expect(page.locator("[data-testid=rollout-reason]")).to_contain_text("boxes reboot in a loop")
    await expect(page.locator("[data-testid=total-withdrawn]")).to_have_text("2")   # BOX2, BOX4; BOX1 installs on
    # The offers not taken are withdrawn; BOX1 took its own (it is installing) and goes on.
    assert await offers(stack) == {"BOX1": [VERSION], "BOX2": [], "BOX3": [], "BOX4": []}
    assert (await rollouts.get_rollout(stack.storage, rollout_id))["state"] == "stopped"
    await expect(page.locator("[data-testid=stop-link]")).to_have_count(0)

    await page.goto("/console/rollouts")
    row = await page.locator(f"tr[data-rollout={rollout_id}]").inner_text()
    assert "stopped" in row and f"{PROFILE} {VERSION}" in row


async def test_a_bad_start_form_is_refused_and_starts_nothing(stack, page):
    await publish_and_place_boxes(stack)
    await login(page, OPERATOR, PASSWORDS[OPERATOR])
    await in_english(page, stack)
    await page.goto("/console/rollouts")
    form = page.locator("form[data-testid=start-rollout]")
    await form.locator("input[name=share]").fill("0")
    async with page.expect_navigation():
        await form.locator("button[type=submit]").click()
    await expect(page.locator("[role=alert]")).to_contain_text("The share must be more than 0 to 100 percent")
    await form.locator("input[value=groups]").check()
    await form.locator("input[name=groups]").fill("no such/group")
    async with page.expect_navigation():
        await form.locator("button[type=submit]").click()
    await expect(page.locator("[role=alert]")).to_contain_text("Groups")
    assert (await stack.storage.table_counts(["rollouts"]))["rollouts"] == 0


async def test_merchants_have_no_rollouts_page(stack, browser):
    merchant = await new_page(browser, stack)
    await login(merchant, TEA, PASSWORDS[TEA])
    response = await merchant.goto("/console/rollouts")
    assert response.status == 403


async def test_stage_reach_and_the_list_on_both_databases(console_storage):
    from server.console.rollouts import Stage, list_rollouts, stage_reach
    storage = console_storage
    await storage.add_merchant("M1", "茶馆")
    for n in range(5):
        await storage.add_device(f"B{n}", "M1", "store", "ab" * 32)
        await rollouts.set_device_profile(storage, f"B{n}", PROFILE, "pilot" if n < 2 else None)
    await rollouts.add_release(storage, PROFILE, VERSION, "00" * 32, "ab" * 64)
    assert await stage_reach(storage, PROFILE, Stage(share=0.5, groups=None, last=False)) == {"devices": 5, "reach": 3}
    rollout_id = await rollouts.create_rollout(storage, PROFILE, VERSION, 0.2, 5)
    rollout = await rollouts.get_rollout(storage, rollout_id)
    assert await rollouts.add_stage(storage, rollout, share=0.5, groups=None, public_url="http://x", url_ttl_s=60) == 3
    # The next stage: the pilot group minus those offered already; a larger share minus those offered.
    offered = {r["device_id"] for r in await storage.sql.fetchall(
        "SELECT device_id FROM rollout_devices WHERE rollout_id = ?", (rollout_id,))}
    pilot_left = len({"B0", "B1"} - offered)
    assert (await stage_reach(storage, PROFILE, Stage(None, ["pilot"], False), rollout_id))["reach"] == pilot_left
    assert (await stage_reach(storage, PROFILE, Stage(1.0, None, True), rollout_id))["reach"] == 2
    [listed] = await list_rollouts(storage)
    assert (listed["id"], listed["state"], listed["offered"], listed["stages_count"]) == (rollout_id, "running", 3, 1)
