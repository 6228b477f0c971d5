"""Starting `run` on a cashier PC, where nobody watches a console.

Started from the Windows start-up folder with `pythonw`, the agent has no console (sys.stdout and
sys.stderr are None): an error printed there is lost and the till simply takes no payments. So:

- `setup_logging` creates the log's folder and rotates the file (`[log] max_bytes`, `backups`);
  without a console and with no `[log] file`, the log goes beside the config (`fallback_log`);
- `report_failure` puts a start-up error in the log file, on the console if there is one, and in a
  message box if there is none (`message_box`: MessageBoxW on Windows; elsewhere nothing is shown,
  and tests pass their own function to see what would be);
- `SingleInstance` refuses a second copy: a named mutex on Windows, an flock on a lock file beside
  the log elsewhere; the lock goes with the process, however it ends.
"""
import hashlib
import logging
import logging.handlers
import os
import sys
from pathlib import Path

from host_agent.masking import MaskingFilter

TITLE = "scanpay 收款助手"
LOCK_NAME = "host_agent.lock"
ALREADY_RUNNING = ("收款助手已在运行，请勿重复启动（先关闭正在运行的那个）",
                   "the host agent is already running on this PC: close that one first")
_ERROR_ALREADY_EXISTS = 183
_MB_ICONERROR_TOPMOST = 0x10 | 0x40000

log = logging.getLogger(__name__)


class StartupError(Exception):
    pass


def console_missing():
    """True under pythonw (no standard streams), or on Windows in a process with no console."""
    if sys.stdout is None or sys.stderr is None:
        return True
    if sys.platform == "win32":
        import ctypes
        return not ctypes.windll.kernel32.GetConsoleWindow()
    return False


def message_box(title, text):
    """Show a start-up error to whoever sits at the PC: a Windows message box; elsewhere nothing."""
    if sys.platform == "win32":
        import ctypes
        ctypes.windll.user32.MessageBoxW(None, text, title, _MB_ICONERROR_TOPMOST)


def fallback_log(config_path):
    """Where the log goes with no console and no `[log] file`: beside the config (host_agent.log)."""
    return str(Path(config_path).with_suffix(".log"))


def setup_logging(level="INFO", file=None, *, max_bytes=5_000_000, backups=5, console=True, stream=None):
    """Console (unless `console` is false) and rotating file logging, payment codes masked in every
    line. The log file's folder is created; StartupError when it cannot be."""
    handlers = []
    if console:
        handlers.append(logging.StreamHandler(stream or sys.stderr))
        handlers[-1].addFilter(lambda record: getattr(record, "console", True))
    if file:
        try:
            Path(file).parent.mkdir(parents=True, exist_ok=True)
            handlers.append(logging.handlers.RotatingFileHandler(file, maxBytes=max_bytes, backupCount=backups,
                                                                 encoding="utf-8"))
        except OSError as exc:
            raise StartupError("无法建立日志文件 %s：%s / cannot create the log file %s: %s"
                               % (file, exc.strerror, file, exc.strerror)) from None
    root = logging.getLogger()
    for handler in list(root.handlers):     # the new log is open: the old one may go
        if getattr(handler, "_scanpay", False):
            root.removeHandler(handler)
            handler.close()
    formatter = logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s")
    for handler in handlers:
        handler._scanpay = True
        handler.setFormatter(formatter)
        handler.addFilter(MaskingFilter())
        root.addHandler(handler)
    root.setLevel(level.upper())
    logging.getLogger("RapidOCR").setLevel(logging.WARNING)
    return handlers


def report_failure(text, show=message_box):
    """A start-up error, wherever someone will see it: the log file, the console, or a message box."""
    log.error("%s", text, extra={"console": False})     # the file only: the console gets it below
    if sys.stderr is not None:
        print(text, file=sys.stderr)
    if console_missing():
        show(TITLE, text)


class SingleInstance:
    """One agent at a time per lock folder (the log's, else the config's): `acquire()` is false when
    another process holds it."""

    def __init__(self, folder):
        self.path = Path(folder) / LOCK_NAME
        self._handle = None

    def acquire(self):
        if sys.platform == "win32":
            return self._acquire_mutex()
        else:
            import fcntl
            return self._acquire_flock(fcntl)

    def _acquire_mutex(self):
        import ctypes
        kernel32 = ctypes.windll.kernel32
        # a named kernel object lives as long as a process holds it: no stale lock after a crash
        digest = hashlib.sha1(os.path.normcase(os.path.abspath(self.path)).encode("utf-8")).hexdigest()[:16]
        handle = kernel32.CreateMutexW(None, False, "Local\\scanpay-host-agent-" + digest)
        if not handle:
            raise StartupError("CreateMutexW failed (error %d)" % kernel32.GetLastError())
        if kernel32.GetLastError() == _ERROR_ALREADY_EXISTS:
            kernel32.CloseHandle(handle)
            return False
        self._handle = handle
        return True

    def _acquire_flock(self, fcntl):
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        os.ftruncate(fd, 0)
        os.write(fd, b"%d\n" % os.getpid())     # for whoever looks: which process holds it
        self._handle = fd
        return True

    def release(self):
        if self._handle is None:
            return
        if sys.platform == "win32":
            import ctypes
            ctypes.windll.kernel32.CloseHandle(self._handle)
        else:
            os.close(self._handle)      # closing the descriptor drops the flock
        self._handle = None

    def holder(self):
        """The process id written in the lock file by its holder, or None (always None on Windows)."""
        try:
            return int(self.path.read_text().strip())
        except (OSError, ValueError):
            return None
