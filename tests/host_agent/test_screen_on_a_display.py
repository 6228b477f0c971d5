"""The screen source the way it runs in a shop: the POS program's window on a real X display (Xvfb),
grabbed with mss, read with rapidocr. Needs the Debian package xvfb (the Makefile installs it)."""
import asyncio
import os
import shutil
import subprocess
import sys
import time

import pytest

from host_agent.sources.screen import MssGrabber, ScreenSource
from hw_sim.pos.screen import ScreenStyle, total_region


@pytest.fixture(scope="module")
def x_display():
    xvfb = shutil.which("Xvfb")
    assert xvfb, "Xvfb is missing: install the Debian package xvfb"
    for number in range(90, 130):
        if not os.path.exists("/tmp/.X11-unix/X%d" % number) and not os.path.exists("/tmp/.X%d-lock" % number):
            break
    server = subprocess.Popen([xvfb, ":%d" % number, "-screen", "0", "1024x768x24", "-nolisten", "tcp"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while not os.path.exists("/tmp/.X11-unix/X%d" % number):
        assert server.poll() is None and time.monotonic() < deadline, "Xvfb did not start"
        time.sleep(0.05)
    yield ":%d" % number
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
        await asyncio.sleep(0.3)
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
