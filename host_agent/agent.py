"""The cashier PC's agent: the amount from the POS, the payment code from the basic box, the payment
through the server, the result out of the box's speaker.

    amount source --AmountReading--> Agent <--Scan-- BoxLink (USB serial)
                                       |  pay / query (long poll)
                                       v
                                  DeviceApi --> server

One payment at a time. An amount is kept until a payment for it succeeds (a refused code leaves it
for the customer's next try) or until it is `amount_ttl_s` old. Every failure is told twice: in
words to the cashier through the box, and in a log line that says what to do about it.
"""
import asyncio
import logging
import time

from core import codes, texts
from core.amount import format_fen
from host_agent.api import FINAL, PAYING, SUCCESS, ApiError, DeviceApi, ServerUnreachable, new_order_no
from host_agent.box_link import BoxError
from host_agent.error_help import ERROR_HELP
from host_agent.events import EventLog
from host_agent.masking import mask

log = logging.getLogger(__name__)


class Agent:
    def __init__(self, source, box, api, *, amount_ttl_s=600.0, query_wait_s=20, follow_s=180.0,
                 retry_s=2.0, prompt_on_amount=True, subject=None, on_event=None):
        self.source = source
        self.box = box
        self.api = api
        self.amount_ttl_s = amount_ttl_s
        self.query_wait_s = query_wait_s
        self.follow_s = follow_s
        self.retry_s = retry_s
        self.prompt_on_amount = prompt_on_amount
        self.subject = subject
        self.on_event = on_event
        self.prefixes = codes.DEFAULT_PREFIXES     # the pre-check: what the shop takes (the server's `info`)
        self.known_prefixes = codes.DEFAULT_PREFIXES
        self.amount = None              # the AmountReading waiting to be paid
        self.no_amount_why = None       # why the source can tell no amount now (for the cashier), or None
        self.events = EventLog("agent event")
        self._payment = None
        self._unsure = None             # (order_no, amount_fen, code) of a pay whose answer never came
        self._tasks = set()
        self._tell_lock = asyncio.Lock()    # the box hears one thing after another, in order

    @classmethod
    def from_config(cls, config, *, on_event=None):
        from host_agent.box_link import BoxLink
        from host_agent.sources import make_source
        server, payment = config.server, config.payment
        api = DeviceApi(server.url, server.device_id, server.device_key, body_format=server.body_format,
                        timeout_s=server.timeout_s)
        api.pay_attempts = payment.pay_attempts
        api.retry_s = payment.retry_s
        return cls(make_source(config), BoxLink(config.box.port, config.box.baudrate), api,
                   amount_ttl_s=payment.amount_ttl_s, query_wait_s=payment.query_wait_s,
                   follow_s=payment.follow_s, retry_s=payment.retry_s,
                   prompt_on_amount=payment.prompt_on_amount, subject=server.subject or None,
                   on_event=on_event)

    # ------------------------------------------------------------------ events
    def emit(self, kind, **fields):
        fields["event"] = kind
        self.events.append(fields)
        if self.on_event:
            try:
                self.on_event(fields)
            except Exception:
                log.exception("event listener failed")

    async def wait_event(self, predicate, timeout=10.0, start=0):
        """The first event in events[start:] for which predicate is true (tests, console)."""
        return await self.events.wait(predicate, timeout, start)

    def _spawn(self, coro):
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    # ------------------------------------------------------------------ running
    async def run(self):
        """Run until cancelled."""
        await self.box.start()
        self._spawn(self.load_info())
        source_task = self._spawn(self.source.run(self.on_amount))
        scan_task = None
        try:
            while True:
                scan_task = asyncio.ensure_future(self.box.scans.get())
                done, _ = await asyncio.wait({scan_task, source_task}, return_when=asyncio.FIRST_COMPLETED)
                if source_task in done:
                    source_task.result()        # a source that stops has failed: say why
                    raise RuntimeError("the amount source %s stopped" % self.source.name)
                self.on_scan(scan_task.result())
        finally:
            if scan_task is not None:
                scan_task.cancel()
            for task in list(self._tasks):
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
            await self.box.stop()
            await self.api.close()

    async def load_info(self):
        """The server's `info`: which wallets' codes the shop takes. Without an answer (or from an older
        server) the firmware's built-in table stays, and the server refuses what it does not take."""
        try:
            info = await self.api.info()
        except (ServerUnreachable, ApiError) as exc:
            log.warning("no info from the server (%s): checking codes with the built-in wallet table", exc)
            return None
        self.prefixes = codes.prefixes_from_info(info, self.prefixes, self.known_prefixes)
        log.info("the shop takes %s", ", ".join(row[0] for row in self.prefixes) or "no wallet")
        self.emit("info", wallets=[row[0] for row in self.prefixes])
        return info

    def on_amount(self, reading):
        if reading.amount_fen is None:  # the source can no longer tell the amount: forget the one held
            self.amount = None
            self.no_amount_why = reading.text or None
            log.info("no amount from %s%s", reading.source, ": " + reading.text if reading.text else "")
            self.emit("no_amount", source=reading.source, text=reading.text)
            return
        self.no_amount_why = None
        self.amount = reading
        log.info("amount %s yuan from %s", format_fen(reading.amount_fen), reading.source)
        self.emit("amount", amount_fen=reading.amount_fen, source=reading.source, text=reading.text)
        if self.prompt_on_amount and self._payment is None:
            self._spawn(self._tell(texts.SAY_SHOW_CODE, "blue"))

    def current_amount(self):
        reading = self.amount
        if reading is None:
            return None
        if time.monotonic() - reading.at > self.amount_ttl_s:
            log.info("the amount %s yuan is older than %d s: forgotten", format_fen(reading.amount_fen),
                     self.amount_ttl_s)
            self.amount = None
            return None
        return reading

    def on_scan(self, scan):
        code = scan.code
        self.emit("scan", code=mask(code))
        if self._payment is not None:
            log.warning("scan %s ignored: a payment is under way", mask(code))
            self._spawn(self._tell(texts.SAY_BUSY))
            return
        reading = self.current_amount()
        if reading is None:
            log.warning("scan %s ignored: no amount yet (the POS has not shown a total; source %s)",
                        mask(code), self.source.name)
            self.emit("refused", why="no_amount")
            self._spawn(self._tell(self.no_amount_why or texts.SAY_AMOUNT_FIRST, "red"))
            return
        try:
            channel = codes.check(code, self.prefixes, self.known_prefixes)
        except codes.CodeRefused as exc:
            if exc.reason == codes.NOT_TAKEN:
                log.warning("scan %s is a %s code: this shop does not take %s (the server's info)",
                            mask(code), exc.channel, exc.channel)
                text = texts.not_taken_text(exc.channel)
            else:
                log.warning("scan %s is not a payment code of any wallet (%s)", mask(code), exc.reason)
                text = texts.SAY_UNSUPPORTED
            self.emit("refused", why=exc.reason, channel=exc.channel)
            self._spawn(self._tell(text, "red"))
            return
        self._payment = self._spawn(self._pay(reading, code, channel))
        self._payment.add_done_callback(self._payment_done)

    def _payment_done(self, task):
        self._payment = None
        if not task.cancelled() and task.exception() is not None:
            log.error("payment failed unexpectedly: %r", task.exception())

    # ------------------------------------------------------------------ telling the box
    async def _tell(self, text=None, colour=None, blink=False):
        self.emit("tell", text=text, colour=colour, blink=blink)
        status = getattr(self.source, "status", None)
        if text and callable(status):
            status(text)
        async with self._tell_lock:
            try:
                if colour:
                    await self.box.led(colour, blink)
                if text:
                    await self.box.say(text)
            except BoxError as exc:
                log.warning("could not tell the box %r: %s", text or colour, exc)

    def _tell_later(self, text=None, colour=None):
        """Tell the box without waiting for it: a payment is over once its result is known, so the
        next total or scan is not held up by the box acknowledging what it was told."""
        self._spawn(self._tell(text, colour))

    # ------------------------------------------------------------------ paying
    async def _pay(self, reading, code, channel=None):
        amount_fen = reading.amount_fen
        if self._unsure and self._unsure[1:] == (amount_fen, code):
            order_no = self._unsure[0]          # the same try again: the server's idempotency key
        else:
            order_no = new_order_no()
        self.emit("pay", order_no=order_no, amount_fen=amount_fen)
        log.info("paying %s yuan, order %s, code %s", format_fen(amount_fen), order_no, mask(code))
        await self._tell(None, "blue", blink=True)
        try:
            order = await self.api.pay(order_no, amount_fen, code, self.subject)
        except ServerUnreachable as exc:
            self._unsure = (order_no, amount_fen, code)
            log.error("order %s: the server cannot be reached (%s); nothing is known to be charged. "
                      "Check the network; the agent keeps asking about the order", order_no, exc)
            self.emit("result", order_no=order_no, status=None, why="server_unreachable", text=texts.SAY_NETWORK)
            self._tell_later(texts.SAY_NETWORK, "red")
            self._spawn(self._follow_up(order_no, amount_fen))
            return
        except ApiError as exc:
            log.error("order %s refused by the server: %s (%s)%s", order_no, exc.code, exc.message,
                      "; " + ERROR_HELP[exc.code] if exc.code in ERROR_HELP else "")
            # the shop was closed at the wallet since our last `info`: name the wallet, as the box does
            text = texts.not_taken_text(channel) if exc.code == "channel_not_open" else texts.error_text(exc.code)
            self.emit("result", order_no=order_no, status=None, why=exc.code, text=text)
            self._tell_later(text, "red")
            return
        self._unsure = None
        if order["status"] == PAYING:
            await self._tell(texts.SAY_PAYER_PAYING, "blue", blink=True)
            order = await self._wait_final(order)
            if order is None:
                return
        self._announce(order)

    async def _wait_final(self, order):
        """Long-poll until the order is final; None (and the cashier told) when it never became so."""
        order_no = order["order_no"]
        deadline = time.monotonic() + self.follow_s
        while time.monotonic() < deadline:
            started = time.monotonic()
            try:
                order = await self.api.query(order_no, wait=self.query_wait_s)
            except (ServerUnreachable, ApiError) as exc:
                if isinstance(exc, ApiError) and exc.status < 500:
                    log.error("order %s: query refused: %s", order_no, exc)
                    break
                log.warning("order %s: no answer to query (%s); asking again", order_no, exc)
                await asyncio.sleep(self.retry_s)
                continue
            if order["status"] in FINAL:
                return order
            if time.monotonic() - started < 1.0:
                await asyncio.sleep(1.0)        # a long poll cut short: never hammer the server
        log.error("order %s is still not final after %d s: look it up on the console before "
                  "taking the payment again", order_no, self.follow_s)
        self.emit("result", order_no=order_no, status=PAYING, why="unknown", text=texts.SAY_UNKNOWN)
        self._tell_later(texts.SAY_UNKNOWN, "yellow")
        return None

    def _announce(self, order):
        text = texts.result_text(order)
        status = order["status"]
        if status == SUCCESS:
            log.info("order %s paid: %s yuan by %s", order["order_no"], format_fen(order["amount_fen"]),
                     order.get("channel"))
            if self.amount is not None and self.amount.amount_fen == order["amount_fen"]:
                self.amount = None              # paid: the next scan needs a new total
        else:
            log.warning("order %s %s: %s (%s)", order["order_no"], status, order.get("reason"),
                        order.get("message") or "")
        self.emit("result", order_no=order["order_no"], status=status, why=order.get("reason"), text=text)
        self._tell_later(text, "green" if status == SUCCESS else "red")

    async def _follow_up(self, order_no, amount_fen):
        """After a pay whose answer never came: find out whether the server has the order at all."""
        deadline = time.monotonic() + self.follow_s
        while time.monotonic() < deadline:
            await asyncio.sleep(self.retry_s)
            try:
                order = await self.api.query(order_no, wait=self.query_wait_s)
            except ServerUnreachable:
                continue
            except ApiError as exc:
                if exc.code == "order_not_found":
                    log.info("order %s never reached the server: nothing was charged", order_no)
                    return
                if exc.status < 500:
                    return
                continue
            if order["status"] in FINAL:
                if self._unsure and self._unsure[0] == order_no:
                    self._unsure = None
                log.info("order %s turned out %s after the network came back", order_no, order["status"])
                if order["status"] == SUCCESS and self._payment is None:
                    self._announce(order)
                return
