"""A virtual board: real MicroPython (the WebAssembly port under Node.js) behind a serial
pseudo-terminal, so `mpremote connect /dev/pts/N ...` and `python -m tools flash --port /dev/pts/N`
work on it as on an ESP32 on USB.

    with VirtualBoard(fs_dir) as board:      # fs_dir: the board's flash, kept between runs
        subprocess.run(["mpremote", "connect", board.port, "fs", "ls"])

or from a shell: `python -m hw_sim.virtual_board --fs var/board1` prints the port and runs until Ctrl-C.
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
import tty

HERE = pathlib.Path(__file__).resolve().parent
REPO = HERE.parents[1]
BOARD_JS = HERE / "board.mjs"


class VirtualBoardError(Exception):
    pass


class VirtualBoard:
    def __init__(self, fs_dir, heap=2 * 1024 * 1024, run_main=False, node="node"):
        self.fs_dir = pathlib.Path(fs_dir)
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
        args = [self.node, str(BOARD_JS), str(self.fs_dir), "--heap=%d" % self.heap]
        if self.run_main:
            args.append("--run-main")
        try:
            # cwd: the repo, so Node resolves the npm package from its node_modules
            self._proc = subprocess.Popen(args, cwd=REPO, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                          stderr=subprocess.PIPE, bufsize=0)
        except OSError as e:
            self._close_fds()
            raise VirtualBoardError("cannot start node: %s" % e)
        self._stop.clear()
        self._threads = [threading.Thread(target=self._to_board, daemon=True),
                         threading.Thread(target=self._from_board, daemon=True),
                         threading.Thread(target=self._log_stderr, daemon=True)]
        for thread in self._threads:
            thread.start()
        return self

    def _to_board(self):
        # pty master -> node stdin; the slave stays open here, so a PC-side close is no EIO
        while not self._stop.is_set():
            ready, _, _ = select.select([self._master], [], [], 0.1)
            if not ready:
                continue
            try:
                data = os.read(self._master, 4096)
                self._proc.stdin.write(data)
            except (OSError, ValueError):
                return

    def _from_board(self):
        while True:
            try:
                data = os.read(self._proc.stdout.fileno(), 4096)
            except (OSError, ValueError):
                return
            if not data:
                return
            try:
                os.write(self._master, data)
            except OSError:
                return

    def _log_stderr(self):
        # Node's own errors (not the board's output): kept, last 64 KiB, for test failure messages
        while True:
            try:
                data = os.read(self._proc.stderr.fileno(), 4096)
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
        if self._proc is None:
            return
        self._stop.set()
        if self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait(timeout)
        self._finish()

    def power_cut(self):
        """Kill the board without a final sync: what was not yet written back is lost."""
        if self._proc is None:
            return
        self._stop.set()
        self._proc.kill()
        self._proc.wait(5)
        self._finish()

    def _finish(self):
        for thread in self._threads:
            thread.join(2)
        for stream in (self._proc.stdin, self._proc.stdout, self._proc.stderr):
            try:
                stream.close()
            except OSError:
                pass
        self._proc = None
        self._close_fds()

    def _close_fds(self):
        for fd in (self._master, self._slave):
            if fd is not None:
                os.close(fd)
        self._master = self._slave = None
