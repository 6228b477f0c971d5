# Enhanced scan box, ESP32 reference board: 4x4 keypad, GM65 scan engine, SYN6288 voice, RGB LED,
# Wi-Fi. No screen: the box speaks and the LED shows blue (paying), green (paid), red (failed).
#
# Keypad, as printed on the keys (row 0 at the top):
#
#     +-----+-----+-----+-----+
#     |  1  |  2  |  3  | DEL |      DEL  delete the last digit (删除)
#     +-----+-----+-----+-----+
#     |  4  |  5  |  6  | CLR |      CLR  clear the amount / cancel waiting for a code (清除)
#     +-----+-----+-----+-----+
#     |  7  |  8  |  9  | FN  |      FN   function key, reserved (功能)
#     +-----+-----+-----+-----+
#     |  .  |  0  | 00  | OK  |      OK   confirm the amount, then scan (确认)
#     +-----+-----+-----+-----+
#
# The pin numbers below avoid the ESP32's strapping pins (0, 2, 5, 12, 15) and flash pins (6-11).
# `machine` and `network` are imported inside the functions, so the simulator and the tests can
# read the pin map and keymap of this file on a PC.
from core.compat import const

KEYMAP = (
    ("1", "2", "3", "DEL"),
    ("4", "5", "6", "CLR"),
    ("7", "8", "9", "FN"),
    (".", "0", "00", "OK"),
)

ROW_PINS = (13, 14, 27, 26)         # outputs, driven low one at a time
COL_PINS = (32, 33, 34, 35)         # inputs; 34 and 35 have no internal pull-up: 10k to 3V3 on the PCB
LED_PINS = (21, 22, 23)             # red, green, blue; common-cathode LED (high = lit)

_SCAN_UART_ID = const(2)            # GM65: 9600 8N1
SCAN_TX = const(17)
SCAN_RX = const(16)
_VOICE_UART_ID = const(1)           # SYN6288: 9600 8N1
VOICE_TX = const(4)
VOICE_RX = const(18)
VOICE_BUSY = const(19)              # SYN6288 BUSY: high while speaking

SCAN_BAUD = const(9600)
VOICE_BAUD = const(9600)


def build(config):
    """The box's peripherals as a boards.Hardware."""
    import machine
    from machine import Pin

    from boards import Hardware, chip_id

    scan_uart = machine.UART(_SCAN_UART_ID, baudrate=config.get("scan_baud", SCAN_BAUD),
                             tx=SCAN_TX, rx=SCAN_RX, rxbuf=1024, timeout=0)
    voice_uart = machine.UART(_VOICE_UART_ID, baudrate=config.get("voice_baud", VOICE_BAUD),
                              tx=VOICE_TX, rx=VOICE_RX, timeout=0)
    rows = [Pin(n, Pin.OUT, value=1) for n in ROW_PINS]
    cols = [Pin(n, Pin.IN, Pin.PULL_UP) for n in COL_PINS]
    leds = tuple(Pin(n, Pin.OUT, value=0) for n in LED_PINS)
    busy = Pin(VOICE_BUSY, Pin.IN) if config.get("voice_busy_pin", True) else None
    ssl = None
    if config.get("server_url", "").startswith("https:"):
        ssl = tls_context(config.get("ca_file", "/ca.pem"))
    return Hardware(scan_uart, voice_uart, rows, cols, KEYMAP, leds, voice_busy=busy, ssl=ssl,
                    hardware_id=chip_id(machine.unique_id()))


def tls_context(ca_file):
    import ssl
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    # MicroPython's ssl defaults to CERT_NONE: check the server against the CA we ship
    ctx.verify_mode = ssl.CERT_REQUIRED
    with open(ca_file, "rb") as f:
        ctx.load_verify_locations(cadata=f.read())
    return ctx


def make_app(hw, config, transport=None, on_event=None):
    import machine
    import network

    from core import place
    from core.app import make_app as make
    # the place: the access point and the ones around it, scanned on the station interface
    return make(hw, config, transport, on_event, reset=machine.reset, place=place.reader(network, "wifi"))


async def connect_network(config, hw=None, timeout_s=30):
    """Join the configured Wi-Fi; returns True once connected (or already)."""
    return await join_wifi(config, timeout_s)


async def join_wifi(config, timeout_s=30):
    import network

    from core import netup
    return await netup.join_wifi(network, config, timeout_s)
