# Board profiles: pin maps and which peripherals a device has. Only the board files import
# `machine`; everything else gets the objects they build, so the simulator can hand in virtual ones.


class Hardware:
    """What a board hands the app: UARTs, Pins, buses and panel drivers, already configured.
    A peripheral the profile lacks is None."""

    def __init__(self, scan_uart, voice_uart, rows, cols, keymap, led_pins,
                 voice_busy=None, led_active_high=True, ssl=None, display=None, battery_adc=None,
                 modem_uart=None, usb_serial=None, buzzer=None, battery_divider=2.0, hardware_id=None, modem_pwrkey=None):
        self.scan_uart = scan_uart          # GM65 (None: a QR stand without a scan engine)
        self.voice_uart = voice_uart
        self.voice_busy = voice_busy        # SYN6288 BUSY pin (high while speaking) or None
        self.rows = rows                    # keypad row Pins, outputs (None: no keypad)
        self.cols = cols                    # keypad column Pins, inputs with pull-ups
        self.keymap = keymap
        self.led_pins = led_pins            # (red, green, blue) or None
        self.led_active_high = led_active_high
        self.ssl = ssl                      # SSL context for https, or None
        self.display = display              # a panel from drivers/display.py (SSD1306, ST7789)
        self.battery_adc = battery_adc      # machine.ADC on the battery divider
        self.battery_divider = battery_divider  # battery voltage / ADC pin voltage
        self.modem_uart = modem_uart        # 3G/4G modem (AT, then PPP)
        self.modem_pwrkey = modem_pwrkey    # Pin pressing the modem's PWRKEY when high, or None
        self.usb_serial = usb_serial        # basic box: the line to the host agent
        self.buzzer = buzzer                # Pin, high = sound
        self.hardware_id = hardware_id      # the chip's id, hex (chip_id below); signed into every request


def chip_id(unique_id):
    """The chip's id as the device API's X-Hardware-Id: machine.unique_id()'s bytes in hex."""
    from binascii import hexlify
    return hexlify(unique_id).decode()
