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
from .storage import DEVICE_ACTIVE

log = logging.getLogger(__name__)

RUNNING, FINAL_STAGE, COMPLETE, STOPPED = "running", "final_stage", "complete", "stopped"
ACTIVE = (RUNNING, FINAL_STAGE)     # devices still settling: the threshold applies, stop() works
OFFERED, INSTALLING, UPDATED, FAILED, ROLLED_BACK, WITHDRAWN = (
    "offered", "installing", "updated", "failed", "rolled_back", "withdrawn")
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
    await storage.sql.execute("UPDATE devices SET profile = ?, device_group = ? WHERE id = ?",
                              (profile, group, device_id))


async def set_device_group(storage, device_id: str, group: str | None) -> bool:
    return await storage.sql.execute("UPDATE devices SET device_group = ? WHERE id = ?", (group, device_id)) == 1


async def get_release(storage, profile: str, version: str) -> dict[str, Any] | None:
    return await storage.sql.fetchone(
        "SELECT profile, version, manifest_sha256, signature, created_at FROM firmware_releases"
        " WHERE profile = ? AND version = ?", (profile, version))


async def add_release(storage, profile: str, version: str, manifest_sha256: str, signature: str) -> bool:
    return await storage.sql.execute(
        "INSERT INTO firmware_releases (profile, version, manifest_sha256, signature, created_at)"
        " VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
        (profile, version, manifest_sha256, signature, now_ms())) == 1


# rollouts

async def create_rollout(storage, profile: str, version: str, failure_threshold: float, min_settled: int) -> str:
    rollout_id = "R" + new_id()
    await storage.sql.execute(
        "INSERT INTO rollouts (id, profile, version, failure_threshold, min_settled, state, created_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?)",
        (rollout_id, profile, version, failure_threshold, min_settled, RUNNING, now_ms()))
    return rollout_id


_ROLLOUT_COLUMNS = ("id, profile, version, failure_threshold, min_settled, state, stages, reason, created_at,"
                    " stopped_at")


async def get_rollout(storage, rollout_id: str) -> dict[str, Any] | None:
    return await storage.sql.fetchone(f"SELECT {_ROLLOUT_COLUMNS} FROM rollouts WHERE id = ?", (rollout_id,))


async def list_rollouts(storage, limit: int = 1000) -> list[dict[str, Any]]:
    """Newest first."""
    return await storage.sql.fetchall(
        f"SELECT {_ROLLOUT_COLUMNS} FROM rollouts ORDER BY created_at DESC, id DESC LIMIT ?", (limit,))


async def add_stage(storage, rollout: dict[str, Any], *, share: float | None, groups: list[str] | None,
                    public_url: str, url_ttl_s: int, last: bool = False) -> int:
    """Offer the build to the stage's devices not offered it yet; how many were. `last`: no stage
    follows, the rollout completes once its devices have all settled."""
    release = await get_release(storage, rollout["profile"], rollout["version"])
    devices = await storage.sql.fetchall(
        "SELECT id, device_key, device_group FROM devices WHERE profile = ? AND status = ? ORDER BY id",
        (rollout["profile"], DEVICE_ACTIVE))
    offered = {row["device_id"] for row in await storage.sql.fetchall(
        "SELECT device_id FROM rollout_devices WHERE rollout_id = ?", (rollout["id"],))}
    if groups is not None:
        chosen = [d for d in devices if d["device_group"] in groups and d["id"] not in offered]
    else:
        target = math.ceil(round(share * len(devices), 9))
        chosen = [d for d in devices if d["id"] not in offered][:max(target - len(offered), 0)]
    now = now_ms()
    expires = now // 1000 + url_ttl_s
    async with storage.transaction() as tx:
        if not await tx.execute("UPDATE rollouts SET stages = stages + 1, state = ? WHERE id = ? AND state = ?",
                                (FINAL_STAGE if last else RUNNING, rollout["id"], RUNNING)):
            raise RolloutError("rollout_not_running", f"rollout {rollout['id']} takes no more stages")
        stage = (await tx.fetchone("SELECT stages FROM rollouts WHERE id = ?", (rollout["id"],)))["stages"]
        count = 0
        for device in chosen:
            command_id = new_id()
            # ON CONFLICT: a stage added at the same time offered this device already
            if not await tx.execute(
                    "INSERT INTO rollout_devices (rollout_id, device_id, stage, command_id, status, updated_at)"
                    " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                    (rollout["id"], device["id"], stage, command_id, OFFERED, now)):
                continue
            count += 1
            args = {"version": rollout["version"], "sha256": release["manifest_sha256"],
                    "signature": release["signature"], "rollout": rollout["id"],
                    "url": firmware_url(public_url, device["id"], device["device_key"], rollout["profile"],
                                        rollout["version"], expires)}
            await tx.execute(
                "INSERT INTO device_commands (id, device_id, kind, args, created_at) VALUES (?, ?, ?, ?, ?)",
                (command_id, device["id"], "update_firmware", _json(args), now))
    if last:
        await check_complete(storage, rollout["id"])     # nothing left to offer, or all settled already
    return count


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


async def status(storage, rollout: dict[str, Any]) -> dict[str, Any]:
    rows = await storage.sql.fetchall(
        "SELECT stage, status, COUNT(*) AS n FROM rollout_devices WHERE rollout_id = ? GROUP BY stage, status",
        (rollout["id"],))
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
    now = now_ms()
    async with storage.transaction() as tx:
        if not await tx.execute("UPDATE rollouts SET state = ?, reason = ?, stopped_at = ? WHERE id = ?"
                                " AND state IN (?, ?)", (STOPPED, reason, now, rollout_id, *ACTIVE)):
            return False
        for row in await tx.fetchall(
                "SELECT device_id, command_id FROM rollout_devices WHERE rollout_id = ? AND status = ?",
                (rollout_id, OFFERED)):
            # a command the device has not acknowledged is withdrawn; one it took goes on and is counted
            if await tx.execute("UPDATE device_commands SET acked_at = ? WHERE id = ? AND acked_at IS NULL",
                                (now, row["command_id"])):
                await tx.execute("UPDATE rollout_devices SET status = ?, updated_at = ? WHERE rollout_id = ?"
                                 " AND device_id = ?", (WITHDRAWN, now, rollout_id, row["device_id"]))
    log.warning("rollout %s stopped: %s", rollout_id, reason)
    return True


# what devices report

async def _device_row(storage, device_id: str, version: str) -> dict[str, Any] | None:
    return await storage.sql.fetchone(
        "SELECT rd.rollout_id, rd.status FROM rollout_devices rd JOIN rollouts r ON r.id = rd.rollout_id"
        " WHERE rd.device_id = ? AND r.version = ? AND rd.status <> ? ORDER BY r.created_at DESC LIMIT 1",
        (device_id, version, WITHDRAWN))


async def record_step(storage, device_id: str, version: str, step: str, detail: str | None) -> bool:
    """An OTA step the device reports; False when the device has no offer of that version."""
    row = await _device_row(storage, device_id, version)
    if row is None:
        return False
    new = STEPS[step]
    allowed = (OFFERED, INSTALLING, UPDATED) if new == ROLLED_BACK else (OFFERED, INSTALLING)
    placeholders = ", ".join("?" * len(allowed))
    await storage.sql.execute(
        f"UPDATE rollout_devices SET status = ?, last_step = ?, detail = ?, updated_at = ? WHERE rollout_id = ?"
        f" AND device_id = ? AND status IN ({placeholders})",
        (new, step, (detail or "")[:200] or None, now_ms(), row["rollout_id"], device_id, *allowed))
    if new in (FAILED, ROLLED_BACK):
        await check_threshold(storage, row["rollout_id"])
    if new != INSTALLING:
        await check_complete(storage, row["rollout_id"])
    return True


async def record_firmware(storage, device_id: str, version: str) -> None:
    """The heartbeat's firmware version: a device running the offered version has updated."""
    row = await _device_row(storage, device_id, version)
    if row is not None and row["status"] in (OFFERED, INSTALLING):
        await storage.sql.execute(
            "UPDATE rollout_devices SET status = ?, last_step = ?, updated_at = ? WHERE rollout_id = ?"
            " AND device_id = ? AND status IN (?, ?)",
            (UPDATED, "confirmed", now_ms(), row["rollout_id"], device_id, OFFERED, INSTALLING))
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
    # one conditional update: a device settling at the same moment cannot complete it twice or too early
    return await storage.sql.execute(
        "UPDATE rollouts SET state = ?, stopped_at = ? WHERE id = ? AND state = ? AND NOT EXISTS"
        " (SELECT 1 FROM rollout_devices WHERE rollout_id = ? AND status IN (?, ?))",
        (COMPLETE, now_ms(), rollout_id, FINAL_STAGE, rollout_id, OFFERED, INSTALLING)) == 1
