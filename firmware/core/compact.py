# The compact form of the device API (docs/device-api.md, "Compact form"): map keys that are field names
# of the table below travel as their numbers (1 = FIELDS[0], ...), at any depth, in both directions;
# any other key stays text. The table only grows at its end: a number, once given, means its field
# for ever. A number a reader does not know stays a number (a newer server's field an older device
# ignores). The server encodes its compact answers and decodes compact requests with these functions.

CONTENT_TYPE = "application/x-scanpay"

FIELDS = (
    # 1-10: the order object, the pay / query / close fields and every answer's time
    "order", "order_no", "kind", "amount_fen", "channel", "status", "reason", "message", "refunded_fen",
    "created_at",
    # 11-20
    "finished_at", "server_time", "error", "code", "auth_code", "subject", "wait", "refund_no", "refund",
    "orders",
    # 21-30: qr, orders, heartbeat
    "qr_code", "qr_bitmap", "expires_at", "limit", "before", "heartbeat_s", "commands", "id", "args",
    "battery_pct",
    # 31-40
    "charging", "signal_dbm", "network", "firmware", "uptime_s", "acked", "place", "recorded", "version",
    "step",
    # 41-50: info, ota_report
    "detail", "device_id", "merchant", "name", "tier", "store_name", "static_code", "limits", "wallets",
    "code_prefixes",
    # 51-
    "code_lengths", "min_amount_fen", "max_amount_fen", "static_code_max_fen", "daily_cap_fen",
    "daily_used_fen",
)


def pack_keys(value):
    """value with every map key that is a field name replaced by its number (a new object)."""
    if isinstance(value, dict):
        return {_number(k): pack_keys(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [pack_keys(v) for v in value]
    return value


def unpack_keys(value):
    """The inverse of pack_keys: known numbers back to field names, unknown ones left as they are."""
    if isinstance(value, dict):
        return {_field(k): unpack_keys(v) for k, v in value.items()}
    if isinstance(value, list):
        return [unpack_keys(v) for v in value]
    return value


def _number(key):
    # a scan of the table rather than a dict of it: no heap on the device for a few keys per request
    if isinstance(key, str):
        try:
            return FIELDS.index(key) + 1
        except ValueError:
            pass
    return key


def _field(key):
    if isinstance(key, int) and not isinstance(key, bool) and 0 < key <= len(FIELDS):
        return FIELDS[key - 1]
    return key
