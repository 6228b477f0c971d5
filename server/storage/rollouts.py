"""The SQL of firmware rollouts: a part of SqlStorage (sql.py), written once for SQLite and PostgreSQL.

The rules (which devices a stage takes, when a rollout stops) are server/rollouts.py's; these methods
read and change the rows, every state change conditional on the state it leaves.
"""
from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from . import sql as core   # it imports this module: its names are looked up when a method runs
from .records import DEVICE_ACTIVE

if TYPE_CHECKING:
    from .sql import Sql

# A rollout's states and its devices' (the rules: server/rollouts.py).
RUNNING, FINAL_STAGE, COMPLETE, STOPPED = "running", "final_stage", "complete", "stopped"
ACTIVE = (RUNNING, FINAL_STAGE)     # devices still settling: the threshold applies, stop() works
OFFERED, INSTALLING, UPDATED, FAILED, ROLLED_BACK, WITHDRAWN = (
    "offered", "installing", "updated", "failed", "rolled_back", "withdrawn")

_ROLLOUT_COLUMNS = ("id, profile, version, failure_threshold, min_settled, state, stages, reason, created_at,"
                    " stopped_at")


_UNCHANGED = object()


def _marks(values: tuple) -> str:
    return ", ".join("?" for _ in values)


class RolloutStore:
    """Methods SqlStorage gets; they use `self.sql` and `self.transaction()`."""

    sql: Sql
    transaction: Callable[[], contextlib.AbstractAsyncContextManager[Sql]]

    # devices and releases

    async def set_device_profile(self, device_id: str, profile: str, group: str | None) -> None:
        await self.sql.execute(
            "UPDATE devices SET profile = ?, device_group = ? WHERE id = ?", (profile, group, device_id))

    async def set_device_group(self, device_id: str, group: str | None) -> bool:
        return await self.sql.execute(
            "UPDATE devices SET device_group = ? WHERE id = ?", (group, device_id)) == 1

    async def get_release(self, profile: str, version: str) -> dict[str, Any] | None:
        return await self.sql.fetchone(
            "SELECT profile, version, manifest_sha256, signature, created_at FROM firmware_releases"
            " WHERE profile = ? AND version = ?", (profile, version))

    async def add_release(self, profile: str, version: str, manifest_sha256: str, signature: str, now: int) -> bool:
        """False when the profile has that version already."""
        return await self.sql.execute(
            "INSERT INTO firmware_releases (profile, version, manifest_sha256, signature, created_at)"
            " VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
            (profile, version, manifest_sha256, signature, now)) == 1

    async def published_releases(self) -> list[dict[str, Any]]:
        """Every release, by profile, the newest first."""
        return await self.sql.fetchall(
            "SELECT profile, version, created_at FROM firmware_releases ORDER BY profile, created_at DESC, version")

    # rollouts

    async def add_rollout(self, rollout_id: str, profile: str, version: str, failure_threshold: float,
                          min_settled: int, now: int) -> None:
        await self.sql.execute(
            "INSERT INTO rollouts (id, profile, version, failure_threshold, min_settled, state, created_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            (rollout_id, profile, version, failure_threshold, min_settled, RUNNING, now))

    async def get_rollout(self, rollout_id: str) -> dict[str, Any] | None:
        return await self.sql.fetchone(
            f"SELECT {_ROLLOUT_COLUMNS} FROM rollouts WHERE id = ?", (rollout_id,))

    async def list_rollouts(self, limit: int) -> list[dict[str, Any]]:
        """Newest first."""
        return await self.sql.fetchall(
            f"SELECT {_ROLLOUT_COLUMNS} FROM rollouts ORDER BY created_at DESC, id DESC LIMIT ?", (limit,))

    async def active_rollout_of(self, profile: str) -> dict[str, Any] | None:
        """The oldest rollout of the profile still running or settling (id and version), if any."""
        return await self.sql.fetchone(
            f"SELECT id, version FROM rollouts WHERE profile = ? AND state IN ({_marks(ACTIVE)})"
            " ORDER BY created_at LIMIT 1", (profile, *ACTIVE))

    async def stage_candidates(self, profile: str, rollout_id: str | None) -> tuple[list[dict[str, Any]], set[str]]:
        """The profile's active devices (id, device_key, device_group; by id) and the ids of those the rollout
        offered the build to already (none without a rollout)."""
        devices = await self.sql.fetchall(
            "SELECT id, device_key, device_group FROM devices WHERE profile = ? AND status = ? ORDER BY id",
            (profile, DEVICE_ACTIVE))
        offered: set[str] = set()
        if rollout_id is not None:
            offered = {row["device_id"] for row in await self.sql.fetchall(
                "SELECT device_id FROM rollout_devices WHERE rollout_id = ?", (rollout_id,))}
        return devices, offered

    async def add_rollout_stage(self, rollout_id: str, offers: list[tuple[str, str, str]], *, last: bool,
                                now: int) -> int | None:
        """The next stage of a running rollout: offer each (device id, command id, command args JSON) an
        `update_firmware` command; how many were offered, or None when the rollout takes no more stages."""
        async with self.transaction() as tx:
            if not await tx.execute("UPDATE rollouts SET stages = stages + 1, state = ? WHERE id = ? AND state = ?",
                                    (FINAL_STAGE if last else RUNNING, rollout_id, RUNNING)):
                return None
            # the rollout this transaction has just moved on a stage
            stage = (await core.fetch_row(tx, "SELECT stages FROM rollouts WHERE id = ?", (rollout_id,)))["stages"]
            count = 0
            for device_id, command_id, args in offers:
                # ON CONFLICT: a stage added at the same time offered this device already
                if not await tx.execute(
                        "INSERT INTO rollout_devices (rollout_id, device_id, stage, command_id, status, updated_at)"
                        " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                        (rollout_id, device_id, stage, command_id, OFFERED, now)):
                    continue
                count += 1
                await tx.execute(
                    "INSERT INTO device_commands (id, device_id, kind, args, created_at) VALUES (?, ?, ?, ?, ?)",
                    (command_id, device_id, "update_firmware", args, now))
        return count

    async def rollout_counts(self, rollout_id: str) -> list[dict[str, Any]]:
        """How many of the rollout's devices are in each status, per stage (stage, status, n)."""
        return await self.sql.fetchall(
            "SELECT stage, status, COUNT(*) AS n FROM rollout_devices WHERE rollout_id = ? GROUP BY stage, status",
            (rollout_id,))

    async def rollout_devices(self, rollout_id: str, limit: int) -> list[dict[str, Any]]:
        """The rollout's devices with their store and firmware, by stage."""
        return await self.sql.fetchall(
            "SELECT rd.device_id AS device_id, rd.stage AS stage, rd.status AS status, rd.last_step AS last_step,"
            " rd.detail AS detail, rd.updated_at AS updated_at, d.store_name AS store_name, d.firmware AS firmware"
            " FROM rollout_devices rd JOIN devices d ON d.id = rd.device_id WHERE rd.rollout_id = ?"
            " ORDER BY rd.stage, rd.device_id LIMIT ?", (rollout_id, limit))

    async def stop_rollout(self, rollout_id: str, reason: str, now: int) -> bool:
        """Stop the rollout and withdraw the offers not taken yet; False when it was not active."""
        async with self.transaction() as tx:
            if not await tx.execute("UPDATE rollouts SET state = ?, reason = ?, stopped_at = ? WHERE id = ?"
                                    f" AND state IN ({_marks(ACTIVE)})", (STOPPED, reason, now, rollout_id, *ACTIVE)):
                return False
            for row in await tx.fetchall(
                    "SELECT device_id, command_id FROM rollout_devices WHERE rollout_id = ? AND status = ?",
                    (rollout_id, OFFERED)):
                # a command the device has not acknowledged is withdrawn; one it took goes on and is counted
                if await tx.execute("UPDATE device_commands SET acked_at = ? WHERE id = ? AND acked_at IS NULL",
                                    (now, row["command_id"])):
                    await tx.execute("UPDATE rollout_devices SET status = ?, updated_at = ? WHERE rollout_id = ?"
                                     " AND device_id = ?", (WITHDRAWN, now, rollout_id, row["device_id"]))
        return True

    # what devices report

    async def rollout_offer_of(self, device_id: str, version: str) -> dict[str, Any] | None:
        """The latest offer of `version` to the device not withdrawn (rollout_id, status), if any."""
        return await self.sql.fetchone(
            "SELECT rd.rollout_id, rd.status FROM rollout_devices rd JOIN rollouts r ON r.id = rd.rollout_id"
            " WHERE rd.device_id = ? AND r.version = ? AND rd.status <> ? ORDER BY r.created_at DESC LIMIT 1",
            (device_id, version, WITHDRAWN))

    async def set_rollout_device_status(self, rollout_id: str, device_id: str, status: str, *, step: str,
                                        allowed_from: tuple[str, ...], now: int,
                                        detail: str | None | object = _UNCHANGED) -> bool:
        """Conditional on the status it leaves: False when the device's row is not in one of `allowed_from`.
        `detail` (None clears it) is left as it was unless given."""
        sets, args = "status = ?, last_step = ?, updated_at = ?", [status, step, now]
        if detail is not _UNCHANGED:
            sets += ", detail = ?"
            args.append(detail)
        return await self.sql.execute(
            f"UPDATE rollout_devices SET {sets} WHERE rollout_id = ? AND device_id = ?"
            f" AND status IN ({_marks(allowed_from)})", (*args, rollout_id, device_id, *allowed_from)) == 1

    async def complete_rollout(self, rollout_id: str, now: int) -> bool:
        """A rollout at its final stage whose devices have all settled is complete; True if it just became so."""
        # one conditional update: a device settling at the same moment cannot complete it twice or too early
        return await self.sql.execute(
            "UPDATE rollouts SET state = ?, stopped_at = ? WHERE id = ? AND state = ? AND NOT EXISTS"
            " (SELECT 1 FROM rollout_devices WHERE rollout_id = ? AND status IN (?, ?))",
            (COMPLETE, now, rollout_id, FINAL_STAGE, rollout_id, OFFERED, INSTALLING)) == 1
