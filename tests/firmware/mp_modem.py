# Runs on CPython and on real MicroPython, either port (mp_run.py): the modem driver (drivers/modem.py)
# against a stand-in SIM7600 at the other end of its UART, with the timings shortened:
#   ppp_first  the modem is still in a data call (the ESP32 reset, the modem did not): PPP frames
#              (0x7E flags, 0x7D escapes, bytes that are not UTF-8, CR and LF) pour out and AT is data
#              to it, until "+++" comes between two guard times; then ATH, the AT chat, a new call
#   off        the modem is off: silent until its PWRKEY is pressed long enough, then it boots
#   dead       nothing ever answers (no PWRKEY wired; then wired, but the modem never boots)
#   redial     the network drops the call; the driver's task dials again, and again with a longer wait
#              while the network is not there, until it is
# Prints "RESULT <json>".
import json

import asyncio

from core.compat import asleep_ms, ticks_diff, ticks_ms
from drivers import modem as modem_mod

GUARD_MS = 60
PPP_FRAMES = (
    b"\x7e\xff\x7d\x23\xc0\x21\x7d\x21\x7d\x21\x7d\x20\x7d\x24\x7e",       # LCP Configure-Request
    b"\x7e\xff\x03\xc0\x21\x09\x07\x00\x08\xde\xad\xbe\xef\x9c\x1b\x7e",   # Echo-Request, ACCM 0
    b"\x7e\x21\x45\x00\x00\x54\xc3\x28\xe2\x28\xa1\x0d\x0a\xfe\xff\x7e",   # IP: not UTF-8, a CR LF
    b"\x7e\x80\x21\x01\x01\x00\x0a\x03\x06\x00\x00\x00\x00\x0d\x0d\x0a\x7e",
)


class Sim7600:
    """The modem's end of the UART as the driver reads and writes it, and its PWRKEY pin (value()).
    state: "off", "booting", "command", "data" (a call: what is written is PPP data, frames come
    out; "+++" between guard times escapes) or "online" (escaped, the call still up)."""

    def __init__(self, state, boots_after_ms=150, press_ms=20):
        self.state = state
        self.rx = bytearray()
        self.line = b""
        self.log = []                   # (ms since start, what came in: a command line or "+++")
        self.start = ticks_ms()
        self.last_write = ticks_ms()
        self.plus_at = None
        self.frame_at = ticks_ms()
        self.frames = 0
        self.pressed_at = None
        self.presses = []               # how long PWRKEY was held, ms
        self.boots_after_ms = boots_after_ms    # None: never boots
        self.press_ms = press_ms
        self.boot_at = 0
        self.registered = True
        self.echo = True

    # ---- PWRKEY (the board's pin: high presses the key)
    def value(self, level=None):
        now = ticks_ms()
        if level:
            self.pressed_at = now
        elif self.pressed_at is not None:
            held = ticks_diff(now, self.pressed_at)
            self.presses.append(held)
            self.pressed_at = None
            if self.state == "off" and held >= self.press_ms and self.boots_after_ms is not None:
                self.state, self.boot_at = "booting", now

    # ---- the UART
    def _tick(self):
        now = ticks_ms()
        if self.state == "data":
            if self.plus_at is not None and ticks_diff(now, self.plus_at) >= GUARD_MS:
                self.plus_at = None
                self.state = "online"
                self.reply("OK")
            elif ticks_diff(now, self.frame_at) >= 15:      # the network's side of the PPP link
                self.rx.extend(PPP_FRAMES[self.frames % len(PPP_FRAMES)])
                self.frames += 1
                self.frame_at = now
        elif self.state == "booting" and ticks_diff(now, self.boot_at) >= self.boots_after_ms:
            self.state = "command"
            self.reply("RDY")

    def any(self):
        self._tick()
        return len(self.rx)

    def readinto(self, buf, n=None):
        self._tick()
        if not self.rx:
            return None
        n = min(len(buf), len(self.rx))
        buf[:n] = self.rx[:n]
        self.rx = self.rx[n:]
        return n

    def write(self, data):
        data = bytes(data)
        now = ticks_ms()
        quiet = ticks_diff(now, self.last_write)
        self.last_write = now
        if self.state in ("off", "booting"):
            return len(data)
        if self.state == "data":
            # "+++" escapes only after a guard time of silence; anything else is PPP for the network
            self.plus_at = now if data == b"+++" and quiet >= GUARD_MS else None
            if data == b"+++":
                self.log.append((ticks_diff(now, self.start), "+++"))
            return len(data)
        self.line += data
        while b"\r" in self.line:
            i = self.line.find(b"\r")
            command, self.line = self.line[:i].decode(), self.line[i + 1:]
            if command:
                self.command(command, now)
        return len(data)

    def reply(self, *lines):
        for line in lines:
            self.rx.extend(b"\r\n" + line.encode() + b"\r\n")

    def command(self, line, now):
        self.log.append((ticks_diff(now, self.start), line))
        if self.echo:
            self.rx.extend(line.encode() + b"\r")
        if line == "AT":
            self.reply("OK")
        elif line == "ATE0":
            self.echo = False
            self.reply("OK")
        elif line == "ATH":
            self.state = "command"
            self.reply("OK")
        elif line == "AT+CPIN?":
            self.reply("+CPIN: READY", "OK")
        elif line == "AT+CGREG?":
            self.reply("+CGREG: 0,%d" % (1 if self.registered else 2), "OK")
        elif line == "AT+CSQ":
            self.reply("+CSQ: 20,99", "OK")
        elif line == "AT+COPS?":
            self.reply('+COPS: 0,2,"46000",7', "OK")
        elif line == "AT+CEREG?":
            self.reply('+CEREG: 2,1,"5E1A","01A2D001",7', "OK")
        elif line in ("AT+COPS=3,2", "AT+CEREG=2", "AT+CEREG=0") or line.startswith("AT+CGDCONT=1"):
            self.reply("OK")
        elif line == "ATD*99#":
            self.reply("CONNECT 150000000")
            self.state = "data"
            self.frame_at = now
        else:
            self.reply("ERROR")

    def drop(self):
        """The network ends the call: back to command mode."""
        self.state = "command"
        self.reply("NO CARRIER")


class Ppp:
    """network.PPP on the stand-in: connected while the modem is in its call."""

    def __init__(self, sim):
        self.sim = sim
        self.on = False
        self.connected = False

    def active(self, on=None):
        if on is not None:
            self.on = bool(on)
            self.connected = self.connected and self.on

    def connect(self):
        self.connected = self.on and self.sim.state == "data"

    def isconnected(self):
        return self.connected and self.sim.state == "data"


class Network:
    def __init__(self, sim):
        self.sim = sim

    def PPP(self, uart):
        return Ppp(self.sim)


def quick(modem):
    modem.guard_ms = GUARD_MS
    modem.probe_ms = 200     # the escape's OK has guard_ms + probe_ms to come: room for a loaded machine
    modem.poll_ms = 5
    modem.register_ms = 60
    modem.register_poll_ms = 20
    modem.pwrkey_ms = 30
    modem.boot_ms = 400
    modem.watch_ms = 20
    modem.redial_first_ms = 40
    return modem


def commands(sim):
    return [line for _, line in sim.log]


async def ppp_first():
    sim = Sim7600("data")
    modem = quick(modem_mod.Modem(sim, "cmnet"))
    up = await modem.keep_up(Network(sim))
    modem.deinit()
    return {"up": up, "frames": sim.frames, "log": commands(sim), "cell": modem.cell,
            "transcript": [list(t) for t in modem.transcript]}


async def off():
    sim = Sim7600("off")
    modem = quick(modem_mod.Modem(sim, "cmnet", pwrkey=sim))
    up = await modem.keep_up(Network(sim))
    modem.deinit()
    return {"up": up, "presses": sim.presses, "log": commands(sim)}


async def dead():
    out = []
    for sim, pwrkey in ((Sim7600("off"), False), (Sim7600("off", boots_after_ms=None), True)):
        modem = quick(modem_mod.Modem(sim, "cmnet", pwrkey=sim if pwrkey else None))
        try:
            await modem.connect()
            out.append("connected")
        except modem_mod.ModemError as e:
            out.append([str(e), len(sim.presses)])
    return out


async def redial():
    sim = Sim7600("command")
    modem = quick(modem_mod.Modem(sim, "cmnet"))
    network = Network(sim)
    first = await modem.keep_up(network)
    sim.registered = False
    dropped_at = ticks_diff(ticks_ms(), sim.start)
    sim.drop()
    for _ in range(400):            # the network is back for the third dial after the drop
        await asleep_ms(10)
        if [line for t, line in sim.log if t > dropped_at].count("ATE0") >= 3:
            sim.registered = True
        if modem.dials == 2:
            break
    up = modem.is_up()
    modem.deinit()
    starts = [t for t, line in sim.log if line == "ATE0" and t > dropped_at]
    return {"first": first, "up": up, "dials": modem.dials, "dropped_at": dropped_at,
            "attempts": starts, "ate0_total": commands(sim).count("ATE0")}


async def main():
    junk = b"".join(PPP_FRAMES)
    return {
        "parse": list(modem_mod.parse_reply(junk + b"\r\nOK\r\n")),
        "parse_info": list(modem_mod.parse_reply(junk + b"\r\n+CSQ: 20,99\r\n" + junk + b"\r\nOK\r\n")),
        "lines": [modem_mod.text_line(frame) for frame in PPP_FRAMES] + [modem_mod.text_line(b" OK ")],
        "ppp_first": await ppp_first(),
        "off": await off(),
        "dead": await dead(),
        "redial": await redial(),
    }


# On MicroPython WebAssembly the top-level coroutine cannot be cancelled: everything runs in a task.
result = await asyncio.create_task(main())
print("RESULT " + json.dumps(result))
