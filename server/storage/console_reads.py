"""The SQL of the console's read models (order searches, summaries, the devices and merchants it lists): a part
of SqlStorage (sql.py), written once for SQLite and PostgreSQL.

Every order query takes a merchant scope (`merchant_id`; None: an operator, every merchant) and applies it
in SQL, never after.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .records import DEVICE_ACTIVE, Order, field_names, from_row

if TYPE_CHECKING:
    from .sql import Sql

# An order belongs to the merchant it was taken for (orders.merchant_id), even if its device moved later;
# orders from before that column existed fall back to their device's merchant.
_ORDER_MERCHANT = "COALESCE(o.merchant_id, d.merchant_id)"
_ORDER_SELECT = (f"SELECT {', '.join('o.' + c for c in field_names(Order))}, d.store_name AS store_name"
                 " FROM orders o JOIN devices d ON d.id = o.device_id")
_PAID = "o.status IN ('SUCCESS', 'REFUNDED')"
_PAID_WITHIN_MS = 3_600_000   # a payment finishes within an hour of its order (C2B codes: qr_valid_s)
_CHUNK = 500                  # ids per statement (SQLite allows 32,766 parameters)


@dataclass(frozen=True)
class OrderFilter:
    merchant_id: str | None = None      # the merchant scope: None for an operator
    number: str | None = None           # the device's order_no, our trade_no or the channel's number
    since_ms: int | None = None         # created_at >= since_ms
    until_ms: int | None = None         # created_at < until_ms
    device_id: str | None = None
    store_name: str | None = None
    channel: str | None = None
    status: str | None = None


@dataclass(frozen=True)
class OrderRow:
    order: Order
    store_name: str


def _where(f: OrderFilter) -> tuple[str, list[Any]]:
    clauses, args = ["1 = 1"], []
    if f.merchant_id is not None:
        clauses.append(f"{_ORDER_MERCHANT} = ?")
        args.append(f.merchant_id)
    if f.number:
        clauses.append("(o.order_no = ? OR o.trade_no = ? OR o.channel_trade_no = ?)")
        args += [f.number] * 3
    if f.since_ms is not None:
        clauses.append("o.created_at >= ?")
        args.append(f.since_ms)
    if f.until_ms is not None:
        clauses.append("o.created_at < ?")
        args.append(f.until_ms)
    for column, value in (("o.device_id", f.device_id), ("d.store_name", f.store_name),
                          ("o.channel", f.channel), ("o.status", f.status)):
        if value:
            clauses.append(f"{column} = ?")
            args.append(value)
    return " AND ".join(clauses), args


def _order_row(row: dict[str, Any]) -> OrderRow:
    return OrderRow(order=from_row(Order, row), store_name=row["store_name"])


def _marks(values: list) -> str:
    return ", ".join("?" for _ in values)


class ConsoleReads:
    """Methods SqlStorage gets; they use `self.sql`."""

    sql: Sql

    # orders, as the console shows them

    async def search_orders(self, f: OrderFilter, *, offset: int, limit: int) -> list[OrderRow]:
        """The newest first."""
        where, args = _where(f)
        rows = await self.sql.fetchall(
            f"{_ORDER_SELECT} WHERE {where} ORDER BY o.created_at DESC, o.id DESC LIMIT ? OFFSET ?",
            (*args, limit, offset))
        return [_order_row(row) for row in rows]

    async def console_order(self, order_id: str, merchant_id: str | None) -> OrderRow | None:
        """The order, or None when it does not exist or belongs to another merchant (the same answer)."""
        where, args = _where(OrderFilter(merchant_id=merchant_id))
        row = await self.sql.fetchone(
            f"{_ORDER_SELECT} WHERE o.id = ? AND {where}", (order_id, *args))
        return _order_row(row) if row else None

    async def paid_by_day(self, f: OrderFilter) -> list[dict[str, Any]]:
        """Paid orders (SUCCESS or REFUNDED) per China-time day, store and channel: count and fen."""
        where, args = _where(f)
        return await self.sql.fetchall(
            f"SELECT o.day AS day, d.store_name AS store_name, o.channel AS channel, COUNT(*) AS paid_count,"
            f" SUM(o.amount_fen) AS paid_fen FROM orders o JOIN devices d ON d.id = o.device_id"
            f" WHERE {where} AND {_PAID} GROUP BY o.day, d.store_name, o.channel", args)

    async def paid_per_day_and_channel(self, merchant_id: str | None, first_day: int,
                                       last_day: int) -> list[dict[str, Any]]:
        """Paid orders (SUCCESS or REFUNDED) per China-time day (YYYYMMDD) and channel, first_day..last_day."""
        where, args = _where(OrderFilter(merchant_id=merchant_id))
        return await self.sql.fetchall(
            f"SELECT o.day AS day, o.channel AS channel, COUNT(*) AS paid_count, SUM(o.amount_fen) AS paid_fen"
            f" FROM orders o JOIN devices d ON d.id = o.device_id WHERE {where} AND o.day >= ? AND o.day <= ?"
            f" AND {_PAID} GROUP BY o.day, o.channel", (*args, first_day, last_day))

    async def latest_payments(self, merchant_id: str | None, *, limit: int,
                              since_ms: int | None = None) -> list[OrderRow]:
        """The latest paid orders (SUCCESS or REFUNDED) created since `since_ms` (None: ever), the newest first."""
        where, args = _where(OrderFilter(merchant_id=merchant_id, since_ms=since_ms))
        rows = await self.sql.fetchall(
            f"{_ORDER_SELECT} WHERE {where} AND {_PAID} ORDER BY o.created_at DESC, o.id DESC LIMIT ?",
            (*args, limit))
        return [_order_row(row) for row in rows]

    async def paid_since(self, merchant_id: str | None, after_ms: int, *, limit: int) -> list[OrderRow]:
        """Orders paid (SUCCESS) after `after_ms`, oldest first; looked for among the orders of the last hour
        before it (the created_at index)."""
        where, args = _where(OrderFilter(merchant_id=merchant_id, since_ms=after_ms - _PAID_WITHIN_MS))
        rows = await self.sql.fetchall(
            f"{_ORDER_SELECT} WHERE {where} AND o.status = 'SUCCESS' AND o.finished_at > ?"
            f" ORDER BY o.finished_at, o.id LIMIT ?", (*args, after_ms, limit))
        return [_order_row(row) for row in rows]

    async def refunds_done(self, merchant_id: str | None, since_ms: int | None, until_ms: int | None,
                           store_name: str | None, channel: str | None) -> list[dict[str, Any]]:
        """Refunds that succeeded in the time range (by when they finished), with their order's store and channel."""
        where, args = _where(OrderFilter(merchant_id=merchant_id, store_name=store_name, channel=channel))
        if since_ms is not None:
            where += " AND r.finished_at >= ?"
            args.append(since_ms)
        if until_ms is not None:
            where += " AND r.finished_at < ?"
            args.append(until_ms)
        return await self.sql.fetchall(
            f"SELECT r.amount_fen AS amount_fen, r.finished_at AS finished_at, d.store_name AS store_name,"
            f" o.channel AS channel, r.created_at AS created_at, r.refund_no AS refund_no,"
            f" r.refund_trade_no AS refund_trade_no, r.channel_refund_no AS channel_refund_no, r.reason AS reason,"
            f" o.order_no AS order_no, o.trade_no AS trade_no, o.device_id AS device_id,"
            f" {_ORDER_MERCHANT} AS merchant_id FROM refunds r JOIN orders o ON o.id = r.order_id"
            f" JOIN devices d ON d.id = o.device_id WHERE r.status = 'SUCCESS' AND {where}"
            f" ORDER BY r.finished_at, r.id", args)

    async def merchant_trades(self, merchant_id: str, trade_nos: list[str]) -> set[str]:
        """Which of the trade_nos are orders of the merchant."""
        mine: set[str] = set()
        for start in range(0, len(trade_nos), _CHUNK):
            chunk = trade_nos[start:start + _CHUNK]
            rows = await self.sql.fetchall(
                f"SELECT trade_no FROM orders WHERE merchant_id = ? AND trade_no IN ({_marks(chunk)})",
                (merchant_id, *chunk))
            mine |= {row["trade_no"] for row in rows}
        return mine

    # the devices and merchants a user may choose from

    async def merchant_devices(self, merchant_id: str | None) -> list[dict[str, Any]]:
        """Devices (id, store) the user may filter by."""
        if merchant_id is None:
            return await self.sql.fetchall(
                "SELECT id, store_name, merchant_id FROM devices ORDER BY id")
        return await self.sql.fetchall(
            "SELECT id, store_name, merchant_id FROM devices WHERE merchant_id = ? ORDER BY id", (merchant_id,))

    async def merchant_has_orders_on(self, merchant_id: str, *, device_id: str | None = None,
                                     store_name: str | None = None) -> bool:
        """Whether the merchant owns the device or store now, or took orders on it before (a device moved on)."""
        if device_id is not None:
            row = await self.sql.fetchone(
                "SELECT 1 AS one FROM devices WHERE id = ? AND merchant_id = ?"
                " UNION SELECT 1 AS one FROM orders WHERE device_id = ? AND merchant_id = ?",
                (device_id, merchant_id, device_id, merchant_id))
        else:
            row = await self.sql.fetchone(
                "SELECT 1 AS one FROM devices WHERE store_name = ? AND merchant_id = ?", (store_name, merchant_id))
        return row is not None

    async def cashier_devices(self, merchant_id: str | None) -> list[dict[str, Any]]:
        """The active devices (id, store_name, merchant_id, merchant_name) of the merchant, or (None) of every
        merchant, by merchant name, store and id."""
        sql = ("SELECT d.id AS id, d.store_name AS store_name, d.merchant_id AS merchant_id, m.name AS merchant_name"
               " FROM devices d JOIN merchants m ON m.id = d.merchant_id WHERE d.status = ?")
        args: tuple = (DEVICE_ACTIVE,)
        if merchant_id is not None:
            sql += " AND d.merchant_id = ?"
            args += (merchant_id,)
        return await self.sql.fetchall(sql + " ORDER BY m.name, d.store_name, d.id", args)

    async def merchant_list(self) -> list[dict[str, Any]]:
        """Every merchant's id and name, by id."""
        return await self.sql.fetchall("SELECT id, name FROM merchants ORDER BY id")

    async def merchant_names_of(self, merchant_ids: set[str]) -> dict[str, str]:
        """id -> name of the given merchants."""
        names: dict[str, str] = {}
        ids = sorted(merchant_ids)
        for start in range(0, len(ids), _CHUNK):
            chunk = ids[start:start + _CHUNK]
            rows = await self.sql.fetchall(
                f"SELECT id, name FROM merchants WHERE id IN ({_marks(chunk)})", chunk)
            names.update({row["id"]: row["name"] for row in rows})
        return names
