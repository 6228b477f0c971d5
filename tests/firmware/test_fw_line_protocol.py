"""The basic box's line protocol (docs/basic-box-protocol.md), pure parsing and framing."""
import pytest

from core import line_protocol as lp


@pytest.mark.parametrize("raw, parsed", [
    (b"PING 1\n", ("PING", 1, "")),
    (b"SAY 7 \xe8\xaf\xb7\xe5\x87\xba\xe7\xa4\xba\xe4\xbb\x98\xe6\xac\xbe\xe7\xa0\x81\r\n", ("SAY", 7, "请出示付款码")),
    (b"SAY 9 \xe5\xbe\xae\xe4\xbf\xa1\xe6\x94\xb6\xe6\xac\xbe 12.50 \xe5\x85\x83\n", ("SAY", 9, "微信收款 12.50 元")),
    (b"LED 8 blue blink", ("LED", 8, "blue blink")),
    (b"ACK 65535\n", ("ACK", 65535, "")),
])
def test_parse(raw, parsed):
    assert lp.parse_line(raw) == parsed


@pytest.mark.parametrize("raw, reason, seq", [
    (b"PING\n", "bad_line", 0), (b"PING x\n", "bad_line", 0), (b"PING 65536\n", "bad_line", 0),
    (b"ping 3\n", "bad_line", 0), (b"JUMP 4 x\n", "unknown_verb", 4), (b"SCAN 5 1\n", "unknown_verb", 5),
    (b"\xff\xfe 1\n", "bad_line", 0), (b"SAY 1 " + b"x" * 260 + b"\n", "too_long", 0),
    (b"P1NG 3\n", "bad_line", 3),
])
def test_refused(raw, reason, seq):
    with pytest.raises(lp.BadLine) as e:
        lp.parse_line(raw)
    assert (e.value.reason, e.value.seq) == (reason, seq)


def test_format_and_led():
    assert lp.format_line("SCAN", 2, "134567890123456789") == b"SCAN 2 134567890123456789\n"
    assert lp.format_line("ACK", 7) == b"ACK 7\n"
    with pytest.raises(ValueError):
        lp.format_line("SAY", 1, "a\nb")
    assert lp.parse_led("green") == ("green", False) and lp.parse_led("red blink") == ("red", True)
    for bad in ("", "pink", "red fast", "red blink now"):
        with pytest.raises(lp.BadLine):
            lp.parse_led(bad)


def test_splitter_drops_overlong_lines_whole():
    s = lp.LineSplitter()
    assert s.feed(b"PING 1\nSAY 2 hi") == [b"PING 1\n"]
    assert s.feed(b"\n") == [b"SAY 2 hi\n"]
    assert s.feed(b"x" * 300) == []
    assert s.feed(b"y" * 10 + b"\nPING 3\n") == [b"", b"PING 3\n"]
