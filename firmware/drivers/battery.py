# Battery gauge: the cell's voltage through a resistor divider on an ADC pin, turned into a percentage
# by a Li-ion discharge curve (the voltage is not linear in charge: flat in the middle, steep at the
# ends). Readings are averaged; the percentage only moves down while discharging unless it rises by
# more than `rise_pct` (plugging in a charger), so the screen does not flicker 41-42-41.
from core.compat import const

# (millivolts at the cell, percent) for a 1-cell Li-ion/LiPo at light load, highest first
CURVE = ((4200, 100), (4100, 90), (4000, 80), (3900, 65), (3800, 50), (3750, 40), (3700, 30),
         (3650, 20), (3600, 12), (3500, 5), (3300, 0))

_VREF_MV = const(3300)


def percent_from_mv(mv, curve=CURVE):
    """0-100 for the cell voltage mv, linear between the curve's points."""
    if mv >= curve[0][0]:
        return 100
    if mv <= curve[-1][0]:
        return 0
    for i in range(1, len(curve)):
        hi_mv, hi_pct = curve[i - 1]
        lo_mv, lo_pct = curve[i]
        if mv >= lo_mv:
            return lo_pct + (mv - lo_mv) * (hi_pct - lo_pct) // (hi_mv - lo_mv)
    return 0


def adc_to_mv(adc, divider):
    """Cell millivolts from one ADC reading. ESP32 ADCs have read_uv() (factory-calibrated); other
    ports only read_u16() against the reference voltage."""
    if hasattr(adc, "read_uv"):
        pin_mv = adc.read_uv() // 1000
    else:
        pin_mv = adc.read_u16() * _VREF_MV // 65535
    return int(pin_mv * divider)


class Battery:
    samples = 8
    rise_pct = 3
    low_pct = 15            # the app warns below this

    def __init__(self, adc, divider=2.0):
        self._adc = adc
        self._divider = divider
        self._shown = None

    def millivolts(self):
        total = 0
        for _ in range(self.samples):
            total += adc_to_mv(self._adc, self._divider)
        return total // self.samples

    def percent(self):
        pct = percent_from_mv(self.millivolts())
        if self._shown is None or pct < self._shown or pct >= self._shown + self.rise_pct:
            self._shown = pct
        return self._shown

    def deinit(self):
        pass
