"""Device lifecycle and anti-switching through the device API (on SQLite and PostgreSQL): a decommissioned
device is refused; a device seen away from its store is refused and flagged; a key used by two devices
(another hardware id, or boot ids taking turns) is refused and flagged, while reboots are not; a swap
moves the store to the replacement and the old device is refused."""
import asyncio
import json
import time

import pytest

from hw_sim import test_codes
from server import devices
from server.devices import issue_activation_code, register_device
from server.keys import STORAGE
from server.settings import SettingsError, load_settings

from tests.server.conftest import DEVICE_ID, MERCHANT_ID

CHIP = "a4cf12000001"
SHOP_AP = {"bssid": "a4:56:02:11:22:30", "seen": ["f0:b4:29:aa:bb:c1"]}
ELSEWHERE = {"bssid": "10:20:30:40:50:60"}


async def beat(device, *, hardware_id: str | None = CHIP, boot_id: str | None = "boot0001", place=None,
               **sign_args) -> tuple[int, dict]:
    message = {"battery_pct": 80}
    if place is not None:
        message["place"] = place
    if hardware_id is not None:
        sign_args.update(hardware_id=hardware_id, boot_id=boot_id)
    return await device.call("heartbeat", message, **sign_args)


def code(body: dict) -> str:
    return body["error"]["code"]


async def activate(client, activation_code: str, **extra) -> tuple[int, dict]:
    resp = await client.post("/d/v1/activate", data=json.dumps({"activation_code": activation_code, **extra}),
                             headers={"Content-Type": "application/json"})
    return resp.status, await resp.json()


async def in_stock(device, device_id: str) -> None:
    """A spare device in the acquirer's stock (registered, then back to stock: no key)."""
    storage = device.app[STORAGE]
    await register_device(storage, device_id, MERCHANT_ID, "Tea House, Nanjing Rd", activation=True)
    await devices.return_to_stock(storage, device_id, actor="ops1")


# decommissioned

async def test_a_decommissioned_device_is_refused_every_op_and_cannot_be_activated_again(device):
    assert (await beat(device))[0] == 200
    storage = device.app[STORAGE]
    await devices.decommission(storage, DEVICE_ID, actor="ops1", detail="water damage")

    status, body = await device.pay("R1", 1250, test_codes.make_wechat_code(test_codes.SUCCESS))
    assert (status, code(body)) == (403, "device_decommissioned")
    status, body = await beat(device)
    assert (status, code(body)) == (403, "device_decommissioned")
    assert (await storage.table_counts(["orders"]))["orders"] == 0

    try:
        await issue_activation_code(storage, DEVICE_ID, 3600)
    except ValueError as e:
        assert "disabled" in str(e)
    else:
        raise AssertionError("a decommissioned device got an activation code")
    [event] = [e for e in await devices.history(storage, DEVICE_ID) if e.kind == "decommissioned"]
    assert (event.actor, event.from_lifecycle, event.detail) == ("ops1", "installed", "water damage")


# moved

async def test_a_device_seen_away_from_its_store_is_refused_and_flagged(device):
    storage = device.app[STORAGE]
    assert (await beat(device, place=SHOP_AP))[0] == 200            # binds the store
    # The router's other radio (same first five octets) and a new router seen beside the old one: still here.
    assert (await beat(device, place={"bssid": "a4:56:02:11:22:34"}))[0] == 200
    assert (await beat(device, place={"bssid": "0c:0c:0c:0c:0c:01", "seen": ["f0:b4:29:aa:bb:c1"]}))[0] == 200
    assert (await beat(device, place={"bssid": "0c:0c:0c:0c:0c:01"}))[0] == 200   # the new router was learned
    status, body = await device.call("info", {}, hardware_id=CHIP, boot_id="boot0001")
    assert status == 200

    status, body = await beat(device, place=ELSEWHERE)
    assert (status, code(body)) == (403, "device_moved")
    # Every op now, even from the store, until an operator clears it.
    status, body = await device.pay("R1", 1250, test_codes.make_wechat_code(test_codes.SUCCESS),
                                    hardware_id=CHIP, boot_id="boot0001")
    assert (status, code(body)) == (403, "device_moved")
    assert (await beat(device, place=SHOP_AP))[1]["error"]["code"] == "device_moved"

    [flag] = await devices.flags(storage, DEVICE_ID)
    assert flag.kind == "moved" and flag.cleared_at is None
    assert flag.evidence["reported"] == ["wifi:1020304050"]
    assert "wifi:a456021122" in flag.evidence["bound"] and flag.evidence["ip"] == "127.0.0.1"

    # Cleared (the merchant really moved shop): the next report binds the new place.
    await devices.clear_flag(storage, DEVICE_ID, actor="ops1", note="shop moved to No. 12")
    assert (await beat(device, place=ELSEWHERE))[0] == 200
    status, body = await beat(device, place=SHOP_AP)
    assert (status, code(body)) == (403, "device_moved")


async def test_a_malformed_place_is_refused_and_binds_nothing(device):
    status, body = await beat(device, place={"bssid": "not a bssid"})
    assert (status, code(body)) == (400, "invalid_field")
    assert await devices.places(device.app[STORAGE], DEVICE_ID) == []


# cloned

async def test_a_key_used_from_another_chip_is_refused_and_flagged(device):
    storage = device.app[STORAGE]
    await register_device(storage, "G1", MERCHANT_ID, "Tea House", activation=True)
    status, body = await activate(device.client, await issue_activation_code(storage, "G1", 3600),
                                  hardware_id=CHIP, place=SHOP_AP)
    assert status == 200
    original = type(device)(device.client, "G1", body["device_key"])
    assert (await beat(original, place=SHOP_AP))[0] == 200

    copy = type(device)(device.client, "G1", body["device_key"])   # the flash copied onto another ESP32
    status, body = await beat(copy, hardware_id="a4cf12999999", boot_id="bootcopy", place=SHOP_AP)
    assert (status, code(body)) == (403, "device_cloned")
    status, body = await beat(original, place=SHOP_AP)            # the key is locked for both
    assert (status, code(body)) == (403, "device_cloned")

    [flag] = await devices.flags(storage, "G1")
    assert (flag.kind, flag.evidence["reason"]) == ("cloned", "hardware id differs")
    assert (flag.evidence["bound_hardware_id"], flag.evidence["seen_hardware_id"]) == (CHIP, "a4cf12999999")


async def test_two_devices_taking_turns_with_one_key_are_flagged_even_with_the_hardware_id_copied(device):
    storage = device.app[STORAGE]
    assert (await beat(device, boot_id="bootAAAA"))[0] == 200      # the original
    assert (await beat(device, boot_id="bootBBBB"))[0] == 200      # the copy's first request looks like a reboot
    status, body = await beat(device, boot_id="bootAAAA")          # ... until the original speaks again
    assert (status, code(body)) == (403, "device_cloned")
    status, body = await beat(device, boot_id="bootBBBB")
    assert (status, code(body)) == (403, "device_cloned")

    [flag] = await devices.flags(storage, DEVICE_ID)
    assert flag.evidence["reason"] == "boot ids interleave"
    assert flag.evidence["returning_boot"]["boot_id"] == "bootAAAA"
    assert flag.evidence["newer_boot"]["boot_id"] == "bootBBBB"
    assert flag.evidence["newer_boot"]["ip"] == "127.0.0.1"
    assert (await storage.get_device(DEVICE_ID)).flag == "cloned"


async def test_reboots_are_not_flagged(device):
    for boot_id in ("boot0001", "boot0001", "boot0002", "boot0002", "boot0003"):
        status, body = await beat(device, boot_id=boot_id, place=SHOP_AP)
        assert status == 200, body
    status, body = await device.pay("R1", 1250, test_codes.make_wechat_code(test_codes.SUCCESS),
                                    hardware_id=CHIP, boot_id="boot0003")
    assert status == 200
    storage = device.app[STORAGE]
    assert (await storage.get_device(DEVICE_ID)).flag is None
    assert await devices.flags(storage, DEVICE_ID) == []
    assert [e.kind for e in await devices.history(storage, DEVICE_ID)].count("booted") == 3


async def test_a_request_signed_before_the_reboot_and_arriving_late_is_not_a_clone(device):
    assert (await beat(device, boot_id="boot0001"))[0] == 200
    assert (await beat(device, boot_id="boot0002"))[0] == 200
    status, _ = await beat(device, boot_id="boot0001", timestamp=int(time.time()) - 10)
    assert status == 200
    assert (await device.app[STORAGE].get_device(DEVICE_ID)).flag is None
    assert (await beat(device, boot_id="boot0002"))[0] == 200
    # The same old boot id signed now is a second device.
    status, body = await beat(device, boot_id="boot0001")
    assert (status, code(body)) == (403, "device_cloned")


async def test_a_key_that_came_with_an_identity_is_refused_without_one(device):
    assert (await beat(device))[0] == 200
    status, body = await beat(device, hardware_id=None)             # a script with the copied key
    assert (status, code(body)) == (403, "device_cloned")
    [flag] = await devices.flags(device.app[STORAGE], DEVICE_ID)
    assert flag.evidence["reason"] == "identity headers missing"


async def test_clearing_a_clone_flag_with_a_new_key_locks_the_copy_out(device):
    storage = device.app[STORAGE]
    assert (await beat(device, boot_id="bootAAAA"))[0] == 200
    assert (await beat(device, boot_id="bootBBBB"))[0] == 200
    assert (await beat(device, boot_id="bootAAAA"))[0] == 403
    await devices.clear_flag(storage, DEVICE_ID, actor="ops1", note="genuine one re-activated", rekey=True)
    status, body = await beat(device, boot_id="bootBBBB")          # the copy still holds the old key
    assert (status, code(body)) == (403, "device_not_activated")
    status, body = await activate(device.client, await issue_activation_code(storage, DEVICE_ID, 3600),
                                  hardware_id=CHIP)
    assert status == 200
    genuine = type(device)(device.client, DEVICE_ID, body["device_key"])
    assert (await beat(genuine, boot_id="bootCCCC"))[0] == 200
    assert (await beat(device, boot_id="bootCCCC"))[1]["error"]["code"] == "bad_signature"


# swap

async def test_a_swap_moves_the_store_to_the_replacement_and_the_old_device_is_refused(device):
    storage = device.app[STORAGE]
    assert (await beat(device, place=SHOP_AP))[0] == 200
    await in_stock(device, "D0002")

    await devices.swap(storage, DEVICE_ID, "D0002", actor="ops1", detail="screen broken")

    status, body = await beat(device, place=SHOP_AP)
    assert (status, code(body)) == (403, "device_not_installed")
    replacement = await storage.get_device("D0002")
    assert (replacement.lifecycle, replacement.merchant_id, replacement.store_name) == (
        "installed", MERCHANT_ID, "Tea House, Nanjing Rd")
    status, body = await activate(device.client, await issue_activation_code(storage, "D0002", 3600),
                                  hardware_id="a4cf12000002")
    assert status == 200
    assert body["store_name"] == "Tea House, Nanjing Rd"
    new = type(device)(device.client, "D0002", body["device_key"])
    assert (await beat(new, hardware_id="a4cf12000002", place=SHOP_AP))[0] == 200   # the store's place came along
    status, body = await new.call("info", {}, hardware_id="a4cf12000002", boot_id="boot0001")
    assert (status, body["store_name"]) == (200, "Tea House, Nanjing Rd")

    old_events = await devices.history(storage, DEVICE_ID)
    assert (old_events[0].kind, old_events[0].other_device_id, old_events[0].to_lifecycle) == (
        "swapped_out", "D0002", "in_stock")
    # The old one back from stock cannot be activated until it is assigned again.
    try:
        await issue_activation_code(storage, DEVICE_ID, 3600)
    except ValueError as e:
        assert "in stock" in str(e)
    else:
        raise AssertionError("an in-stock device got an activation code")


async def test_a_swap_needs_a_replacement_in_stock_and_changes_nothing_otherwise(device, other_device):
    storage = device.app[STORAGE]
    await other_device("D0002")                                     # installed elsewhere, not in stock
    try:
        await devices.swap(storage, DEVICE_ID, "D0002", actor="ops1")
    except devices.LifecycleRefused as e:
        assert "must be in stock" in str(e)
    else:
        raise AssertionError("swapped in a device that was not in stock")
    assert (await beat(device))[0] == 200
    assert (await storage.get_device("D0002")).lifecycle == "installed"
    assert [e.kind for e in await devices.history(storage, DEVICE_ID)] == ["booted"]


async def test_swapped_out_for_good_is_decommissioned(device):
    storage = device.app[STORAGE]
    await in_stock(device, "D0002")
    await devices.swap(storage, DEVICE_ID, "D0002", actor="ops1", old_to="decommissioned")
    status, body = await beat(device)
    assert (status, code(body)) == (403, "device_decommissioned")


async def test_lifecycle_steps_in_order_and_a_device_not_installed_is_refused(device):
    storage = device.app[STORAGE]
    await in_stock(device, "D0002")
    await devices.assign(storage, "D0002", MERCHANT_ID, "Tea House, Huaihai Rd", actor="ops1")
    status, body = await activate(device.client, await issue_activation_code(storage, "D0002", 3600),
                                  place=ELSEWHERE)                  # activated at the warehouse
    assert status == 200
    assigned = type(device)(device.client, "D0002", body["device_key"])
    status, body = await assigned.call("info", {})
    assert (status, code(body)) == (403, "device_not_installed")
    await devices.install(storage, "D0002", actor="tech7")
    status, body = await assigned.call("info", {})
    assert (status, body["store_name"]) == (200, "Tea House, Huaihai Rd")
    # The store is bound by the first report after install, not by where it was activated.
    assert (await beat(assigned, place=SHOP_AP))[0] == 200
    status, body = await beat(assigned, place=ELSEWHERE)
    assert (status, code(body)) == (403, "device_moved")
    await devices.clear_flag(storage, "D0002", actor="ops1")
    try:
        await devices.assign(storage, "D0002", MERCHANT_ID, "Elsewhere", actor="ops1")
    except devices.LifecycleRefused as e:
        assert "only a device in stock" in str(e)
    else:
        raise AssertionError("assigned an installed device")
    kinds = [e.kind for e in reversed(await devices.history(storage, "D0002"))]
    assert kinds == ["returned_to_stock", "assigned", "activated", "installed", "booted", "flagged", "flag_cleared"]


def test_a_clone_window_shorter_than_a_signed_request_lives_is_refused():
    with pytest.raises(SettingsError, match="clone_window_s"):
        load_settings(device_api={"clone_window_s": 60})
    assert load_settings().device_api.clone_window_s == 86_400


async def test_two_operators_swapping_the_same_device_at_once_only_one_wins(device):
    storage = device.app[STORAGE]
    await in_stock(device, "S1")
    await in_stock(device, "S2")
    results = await asyncio.gather(devices.swap(storage, DEVICE_ID, "S1", actor="ops1"),
                                   devices.swap(storage, DEVICE_ID, "S2", actor="ops2"), return_exceptions=True)
    assert sorted(type(r).__name__ for r in results) == ["LifecycleRefused", "NoneType"]
    lifecycles = {d: (await storage.get_device(d)).lifecycle for d in (DEVICE_ID, "S1", "S2")}
    assert lifecycles[DEVICE_ID] == "in_stock"
    assert sorted([lifecycles["S1"], lifecycles["S2"]]) == ["in_stock", "installed"]
    assert [e.kind for e in await devices.history(storage, DEVICE_ID)].count("swapped_out") == 1


async def test_text_with_control_characters_is_refused_in_inspections_and_store_names(device):
    """PostgreSQL refuses a NUL in text: such input is the operator's mistake, refused as such, not a 500."""
    storage = device.app[STORAGE]
    for notes, inspector in (("shelf\x00left", "ops1"), ("ok", "ops\x001"), ("ok", "\x1b[2J")):
        with pytest.raises(devices.LifecycleRefused):
            await devices.add_inspection(storage, DEVICE_ID, inspected_on="2026-12-01", inspector=inspector,
                                         result="ok", notes=notes, actor="ops1")
    kept = await devices.add_inspection(storage, DEVICE_ID, inspected_on="2026-12-01", inspector="王工",
                                        result="ok", notes="柜台左侧\n电源正常", actor="ops1")
    assert kept.notes == "柜台左侧\n电源正常"
    await devices.return_to_stock(storage, DEVICE_ID, actor="ops1")
    with pytest.raises(devices.LifecycleRefused):
        await devices.assign(storage, DEVICE_ID, MERCHANT_ID, "Tea\x00House", actor="ops1")


async def test_a_second_device_at_the_store_is_held_to_the_stores_place(device, other_device):
    # The place is the store's (stores.place): a box added at the same till later is not free to be
    # elsewhere just because it has reported nothing yet.
    assert (await beat(device, place=SHOP_AP))[0] == 200
    second = await other_device("D0002")
    status, body = await beat(second, place=ELSEWHERE)
    assert (status, code(body)) == (403, "device_moved")
    third = await other_device("D0003")
    assert (await beat(third, place={"bssid": "a4:56:02:11:22:31"}))[0] == 200   # same router, other radio
