"""How the console shows values: money, China time, and the names of statuses, channels and kinds.

One way for every page: money is `¥1,288.00` (a refund `-¥12.50`) from integer fen, times are China time,
and a stored code (`SUCCESS`, `in_stock`, `wechat`) is shown by its name in the reader's language, from the
tables below (English msgids marked N_, Chinese in the catalog; docs/console.md, "Languages"). The code
itself stays in `data-*` attributes, for scripts and tests.
"""
from __future__ import annotations

import datetime

from ..days import CHINA
from ..refusals import N_


def money(fen: int | None) -> str:
    """Integer fen as yuan with the sign in front: 128800 -> "¥1,288.00", -1250 -> "-¥12.50" (no float)."""
    if fen is None:
        return "-"
    sign = "-" if fen < 0 else ""
    fen = abs(int(fen))
    return f"{sign}¥{fen // 100:,}.{fen % 100:02d}"


def china_time(at_ms: int | None, fmt: str = "%Y-%m-%d %H:%M:%S") -> str:
    if at_ms is None:
        return "-"
    return datetime.datetime.fromtimestamp(at_ms / 1000, CHINA).strftime(fmt)


# value -> English name (msgid); a value not in its table is shown as it is.
TABLES: dict[str, dict[str, str]] = {
    "order_status": {"PAYING": N_("paying"), "SUCCESS": N_("paid"), "FAILED": N_("payment failed"),
                     "CLOSED": N_("closed"), "REFUNDED": N_("refunded"), "PARTLY_REFUNDED": N_("partly refunded")},
    "refund_status": {"PENDING": N_("refund pending"), "SUCCESS": N_("refunded"), "FAILED": N_("refund failed")},
    # What a channel answered when asked (server/channels Outcome), on the order page after "Sync status".
    "outcome": {"SUCCESS": N_("paid"), "WAITING": N_("waiting for the payer"), "FAILED": N_("not paid"),
                "UNKNOWN": N_("no clear answer"), "none": N_("nothing new")},
    "channel": {"wechat": N_("WeChat Pay"), "alipay": N_("Alipay"), "unionpay": N_("UnionPay QuickPass")},
    "kind": {"b2c": N_("payment code"), "c2b": N_("QR code")},
    "lifecycle": {"in_stock": N_("in stock"), "assigned": N_("assigned"), "installed": N_("installed"),
                  "decommissioned": N_("decommissioned")},
    "flag": {"moved": N_("moved"), "cloned": N_("cloned")},
    "key": {"active": N_("activated"), "pending": N_("not activated (needs an activation code)"),
            "disabled": N_("disabled")},
    "flag_reason": {"boot ids interleave": N_("two boot ids take turns"),
                    "hardware id differs": N_("the hardware id differs from the one bound"),
                    "identity headers missing": N_("identity headers missing"),
                    "reported a place away from its store": N_("reported a place away from its store"),
                    "two boot ids at the same time": N_("two boot ids at the same time")},
    # who did a device's step when it was no console user
    "actor": {"device": N_("the device"), "device api": N_("the device API"), "cli": N_("command line")},
    "inspection": {"ok": N_("ok"), "defect": N_("defect"), "missing": N_("missing")},
    "device_event": {"received": N_("received"), "assigned": N_("assigned"), "installed": N_("installed"),
                     "activated": N_("activated"), "booted": N_("booted"), "swapped_out": N_("swapped out"),
                     "swapped_in": N_("swapped in"), "returned_to_stock": N_("returned to stock"),
                     "decommissioned": N_("decommissioned"), "flagged": N_("flagged"),
                     "flag_cleared": N_("flag cleared"), "activation_code": N_("activation code issued"),
                     "inspected": N_("inspected")},
    "rollout_state": {"running": N_("running"), "final_stage": N_("last stage out"), "complete": N_("complete"),
                      "stopped": N_("stopped")},
    "rollout_device": {"offered": N_("offered"), "installing": N_("installing"), "updated": N_("updated"),
                       "failed": N_("failed"), "rolled_back": N_("rolled back"), "withdrawn": N_("withdrawn")},
    "alert_rule": {"success_rate": N_("success rate"), "devices_offline": N_("devices offline"),
                   "backlog": N_("resolver backlog"),
                   "resolver_lag": N_("resolver lag"), "refund_refused": N_("refunds refused")},
    "difference": {"missing_in_orders": N_("missing in our orders"), "missing_in_bill": N_("missing in the bill"),
                   "status": N_("status differs"), "amount": N_("amount differs"),
                   "refund_missing_in_orders": N_("refund missing in our records"),
                   "refund_missing_in_bill": N_("refund missing in the bill"),
                   "refund_amount": N_("refund amount differs"),
                   "fee": N_("fee differs"), "refund_fee": N_("refund fee differs"),
                   "summary_count": N_("bill summary: count differs"), "summary_paid": N_("bill summary: paid differs"),
                   "summary_refunded": N_("bill summary: refunded differs"),
                   "summary_net": N_("bill summary: net differs"), "summary_fee": N_("bill summary: fees differ")},
    "role": {"operator": N_("operator"), "merchant": N_("merchant")},
}


def label(gettext, table: str, value: object) -> str:
    """`value`'s name from TABLES[table] in the language of `gettext`; an unknown value as it is."""
    if value is None or value == "":
        return "-"
    name = TABLES[table].get(str(value))
    return gettext(name) if name is not None else str(value)


def order_status(order) -> str:
    """An order's status for the label table: a paid order partly refunded is shown so."""
    if order.status == "SUCCESS" and getattr(order, "refunded_fen", 0):
        return "PARTLY_REFUNDED"
    return order.status
