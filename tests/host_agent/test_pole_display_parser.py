"""The pole-display parser, fed the bytes hw_sim's POS writes, split every way a serial read can split them.

A POS writes one burst per cashier action (an item, the total, the change) and the line is quiet between
them; the parser reads the display at each quiet gap (`idle`)."""
import pytest

from host_agent.pole_display import PoleDisplayParser
from hw_sim.pos.pole_display import PosCashier


class Capture:
    """A PosCashier port that keeps each burst instead of writing it to a terminal."""

    def __init__(self):
        self.bursts = []

    def write(self, data):
        self.bursts.append(bytes(data))


def pos_bytes(protocol, lamps="wintec", **kw):
    port = Capture()
    return PosCashier(port, protocol, lamps=lamps, **kw), port


def totals_seen(parser, bursts, chunk=None):
    """Feed each burst (in pieces of `chunk` bytes), with a quiet gap after it; the totals read."""
    if isinstance(bursts, bytes):
        bursts = [bursts]
    seen = []
    for data in bursts:
        step = chunk or len(data) or 1
        for i in range(0, len(data), step):
            parser.feed(data[i:i + step])
        total = parser.idle()
        if total is not None:
            seen.append(total)
    return seen


@pytest.mark.parametrize("lamps", ["wintec", "partner", "ascii", "stx"])
@pytest.mark.parametrize("lamp_first", [True, False])
def test_led8n_total_is_the_value_under_the_total_lamp(lamps, lamp_first):
    pos, port = pos_bytes("led8n", lamps)
    pos.start()
    for price in (350, 900):
        pos.write(pos.price_bytes(price, lamp_first=lamp_first))
    pos.write(pos.total_bytes(1250, lamp_first=lamp_first))
    pos.write(pos.collect_change_bytes(2000, 750))
    parser = PoleDisplayParser("led8n", lamps=lamps if lamps != "stx" else "wintec")
    assert totals_seen(parser, port.bursts) == [1250]


@pytest.mark.parametrize("chunk", [1, 2, 3, 7])
def test_led8n_bytes_split_anywhere(chunk):
    pos, port = pos_bytes("led8n", "partner")
    pos.start()
    pos.show_item(199)
    pos.show_total(123456)
    assert totals_seen(PoleDisplayParser("led8n", lamps="partner"), port.bursts, chunk) == [123456]


def test_wrong_vendor_table_sees_no_total():
    # Wintec's ESC s 02 is "total"; for a Partner display 02 is "price": the table must match the display
    pos, port = pos_bytes("led8n", "wintec")
    pos.show_total(1250)
    assert totals_seen(PoleDisplayParser("led8n", lamps="partner"), port.bursts) == []


def test_custom_lamp_table_from_config():
    data = b"\x1bs\x07\x1bQA8.80\r"
    assert totals_seen(PoleDisplayParser("led8n", lamps={"price": 6, "total": 7}), data) == [880]


def test_same_total_again_is_new_only_after_the_display_was_cleared():
    parser = PoleDisplayParser("led8n")
    total = b"\x1bs\x02\x1bQA12.50\r"
    assert totals_seen(parser, total) == [1250]
    assert totals_seen(parser, total) == []                 # the POS refreshing its display: no new sale
    assert totals_seen(parser, b"\x0c" + total) == []      # nor a redraw (clear, then the same) in one go
    assert totals_seen(parser, [b"\x0c", total]) == [1250]  # the next customer's total


def test_halfway_states_within_a_burst_are_not_amounts():
    # lamp switched to "total" while the last item's price is still shown, then the total written
    parser = PoleDisplayParser("led8n")
    assert totals_seen(parser, [b"\x1bs\x01\x1bQA3.50\r", b"\x1bs\x02\x1bQA12.50\r"]) == [1250]


@pytest.mark.parametrize("protocol", ["cd5220", "epson"])
@pytest.mark.parametrize("label, layout", [("TOTAL", "same_line"), ("应收", "same_line"),
                                           ("合计", "two_lines"), ("TOTAL", "two_lines")])
@pytest.mark.parametrize("chunk", [None, 1, 5])
def test_text_displays(protocol, label, layout, chunk):
    pos, port = pos_bytes(protocol, label=label)
    pos.start()
    pos.show_item(350, "COLA")
    pos.show_item(900, "BEER")
    pos.show_total(1250, layout=layout)
    pos.write(pos.collect_change_bytes(2000, 750))
    assert totals_seen(PoleDisplayParser(protocol), port.bursts, chunk) == [1250]


def test_epson_cursor_and_line_commands():
    data = (b"\x1b@\x0c\x1f\x01" + b"\x1f$\x01\x01" + b"HELLO" + b"\x1f$\x01\x02" + b"\x18"
            + b"TOTAL" + b"\x1f$\x0f\x02" + b"88.00")
    parser = PoleDisplayParser("epson")
    assert totals_seen(parser, data) == [8800]
    assert parser.text_lines == ["HELLO", "TOTAL         88.00"]


def test_cd5220_bytes_for_the_printer_are_not_displayed():
    data = b"\x1b=\x01TOTAL 99.00\r\n\x1b=\x02\x1bQB   TOTAL 12.50\r"
    assert totals_seen(PoleDisplayParser("cd5220"), data) == [1250]


def test_garbage_and_unknown_commands_do_not_break_parsing():
    data = bytes(range(256)) + b"\x1bQA" + b"9" * 200 + b"\x1bs\x02\x1bQA5.00\r"
    assert totals_seen(PoleDisplayParser("led8n"), data) == [500]


def test_unknown_protocol_or_vendor_is_refused():
    with pytest.raises(ValueError, match="protocol"):
        PoleDisplayParser("vfd9000")
    with pytest.raises(ValueError, match="vendor"):
        PoleDisplayParser("led8n", lamps="acme")
