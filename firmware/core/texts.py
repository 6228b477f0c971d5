# What every device says and shows, in one table: the enhanced box, the gun and the stand (core/app.py and
# its profiles), the host agent for the basic box (host_agent/agent.py imports this module) and the web
# console's cashier page (server/console/cashier.py) all speak from here, so every till in a shop sounds
# alike (docs/firmware.md, "Spoken texts"). Plain strings and tables, and the few rules that put them
# together (a REFUNDED order is never said as money received); nothing here touches hardware.
from core.amount import format_fen

SAY_SHOW_CODE = "请出示付款码"
SAY_PAYER_PAYING = "用户支付中，请稍候"
SAY_AMOUNT_FIRST = "请先输入金额"
SAY_ENTER_AMOUNT = "请输入金额"
SAY_UNSUPPORTED = "不支持的付款码"
SAY_NETWORK = "网络异常"
SAY_SCAN_TIMEOUT = "扫码超时"
SAY_CANCELLED = "已取消"
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
SAY_BATTERY_LOW = "电量低，请充电"
SAY_SCAN_TO_PAY = "请扫码支付"
SAY_CLOSED = "订单已关闭"
SAY_CALL_SERVICE = "设备需服务商处理"     # flagged or not installed: only the acquirer can clear it
SAY_BUSY = "正在收款，请稍候"      # a scan while a payment is under way (the host agent)
SAY_VOLUME = "音量"                # the speaker's volume keys: "音量 5"
SAY_LINK_DOWN = "网络已断开"        # the device cannot reach the server (said when idle, now and then)
SAY_USE_STATIC_CODE = "网络异常，请顾客扫店铺收款码付款"   # the box cannot pay: the payer's phone still can

CHANNEL_NAMES = {"wechat": "微信", "alipay": "支付宝", "unionpay": "云闪付"}
CHANNEL_WORDS = {"wechat": "WeChat", "alipay": "Alipay", "unionpay": "UnionPay"}   # on screens (ASCII font)

# a FAILED or CLOSED order's reason -> what the cashier hears (anything else: SAY_FAILED)
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


def error_text(code):
    """What the cashier hears for a server error code."""
    return ERROR_TEXTS.get(code, SAY_FAILED)


def not_taken_text(channel):
    """'本店暂不支持支付宝付款': the shop is not open at that wallet."""
    return "本店暂不支持%s付款" % CHANNEL_NAMES.get(channel, "该")


def success_text(channel, amount_fen):
    """'微信收款 12.50 元'."""
    return "%s收款 %s 元" % (CHANNEL_NAMES.get(channel, ""), format_fen(amount_fen))


def refunded_text(amount_fen):
    """'已退款 12.50 元': never said as money received."""
    return "已退款 %s 元" % format_fen(amount_fen)


def result_text(order):
    """What a device says for a final order (a map with status, channel, amount_fen, refunded_fen,
    reason). A refunded order is never announced as money received; a partly refunded one says both."""
    status = order.get("status")
    amount_fen = order.get("amount_fen") or 0
    refunded_fen = order.get("refunded_fen") or 0
    if status == "REFUNDED":
        return refunded_text(refunded_fen or amount_fen)
    if status == "SUCCESS":
        said = success_text(order.get("channel"), amount_fen)
        return said + "，" + refunded_text(refunded_fen) if refunded_fen else said
    return REASON_TEXTS.get(order.get("reason"), SAY_FAILED)


def heard_line(amount_fen, channel, spoken):
    """A screen's line for a payment on the shop's codes (core/announce.py): '+25.80 WeChat', or
    '+25.80 (late)' for one only shown (too old to be said)."""
    return "+%s %s" % (format_fen(amount_fen), CHANNEL_WORDS.get(channel, "") if spoken else "(late)")
