"""A margin round the region: installers drag the box a little wide, and it catches the field's
border (today's reader took the border for a "1": TOTAL 11.66 read as 1116.66) and the bottom of the
line above ("数量 3  小计 16.37"). Borders and lines cut by the region's edge are dropped before
reading; a number cut by the region's side edge gives no reading."""
import pytest

from host_agent.ocr import AmountReader
from hw_sim.pos.ocr_corpus import Grab, Sample
from hw_sim.pos.screen import ScreenStyle

# each one read as a wrong amount by today's reader
MARGINS = [
    ("wqy-microhei", 32, "light", "label_en", 11166, (0, 14, 0, 6)),
    ("wqy-microhei", 32, "light", "label_en", 11240, (30, 18, 30, 0)),
    ("wqy-microhei", 24, "grey", "label_en", 11351, (20, 10, 20, 10)),
    ("wqy-microhei", 32, "dark", "label_en", 11869, (8, 24, 8, 8)),
    ("wqy-microhei", 24, "grey", "plain", 10537, (8, 24, 8, 8)),
    ("wqy-microhei", 24, "dark", "plain", 10833, (8, 24, 8, 8)),
]


@pytest.fixture(scope="module")
def reader():
    reader = AmountReader()
    reader.warm_up()
    return reader


@pytest.mark.parametrize("font, size, theme, fmt, amount_fen, margin", MARGINS)
def test_a_margin_round_the_field_is_no_part_of_the_total(reader, font, size, theme, fmt, amount_fen, margin):
    sample = Sample(ScreenStyle(font=font, size=size, theme=theme, fmt=fmt, border=True, info=True), amount_fen,
                    Grab(margin=margin))
    reading = reader.read(sample.image())
    assert reading.amount_fen in (amount_fen, None), (sample.describe(), reading)


def test_margins_are_mostly_read_right(reader):
    samples = [Sample(ScreenStyle(font=font, size=size, theme=theme, fmt=fmt, border=True, info=True), amount_fen,
                      Grab(margin=margin)) for font, size, theme, fmt, amount_fen, margin in MARGINS]
    exact = sum(reader.read(sample.image()).amount_fen == sample.amount_fen for sample in samples)
    assert exact >= len(samples) - 1


@pytest.mark.parametrize("fmt", ["yen_comma", "plain", "rmb"])
def test_a_region_that_cuts_through_the_number_gives_no_reading(reader, fmt):
    """¥3,487.59 with the region's left edge through the 3: what is left would read 487.59."""
    for font in ("dejavu-sans", "dseg7-classic", "led-round"):
        sample = Sample(ScreenStyle(font=font, size=32, fmt=fmt), 348759, Grab(cut=True))
        reading = reader.read(sample.image())
        assert reading.amount_fen is None, (sample.describe(), reading)


def test_a_region_through_a_segment_cell_gives_no_reading_even_where_the_lit_ink_is_whole(reader):
    """An LCD's unlit segments (the "8" behind every digit) cut by the region's side: the lit "1"
    stands clear of the edge at the right of its cell, but what the cut took cannot be told
    (issue 13: ¥121.70 with the edge through the first cell was read as 121.70, its cell cut)."""
    sample = Sample(ScreenStyle(font="dseg7-modern", size=32, theme="green", fmt="yen_comma", ghost=True, info=True),
                    12170, Grab(cut=True))
    reading = reader.read(sample.image())
    assert reading.amount_fen is None and reading.why == "cut", reading
