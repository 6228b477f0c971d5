"""Amounts as the POS and the screen show them -> integer fen."""
import pytest

from host_agent.amount import AmountError, find_total, format_fen, parse_led_digits, parse_yuan


@pytest.mark.parametrize("text, fen", [
    ("¥1,234.50", 123450), ("￥1,234.50", 123450), ("应收 12.50", 1250), ("应收12.50", 1250),
    ("TOTAL 12.50", 1250), ("TOTAL: 12.50", 1250), ("Total 12.5", 1250), ("合计：¥8.00", 800),
    ("12.50", 1250), ("0.01", 1), ("¥ 3", 300), ("TOTAL 1,000,000.00", 100000000),
    ("T0TAL 656.30", 65630),                # OCR reads the O as a zero
    ("应收 12 .50", 1250),                   # OCR puts a space at the point
    ("ＴＯＴＡＬ １２.５０", 1250),              # full-width, as Chinese input methods write
])
def test_totals_are_read_from_the_ways_a_pos_writes_them(text, fen):
    assert find_total(text) == fen


@pytest.mark.parametrize("text", ["", "TOTAL", "应收", "¥", "  ", "TOTAL --"])
def test_no_amount_is_none(text):
    assert find_total(text) is None


def test_a_display_line_needs_a_label_when_asked():
    assert find_total("PRICE 3.50", need_label=True) is None
    assert find_total("ITEM 2 x 1.50", need_label=True) is None
    assert find_total("   TOTAL     12.50", need_label=True) == 1250


@pytest.mark.parametrize("digits, fen", [("12.50", 1250), ("12.5", 1250), ("12", 1200), (".5", 50),
                                         ("00012.50", 1250), ("99999.99", 9999999)])
def test_led_digits(digits, fen):
    assert parse_led_digits(digits) == fen


@pytest.mark.parametrize("digits", ["", "-12.50", "0.00", "1.2.3", "abc", "12.505"])
def test_led_digits_that_are_no_amount_to_collect(digits):
    assert parse_led_digits(digits) is None


def test_typed_yuan_and_formatting():
    assert parse_yuan("1,234.5") == 123450
    assert format_fen(123450) == "1234.50" and format_fen(1) == "0.01"
    for bad in ("", "0", "0.00", "1.234", "-1", "1e3", "12,34"):
        with pytest.raises(AmountError):
            parse_yuan(bad)
