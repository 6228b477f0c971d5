# The enhanced scan box: the cashier types the amount and OK, the box asks for the payment code,
# the customer shows it, the box pays and says the result aloud. One state machine fed by two
# event streams (keys, scans); the payment itself runs as its own task so keys and scans are
# still read (and refused politely) while the box waits for the server.
#
#   IDLE --digit--> AMOUNT --OK--> WAIT_SCAN --code--> PAYING --final--> RESULT --(3 s)--> IDLE
#                     ^  CLR/empty -> IDLE   | timeout/CLR -> IDLE          (a key starts a new amount)
#
# Every state change, utterance and LED change is also an event (see `emit`): the simulator
# prints them, the tests read them. What it says comes from core/texts.py, the table every device
# speaks from.
import asyncio

from core import api as api_mod
from core import codes, texts
from core.announce import Announcer, add_announcer
from core.amount import AmountEntry
from core.compat import asleep_ms, ticks_diff, ticks_ms
from core.heartbeat import Heartbeat
from core.http import NetworkError
from core.ring import Ring

IDLE = "IDLE"
AMOUNT = "AMOUNT"
WAIT_SCAN = "WAIT_SCAN"
PAYING = "PAYING"
RESULT = "RESULT"

_AMOUNT_KEYS = ("0", "1", "2", "3", "4", "5", "6", "7", "8", "9", ".", "00")


class App:
    scan_timeout_ms = 30000     # waiting for the customer's code
    result_ms = 3000            # the LED shows the result this long
    query_wait_s = 20           # long poll per query
    follow_ms = 180000          # stop asking about a PAYING order after this (it stays in the journal)
    retry_ms = 2000             # between queries when the network fails
    min_poll_ms = 1000          # a PAYING answer sooner than this (a proxy cutting the long poll
                                # short) is followed by a pause, so the box never hammers the server
    first_heartbeat_s = 10      # after start-up: info and unfinished orders go first
    link_down_say_ms = 300000   # the link down is said (when idle) at most this often (link_down_say_s)

    def __init__(self, keypad, scanner, voice, led, api, journal, device_id,
                 max_fen=5000000, prefixes=codes.DEFAULT_PREFIXES, subject=None, on_event=None,
                 announce_api=None):
        self.keypad = keypad
        self.scanner = scanner
        self.voice = voice
        self.led = led
        self.api = api
        self.journal = journal
        self.device_id = device_id
        self.prefixes = prefixes        # the pre-check's table: what the shop takes (from `info`)
        self.known_prefixes = codes.with_known(prefixes)   # to name a wallet the shop does not take
        self.subject = subject
        self.on_event = on_event
        self.entry = AmountEntry(max_fen)
        self.events = Ring(32)          # the most recent events, for a console or a test
        self.state = IDLE
        self.order_no = None
        self._timer = None
        self._payment = None
        self._tasks = []
        self.info = None                # the server's `info` answer, once it came
        self.refusal = None             # the server's refusal of this device (device_moved, ...), or None
        # the heartbeat, with commands and updates: make_app adds it (None: no heartbeat, as in tests)
        self.heartbeats = None  # type: Heartbeat | None
        # payments on the shop's codes said here (core/announce.py): make_app adds it
        self.announce_api = announce_api    # the DeviceApi it polls with, on a connection of its own
        self.announcer = None  # type: Announcer | None
        self.said_orders = []           # the orders this app said the result of lately (said once)
        self.heard = None               # the last announcement: (amount_fen, channel, spoken)
        self.link_up = True             # the server answered the last request (on_link)
        self._link_said = None          # ticks when the link down was last said

    # ------------------------------------------------------------------------ events, output
    def emit(self, kind, **fields):
        fields["event"] = kind
        self.events.put(fields)
        if self.on_event:
            try:
                self.on_event(fields)
            except Exception:   # a listener's bug must not stop the till
                pass

    def say(self, text):
        self.emit("say", text=text)
        self.voice.say(text)

    def show(self, colour, blink=False):
        if colour == self.led.colour and blink == self.led.blinking:
            return
        self.led.show(colour, blink)
        self.emit("led", colour=colour, blink=blink)

    def _set_state(self, state, **info):
        if self._timer:
            self._timer.cancel()
            self._timer = None
        self.state = state
        self.emit("state", state=state, **info)

    def _after(self, ms, handler):
        self._timer = asyncio.create_task(self._fire(ms, handler))

    async def _fire(self, ms, handler):
        await asleep_ms(ms)
        self._timer = None
        handler()

    # ------------------------------------------------------------------------ running
    async def run(self):
        """Read keys and scans until cancelled."""
        self._tasks = [asyncio.create_task(self._read_keys()),
                       asyncio.create_task(self._read_scans()),
                       asyncio.create_task(self.start_up())]
        for job in self.background():
            self._tasks.append(asyncio.create_task(job))
        self.show("off")
        self._set_state(IDLE)
        try:
            await asyncio.gather(self._tasks[0], self._tasks[1])
        finally:
            self.close()

    def background(self):
        """Coroutines the app runs beside keys and scans: the heartbeat and the announcements, when it
        has them."""
        jobs = []
        if self.heartbeats is not None:
            jobs.append(self.heartbeats.run(self.first_heartbeat_s))
        if self.announcer is not None:
            jobs.append(self.announcer.run())
        return jobs

    # ------------------------------------------------------------------------ announcements (core/announce.py)
    def announce(self, event, speak, via="events"):
        """A payment on the shop's codes, the app idle: said ("微信收款 25.80 元") when speak, else only
        shown (too old to be said: the payer left long ago)."""
        amount_fen = event.get("amount_fen") or 0
        channel = event.get("channel")
        self.heard = (amount_fen, channel, speak)
        self.emit("announce", seq=event.get("seq"), order_no=event.get("order_no"), amount_fen=amount_fen,
                  channel=channel, said=speak, via=via)
        if speak:
            self.say(texts.success_text(channel, amount_fen))

    # ------------------------------------------------------------------------ the link to the server
    def on_link(self, up):
        """Whether the last request reached the server (the announcer, the heartbeat, a payment). Down:
        said when idle, at most once per link_down_say_ms, and shown; back: every unfinished order in the
        journal is asked about at once (no reboot needed)."""
        if up:
            if not self.link_up:
                self.link_up = True
                self._link_said = None
                self.emit("link", up=True)
                if self.idle():
                    self.show("off")
                self._tasks.append(asyncio.create_task(self.recheck()))
            return
        if self.link_up:
            self.link_up = False
            self.emit("link", up=False)
        if not self.idle():
            return
        self.show("yellow")
        said = self._link_said
        if said is None or ticks_diff(ticks_ms(), said) >= self.link_down_say_ms:
            self._link_said = ticks_ms()
            self.say(texts.SAY_LINK_DOWN)

    def network_text(self):
        """What a payment that could not reach the server says: with a static code bound to this device
        (`info`), have the payer scan it instead (the payer's phone has its own network)."""
        if self.info and self.info.get("static_code"):
            return texts.SAY_USE_STATIC_CODE
        return texts.SAY_NETWORK

    async def recheck(self):
        """The link is back: ask about every order the journal has unfinished; one the payer paid meanwhile
        is said (when idle), unless this app said it already."""
        journal = self.journal
        if journal is None:
            return
        for order in journal.unfinished():
            order_no = order["order_no"]
            if self._payment is not None and order_no == self.order_no:
                continue                    # the payment under way asks about it itself
            try:
                found = await self.api.query(order_no, 0)
            except api_mod.ApiError as e:
                if e.code == "order_not_found":     # the pay request never arrived: nothing charged
                    self.journal.record({"order_no": order_no, "status": "NOT_SENT"})
                continue
            except NetworkError:
                return
            self._record(found)
            self.emit("recheck", order_no=order_no, status=found.get("status"))
            if found.get("status") == api_mod.SUCCESS and order_no not in self.said_orders:
                while not self.idle():
                    await asleep_ms(200)
                self.said_orders.append(order_no)
                del self.said_orders[:-8]
                self.say(texts.result_text(found))

    # ------------------------------------------------------------------------ heartbeat (core/heartbeat.py)
    def idle(self):
        """Nothing under way the cashier would miss: an update or a reboot may go ahead."""
        return self.state == IDLE and self._payment is None

    def heartbeat_fields(self):
        """What this profile adds to the heartbeat (the gun: battery, network, signal)."""
        return {}

    def on_standing(self, code):
        """What the heartbeat learned of the device's standing: a refusal code (device_moved,
        device_cloned, device_disabled, ...) or None (served). A new refusal is said once, when idle:
        the shop learns it before a customer is waiting; every payment says it again."""
        if code == self.refusal:
            return
        self.refusal = code
        self.emit("standing", code=code)
        if not self.idle():
            return
        if code is None:
            self.show("off")                # cleared by the acquirer: served again
        else:
            self.show("red")
            self.say(texts.ERROR_TEXTS.get(code, texts.SAY_DEVICE_REFUSED))

    async def heartbeat(self):
        """One heartbeat now, and what its answer asks for; the answer."""
        heartbeats = self.heartbeats
        if heartbeats is None:
            raise ValueError("this app has no heartbeat (add_heartbeat gives it one)")
        return await heartbeats.beat()

    async def on_command(self, kind, args):
        """A command from operations other than update_firmware and reboot."""
        if kind == "sync_orders":
            await self.sync_orders()
        else:
            self.emit("error", where="command", message="unknown command %r" % kind)

    async def sync_orders(self):
        """Bring the journal's unfinished entries up to date from the server's recent orders."""
        for order in await self.api.orders(limit=100):
            order_no = order.get("order_no")
            if order_no and self.journal.get(order_no) is not None:
                self._record(order)

    def close(self):
        """Stop the app's tasks and the drivers' (the app owns the drivers make_app built)."""
        for task in self._tasks + [self._timer, self._payment]:
            if task:
                task.cancel()
        self._tasks = []
        self._timer = self._payment = None
        for driver in (self.keypad, self.scanner, self.voice, self.led):
            if driver is not None:
                driver.deinit()

    async def _read_keys(self):
        async for key in self.keypad:
            self.on_key(key)

    async def _read_scans(self):
        if self.scanner is None:
            return                          # a QR stand without a scan engine
        async for code in self.scanner:
            self.on_scan(code)

    # ------------------------------------------------------------------------ keys
    def on_key(self, key):
        self.emit("key", key=key)
        state = self.state
        if state == PAYING:
            return                          # the payment cannot be stopped from the box
        if state in (IDLE, RESULT):
            if key in _AMOUNT_KEYS:
                self.entry.clear()
                self.show("off")
                self._set_state(AMOUNT)
                self._type(key)
            elif key == "OK":
                self.say(texts.SAY_ENTER_AMOUNT)
            elif state == RESULT and key in ("CLR", "DEL"):
                self._to_idle()
            return
        if state == AMOUNT:
            if key in _AMOUNT_KEYS:
                self._type(key)
            elif key == "DEL":
                self.entry.backspace()
                self.emit("amount", text=self.entry.text, amount_fen=self.entry.fen)
                if self.entry.empty:
                    self._to_idle()
            elif key == "CLR":
                self._to_idle()
            elif key == "OK":
                if self.entry.fen:
                    self._ask_for_code()
                else:
                    self.say(texts.SAY_ENTER_AMOUNT)
            return
        if state == WAIT_SCAN:
            if key == "CLR":
                self.say(texts.SAY_CANCELLED)
                self._to_idle()
            elif key == "DEL":
                self._set_state(AMOUNT, amount_fen=self.entry.fen)      # back to fix the amount
            elif key == "OK":
                self._ask_for_code()

    def _type(self, key):
        if not self.entry.press(key):
            self.emit("refused", key=key, text=self.entry.text)
        self.emit("amount", text=self.entry.text, amount_fen=self.entry.fen)

    def _to_idle(self):
        self.entry.clear()
        self.show("off")
        self._set_state(IDLE)

    def _ask_for_code(self):
        self.scanner.clear()
        self.scanner.trigger()
        self._set_state(WAIT_SCAN, amount_fen=self.entry.fen)
        # the server out of reach: the cashier hears at once that the payer should scan the shop's code
        # (a code shown anyway is still tried)
        self.say(texts.SAY_SHOW_CODE if self.link_up else self.network_text())
        self._after(self.scan_timeout_ms, self._scan_timed_out)

    def _scan_timed_out(self):
        if self.state == WAIT_SCAN:
            self.say(texts.SAY_SCAN_TIMEOUT)
            self._to_idle()

    # ------------------------------------------------------------------------ scans
    def on_scan(self, code):
        state = self.state
        self.emit("scan", code=codes.mask(code))
        if state == PAYING:
            return
        if state == WAIT_SCAN or (state == AMOUNT and self.entry.fen):
            # an amount typed but not yet confirmed: showing the code confirms it
            self._start_payment(code)
        else:
            self.say(texts.SAY_AMOUNT_FIRST)

    def _start_payment(self, code):
        try:
            channel = codes.check(code, self.prefixes, self.known_prefixes)
        except codes.CodeRefused as e:
            self.emit("code_refused", reason=e.reason)
            self.say(texts.not_taken_text(e.channel) if e.reason == codes.NOT_TAKEN else texts.SAY_UNSUPPORTED)
            if self.state == AMOUNT:
                self._ask_for_code()
            else:
                self._set_state(WAIT_SCAN, amount_fen=self.entry.fen)   # restarts the wait
                self._after(self.scan_timeout_ms, self._scan_timed_out)
            return
        amount_fen = self.entry.fen
        order_no = self.journal.next_order_no(self.device_id)
        self.order_no = order_no
        self.journal.record({"order_no": order_no, "amount_fen": amount_fen,
                             "channel": channel, "status": "NEW"})
        self._set_state(PAYING, order_no=order_no, amount_fen=amount_fen, channel=channel)
        self.show("blue", blink=True)
        self._payment = asyncio.create_task(self._pay(order_no, amount_fen, code, channel))

    # ------------------------------------------------------------------------ paying
    async def _pay(self, order_no, amount_fen, auth_code, channel=None):
        try:
            try:
                order = await self.api.pay(order_no, amount_fen, auth_code, self.subject)
            except NetworkError as e:
                # the order stays NEW in the journal: resume() or recheck() asks about it later
                self.emit("error", where="pay", message=str(e))
                self.on_link(False)
                self._finish(False, self.network_text())
                return
            except api_mod.ApiError as e:
                self.emit("error", where="pay", code=e.code, message=e.message)
                if e.status >= 500:
                    # a server fault even after the retries: the outcome is unknown, so the order
                    # stays NEW for resume(), like a network failure
                    self._finish(False, texts.SAY_NETWORK)
                    return
                # refused: nothing happened on the server
                self.journal.record({"order_no": order_no, "status": "REFUSED", "reason": e.code})
                if e.code == "channel_not_open":       # the server's list changed since our last `info`
                    self._finish(False, texts.not_taken_text(channel))
                    return
                self._finish(False, texts.error_text(e.code))
                return
            self._record(order)
            if order.get("status") == api_mod.PAYING:
                self.say(texts.SAY_PAYER_PAYING)
                order = await self._follow(order_no)
                if order is None:
                    self._finish(False, texts.SAY_NETWORK)
                    return
            self._finish(order.get("status") == api_mod.SUCCESS, texts.result_text(order), order)
        except asyncio.CancelledError:
            raise
        except Exception as e:      # a bug must not leave the box blinking blue forever
            self.emit("error", where="pay", message="%s: %s" % (type(e).__name__, e))
            self._finish(False, texts.SAY_UNKNOWN)
        finally:
            self._payment = None

    async def _follow(self, order_no):
        """Long-poll until the order is final; None when no final answer came within follow_ms."""
        start = ticks_ms()
        while ticks_diff(ticks_ms(), start) < self.follow_ms:
            asked = ticks_ms()
            try:
                order = await self.api.query(order_no, self.query_wait_s)
            except NetworkError as e:
                self.emit("error", where="query", message=str(e))
                self.on_link(False)
                await asleep_ms(self.retry_ms)
                continue
            except api_mod.ApiError as e:
                self.emit("error", where="query", code=e.code, message=e.message)
                if e.status < 500:
                    return None
                await asleep_ms(self.retry_ms)
                continue
            self._record(order)
            if order.get("status") in api_mod.FINAL:
                return order
            early = self.min_poll_ms - ticks_diff(ticks_ms(), asked)
            if early > 0:
                await asleep_ms(early)
        return None

    def _record(self, order):
        kept = {"order_no": order.get("order_no")}
        for name in ("amount_fen", "channel", "status", "reason", "finished_at"):
            if order.get(name) is not None:
                kept[name] = order[name]
        self.journal.record(kept)
        self.emit("order", **kept)

    def _finish(self, paid, text, order=None):
        if order is not None and order.get("status") == api_mod.SUCCESS:
            self.said_orders.append(order.get("order_no"))      # its announcement is not said again
            del self.said_orders[:-8]
        self.show("green" if paid else "red")
        self._set_state(RESULT, paid=paid, order_no=self.order_no,
                        status=order.get("status") if order else None,
                        reason=order.get("reason") if order else None)
        self.say(text)
        self._after(self.result_ms, self._result_done)

    def _result_done(self):
        if self.state == RESULT:
            self._to_idle()

    # ------------------------------------------------------------------------ start-up
    async def start_up(self):
        await self.load_info()
        await self.resume()

    async def load_info(self):
        """The server's `info`: the code pre-check table and the amount limit. Without an answer the
        built-in (or configured) ones stay."""
        try:
            info = await self.api.info()
        except (NetworkError, api_mod.ApiError) as e:
            self.emit("error", where="info", message=str(e))
            return None
        self.info = info
        self.prefixes = codes.prefixes_from_info(info, self.prefixes, self.known_prefixes)
        limits = info.get("limits")
        if isinstance(limits, dict) and isinstance(limits.get("max_amount_fen"), int):
            self.entry.max_fen = min(self.entry.max_fen, limits["max_amount_fen"])
        self.emit("info", wallets=info.get("wallets"), max_fen=self.entry.max_fen)
        return info

    # ------------------------------------------------------------------------ after a reboot
    async def resume(self):
        """Ask once about orders a power cut left unfinished, and record what the server says."""
        for order in self.journal.unfinished():
            order_no = order["order_no"]
            try:
                found = await self.api.query(order_no, 0)
            except api_mod.ApiError as e:
                if e.code == "order_not_found":     # the pay request never arrived: nothing charged
                    self.journal.record({"order_no": order_no, "status": "NOT_SENT"})
                continue
            except NetworkError:
                return
            self._record(found)


def app_parts(hw, config, transport=None, on_event=None, journal=True):
    """The drivers and services every keypad profile shares, as App keyword arguments.
    Must be called inside the running event loop (drivers start their tasks).
    journal: False for a device that takes no payments (the speaker): no order journal on its flash."""
    from core.api import DeviceApi
    from core.http import HttpClient
    from core.journal import Journal
    from drivers.keypad import Keypad
    from drivers.scan_engine import ScanEngine
    from drivers.status_led import StatusLed
    from drivers.voice import Voice

    device_id = config["device_id"]
    given_transport = transport is not None
    if transport is None:
        from core.js_http import JsHttpTransport, on_webassembly
        if on_webassembly():
            transport = JsHttpTransport(config["server_url"])
        else:
            transport = HttpClient(config["server_url"], ssl=hw.ssl)
    prefixes = codes.DEFAULT_PREFIXES
    if config.get("code_prefixes"):
        prefixes = codes.load_prefixes(config["code_prefixes"])
    led = None
    if hw.led_pins:
        red, green, blue = hw.led_pins
        led = StatusLed(red, green, blue, hw.led_active_high)
    api = DeviceApi(transport, device_id, config["device_key"], hardware_id=getattr(hw, "hardware_id", None),
                    compact=config.get("request_form") == "compact")
    given = transport if given_transport else None
    return dict(
        keypad=Keypad(hw.rows, hw.cols, hw.keymap),
        scanner=ScanEngine(hw.scan_uart) if hw.scan_uart is not None else None,
        voice=Voice(hw.voice_uart, hw.voice_busy, config.get("voice_chip", "syn6288")),
        led=led or NoLed(),
        api=api,
        journal=Journal(config.get("journal_path", "/journal.json")) if journal else None,
        device_id=device_id,
        max_fen=config.get("max_fen", 5000000),
        prefixes=prefixes,
        subject=config.get("subject"),
        on_event=on_event,
        announce_api=announce_api(api, config, hw, given),
    )


def announce_api(api, config, hw, transport=None):
    """The DeviceApi announcements poll with: the same device on a second connection (a payment never
    waits behind a 20 s poll), or the one given (tests inject one transport); None: `announce` false."""
    if config.get("announce") is False:
        return None
    if transport is not None:
        # a test's own transport: announcements only when asked for, sharing it
        return api.sibling(transport) if config.get("announce") else None
    if transport is None:
        from core.http import HttpClient
        from core.js_http import JsHttpTransport, on_webassembly
        if on_webassembly():
            transport = JsHttpTransport(config["server_url"])
        else:
            transport = HttpClient(config["server_url"], ssl=hw.ssl)
    return api.sibling(transport)


class NoLed:
    """For boards without a status LED (the screen says it all)."""
    colour = "off"
    blinking = False

    def show(self, colour, blink=False):
        self.colour = colour
        self.blinking = blink

    def deinit(self):
        pass


def add_heartbeat(app, config, reset=None, place=None):
    """Give a networked app its heartbeat (and with it, firmware updates). reset: the board's
    machine.reset. place: the board's place reader (core/place.py). config: profile; fs_root (where
    /ota.json and /slots live, "/" on a device); heartbeat_first_s (the first beat after start-up,
    default the app's first_heartbeat_s); place_every (beats between two reads of the place)."""
    app.heartbeats = Heartbeat(app.api, app, reset=reset, profile=config.get("profile"),
                               root=config.get("fs_root", "/"), place=place)
    if isinstance(config.get("place_every"), int) and config["place_every"] > 0:
        app.heartbeats.place_every = config["place_every"]
    if isinstance(config.get("heartbeat_first_s"), int):
        app.first_heartbeat_s = config["heartbeat_first_s"]
    if isinstance(config.get("link_down_say_s"), int):
        app.link_down_say_ms = config["link_down_say_s"] * 1000
    if app.announce_api is not None:
        add_announcer(app, config, app.announce_api)
    return app


def make_app(hw, config, transport=None, on_event=None, reset=None, place=None):
    """The enhanced box's app and its drivers, from a board's Hardware and the device config.
    place: the board's place reader (core/place.py)."""
    app = App(**app_parts(hw, config, transport, on_event))  # pyright: ignore[reportArgumentType]
    if config.get("scan_timeout_s"):
        app.scan_timeout_ms = config["scan_timeout_s"] * 1000
    return add_heartbeat(app, config, reset, place)
