"""The SQL of monitoring and alerts: the figures server/monitoring.py reads and the `alerts` table
server/alerts.py keeps; a part of SqlStorage (sql.py), written once for SQLite and PostgreSQL.

Every figure can be narrowed to one merchant (`merchant_id`; None: every merchant), in SQL. Payments are
orders that reached a channel (`channel <> ''`: a C2B code nobody opened is not a payment).
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from . import sql as core   # it imports this module: its names are looked up when a method runs
from .records import DEVICE_ACTIVE, PAYING, REFUND_PENDING

if TYPE_CHECKING:
    from .sql import Sql

_ALERT_COLUMNS = "id, rule, subject, message, raised_at, cleared_at, clear_note, message_zh"


def _scope(merchant_id: str | None, column: str = "merchant_id") -> tuple[str, tuple[Any, ...]]:
    return ("", ()) if merchant_id is None else (f" AND {column} = ?", (merchant_id,))


class MonitoringStore:
    """Methods SqlStorage gets; they use `self.sql`."""

    sql: Sql

    # figures

    async def payment_outcomes(self, since: int, until: int, merchant_id: str | None) -> list[dict[str, Any]]:
        """Payments created in [since, until) counted (n) per channel, status, reason and payer_waited: 1 when
        the channel answered WAITING about it at least once (the payer was asked to confirm)."""
        scope, args = _scope(merchant_id)
        return await self.sql.fetchall(
            "SELECT channel, status, reason, CASE WHEN reason = 'timeout' AND EXISTS (SELECT 1 FROM order_events e"
            " WHERE e.order_id = orders.id AND e.kind IN ('pay:WAITING', 'query:WAITING')) THEN 1 ELSE 0 END"
            " AS payer_waited, COUNT(*) AS n FROM orders WHERE created_at >= ? AND created_at < ?"
            f" AND channel <> ''{scope} GROUP BY 1, 2, 3, 4", (since, until, *args))

    async def payments_by_slot(self, first: int, slot_ms: int, until: int,
                               merchant_id: str | None) -> list[dict[str, Any]]:
        """Payments created in [first, until] counted (n) per status and slot: the whole `slot_ms` since `first`."""
        scope, args = _scope(merchant_id)
        # Integer division on both databases: BIGINT / BIGINT truncates in PostgreSQL as in SQLite.
        return await self.sql.fetchall(
            "SELECT (created_at - ?) / ? AS slot, status, COUNT(*) AS n FROM orders"
            f" WHERE created_at >= ? AND created_at <= ? AND channel <> ''{scope} GROUP BY 1, status",
            (first, slot_ms, first, until, *args))

    async def active_devices_seen(self, merchant_id: str | None) -> list[dict[str, Any]]:
        """Active devices (id, merchant_id, store_name, last_seen_at, firmware, activated_at), by id."""
        scope, args = _scope(merchant_id)
        return await self.sql.fetchall(
            "SELECT id, merchant_id, store_name, last_seen_at, firmware, activated_at FROM devices"
            f" WHERE status = ?{scope} ORDER BY id", (DEVICE_ACTIVE, *args))

    async def unfinished_work(self, merchant_id: str | None) -> tuple[dict[str, Any], dict[str, Any]]:
        """Orders PAYING and refunds PENDING: each's count (n) and oldest creation time (oldest, or None)."""
        scope, args = _scope(merchant_id)
        orders = await core.fetch_row(
            self.sql, f"SELECT COUNT(*) AS n, MIN(created_at) AS oldest FROM orders WHERE status = ?{scope}",
            (PAYING, *args))
        refund_scope, refund_args = _scope(merchant_id, "o.merchant_id")
        refunds = await core.fetch_row(
            self.sql, "SELECT COUNT(*) AS n, MIN(r.created_at) AS oldest FROM refunds r"
            f" JOIN orders o ON o.id = r.order_id WHERE r.status = ?{refund_scope}", (REFUND_PENDING, *refund_args))
        return orders, refunds

    # alerts: one open row per rule and subject (a unique index), so processes judging at once raise it once

    async def open_alerts(self) -> list[dict[str, Any]]:
        """The oldest first."""
        return await self.sql.fetchall(
            f"SELECT {_ALERT_COLUMNS} FROM alerts WHERE cleared_at IS NULL ORDER BY raised_at, id")

    async def alert_history(self, limit: int) -> list[dict[str, Any]]:
        """The latest alerts, open or cleared, newest first."""
        return await self.sql.fetchall(
            f"SELECT {_ALERT_COLUMNS} FROM alerts ORDER BY raised_at DESC, id DESC LIMIT ?", (limit,))

    async def raise_alert(self, alert_id: str, rule: str, subject: str, message: str, message_zh: str,
                          now: int) -> bool:
        """False when the rule's alert about the subject is open already."""
        return await self.sql.execute(
            "INSERT INTO alerts (id, rule, subject, message, message_zh, raised_at) VALUES (?, ?, ?, ?, ?, ?)"
            " ON CONFLICT DO NOTHING", (alert_id, rule, subject, message, message_zh, now)) == 1

    async def restate_alert(self, alert_id: str, message: str, message_zh: str) -> None:
        """New words for an alert while it is open."""
        await self.sql.execute(
            "UPDATE alerts SET message = ?, message_zh = ? WHERE id = ? AND cleared_at IS NULL",
            (message, message_zh, alert_id))

    async def clear_alert(self, alert_id: str, now: int, note: str) -> bool:
        """False when it was closed already."""
        return await self.sql.execute(
            "UPDATE alerts SET cleared_at = ?, clear_note = ? WHERE id = ? AND cleared_at IS NULL",
            (now, note, alert_id)) == 1
