# The dynamic QR stand: its screen shows the shop's static code (from `info`) while idle, so payers
# scan it and type the amount themselves (up to the static-code limit). For a larger sale the cashier
# types the amount and OK: the stand asks the server for a one-time code (`qr`), shows it with the
# amount, waits for the payer (long-polled `query`) and says the result. With a scan engine fitted,
# FN after the amount asks for the payer's payment code instead (B2C, as on the box).
#
#   IDLE (static code) --digit--> AMOUNT --OK--> SHOW_CODE --final--> RESULT --(3 s)--> IDLE
#                                        \--FN--> WAIT_SCAN --code--> PAYING (the box's flow)
#   SHOW_CODE --CLR--> `close` on the server --> IDLE ("已取消"), unless the payer had just paid.
import asyncio

from core import api as api_mod
from core import app as base
from core import qr, texts
from core.amount import format_fen
from core.http import NetworkError

SHOW_CODE = "SHOW_CODE"


class StandApp(base.App):
    result_ms = 4000

    def __init__(self, screen, **parts):
        super().__init__(**parts)
        self.screen = screen
        self.static_code = None         # Bitmap of the shop's static code, once `info` gave it
        self.one_time = None            # (Bitmap, amount_fen) on screen in SHOW_CODE

    def emit(self, kind, **fields):
        super().emit(kind, **fields)
        if kind in ("state", "amount", "announce", "link") and self.screen is not None:
            self.draw()

    async def load_info(self):
        info = await super().load_info()
        if info is not None:
            try:
                self.static_code = qr.from_answer(info, "static_code")
            except qr.QRError as e:
                self.emit("error", where="info", message=str(e))
            if self.state == base.IDLE:
                self.draw()
        return info

    # ------------------------------------------------------------------------ keys
    def on_key(self, key):
        state = self.state
        if state == SHOW_CODE:
            self.emit("key", key=key)
            if key == "CLR" and self._payment is not None:
                self._payment.cancel()
                self._payment = asyncio.create_task(self._close(self.order_no))
            return
        if state == base.AMOUNT and key == "OK" and self.entry.fen:
            self.emit("key", key=key)
            self._start_code()
            return
        if state == base.AMOUNT and key == "FN" and self.entry.fen and self.scanner is not None:
            self.emit("key", key=key)
            self._ask_for_code()
            return
        super().on_key(key)

    # ------------------------------------------------------------------------ one-time codes
    def _start_code(self):
        amount_fen = self.entry.fen
        order_no = self.journal.next_order_no(self.device_id)
        self.order_no = order_no
        self.journal.record({"order_no": order_no, "amount_fen": amount_fen, "kind": "c2b",
                             "status": "NEW"})
        self.one_time = None
        self._set_state(base.PAYING, order_no=order_no, amount_fen=amount_fen, order_kind="c2b")
        self.show("blue", blink=True)
        self._payment = asyncio.create_task(self._show_code(order_no, amount_fen))

    async def _show_code(self, order_no, amount_fen):
        try:
            try:
                order, _text, answer = await self.api.qr(order_no, amount_fen, self.subject)
                bitmap = qr.from_answer(answer)
            except NetworkError as e:
                self.emit("error", where="qr", message=str(e))
                self.on_link(False)
                self._finish(False, self.network_text())     # the shop's code is on the screen again
                return
            except api_mod.ApiError as e:
                self.emit("error", where="qr", code=e.code, message=e.message)
                if e.status < 500:
                    self.journal.record({"order_no": order_no, "status": "REFUSED", "reason": e.code})
                self._finish(False, texts.error_text(e.code))
                return
            if bitmap is None:
                self.emit("error", where="qr", message="no code in the answer")
                self._finish(False, texts.SAY_FAILED)
                return
            self._record(order)
            self.one_time = (bitmap, amount_fen)
            self._set_state(SHOW_CODE, order_no=order_no, amount_fen=amount_fen)
            self.say("%s %s 元" % (texts.SAY_SCAN_TO_PAY, format_fen(amount_fen)))
            if order.get("status") not in api_mod.FINAL:
                order = await self._follow(order_no)
            if order is None:
                self._finish(False, texts.SAY_NETWORK)
                return
            self._finish(order.get("status") == api_mod.SUCCESS, texts.result_text(order), order)
        except asyncio.CancelledError:
            raise
        except Exception as e:      # a bug must not leave the stand showing a code forever
            self.emit("error", where="qr", message="%s: %s" % (type(e).__name__, e))
            self._finish(False, texts.SAY_UNKNOWN)
        finally:
            if self._payment is asyncio.current_task():
                self._payment = None

    async def _close(self, order_no):
        """The cashier gave up on the code: the server closes the order (the payer can no longer pay)."""
        try:
            order = await self.api.close(order_no)
        except (NetworkError, api_mod.ApiError) as e:
            self.emit("error", where="close", message=str(e))
            self._finish(False, texts.SAY_NETWORK)
            return
        finally:
            self._payment = None
        self._record(order)
        if order.get("status") == api_mod.SUCCESS:       # paid just before the cancel: say so
            self._finish(True, texts.result_text(order), order)
            return
        self.say(texts.SAY_CANCELLED)
        self._to_idle()

    # ------------------------------------------------------------------------ the screen
    def draw(self):
        s = self.screen
        s.clear()
        state = self.state
        big = 2 if s.width >= 200 else 1
        if state == base.IDLE:
            if self.static_code is not None:
                # the last payment on the shop's codes (core/announce.py) where the label was
                s.center(texts.heard_line(*self.heard) if self.heard else
                         "Scan to pay" if self.link_up else "Scan to pay (offline)", 0, big)
                s.qr(self.static_code, top=8 * big + 2)
            else:
                y = s.center("scanpay", s.height // 2 - 8, big)
                if self.heard:
                    s.center(texts.heard_line(*self.heard), y + 4, big)
        elif state == base.AMOUNT:
            y = s.center("Amount (yuan)", 4, big)
            s.center(self.entry.text or "0", y + 8, 2 * big + 1)
        elif state == SHOW_CODE and self.one_time is not None:
            bitmap, amount_fen = self.one_time
            s.center(format_fen(amount_fen), 0, big)
            s.qr(bitmap, top=8 * big + 2)
        elif state in (base.PAYING, SHOW_CODE):
            s.center(format_fen(self.entry.fen), s.height // 2 - 16, 2 * big)
            s.center("Please wait", s.height // 2 + 12, big)
        elif state == base.WAIT_SCAN:
            y = s.center(format_fen(self.entry.fen), 8, 2 * big)
            s.center("Show payment code", y + 8, big)
        elif state == base.RESULT:
            last = self.journal.get(self.order_no) if self.order_no else None
            status = (last or {}).get("status")
            y = s.center("PAID" if status == api_mod.SUCCESS else (status or "FAILED"), 8, 2 * big)
            s.center(format_fen((last or {}).get("amount_fen") or 0), y + 8, 2 * big)
        s.show()
        self.emit("screen", state=state, lines=list(s.lines), qr_size=s.qr_size)


def make_app(hw, config, transport=None, on_event=None, reset=None, place=None):
    """place: the board's place reader (core/place.py)."""
    from drivers.display import Screen

    app = StandApp(Screen(hw.display), **base.app_parts(hw, config, transport, on_event))
    if config.get("scan_timeout_s"):
        app.scan_timeout_ms = config["scan_timeout_s"] * 1000
    return base.add_heartbeat(app, config, reset, place)
