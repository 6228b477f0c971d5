"""A refund-capable stand-in around the real WeChat adapter, for refund tests.

pay / query / cancel go to the real adapter and the real sandbox; `refund` and `refund_query` are
answered here, chosen by the refund's amount (like the sandbox's test codes), and recorded in `refunds`
so tests can assert "paid back once". Replace with the sandbox's own /secapi/pay/refund once it has one.

    amount ending ..01   FAILED (channel_declined)
    amount ending ..02   WAITING; refund_query says SUCCESS
    amount ending ..03   UNKNOWN once, then SUCCESS when asked again
    anything else        SUCCESS
"""
from __future__ import annotations

from collections import Counter

from server.channels import Outcome, RefundCommand, RefundResult


class RefundingChannel:
    def __init__(self, inner):
        self._inner = inner
        self.name = inner.name
        self.schedule = inner.schedule
        self.refund_calls: list[RefundCommand] = []
        self.refund_query_calls: list[str] = []
        self.paid_back: Counter[str] = Counter()     # refund_no -> fen paid back
        self._unknown_seen: set[str] = set()

    async def pay(self, command):
        return await self._inner.pay(command)

    async def query(self, trade_no):
        return await self._inner.query(trade_no)

    async def cancel(self, trade_no):
        return await self._inner.cancel(trade_no)

    async def refund(self, command: RefundCommand) -> RefundResult:
        self.refund_calls.append(command)
        ending = command.amount_fen % 100
        if ending == 1:
            return RefundResult(Outcome.FAILED, reason="channel_declined", message="退款被拒绝")
        if ending == 2:
            return RefundResult(Outcome.WAITING, message="退款处理中")
        if ending == 3 and command.refund_no not in self._unknown_seen:
            self._unknown_seen.add(command.refund_no)
            return RefundResult(Outcome.UNKNOWN, message="SYSTEMERROR")
        return self._pay_back(command.refund_no, command.amount_fen)

    async def refund_query(self, trade_no: str, refund_no: str) -> RefundResult:
        self.refund_query_calls.append(refund_no)
        command = next(c for c in self.refund_calls if c.refund_no == refund_no)
        return self._pay_back(refund_no, command.amount_fen)

    def _pay_back(self, refund_no: str, amount_fen: int) -> RefundResult:
        # Like WeChat's out_refund_no: the same refund number pays back once, however often it is sent.
        if refund_no not in self.paid_back:
            self.paid_back[refund_no] = amount_fen
        return RefundResult(Outcome.SUCCESS, message="退款成功", channel_refund_no="W" + refund_no)
