"""The UnionPay QR adapter: form-encoded signed messages over HTTP around the pure protocol functions.

Wire (INFERRED from acp practice: form-urlencoded request, `key=value&...` answer): every message goes
to `<base_url>/gateway` (the bill to `<base_url>/file`) as application/x-www-form-urlencoded; the answer
is form-encoded too and signed by UnionPay.
"""
from __future__ import annotations

import asyncio
import contextlib
import datetime
import logging
import re
import secrets
import urllib.parse
from collections.abc import AsyncIterator, Mapping

import aiohttp

from ...masking import mask
from ...settings import UnionPaySettings
from .. import (AuthCodeInvalid, AuthDeclined, AuthUnavailable, BillRow, BillUnavailable, CancelResult,
                ChannelResult, Fault, NoticeAnswer, Outcome, Payer, PayCommand, PaymentNotice,
                PrecreateCommand, PrecreateResult, RefundCommand, RefundResult, Schedule, SubMerchant, TradeType,
                http_fault)
from . import protocol, signing
from .notify import parse_notify
from .bill import decode_file_content, parse_bill

log = logging.getLogger(__name__)

GATEWAY_PATH = "/gateway"
FILE_PATH = "/file"
_AUTH_CODE = re.compile(r"[\x21-\x7e]{1,256}", re.ASCII)
_USER_ID = re.compile(r"[\x21-\x7e]{1,128}", re.ASCII)


class BadAnswer(Exception):
    """UnionPay's answer could not be trusted (HTTP error, malformed, bad signature, another merchant's)."""

    def __init__(self, message: str, fault: Fault = Fault.UNTRUSTED):
        super().__init__(message)
        self.fault = fault


class UnionPayChannel:
    name = "unionpay"

    def __init__(self, settings: UnionPaySettings, session: aiohttp.ClientSession):
        self._settings = settings
        self._session = session
        self._private_key = signing.load_private_key(settings.sign_private_key.reveal())
        self._unionpay_key = signing.load_public_key(settings.unionpay_public_key)
        self.schedule = Schedule(
            pay_timeout_s=settings.timeout_s, query_interval_s=settings.query_interval_s,
            deadline_s=settings.deadline_s, cancel_retry_s=settings.cancel_retry_s,
            cancel_attempts=settings.cancel_attempts, query_schedule_s=settings.query_schedule_s)

    def __repr__(self) -> str:
        return f"UnionPayChannel(mer_id={self._settings.mer_id!r})"

    def _ids(self, merchant: SubMerchant | None = None) -> dict[str, str]:
        """The acquirer's institution code, and the merId of the merchant whose money moves: the shop's own in
        service-provider mode, else the configured one."""
        return {"acq_code": self._settings.acq_code,
                "mer_id": merchant.account_id if merchant else self._settings.mer_id}

    async def pay(self, command: PayCommand) -> ChannelResult:
        s = self._settings
        request = protocol.consume_request(**self._ids(command.merchant), mer_cat_code=s.mer_cat_code,
                                           mer_name=s.mer_name, term_id=s.term_id, trade_no=command.trade_no,
                                           amount_fen=command.amount_fen, qr_no=command.auth_code)
        log.info("unionpay consume %s %d fen code %s", command.trade_no, command.amount_fen, mask(command.auth_code))
        try:
            answer = await self._call(GATEWAY_PATH, request)
        except BadAnswer as e:
            return ChannelResult(Outcome.UNKNOWN, message=str(e), fault=e.fault)
        return protocol.interpret_consume(answer)

    async def query(self, trade_no: str, merchant: SubMerchant | None = None) -> ChannelResult:
        try:
            answer = await self._call(GATEWAY_PATH, protocol.query_request(**self._ids(merchant), order_no=trade_no))
        except BadAnswer as e:
            return ChannelResult(Outcome.UNKNOWN, message=str(e), fault=e.fault)
        return protocol.interpret_query(answer)

    async def cancel(self, trade_no: str, merchant: SubMerchant | None = None) -> CancelResult:
        """Reversal (冲正) of a consume we gave up on; it also gives back a consume that went through."""
        return await self._undo(protocol.REVERSAL, trade_no, merchant=merchant)

    async def close(self, trade_no: str, merchant: SubMerchant | None = None) -> CancelResult:
        # No close message for C2B codes in the sources (INFERRED): a reversal of the code's order, which
        # UnionPay answers 34 when nobody ever paid it.
        return await self._undo(protocol.REVERSAL, trade_no, merchant=merchant)

    async def cancel_paid(self, trade_no: str, amount_fen: int, merchant: SubMerchant | None = None) -> CancelResult:
        """撤销: give back a successful consume on the day it was made (UnionPay only; refund works any day)."""
        return await self._undo(protocol.CANCEL, trade_no, amount_fen, merchant=merchant)

    async def _undo(self, req_type: str, trade_no: str, amount_fen: int | None = None, *,
                    merchant: SubMerchant | None = None) -> CancelResult:
        request = protocol.undo_request(req_type, **self._ids(merchant), order_no=_undo_no(req_type, trade_no),
                                        orig_trade_no=trade_no, amount_fen=amount_fen)
        log.info("unionpay %s of %s", req_type, trade_no)
        try:
            answer = await self._call(GATEWAY_PATH, request)
        except BadAnswer as e:
            return CancelResult(cancelled=False, retry=True, message=str(e), fault=e.fault)
        return protocol.interpret_undo(answer)

    async def precreate(self, command: PrecreateCommand) -> PrecreateResult:
        s = self._settings
        if command.trade_type == TradeType.JSAPI:
            # A UnionPay app on our own code: an order for the payer's userId, paid in UnionPay's cashier.
            if not command.payer_id or not command.return_url or not command.notify_url:
                return PrecreateResult(ok=False, message="a UnionPay app order needs the payer's userId and URLs")
            request = protocol.js_order_request(
                **self._ids(command.merchant), mer_cat_code=s.mer_cat_code, mer_name=s.mer_name, term_id=s.term_id,
                trade_no=command.trade_no, amount_fen=command.amount_fen, valid_s=command.expire_s,
                user_id=command.payer_id, front_url=command.return_url, back_url=command.notify_url)
            try:
                answer = await self._call(GATEWAY_PATH, request)
            except BadAnswer as e:
                return PrecreateResult(ok=False, message=str(e))
            return protocol.interpret_js_order(answer)
        request = protocol.c2b_request(**self._ids(command.merchant), mer_cat_code=s.mer_cat_code, mer_name=s.mer_name,
                                       term_id=s.term_id, trade_no=command.trade_no, amount_fen=command.amount_fen,
                                       valid_s=command.expire_s)
        try:
            answer = await self._call(GATEWAY_PATH, request)
        except BadAnswer as e:
            return PrecreateResult(ok=False, message=str(e))
        return protocol.interpret_c2b(answer)

    async def refund(self, command: RefundCommand) -> RefundResult:
        request = protocol.undo_request(protocol.REFUND, **self._ids(command.merchant), order_no=command.refund_no,
                                        orig_trade_no=command.trade_no, amount_fen=command.amount_fen)
        log.info("unionpay refund %s %s %d fen", command.trade_no, command.refund_no, command.amount_fen)
        try:
            answer = await self._call(GATEWAY_PATH, request)
        except BadAnswer as e:
            return RefundResult(Outcome.UNKNOWN, message=str(e), fault=e.fault)
        return protocol.interpret_refund(answer)

    async def refund_query(self, trade_no: str, refund_no: str, merchant: SubMerchant | None = None) -> RefundResult:
        try:
            answer = await self._call(GATEWAY_PATH, protocol.query_request(**self._ids(merchant), order_no=refund_no))
        except BadAnswer as e:
            return RefundResult(Outcome.UNKNOWN, message=str(e), fault=e.fault)
        return protocol.interpret_refund_query(answer)

    async def bill(self, day: datetime.date, merchant: SubMerchant | None = None) -> list[BillRow]:
        """The day's file: with a sub-merchant, asked for by its merId and kept to its lines; with None, the
        file of the configured merId (in service-provider mode, none: the acquirer's whole file)."""
        ids = self._ids(merchant)
        request = {"version": protocol.VERSION, "acqCode": ids["acq_code"], "merId": ids["mer_id"],
                   "settleDate": day.strftime("%Y%m%d"), "fileType": "00"}
        try:
            answer = await self._call(FILE_PATH, request)
        except BadAnswer as e:
            raise BillUnavailable(str(e)) from None
        if answer.get("respCode") != protocol.SUCCESS_CODE:
            raise BillUnavailable(f"no UnionPay file for {day}: "
                                  f"{protocol.merchant_refusal(answer) or answer.get('respMsg')}")
        return parse_bill(decode_file_content(answer.get("fileContent", "")),
                          mer_id=merchant.account_id if merchant else None)

    # C2B in a UnionPay app: user authorisation, notifications (docs/c2b.md; what is INFERRED: protocol.py)

    def authorize_url(self, redirect_uri: str, state: str, merchant: SubMerchant | None = None) -> str:
        # No state parameter: our redirect_uri carries its own nonce.
        base = (self._settings.auth_url or self._settings.base_url).rstrip("/")
        return f"{base}{protocol.USER_AUTH_PATH}?" + urllib.parse.urlencode(
            [("version", protocol.VERSION), ("redirectUrl", redirect_uri)])

    async def identify_payer(self, query: Mapping[str, str], merchant: SubMerchant | None = None,
                             user_agent: str = "") -> Payer:
        code = query.get("userAuthCode")
        if not code or query.get("respCode", protocol.SUCCESS_CODE) != protocol.SUCCESS_CODE:
            raise AuthDeclined()
        if not _AUTH_CODE.fullmatch(code):
            raise AuthCodeInvalid()
        request = protocol.user_id_request(**self._ids(merchant), order_no="U" + secrets.token_hex(15),
                                           user_auth_code=code, app_up=protocol.app_up_identifier(user_agent))
        try:
            answer = await self._call(GATEWAY_PATH, request)
        except BadAnswer as e:
            raise AuthUnavailable(str(e)) from None
        said = answer.get("respCode", "")
        user_id = answer.get("userId", "")
        if said == protocol.SUCCESS_CODE and _USER_ID.fullmatch(user_id):
            return Payer(user_id)
        if said in protocol.UNKNOWN_CODES or said == protocol.SUCCESS_CODE or not said:
            raise AuthUnavailable(answer.get("respMsg") or "no userId")
        log.info("unionpay userId for code %s refused: %s %s", mask(code), said, answer.get("respMsg"))
        raise AuthCodeInvalid()

    def parse_notice(self, body: bytes, content_type: str) -> PaymentNotice:
        s = self._settings
        said = parse_notify(body, acq_code=s.acq_code, unionpay_key=self._unionpay_key, cert_id=s.unionpay_cert_id)
        return PaymentNotice(trade_no=said.trade_no, paid=said.paid, amount_fen=said.amount_fen,
                             channel_trade_no=said.voucher_num, notice_id=said.notice_id)

    def notice_answer(self, ok: bool) -> NoticeAnswer:
        # HTTP 200 takes the notification; anything else makes UnionPay send it again.
        return NoticeAnswer(b"ok" if ok else b"refused", "text/plain", 200 if ok else 400)

    async def _call(self, path: str, request: dict[str, str]) -> dict[str, str]:
        s = self._settings
        body = signing.sign(request, self._private_key, s.sign_cert_id)
        url = s.base_url.rstrip("/") + path
        try:
            async with self._session.post(url, data=body) as resp:
                if resp.status != 200:
                    raise BadAnswer(f"HTTP {resp.status} from {request.get('reqType', path)}", http_fault(resp.status))
                text = (await resp.read()).decode("utf-8")
        except (aiohttp.ClientError, asyncio.TimeoutError) as e:
            raise BadAnswer(f"{request.get('reqType', path)}: {type(e).__name__} {e}".strip(),
                            Fault.UNREACHABLE) from None
        except UnicodeDecodeError:
            raise BadAnswer("answer is not UTF-8") from None
        try:
            answer = dict(urllib.parse.parse_qsl(text, keep_blank_values=True, strict_parsing=True))
        except ValueError:
            raise BadAnswer("answer is not form-encoded") from None
        if not signing.signature_valid(answer, self._unionpay_key, s.unionpay_cert_id):
            raise BadAnswer(f"answer signature does not verify: {answer.get('respMsg', '')}".rstrip(": "))
        other = protocol.other_merchant(answer, request.get("merId", ""))
        if other:
            raise BadAnswer(f"{request.get('reqType', path)}: the answer is for merId {other}, not the one asked for")
        return answer


def _undo_no(req_type: str, trade_no: str) -> str:
    # A reversal or cancel is a transaction of its own with its own orderNo; derived, so a retried one is
    # the same message (UnionPay then answers it idempotently).
    return ("R" if req_type == protocol.REVERSAL else "C") + trade_no[:39]


@contextlib.asynccontextmanager
async def open_channel(settings: UnionPaySettings) -> AsyncIterator[UnionPayChannel]:
    timeout = aiohttp.ClientTimeout(total=settings.timeout_s)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        yield UnionPayChannel(settings, session)
