"""The fee rule, once: what a channel charges a merchant for one payment, and gives back on a refund.

    fee_fen(amount_fen, rate_ppm) = amount × rate, rounded to the fen per transaction, half up (四舍五入)

A refund gives back the fee of the refunded amount at the same rate, rounded the same way, per refund
(so a refund row's fee is -fee_fen(refund_amount)); a whole refund gives back exactly the payment's fee.

Sources and what is inferred:
  - WeChat's ALL bill (downloadbill) has a 手续费 and a 费率 column on every row, payments and refunds alike,
    and a 手续费总金额 in its summary block: the fee is worked out per row (server/channels/wechat/bill.py).
  - Alipay's trade bill has 服务费（元） on every detail row, negative when Alipay takes it and positive on a
    refund row when it gives it back (server/channels/alipay/bill.py).
  - Rounding half up at the fen, and the refund's fee given back in proportion: INFERRED (neither the
    reference notes nor a public page at hand state it); it is what the sandboxes' bills do, and a channel
    that rounds otherwise shows up in reconciliation as `fee` differences naming each row.
  - UnionPay: the file's `fee` field per line is in fen already (its format is INFERRED, see
    server/channels/unionpay/bill.py); seed 000 notes a ≤1000-yuan rate at 40 % of the card rate, which is a
    contracted rate like any other here.
Integer fen in, integer fen out; the arithmetic is exact (no float).
"""
from __future__ import annotations

PPM = 1_000_000


def fee_fen(amount_fen: int, rate_ppm: int) -> int:
    """The fee of one payment of `amount_fen` at `rate_ppm` parts per million, half up to the fen.

    >>> fee_fen(1250, 6000), fee_fen(99, 6000), fee_fen(250, 3800)
    (8, 1, 1)
    """
    if amount_fen < 0 or rate_ppm < 0:
        raise ValueError("amount and rate are not negative")
    return (amount_fen * rate_ppm * 2 + PPM) // (2 * PPM)


def refund_fee_fen(refund_fen: int, rate_ppm: int) -> int:
    """The fee a refund of `refund_fen` gives back (a positive number: the merchant gets it back)."""
    return fee_fen(refund_fen, rate_ppm)


def settlement_fen(paid_fen: int, refunded_fen: int, fees_fen: int, fees_returned_fen: int) -> int:
    """What the merchant is paid: takings less refunds less fees, plus the fees refunds gave back."""
    return paid_fen - refunded_fen - fees_fen + fees_returned_fen


def rate_text(rate_ppm: int | None) -> str:
    """3800 -> "0.38%", 6000 -> "0.60%", 12345 -> "1.2345%" (None: no contracted rate, "-")."""
    if rate_ppm is None:
        return "-"
    whole, rest = divmod(rate_ppm, 10_000)
    return f"{whole}.{f'{rest:04d}'.rstrip('0').ljust(2, '0')}%"
