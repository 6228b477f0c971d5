# 3G/4G modem (SIM7600, EC20/EC200, A7670 class) on a UART: AT commands until the data call is up
# ("ATD*99#" -> "CONNECT"), then the same UART carries PPP and MicroPython's `network.PPP` gives the
# firmware ordinary sockets and TLS. Parsing of replies is pure (`parse_reply`, `text_line`,
# `csq_to_dbm`, `creg_registered`, `parse_operator`, `parse_area`, `cell_text`); the Modem class talks.
#
# The line is bytes, never text: a modem still in a data call after the ESP32 reset (the modem did not)
# sends PPP frames (0x7E flags, 0x7D escapes, any byte value) before it answers. Only a line of printable
# ASCII is decoded; anything else is PPP and dropped (MicroPython ignores decode's errors=).
#
# Command mode, before every dial (`command_mode`): AT; if no OK, the escape: a guard time of silence,
# "+++", a guard time, then ATH to end the call; if still no OK, a PWRKEY pulse (the board passes the
# pin) and AT until the modem has booted. After the first dial the driver's task (`keep_up`) watches the
# PPP link: down -> PPP lets go of the UART -> command mode -> dial again, with backoff.
#
# Timings (shared/reference/hardware.md names no modem timings; "unverified" -> class attributes):
#   guard_ms   the V.250 escape: silence before and after "+++", at least 1000 ms (Siemens TC63 and
#              MC55 AT manuals, section "+++"; S12 default 50 x 20 ms); SIM7600 uses the same escape.
#   pwrkey_ms  PWRKEY pressed to power on: SIMCom, typ. 500 ms, min. 100 ms (the board's own note:
#              "high 500 ms = power on"); a Quectel EC200U guide holds it 2000 ms: set
#              config "modem": {"pwrkey_ms": 2000} for that module.
#   boot_ms    power-on to UART ready: 6 s typ. on a SIMCom LTE module's sheet; SIM7600 boards are
#              commonly given 20 s.
#
# The serving cell (the device's place on 4G, core/place.py) is asked before dialling, with the 3GPP
# commands every SIM7600/EC20/A7670 answers: AT+COPS=3,2 then AT+COPS? for MCC-MNC as digits, AT+CEREG=2
# then AT+CEREG? for the LTE TAC and cell id (hex), AT+CREG the same on 2G/3G. Reporting goes back to
# n=0 after: unsolicited +CEREG lines must not land in the data call.
import asyncio

from core.compat import asleep_ms, const, ticks_diff, ticks_ms

_AT_TIMEOUT_MS = const(2000)
_DIAL_TIMEOUT_MS = const(30000)
_MAX_LINE = const(128)          # a longer run without a line end is PPP data, not a modem's answer
_MAX_INFO = const(8)            # information lines kept per answer
_TRANSCRIPT = const(16)         # (command, final) pairs kept for diagnostics
_PPP_FLAG = const(0x7E)         # starts and ends every PPP frame; never in a modem's answer
_MAX_DISCARD = const(64)        # buffers thrown away before a command (4 KiB: 0.35 s of 115200 baud)

FINALS = ("OK", "ERROR", "CONNECT", "NO CARRIER", "BUSY", "NO DIALTONE", "NO ANSWER")


class ModemError(Exception):
    pass


def text_line(raw):
    """A reply line (bytes, no line end) as str, stripped, when it is printable ASCII; None for
    anything else: PPP frames (the 0x7E flag, 0x7D escapes, bytes >= 0x80) are not the modem talking."""
    for byte in raw:
        if byte < 0x20 or byte >= _PPP_FLAG:
            return None
    return raw.decode().strip()     # printable ASCII: decodes on every MicroPython


def is_final(line):
    return line in FINALS or line.startswith("CONNECT") or line.startswith("+CME ERROR") \
        or line.startswith("+CMS ERROR")


def parse_reply(data):
    """(final result or None while incomplete, information lines) of a modem's reply (bytes or str).
    Echoed commands, blank lines and lines that are not ASCII text (PPP bytes) are dropped;
    '+CME ERROR: n' is a final result."""
    if isinstance(data, str):
        data = data.encode()
    info = []
    for raw in data.replace(b"\r", b"\n").split(b"\n"):
        line = text_line(raw)
        if not line or line.startswith("AT"):
            continue
        if is_final(line):
            return line, info
        info.append(line)
    return None, info


def csq_to_dbm(info_lines):
    """Signal strength in dBm from '+CSQ: <rssi>,<ber>' (None when the modem does not know: 99)."""
    for line in info_lines:
        if line.startswith("+CSQ:"):
            rssi = int(line[5:].split(",")[0])
            if rssi == 99:
                return None
            return -113 + 2 * rssi
    return None


def creg_registered(info_lines):
    """True when '+CREG:'/'+CGREG:'/'+CEREG: <n>,<stat>' says registered (home 1 or roaming 5)."""
    for line in info_lines:
        for head in ("+CREG:", "+CGREG:", "+CEREG:"):
            if line.startswith(head):
                fields = line[len(head):].split(",")
                stat = fields[1] if len(fields) > 1 else fields[0]
                return stat.strip() in ("1", "5")
    return False


_REG_HEADS = ("+CEREG:", "+CGREG:", "+CREG:")
_NO_AREA = (0, 0xFFFE)      # no area yet, or "deleted" (3GPP TS 24.301): not a place


def parse_operator(info_lines):
    """'460-00' (MCC-MNC) from '+COPS: <mode>,2,"46000"[,<act>]' (numeric format); None otherwise."""
    for line in info_lines:
        if line.startswith("+COPS:"):
            fields = line[6:].split(",")
            if len(fields) >= 3 and fields[1].strip() == "2":
                plmn = fields[2].strip().strip('"')
                if plmn.isdigit() and len(plmn) in (5, 6):
                    return plmn[:3] + "-" + plmn[3:]
    return None


def parse_area(info_lines):
    """(LAC or TAC, cell id) as integers from '+CEREG: 2,<stat>,"<tac>","<ci>"[,<act>]' (the answer to
    AT+CEREG? with n=2; +CREG/+CGREG alike, or the unsolicited '+CEREG: <stat>,"<tac>","<ci>"'); None
    when not registered or the modem left the location out."""
    for line in info_lines:
        for head in _REG_HEADS:
            if not line.startswith(head):
                continue
            fields = [f.strip() for f in line[len(head):].split(",")]
            # the location is the first two quoted fields; <stat> the field just before them
            first = 0
            while first < len(fields) and not fields[first].startswith('"'):
                first += 1
            if first == 0 or first + 1 >= len(fields) or fields[first - 1] not in ("1", "5"):
                continue
            try:
                area = int(fields[first].strip('"'), 16)
                cell_id = int(fields[first + 1].strip('"'), 16)
            except ValueError:
                continue
            if area in _NO_AREA:
                continue
            return area, cell_id
    return None


def cell_text(operator, area):
    """The place's `cell`: 'MCC-MNC-LAC-CID' in decimal ('460-00-24090-27447297'), or None."""
    if operator is None or area is None:
        return None
    return "%s-%d-%d" % (operator, area[0], area[1])


def dial_script(apn):
    """The commands that set up the packet data context, in order."""
    return ('AT+CGDCONT=1,"IP","%s"' % apn, "ATD*99#")


class Modem:
    register_ms = 60000     # how long to wait for the network after power-up
    register_poll_ms = 1000
    guard_ms = 1100         # silence before and after "+++" (at least 1 s, see the header)
    pwrkey_ms = 500         # PWRKEY held to power the modem on
    boot_ms = 20000         # PWRKEY pulse to the modem answering AT
    probe_ms = 500          # wait for the OK to one AT while finding out whether the modem listens
    watch_ms = 1000         # how often keep_up's task looks at the PPP link
    redial_first_ms = 2000  # wait before the first dial after a drop; doubled after each failure
    redial_max_ms = 300000
    poll_ms = 20

    def __init__(self, uart, apn, pin=None, pwrkey=None):
        """pwrkey: the Pin that presses the modem's PWRKEY when driven high (None: not wired)."""
        self.uart = uart
        self.apn = apn
        self.pin = pin
        self.pwrkey = pwrkey
        self.signal_dbm = None
        self.cell = None            # the serving cell, 'MCC-MNC-LAC-CID', as read before dialling
        self.data_mode = False
        self.ppp = None
        self.dials = 0              # data calls brought up (the first, then one per re-dial)
        self.transcript = []        # (command, final) for diagnostics, the last _TRANSCRIPT
        self._buf = bytearray(64)
        self._task = None

    # ---- the line ----------------------------------------------------------------------------
    def _discard(self):
        """Throw away what is waiting (late answers, PPP frames): one small buffer, no allocation."""
        for _ in range(_MAX_DISCARD):
            if not self.uart.readinto(self._buf):
                return

    async def _reply(self, timeout_ms):
        """(final, info lines) of the modem's answer, or (None, info) after timeout_ms."""
        pending = b""
        info = []
        start = ticks_ms()
        while ticks_diff(ticks_ms(), start) < timeout_ms:
            n = self.uart.readinto(self._buf)
            if not n:
                await asleep_ms(self.poll_ms)
                continue
            pending += self._buf[:n]
            while True:
                cr, lf = pending.find(b"\r"), pending.find(b"\n")
                end = cr if lf < 0 or (0 <= cr < lf) else lf
                if end < 0:
                    break
                line = text_line(pending[:end])
                pending = pending[end + 1:]
                if not line or line.startswith("AT"):
                    continue
                if is_final(line):
                    return line, info
                info.append(line)
                if len(info) > _MAX_INFO:
                    info.pop(0)
            if len(pending) > _MAX_LINE:
                pending = b""
            await asleep_ms(0)          # a modem pouring PPP frames must not starve the other tasks
        return None, info

    def _note(self, command, final):
        self.transcript.append((command, final))
        if len(self.transcript) > _TRANSCRIPT:
            self.transcript.pop(0)

    async def at(self, command, timeout_ms=_AT_TIMEOUT_MS):
        """Send one command; (final result, info lines). ModemError when no final result came."""
        self._discard()
        self.uart.write(command.encode() + b"\r")
        final, info = await self._reply(timeout_ms)
        self._note(command, final)
        if final is None:
            raise ModemError("no answer to %s" % command)
        return final, info

    async def expect_ok(self, command, timeout_ms=_AT_TIMEOUT_MS):
        final, info = await self.at(command, timeout_ms)
        if final != "OK":
            raise ModemError("%s: %s" % (command, final))
        return info

    # ---- command mode ------------------------------------------------------------------------
    async def _answers(self, within_ms):
        start = ticks_ms()
        while True:
            try:
                if (await self.at("AT", self.probe_ms))[0] == "OK":
                    return True
            except ModemError:
                pass
            if ticks_diff(ticks_ms(), start) >= within_ms:
                return False

    async def leave_data_mode(self):
        """The V.250 escape, then hang up: guard time, "+++", guard time (the modem says OK), ATH."""
        await asleep_ms(self.guard_ms)
        self._discard()
        self.uart.write(b"+++")
        final, _ = await self._reply(self.guard_ms + self.probe_ms)
        self._note("+++", final)
        self.data_mode = False
        if final is None:
            return              # no call to end: the modem is off, or was never in one
        try:
            await self.at("ATH")
        except ModemError:
            pass

    async def power_on(self):
        """Press PWRKEY for pwrkey_ms (the board drives the pin high to press it)."""
        self.pwrkey.value(1)
        await asleep_ms(self.pwrkey_ms)
        self.pwrkey.value(0)
        self._note("PWRKEY", None)

    async def command_mode(self):
        """Until the modem answers AT: as it is, out of a data call, or powered on. ModemError if not."""
        if await self._answers(3 * self.probe_ms):
            return
        await self.leave_data_mode()
        if await self._answers(2 * self.probe_ms):
            return
        if self.pwrkey is not None:
            await self.power_on()
            if await self._answers(self.boot_ms):
                return
        raise ModemError("modem does not answer AT")

    # ---- the data call -----------------------------------------------------------------------
    async def connect(self):
        """AT chat until the modem is in data mode. Raises ModemError."""
        await self.command_mode()
        await self.expect_ok("ATE0")
        info = await self.expect_ok("AT+CPIN?")
        if "+CPIN: READY" not in info:
            if not self.pin:
                raise ModemError("SIM locked and no PIN configured")
            await self.expect_ok('AT+CPIN="%s"' % self.pin)
        start = ticks_ms()
        while True:
            if creg_registered(await self.expect_ok("AT+CGREG?")):
                break
            if ticks_diff(ticks_ms(), start) > self.register_ms:
                raise ModemError("not registered on the network")
            await asleep_ms(self.register_poll_ms)
        self.signal_dbm = csq_to_dbm(await self.expect_ok("AT+CSQ"))
        self.cell = await self.read_cell()
        cgdcont, dial = dial_script(self.apn)
        await self.expect_ok(cgdcont)
        final, _ = await self.at(dial, _DIAL_TIMEOUT_MS)
        if not final.startswith("CONNECT"):
            raise ModemError("dial: %s" % final)
        self.data_mode = True

    async def read_cell(self):
        """The serving cell (cell_text), asked in command mode; None when the modem does not say.
        A modem that refuses one of the commands only leaves the place out."""
        try:
            final, _ = await self.at("AT+COPS=3,2")        # the operator as digits, not its name
            operator = parse_operator((await self.at("AT+COPS?"))[1]) if final == "OK" else None
            if operator is None:
                return None
            for command in ("AT+CEREG", "AT+CREG"):         # LTE first, then 2G/3G
                final, _ = await self.at(command + "=2")    # with location
                if final != "OK":
                    continue
                final, info = await self.at(command + "?")
                await self.at(command + "=0")
                area = parse_area(info) if final == "OK" else None
                if area is not None:
                    return cell_text(operator, area)
        except ModemError:
            pass
        return None

    async def start_ppp(self, network, timeout_ms=30000):
        """Hand the UART to network.PPP; True once it has an IP address."""
        if self.ppp is None:
            self.ppp = network.PPP(self.uart)
        self.ppp.active(True)
        self.ppp.connect()
        start = ticks_ms()
        while ticks_diff(ticks_ms(), start) < timeout_ms:
            if self.ppp.isconnected():
                self.dials += 1
                return True
            await asleep_ms(100)
        return False

    async def dial(self, network):
        """Command mode, AT chat, data call, PPP: True when the link is up, False on any failure."""
        if self.ppp is not None:
            self.ppp.active(False)      # PPP lets go of the UART before the AT chat
        self.data_mode = False
        try:
            await self.connect()
            return await self.start_ppp(network)
        except ModemError:
            return False

    async def keep_up(self, network):
        """Dial now (True when up), then keep the link up: the driver's task dials again after a drop,
        and after this first dial if it failed, waiting redial_first_ms, doubled after each failure."""
        up = await self.dial(network)
        if self._task is None:
            self._task = asyncio.create_task(self._watch(network))
        return up

    def is_up(self):
        return self.ppp is not None and self.ppp.isconnected()

    async def _watch(self, network):
        wait_ms = self.redial_first_ms
        while True:
            if self.is_up():
                wait_ms = self.redial_first_ms
                await asleep_ms(self.watch_ms)
                continue
            await asleep_ms(wait_ms)
            if not await self.dial(network):
                wait_ms = min(wait_ms * 2, self.redial_max_ms)

    def deinit(self):
        if self._task is not None:
            self._task.cancel()
            self._task = None
        if self.ppp is not None:
            self.ppp.active(False)
