"""The manual amount source: typed amounts, through the terminal fallback (the window needs a display)."""
import asyncio
import io
import os

import pytest

from host_agent.amount import AmountError
from host_agent.sources.manual import ManualSource, parse_typed, window_possible


@pytest.mark.parametrize("typed, fen", [("12.50", 1250), (" ¥8 ", 800), ("1,234.5", 123450), ("0.01", 1)])
def test_what_the_cashier_types(typed, fen):
    assert parse_typed(typed) == fen


@pytest.mark.parametrize("typed, message", [("", "type an amount"), ("abc", "not an amount"),
                                            ("0", "more than 0"), ("1.234", "not an amount"),
                                            ("600000", "more than the most")])
def test_typing_mistakes_are_explained(typed, message):
    with pytest.raises(AmountError, match=message):
        parse_typed(typed)


@pytest.mark.parametrize("prefer_window", [False, True])
async def test_terminal_fallback(prefer_window, monkeypatch):
    # with prefer_window, a display that cannot be opened: the window gives way to the terminal
    monkeypatch.setenv("DISPLAY", ":97")
    read_fd, write_fd = os.pipe()
    stdin = os.fdopen(read_fd, "r", encoding="utf-8")
    stdout = io.StringIO()
    source = ManualSource(prefer_window=prefer_window, stdin=stdin, stdout=stdout)
    seen = []
    task = asyncio.create_task(source.run(seen.append))
    try:
        os.write(write_fd, "12.5\nten\n0\n88\n".encode())
        async with asyncio.timeout(5):
            while len(seen) < 2:
                await asyncio.sleep(0.01)
    finally:
        os.close(write_fd)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        stdin.close()
    assert [r.amount_fen for r in seen] == [1250, 8800]
    assert all(r.source == "manual" for r in seen)
    text = stdout.getvalue()
    assert "amount 12.50 yuan" in text and "not taken: not an amount: 'ten'" in text
    assert "not taken: the amount must be more than 0" in text


def test_no_display_means_the_terminal(monkeypatch):
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    monkeypatch.setattr("sys.platform", "linux")
    assert window_possible() is False
    monkeypatch.setattr("sys.platform", "win32")
    assert window_possible() is True                # Windows always has a desktop to show it on
