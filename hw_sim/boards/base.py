"""What every virtual board shares: the firmware on sys.path, the device's config file, the voice
module and scan engine on virtual UARTs, an RGB LED, and the event log tests wait on.

A virtual board runs the real firmware (firmware/) under CPython in the caller's asyncio loop, on
virtual peripherals wired as the board file (firmware/boards/<profile>.py) says: same pin numbers,
same keymap, same chips. Subclasses add what their profile has (keypad, screen, battery, modem,
USB serial) and build the firmware's app with the profile's own `make_app`.
"""
import asyncio
import importlib.util
import json
import os
import shutil
import sys
import tempfile

from host_agent.events import EventLog
from hw_sim.modem import SHOP_AIR, VirtualNetwork
from hw_sim.pins import Pin
from hw_sim.scan_engine import GM65
from hw_sim.uart import VirtualUART
from hw_sim.voice import SYN6288, XFS5152

FIRMWARE_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                            "firmware")


def use_firmware():
    """Put firmware/ (the device's file system root) on sys.path, as the device has it, and give
    CPython the MicroPython modules the firmware imports (framebuf)."""
    if FIRMWARE_DIR not in sys.path:
        sys.path.insert(0, FIRMWARE_DIR)
    if "framebuf" not in sys.modules:
        try:
            import framebuf  # noqa: F401  (a real one, if some day CPython has it)
        except ImportError:
            from hw_sim import framebuf
            sys.modules["framebuf"] = framebuf


def firmware_main():
    """firmware/main.py as a module (its name would clash with other `main` modules)."""
    spec = importlib.util.spec_from_file_location(
        "scanpay_firmware_main", os.path.join(FIRMWARE_DIR, "main.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def format_event(event):
    """One line for a console: what the box did ("LED blue, blinking", "says 请出示付款码")."""
    kind = event["event"]
    if kind == "state":
        extra = ""
        if event.get("amount_fen") is not None:
            extra += " %d.%02d yuan" % divmod(event["amount_fen"], 100)
        if event.get("order_no"):
            extra += " order %s" % event["order_no"]
        if event.get("status"):
            extra += " %s" % event["status"] + (" (%s)" % event["reason"] if event.get("reason") else "")
        return "state  %s%s" % (event["state"], extra)
    if kind == "say":
        return "voice  <- %s" % event["text"]
    if kind == "spoken":
        return "voice  says \"%s\"" % event["text"]
    if kind == "led":
        return "led    %s%s" % (event["colour"], ", blinking" if event.get("blink") else "")
    if kind == "key":
        return "key    [%s]" % event["key"]
    if kind == "amount":
        return "amount %s" % (event["text"] or "(empty)")
    if kind == "refused":
        return "key    [%s] refused" % event["key"]
    if kind == "scan":
        return "scan   %s" % event["code"]
    if kind == "order":
        return "order  %s %s%s" % (event.get("order_no"), event.get("status"),
                                   " (%s)" % event["reason"] if event.get("reason") else "")
    if kind == "error":
        return "error  %s: %s" % (event.get("where"), event.get("code") or event.get("message"))
    if kind == "screen":
        return "screen %s" % " | ".join(event.get("lines") or ())
    return "%-6s %r" % (kind, {k: v for k, v in event.items() if k != "event"})


_COLOURS = {(0, 0, 0): "off", (1, 0, 0): "red", (0, 1, 0): "green", (0, 0, 1): "blue",
            (1, 1, 0): "yellow"}


class VirtualBoard:
    """Config, voice, scan engine, LED and events. Subclasses set `profile` and implement `_build`."""

    profile = None
    voice_chip = "syn6288"

    def __init__(self, server_url, device_id, device_key_hex, *, workdir=None, config=None,
                 on_event=None, transport=None, scan_mode="continuous", line_ending=b"\r",
                 speech_s_per_char=0.0, key_ms=60, hardware_id=None, access_points=SHOP_AIR):
        """config: extra /config.json entries (max_fen, scan_timeout_s, voice_chip, wifi, ...).
        hardware_id: the virtual chip's id (X-Hardware-Id); "sim-<device_id>" unless given (a test
        makes a copy of a device by giving two boards one key and different ids, or the same id).
        transport: replaces the firmware's HTTP client (tests); None talks to server_url.
        speech_s_per_char: simulated speaking time, during which the voice module is busy.
        key_ms: how long the cashier's finger holds each key, and rests between keys.
        access_points: the Wi-Fi around the board, (ssid, bssid, channel, rssi) each; the board joins
        "shop" (password "secret", unless config's wifi says otherwise) and reports them as its place."""
        self.config = {"profile": self.profile, "device_id": device_id,
                       "device_key": device_key_hex, "server_url": server_url,
                       "wifi": {"ssid": "shop", "password": "secret"}}
        self.config.update(config or {})
        wifi = self.config["wifi"]
        self.network = VirtualNetwork(ssids={wifi.get("ssid"): wifi.get("password", "")},
                                      access_points=access_points)
        self.on_event = on_event
        self.hardware_id = hardware_id or "sim-" + device_id
        self.events = EventLog()        # every event, in order (firmware's and the peripherals')
        self._own_workdir = workdir is None
        self.workdir = workdir or tempfile.mkdtemp(prefix="scanpay-%s-" % self.profile)
        self.config.setdefault("journal_path", os.path.join(self.workdir, "journal.json"))
        # the board's flash: where an update's slots and /ota.json go (core/ota.py)
        self.config.setdefault("fs_root", self.workdir)
        self.reboots = 0                # how often the firmware called the board's reset
        self._transport = transport
        self._scan_mode = scan_mode
        self._line_ending = line_ending
        self._speech_s_per_char = speech_s_per_char
        self._key_ms = key_ms
        self.app = None
        self._task = None

    # ------------------------------------------------------------------------ life cycle
    async def start(self):
        use_firmware()
        config_path = os.path.join(self.workdir, "config.json")
        with open(config_path, "w") as f:
            json.dump(self.config, f, ensure_ascii=False)
        main = firmware_main()
        config = main.load_config(config_path)          # the device's own config loader
        self.board = main.board_module(config)          # the device's own profile choice
        self.booted = self._boot_slot(config["fs_root"])
        self.app = await self._build_async(self.board, config)
        announcer = getattr(self.app, "announcer", None)
        if announcer is not None:
            # the MQTT client the image freezes (umqtt.simple), on the host's sockets (hw_sim/boards/mqtt.py)
            from hw_sim.boards.mqtt import umqtt_client
            try:
                announcer.mqtt_client = umqtt_client()
            except ImportError:
                announcer.mqtt_client = None        # long poll only, as a device without it
        heartbeats = getattr(self.app, "heartbeats", None)
        if self.booted is not None and heartbeats is not None:
            heartbeats.version = self.booted[1]
        self._task = asyncio.create_task(self.app.run(), name="scanpay-%s" % self.profile)
        await self.wait_state("IDLE")

    def _build(self, board, config):
        raise NotImplementedError

    @staticmethod
    def _boot_slot(root):
        """What main.py does first on a flashed board (boot_select.py): pick this boot's slot, count the
        boots of a version not yet confirmed, roll it back after too many. (slot, version), or None on a
        flash without slots. CPython cannot run the slot's compiled .mpy files: the simulator runs
        firmware/ from source and reports the version of the slot it booted."""
        import boot_select
        if not os.path.exists(os.path.join(root, "slots")):
            return None
        slot = boot_select.choose(root)
        if slot is None:
            return None
        with open(os.path.join(root, "slots", slot, "manifest.json")) as f:
            return slot, json.load(f)["version"]

    def reset(self):
        """The board's machine.reset, as the firmware calls it: counted and recorded; the simulator
        keeps running (a test that wants the next boot stops this board and starts another)."""
        self.reboots += 1
        self._record({"event": "reset"})

    async def _build_async(self, board, config):
        """For boards that must talk to a peripheral before the app exists (the gun's modem)."""
        return self._build(board, config)

    def move(self, access_points):
        """Carry the board to another place: other Wi-Fi around it (the station joins its network
        there, if there is one). The gun's cell: set `board.modem.cell`."""
        self.network.move(access_points)

    async def stop(self):
        if self._task:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None
        for api in (getattr(self.app, "api", None), getattr(self.app, "announce_api", None)):
            transport = api.transport if api is not None else None
            if transport is not None and hasattr(transport, "close"):
                await transport.close()
        if self._own_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    async def __aenter__(self):
        await self.start()
        return self

    async def __aexit__(self, *exc):
        await self.stop()

    # ------------------------------------------------------------------------ shared peripherals
    def _make_voice(self, baud):
        chip = self.config.get("voice_chip", self.voice_chip)
        device, peripheral = VirtualUART.pair(chip, baud)
        module = SYN6288 if chip == "syn6288" else XFS5152
        self.voice = module(peripheral, seconds_per_char=self._speech_s_per_char)
        self.voice.on_speech.append(lambda text: self._record({"event": "spoken", "text": text}))
        self.voice_uart = device
        return device

    def _make_scan_engine(self, baud):
        device, peripheral = VirtualUART.pair("gm65", baud)
        self.scan_uart = device
        self._scan_peripheral = peripheral
        self.scan_engine = GM65(peripheral, line_ending=self._line_ending, mode=self._scan_mode)
        return device

    def _make_led(self, pins):
        self.led_pins = tuple(Pin(n, Pin.OUT, value=0, name=colour)
                              for n, colour in zip(pins, ("red", "green", "blue")))
        return self.led_pins

    # ------------------------------------------------------------------------ the customer
    def scan(self, image, **optics):
        """Hold a picture (a wallet's payment-code screen) in front of the scan engine; the text it
        decoded and sent to the firmware, or None. optics: blur, tilt_deg, noise."""
        return self.scan_engine.present(image, **optics)

    def scan_text(self, code, ending=None):
        """Send `code` as if the engine had just decoded it (no picture needed)."""
        self._scan_peripheral.write(code.encode() + (self._line_ending if ending is None else ending))

    # ------------------------------------------------------------------------ what the board does
    @property
    def state(self):
        return self.app.state if self.app else None

    @property
    def spoken(self):
        """Texts the voice module said, in order."""
        return self.voice.spoken

    @property
    def led(self):
        """The colour lit right now (a blinking LED reads 'off' half the time)."""
        return _COLOURS.get(tuple(p.driven for p in self.led_pins), "mixed")

    @property
    def journal(self):
        return self.app.journal

    def _record(self, event):
        self.events.append(event)
        if self.on_event:
            self.on_event(event)

    async def wait_event(self, predicate, timeout=10.0, start=0):
        """The first event (a dict, see core/app.py) in events[start:] for which predicate is true."""
        return await self.events.wait(predicate, timeout, start)

    async def wait_state(self, state, timeout=10.0, start=0):
        return await self.wait_event(
            lambda e: e["event"] == "state" and e["state"] == state, timeout, start)

    async def wait_spoken(self, match, timeout=10.0, start=0):
        return await self.voice.wait_spoken(match, timeout, start=start)

    def speak_to_wav(self, path, start=0):
        """What the board said (from spoken[start:]) as one WAV file, spoken by espeak-ng, to listen to.
        Raises hw_sim.voice.EspeakMissing when espeak-ng is not installed."""
        return self.voice.speak_to_wav("，".join(self.spoken[start:]), path)


class WifiBoardMixin:
    """A board on Wi-Fi (the enhanced box, the QR stand): joins the network before the app starts, as
    the board file's connect_network does, and hands the app its place reader."""

    async def _build_async(self, board, config):
        from core import netup
        await netup.join_wifi(self.network, config, timeout_s=1)
        return self._build(board, config)

    def _place_reader(self):
        from core import place
        return place.reader(self.network, "wifi")


class KeypadBoardMixin:
    """The cashier's keypad (boards with KEYMAP, ROW_PINS, COL_PINS)."""

    def _make_keypad(self, board):
        from hw_sim.keypad import VirtualKeypad
        rows = [Pin(n, Pin.OUT, value=1, name="row%d" % i) for i, n in enumerate(board.ROW_PINS)]
        cols = [Pin(n, Pin.IN, Pin.PULL_UP, name="col%d" % i) for i, n in enumerate(board.COL_PINS)]
        self.keypad = VirtualKeypad(rows, cols, board.KEYMAP)
        self.keypad.hold_ms = self.keypad.gap_ms = self._key_ms
        return rows, cols

    async def press(self, *keys, hold_ms=None):
        await self.keypad.type(keys, hold_ms=hold_ms)

    async def type_amount(self, amount_text):
        """Type an amount ("12.50") on the keypad and press OK."""
        await self.keypad.type(list(amount_text) + ["OK"])
