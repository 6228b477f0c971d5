"""Virtual 3G/4G modem on a virtual UART: answers AT commands as a SIM7600-class modem does, and after
`ATD*99#` -> `CONNECT` becomes a byte pipe (what the firmware then writes is PPP, collected in `.data`
and handed to `on_data` listeners). `VirtualNetwork` is the `network` module a board would have:
`PPP(stream)` comes up once the modem on that stream is in data mode; `WLAN` joins any configured SSID
in `ssids` through the strongest of the `access_points` that has it, and scans them.

Settings: `sim_pin` (None: no PIN lock), `registered` (False: never finds the network), `rssi` (0-31,
99 unknown), `answer` (False: a dead modem that never replies), `cell` (the serving cell the modem
names: (MCC, MNC, LAC/TAC, cell id), e.g. ("460", "00", 0x5E1A, 0x1A2D001); None: a modem that names
no operator). `cell` and `access_points` may be changed while running: the board "moves".
"""
import threading

SERVING_CELL = ("460", "00", 0x5E1A, 0x1A2D001)     # China Mobile, TAC 24090, a cell in that area
# (ssid, bssid, channel, RSSI dBm): the shop's router and two neighbours' access points
SHOP_AIR = (("shop", "a4:56:02:11:22:33", 6, -48),
            ("shop", "a4:56:02:11:22:37", 36, -55),        # the same router's 5 GHz radio
            ("ChinaNet-7Hx2", "f0:b4:29:aa:bb:c1", 1, -71),
            ("TP-LINK_9F3E", "50:bd:5f:01:02:03", 11, -80))


class VirtualModem:
    def __init__(self, uart_end, *, sim_pin=None, registered=True, rssi=20, answer=True, cell=SERVING_CELL):
        self._uart = uart_end
        self.cell = cell
        self.cops_format = 0            # AT+COPS=3,<format>: 0 long name, 2 digits
        self.reporting = {}             # AT+CEREG=<n> and the like: n per command
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
            head = cmd[2:-1]
            n = self.reporting.get(head, 0)
            answer = "%s: %d,%d" % (head, n, 1 if self.registered else 2)
            if n == 2 and self.registered and self.cell is not None:
                # SIM7600 style: TAC 4 hex digits, cell id 8 (LTE, act 7); LAC and CI on 2G/3G
                _, _, area, cell_id = self.cell
                answer += ',"%04X","%08X",7' % (area, cell_id) if head == "+CEREG" else \
                    ',"%04X","%04X",2' % (area, cell_id & 0xFFFF)
            self._reply(answer, "OK")
        elif cmd.startswith(("AT+CREG=", "AT+CGREG=", "AT+CEREG=")):
            head, _, n = cmd[2:].partition("=")
            self.reporting[head] = int(n)
            self._reply("OK")
        elif cmd.startswith("AT+COPS=3,"):
            self.cops_format = int(cmd.split(",")[1])
            self._reply("OK")
        elif cmd == "AT+COPS?":
            if not self.registered or self.cell is None:
                self._reply("+COPS: 0", "OK")
            elif self.cops_format == 2:
                self._reply('+COPS: 0,2,"%s%s",7' % self.cell[:2], "OK")
            else:
                self._reply('+COPS: 0,0,"CHINA MOBILE",7', "OK")
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
    """network.WLAN(STA_IF) as the ESP32 port has it: connect, scan, config('ssid'/'channel'),
    status('rssi'); no way to ask the connected access point's BSSID (core/place.py works around it)."""

    def __init__(self, network, interface):
        self._network = network
        self._active = False
        self._ssid = None
        self._password = None
        self._ap = None             # the access point joined: (ssid, bssid, channel, rssi)
        self.scans = 0              # how often the firmware scanned (each holds a real radio ~2 s)

    def active(self, state=None):
        if state is None:
            return self._active
        self._active = bool(state)
        return None

    def connect(self, ssid, password=""):
        self._ssid, self._password = ssid, password
        self._join()

    def _join(self):
        """Join the strongest access point of the configured network, as the radio would."""
        self._ap = None
        if self._ssid is None or self._network.ssids.get(self._ssid) != self._password:
            return
        ours = [ap for ap in self._network.access_points if ap[0] == self._ssid]
        if ours:
            self._ap = max(ours, key=lambda ap: ap[3])

    def isconnected(self):
        return self._active and self._ap is not None

    def scan(self):
        if not self._active:
            raise OSError("STA must be active")
        self.scans += 1
        return [(ssid.encode(), bytes.fromhex(bssid.replace(":", "")), channel, rssi, 3, False)
                for ssid, bssid, channel, rssi in self._network.access_points]

    def config(self, param):
        if param == "ssid":
            return self._ssid or ""
        if param == "channel":
            return self._ap[2] if self._ap else 1
        if param == "mac":
            return b"\x24\x0a\xc4\x00\x00\x01"
        raise ValueError("unknown config param")

    def status(self, param=None):
        if param == "rssi":
            if self._ap is None:
                raise OSError("not connected")
            return self._ap[3]
        if param is not None:
            raise ValueError("unknown status param")
        return 1010 if self.isconnected() else 1000        # STAT_GOT_IP, STAT_IDLE


class VirtualNetwork:
    """The `network` module as the firmware uses it (PPP, WLAN, STA_IF): one station interface, as on
    the chip, on the air of `access_points` ((ssid, bssid, channel, rssi), SHOP_AIR unless given)."""

    STA_IF = 0
    AP_IF = 1

    def __init__(self, modem=None, ssids=None, access_points=SHOP_AIR):
        self.modem = modem
        self.ssids = dict(ssids or {})
        self.access_points = list(access_points)
        self.ppp = None
        self._wlans = {}

    def PPP(self, stream):
        self.ppp = _VirtualPPP(self, stream)
        return self.ppp

    def WLAN(self, interface=0):
        if interface not in self._wlans:
            self._wlans[interface] = _VirtualWLAN(self, interface)
        return self._wlans[interface]

    def move(self, access_points):
        """The board is carried somewhere else: other access points around it. The station drops its
        link and joins its network there again, when that network is there (the same SSID and password:
        whoever moved it set that up)."""
        self.access_points = list(access_points)
        for wlan in self._wlans.values():
            wlan._join()
