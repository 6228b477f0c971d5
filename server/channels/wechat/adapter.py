"""The WeChat Pay adapter: HTTP and signatures around the pure protocol functions."""
from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
from collections.abc import AsyncIterator, Mapping

import aiohttp

from ...masking import mask
from ...settings import WeChatSettings
from .. import CancelResult, ChannelResult, Outcome, PayCommand, Schedule
from . import protocol, signing
from .xmlcodec import XmlError, from_xml, to_xml

log = logging.getLogger(__name__)


class BadAnswer(Exception):
    """WeChat's answer could not be trusted (HTTP error, bad XML, bad signature)."""


class WeChatChannel:
    name = "wechat"

    def __init__(self, settings: WeChatSettings, session: aiohttp.ClientSession):
        self._settings = settings
        self._session = session
        self.schedule = Schedule(
            pay_timeout_s=settings.timeout_s, query_interval_s=settings.query_interval_s,
            deadline_s=settings.deadline_s, cancel_retry_s=settings.cancel_retry_s,
            cancel_attempts=settings.cancel_attempts)

    async def pay(self, command: PayCommand) -> ChannelResult:
        s = self._settings
        params = protocol.micropay_request(
            appid=s.appid, mch_id=s.mch_id, trade_no=command.trade_no, amount_fen=command.amount_fen,
            auth_code=command.auth_code, body=command.subject or s.body, spbill_create_ip=s.spbill_create_ip,
            device_info=command.device_id)
        log.info("wechat micropay %s %d fen code %s", command.trade_no, command.amount_fen, mask(command.auth_code))
        try:
            answer = await self._call(protocol.MICROPAY_PATH, params)
        except BadAnswer as e:
            return ChannelResult(Outcome.UNKNOWN, message=str(e))
        return protocol.interpret_micropay(answer)

    async def query(self, trade_no: str) -> ChannelResult:
        s = self._settings
        params = protocol.orderquery_request(appid=s.appid, mch_id=s.mch_id, trade_no=trade_no)
        try:
            answer = await self._call(protocol.ORDERQUERY_PATH, params)
        except BadAnswer as e:
            return ChannelResult(Outcome.UNKNOWN, message=str(e))
        return protocol.interpret_orderquery(answer)

    async def cancel(self, trade_no: str) -> CancelResult:
        s = self._settings
        params = protocol.reverse_request(appid=s.appid, mch_id=s.mch_id, trade_no=trade_no)
        log.info("wechat reverse %s", trade_no)
        try:
            answer = await self._call(protocol.REVERSE_PATH, params)
        except BadAnswer as e:
            return CancelResult(cancelled=False, message=str(e))
        return protocol.interpret_reverse(answer)

    async def _call(self, path: str, params: dict[str, str]) -> Mapping[str, str]:
        s = self._settings
        api_key = s.api_key.reveal()
        body = to_xml(protocol.signed(params, api_key, s.sign_type))
        url = s.base_url.rstrip("/") + path
        try:
            async with self._session.post(url, data=body, headers={"Content-Type": "text/xml; charset=utf-8"}) as resp:
                if resp.status != 200:
                    raise BadAnswer(f"HTTP {resp.status} from {path}")
                text = await resp.read()
        except (aiohttp.ClientError, asyncio.TimeoutError) as e:
            raise BadAnswer(f"{path}: {type(e).__name__} {e}".strip()) from None
        try:
            answer = from_xml(text)
        except XmlError as e:
            raise BadAnswer(f"{path}: {e}") from None
        # WeChat signs answers whose return_code is SUCCESS; a FAIL answer carries no sign.
        if answer.get("return_code") == "SUCCESS" and not signing.signature_valid(answer, api_key, s.sign_type):
            raise BadAnswer(f"{path}: answer signature does not verify")
        return answer


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
