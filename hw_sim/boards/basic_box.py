"""Virtual basic scan box: the real firmware (firmware/core/basic_box.py) on a GM65, a SYN6288, an RGB
LED and a buzzer, with its USB serial line to the host agent on a real pseudo-terminal.

The host agent talks to it exactly as to a box on /dev/ttyUSB0 (docs/basic-box-protocol.md):

    box = VirtualBasicBox(serial_no="SPB0001")
    await box.start()              # the box sends "HELLO 1 basic 0.2.0 SPB0001"
    box.port                       # "/dev/pts/N": open it with pyserial (any baud), read and write lines
    box.scan(wallet.screen(code))  # the customer's code: the box sends "SCAN <seq> <code>" (repeated
                                   # every 1 s until the agent answers "ACK <seq>", at most 5 times)
    box.scan_text(code)            # the same without a picture
    await box.wait_spoken("微信收款 12.50 元")   # after the agent sent "SAY <seq> 微信收款 12.50 元"
    box.spoken                     # everything the voice module said, in order
    box.led                        # "off", "red", "green", "blue", "yellow" (blinking reads off half the time)
    box.beeps                      # how many BEEPs sounded
    box.sent_lines()               # every line the box wrote to the agent, decoded
    await box.stop()

`VirtualBasicBox(pty=False)` skips the pseudo-terminal: `box.host` is then the PC's end of an
in-process virtual UART (`write(bytes)`, `read()`), for tests without a tty. Everything runs in the
caller's asyncio loop; a program that is blocking on the pty (pyserial) should run the box in a thread
with its own loop, or use pyserial's non-blocking reads.
"""
from hw_sim.boards.base import VirtualBoard
from hw_sim.pins import Pin
from hw_sim.pty_serial import PtySerial
from hw_sim.uart import VirtualUART


class VirtualBasicBox(VirtualBoard):
    profile = "basic_box"

    def __init__(self, serial_no="SPB0001", *, pty=True, workdir=None, config=None, on_event=None,
                 scan_mode="continuous", line_ending=b"\r", speech_s_per_char=0.0):
        super().__init__("", serial_no, "", workdir=workdir, config=config, on_event=on_event,
                         scan_mode=scan_mode, line_ending=line_ending,
                         speech_s_per_char=speech_s_per_char)
        for name in ("server_url", "device_key"):
            self.config.pop(name)
        self._use_pty = pty
        self.serial = None
        self.host = None
        self.port = None

    def _build(self, board, config):
        from boards import Hardware

        if self._use_pty:
            self.serial = PtySerial()
            self.port = self.serial.port
            usb = self.serial
        else:
            usb, self.host = VirtualUART.pair("usb", board.USB_BAUD)
            self.serial = usb
        self.buzzer = Pin(board.BUZZER_PIN, Pin.OUT, value=0, name="buzzer")
        self.beeps = 0

        def count(_pin, level):
            if level:
                self.beeps += 1
        self.buzzer.on_change(count)
        hw = Hardware(self._make_scan_engine(board.SCAN_BAUD), self._make_voice(board.VOICE_BAUD),
                      None, None, None, self._make_led(board.LED_PINS), usb_serial=usb, buzzer=self.buzzer)
        return board.make_app(hw, config, on_event=self._record)

    def sent_lines(self):
        """Every line the box wrote to the agent so far, without line endings."""
        return bytes(self.serial.written).decode("utf-8", "replace").splitlines()

    async def stop(self):
        await super().stop()
        if self._use_pty and self.serial is not None:
            self.serial.close()

    @property
    def journal(self):
        return None
