"""Virtual battery behind a resistor divider on an ADC pin: `machine.ADC`'s `read_uv()` and
`read_u16()` for the firmware, `millivolts` (the cell's voltage) for the simulator to set."""


class VirtualBattery:
    def __init__(self, millivolts=3900, divider=2.0, vref_mv=3300):
        self.millivolts = millivolts
        self.divider = divider
        self.vref_mv = vref_mv
        self.charging = False

    def _pin_uv(self):
        return int(self.millivolts / self.divider * 1000)

    # machine.ADC API
    def read_uv(self):
        return self._pin_uv()

    def read_u16(self):
        return max(0, min(65535, self._pin_uv() * 65535 // (self.vref_mv * 1000)))

    def read(self):
        return self.read_u16() >> 4
