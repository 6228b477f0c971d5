"""Published firmware and staged rollouts (the operations API's state; docs/operations.md).

A rollout offers one published build to the devices of its profile, stage by stage (a cumulative share
of the profile's active devices, or named device groups). An offer is an `update_firmware` device command
whose URL is signed for that device (`firmware_url`); the device reports its OTA steps (`ota_report`) and
its heartbeat reports the version it runs. A device row moves offered -> installing -> updated | failed |
rolled_back (withdrawn when the rollout stops first). The rollout stops itself once `min_settled` devices
have settled and (failed + rolled back) / settled passes its failure threshold.

A rollout is `running` while stages may follow; the stage added with `last` makes it `final_stage`, and
once every device offered has settled it is `complete`.
`stopped` (by the threshold or an operator) ends it from either of the first two.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import logging
import math
from typing import Any

from .clock import new_id, now_ms
from .storage.rollouts import (  # noqa: F401  (the states are the rollouts' vocabulary here too)
    ACTIVE, COMPLETE, FAILED, FINAL_STAGE, INSTALLING, OFFERED, ROLLED_BACK, RUNNING, STOPPED, UPDATED, WITHDRAWN,
)

log = logging.getLogger(__name__)

# OTA steps a device reports (firmware/core/ota.py) and the row status each one leads to.
STEPS = {"offer": INSTALLING, "manifest": INSTALLING, "signature": INSTALLING, "download": INSTALLING,
         "verify": INSTALLING, "switch": INSTALLING, "reboot": INSTALLING, "confirmed": UPDATED,
         "failed": FAILED, "rolled_back": ROLLED_BACK}


class RolloutError(Exception):
    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code


# signed firmware URLs

def url_mac(key_hex: str, device_id: str, expires: int, profile: str, version: str) -> str:
    message = f"firmware\n{device_id}\n{expires}\n{profile}\n{version}".encode()
    return hmac.new(bytes.fromhex(key_hex), message, hashlib.sha256).hexdigest()[:32]


def firmware_url(public_url: str, device_id: str, key_hex: str, profile: str, version: str, expires: int) -> str:
    mac = url_mac(key_hex, device_id, expires, profile, version)
    return f"{public_url.rstrip('/')}/d/v1/firmware/{device_id}/{expires}/{mac}/{profile}/{version}/manifest.json"


def url_matches(key_hex: str, device_id: str, expires: int, profile: str, version: str, mac: str) -> bool:
    return bool(key_hex) and hmac.compare_digest(url_mac(key_hex, device_id, expires, profile, version), mac)


# devices and releases

async def set_device_profile(storage, device_id: str, profile: str, group: str | None) -> None:
    await storage.set_device_profile(device_id, profile, group)


async def set_device_group(storage, device_id: str, group: str | None) -> bool:
    return await storage.set_device_group(device_id, group)


async def get_release(storage, profile: str, version: str) -> dict[str, Any] | None:
    return await storage.get_release(profile, version)


async def add_release(storage, profile: str, version: str, manifest_sha256: str, signature: str) -> bool:
    return await storage.add_release(profile, version, manifest_sha256, signature, now_ms())


# rollouts

async def create_rollout(storage, profile: str, version: str, failure_threshold: float, min_settled: int) -> str:
    rollout_id = "R" + new_id()
    await storage.add_rollout(rollout_id, profile, version, failure_threshold, min_settled, now_ms())
    return rollout_id


async def get_rollout(storage, rollout_id: str) -> dict[str, Any] | None:
    return await storage.get_rollout(rollout_id)


async def list_rollouts(storage, limit: int = 1000) -> list[dict[str, Any]]:
    """Newest first."""
    return await storage.list_rollouts(limit)


def stage_devices(devices: list[dict[str, Any]], offered: set[str], *, share: float | None,
                  groups: list[str] | None) -> list[dict[str, Any]]:
    """The devices a stage offers the build to: those of its groups, or enough to bring the offers up to
    `share` of the profile's `devices` (in their order); never one `offered` it already."""
    if groups is not None:
        return [d for d in devices if d["device_group"] in groups and d["id"] not in offered]
    if share is None:
        raise ValueError("a stage names its device groups or a share of the devices")
    target = math.ceil(round(share * len(devices), 9))
    return [d for d in devices if d["id"] not in offered][:max(target - len(offered), 0)]


async def add_stage(storage, rollout: dict[str, Any], *, share: float | None, groups: list[str] | None,
                    public_url: str, url_ttl_s: int, last: bool = False) -> int:
    """Offer the build to the stage's devices not offered it yet; how many were. `last`: no stage
    follows, the rollout completes once its devices have all settled."""
    release = await get_release(storage, rollout["profile"], rollout["version"])
    devices, offered = await storage.stage_candidates(rollout["profile"], rollout["id"])
    now = now_ms()
    expires = now // 1000 + url_ttl_s
    offers = []
    for device in stage_devices(devices, offered, share=share, groups=groups):
        if release is None:     # asked only when there is a device to offer it to
            raise LookupError(f"rollout {rollout['id']}: release {rollout['profile']} {rollout['version']} is gone")
        args = {"version": rollout["version"], "sha256": release["manifest_sha256"],
                "signature": release["signature"], "rollout": rollout["id"],
                "url": firmware_url(public_url, device["id"], device["device_key"], rollout["profile"],
                                    rollout["version"], expires)}
        offers.append((device["id"], new_id(), _json(args)))
    count = await storage.add_rollout_stage(rollout["id"], offers, last=last, now=now)
    if count is None:
        raise RolloutError("rollout_not_running", f"rollout {rollout['id']} takes no more stages")
    if last:
        await check_complete(storage, rollout["id"])     # nothing left to offer, or all settled already
    return count


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


async def status(storage, rollout: dict[str, Any]) -> dict[str, Any]:
    rows = await storage.rollout_counts(rollout["id"])
    stages: dict[int, dict[str, int]] = {
        n: {"stage": n, "offered": 0, INSTALLING: 0, UPDATED: 0, FAILED: 0, ROLLED_BACK: 0, WITHDRAWN: 0}
        for n in range(1, rollout["stages"] + 1)}
    for row in rows:
        counts = stages.setdefault(row["stage"], {"stage": row["stage"], "offered": 0, INSTALLING: 0, UPDATED: 0,
                                                  FAILED: 0, ROLLED_BACK: 0, WITHDRAWN: 0})
        counts["offered"] += row["n"]
        if row["status"] != OFFERED:
            counts[row["status"]] += row["n"]
    total = {key: sum(s[key] for s in stages.values())
             for key in ("offered", INSTALLING, UPDATED, FAILED, ROLLED_BACK, WITHDRAWN)}
    return {"id": rollout["id"], "profile": rollout["profile"], "version": rollout["version"],
            "state": rollout["state"], "reason": rollout["reason"], "failure_threshold": rollout["failure_threshold"],
            **total, "stages": [stages[n] for n in sorted(stages)]}


async def stop(storage, rollout_id: str, reason: str) -> bool:
    """Stop the rollout and withdraw the offers not taken yet; False when it was stopped already."""
    if not await storage.stop_rollout(rollout_id, reason, now_ms()):
        return False
    log.warning("rollout %s stopped: %s", rollout_id, reason)
    return True


# what devices report

async def record_step(storage, device_id: str, version: str, step: str, detail: str | None) -> bool:
    """An OTA step the device reports; False when the device has no offer of that version."""
    row = await storage.rollout_offer_of(device_id, version)
    if row is None:
        return False
    new = STEPS[step]
    allowed = (OFFERED, INSTALLING, UPDATED) if new == ROLLED_BACK else (OFFERED, INSTALLING)
    await storage.set_rollout_device_status(row["rollout_id"], device_id, new, step=step, allowed_from=allowed,
                                            now=now_ms(), detail=(detail or "")[:200] or None)
    if new in (FAILED, ROLLED_BACK):
        await check_threshold(storage, row["rollout_id"])
    if new != INSTALLING:
        await check_complete(storage, row["rollout_id"])
    return True


async def record_firmware(storage, device_id: str, version: str) -> None:
    """The heartbeat's firmware version: a device running the offered version has updated."""
    row = await storage.rollout_offer_of(device_id, version)
    if row is not None and row["status"] in (OFFERED, INSTALLING):
        await storage.set_rollout_device_status(row["rollout_id"], device_id, UPDATED, step="confirmed",
                                                allowed_from=(OFFERED, INSTALLING), now=now_ms())
        await check_complete(storage, row["rollout_id"])


async def check_threshold(storage, rollout_id: str) -> None:
    rollout = await get_rollout(storage, rollout_id)
    if rollout is None or rollout["state"] not in ACTIVE:
        return
    counts = await status(storage, rollout)
    bad = counts[FAILED] + counts[ROLLED_BACK]
    settled = counts[UPDATED] + bad
    if settled >= rollout["min_settled"] and bad / settled > rollout["failure_threshold"]:
        await stop(storage, rollout_id, f"failure rate {100 * bad / settled:.1f}% passed the threshold"
                                        f" {100 * rollout['failure_threshold']:.1f}% ({bad} of {settled} settled)")


async def check_complete(storage, rollout_id: str) -> bool:
    """A rollout at its final stage whose devices have all settled is complete; True if it just became so."""
    return await storage.complete_rollout(rollout_id, now_ms())
