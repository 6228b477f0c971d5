"""Virtual UART: two connected ends, each with MicroPython's `machine.UART` read/write API.

`VirtualUART.pair()` gives (device_end, peripheral_end). The firmware gets the device end and uses it
exactly like `machine.UART`: `any()`, `read([n])` (None when nothing is waiting, as with timeout=0),
`readinto(buf)`, `readline()`, `write(buf)`. A simulated peripheral holds the other end; it can
subscribe to bytes the firmware writes instead of polling.
"""
import threading


class VirtualUART:
    def __init__(self, name="uart", baudrate=9600):
        self.name = name
        self.baudrate = baudrate
        self._rx = bytearray()          # bytes waiting to be read at this end
        self._lock = threading.Lock()
        self._peer = None
        self._listeners = []
        self.written = bytearray()      # everything this end ever wrote (transcript for tests)

    @classmethod
    def pair(cls, name="uart", baudrate=9600):
        a = cls(name + ".device", baudrate)
        b = cls(name + ".peripheral", baudrate)
        a._peer, b._peer = b, a
        return a, b

    # --- machine.UART API -------------------------------------------------------------------
    def init(self, baudrate=None, **_settings):
        if baudrate:
            self.baudrate = baudrate

    def deinit(self):
        pass

    def any(self):
        with self._lock:
            return len(self._rx)

    def read(self, nbytes=None):
        with self._lock:
            if not self._rx:
                return None
            n = len(self._rx) if nbytes is None else min(nbytes, len(self._rx))
            out = bytes(self._rx[:n])
            del self._rx[:n]
            return out

    def readinto(self, buf, nbytes=None):
        data = self.read(len(buf) if nbytes is None else min(nbytes, len(buf)))
        if not data:
            return None
        buf[: len(data)] = data
        return len(data)

    def readline(self):
        with self._lock:
            i = self._rx.find(b"\n")
            if i < 0:
                if not self._rx:
                    return None
                i = len(self._rx) - 1   # like a UART timeout: hand back what is there
            out = bytes(self._rx[: i + 1])
            del self._rx[: i + 1]
            return out

    def write(self, buf):
        data = bytes(buf)
        self.written += data
        self._peer._deliver(data)
        return len(data)

    def flush(self):
        pass

    # --- simulator side -----------------------------------------------------------------------
    def subscribe(self, listener):
        """Call `listener(data)` with every chunk the other end writes (instead of it queuing here)."""
        self._listeners.append(listener)

    def _deliver(self, data):
        if self._listeners:
            for listener in list(self._listeners):
                listener(data)
            return
        with self._lock:
            self._rx += data
