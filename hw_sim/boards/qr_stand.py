class VirtualQRStand: pass
