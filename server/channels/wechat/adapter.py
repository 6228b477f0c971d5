"""The WeChat Pay adapter: HTTP and signatures around the pure protocol functions."""
from __future__ import annotations

import asyncio
import contextlib
import datetime
import logging
import re
import ssl
from collections.abc import AsyncIterator, Mapping

import aiohttp

from ...masking import mask
from ...settings import WeChatSettings
from .. import (AuthCodeInvalid, AuthDeclined, AuthUnavailable, BillRow, BillUnavailable, CancelResult,
                ChannelResult, Fault, NoticeAnswer, Outcome, Payer, PayCommand, PaymentNotice,
                PrecreateCommand, PrecreateResult, RefundCommand, RefundResult, Schedule, SubMerchant, TradeType,
                http_fault)
from . import oauth, protocol, signing
from .bill import parse_bill
from .notify import notify_answer, parse_notify
from .xmlcodec import XmlError, from_xml, to_xml

log = logging.getLogger(__name__)

# WeChat's OAuth codes: short printable ASCII (32 characters in practice).
_CODE = re.compile(r"[\x21-\x7e]{1,128}", re.ASCII)


class BadAnswer(Exception):
    """WeChat's answer could not be trusted (HTTP error, bad XML, bad signature, another sub-merchant's)."""

    def __init__(self, message: str, fault: Fault = Fault.UNTRUSTED):
        super().__init__(message)
        self.fault = fault


class WeChatChannel:
    name = "wechat"

    def __repr__(self) -> str:
        return f"WeChatChannel(mch_id={self._settings.mch_id!r})"

    def __init__(self, settings: WeChatSettings, session: aiohttp.ClientSession):
        self._settings = settings
        self._session = session
        self.schedule = Schedule(
            pay_timeout_s=settings.timeout_s, query_interval_s=settings.query_interval_s,
            deadline_s=settings.deadline_s, cancel_retry_s=settings.cancel_retry_s,
            cancel_attempts=settings.cancel_attempts, query_schedule_s=settings.query_schedule_s)

    async def pay(self, command: PayCommand) -> ChannelResult:
        s = self._settings
        params = protocol.micropay_request(
            appid=s.appid, mch_id=s.mch_id, trade_no=command.trade_no, amount_fen=command.amount_fen,
            auth_code=command.auth_code, body=command.subject or s.body, spbill_create_ip=s.spbill_create_ip,
            device_info=command.device_id, merchant=command.merchant)
        log.info("wechat micropay %s %d fen code %s", command.trade_no, command.amount_fen, mask(command.auth_code))
        try:
            answer = await self._call(protocol.MICROPAY_PATH, params)
        except BadAnswer as e:
            return ChannelResult(Outcome.UNKNOWN, message=str(e), fault=e.fault)
        return protocol.interpret_micropay(answer)

    async def query(self, trade_no: str, merchant: SubMerchant | None = None) -> ChannelResult:
        s = self._settings
        params = protocol.orderquery_request(appid=s.appid, mch_id=s.mch_id, trade_no=trade_no, merchant=merchant)
        try:
            answer = await self._call(protocol.ORDERQUERY_PATH, params)
        except BadAnswer as e:
            return ChannelResult(Outcome.UNKNOWN, message=str(e), fault=e.fault)
        return protocol.interpret_orderquery(answer)

    async def cancel(self, trade_no: str, merchant: SubMerchant | None = None) -> CancelResult:
        s = self._settings
        params = protocol.reverse_request(appid=s.appid, mch_id=s.mch_id, trade_no=trade_no, merchant=merchant)
        log.info("wechat reverse %s", trade_no)
        try:
            answer = await self._call(protocol.REVERSE_PATH, params)
        except BadAnswer as e:
            return CancelResult(cancelled=False, message=str(e), fault=e.fault)
        return protocol.interpret_reverse(answer)

    async def close(self, trade_no: str, merchant: SubMerchant | None = None) -> CancelResult:
        s = self._settings
        log.info("wechat closeorder %s", trade_no)
        params = protocol.closeorder_request(appid=s.appid, mch_id=s.mch_id, trade_no=trade_no, merchant=merchant)
        try:
            answer = await self._call(protocol.CLOSEORDER_PATH, params)
        except BadAnswer as e:
            return CancelResult(cancelled=False, retry=True, message=str(e), fault=e.fault)
        return protocol.interpret_closeorder(answer)

    async def precreate(self, command: PrecreateCommand) -> PrecreateResult:
        s = self._settings
        if command.trade_type == TradeType.JSAPI and not command.payer_id:
            return PrecreateResult(ok=False, message="JSAPI needs the payer's openid")
        params = protocol.unifiedorder_request(
            appid=s.appid, mch_id=s.mch_id, trade_no=command.trade_no, amount_fen=command.amount_fen,
            body=command.subject or s.body, trade_type=command.trade_type,
            spbill_create_ip=command.client_ip or s.spbill_create_ip, notify_url=command.notify_url or s.notify_url,
            expire_s=command.expire_s, openid=command.payer_id or "", merchant=command.merchant,
            sub_openid=bool(command.merchant and command.merchant.app_id
                            and self._payer_app_id(command) == command.merchant.app_id))
        try:
            answer = await self._call(protocol.UNIFIEDORDER_PATH, params)
        except BadAnswer as e:
            return PrecreateResult(ok=False, message=str(e))
        result = protocol.interpret_unifiedorder(answer)
        if result.ok and command.trade_type == TradeType.JSAPI:
            # appId: the app the payer's openid belongs to, which is the app the page runs in ("填写下单时传入的
            # sp_appid或sub_appid", WeChat Pay's partner JSAPI 调起支付 page); signed with the acquirer's API key.
            app_id = self._payer_app_id(command)
            pay_params = protocol.jsapi_pay_params(appid=app_id, prepay_id=answer.get("prepay_id", ""),
                                                   api_key=s.api_key.reveal(), sign_type=s.sign_type)
            result = PrecreateResult(ok=True, pay_params=pay_params, raw=result.raw)
        return result

    def _payer_app_id(self, command: PrecreateCommand) -> str:
        """The app a JSAPI payer was identified in: given, else the shop's own sub_appid, else ours."""
        return command.payer_app_id or (command.merchant.app_id if command.merchant else None) or self._settings.appid

    # C2B in WeChat: web authorisation, notifications

    def _oauth_app(self, merchant: SubMerchant | None) -> tuple[str, str]:
        """(appid, AppSecret) the payer is identified under: the shop's own official account when the order
        names one whose secret we hold (the payer becomes its sub_openid), else the acquirer's."""
        s = self._settings
        if merchant is not None and merchant.app_id:
            for app in s.sub_apps:
                if app.appid == merchant.app_id:
                    return app.appid, app.app_secret.reveal()
        return s.appid, s.app_secret.reveal()

    def authorize_url(self, redirect_uri: str, state: str, merchant: SubMerchant | None = None) -> str:
        appid, _ = self._oauth_app(merchant)
        return oauth.authorize_url(self._settings.oauth_url or self._settings.base_url, appid=appid,
                                   redirect_uri=redirect_uri, state=state)

    async def identify_payer(self, query: Mapping[str, str], merchant: SubMerchant | None = None,
                             user_agent: str = "") -> Payer:
        code = query.get("code")
        if not code:
            raise AuthDeclined()            # WeChat comes back with state alone when the payer refuses
        if not _CODE.fullmatch(code):
            raise AuthCodeInvalid()
        appid, secret = self._oauth_app(merchant)
        url = (self._settings.sns_url or self._settings.base_url).rstrip("/") + oauth.TOKEN_PATH
        try:
            async with self._session.get(url, params=oauth.token_query(appid=appid, secret=secret, code=code)) as resp:
                if resp.status != 200:
                    raise AuthUnavailable(f"HTTP {resp.status}")
                text = await resp.text(encoding="utf-8", errors="replace")
        except (aiohttp.ClientError, asyncio.TimeoutError) as e:
            raise AuthUnavailable(f"{type(e).__name__} {e}") from None
        try:
            openid = oauth.openid_of(text)
        except oauth.TokenRefused as e:
            log.info("wechat access_token for code %s refused: %s", mask(code), e)
            raise (AuthCodeInvalid() if e.bad_code else AuthUnavailable(str(e))) from None
        return Payer(openid, app_id=appid)

    def parse_notice(self, body: bytes, content_type: str) -> PaymentNotice:
        s = self._settings
        notify = parse_notify(body, appid=s.appid, mch_id=s.mch_id, api_key=s.api_key.reveal())
        return PaymentNotice(trade_no=notify.trade_no, paid=notify.paid, amount_fen=notify.amount_fen,
                             channel_trade_no=notify.transaction_id, notice_id=notify.notice_id)

    def notice_answer(self, ok: bool) -> NoticeAnswer:
        # WeChat repeats a notification until it reads return_code SUCCESS.
        return NoticeAnswer(notify_answer(ok, "OK" if ok else "refused"), "text/xml")

    async def refund(self, command: RefundCommand) -> RefundResult:
        s = self._settings
        params = protocol.refund_request(appid=s.appid, mch_id=s.mch_id, trade_no=command.trade_no,
                                         refund_no=command.refund_no, total_fen=command.total_fen,
                                         refund_fen=command.amount_fen, reason=command.reason or "",
                                         merchant=command.merchant)
        log.info("wechat refund %s %s %d fen", command.trade_no, command.refund_no, command.amount_fen)
        try:
            answer = await self._call(protocol.REFUND_PATH, params)
        except BadAnswer as e:
            return RefundResult(Outcome.UNKNOWN, message=str(e), fault=e.fault)
        return protocol.interpret_refund(answer)

    async def refund_query(self, trade_no: str, refund_no: str, merchant: SubMerchant | None = None) -> RefundResult:
        s = self._settings
        params = protocol.refundquery_request(appid=s.appid, mch_id=s.mch_id, refund_no=refund_no, merchant=merchant)
        try:
            answer = await self._call(protocol.REFUNDQUERY_PATH, params)
        except BadAnswer as e:
            return RefundResult(Outcome.UNKNOWN, message=str(e), fault=e.fault)
        return protocol.interpret_refundquery(answer, refund_no)

    async def bill(self, day: datetime.date, merchant: SubMerchant | None = None) -> list[BillRow]:
        """The day's bill: the one sub-merchant's (downloadbill with its sub_mch_id), or with None the whole
        bill of the acquirer's mch_id (in service-provider mode every sub-merchant's rows)."""
        s = self._settings
        params = protocol.downloadbill_request(appid=s.appid, mch_id=s.mch_id, day=day, merchant=merchant)
        try:
            body = await self._post(protocol.DOWNLOADBILL_PATH, params)
        except BadAnswer as e:
            raise BillUnavailable(str(e)) from None
        if body.lstrip().startswith(b"<xml>"):
            # An error comes as XML ("No Bill Exist" for a day without trade: an empty bill).
            try:
                answer = from_xml(body)
            except XmlError as e:
                raise BillUnavailable(f"downloadbill: {e}") from None
            if "No Bill Exist" in answer.get("return_msg", "") or answer.get("err_code") == "20002":
                return []
            raise BillUnavailable(f"no WeChat bill for {day}: "
                                  f"{protocol.sub_merchant_refusal(answer) or _describe_fail(answer)}")
        try:
            return parse_bill(body.decode("utf-8"), sub_mch_id=merchant.account_id if merchant else None)
        except UnicodeDecodeError:
            raise BillUnavailable("WeChat bill is not UTF-8") from None

    async def _post(self, path: str, params: dict[str, str]) -> bytes:
        s = self._settings
        body = to_xml(protocol.signed(params, s.api_key.reveal(), s.sign_type))
        url = s.base_url.rstrip("/") + path
        try:
            async with self._session.post(url, data=body, headers={"Content-Type": "text/xml; charset=utf-8"}) as resp:
                if resp.status != 200:
                    raise BadAnswer(f"HTTP {resp.status} from {path}", http_fault(resp.status))
                return await resp.read()
        except (aiohttp.ClientError, asyncio.TimeoutError) as e:
            raise BadAnswer(f"{path}: {type(e).__name__} {e}".strip(), Fault.UNREACHABLE) from None

    async def _call(self, path: str, params: dict[str, str]) -> Mapping[str, str]:
        s = self._settings
        api_key = s.api_key.reveal()
        text = await self._post(path, params)
        try:
            answer = from_xml(text)
        except XmlError as e:
            raise BadAnswer(f"{path}: {e}") from None
        # WeChat signs answers whose return_code is SUCCESS; a FAIL answer carries no sign.
        if answer.get("return_code") == "SUCCESS" and not signing.signature_valid(answer, api_key, s.sign_type):
            raise BadAnswer(f"{path}: answer signature does not verify")
        other = protocol.other_merchant(answer, params)
        if other:
            raise BadAnswer(f"{path}: the answer is for {other}, not the sub-merchant asked for")
        return answer


def _describe_fail(answer: Mapping[str, str]) -> str:
    return answer.get("err_code_des") or answer.get("return_msg") or "no reason given"


@contextlib.asynccontextmanager
async def open_channel(settings: WeChatSettings) -> AsyncIterator[WeChatChannel]:
    ssl_context: ssl.SSLContext | bool = True
    if settings.cert_file:
        # reverse (/secapi/...) needs the merchant's client certificate.
        ssl_context = ssl.create_default_context()
        ssl_context.load_cert_chain(settings.cert_file, settings.key_file)
    connector = aiohttp.TCPConnector(ssl=ssl_context)
    timeout = aiohttp.ClientTimeout(total=settings.timeout_s)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        yield WeChatChannel(settings, session)
