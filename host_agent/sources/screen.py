"""Amount source: the POS screen's total field, grabbed and read with OCR.

Every `interval_s` the calibrated region is grabbed (mss: Windows, macOS, X11) and read with
recognition only (`host_agent.ocr`). Each read already holds two independent reads of the total
that must agree, and refuses what it cannot be sure of. A result is believed only when two
consecutive grabs give the same one: a field caught mid-redraw never becomes an amount. When the
field changes to another agreed value, that is a new amount; when it goes blank, the next value is
new even if it is the same. A refusal agreed by two grabs is reported too (an AmountReading with no
amount and the reason, in Chinese, for the cashier): the agent then forgets the amount it holds,
for the screen no longer shows it.
"""
import asyncio
import concurrent.futures
import logging
import threading

from host_agent.amount import SCREEN_LABELS, format_fen
from host_agent.ocr import AmountReader, refusal_text
from host_agent.sources import AmountReading, AmountSource

log = logging.getLogger(__name__)


class ScreenUnavailable(RuntimeError):
    """The screen cannot be grabbed (no display, or mss missing)."""


class MssGrabber:
    """Grabs a region (left, top, width, height) of the screen as a PIL image.

    mss handles are tied to the thread that made them (X11 and GDI alike): each thread gets its own."""

    def __init__(self, monitor=0):
        self.monitor = monitor
        self._local = threading.local()
        self._opened = []

    def _open(self):
        screen = getattr(self._local, "mss", None)
        if screen is None:
            try:
                import mss
            except ImportError:
                raise ScreenUnavailable("screen reading needs the mss package") from None
            try:
                # mss 10 names the class MSS (mss.mss() is deprecated there); mss 9 has only mss.mss
                screen = mss.MSS() if hasattr(mss, "MSS") else mss.mss()
            except Exception as exc:        # mss raises its own ScreenShotError without a display
                raise ScreenUnavailable("cannot open the screen: %s" % exc) from None
            self._local.mss = screen
            self._opened.append(screen)
        return screen

    def _grab(self, area):
        from PIL import Image
        try:
            shot = self._open().grab(area)
        except ScreenUnavailable:
            raise
        except Exception as exc:
            raise ScreenUnavailable("cannot grab the screen: %s" % exc) from None
        return Image.frombytes("RGB", shot.size, shot.rgb)

    def full_screen(self):
        """The whole screen (all monitors when monitor is 0) and its geometry."""
        area = self._open().monitors[self.monitor]
        return self._grab(area), area

    def __call__(self, region):
        left, top, width, height = region
        return self._grab({"left": left, "top": top, "width": width, "height": height})

    def close(self):
        """Close the handles (call from the thread that made them, or at the end of the program)."""
        for screen in self._opened:
            try:
                screen.close()
            except Exception:
                pass
        self._opened.clear()
        self._local = threading.local()


class ScreenSource(AmountSource):
    name = "screen"

    def __init__(self, region, *, interval_s=0.25, grabber=None, reader=None, labels=None, decimals=2,
                 report_blank=False):
        """region: (left, top, width, height) in screen pixels, from `calibrate`. report_blank: emit
        a reading with no amount and no reason when the field goes blank (a cross-check needs it)."""
        if not region or len(region) != 4 or region[2] <= 0 or region[3] <= 0:
            raise ValueError("screen.region must be [left, top, width, height]; run `calibrate`")
        self.region = tuple(int(v) for v in region)
        self.interval_s = interval_s
        self.grabber = grabber or MssGrabber()
        self.reader = reader or AmountReader(labels or SCREEN_LABELS, decimals)
        self.report_blank = report_blank
        self._previous = None       # (image bytes, Reading) of the last grab
        self.current = None         # what two grabs agreed on: an amount (fen), a refusal (its why), None
        self.reads = 0

    @classmethod
    def from_config(cls, section, report_blank=False):
        return cls(section.region, interval_s=section.interval_s, labels=section.labels,
                   decimals=section.decimals, report_blank=report_blank)

    def read_once(self):
        """Grab and read the region once; returns the Reading. Identical pixels are not read again."""
        image = self.grabber(self.region)
        pixels = image.tobytes()
        if self._previous is not None and self._previous[0] == pixels:
            reading = self._previous[1]
        else:
            reading = self.reader.read(image)
            self.reads += 1
        self._previous = (pixels, reading)
        return reading

    def step(self):
        """One grab; returns an AmountReading when two grabs agreed on something new: an amount, or
        a refusal (no amount, the reason for the cashier), else None."""
        before = self._previous[1] if self._previous else None
        reading = self.read_once()
        if before is None or (before.amount_fen, before.why) != (reading.amount_fen, reading.why):
            return None             # not yet confirmed by a second grab
        shown = reading.amount_fen if reading.amount_fen is not None else reading.why or None
        if shown == self.current:
            return None
        self.current = shown
        if reading.amount_fen is not None:
            return AmountReading(reading.amount_fen, self.name, reading.text)
        if reading.why:
            log.warning("the screen shows no amount that can be trusted: %s (read %r)",
                        refusal_text(reading.why, english=True), reading.text)
            return AmountReading(None, self.name, refusal_text(reading.why))
        log.info("the total field is blank")
        return AmountReading(None, self.name, "") if self.report_blank else None

    async def run(self, emit):
        loop = asyncio.get_running_loop()
        # one thread for every grab and read: screen handles belong to the thread that opened them
        worker = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="screen")
        failing = None
        try:
            await loop.run_in_executor(worker, self.reader.warm_up)
            while True:
                try:
                    found = await loop.run_in_executor(worker, self.step)
                    if failing:
                        log.info("the screen can be read again")
                    failing = None
                except ScreenUnavailable as exc:
                    if failing != str(exc):
                        log.error("%s", exc)
                        failing = str(exc)
                    found = None
                if found is not None:
                    if found.amount_fen is not None:
                        log.info("screen shows %s (read %r)", format_fen(found.amount_fen), found.text)
                    emit(found)
                await asyncio.sleep(self.interval_s)
        finally:
            # close the screen handles in the thread that opened them, and wait for it
            closing = worker.submit(self.grabber.close) if hasattr(self.grabber, "close") else None
            worker.shutdown(wait=False)
            if closing is not None:
                await asyncio.wrap_future(closing)
