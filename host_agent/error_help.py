"""What a server error code means for the person reading the agent's log, and what to do about it. What the
cashier hears is the devices' own table (firmware/core/texts.py ERROR_TEXTS), not this."""

ERROR_HELP = {
    "channel_not_open": "this shop is not open at the code's wallet: ask the customer for another wallet",
    "unsupported_code": "the payment code belongs to no wallet this server takes",
    "invalid_auth_code": "the scanned text is not a payment code",
    "invalid_amount": "the amount is over the per-payment limit or not valid",
    "unknown_device": "the server does not know this agent's device_id: check [server] in the config",
    "bad_signature": "the device_key in the config is not this device's key",
    "device_disabled": "the server has disabled this agent's device id",
    "device_not_activated": "this agent's device id is not activated on the server yet",
    "device_decommissioned": "this agent's device was decommissioned in the console",
    "device_cloned": "the console flagged this device id as cloned (its key used by two devices): call the acquirer",
    "device_moved": "the console flagged this device as moved away from its store: call the acquirer",
    "device_not_installed": "this agent's device is not installed at a store yet (console: Devices)",
    "amount_below_minimum": "the amount is below the server's minimum",
    "daily_limit_exceeded": "the shop's daily limit is reached",
    "channel_unavailable": "the wallet's payment channel is down at the server; try again later",
    "stale_timestamp": "this PC's clock is far off and could not be corrected",
    "order_conflict": "the order number was used before with a different amount or code",
}
