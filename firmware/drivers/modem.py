# 3G/4G modem (SIM7600, EC20, A7670 class) on a UART: AT commands until the data call is up
# ("ATD*99#" -> "CONNECT"), then the same UART carries PPP and MicroPython's `network.PPP` gives the
# firmware ordinary sockets and TLS. Parsing of replies is pure (`parse_reply`, `csq_to_dbm`,
# `creg_registered`, `parse_operator`, `parse_area`, `cell_text`); the Modem class only talks.
#
# The serving cell (the device's place on 4G, core/place.py) is asked before dialling, with the 3GPP
# commands every SIM7600/EC20/A7670 answers: AT+COPS=3,2 then AT+COPS? for MCC-MNC as digits, AT+CEREG=2
# then AT+CEREG? for the LTE TAC and cell id (hex), AT+CREG the same on 2G/3G. Reporting goes back to
# n=0 after: unsolicited +CEREG lines must not land in the data call.
from core.compat import asleep_ms, const, ticks_diff, ticks_ms

_AT_TIMEOUT_MS = const(2000)
_DIAL_TIMEOUT_MS = const(30000)

FINALS = ("OK", "ERROR", "CONNECT", "NO CARRIER", "BUSY", "NO DIALTONE", "NO ANSWER")


class ModemError(Exception):
    pass


def parse_reply(text):
    """(final result or None while incomplete, information lines) of a modem's reply text.
    Echoed commands and blank lines are dropped; '+CME ERROR: n' is a final result."""
    info = []
    for raw in text.replace("\r", "\n").split("\n"):
        line = raw.strip()
        if not line or line.startswith("AT"):
            continue
        if line in FINALS or line.startswith("CONNECT") or line.startswith("+CME ERROR") \
                or line.startswith("+CMS ERROR"):
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

    def __init__(self, uart, apn, pin=None):
        self.uart = uart
        self.apn = apn
        self.pin = pin
        self.signal_dbm = None
        self.cell = None            # the serving cell, 'MCC-MNC-LAC-CID', as read before dialling
        self.data_mode = False
        self.ppp = None
        self.transcript = []        # (command, final) for diagnostics

    def _drain(self):
        data = b""
        while self.uart.any():
            chunk = self.uart.read()
            if not chunk:
                break
            data += chunk
        return data

    async def at(self, command, timeout_ms=_AT_TIMEOUT_MS):
        """Send one command; (final result, info lines). ModemError when no final result came."""
        self._drain()
        self.uart.write(command.encode() + b"\r")
        text = ""
        start = ticks_ms()
        while ticks_diff(ticks_ms(), start) < timeout_ms:
            data = self._drain()
            if data:
                text += data.decode("utf-8", "ignore")
                final, info = parse_reply(text)
                if final is not None:
                    self.transcript.append((command, final))
                    return final, info
            await asleep_ms(20)
        self.transcript.append((command, None))
        raise ModemError("no answer to %s" % command)

    async def expect_ok(self, command, timeout_ms=_AT_TIMEOUT_MS):
        final, info = await self.at(command, timeout_ms)
        if final != "OK":
            raise ModemError("%s: %s" % (command, final))
        return info

    async def connect(self):
        """AT chat until the modem is in data mode. Raises ModemError."""
        for _ in range(10):             # the modem may still be booting, or autobauding
            try:
                final, _ = await self.at("AT", 500)
                if final == "OK":
                    break
            except ModemError:
                pass
        else:
            raise ModemError("modem does not answer AT")
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
            await asleep_ms(1000)
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
        ppp = network.PPP(self.uart)
        ppp.active(True)
        ppp.connect()
        self.ppp = ppp
        start = ticks_ms()
        while ticks_diff(ticks_ms(), start) < timeout_ms:
            if ppp.isconnected():
                return True
            await asleep_ms(100)
        return False

    def deinit(self):
        if self.ppp is not None:
            self.ppp.active(False)
