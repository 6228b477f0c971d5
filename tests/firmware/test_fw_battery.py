"""Battery gauge: the discharge curve, both ADC reading styles, and no flicker."""
import pytest

from drivers.battery import Battery, adc_to_mv, percent_from_mv
from hw_sim.battery import VirtualBattery


@pytest.mark.parametrize("mv, pct", [(4300, 100), (4200, 100), (4150, 95), (3900, 65), (3800, 50),
                                     (3725, 35), (3550, 8), (3300, 0), (3000, 0)])
def test_curve(mv, pct):
    assert percent_from_mv(mv) == pct


def test_read_uv_and_read_u16_agree():
    cell = VirtualBattery(3900)
    assert adc_to_mv(cell, 2.0) == 3900

    class U16Only:
        def read_u16(self):
            return cell.read_u16()
    assert abs(adc_to_mv(U16Only(), 2.0) - 3900) <= 2


def test_percent_only_rises_on_a_real_charge():
    cell = VirtualBattery(3800)
    battery = Battery(cell)
    assert battery.percent() == 50
    cell.millivolts = 3790
    assert battery.percent() == 48
    cell.millivolts = 3800                    # noise back up: the gauge does not flicker
    assert battery.percent() == 48
    cell.millivolts = 4000                    # charger plugged in
    assert battery.percent() == 80
