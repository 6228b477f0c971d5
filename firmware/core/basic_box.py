# The basic scan box: no network and no keypad of its own. It sends every code its scan engine reads
# to the host agent on the cashier PC over USB serial, and speaks, lights and beeps as the agent says
# (docs/basic-box-protocol.md). The agent does the paying.
#
# A SCAN is repeated with the same seq every `scan_repeat_ms` until the agent ACKs it (at most
# `scan_tries` times); an agent command is carried out once per seq (a resent command is only ACKed
# again), so a lost ACK in either direction never speaks twice or pays twice.
import asyncio

from core import line_protocol as lp
from core.codes import mask
from core.compat import asleep_ms, ticks_diff, ticks_ms
from core.ring import Ring
from core.version import VERSION

IDLE = "IDLE"
PROFILE = "basic"


class BasicBox:
    scan_repeat_ms = 1000
    scan_tries = 5
    poll_ms = 10
    seen_size = 16          # how many recent agent seqs are remembered as done

    def __init__(self, serial, scanner, voice, led, serial_no, buzzer=None, on_event=None):
        self.serial = serial            # the USB CDC port: a UART-like any()/read()/write()
        self.scanner = scanner
        self.voice = voice
        self.led = led
        self.serial_no = serial_no
        self.buzzer = buzzer            # a Pin (high = sound) or None
        self.on_event = on_event
        self.events = Ring(32)
        self.state = IDLE
        self.journal = None
        self._seq = 0
        self._pending = {}              # seq -> [code, tries, last sent ticks]
        self._seen = []                 # agent seqs already carried out, oldest first
        self._splitter = lp.LineSplitter()
        self._tasks = []

    def emit(self, kind, **fields):
        fields["event"] = kind
        self.events.put(fields)
        if self.on_event:
            try:
                self.on_event(fields)
            except Exception:
                pass

    def _next_seq(self):
        self._seq = (self._seq + 1) & 0xFFFF
        return self._seq

    def send(self, verb, seq, argument=None):
        self.serial.write(lp.format_line(verb, seq, argument))
        shown = mask(argument) if verb == "SCAN" and argument else argument
        self.emit("sent", verb=verb, seq=seq, argument=shown)

    def hello(self, seq=None):
        self.send("HELLO", self._next_seq() if seq is None else seq,
                  "%s %s %s" % (PROFILE, VERSION, self.serial_no))

    async def run(self):
        self._tasks = [asyncio.create_task(self._read_serial()),
                       asyncio.create_task(self._read_scans()),
                       asyncio.create_task(self._repeat_scans())]
        self.led.show("off")
        self.hello()
        self.emit("state", state=IDLE)
        try:
            await asyncio.gather(*self._tasks)
        finally:
            self.close()

    def close(self):
        for task in self._tasks:
            task.cancel()
        self._tasks = []
        for driver in (self.scanner, self.voice, self.led):
            driver.deinit()

    # ------------------------------------------------------------------------ scans -> agent
    async def _read_scans(self):
        async for code in self.scanner:
            self.on_scan(code)

    def on_scan(self, code):
        code = code.strip()
        if not code or len(code) > lp.MAX_LINE - 12:
            return
        seq = self._next_seq()
        self._pending[seq] = [code, 1, ticks_ms()]
        self.emit("scan", code=mask(code), seq=seq)
        self.send("SCAN", seq, code)

    async def _repeat_scans(self):
        while True:
            await asleep_ms(50)
            now = ticks_ms()
            for seq in list(self._pending):
                entry = self._pending[seq]
                if ticks_diff(now, entry[2]) < self.scan_repeat_ms:
                    continue
                if entry[1] >= self.scan_tries:
                    del self._pending[seq]
                    self.emit("scan_lost", seq=seq)     # the agent is gone: the cashier scans again
                    continue
                entry[1] += 1
                entry[2] = now
                self.send("SCAN", seq, entry[0])

    # ------------------------------------------------------------------------ agent -> box
    async def _read_serial(self):
        while True:
            data = self.serial.read() if self.serial.any() else None
            if data:
                for line in self._splitter.feed(data):
                    self.on_line(line)
            else:
                await asleep_ms(self.poll_ms)

    def on_line(self, line):
        if not line:
            self.send("ERR", 0, lp.TOO_LONG)
            return
        if not line.strip():
            return
        try:
            verb, seq, argument = lp.parse_line(line)
        except lp.BadLine as e:
            self.emit("bad_line", reason=e.reason)
            self.send("ERR", e.seq, e.reason)
            return
        if verb == "ACK":
            if self._pending.pop(seq, None) is not None:
                self.emit("acked", seq=seq)
            return
        if verb == "PING":
            self.hello(seq)
            return
        if seq in self._seen:
            self.send("ACK", seq)       # a resend of a command already carried out
            return
        try:
            self._carry_out(verb, argument)
        except lp.BadLine as e:
            self.send("ERR", seq, e.reason)
            return
        self._seen.append(seq)
        if len(self._seen) > self.seen_size:
            self._seen.pop(0)
        self.send("ACK", seq)

    def _carry_out(self, verb, argument):
        if verb == "SAY":
            if not argument.strip():
                raise lp.BadLine(lp.BAD_LINE)
            self.emit("say", text=argument)
            self.voice.say(argument)
        elif verb == "LED":
            colour, blink = lp.parse_led(argument)
            self.led.show(colour, blink)
            self.emit("led", colour=colour, blink=blink)
        elif verb == "STOP":
            self.voice.stop()
            self.emit("stop")
        elif verb == "BEEP":
            self.emit("beep")
            if self.buzzer is not None:
                asyncio.create_task(self._beep())

    async def _beep(self):
        buzzer = self.buzzer
        if buzzer is None:
            return
        buzzer.value(1)
        await asleep_ms(80)
        buzzer.value(0)


def make_app(hw, config, on_event=None):
    """The basic box and its drivers, from the board's Hardware. Inside the running event loop."""
    from drivers.scan_engine import ScanEngine
    from drivers.status_led import StatusLed
    from drivers.voice import Voice

    red, green, blue = hw.led_pins
    return BasicBox(
        serial=hw.usb_serial,
        scanner=ScanEngine(hw.scan_uart),
        voice=Voice(hw.voice_uart, hw.voice_busy, config.get("voice_chip", "syn6288")),
        led=StatusLed(red, green, blue, hw.led_active_high),
        serial_no=config["device_id"],
        buzzer=hw.buzzer,
        on_event=on_event,
    )
