# A test jig in place of boards/<profile>.py on the virtual board (MicroPython WebAssembly has no
# `machine`): the flashed main.py runs with it, main.start(board=mp_jig_board). Its peripherals are
# mp_standins' wire-level stand-ins, so the flashed drivers (keypad scanning, GM65 parsing, SYN6288
# frames, LED pins) do the work; the network is the host's HTTP bridge (core/js_http.py), and reset is
# the virtual board's (the process ends with status 3, the test boots the flash again).
# Imports of the firmware stay inside the functions: main.start() must pick the OTA slot first.
import json

import vboard  # pyright: ignore[reportMissingImports]

keys = None         # mp_standins.KeyMatrix
scan_uart = None    # mp_standins.Uart: feed(b"<code>\r") is the customer showing a code
voice_uart = None   # mp_standins.Uart: .sent holds the SYN6288 frames the voice driver wrote
events = []         # the app's events
app = None
cut = None          # {"step": "download", "nth": 3}: the power goes just before that OTA step


def build(config):
    global keys, scan_uart, voice_uart
    from boards import Hardware
    from boards.enhanced_box import KEYMAP
    from mp_standins import KeyMatrix, Level, Uart

    keys, scan_uart, voice_uart = KeyMatrix(KEYMAP), Uart(), Uart()
    leds = (Level(), Level(), Level())
    return Hardware(scan_uart, voice_uart, keys.rows, keys.cols, KEYMAP, leds, voice_busy=Level(0))


async def connect_network(config, hw=None):
    return True


def reset():
    print("RESET")
    vboard.reset()


def on_event(event):
    events.append(event)
    if event["event"] in ("ota", "reboot"):
        print("EVENT " + json.dumps(event))     # seen by the test even if a reset follows
    if cut and event["event"] == "ota" and event.get("step") == cut["step"]:
        cut["nth"] -= 1
        if cut["nth"] == 0:
            print("CUT")
            vboard.power_cut()


def make_app(hw, config, transport=None, on_event_=None):
    """The enhanced box's app, built by the flashed core/app.py (the jig wires that profile only)."""
    global app
    from core.app import make_app as make
    app = make(hw, config, transport, on_event, reset=reset)
    return app
