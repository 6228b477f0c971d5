"""Amount source: the POS screen's total field, grabbed and read with OCR.

Every `interval_s` the calibrated region is grabbed (mss: Windows, macOS, X11) and read with
recognition only (`host_agent.ocr`). A value is believed only when two consecutive grabs agree: a
field caught mid-redraw, or a misread, never becomes an amount. When the field changes to another
agreed value, that is a new amount; when it goes blank, the next value is new even if it is the same.
"""
import asyncio
import logging

from host_agent.amount import format_fen
from host_agent.ocr import AmountReader
from host_agent.sources import AmountReading, AmountSource

log = logging.getLogger(__name__)


class ScreenUnavailable(RuntimeError):
    """The screen cannot be grabbed (no display, or mss missing)."""


class MssGrabber:
    """Grabs a region (left, top, width, height) of the screen as a PIL image."""

    def __init__(self, monitor=0):
        self.monitor = monitor
        self._mss = None

    def _open(self):
        if self._mss is None:
            try:
                import mss
            except ImportError:
                raise ScreenUnavailable("screen reading needs the mss package") from None
            try:
                self._mss = mss.mss()
            except Exception as exc:        # mss raises its own ScreenShotError without a display
                raise ScreenUnavailable("cannot open the screen: %s" % exc) from None
        return self._mss

    def full_screen(self):
        from PIL import Image
        screen = self._open()
        shot = screen.grab(screen.monitors[self.monitor])
        return Image.frombytes("RGB", shot.size, shot.rgb), screen.monitors[self.monitor]

    def __call__(self, region):
        from PIL import Image
        left, top, width, height = region
        shot = self._open().grab({"left": left, "top": top, "width": width, "height": height})
        return Image.frombytes("RGB", shot.size, shot.rgb)

    def close(self):
        if self._mss is not None:
            self._mss.close()
            self._mss = None


class ScreenSource(AmountSource):
    name = "screen"

    def __init__(self, region, *, interval_s=0.25, grabber=None, reader=None, labels=None):
        """region: (left, top, width, height) in screen pixels, from `calibrate`."""
        if not region or len(region) != 4 or region[2] <= 0 or region[3] <= 0:
            raise ValueError("screen.region must be [left, top, width, height]; run `calibrate`")
        self.region = tuple(int(v) for v in region)
        self.interval_s = interval_s
        self.grabber = grabber or MssGrabber()
        self.reader = reader or (AmountReader(labels) if labels else AmountReader())
        self._previous = None       # (image bytes, Reading) of the last grab
        self.current = None         # the agreed amount shown now (fen) or None
        self.reads = 0

    @classmethod
    def from_config(cls, section):
        return cls(section.region, interval_s=section.interval_s, labels=section.labels)

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
        """One grab; returns an AmountReading when a new amount was agreed on, else None."""
        before = self._previous[1] if self._previous else None
        reading = self.read_once()
        if before is None or before.amount_fen != reading.amount_fen:
            return None             # not yet confirmed by a second grab
        if reading.amount_fen == self.current:
            return None
        self.current = reading.amount_fen
        if reading.amount_fen is None:
            log.info("the total field is blank")
            return None
        return AmountReading(reading.amount_fen, self.name, reading.text)

    async def run(self, emit):
        await asyncio.to_thread(self.reader.warm_up)
        failing = None
        while True:
            try:
                found = await asyncio.to_thread(self.step)
                failing = None
            except ScreenUnavailable as exc:
                if failing != str(exc):
                    log.error("%s", exc)
                    failing = str(exc)
                found = None
            if found is not None:
                log.info("screen shows %s (read %r)", format_fen(found.amount_fen), found.text)
                emit(found)
            await asyncio.sleep(self.interval_s)
