class VirtualHandheldGun: pass
