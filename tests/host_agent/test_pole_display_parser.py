"""The pole-display reader, fed the bytes hw_sim's POS writes, split every way a serial read can split them.

A POS writes one burst per cashier action (an item, the total, the change); the reader applies each
command to its model of the display and reports a total the moment the display shows one."""
import pytest

from host_agent.pole_display import PoleDisplayReader
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


def totals_seen(reader, bursts, chunk=None):
    """Feed each burst (in pieces of `chunk` bytes); the totals reported."""
    if isinstance(bursts, bytes):
        bursts = [bursts]
    seen = []
    for data in bursts:
        step = chunk or len(data) or 1
        for i in range(0, len(data), step):
            seen += [shown.amount_fen for shown in reader.feed(data[i:i + step])]
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
    reader = PoleDisplayReader("led8n", lamps=lamps if lamps != "stx" else "wintec")
    assert totals_seen(reader, port.bursts) == [1250]


@pytest.mark.parametrize("chunk", [1, 2, 3, 7])
def test_led8n_bytes_split_anywhere(chunk):
    pos, port = pos_bytes("led8n", "partner")
    pos.start()
    pos.show_item(199)
    pos.show_total(123456)
    assert totals_seen(PoleDisplayReader("led8n", lamps="partner"), port.bursts, chunk) == [123456]


def test_wrong_vendor_table_sees_no_total():
    # Wintec's ESC s 02 is "total"; for a Partner display 02 is "price": the table must match the display
    pos, port = pos_bytes("led8n", "wintec")
    pos.show_total(1250)
    assert totals_seen(PoleDisplayReader("led8n", lamps="partner"), port.bursts) == []


def test_custom_lamp_table_from_config():
    data = b"\x1b@\x0c\x1bs\x07\x1bQA8.80\r"
    assert totals_seen(PoleDisplayReader("led8n", lamps={"price": 6, "total": 7}), data) == [880]


def test_same_total_again_is_new_only_after_another_amount_was_shown():
    reader = PoleDisplayReader("led8n")
    total = b"\x1bs\x02\x1bQA12.50\r"
    assert totals_seen(reader, b"\x1b@\x0c" + total) == [1250]
    assert totals_seen(reader, total) == []                 # the POS refreshing its display: no new sale
    assert totals_seen(reader, b"\x0c" + total) == []      # nor a redraw (clear, then the same)
    assert totals_seen(reader, [b"\x0c\x1bs\x01\x1bQA12.50\r", total]) == [1250]    # the next customer


def test_halfway_states_within_a_burst_are_not_amounts():
    # lamp switched to "total" while the last item's price is still shown, then the total written
    reader = PoleDisplayReader("led8n")
    assert totals_seen(reader, [b"\x1b@\x0c\x1bs\x01\x1bQA3.50\r", b"\x1bs\x02\x1bQA12.50\r"]) == [1250]


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
    assert totals_seen(PoleDisplayReader(protocol), port.bursts, chunk) == [1250]


def test_epson_cursor_and_line_commands():
    data = (b"\x1b@\x0c\x1f\x01" + b"\x1f$\x01\x01" + b"HELLO" + b"\x1f$\x01\x02" + b"\x18"
            + b"TOTAL" + b"\x1f$\x0f\x02" + b"88.00")
    reader = PoleDisplayReader("epson")
    assert totals_seen(reader, data) == [8800]
    assert reader.text.text_lines == ["HELLO", "TOTAL         88.00"]


def test_cd5220_bytes_for_the_printer_are_not_displayed():
    data = b"\x1b=\x01TOTAL 99.00\r\n\x1b=\x02\x1bQB   TOTAL 12.50\r"
    assert totals_seen(PoleDisplayReader("cd5220"), data) == [1250]


def test_garbage_and_unknown_commands_do_not_break_parsing():
    data = bytes(range(256)) + b"\x1bQA" + b"9" * 200 + b"\x1bs\x02\x1bQA5.00\r"
    assert totals_seen(PoleDisplayReader("led8n"), data) == [500]


def test_unknown_protocol_vendor_or_lamp_order_is_refused():
    with pytest.raises(ValueError, match="protocol"):
        PoleDisplayReader("vfd9000")
    with pytest.raises(ValueError, match="vendor"):
        PoleDisplayReader("led8n", lamps="acme")
    with pytest.raises(ValueError, match="lamp order"):
        PoleDisplayReader("led8n", lamp_order="sometimes")


@pytest.mark.parametrize("line", ["CHANGE 7.50", "PRICE 3.50", "小计 25.00", "数量 3", "找零 7.50", "单价 3.50"])
def test_lines_of_other_amounts_are_not_totals(line):
    data = b"\x1bQA\r\x1bQB" + line.encode("gbk") + b"\r"
    assert totals_seen(PoleDisplayReader("cd5220"), data) == []


def test_total_line_wins_by_label_not_by_order():
    data = b"\x1bQATOTAL      23.40\r\x1bQBSUBTOTAL   25.00\r"
    assert totals_seen(PoleDisplayReader("cd5220"), data) == [2340]


def test_quantity_then_total():
    pos, _ = pos_bytes("cd5220")
    data = pos.init_bytes() + pos.qty_bytes(3) + pos.total_bytes(1250)
    assert totals_seen(PoleDisplayReader("cd5220"), data) == [1250]


def test_nothing_is_taken_before_the_protocol_is_known():
    reader = PoleDisplayReader("auto")
    assert totals_seen(reader, b"\x1b@\x0c\x1bQA12.50\r") == []       # an LED value, or a text line?
    assert reader.family is None


def test_lamp_order_from_the_config():
    # no clear, no prices, no change to learn the order from: the config says it
    assert totals_seen(PoleDisplayReader("led8n"), b"\x1bs\x02\x1bQA8.80\r\x1b") == []
    assert totals_seen(PoleDisplayReader("led8n", lamp_order="lamp_first"), b"\x1bs\x02\x1bQA8.80\r\x1b") == [880]
    assert totals_seen(PoleDisplayReader("led8n", lamp_order="value_first"),
                       b"\x1bs\x01\x1bQA8.80\r\x1bs\x02\x1b") == [880]


@pytest.mark.parametrize("protocol", ["led8n", "cd5220", "epson"])
def test_a_redraw_is_not_a_new_sale_but_the_next_customer_is(protocol):
    pos, _ = pos_bytes(protocol)
    reader = PoleDisplayReader(protocol)
    sale = pos.init_bytes() + pos.price_bytes(1250) + pos.total_bytes(1250)
    assert totals_seen(reader, sale) == [1250]
    assert totals_seen(reader, [pos.total_bytes(1250), b"\x0c" + pos.total_bytes(1250)]) == []
    assert totals_seen(reader, [pos.collect_change_bytes(2000, 750), sale]) == [1250]     # the next customer
