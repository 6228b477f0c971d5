"""Firmware tests: firmware/ is the device's file system root, so it goes on sys.path as on the
device (`from core import cbor`, `from drivers.keypad import Keypad`)."""
import os
import sys

FIRMWARE_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                            "firmware")
if FIRMWARE_DIR not in sys.path:
    sys.path.insert(0, FIRMWARE_DIR)
