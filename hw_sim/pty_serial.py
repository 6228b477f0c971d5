"""A serial line over a real pseudo-terminal: the board's USB CDC port, as a PC sees it.

`PtySerial()` opens a pty pair in raw mode. The firmware holds the master end through the
`machine.UART` calls it uses (`any()`, `read([n])`, `readinto`, `write`); programs on the PC side
(the host agent, pyserial, `screen`, `mpremote`-like tools) open `port` (e.g. /dev/pts/7) as they would
/dev/ttyUSB0. The pty keeps its own handle on the slave end, so the PC side may close and reopen the
port at any time (unplug, replug) without the firmware seeing an error.
"""
import errno
import os
import select
import termios
import tty


class PtySerial:
    def __init__(self):
        self._master, self._slave = os.openpty()
        tty.setraw(self._slave, termios.TCSANOW)
        os.set_blocking(self._master, False)
        self.port = os.ttyname(self._slave)
        self.written = bytearray()      # everything the firmware wrote (transcript for tests)
        self._pending = b""
        self.closed = False

    # --- machine.UART API (firmware side) ---------------------------------------------------
    def _fill(self):
        if self.closed:
            return
        while True:
            try:
                ready, _, _ = select.select([self._master], [], [], 0)
                if not ready:
                    return
                chunk = os.read(self._master, 4096)
            except BlockingIOError:
                return
            except OSError as e:
                if e.errno == errno.EIO:    # no one has the PC end open right now
                    return
                raise
            if not chunk:
                return
            self._pending += chunk

    def any(self):
        self._fill()
        return len(self._pending)

    def read(self, nbytes=None):
        self._fill()
        if not self._pending:
            return None
        n = len(self._pending) if nbytes is None else nbytes
        out, self._pending = self._pending[:n], self._pending[n:]
        return out

    def readinto(self, buf, nbytes=None):
        data = self.read(len(buf) if nbytes is None else min(nbytes, len(buf)))
        if not data:
            return None
        buf[:len(data)] = data
        return len(data)

    def write(self, buf):
        data = bytes(buf)
        self.written += data
        view = memoryview(data)
        while view:
            try:
                n = os.write(self._master, view)
            except BlockingIOError:
                select.select([], [self._master], [], 0.05)
                continue
            view = view[n:]
        return len(data)

    def deinit(self):
        self.close()

    def close(self):
        if not self.closed:
            self.closed = True
            os.close(self._master)
            os.close(self._slave)
