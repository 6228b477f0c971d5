"""A MicroPython board on a serial port (a USB ESP32, or hw_sim's virtual board on a pty), through
mpremote's serial transport (mpremote as a library).

Primitives: exec_ (run code, return its output), read_file, write_file. Higher operations (sha256,
makedirs, remove_tree, put_files) are built on them only, so another transport needs just the three.
"""
import hashlib
import os

import serial
from mpremote.transport import TransportError, TransportExecError
from mpremote.transport_serial import SerialTransport


class BoardError(Exception):
    pass


class SerialBoard:
    """Open with SerialBoard.connect(port); always close() (the CLI does so in a finally)."""

    def __init__(self, transport, port):
        self._transport = transport
        self.port = port

    @classmethod
    def connect(cls, port, timeout_s=5):
        if not os.path.exists(port):
            raise BoardError("串口 %s 不存在 / port %s does not exist (is the board plugged in?)" % (port, port))
        # pyserial's exclusive open takes an flock: another mpremote, screen or the host agent on the
        # same port makes it fail here, which mpremote would report only as "failed to access"
        try:
            probe = serial.Serial(port, 115200, timeout=0, exclusive=True)
            probe.close()
        except serial.SerialException as e:
            if "lock" in str(e).lower() or "busy" in str(e).lower():
                raise BoardError("串口 %s 被占用 / port %s is busy: another program has it open" % (port, port))
            raise BoardError("cannot open port %s: %s" % (port, e))
        try:
            # timeout: bounds each read, else a silent port blocks mpremote's first read for ever
            transport = SerialTransport(port, baudrate=115200, exclusive=True, timeout=timeout_s)
        except TransportError as e:
            raise BoardError("cannot open port %s: %s" % (port, e))
        board = cls(transport, port)
        try:
            # Ctrl-C then Ctrl-A: stops main.py if it is running; no soft reset, so nothing restarts.
            # A port that is not a MicroPython REPL (a modem, a scanner, an ESP32 without MicroPython)
            # never answers the raw REPL banner: refused after timeout_s.
            transport.enter_raw_repl(soft_reset=False, timeout_overall=timeout_s)
            name = board.exec_("import sys\nprint(sys.implementation.name)").strip()
        except (TransportError, BoardError) as e:
            board.close()
            raise BoardError("no MicroPython REPL on %s (%s); flash MicroPython first (--esptool-image)"
                             % (port, str(e).strip() or type(e).__name__))
        if name != "micropython":
            board.close()
            raise BoardError("%s runs %r, not MicroPython" % (port, name))
        return board

    def close(self):
        transport, self._transport = self._transport, None
        if transport is None:
            return
        try:
            if transport.in_raw_repl:
                transport.exit_raw_repl()
        except (OSError, TransportError):
            pass
        finally:
            transport.close()

    # ---- primitives ---------------------------------------------------------------------------
    def exec_(self, code):
        try:
            return self._transport.exec(code).decode()
        except TransportExecError as e:
            raise BoardError("board error: %s" % e.error_output.strip().splitlines()[-1])
        except TransportError as e:
            raise BoardError("lost the board on %s: %s" % (self.port, e))

    def read_file(self, path):
        try:
            return self._transport.fs_readfile(path)
        except (TransportError, OSError) as e:
            raise BoardError("reading %s: %s" % (path, e))

    def write_file(self, path, data, progress=None):
        try:
            # 256-byte chunks: what mpremote uses; a real ESP32's USB-serial keeps up at 115200
            self._transport.fs_writefile(path, data, chunk_size=256, progress_callback=progress)
        except (TransportError, OSError) as e:
            raise BoardError("writing %s: %s" % (path, e))

    # ---- built on the primitives ----------------------------------------------------------------
    def sha256(self, path):
        """Hex SHA-256 of a file on the board, or None when it is missing."""
        out = self.exec_(
            "import hashlib, binascii\n"
            "try:\n"
            " h = hashlib.sha256()\n"
            " with open(%r, 'rb') as f:\n"
            "  while True:\n"
            "   b = f.read(512)\n"
            "   if not b: break\n"
            "   h.update(b)\n"
            " print(binascii.hexlify(h.digest()).decode())\n"
            "except OSError:\n"
            " print('missing')\n" % path).strip()
        return None if out == "missing" else out

    def makedirs(self, path):
        self.exec_(
            "import os\np = ''\nfor part in %r.strip('/').split('/'):\n p += '/' + part\n"
            " try:\n  os.mkdir(p)\n except OSError:\n  pass\n" % path)

    def remove_tree(self, path):
        self.exec_(
            "import os\n"
            "def rm(p):\n"
            " try:\n  names = os.listdir(p)\n except OSError:\n  return\n"
            " for n in names:\n"
            "  c = p + '/' + n\n"
            "  if os.stat(c)[0] & 0x4000:\n   rm(c)\n  else:\n   os.remove(c)\n"
            " os.rmdir(p)\n"
            "rm(%r)\n" % path)

    def rename(self, old, new):
        self.exec_("import os\nos.rename(%r, %r)\n" % (old, new))

    def listdir(self, path="/"):
        return sorted(self.exec_("import os\nfor n in os.listdir(%r):\n print(n)\n" % path).split())


def local_sha256(data):
    return hashlib.sha256(data).hexdigest()
