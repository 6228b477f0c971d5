# The handheld scanning gun: the enhanced box's payment flow plus a screen (amount, status, result),
# a battery gauge, the last 100 orders on screen and a look-up of any of them by number (asked of the
# server), and a heartbeat that reports battery and signal. The network is 3G/4G through the modem
# (PPP) or Wi-Fi; the board brings it up before the app starts.
#
# Keys beyond the box's: FN in IDLE opens the history (newest first, `page_lines` per page).
#   HISTORY: digits type an order's number (the last digits of its order_no), OK looks it up on the
#            server (no number typed: next page), DEL deletes a digit, CLR goes back.
#   LOOKUP:  the order as the server has it now, shown and said; any key goes back to the history.
import asyncio

from core import api as api_mod
from core import app as base
from core import texts
from core.amount import format_fen
from core.http import NetworkError

HISTORY = "HISTORY"
LOOKUP = "LOOKUP"

STATUS_WORDS = {"SUCCESS": "PAID", "FAILED": "FAILED", "CLOSED": "CLOSED", "REFUNDED": "REFUNDED",
                "PAYING": "PAYING", "NEW": "UNSENT", "REFUSED": "REFUSED", "NOT_SENT": "UNSENT"}
CHANNEL_WORDS = texts.CHANNEL_WORDS


def order_number(order_no):
    """The short number a cashier types for an order: its counter without leading zeros."""
    tail = order_no.rsplit("-", 1)[-1]
    return str(int(tail)) if tail.isdigit() else tail


def history_line(order):
    """'#12  12.50 PAID' for one journal entry."""
    return "#%s %s %s" % (order_number(order["order_no"]), format_fen(order.get("amount_fen") or 0),
                          STATUS_WORDS.get(order.get("status"), order.get("status") or "?"))


class GunApp(base.App):
    page_lines = 8
    first_heartbeat_s = 0       # the gun reports battery and signal as soon as it is up

    def __init__(self, screen, battery=None, network_kind=None, modem=None, **parts):
        super().__init__(**parts)
        self.screen = screen
        self.battery = battery
        self.network_kind = network_kind        # "4g", "wifi" or None (down)
        self.modem = modem
        self.page = 0
        self.lookup_number = ""
        self.looked_up = None
        self.message = None                     # text operations asked to show (heartbeat)
        self._low_said = False

    # ------------------------------------------------------------------------ running
    def idle(self):
        # the history and a look-up are the cashier's too: an update waits for them as for a payment
        return super().idle() and self.state not in (HISTORY, LOOKUP)

    def emit(self, kind, **fields):
        super().emit(kind, **fields)
        if kind in ("state", "amount", "order", "info", "standing", "announce", "link") and self.screen is not None:
            self.draw()

    # ------------------------------------------------------------------------ keys
    def on_key(self, key):
        state = self.state
        if state in (base.IDLE, base.RESULT) and key == "FN":
            self.emit("key", key=key)
            self.page = 0
            self.lookup_number = ""
            self._set_state(HISTORY)
            return
        if state == HISTORY:
            self.emit("key", key=key)
            self._history_key(key)
            return
        if state == LOOKUP:
            self.emit("key", key=key)
            if key in ("CLR", "DEL", "OK", "FN"):
                self.lookup_number = ""
                self._set_state(HISTORY)
            return
        super().on_key(key)

    def _history_key(self, key):
        if key in "0123456789" and len(key) == 1:
            if len(self.lookup_number) < 6:
                self.lookup_number += key
            self.draw()
        elif key == "DEL":
            if self.lookup_number:
                self.lookup_number = self.lookup_number[:-1]
                self.draw()
            else:
                self._to_idle()
        elif key == "CLR":
            self._to_idle()
        elif key == "OK" or key == "FN":
            if self.lookup_number:
                number = self.lookup_number
                self.lookup_number = ""
                self._payment = asyncio.create_task(self.look_up(number))
            else:
                pages = max(1, (len(self.journal) + self.page_lines - 1) // self.page_lines)
                self.page = (self.page + 1) % pages
                self.draw()

    # ------------------------------------------------------------------------ look-up
    def find_order_no(self, number):
        """The journal's order with this short number (its counter), else None."""
        if not number.isdigit():
            return None
        order_no = self.journal.order_no(self.device_id, int(number))
        return order_no if self.journal.get(order_no) is not None else None

    async def look_up(self, number):
        """Ask the server about order `number` (journal first, else the server's recent orders)."""
        self._set_state(LOOKUP, number=number)
        try:
            order_no = self.find_order_no(number)
            if order_no is None:
                for order in await self.api.orders(limit=100):
                    if order_number(order.get("order_no", "")) == number:
                        order_no = order["order_no"]
                        break
            if order_no is None:
                self.looked_up = None
                self.draw()
                self.say(texts.SAY_ORDER_NOT_FOUND)
                return
            order = await self.api.query(order_no, 0)
        except NetworkError as e:
            self.emit("error", where="lookup", message=str(e))
            self.say(texts.SAY_NETWORK)
            return
        except api_mod.ApiError as e:
            self.emit("error", where="lookup", code=e.code, message=e.message)
            self.say(texts.error_text(e.code))
            return
        finally:
            self._payment = None
        if self.journal.get(order_no) is not None:
            self._record(order)
        self.looked_up = order
        self.emit("lookup", order_no=order_no, status=order.get("status"),
                  amount_fen=order.get("amount_fen"))
        self.draw()
        if order.get("status") == api_mod.PAYING:
            self.say(texts.SAY_PAYER_PAYING)
        else:
            self.say(texts.result_text(order))

    # ------------------------------------------------------------------------ battery, heartbeat
    def battery_pct(self):
        return self.battery.percent() if self.battery is not None else None

    def check_battery(self):
        pct = self.battery_pct()
        if pct is None:
            return None
        low = self.battery.low_pct
        if pct < low and not self._low_said:
            self._low_said = True
            self.say(texts.SAY_BATTERY_LOW)
        elif pct >= low + 5:
            self._low_said = False
        return pct

    def heartbeat_fields(self):
        fields = {}
        pct = self.check_battery()
        if pct is not None:
            fields["battery_pct"] = pct
        if self.network_kind:
            fields["network"] = self.network_kind
        if self.modem is not None and self.modem.signal_dbm is not None:
            fields["signal_dbm"] = self.modem.signal_dbm
        return fields

    async def on_command(self, kind, args):
        if kind == "show_message":
            self.message = args.get("text")
            self.draw()
        else:
            await super().on_command(kind, args)

    # ------------------------------------------------------------------------ the screen
    def draw(self):
        s = self.screen
        s.clear()
        pct = self.battery_pct()
        network = self.network_kind if self.link_up else None      # no server: offline whatever the radio says
        top = "%s %s" % ((network or "offline").upper(), ("%d%%" % pct) if pct is not None else "")
        s.text(top, 0, 0)
        state = self.state
        y = 24
        if state == base.IDLE:
            y = s.center("scanpay", y, 3)
            y = s.center("Enter amount", y + 12, 2)
            if self.refusal:                    # the server refuses this gun: only the acquirer helps
                y = s.center("CALL SERVICE", y + 12, 2)
                y = s.center(self.refusal[:28], y + 4)
            if self.message:
                y = s.center(self.message[:28], y + 12)
            if self.heard:                      # the last payment on the shop's codes (core/announce.py)
                s.center(texts.heard_line(*self.heard), y + 12, 2)
        elif state == base.AMOUNT:
            y = s.center("Amount (yuan)", y, 2)
            s.center(self.entry.text or "0", y + 16, 4)
        elif state == base.WAIT_SCAN:
            y = s.center(format_fen(self.entry.fen), y, 4)
            s.center("Scan payer code", y + 16, 2)
        elif state == base.PAYING:
            y = s.center(format_fen(self.entry.fen), y, 4)
            s.center("Paying...", y + 16, 2)
        elif state == base.RESULT:
            last = self.journal.get(self.order_no) if self.order_no else None
            status = (last or {}).get("status") or "FAILED"
            paid = status == api_mod.SUCCESS          # REFUNDED shows as such, never as PAID
            y = s.center("PAID" if paid else STATUS_WORDS.get(status, status), y, 4)
            y = s.center(format_fen((last or {}).get("amount_fen") or self.entry.fen), y + 8, 3)
            channel = last.get("channel") if last else None
            if channel:
                y = s.center(CHANNEL_WORDS.get(channel, channel), y + 8, 2)
            if last and last.get("reason"):
                s.center(last["reason"], y + 8)
            if self.order_no:
                s.center("#" + order_number(self.order_no), s.height - 12)
        elif state == HISTORY:
            s.text("History %d/%d" % (self.page + 1, max(1, (len(self.journal) + self.page_lines - 1)
                                                          // self.page_lines)), 0, 12, 1)
            y = 28
            for order in self.journal.orders(self.page * self.page_lines, self.page_lines):
                s.text(history_line(order), 0, y, 2 if s.width >= 240 else 1)
                y += 20 if s.width >= 240 else 10
            s.text("No. " + (self.lookup_number or "_") + "  OK=look up", 0, s.height - 10)
        elif state == LOOKUP:
            order = self.looked_up
            if order is None:
                s.center("Looking up...", y, 2)
            else:
                y = s.center("#" + order_number(order.get("order_no", "")), y, 2)
                y = s.center(format_fen(order.get("amount_fen") or 0), y + 8, 3)
                y = s.center(STATUS_WORDS.get(order.get("status"), "?"), y + 8, 3)
                if order.get("reason"):
                    s.center(order["reason"], y + 8)
        s.show()
        self.emit("screen", state=state, lines=list(s.lines))

    def _set_state(self, state, **info):
        if state != LOOKUP:
            self.looked_up = None
        super()._set_state(state, **info)


def make_app(hw, config, transport=None, on_event=None, network_kind=None, modem=None, reboot=None,
             place=None):
    """place: the board's place reader (core/place.py: the modem's cell on 4G, a scan on Wi-Fi)."""
    from drivers.battery import Battery
    from drivers.display import Screen

    parts = base.app_parts(hw, config, transport, on_event)
    battery = Battery(hw.battery_adc, hw.battery_divider) if hw.battery_adc is not None else None
    app = GunApp(Screen(hw.display), battery=battery, network_kind=network_kind, modem=modem, **parts)
    if config.get("scan_timeout_s"):
        app.scan_timeout_ms = config["scan_timeout_s"] * 1000
    return base.add_heartbeat(app, config, reset=reboot, place=place)
