"""The total told from the other numbers by its label, as a whole word: TOTAL, 合计, 应收, DUE,
实收... but not SUBTOTAL or 小计 (today's reader found "TOTAL" inside "SUBTOTAL" and charged the
subtotal), nor "TOTAL QTY". Several totals, or a label that may be a misread total label, refuse."""
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


@pytest.mark.parametrize("fmt", ["label_en", "label_zh", "label_zh_yen"])
@pytest.mark.parametrize("font", ["dejavu-sans", "liberation-sans-bold"])
def test_a_subtotal_alone_is_no_total(reader, font, fmt):
    sample = Sample(ScreenStyle(font=font, size=28, fmt=fmt, layout="subtotal_only"), 1200)
    reading = reader.read(sample.image())
    assert reading.amount_fen is None, (sample.describe(), reading)
    assert reading.why == "not_total"


@pytest.mark.parametrize("fmt", ["label_en", "label_zh", "label_zh_yen"])
def test_the_total_under_a_subtotal_is_the_one_read(reader, fmt):
    for font in ("dejavu-sans", "dseg7-classic"):
        sample = Sample(ScreenStyle(font=font, size=28, fmt=fmt, layout="subtotal_total"), 1320)
        assert reader.read(sample.image()).amount_fen in (1320, None), sample.describe()
    sample = Sample(ScreenStyle(font="dejavu-sans", size=28, fmt=fmt, layout="subtotal_total"), 1320)
    assert reader.read(sample.image()).amount_fen == 1320


def test_two_totals_give_no_reading(reader):
    for fmt in ("label_en", "label_zh"):
        sample = Sample(ScreenStyle(size=28, fmt=fmt, layout="two_totals"), 1250)
        reading = reader.read(sample.image())
        assert reading.amount_fen is None and reading.why == "several_totals", reading


@pytest.mark.parametrize("text, fen", [
    ("SUBTOTAL 12.00\nTOTAL 13.20", 1320), ("小计 12.00\n合计 13.20", 1320), ("TOTAL QTY 3\nTOTAL 12.50", 1250),
    ("合计数量 4\n应收金额：￥28.76", 2876), ("AMOUNT DUE 5.00", 500), ("实收 ￥5.00", 500), ("DUE 7.70", 770),
    ("合计 RMB 12.50", 1250), ("合计 RM B 12.50", 1250), ("12.50 元", 1250), ("¥1,234.50", 123450),
])
def test_the_number_after_a_whole_total_label(text, fen):
    assert screen_total(text).amount_fen == fen


@pytest.mark.parametrize("text, why", [
    ("SUBTOTAL 12.00", "not_total"), ("小计 12.00", "not_total"), ("TOTAL QTY 3", "not_total"),
    ("TOTAL 12.00\n合计 13.00", "several_totals"), ("12.00 13.00", "split"), ("12.00\n13.00", "several_totals"),
    ("T0T8I 22.81\nTOTAL 20.73", "several_totals"),     # a misread label may be a second total
    ("合i 3.81", "unsure"),
])
def test_no_total_when_the_labels_do_not_say_which(text, why):
    found = screen_total(text)
    assert (found.amount_fen, found.why) == (None, why)
