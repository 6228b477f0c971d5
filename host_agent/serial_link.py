"""A serial port that stays useful across unplug and replug: opened, read in its own thread, and
reopened whenever it goes away (a USB box pulled out, a COM port taken by another program).

pyserial does the port work on Windows and Linux alike; reading in a thread keeps the agent free of
POSIX-only calls (no add_reader on a file descriptor, which Windows' event loop cannot do).

    link = SerialLink("COM3", 115200, on_bytes=print, on_state=print)
    link.start(); link.write(b"PING 1\n"); link.stop()

Callbacks run in the link's thread; asyncio users hop over with loop.call_soon_threadsafe.
"""
import logging
import threading
import time

import serial

log = logging.getLogger(__name__)

OPEN, CLOSED = "open", "closed"


class PortClosed(OSError):
    """The port is not open right now (unplugged, or not yet found)."""


class SerialLink:
    read_timeout_s = 0.02       # also the quiet gap after which on_idle runs
    max_burst_s = 0.5           # a line that never goes quiet gets on_busy this often
    reopen_s = 0.5              # between attempts to reopen a port that went away

    def __init__(self, port, baudrate=9600, *, on_bytes=None, on_idle=None, on_busy=None, on_state=None,
                 name=None, opener=None):
        """opener: builds the port object (tests, or serial.serial_for_url); pyserial's Serial by default."""
        self.port = port
        self.baudrate = baudrate
        self.name = name or port
        self.on_bytes = on_bytes
        self.on_idle = on_idle
        self.on_busy = on_busy
        self.on_state = on_state
        self._opener = opener or self._open_serial
        self._serial = None
        self._write_lock = threading.Lock()
        self._stop = threading.Event()
        self._opened = threading.Event()
        self._thread = None
        self.last_error = None
        self.opens = 0              # how many times the port was opened (1 + replugs)

    def _open_serial(self):
        return serial.Serial(self.port, self.baudrate, timeout=self.read_timeout_s, write_timeout=2)

    # ------------------------------------------------------------------ life cycle
    def start(self):
        self._thread = threading.Thread(target=self._run, daemon=True, name="serial-%s" % self.name)
        self._thread.start()
        return self

    def stop(self):
        self._stop.set()
        if self._thread:
            self._thread.join(3)
        self._close()

    @property
    def is_open(self):
        return self._serial is not None

    def wait_open(self, timeout=5.0):
        return self._opened.wait(timeout)

    def write(self, data):
        port = self._serial
        if port is None:
            raise PortClosed("%s is not connected" % self.name)
        try:
            with self._write_lock:
                port.write(data)
        except (serial.SerialException, OSError, TypeError, AttributeError) as exc:
            # TypeError/AttributeError: pyserial's handle was closed under us by the reader thread
            raise PortClosed("%s: %s" % (self.name, exc)) from None

    # ------------------------------------------------------------------ the thread
    def _set_state(self, state):
        if self.on_state:
            try:
                self.on_state(state)
            except Exception:
                log.exception("serial state listener failed")

    def _close(self):
        port, self._serial = self._serial, None
        self._opened.clear()
        if port is not None:
            try:
                port.close()
            except Exception:
                pass

    def _run(self):
        reported = None
        while not self._stop.is_set():
            try:
                self._serial = self._opener()
            except (serial.SerialException, OSError, ValueError) as exc:
                self.last_error = str(exc)
                if reported != self.last_error:
                    log.warning("%s: cannot open %s: %s (retrying)", self.name, self.port, exc)
                    reported = self.last_error
                self._stop.wait(self.reopen_s)
                continue
            reported = None
            self.opens += 1
            self._opened.set()
            log.info("%s: %s open", self.name, self.port)
            self._set_state(OPEN)
            try:
                self._read_loop()
            except (serial.SerialException, OSError, TypeError, AttributeError) as exc:
                if not self._stop.is_set():
                    self.last_error = str(exc)
                    log.warning("%s: %s went away: %s", self.name, self.port, exc)
            finally:
                self._close()
                self._set_state(CLOSED)
            self._stop.wait(self.reopen_s)

    def _read_loop(self):
        burst_started = None        # when the bytes since the last quiet gap began
        while not self._stop.is_set():
            port = self._serial
            data = port.read(max(1, port.in_waiting))
            if data:
                if self.on_bytes:
                    self.on_bytes(data)
                now = time.monotonic()
                if burst_started is None:
                    burst_started = now
                elif now - burst_started >= self.max_burst_s:
                    burst_started = now         # the line has not been quiet for a while
                    if self.on_busy:
                        self.on_busy()
            elif burst_started is not None:
                burst_started = None
                if self.on_idle:
                    self.on_idle()
