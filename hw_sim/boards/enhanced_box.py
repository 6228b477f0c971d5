"""Virtual enhanced scan box: the real firmware app (firmware/core/app.py) on virtual hardware.

The box is wired as the ESP32 reference board (firmware/boards/enhanced_box.py: same pin numbers,
same keymap): a keypad on virtual pins, a GM65 scan engine and a SYN6288 voice module on virtual
UARTs, an RGB LED on virtual pins, Wi-Fi on a virtual `network` (the shop's access points, or
`access_points=`; `box.move(other_access_points)` carries it to another shop). The firmware runs as
an asyncio task in the caller's event loop and talks HTTP to `server_url` as the device would.

    box = VirtualEnhancedBox("http://127.0.0.1:8080", "D0001", key_hex, on_event=print)
    await box.start()
    await box.type_amount("12.50")          # presses 1 2 . 5 0 OK
    box.scan(wallet_screen_image)           # the customer shows the payment code
    await box.wait_spoken("微信收款")
    await box.stop()
"""
from hw_sim.boards.base import KeypadBoardMixin, VirtualBoard, WifiBoardMixin


class VirtualEnhancedBox(WifiBoardMixin, KeypadBoardMixin, VirtualBoard):
    profile = "enhanced_box"

    def _build(self, board, config):
        from boards import Hardware
        from core.app import make_app

        rows, cols = self._make_keypad(board)
        hw = Hardware(self._make_scan_engine(board.SCAN_BAUD), self._make_voice(board.VOICE_BAUD),
                      rows, cols, board.KEYMAP, self._make_led(board.LED_PINS),
                      voice_busy=None,      # no BUSY wire: the firmware asks the module's status
                      hardware_id=self.hardware_id)
        return make_app(hw, config, transport=self._transport, on_event=self._record, reset=self.reset,
                        place=self._place_reader())
