import pytest

from core.amount import AmountEntry, format_fen, parse_yuan


def typed(keys, max_fen=5000000):
    entry = AmountEntry(max_fen)
    taken = [entry.press(k) for k in keys]
    return entry, taken


@pytest.mark.parametrize("keys, fen", [
    ("1250", 125000),
    ("12.5", 1250),
    ("12.50", 1250),
    ("0.01", 1),
    (".5", 50),
    ("007", 700),           # leading zeros are dropped
    ("12.", 1200),
    ("", 0),
    (".", 0),
])
def test_keys_make_integer_fen(keys, fen):
    entry, _ = typed(keys)
    assert entry.fen == fen and isinstance(entry.fen, int)


def test_third_decimal_is_refused():
    entry, taken = typed("1.239")
    assert taken == [True, True, True, True, False]
    assert entry.text == "1.23" and entry.fen == 123


def test_second_dot_is_refused():
    entry, taken = typed("1..2.")
    assert taken == [True, True, False, True, False]
    assert entry.fen == 120


def test_amount_above_the_maximum_is_refused():
    entry, taken = typed("1000001", max_fen=100000)     # 1000.00 yuan maximum
    assert entry.text == "1000" and entry.fen == 100000
    assert taken == [True, True, True, True, False, False, False]
    entry, taken = typed("1000.01", max_fen=100000)
    assert taken[-1] is False and entry.fen == 100000


def test_double_zero_key():
    entry, _ = typed(["1", "00"])
    assert entry.fen == 10000
    entry, taken = typed(["1", ".", "5", "00"])      # only one of the two zeros fits
    assert entry.text == "1.50" and taken[-1] is False


def test_backspace_and_clear():
    entry, _ = typed("12.5")
    entry.backspace()
    assert entry.text == "12." and entry.fen == 1200
    entry.backspace()
    entry.backspace()
    assert entry.text == "1"
    entry.backspace()
    assert entry.empty and entry.fen == 0
    entry.backspace()           # nothing to delete is fine
    assert entry.empty
    entry, _ = typed("0.")
    entry.backspace()
    assert entry.empty          # "0." came from one '.' press
    entry, _ = typed("99.9")
    entry.clear()
    assert entry.empty and entry.display() == "0.00"


def test_unknown_keys_are_refused():
    entry, taken = typed(["1", "OK", "x", "12"])
    assert taken == [True, False, False, False] and entry.fen == 100


@pytest.mark.parametrize("fen, text", [(0, "0.00"), (1, "0.01"), (1250, "12.50"), (100000, "1000.00"),
                                       (-5, "-0.05")])
def test_format_fen(fen, text):
    assert format_fen(fen) == text


@pytest.mark.parametrize("bad", ["", ".", "1.234", "1.2.3", "a", "1e3", "-1", " 1", "١٢"])
def test_parse_yuan_refuses_non_amounts(bad):
    with pytest.raises(ValueError):
        parse_yuan(bad)


def test_no_float_in_results():
    entry, _ = typed("0.29")    # 0.29 * 100 = 28.999999999999996 in floating point
    assert entry.fen == 29
