# Dynamic QR stand, ESP32 board: 4x4 keypad (the box's layout), XFS5152 voice, a screen (ST7789
# 240x240 by default, or a 128x64 SSD1306 on I2C for the small stand), optional GM65 scan engine
# (config "scan_engine": true), RGB LED, Wi-Fi.
from core.compat import const

KEYMAP = (
    ("1", "2", "3", "DEL"),
    ("4", "5", "6", "CLR"),
    ("7", "8", "9", "FN"),
    (".", "0", "00", "OK"),
)

ROW_PINS = (13, 14, 27, 26)
COL_PINS = (32, 33, 34, 35)         # 34 and 35 have no internal pull-up: 10k to 3V3 on the PCB
LED_PINS = (21, 22, 23)

_SCAN_UART_ID = const(2)
SCAN_TX = const(17)
SCAN_RX = const(16)
_VOICE_UART_ID = const(1)           # XFS5152: 115200 seen on modules sold (unverified: configurable)
VOICE_TX = const(4)
VOICE_RX = const(36)

_SPI_ID = const(2)
LCD_SCK = const(18)
LCD_MOSI = const(19)
LCD_CS = const(5)
LCD_DC = const(25)
LCD_RST = const(15)
LCD_WIDTH = const(240)
LCD_HEIGHT = const(240)
_I2C_ID = const(0)
OLED_SCL = const(22)
OLED_SDA = const(21)

SCAN_BAUD = const(9600)
VOICE_BAUD = const(115200)


def build(config):
    import machine
    from machine import I2C, SPI, Pin

    from boards import Hardware, chip_id
    from drivers.display import SSD1306, ST7789

    scan_uart = None
    if config.get("scan_engine"):
        scan_uart = machine.UART(_SCAN_UART_ID, baudrate=config.get("scan_baud", SCAN_BAUD),
                                 tx=SCAN_TX, rx=SCAN_RX, rxbuf=1024, timeout=0)
    voice_uart = machine.UART(_VOICE_UART_ID, baudrate=config.get("voice_baud", VOICE_BAUD),
                              tx=VOICE_TX, rx=VOICE_RX, timeout=0)
    rows = [Pin(n, Pin.OUT, value=1) for n in ROW_PINS]
    cols = [Pin(n, Pin.IN, Pin.PULL_UP) for n in COL_PINS]
    leds = None
    if config.get("display", "st7789") == "ssd1306":
        # the small stand's OLED takes the LED's pins 21/22 for I2C: no LED on that variant
        panel = SSD1306(I2C(_I2C_ID, scl=Pin(OLED_SCL), sda=Pin(OLED_SDA), freq=400000))
    else:
        spi = SPI(_SPI_ID, baudrate=40000000, sck=Pin(LCD_SCK), mosi=Pin(LCD_MOSI))
        panel = ST7789(spi, Pin(LCD_DC, Pin.OUT), Pin(LCD_CS, Pin.OUT, value=1), Pin(LCD_RST, Pin.OUT),
                       LCD_WIDTH, LCD_HEIGHT)
        leds = tuple(Pin(n, Pin.OUT, value=0) for n in LED_PINS)
    ssl = None
    if config.get("server_url", "").startswith("https:"):
        from boards.enhanced_box import tls_context
        ssl = tls_context(config.get("ca_file", "/ca.pem"))
    return Hardware(scan_uart, voice_uart, rows, cols, KEYMAP, leds, ssl=ssl, display=panel,
                    hardware_id=chip_id(machine.unique_id()))


async def connect_network(config, hw=None):
    from boards.enhanced_box import join_wifi
    return await join_wifi(config)


def make_app(hw, config, transport=None, on_event=None):
    import machine
    import network

    from core import place
    from core.stand import make_app as make
    return make(hw, config, transport, on_event, reset=machine.reset, place=place.reader(network, "wifi"))
