"""Virtual boards, one per firmware profile (the classes live in hw_sim/boards/).

    from hw_sim.board import VirtualEnhancedBox, VirtualHandheldGun, VirtualQRStand, VirtualBasicBox, VirtualSpeaker
"""
from hw_sim.boards import (  # noqa: F401  (re-exported)
    FIRMWARE_DIR, VirtualBasicBox, VirtualEnhancedBox, VirtualHandheldGun, VirtualQRStand, VirtualSpeaker,
    format_event, use_firmware)
