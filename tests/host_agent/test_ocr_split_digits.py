"""Split digits: a seven-segment "1" lights only the right of its cell, so "4.21" looks like
"4.2 1", and a POS may leave a gap inside a number; today's reader took the last piece, 1.00 yuan. A
gap wider than the digits' own spacing refuses the reading, whether or not OCR reads it as a space."""
import pytest

from host_agent.amount import screen_total
from host_agent.ocr import AmountReader
from hw_sim.pos.ocr_corpus import Sample
from hw_sim.pos.screen import ScreenStyle


@pytest.fixture(scope="module")
def reader():
    reader = AmountReader()
    reader.warm_up()
    return reader


@pytest.mark.parametrize("font", ["dejavu-sans", "liberation-mono", "dseg7-classic", "led-round"])
def test_a_number_split_by_a_gap_gives_no_reading(reader, font):
    for amount_fen in (421, 751, 1201):
        sample = Sample(ScreenStyle(font=font, size=32, theme="light", fmt="label_en", layout="split"),
                        amount_fen)
        reading = reader.read(sample.image())
        assert reading.amount_fen is None, (sample.describe(), reading)
        assert reading.why, reading         # and says why


# a segment "1" stands at the right of its cell: each read by today's reader as "4.2 1" -> 1.00 and the like
SEGMENT_ONES = [
    ("dseg7-classic-bold", 28, "dark", "label_due", 421), ("dseg7-classic-bold", 28, "light", "label_due", 2101),
    ("dseg7-modern", 36, "dark", "label_due", 9137), ("dseg7-classic-bold", 36, "light", "yen_plain", 9137),
]


@pytest.mark.parametrize("font, size, theme, fmt, amount_fen", SEGMENT_ONES)
def test_a_segment_one_is_read_or_refused_never_split_off(reader, font, size, theme, fmt, amount_fen):
    sample = Sample(ScreenStyle(font=font, size=size, theme=theme, fmt=fmt), amount_fen)
    assert reader.read(sample.image()).amount_fen in (amount_fen, None), sample.describe()


@pytest.mark.parametrize("text", ["TOTAL 4.2 1", "应收 12 3.45", "¥1 234.50", "TOTAL 4.21 3"])
def test_digits_split_by_a_space_are_refused(text):
    assert screen_total(text).amount_fen is None
