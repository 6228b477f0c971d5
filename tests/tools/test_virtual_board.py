"""The virtual board answers plain mpremote and a serial terminal as a USB MicroPython board does."""
import hashlib
import time

import serial

from tests.tools.conftest import mpremote
from hw_sim.virtual_board import VirtualBoard


def test_mpremote_fs_commands_run_and_soft_reset(board, tmp_path):
    script = tmp_path / "hello.py"
    script.write_text("import sys\nprint('hello from', sys.implementation.name)\n" + "x = 1\n" * 500)
    mpremote(board.port, "fs", "mkdir", ":lib", "+", "fs", "cp", str(script), ":lib/hello.py")
    listing = mpremote(board.port, "fs", "ls", ":lib")
    assert "%d hello.py" % script.stat().st_size in listing
    assert "proc" not in mpremote(board.port, "fs", "ls")       # only the board's flash is listed
    digest = mpremote(board.port, "fs", "sha256sum", ":lib/hello.py")
    assert hashlib.sha256(script.read_bytes()).hexdigest() in digest
    assert "hello from micropython" in mpremote(board.port, "run", str(script))
    # mpremote soft-resets before its first command unless told to `resume`: state survives a resume,
    # a soft reset clears it; files stay
    mpremote(board.port, "exec", "marker = 42")
    assert "42" in mpremote(board.port, "resume", "exec", "print(marker)")
    mpremote(board.port, "soft-reset")
    assert "False" in mpremote(board.port, "resume", "exec", "print('marker' in globals())")
    assert "hello from" in mpremote(board.port, "exec", "import sys; sys.path.append('/lib'); import hello")


def test_errors_carry_micropython_errno(board):
    out = mpremote(board.port, "exec", "try:\n open('/nope')\nexcept OSError as e:\n print(e.errno)")
    assert out.strip() == "2"       # ENOENT as on a board, not Emscripten's 44


def test_files_persist_across_restart(tmp_path):
    with VirtualBoard(tmp_path / "flash") as vb:
        mpremote(vb.port, "exec", "f = open('/kept.txt', 'w'); f.write('still here'); f.close()")
    assert (tmp_path / "flash" / "kept.txt").read_text() == "still here"
    with VirtualBoard(tmp_path / "flash") as vb:
        assert "still here" in mpremote(vb.port, "fs", "cat", ":kept.txt")


def _read_until(port, marker, timeout=5):
    data = b""
    deadline = time.monotonic() + timeout
    while marker not in data and time.monotonic() < deadline:
        data += port.read(port.in_waiting or 1)
    return data


def test_friendly_repl_interrupt_and_ctrl_d(board):
    with serial.Serial(board.port, 115200, timeout=0.1) as port:
        port.write(b"\r\x03")
        _read_until(port, b">>> ")
        port.write(b"print(6 * 7)\r")
        assert b"42" in _read_until(port, b"42")
        port.write(b"x = (1,\r")                    # an unfinished line, then Ctrl-C abandons it
        _read_until(port, b"... ")
        port.write(b"\x03")
        assert b">>> " in _read_until(port, b">>> ")
        port.write(b"\x04")                         # Ctrl-D at the prompt: soft reset
        assert b"soft reboot" in _read_until(port, b"soft reboot")


def test_ctrl_c_ends_a_program_that_never_returns(board):
    # the WebAssembly port cannot be interrupted mid-program: the unanswered Ctrl-C resets the board,
    # and mpremote (which starts with Ctrl-C) gets its REPL as from a USB board
    mpremote(board.port, "exec", "--no-follow", "f = open('/before.txt', 'w'); f.write('x'); f.close()\n"
                                                "import os; os.sync()\n"
                                                "while True:\n    pass")
    assert "before.txt" in mpremote(board.port, "fs", "ls")
    assert board.resets == 1
    assert "2" in mpremote(board.port, "exec", "print(1 + 1)")


def test_raw_repl_and_raw_paste_protocol(board):
    with serial.Serial(board.port, 115200, timeout=0.1) as port:
        port.write(b"\r\x03\r\x01")
        assert _read_until(port, b"raw REPL; CTRL-B to exit\r\n>").endswith(b"raw REPL; CTRL-B to exit\r\n>")
        port.write(b"print('out')\nraise ValueError('bad')\x04")
        reply = _read_until(port, b"\x04>")
        assert reply.startswith(b"OKout\n\x04") and b"ValueError: bad" in reply
        # raw-paste: R\x01, a window size, flow control \x01 per window, \x04 ends, \x04 acknowledges
        port.write(b"\x05A\x01")
        header = _read_until(port, b"R\x01", timeout=2) + port.read(2)
        assert header[:2] == b"R\x01"
        window = int.from_bytes(header[2:4], "little")
        code = b"x = 0\n" + b"x += 1\n" * (window // 7 + 5) + b"print('x', x)\n"
        port.write(code[:window])
        assert _read_until(port, b"\x01") == b"\x01"           # room for the next window
        port.write(code[window:] + b"\x04")
        reply = _read_until(port, b"\x04>")
        assert reply == b"\x04x %d\n\x04\x04>" % (window // 7 + 5)
