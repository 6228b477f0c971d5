"""Seven-segment totals (Debian's fonts-dseg): the decimal point is a separate small dot with no
width of its own, squeezed between two digits, and OCR drops it: "DUE 7.70" was read as 770.00 yuan,
a hundred times the bill, with a confidence of 0.9. The reader finds the point itself and draws it
clearly before reading, and refuses a total not written with its two decimals."""
import pytest

from host_agent.amount import screen_total
from host_agent.ocr import AmountReader
from hw_sim.pos.ocr_corpus import Grab, Sample
from hw_sim.pos.screen import ScreenStyle

# (font, size, theme, format, amount): each one today's reader read as 100 times the amount
DROPPED_POINTS = [
    ("dseg7-classic", 32, "dark", "label_due", 770),
    ("dseg7-classic-bold", 28, "dark", "label_due", 770),
    ("dseg7-modern", 32, "light", "label_due", 770),
    ("dseg7-classic", 36, "lcd", "label_zh", 770),
    ("dseg7-classic-bold", 28, "dark", "yen_plain", 751),
    ("dseg7-modern", 28, "green", "rmb", 497),
]


@pytest.fixture(scope="module")
def reader():
    reader = AmountReader()
    reader.warm_up()
    return reader


@pytest.mark.parametrize("font, size, theme, fmt, amount_fen", DROPPED_POINTS)
def test_a_seven_segment_point_is_never_lost(reader, font, size, theme, fmt, amount_fen):
    for ghost in (False, True):         # an LCD's unlit segments showing faintly, or not
        sample = Sample(ScreenStyle(font=font, size=size, theme=theme, fmt=fmt, ghost=ghost), amount_fen)
        reading = reader.read(sample.image())
        assert reading.amount_fen in (amount_fen, None), (sample.describe(), reading)


def test_the_incident_screen_is_read_right(reader):
    """DUE 7.70 on a green-on-black seven-segment field, as the new user's till shows it."""
    sample = Sample(ScreenStyle(font="dseg7-classic", size=32, theme="dark", fmt="label_due"), 770)
    assert reader.read(sample.image()).amount_fen == 770


def test_blurred_and_scaled_points_are_found_or_refused(reader):
    """Blur and display scaling join the point to the next digit; found where it must be, or no reading."""
    for scale, blur in ((0.75, 0.5), (1.25, 0.8), (1.5, 0.5)):
        for amount_fen in (770, 6030, 29102):
            sample = Sample(ScreenStyle(font="dseg7-classic", size=28, theme="light", fmt="label_zh_rmb"),
                            amount_fen, Grab(scale=scale, blur=blur))
            assert reader.read(sample.image()).amount_fen in (amount_fen, None), sample.describe()


@pytest.mark.parametrize("text", ["DUE 770", "DUE 77.0", "DUE 7.700", "应收 77O", "TOTAL 1.2.50", "¥1,23.45"])
def test_a_total_not_written_as_money_is_refused(text):
    assert screen_total(text).amount_fen is None
    assert screen_total(text).why == "bad_number"
