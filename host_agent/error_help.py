"""What the basic box says for the agent. The same words as the enhanced box's firmware
(firmware/core/app.py; a test keeps the two in step), so every till in a shop sounds alike."""

SAY_SHOW_CODE = "请出示付款码"
SAY_PAYER_PAYING = "用户支付中，请稍候"
SAY_AMOUNT_FIRST = "请先输入金额"
SAY_UNSUPPORTED = "不支持的付款码"
SAY_NETWORK = "网络异常"
SAY_FAILED = "支付失败"
SAY_AMOUNT_INVALID = "金额超出限额"
SAY_DEVICE_REFUSED = "设备未授权"
SAY_UNKNOWN = "支付结果未知，请查询"
SAY_DAILY_LIMIT = "超出当日限额"
SAY_BELOW_MINIMUM = "金额低于最低限额"
SAY_DEVICE_DISABLED = "设备已停用"
SAY_NOT_ACTIVATED = "设备未激活"
SAY_CHANNEL_DOWN = "支付通道暂不可用"
SAY_NOT_TAKEN = "本店暂不支持该付款方式"       # the shop is not open at the wallet of the code
SAY_TRY_LATER = "请稍后再试"
SAY_MERCHANT_PAUSED = "商户暂停收款"
SAY_ORDER_NOT_FOUND = "未找到订单"
SAY_CLOSED = "订单已关闭"
SAY_CALL_SERVICE = "设备需服务商处理"     # flagged or not installed: only the acquirer can clear it
SAY_BUSY = "正在收款，请稍候"      # agent only: a scan while a payment is under way

CHANNEL_NAMES = {"wechat": "微信", "alipay": "支付宝", "unionpay": "云闪付"}

REASON_TEXTS = {
    "insufficient_funds": "余额不足",
    "code_expired": "付款码已过期",
    "code_used": "付款码已使用",
    "code_invalid": "付款码无效",
    "payer_cancelled": "用户已取消支付",
    "timeout": "支付超时，已撤销",
    "closed": SAY_CLOSED,
}

# server error codes -> what the cashier hears (anything else: SAY_FAILED)
ERROR_TEXTS = {
    "unsupported_code": SAY_UNSUPPORTED,
    "invalid_auth_code": SAY_UNSUPPORTED,
    "invalid_amount": SAY_AMOUNT_INVALID,
    "unknown_device": SAY_DEVICE_REFUSED,
    "bad_signature": SAY_DEVICE_REFUSED,
    "amount_below_minimum": SAY_BELOW_MINIMUM,
    "daily_limit_exceeded": SAY_DAILY_LIMIT,
    "device_disabled": SAY_DEVICE_DISABLED,
    "device_not_activated": SAY_NOT_ACTIVATED,
    "device_decommissioned": SAY_DEVICE_DISABLED,
    "device_cloned": SAY_CALL_SERVICE,
    "device_moved": SAY_CALL_SERVICE,
    "device_not_installed": SAY_CALL_SERVICE,
    "channel_unavailable": SAY_CHANNEL_DOWN,
    "channel_not_open": SAY_NOT_TAKEN,
    "merchant_not_active": SAY_MERCHANT_PAUSED,
    "request_timeout": SAY_NETWORK,       # the request's body came too slowly: a poor link
    "rate_limited": SAY_TRY_LATER,
    "order_not_found": SAY_ORDER_NOT_FOUND,
}

# the same, for the person reading the agent's log or console
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


def format_fen(amount_fen):
    return "%d.%02d" % divmod(amount_fen, 100)


def success_text(channel, amount_fen):
    """'微信收款 12.50 元'."""
    return "%s收款 %s 元" % (CHANNEL_NAMES.get(channel, ""), format_fen(amount_fen))


def refunded_text(amount_fen):
    """'已退款 12.50 元': never said as money received."""
    return "已退款 %s 元" % format_fen(amount_fen)


def result_text(order):
    """The firmware's words for a final order (firmware/core/app.py result_text)."""
    status = order.get("status")
    amount_fen = order.get("amount_fen") or 0
    refunded_fen = order.get("refunded_fen") or 0
    if status == "REFUNDED":
        return refunded_text(refunded_fen or amount_fen)
    if status == "SUCCESS":
        said = success_text(order.get("channel"), amount_fen)
        return said + "，" + refunded_text(refunded_fen) if refunded_fen else said
    return REASON_TEXTS.get(order.get("reason"), SAY_FAILED)
