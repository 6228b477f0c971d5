"""Virtual dynamic QR stand: the real firmware (firmware/core/stand.py) on a keypad, an XFS5152 voice
module, a screen (ST7789 240x240 on virtual SPI, or `display="ssd1306"`: a 128x64 OLED on virtual I2C),
an RGB LED (ST7789 variant) and, with `scan_engine=True`, a GM65.

    stand = VirtualQRStand(url, "S0001", key_hex)
    await stand.start()                 # asks `info`; the idle screen shows the static code
    stand.read_screen_qr()              # what a payer's phone reads off the screen now (zbar), or None
    await stand.type_amount("688")      # OK: the stand asks `qr` and shows the one-time code
"""
from hw_sim.boards.base import KeypadBoardMixin, VirtualBoard, WifiBoardMixin
from hw_sim.display import VirtualI2C, VirtualSPI, VirtualSSD1306, VirtualST7789
from hw_sim.pins import Pin


class VirtualQRStand(WifiBoardMixin, KeypadBoardMixin, VirtualBoard):
    profile = "qr_stand"
    voice_chip = "xfs5152"

    def __init__(self, server_url, device_id, device_key_hex, *, display="st7789", scan_engine=False,
                 **options):
        config = dict(options.pop("config", None) or {})
        config.setdefault("display", display)
        config.setdefault("scan_engine", scan_engine)
        config.setdefault("voice_chip", "xfs5152")
        super().__init__(server_url, device_id, device_key_hex, config=config, **options)

    def _build(self, board, config):
        from boards import Hardware
        from core.stand import make_app
        from drivers.display import SSD1306, ST7789

        rows, cols = self._make_keypad(board)
        leds = None
        if config.get("display") == "ssd1306":
            self.i2c = VirtualI2C()
            self.lcd = VirtualSSD1306()
            self.i2c.attach(0x3C, self.lcd)
            panel = SSD1306(self.i2c)
        else:
            self.spi = VirtualSPI()
            dc = Pin(board.LCD_DC, Pin.OUT, value=0, name="lcd_dc")
            cs = Pin(board.LCD_CS, Pin.OUT, value=1, name="lcd_cs")
            self.lcd = VirtualST7789(dc, board.LCD_WIDTH, board.LCD_HEIGHT)
            self.spi.attach(cs, self.lcd)
            panel = ST7789(self.spi, dc, cs, None, board.LCD_WIDTH, board.LCD_HEIGHT)
            leds = self._make_led(board.LED_PINS)
        scan_uart = self._make_scan_engine(board.SCAN_BAUD) if config.get("scan_engine") else None
        hw = Hardware(scan_uart, self._make_voice(board.VOICE_BAUD), rows, cols, board.KEYMAP, leds,
                      display=panel, hardware_id=self.hardware_id)
        return make_app(hw, config, transport=self._transport, on_event=self._record, reset=self.reset,
                        place=self._place_reader())

    @property
    def led(self):
        return super().led if getattr(self, "led_pins", None) else None

    @property
    def screen_lines(self):
        return list(self.app.screen.lines)

    def screen_image(self, scale=2):
        return self.lcd.image(scale)

    def save_screen(self, path, scale=2):
        return self.lcd.save_png(path, scale)

    def read_screen_qr(self):
        """The text a phone's camera reads from the QR code on the screen now (zbar), or None."""
        from hw_sim.scan_engine import decode_symbol
        return decode_symbol(self.screen_image(2 if self.lcd.width < 200 else 1).convert("L"))
