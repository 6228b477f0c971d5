# Cloud speaker (云喇叭), ESP32 board: SYN6288 voice with an amplifier, two volume keys, an RGB status
# LED and a SIM7600/EC200U-class 4G modem on a UART (PPP), or Wi-Fi when the config names no APN. No
# keypad, no scan engine, no screen: it says the payments on the shop's static code (core/speaker.py).
#
# The two keys are wired as a 1x2 matrix, so the keypad driver reads them (debounced) as it reads the
# box's 4x4: one row pin held low by the driver between scans and a column input with a pull-up per key.
#
#     [ VOL+ ]  [ VOL- ]        row KEY_ROW, columns KEY_COLS
#
# Pins avoid the ESP32's strapping pins (0, 2, 5, 12, 15) and flash pins (6-11).
from core.compat import const

KEYMAP = (("VOL+", "VOL-"),)
ROW_PINS = (13,)                    # output
COL_PINS = (14, 27)                 # inputs with internal pull-ups
LED_PINS = (21, 22, 23)             # red, green, blue; common cathode

_VOICE_UART_ID = const(1)           # SYN6288: 9600 8N1
VOICE_TX = const(4)
VOICE_RX = const(18)
VOICE_BUSY = const(19)              # high while speaking
_MODEM_UART_ID = const(2)           # SIM7600 / EC200U: 115200 8N1
MODEM_TX = const(17)
MODEM_RX = const(16)
MODEM_POWER = const(25)             # PWRKEY through a transistor: high = pressed

VOICE_BAUD = const(9600)
MODEM_BAUD = const(115200)


def build(config):
    """The speaker's peripherals as a boards.Hardware."""
    import machine
    from machine import Pin

    from boards import Hardware, chip_id

    voice_uart = machine.UART(_VOICE_UART_ID, baudrate=config.get("voice_baud", VOICE_BAUD),
                              tx=VOICE_TX, rx=VOICE_RX, timeout=0)
    rows = [Pin(n, Pin.OUT, value=1) for n in ROW_PINS]
    cols = [Pin(n, Pin.IN, Pin.PULL_UP) for n in COL_PINS]
    leds = tuple(Pin(n, Pin.OUT, value=0) for n in LED_PINS)
    busy = Pin(VOICE_BUSY, Pin.IN) if config.get("voice_busy_pin", True) else None
    modem_uart = modem_pwrkey = None
    if config.get("modem"):
        modem_pwrkey = Pin(MODEM_POWER, Pin.OUT, value=0)
        modem_uart = machine.UART(_MODEM_UART_ID, baudrate=MODEM_BAUD, tx=MODEM_TX, rx=MODEM_RX,
                                  rxbuf=4096, timeout=0)
    ssl = None
    if config.get("server_url", "").startswith("https:"):
        from boards.enhanced_box import tls_context
        ssl = tls_context(config.get("ca_file", "/ca.pem"))
    return Hardware(None, voice_uart, rows, cols, KEYMAP, leds, voice_busy=busy, ssl=ssl,
                    modem_uart=modem_uart, modem_pwrkey=modem_pwrkey, hardware_id=chip_id(machine.unique_id()))


_network = {}     # what connect_network brought up, for make_app


async def connect_network(config, hw):
    """The modem (PPP) when the config names an APN, else Wi-Fi; the modem's driver keeps the link up
    (drivers/modem.py keep_up), as on the gun."""
    import network

    modem_config = config.get("modem")
    if modem_config and hw.modem_uart is not None:
        from drivers.modem import Modem
        modem = Modem(hw.modem_uart, modem_config.get("apn", ""), modem_config.get("pin"), pwrkey=hw.modem_pwrkey)
        if modem_config.get("pwrkey_ms"):
            modem.pwrkey_ms = modem_config["pwrkey_ms"]
        kind = "4g" if await modem.keep_up(network) else None
    else:
        from core import netup
        kind, modem = await netup.bring_up(network, config, hw)
    _network["kind"], _network["modem"] = kind, modem
    return kind is not None


def make_app(hw, config, transport=None, on_event=None):
    import machine
    import network

    from core import place
    from core.speaker import make_app as make
    kind, modem = _network.get("kind"), _network.get("modem")
    return make(hw, config, transport, on_event, network_kind=kind, modem=modem, reset=machine.reset,
                place=place.reader(network, kind, modem))
