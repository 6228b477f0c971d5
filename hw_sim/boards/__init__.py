"""Virtual boards: the real firmware on virtual peripherals, one class per device profile.

| class | profile | peripherals |
|---|---|---|
| `VirtualEnhancedBox` | enhanced_box | keypad, GM65, SYN6288, RGB LED, network |
| `VirtualHandheldGun` | handheld_gun | keypad, GM65, SYN6288, ST7789 screen, battery, modem (PPP) or Wi-Fi |
| `VirtualQRStand` | qr_stand | keypad, SSD1306 or ST7789 screen, XFS5152, optional GM65, network |
| `VirtualBasicBox` | basic_box | GM65, SYN6288, RGB LED, USB serial to the host agent (a pty) |
| `VirtualSpeaker` | speaker | SYN6288, volume keys, RGB LED, modem (PPP) or Wi-Fi; says the shop's payments |
"""
from hw_sim.boards.base import FIRMWARE_DIR, format_event, use_firmware  # noqa: F401
from hw_sim.boards.basic_box import VirtualBasicBox  # noqa: F401
from hw_sim.boards.enhanced_box import VirtualEnhancedBox  # noqa: F401
from hw_sim.boards.handheld_gun import VirtualHandheldGun  # noqa: F401
from hw_sim.boards.qr_stand import VirtualQRStand  # noqa: F401
from hw_sim.boards.speaker import VirtualSpeaker  # noqa: F401
