"""The Alipay adapter: HTTP and RSA2 around the pure protocol functions."""
from __future__ import annotations

import asyncio
import contextlib
import datetime
import json
import logging
import re
from collections.abc import AsyncIterator, Mapping
from typing import Any

import aiohttp

from ...masking import mask
from ...settings import AlipaySettings
from .. import (AuthCodeInvalid, AuthDeclined, AuthUnavailable, BillRow, BillUnavailable, CancelResult,
                ChannelResult, Fault, NoticeAnswer, Outcome, Payer, PayCommand, PaymentNotice,
                PrecreateCommand, PrecreateResult, RefundCommand, RefundResult, Schedule, SubMerchant, TradeType,
                http_fault)
from . import notify, protocol, signing
from .bill import parse_bill_zip

log = logging.getLogger(__name__)

GATEWAY_PATH = "/gateway.do"
# Alipay's auth_code: short printable ASCII (32 hex characters in practice).
_AUTH_CODE = re.compile(r"[\x21-\x7e]{1,128}", re.ASCII)
# alipay.system.oauth.token's sub_codes for an auth_code that is bad, expired or used (the payer scans again).
_BAD_CODE = ("isv.code-invalid", "isv.invalid-auth-code", "isv.code-expired")


class BadAnswer(Exception):
    """Alipay's answer could not be trusted (HTTP error, not JSON, bad or missing signature, another shop's)."""

    def __init__(self, message: str, fault: Fault = Fault.UNTRUSTED, sub_code: str = ""):
        super().__init__(message)
        self.fault = fault
        self.sub_code = sub_code


class AlipayChannel:
    name = "alipay"

    def __init__(self, settings: AlipaySettings, session: aiohttp.ClientSession):
        self._settings = settings
        self._session = session
        self._private_key = signing.load_private_key(settings.app_private_key.reveal())
        self._alipay_key = signing.load_public_key(settings.alipay_public_key)
        self.schedule = Schedule(
            pay_timeout_s=settings.timeout_s, query_interval_s=settings.query_interval_s,
            deadline_s=settings.deadline_s, cancel_retry_s=settings.cancel_retry_s,
            cancel_attempts=settings.cancel_attempts, query_schedule_s=settings.query_schedule_s)

    def __repr__(self) -> str:
        return f"AlipayChannel(app_id={self._settings.app_id!r})"

    async def pay(self, command: PayCommand) -> ChannelResult:
        biz = protocol.pay_biz(trade_no=command.trade_no, amount_fen=command.amount_fen,
                               auth_code=command.auth_code, subject=command.subject or self._settings.subject,
                               device_id=command.device_id, merchant=command.merchant)
        log.info("alipay trade.pay %s %d fen code %s", command.trade_no, command.amount_fen, mask(command.auth_code))
        try:
            answer = await self._call(protocol.PAY, biz)
        except BadAnswer as e:
            return ChannelResult(Outcome.UNKNOWN, message=str(e), fault=e.fault)
        return protocol.interpret_pay(answer)

    async def query(self, trade_no: str, merchant: SubMerchant | None = None) -> ChannelResult:
        try:
            answer = await self._call(protocol.QUERY, protocol.order_biz(trade_no=trade_no, merchant=merchant))
        except BadAnswer as e:
            return ChannelResult(Outcome.UNKNOWN, message=str(e), fault=e.fault)
        return protocol.interpret_query(answer)

    async def cancel(self, trade_no: str, merchant: SubMerchant | None = None) -> CancelResult:
        log.info("alipay trade.cancel %s", trade_no)
        try:
            answer = await self._call(protocol.CANCEL, protocol.order_biz(trade_no=trade_no, merchant=merchant))
        except BadAnswer as e:
            # Alipay's demo: a cancel without an answer is retried like retry_flag=Y.
            return CancelResult(cancelled=False, retry=True, message=str(e), fault=e.fault)
        return protocol.interpret_cancel(answer)

    async def close(self, trade_no: str, merchant: SubMerchant | None = None) -> CancelResult:
        log.info("alipay trade.close %s", trade_no)
        try:
            answer = await self._call(protocol.CLOSE, protocol.order_biz(trade_no=trade_no, merchant=merchant))
        except BadAnswer as e:
            return CancelResult(cancelled=False, retry=True, message=str(e), fault=e.fault)
        return protocol.interpret_close(answer)

    async def precreate(self, command: PrecreateCommand) -> PrecreateResult:
        subject = command.subject or self._settings.subject
        if command.trade_type == TradeType.JSAPI:
            if not command.payer_id:
                return PrecreateResult(ok=False, message="trade.create needs the payer's buyer_id")
            method = protocol.CREATE
        else:
            method = protocol.PRECREATE
        biz = protocol.precreate_biz(trade_no=command.trade_no, amount_fen=command.amount_fen, subject=subject,
                                     expire_s=command.expire_s, buyer_id=command.payer_id or "",
                                     merchant=command.merchant)
        try:
            answer = await self._call(method, biz, notify_url=command.notify_url or "")
        except BadAnswer as e:
            return PrecreateResult(ok=False, message=str(e))
        return protocol.interpret_precreate(answer)

    async def refund(self, command: RefundCommand) -> RefundResult:
        biz = protocol.refund_biz(trade_no=command.trade_no, refund_no=command.refund_no,
                                  amount_fen=command.amount_fen, reason=command.reason, merchant=command.merchant)
        log.info("alipay trade.refund %s %s %d fen", command.trade_no, command.refund_no, command.amount_fen)
        try:
            answer = await self._call(protocol.REFUND, biz)
        except BadAnswer as e:
            return RefundResult(Outcome.UNKNOWN, message=str(e), fault=e.fault)
        return protocol.interpret_refund(answer)

    async def refund_query(self, trade_no: str, refund_no: str, merchant: SubMerchant | None = None) -> RefundResult:
        biz = protocol.refund_query_biz(trade_no=trade_no, refund_no=refund_no, merchant=merchant)
        try:
            answer = await self._call(protocol.REFUND_QUERY, biz)
        except BadAnswer as e:
            return RefundResult(Outcome.UNKNOWN, message=str(e), fault=e.fault)
        return protocol.interpret_refund_query(answer)

    async def bill(self, day: datetime.date, merchant: SubMerchant | None = None) -> list[BillRow]:
        """The acquirer's trade bill of `day`; with a sub-merchant, only its rows (Alipay has no per-smid bill
        for indirect acquiring: see bill.py)."""
        try:
            answer = await self._call(protocol.BILL_URL, {"bill_type": "trade", "bill_date": day.isoformat()})
        except BadAnswer as e:
            raise BillUnavailable(str(e)) from None
        url = answer.get("bill_download_url")
        if answer.get("code") != protocol.SUCCESS_CODE or not url:
            raise BillUnavailable(f"no Alipay bill for {day}: {answer.get('sub_msg') or answer.get('msg')}")
        try:
            async with self._session.get(url) as resp:
                if resp.status != 200:
                    raise BillUnavailable(f"bill download: HTTP {resp.status}")
                data = await resp.read()
        except (aiohttp.ClientError, asyncio.TimeoutError) as e:
            raise BillUnavailable(f"bill download: {type(e).__name__} {e}") from None
        return parse_bill_zip(data, smid=merchant.account_id if merchant else None)

    # C2B in the Alipay app: web authorisation (auth_base), notifications (notify.py says where from)

    def authorize_url(self, redirect_uri: str, state: str, merchant: SubMerchant | None = None) -> str:
        s = self._settings
        return notify.authorize_url(s.oauth_url or s.base_url, app_id=s.app_id, redirect_uri=redirect_uri,
                                    state=state)

    async def identify_payer(self, query: Mapping[str, str], merchant: SubMerchant | None = None,
                             user_agent: str = "") -> Payer:
        auth_code = query.get("auth_code")
        if not auth_code:
            raise AuthDeclined()
        if not _AUTH_CODE.fullmatch(auth_code):
            raise AuthCodeInvalid()
        try:
            answer = await self._call(notify.OAUTH_TOKEN, None,
                                      extra={"grant_type": "authorization_code", "code": auth_code})
        except BadAnswer as e:
            log.info("alipay oauth.token for code %s refused: %s", mask(auth_code), e)
            raise (AuthCodeInvalid() if e.sub_code in _BAD_CODE else AuthUnavailable(str(e))) from None
        if answer.get("code") not in (None, protocol.SUCCESS_CODE):
            if answer.get("sub_code") in _BAD_CODE:
                raise AuthCodeInvalid()
            raise AuthUnavailable(str(answer.get("sub_msg") or answer.get("msg")))
        buyer = notify.buyer_of(answer)
        if buyer is None:
            raise AuthUnavailable("oauth.token answered neither user_id nor open_id")
        return Payer(buyer)

    def parse_notice(self, body: bytes, content_type: str) -> PaymentNotice:
        said = notify.parse_notify(body, app_id=self._settings.app_id, alipay_key=self._alipay_key)
        return PaymentNotice(trade_no=said.trade_no, paid=said.paid, amount_fen=said.amount_fen,
                             channel_trade_no=said.alipay_trade_no, notice_id=said.notify_id)

    def notice_answer(self, ok: bool) -> NoticeAnswer:
        # Anything but "success" makes Alipay notify again later.
        return NoticeAnswer(b"success" if ok else b"failure", "text/plain")

    async def _call(self, method: str, biz: Mapping[str, Any] | None, *, notify_url: str = "",
                    extra: Mapping[str, str] | None = None) -> dict[str, Any]:
        s = self._settings
        params = protocol.common_params(app_id=s.app_id, method=method, biz_content=biz,
                                        app_auth_token=s.app_auth_token, notify_url=notify_url, extra=extra)
        params["sign"] = signing.sign(params, self._private_key)
        url = s.base_url.rstrip("/") + GATEWAY_PATH
        try:
            async with self._session.post(url, data=params) as resp:
                if resp.status != 200:
                    raise BadAnswer(f"HTTP {resp.status} from {method}", http_fault(resp.status))
                body = (await resp.read()).decode("utf-8")
        except (aiohttp.ClientError, asyncio.TimeoutError) as e:
            raise BadAnswer(f"{method}: {type(e).__name__} {e}".strip(), Fault.UNREACHABLE) from None
        except UnicodeDecodeError:
            raise BadAnswer(f"{method}: answer is not UTF-8") from None
        try:
            document = json.loads(body)
        except (ValueError, RecursionError):     # not JSON, a number of 4,300+ digits, nesting too deep
            raise BadAnswer(f"{method}: answer is not JSON") from None
        node = signing.response_node_name(method)
        part = signing.signed_part(body, node) if isinstance(document, dict) else None
        if part is None:
            error = document.get("error_response") if isinstance(document, dict) else None
            error = error if isinstance(error, dict) else {}
            detail = error.get("sub_msg") or error.get("msg") or "no answer node"
            raise BadAnswer(f"{method}: {detail}", sub_code=str(error.get("sub_code") or ""))
        if not document.get("sign"):
            # Refusals of the envelope (bad app_id or signature) come unsigned: say why, trust nothing else.
            try:
                unsigned = json.loads(part)
            except (ValueError, RecursionError):
                unsigned = {}
            detail = unsigned.get("sub_msg") or unsigned.get("msg") if isinstance(unsigned, dict) else None
            sub_code = str(unsigned.get("sub_code") or "") if isinstance(unsigned, dict) else ""
            raise BadAnswer(f"{method}: unsigned answer: {detail or 'no reason given'}", sub_code=sub_code)
        if not signing.verify_text(part, str(document["sign"]), self._alipay_key):
            raise BadAnswer(f"{method}: answer signature does not verify")
        answer = json.loads(part)
        if not isinstance(answer, dict):
            raise BadAnswer(f"{method}: answer node is not an object")
        other = protocol.other_merchant(answer, protocol.asked_merchant(biz or {}))
        if other:
            raise BadAnswer(f"{method}: the answer is for sub-merchant {other}, not the one asked for")
        return answer


@contextlib.asynccontextmanager
async def open_channel(settings: AlipaySettings) -> AsyncIterator[AlipayChannel]:
    timeout = aiohttp.ClientTimeout(total=settings.timeout_s)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        yield AlipayChannel(settings, session)
