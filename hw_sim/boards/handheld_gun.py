"""Virtual handheld gun: the real firmware (firmware/core/gun.py) on a keypad, GM65, SYN6288, a 240x240
ST7789 screen on a virtual SPI bus, a battery on a virtual ADC, and a 4G modem (AT responder, then a
PPP byte pipe) or Wi-Fi, wired as firmware/boards/handheld_gun.py says.

    gun = VirtualHandheldGun(url, "G0001", key_hex, modem=True)   # or modem=False: Wi-Fi
    await gun.start()               # the modem is dialled (AT chat, CONNECT, network.PPP) first
    await gun.type_amount("12.50"); gun.scan(wallet.screen(code)); await gun.wait_spoken("微信收款")
    gun.screen_lines                # the text on the screen now, top to bottom
    gun.screen_image()              # the panel's pixels (Pillow), gun.save_screen("gun.png")
    gun.battery.millivolts = 3550   # the cell runs down: the screen and the heartbeat show it
    gun.modem.cell                  # the serving cell the modem names (the gun's place on 4G)
    await gun.press("FN")           # history; digits + OK look an order up on the server

In the simulator the firmware's HTTP goes through the host's sockets; the PPP link is real as far as
the modem's byte pipe (the firmware's PPP frames arrive in `gun.modem.data`).
"""
from hw_sim.battery import VirtualBattery
from hw_sim.boards.base import KeypadBoardMixin, VirtualBoard
from hw_sim.display import VirtualSPI, VirtualST7789
from hw_sim.modem import VirtualModem
from hw_sim.pins import Pin
from hw_sim.uart import VirtualUART


class VirtualHandheldGun(KeypadBoardMixin, VirtualBoard):
    profile = "handheld_gun"

    def __init__(self, server_url, device_id, device_key_hex, *, modem=True, battery_mv=3950,
                 modem_options=None, **options):
        config = dict(options.pop("config", None) or {})
        if modem:
            config.setdefault("modem", {"apn": "cmnet"})
        else:
            config.setdefault("wifi", {"ssid": "shop", "password": "secret"})
        super().__init__(server_url, device_id, device_key_hex, config=config, **options)
        self.battery = VirtualBattery(battery_mv)
        self._modem_options = modem_options or {}
        self.modem = None
        self.network_kind = None

    async def _build_async(self, board, config):
        from boards import Hardware
        from core import netup, place
        from core.gun import make_app
        from drivers.display import ST7789

        rows, cols = self._make_keypad(board)
        self.spi = VirtualSPI()
        dc = Pin(board.LCD_DC, Pin.OUT, value=0, name="lcd_dc")
        cs = Pin(board.LCD_CS, Pin.OUT, value=1, name="lcd_cs")
        rst = Pin(board.LCD_RST, Pin.OUT, value=1, name="lcd_rst")
        self.lcd = VirtualST7789(dc, board.LCD_WIDTH, board.LCD_HEIGHT)
        self.spi.attach(cs, self.lcd)
        panel = ST7789(self.spi, dc, cs, rst, board.LCD_WIDTH, board.LCD_HEIGHT)
        modem_uart = None
        if config.get("modem"):
            modem_uart, modem_end = VirtualUART.pair("sim7600", board.MODEM_BAUD)
            self.modem = VirtualModem(modem_end, **self._modem_options)
        self.network.modem = self.modem
        hw = Hardware(self._make_scan_engine(board.SCAN_BAUD), self._make_voice(board.VOICE_BAUD),
                      rows, cols, board.KEYMAP, None, display=panel, battery_adc=self.battery,
                      battery_divider=board.BATTERY_DIVIDER, modem_uart=modem_uart,
                      hardware_id=self.hardware_id)
        # what boards/handheld_gun.py connect_network does, with the virtual `network` module
        self.network_kind, self.modem_driver = await netup.bring_up(self.network, config, hw)
        return make_app(hw, config, transport=self._transport, on_event=self._record,
                        network_kind=self.network_kind, modem=self.modem_driver, reboot=self.reset,
                        place=place.reader(self.network, self.network_kind, self.modem_driver))

    @property
    def screen_lines(self):
        return list(self.app.screen.lines)

    def screen_image(self, scale=1):
        return self.lcd.image(scale)

    def save_screen(self, path, scale=1):
        return self.lcd.save_png(path, scale)
