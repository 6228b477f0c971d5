# Board profiles: pin maps and which peripherals a device has. Only the board files import
# `machine`; everything else gets the objects they build, so the simulator can hand in virtual ones.


class Hardware:
    """What a board hands the app: UARTs and Pins, already configured, plus the keymap."""

    def __init__(self, scan_uart, voice_uart, rows, cols, keymap, led_pins,
                 voice_busy=None, led_active_high=True, ssl=None):
        self.scan_uart = scan_uart
        self.voice_uart = voice_uart
        self.voice_busy = voice_busy        # SYN6288 BUSY pin (high while speaking) or None
        self.rows = rows                    # keypad row Pins, outputs
        self.cols = cols                    # keypad column Pins, inputs with pull-ups
        self.keymap = keymap
        self.led_pins = led_pins            # (red, green, blue)
        self.led_active_high = led_active_high
        self.ssl = ssl                      # SSL context for https, or None
