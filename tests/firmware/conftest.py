"""Firmware tests: firmware/ is the device's file system root, so it goes on sys.path as on the
device (`from core import cbor`, `from drivers.keypad import Keypad`), as the virtual boards put it
(hw_sim.boards.use_firmware)."""
from hw_sim.boards import use_firmware

use_firmware()
