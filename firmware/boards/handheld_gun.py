# Handheld scanning gun, ESP32-S3 board (8 MB PSRAM): 4x4 keypad (the box's layout), GM65 scan
# engine, SYN6288 voice, 240x240 ST7789 IPS screen on SPI, 1-cell Li-ion battery on a 100k/100k
# divider, SIM7600-class 4G modem on a UART (PPP) or the S3's Wi-Fi. No RGB LED: the screen shows it.
#
# Keypad, as printed (row 0 at the top):  1 2 3 DEL / 4 5 6 CLR / 7 8 9 FN / . 0 00 OK
# FN opens the order history (see core/gun.py).
from core.compat import const

KEYMAP = (
    ("1", "2", "3", "DEL"),
    ("4", "5", "6", "CLR"),
    ("7", "8", "9", "FN"),
    (".", "0", "00", "OK"),
)

ROW_PINS = (4, 5, 6, 7)             # outputs
COL_PINS = (15, 16, 17, 18)         # inputs with internal pull-ups

_SCAN_UART_ID = const(1)            # GM65: 9600 8N1
SCAN_TX = const(43)
SCAN_RX = const(44)
_VOICE_UART_ID = const(2)           # SYN6288: 9600 8N1
VOICE_TX = const(1)
VOICE_RX = const(2)
VOICE_BUSY = const(42)
_MODEM_UART_ID = const(0)           # SIM7600: 115200 8N1, hardware flow control recommended for PPP
MODEM_TX = const(47)
MODEM_RX = const(48)
MODEM_POWER = const(41)             # PWRKEY through a transistor: high 500 ms = power on (the
                                    # driver pulses it when the modem does not answer AT)

_SPI_ID = const(2)                  # ST7789: SPI mode 0 at 40 MHz (80 MHz works on short traces)
LCD_SCK = const(12)
LCD_MOSI = const(11)
LCD_CS = const(10)
LCD_DC = const(9)
LCD_RST = const(8)
LCD_BACKLIGHT = const(14)
LCD_WIDTH = const(240)
LCD_HEIGHT = const(240)

BATTERY_ADC = const(3)              # ADC1 (ADC2 is unusable while Wi-Fi runs)
BATTERY_DIVIDER = 2.0               # 100k / 100k

SCAN_BAUD = const(9600)
VOICE_BAUD = const(9600)
MODEM_BAUD = const(115200)


def build(config):
    import machine
    from machine import ADC, SPI, Pin

    from boards import Hardware, chip_id
    from drivers.display import ST7789

    scan_uart = machine.UART(_SCAN_UART_ID, baudrate=config.get("scan_baud", SCAN_BAUD),
                             tx=SCAN_TX, rx=SCAN_RX, rxbuf=1024, timeout=0)
    voice_uart = machine.UART(_VOICE_UART_ID, baudrate=config.get("voice_baud", VOICE_BAUD),
                              tx=VOICE_TX, rx=VOICE_RX, timeout=0)
    rows = [Pin(n, Pin.OUT, value=1) for n in ROW_PINS]
    cols = [Pin(n, Pin.IN, Pin.PULL_UP) for n in COL_PINS]
    busy = Pin(VOICE_BUSY, Pin.IN) if config.get("voice_busy_pin", True) else None
    spi = SPI(_SPI_ID, baudrate=40000000, polarity=0, phase=0, sck=Pin(LCD_SCK), mosi=Pin(LCD_MOSI))
    Pin(LCD_BACKLIGHT, Pin.OUT, value=1)
    panel = ST7789(spi, Pin(LCD_DC, Pin.OUT), Pin(LCD_CS, Pin.OUT, value=1), Pin(LCD_RST, Pin.OUT),
                   LCD_WIDTH, LCD_HEIGHT)
    adc = ADC(Pin(BATTERY_ADC), atten=ADC.ATTN_11DB)
    modem_uart = modem_pwrkey = None
    if config.get("modem"):
        modem_pwrkey = Pin(MODEM_POWER, Pin.OUT, value=0)      # released: pressed only to power on
        modem_uart = machine.UART(_MODEM_UART_ID, baudrate=MODEM_BAUD, tx=MODEM_TX, rx=MODEM_RX,
                                  rxbuf=4096, timeout=0)
    ssl = None
    if config.get("server_url", "").startswith("https:"):
        from boards.enhanced_box import tls_context
        ssl = tls_context(config.get("ca_file", "/ca.pem"))
    return Hardware(scan_uart, voice_uart, rows, cols, KEYMAP, None, voice_busy=busy, ssl=ssl,
                    display=panel, battery_adc=adc, battery_divider=BATTERY_DIVIDER,
                    modem_uart=modem_uart, modem_pwrkey=modem_pwrkey,
                    hardware_id=chip_id(machine.unique_id()))


_network = {}     # what connect_network brought up, for make_app


async def connect_network(config, hw):
    """The modem (PPP) when the config names an APN, else Wi-Fi. The modem's driver keeps its link
    up from then on (drivers/modem.py keep_up: re-dials after a drop, and after a failed first dial)."""
    import network

    modem_config = config.get("modem")
    if modem_config and hw.modem_uart is not None:
        from drivers.modem import Modem
        modem = Modem(hw.modem_uart, modem_config.get("apn", ""), modem_config.get("pin"),
                      pwrkey=hw.modem_pwrkey)
        if modem_config.get("pwrkey_ms"):
            modem.pwrkey_ms = modem_config["pwrkey_ms"]     # e.g. 2000 for an EC200U
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
    from core.gun import make_app as make
    kind, modem = _network.get("kind"), _network.get("modem")
    # the place: the serving cell on 4G (read before dialling), a scan on Wi-Fi
    return make(hw, config, transport, on_event, network_kind=kind, modem=modem, reboot=machine.reset,
                place=place.reader(network, kind, modem))
