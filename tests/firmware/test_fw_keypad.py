"""The keypad driver scanning a virtual matrix: electrical behaviour, debouncing, the ring buffer."""
import asyncio

import pytest

from drivers.keypad import Keypad
from hw_sim.keypad import VirtualKeypad

KEYMAP = (("1", "2", "3", "DEL"), ("4", "5", "6", "CLR"), ("7", "8", "9", "FN"), (".", "0", "00", "OK"))


def matrix():
    pad = VirtualKeypad.with_pins(KEYMAP)
    return pad, Keypad(pad.rows, pad.cols, KEYMAP, start=False)


def drain(keypad):
    out = []
    while (key := keypad.get_nowait()) is not None:
        out.append(key)
    return out


def run_scans(keypad, start_ms, end_ms, step_ms=5):
    for t in range(start_ms, end_ms, step_ms):
        keypad.scan(t)
    return end_ms


def test_a_column_reads_low_only_while_its_row_is_driven_low():
    pad, _ = matrix()
    pad.down("5")                                   # row 1, column 1
    assert [c.value() for c in pad.cols] == [1, 1, 1, 1]    # all rows high: nothing reads low
    pad.rows[1].value(0)
    assert [c.value() for c in pad.cols] == [1, 0, 1, 1]
    pad.rows[1].value(1)
    pad.rows[0].value(0)
    assert [c.value() for c in pad.cols] == [1, 1, 1, 1]    # another row: column 1 stays high


def test_every_key_maps_to_its_name():
    pad, keypad = matrix()
    t = 0
    seen = []
    for row in KEYMAP:
        for name in row:
            pad.down(name)
            t = run_scans(keypad, t, t + 60)
            pad.up(name)
            t = run_scans(keypad, t, t + 60)
            seen += drain(keypad)
    assert seen == [name for row in KEYMAP for name in row]


def test_bounce_shorter_than_debounce_is_ignored():
    pad, keypad = matrix()
    assert keypad.debounce_ms == 20
    t = 0
    for _ in range(5):              # contacts chatter: 5 ms closed, 5 ms open
        pad.down("1")
        t = run_scans(keypad, t, t + 5)
        pad.up("1")
        t = run_scans(keypad, t, t + 5)
    assert drain(keypad) == []


def test_chatter_then_steady_press_is_one_key():
    pad, keypad = matrix()
    t = 0
    for _ in range(3):
        pad.down("7")
        t = run_scans(keypad, t, t + 5)
        pad.up("7")
        t = run_scans(keypad, t, t + 5)
    pad.down("7")
    t = run_scans(keypad, t, t + 100)       # held: still one key, no auto-repeat
    pad.up("7")
    for _ in range(3):                      # release bounce
        t = run_scans(keypad, t, t + 5)
        pad.down("7")
        t = run_scans(keypad, t, t + 5)
        pad.up("7")
    t = run_scans(keypad, t, t + 50)
    assert drain(keypad) == ["7"]


def test_press_is_reported_only_after_debounce_ms():
    pad, keypad = matrix()
    pad.down("OK")
    run_scans(keypad, 0, 20)                # readings at 0..15 ms
    assert drain(keypad) == []
    keypad.scan(20)
    assert drain(keypad) == ["OK"]


def test_overflow_drops_the_oldest_keys():
    pad, keypad = matrix()
    t = 0
    for name in "123456789":                # 9 keys, buffer of 8
        pad.down(name)
        t = run_scans(keypad, t, t + 40)
        pad.up(name)
        t = run_scans(keypad, t, t + 40)
    assert drain(keypad) == list("23456789")


def test_keymap_shape_is_checked():
    pad = VirtualKeypad.with_pins(KEYMAP)
    with pytest.raises(ValueError):
        Keypad(pad.rows, pad.cols, KEYMAP[:3], start=False)


async def test_running_driver_with_timed_presses():
    pad = VirtualKeypad.with_pins(KEYMAP)
    keypad = Keypad(pad.rows, pad.cols, KEYMAP)
    try:
        await pad.bounce("9", [3, 3, 3, 3])             # too short to count
        await pad.type(["1", "2", ".", "5", "0", "OK"])
        keys = [await asyncio.wait_for(keypad.__anext__(), 1) for _ in range(6)]
        assert keys == ["1", "2", ".", "5", "0", "OK"]
        await asyncio.sleep(0.05)
        assert keypad.get_nowait() is None
    finally:
        keypad.deinit()
    assert all(r.value() == 1 for r in pad.rows)        # rows left released
