"""The agent's end of the basic scan box's USB serial line (docs/basic-box-protocol.md). Lines are framed,
parsed and written by the box's own firmware module (firmware/core/line_protocol.py), so the agent and the
box agree on every limit.

Scans come out of `link.scans` (an asyncio.Queue of `Scan`), each once however often the box repeats
it; commands (`say`, `led`, `beep`, `stop_speaking`) are resent until the box answers `ACK`, at most
3 times, 1 s apart. The port is reopened whenever it comes back after an unplug, and the box is
greeted with `PING` each time; nothing depends on a session, so either side may restart at any time.

    link = BoxLink("COM4")
    await link.start()
    scan = await link.scans.get()
    await link.say("微信收款 12.50 元")
"""
import asyncio
import logging
import time
from dataclasses import dataclass

from core import line_protocol as lp
from host_agent.masking import mask
from host_agent.serial_link import CLOSED, OPEN, PortClosed, SerialLink

log = logging.getLogger(__name__)


class BoxError(Exception):
    """The box could not carry out a command (not connected, no answer, or it refused)."""


@dataclass(frozen=True)
class Scan:
    seq: int
    code: str
    at: float           # time.monotonic() when it arrived


@dataclass(frozen=True)
class BoxInfo:
    profile: str
    firmware: str
    serial: str


class BoxLink:
    ack_timeout_s = 1.0
    resends = 3
    repeat_window_s = 10.0      # a SCAN seq seen within this is the box repeating itself

    def __init__(self, port, baudrate=115200, *, on_event=None, link_factory=SerialLink):
        self.port = port
        self.baudrate = baudrate
        self.on_event = on_event
        self._link_factory = link_factory
        self.scans = asyncio.Queue(maxsize=16)
        self.box = None             # BoxInfo once the box said HELLO
        self.connected = False
        self._splitter = lp.LineSplitter()
        self._seq = 0
        self._pending = {}          # seq -> future answered by ACK / ERR
        self._pings = set()
        self._recent = {}           # SCAN seq -> (code, time)
        self._write_lock = asyncio.Lock()
        self._link = None
        self._loop = None
        self._hello = asyncio.Event()
        self._tasks = set()

    # ------------------------------------------------------------------ life cycle
    async def start(self):
        self._loop = asyncio.get_running_loop()
        call = self._loop.call_soon_threadsafe
        self._link = self._link_factory(
            self.port, self.baudrate, name="box",
            on_bytes=lambda data: call(self._on_bytes, data),
            on_state=lambda state: call(self._on_state, state))
        self._link.start()
        return self

    async def stop(self):
        for task in list(self._tasks):
            task.cancel()
        if self._link:
            await asyncio.to_thread(self._link.stop)
        for future in self._pending.values():
            if not future.done():
                future.set_exception(BoxError("the agent is stopping"))
        self._pending.clear()

    async def wait_ready(self, timeout=5.0):
        """Wait until the box has said HELLO on the current connection."""
        await asyncio.wait_for(self._hello.wait(), timeout)
        return self.box

    def _emit(self, kind, **fields):
        if self.on_event:
            fields["event"] = kind
            try:
                self.on_event(fields)
            except Exception:
                log.exception("box event listener failed")

    def _spawn(self, coro):
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _on_state(self, state):
        if state == OPEN:
            self.connected = True
            self._splitter = lp.LineSplitter()
            log.info("box port %s connected", self.port)
            self._emit("box", state="connected")
            self._spawn(self._greet())
        elif state == CLOSED:
            self.connected = False
            self.box = None
            self._hello.clear()
            log.warning("box port %s disconnected (unplugged?); waiting for it to come back", self.port)
            self._emit("box", state="disconnected")

    async def _greet(self):
        try:
            await self.command("PING")
        except BoxError as exc:
            log.warning("the box did not answer PING: %s", exc)

    # ------------------------------------------------------------------ lines in
    def _on_bytes(self, data):
        for raw in self._splitter.feed(data):
            if not raw:                 # the splitter dropped a line over the limit
                log.warning("box sent a line longer than %d bytes", lp.MAX_LINE)
                self._send_nowait(lp.format_line("ERR", 0, lp.TOO_LONG))
                continue
            if not raw.strip():
                continue
            try:
                verb, seq, argument = lp.parse_line(raw, lp.BOX_VERBS)
            except lp.BadLine as exc:
                log.warning("box sent a line that does not parse (%s)", exc.reason)
                self._send_nowait(lp.format_line("ERR", exc.seq, exc.reason))
                continue
            self._on_message(verb, seq, argument)

    def _on_message(self, verb, seq, argument):
        if verb == "ACK":
            self._answer(seq, None)
        elif verb == "ERR":
            self._answer(seq, argument or "error")
        elif verb == "HELLO":
            parts = argument.split(" ")
            parts += [""] * (3 - len(parts))
            self.box = BoxInfo(parts[0], parts[1], " ".join(parts[2:]).strip())
            if seq in self._pings:
                self._pings.discard(seq)
                self._answer(seq, None)
            else:                   # the box (re)started: its SCAN numbers start over
                self._recent.clear()
            log.info("box %s (%s, firmware %s) ready", self.box.serial, self.box.profile, self.box.firmware)
            self._emit("box", state="ready", profile=self.box.profile, firmware=self.box.firmware,
                       serial=self.box.serial)
            self._hello.set()
        elif verb == "SCAN":
            self._on_scan(seq, argument.strip())

    def _on_scan(self, seq, code):
        self._send_nowait(lp.format_line("ACK", seq))
        now = time.monotonic()
        for old in [s for s, (_, at) in self._recent.items() if now - at > self.repeat_window_s]:
            del self._recent[old]
        seen = self._recent.get(seq)
        if seen and seen[0] == code:
            return                  # the box repeated it: our ACK was late or lost
        self._recent[seq] = (code, now)
        log.info("box scanned a code %s", mask(code))
        scan = Scan(seq, code, now)
        if self.scans.full():       # nobody is taking scans: drop the oldest
            self.scans.get_nowait()
        self.scans.put_nowait(scan)

    def _answer(self, seq, error):
        future = self._pending.get(seq)
        if future is not None and not future.done():
            future.set_result(error)

    # ------------------------------------------------------------------ lines out
    async def _write(self, line):
        async with self._write_lock:
            await asyncio.to_thread(self._link.write, line)

    def _send_nowait(self, line):
        async def send():
            try:
                await self._write(line)
            except PortClosed:
                pass
        self._spawn(send())

    def _next_seq(self):
        self._seq = self._seq % lp.MAX_SEQ + 1
        return self._seq

    async def command(self, verb, argument=""):
        """Send a command and wait for the box's ACK; BoxError when it cannot be done."""
        seq = self._next_seq()
        line = lp.format_line(verb, seq, argument)
        future = self._loop.create_future()
        self._pending[seq] = future
        if verb == "PING":
            self._pings.add(seq)
        try:
            for attempt in range(1 + self.resends):
                try:
                    await self._write(line)
                except PortClosed as exc:
                    raise BoxError("the box is not connected (%s)" % exc) from None
                try:
                    error = await asyncio.wait_for(asyncio.shield(future), self.ack_timeout_s)
                except asyncio.TimeoutError:
                    continue
                if error is not None:
                    raise BoxError("the box refused %s: %s" % (verb, error))
                return True
            raise BoxError("the box did not answer %s %d" % (verb, seq))
        finally:
            self._pending.pop(seq, None)
            self._pings.discard(seq)

    async def say(self, text):
        return await self.command("SAY", text)

    async def led(self, colour, blink=False):
        if colour not in lp.LED_COLOURS:
            raise ValueError("LED colour must be one of %s" % ", ".join(lp.LED_COLOURS))
        return await self.command("LED", colour + (" blink" if blink else ""))

    async def beep(self):
        return await self.command("BEEP")

    async def stop_speaking(self):
        return await self.command("STOP")
