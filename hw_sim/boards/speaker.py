"""Virtual cloud speaker: the real firmware (firmware/core/speaker.py) on a SYN6288 voice module, two
volume keys (a 1x2 matrix on virtual pins), an RGB LED and a 4G modem (AT responder, then a PPP byte
pipe) or Wi-Fi, wired as firmware/boards/speaker.py says. It takes no payments: it says the payments on
the shop's static code (core/announce.py).

    speaker = VirtualSpeaker(url, "S0001", key_hex)         # modem=False: Wi-Fi
    await speaker.start()
    await stack.pay_static_code("S0001", 2580)              # a payer pays the shop's code
    await speaker.wait_spoken("微信收款 25.80 元")
    await speaker.press("VOL+")                             # "音量 7"
"""
from hw_sim.boards.base import KeypadBoardMixin, VirtualBoard
from hw_sim.modem import VirtualModem
from hw_sim.uart import VirtualUART


class VirtualSpeaker(KeypadBoardMixin, VirtualBoard):
    profile = "speaker"

    def __init__(self, server_url, device_id, device_key_hex, *, modem=True, modem_options=None, **options):
        config = dict(options.pop("config", None) or {})
        if modem:
            config.setdefault("modem", {"apn": "cmnet"})
        super().__init__(server_url, device_id, device_key_hex, config=config, **options)
        self._modem_options = modem_options or {}
        self.modem = None
        self.network_kind = None

    async def _build_async(self, board, config):
        from boards import Hardware
        from core import netup, place
        from core.speaker import make_app

        rows, cols = self._make_keypad(board)
        modem_uart = None
        if config.get("modem"):
            modem_uart, modem_end = VirtualUART.pair("ec200u", board.MODEM_BAUD)
            self.modem = VirtualModem(modem_end, **self._modem_options)
        self.network.modem = self.modem
        hw = Hardware(None, self._make_voice(board.VOICE_BAUD), rows, cols, board.KEYMAP,
                      self._make_led(board.LED_PINS), modem_uart=modem_uart, hardware_id=self.hardware_id)
        # what boards/speaker.py connect_network does, with the virtual `network` module
        self.network_kind, self.modem_driver = await netup.bring_up(self.network, config, hw)
        return make_app(hw, config, transport=self._transport, on_event=self._record,
                        network_kind=self.network_kind, modem=self.modem_driver, reset=self.reset,
                        place=place.reader(self.network, self.network_kind, self.modem_driver))

    @property
    def volume(self):
        return self.app.voice.volume
