"""A virtual board: real MicroPython (the WebAssembly port under Node.js) behind a serial
pseudo-terminal, so `mpremote connect /dev/pts/N ...` and `python -m tools flash --port /dev/pts/N`
work on it as on an ESP32 on USB.

    with VirtualBoard(fs_dir) as board:      # fs_dir: the board's flash, kept between runs
        subprocess.run(["mpremote", "connect", board.port, "fs", "ls"])

or from a shell: `python -m hw_sim.virtual_board --fs var/board1` prints the port and runs until Ctrl-C.

To run what was flashed as the device runs it, without a REPL: `run_command(fs_dir, script, jig)`
boots the same interpreter on the same flash, with the HTTP bridge the firmware's core/js_http.py uses
and a test jig's stand-in board importable from /jig (see board.mjs, --run). Exit status 3 is the
firmware calling reset: boot it again.
board.mjs (next to this file) is the MicroPython side: REPL, raw REPL, raw-paste, soft reset, and the
file system synced to fs_dir. This file owns the pty and pumps bytes between it and Node.
"""
import os
import pathlib
import select
import shutil
import subprocess
import termios
import threading
import time
import tty

HERE = pathlib.Path(__file__).resolve().parent
REPO = HERE.parents[1]
BOARD_JS = HERE / "board.mjs"


RESET = 3      # run_command's exit status when the firmware reset the board
POWER_CUT = 4  # ... when the script cut the power (vboard.power_cut(): the last writes are lost)


class VirtualBoardError(Exception):
    pass


def run_command(fs_dir, script, jig=None, heap=2 * 1024 * 1024, node="node"):
    """The command that boots the flash in fs_dir and runs script (a file) instead of the REPL; jig: a
    directory of stand-in modules importable from /jig. Run it with cwd=REPO. Not while a
    VirtualBoard on the same fs_dir is running: each would write the flash back over the other's."""
    # absolute: the command runs in REPO, the caller's relative paths are its own working directory's
    args = [shutil.which(node) or node, str(BOARD_JS), str(pathlib.Path(fs_dir).resolve()), "--heap=%d" % heap,
            "--run=%s" % pathlib.Path(script).resolve()]
    if jig is not None:
        args.append("--jig=%s" % pathlib.Path(jig).resolve())
    return args


class VirtualBoard:
    # a Ctrl-C the interpreter has not answered after this long means a program keeps it busy (the
    # WebAssembly port cannot be interrupted mid-program): the board is reset, as a user would do
    interrupt_reset_s = 1.0
    boot_timeout_s = 20

    def __init__(self, fs_dir, heap=2 * 1024 * 1024, run_main=False, node="node"):
        self.fs_dir = pathlib.Path(fs_dir).resolve()     # node runs in REPO, not in the caller's directory
        self.heap = heap
        self.run_main = run_main
        self.node = shutil.which(node) or node
        self.port = None
        self.node_errors = b""
        self._proc = None
        self._master = self._slave = None
        self._threads = []
        self._stop = threading.Event()

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.stop()

    def start(self):
        self.fs_dir.mkdir(parents=True, exist_ok=True)
        self._master, self._slave = os.openpty()
        # raw: no echo, no CR/LF translation, every byte passes as on a USB CDC line
        tty.setraw(self._slave, termios.TCSANOW)
        self.port = os.ttyname(self._slave)
        self._lock = threading.Lock()
        self._interrupted_at = None     # when an unanswered Ctrl-C was sent
        self._replay = b""              # what the host sent after it: given again after a reset
        self.resets = 0
        self._stop.clear()
        try:
            self._spawn()
        except OSError as e:
            self._close_fds()
            raise VirtualBoardError("cannot start node: %s" % e)
        self._threads = [threading.Thread(target=self._to_board, daemon=True),
                         threading.Thread(target=self._watchdog, daemon=True)]
        for thread in self._threads:
            thread.start()
        if not self._booted.wait(self.boot_timeout_s):
            errors = self.node_errors.decode(errors="replace")
            self.stop()
            raise VirtualBoardError("MicroPython did not start within %d s: %s" % (self.boot_timeout_s, errors))
        return self

    def _spawn(self):
        self._booted = threading.Event()    # set by the first ack: until then a Ctrl-C just waits
        ack_read, ack_write = os.pipe()
        args = [self.node, str(BOARD_JS), str(self.fs_dir), "--heap=%d" % self.heap, "--ack-fd=%d" % ack_write]
        if self.run_main:
            args.append("--run-main")
        try:
            # cwd: the repo, so Node resolves the npm package from its node_modules
            proc = subprocess.Popen(args, cwd=REPO, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE, bufsize=0, pass_fds=(ack_write,))
        except OSError:
            os.close(ack_read)
            raise
        finally:
            os.close(ack_write)
        self._proc = proc
        self._proc_threads = [threading.Thread(target=fn, args=(proc, fd), daemon=True) for fn, fd in (
            (self._from_board, proc.stdout.fileno()), (self._log_stderr, proc.stderr.fileno()),
            (self._acks, ack_read))]
        for thread in self._proc_threads:
            thread.start()

    def _to_board(self):
        # pty master -> node stdin; the slave stays open here, so a PC-side close is no EIO
        while not self._stop.is_set():
            ready, _, _ = select.select([self._master], [], [], 0.1)
            if not ready:
                continue
            try:
                data = os.read(self._master, 4096)
            except OSError:
                return
            with self._lock:
                if self._interrupted_at is not None:
                    self._replay += data
                elif b"\x03" in data and self._booted.is_set():
                    self._interrupted_at = time.monotonic()
                    self._replay = data[data.index(b"\x03") + 1:]
                try:
                    self._proc.stdin.write(data)
                except (OSError, ValueError):
                    pass        # the board stopped under us: nothing to deliver to

    def _acks(self, proc, fd):
        try:
            while True:
                data = os.read(fd, 64)
                if not data:
                    return
                if proc is not self._proc:
                    continue        # a process being reset: its acks no longer count
                self._booted.set()
                with self._lock:
                    if proc is self._proc:
                        self._interrupted_at = None
                        self._replay = b""
        finally:
            os.close(fd)

    def _watchdog(self):
        while not self._stop.wait(0.1):
            with self._lock:
                stuck = (self._interrupted_at is not None
                         and time.monotonic() - self._interrupted_at > self.interrupt_reset_s)
                if not stuck:
                    continue
                old, replay = self._proc, self._replay
                self._proc = None
                self._interrupted_at, self._replay = None, b""
                old.kill()
                old.wait(5)
                self._close_proc(old)
                self.resets += 1
                self._spawn()
                try:
                    self._proc.stdin.write(replay)
                except (OSError, ValueError):
                    pass

    def _from_board(self, proc, fd):
        while True:
            try:
                data = os.read(fd, 4096)
            except (OSError, ValueError):
                return
            if not data:
                return
            try:
                os.write(self._master, data)
            except (OSError, TypeError):
                return

    def _log_stderr(self, proc, fd):
        # Node's own errors (not the board's output): kept, last 64 KiB, for test failure messages
        while True:
            try:
                data = os.read(fd, 4096)
            except (OSError, ValueError):
                return
            if not data:
                return
            self.node_errors = (self.node_errors + data)[-65536:]

    @property
    def running(self):
        return self._proc is not None and self._proc.poll() is None

    def stop(self, timeout=5):
        """Stop the board; its files are synced to fs_dir first (SIGTERM)."""
        self._halt(kill=False, timeout=timeout)

    def power_cut(self):
        """Kill the board without a final sync: what was not yet written back is lost."""
        self._halt(kill=True)

    def _halt(self, kill, timeout=5):
        if self._proc is None:
            return
        self._stop.set()
        for thread in self._threads:
            thread.join(2)
        proc = self._proc
        if proc.poll() is None:
            proc.kill() if kill else proc.terminate()
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout)
        self._close_proc(proc)
        self._proc = None
        self._close_fds()

    def _close_proc(self, proc):
        for thread in self._proc_threads:
            thread.join(2)
        for stream in (proc.stdin, proc.stdout, proc.stderr):
            try:
                stream.close()
            except OSError:
                pass

    def _close_fds(self):
        for fd in (self._master, self._slave):
            if fd is not None:
                os.close(fd)
        self._master = self._slave = None
