"""The announcements' SQL (migration 0014): each device's numbered list of payments to say in the shop.

Numbers are per device, without gaps, in commit order: taking the next number updates the device's one
cursor row, which holds its lock (PostgreSQL) or the database's (SQLite) until the announcement commits,
so no reader can see number 8 before number 7 exists.
"""
from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from . import sql as core   # it imports this module: its names are looked up when a method runs
from .records import C2B, SUCCESS, Order, field_names, from_row

if TYPE_CHECKING:
    from .sql import Sql


@dataclass(frozen=True)
class Announcement:
    seq: int
    order_no: str
    channel: str
    amount_fen: int
    paid_at: int              # Unix ms: when the server learnt of the payment
    static_code: int          # 1: on the shop's static code


_COLUMNS = ", ".join(field_names(Announcement))


@dataclass(frozen=True)
class AnnouncementPage:
    announcements: list[Announcement]
    last_seq: int             # the device's latest number (0: nothing announced yet)


class AnnouncementStore:
    """Mixed into SqlStorage: `self.sql`, `self.transaction()` and `self.notify_order()` are its."""

    sql: Sql
    transaction: Callable[[], contextlib.AbstractAsyncContextManager[Sql]]
    notify_order: Callable[[Sql, str], Awaitable[None]]

    async def add_announcement(self, order: Order, paid_at: int) -> int | None:
        """Number the payment of `order` for its device: the number, or None when it has one already."""
        async with self.transaction() as tx:
            await tx.execute("INSERT INTO announcement_cursors (device_id, last_seq, acked_seq) VALUES (?, 0, 0)"
                             " ON CONFLICT (device_id) DO NOTHING", (order.device_id,))
            taken = await tx.execute(
                "UPDATE announcement_cursors SET last_seq = last_seq + 1 WHERE device_id = ?"
                " AND NOT EXISTS (SELECT 1 FROM announcements WHERE order_id = ?)", (order.device_id, order.id))
            if taken == 0:
                return None
            row = await core.fetch_row(tx, "SELECT last_seq FROM announcement_cursors WHERE device_id = ?",
                                       (order.device_id,))   # the cursor this transaction has just moved
            seq = int(row["last_seq"])
            await tx.execute(
                "INSERT INTO announcements (device_id, seq, order_id, order_no, channel, amount_fen, paid_at,"
                " static_code) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (order.device_id, seq, order.id, order.order_no, order.channel, order.amount_fen, paid_at,
                 1 if order.static_code else 0))
            # Long polls of the device in other processes wake up (PostgreSQL NOTIFY at commit).
            await self.notify_order(tx, announcement_key(order.device_id))
        return seq

    async def announcements_after(self, device_id: str, after: int, limit: int) -> AnnouncementPage:
        """The device's announcements numbered above `after`, oldest first, at most `limit`."""
        sql = self.sql
        cursor = await sql.fetchone("SELECT last_seq FROM announcement_cursors WHERE device_id = ?", (device_id,))
        rows = await sql.fetchall(f"SELECT {_COLUMNS} FROM announcements WHERE device_id = ? AND seq > ?"
                                  " ORDER BY seq LIMIT ?", (device_id, after, limit))
        return AnnouncementPage([from_row(Announcement, row) for row in rows],
                                int(cursor["last_seq"]) if cursor else 0)

    async def ack_announcements(self, device_id: str, seq: int, at: int) -> None:
        """The device has handled everything up to `seq` (never moves back, never past the last number)."""
        await self.sql.execute(
            "UPDATE announcement_cursors SET acked_seq = ?, acked_at = ? WHERE device_id = ? AND acked_seq < ?"
            " AND last_seq >= ?", (seq, at, device_id, seq, seq))

    async def announcement_cursor(self, device_id: str) -> tuple[int, int]:
        """(last number, acknowledged number) of the device: (0, 0) before its first announcement."""
        row = await self.sql.fetchone(
            "SELECT last_seq, acked_seq FROM announcement_cursors WHERE device_id = ?", (device_id,))
        return (int(row["last_seq"]), int(row["acked_seq"])) if row else (0, 0)

    async def unannounced_payments(self, since: int, until: int) -> list[str]:
        """Ids of C2B payments finished in [since, until) with no announcement (a process stopped between the two)."""
        rows = await self.sql.fetchall(
            "SELECT id FROM orders WHERE kind = ? AND status = ? AND finished_at >= ? AND finished_at < ?"
            " AND NOT EXISTS (SELECT 1 FROM announcements a WHERE a.order_id = orders.id) ORDER BY finished_at",
            (C2B, SUCCESS, since, until))
        return [row["id"] for row in rows]


def announcement_key(device_id: str) -> str:
    """The wake-up key of a device's announcements (beside order ids in server/wakeups.py)."""
    return "announce:" + device_id
