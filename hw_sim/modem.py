"""Virtual 3G/4G modem on a virtual UART: answers AT commands as a SIM7600-class modem does, and after
`ATD*99#` -> `CONNECT` becomes a byte pipe (what the firmware then writes is PPP, collected in `.data`
and handed to `on_data` listeners). `VirtualNetwork` is the `network` module a board would have:
`PPP(stream)` comes up once the modem on that stream is in data mode; `WLAN` joins any configured SSID
in `ssids`.

Settings: `sim_pin` (None: no PIN lock), `registered` (False: never finds the network), `rssi` (0-31,
99 unknown), `answer` (False: a dead modem that never replies).
"""
import threading


class VirtualModem:
    def __init__(self, uart_end, *, sim_pin=None, registered=True, rssi=20, answer=True):
        self._uart = uart_end
        self.sim_pin = sim_pin
        self.unlocked = sim_pin is None
        self.registered = registered
        self.rssi = rssi
        self.answer = answer
        self.echo = True
        self.apn = None
        self.data_mode = False
        self.data = bytearray()         # bytes received in data mode (PPP frames)
        self.on_data = []
        self.commands = []              # every AT command line received
        self._line = b""
        self._lock = threading.Lock()
        uart_end.subscribe(self._on_bytes)

    def _reply(self, *lines):
        self._uart.write(b"".join(b"\r\n" + line.encode() + b"\r\n" for line in lines))

    def _on_bytes(self, data):
        with self._lock:
            if self.data_mode:
                self.data += data
                for listener in list(self.on_data):
                    listener(bytes(data))
                return
            self._line += bytes(data)
            while b"\r" in self._line:
                line, _, self._line = self._line.partition(b"\r")
                line = line.strip(b"\n").decode("ascii", "replace").strip()
                if line:
                    self._command(line)

    def _command(self, line):
        self.commands.append(line)
        if not self.answer:
            return
        if self.echo:
            self._uart.write(line.encode() + b"\r")
        cmd = line.upper()
        if cmd == "AT":
            self._reply("OK")
        elif cmd == "ATE0":
            self.echo = False
            self._reply("OK")
        elif cmd == "AT+CPIN?":
            self._reply("+CPIN: READY" if self.unlocked else "+CPIN: SIM PIN", "OK")
        elif cmd.startswith("AT+CPIN="):
            if line.split("=", 1)[1].strip('"') == self.sim_pin:
                self.unlocked = True
                self._reply("OK")
            else:
                self._reply("+CME ERROR: 16")
        elif cmd in ("AT+CREG?", "AT+CGREG?", "AT+CEREG?"):
            if not self.unlocked:
                self._reply("+CME ERROR: 11")
                return
            self._reply("%s: 0,%d" % (cmd[2:-1], 1 if self.registered else 2), "OK")
        elif cmd == "AT+CSQ":
            self._reply("+CSQ: %d,99" % self.rssi, "OK")
        elif cmd.startswith("AT+CGDCONT=1"):
            self.apn = line.split(",")[2].strip('"')
            self._reply("OK")
        elif cmd in ("ATD*99#", "ATD*99***1#"):
            if self.registered and self.unlocked and self.apn:
                self._reply("CONNECT 150000000")
                self.data_mode = True
            else:
                self._reply("NO CARRIER")
        else:
            self._reply("ERROR")

    def hang_up(self):
        """The network drops the call: back to command mode."""
        with self._lock:
            self.data_mode = False
        self._reply("NO CARRIER")


class _VirtualPPP:
    def __init__(self, network, stream):
        self._network = network
        self.stream = stream
        self._active = False
        self._connected = False

    def active(self, state=None):
        if state is None:
            return self._active
        self._active = bool(state)
        if not state:
            self._connected = False
        return None

    def connect(self, **_auth):
        if not self._active:
            raise OSError("PPP not active")
        # LCP Configure-Request, the first frame a real PPP stack sends (0x7E flag, escaped header)
        self.stream.write(b"\x7e\xff\x7d\x23\xc0\x21\x7d\x21\x7d\x21\x7d\x20\x7d\x24\x7e")
        modem = self._network.modem
        self._connected = modem is not None and modem.data_mode

    def isconnected(self):
        modem = self._network.modem
        return self._connected and modem is not None and modem.data_mode

    def ifconfig(self):
        return ("10.64.0.2", "255.255.255.255", "10.64.0.1", "8.8.8.8") if self.isconnected() else \
            ("0.0.0.0",) * 4


class _VirtualWLAN:
    def __init__(self, network, interface):
        self._network = network
        self._active = False
        self._ssid = None

    def active(self, state=None):
        if state is None:
            return self._active
        self._active = bool(state)
        return None

    def connect(self, ssid, password=""):
        if self._network.ssids.get(ssid) == password:
            self._ssid = ssid

    def isconnected(self):
        return self._active and self._ssid is not None


class VirtualNetwork:
    """The `network` module as the firmware uses it (PPP, WLAN, STA_IF)."""

    STA_IF = 0
    AP_IF = 1

    def __init__(self, modem=None, ssids=None):
        self.modem = modem
        self.ssids = dict(ssids or {})
        self.ppp = None

    def PPP(self, stream):
        self.ppp = _VirtualPPP(self, stream)
        return self.ppp

    def WLAN(self, interface=0):
        return _VirtualWLAN(self, interface)
