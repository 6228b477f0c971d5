"""The agent's screen parts the way they run in a shop, on a real X display (Xvfb): the POS program's
window grabbed with mss and read with rapidocr; `calibrate`'s window, dragged with the mouse; the manual
amount window, typed into. The mouse and keyboard are xdotool's (real X input events).
Needs the Debian packages xvfb and xdotool (the Makefile installs them)."""
import asyncio
import os
import shutil
import subprocess
import sys
import time

import pytest

from host_agent.sources.manual import ManualSource
from host_agent.sources.screen import MssGrabber, ScreenSource
from hw_sim.pos.screen import SCREEN_SIZE, ScreenStyle, total_region


@pytest.fixture(scope="module")
def x_display():
    xvfb = shutil.which("Xvfb")
    assert xvfb, "Xvfb is missing: install the Debian package xvfb"
    read_fd, write_fd = os.pipe()
    # -displayfd: Xvfb picks a free display number itself and writes it here once it is ready
    server = subprocess.Popen([xvfb, "-displayfd", str(write_fd), "-screen", "0", "1024x768x24", "-nolisten",
                               "tcp"], pass_fds=(write_fd,), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    os.close(write_fd)
    with os.fdopen(read_fd) as ready:
        number = ready.readline().strip()
    assert number.isdigit(), "Xvfb did not start"
    yield ":" + number
    server.terminate()
    server.wait(5)


class PosWindow:
    def __init__(self, display, style):
        self.process = subprocess.Popen(
            [sys.executable, "-m", "hw_sim.pos.window", "--font", style.font, "--size", str(style.size),
             "--theme", style.theme, "--fmt", style.fmt],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env={**os.environ, "DISPLAY": display})
        assert self.process.stdout.readline().strip() == "shown start"
        assert self.process.stdout.readline().strip() == "ready"

    def command(self, text):
        self.process.stdin.write(text + "\n")
        self.process.stdin.flush()
        assert self.process.stdout.readline().strip() == "shown " + text

    def close(self):
        if self.process.poll() is None:
            self.process.stdin.write("quit\n")
            self.process.stdin.flush()
            self.process.wait(5)
        self.process.stdin.close()
        self.process.stdout.close()


@pytest.mark.parametrize("style", [ScreenStyle(font="dejavu-sans", size=28, theme="dark", fmt="label_zh"),
                                   ScreenStyle(font="liberation-sans", size=24, theme="grey", fmt="yen_comma")])
async def test_screen_source_reads_the_pos_window(x_display, monkeypatch, style):
    monkeypatch.setenv("DISPLAY", x_display)
    window = await asyncio.to_thread(PosWindow, x_display, style)
    source = ScreenSource(total_region(style), grabber=MssGrabber(), interval_s=0.05)
    seen = asyncio.Queue()
    task = asyncio.create_task(source.run(seen.put_nowait))
    try:
        for amount_fen in (12850, 123450, 99):
            await asyncio.to_thread(window.command, "total %d" % amount_fen)
            reading = await asyncio.wait_for(seen.get(), 10)
            assert reading.amount_fen == amount_fen
        await asyncio.to_thread(window.command, "clear")
        async with asyncio.timeout(10):
            while source.current is not None:       # until two grabs agree the field is blank
                await asyncio.sleep(0.02)
        await asyncio.to_thread(window.command, "total 99")     # the same total for the next customer
        assert (await asyncio.wait_for(seen.get(), 10)).amount_fen == 99
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)      # the source closes its grabber
        await asyncio.to_thread(window.close)


def test_calibrate_grabs_the_display(x_display, monkeypatch, capsys):
    from host_agent.__main__ import main
    style = ScreenStyle(font="dejavu-serif", size=32, theme="light", fmt="label_en")
    window = PosWindow(x_display, style)
    try:
        window.command("total 4200")
        monkeypatch.setenv("DISPLAY", x_display)
        region = ",".join(str(v) for v in total_region(style))
        assert main(["calibrate", "--region", region]) == 0
    finally:
        window.close()
    assert "amount: 42.00 yuan" in capsys.readouterr().out


def xdotool(display, *args):
    xdotool = shutil.which("xdotool")
    assert xdotool, "xdotool is missing: install the Debian package xdotool"
    return subprocess.run([xdotool, *args], capture_output=True, text=True, timeout=10,
                          env={**os.environ, "DISPLAY": display}).stdout.strip()


def wait_window(display, name, timeout=20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = xdotool(display, "search", "--name", name)
        if found:
            return found.split()[0]
        time.sleep(0.1)
    raise TimeoutError("no window named %r appeared" % name)


def test_calibrate_by_dragging_a_box(x_display):
    style = ScreenStyle(font="liberation-sans-bold", size=28, theme="blue", fmt="label_zh_yen")
    window = PosWindow(x_display, style)
    try:
        window.command("total 26800")
        calibrate = subprocess.Popen([sys.executable, "-m", "host_agent", "calibrate"], stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True, env={**os.environ, "DISPLAY": x_display})
        try:
            wid = wait_window(x_display, "drag a box")
            # the screenshot is shown scaled to fit the screen, as calibrate.choose_region computes
            scale = min(1.0, (SCREEN_SIZE[0] - 40) / SCREEN_SIZE[0], (SCREEN_SIZE[1] - 80) / SCREEN_SIZE[1])
            left, top, width, height = total_region(style)
            start = (int(left * scale) + 1, int(top * scale) + 1)
            end = (int((left + width) * scale) - 1, int((top + height) * scale) - 1)
            xdotool(x_display, "mousemove", "--window", wid, *map(str, start))
            xdotool(x_display, "mousedown", "1")
            xdotool(x_display, "mousemove", "--window", wid, str((start[0] + end[0]) // 2), str(start[1] + 5))
            xdotool(x_display, "mousemove", "--window", wid, *map(str, end))
            xdotool(x_display, "mouseup", "1")
            wait_window(x_display, "Enter: keep")          # the title now shows what it reads
            xdotool(x_display, "windowfocus", "--sync", wid)
            xdotool(x_display, "key", "Return")
            out, err = calibrate.communicate(timeout=30)
        finally:
            if calibrate.poll() is None:
                calibrate.kill()
                calibrate.communicate()
    finally:
        window.close()
    assert calibrate.returncode == 0, err
    assert "amount: 268.00 yuan" in out
    assert "region = [" in out


async def test_manual_window_takes_a_typed_amount(x_display, monkeypatch):
    monkeypatch.setenv("DISPLAY", x_display)
    source = ManualSource(prefer_window=True)
    seen = asyncio.Queue()
    task = asyncio.create_task(source.run(seen.put_nowait))
    try:
        wid = await asyncio.to_thread(wait_window, x_display, "scanpay")
        await asyncio.to_thread(xdotool, x_display, "windowfocus", "--sync", wid)
        for typed in ("abc", "12.50"):          # a typing mistake is shown, not taken
            await asyncio.to_thread(xdotool, x_display, "type", "--delay", "10", typed)
            await asyncio.to_thread(xdotool, x_display, "key", "Return")
        reading = await asyncio.wait_for(seen.get(), 10)
        assert (reading.amount_fen, reading.source) == (1250, "manual")
        assert seen.empty()
        assert callable(source.status)          # the agent shows payment outcomes in the window
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
