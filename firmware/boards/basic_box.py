# Basic scan box, ESP32 board with a CH340 USB-serial bridge: GM65 scan engine, SYN6288 voice,
# RGB LED, buzzer. No keypad, no network: the host agent on the PC pays (docs/basic-box-protocol.md).
#
# The CH340 is wired to UART0, which MicroPython also uses for its REPL: the REPL is detached
# (os.dupterm) while the app runs, so the agent's lines reach the app and not the REPL. A reset
# (the PC opening the port toggles DTR/RTS on most CH340 boards) brings the REPL back.
from core.compat import const

LED_PINS = (21, 22, 23)             # red, green, blue; common-cathode (high = lit)
BUZZER_PIN = const(25)              # active buzzer through a transistor (high = sound)

_USB_UART_ID = const(0)             # the CH340 bridge
USB_BAUD = const(115200)            # the CDC side ignores it; the UART side must match the bridge
_SCAN_UART_ID = const(2)
SCAN_TX = const(17)
SCAN_RX = const(16)
_VOICE_UART_ID = const(1)
VOICE_TX = const(4)
VOICE_RX = const(18)
VOICE_BUSY = const(19)

SCAN_BAUD = const(9600)
VOICE_BAUD = const(9600)


def build(config):
    import machine
    import os
    from machine import Pin

    from boards import Hardware

    if hasattr(os, "dupterm"):
        os.dupterm(None, 0)         # the REPL lets go of UART0 (see the header)
    usb = machine.UART(_USB_UART_ID, baudrate=USB_BAUD, rxbuf=1024, timeout=0)
    scan_uart = machine.UART(_SCAN_UART_ID, baudrate=config.get("scan_baud", SCAN_BAUD),
                             tx=SCAN_TX, rx=SCAN_RX, rxbuf=1024, timeout=0)
    voice_uart = machine.UART(_VOICE_UART_ID, baudrate=config.get("voice_baud", VOICE_BAUD),
                              tx=VOICE_TX, rx=VOICE_RX, timeout=0)
    leds = tuple(Pin(n, Pin.OUT, value=0) for n in LED_PINS)
    busy = Pin(VOICE_BUSY, Pin.IN) if config.get("voice_busy_pin", True) else None
    buzzer = Pin(BUZZER_PIN, Pin.OUT, value=0)
    return Hardware(scan_uart, voice_uart, None, None, None, leds, voice_busy=busy,
                    usb_serial=usb, buzzer=buzzer)


async def connect_network(config, hw=None):
    return False        # the basic box has no network of its own


def make_app(hw, config, transport=None, on_event=None):
    from core.basic_box import make_app as make
    return make(hw, config, on_event)
