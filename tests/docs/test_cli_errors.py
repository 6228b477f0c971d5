"""Every command line a newcomer types answers a mistake in one line, Chinese first, with a non-zero status
and no traceback: a bad argument, a port number out of range, a port another program holds (a TCP port for
the servers, a serial port for the flash tool), a folder it cannot use. Each runs as a user runs it."""
import os
import pty
import re
import socket
import subprocess
import sys

import pytest

from tests.docs.docs_pages import REPO

CHINESE = re.compile(r"[\u4e00-\u9fff]")


def run(*args, env=None):
    done = subprocess.run([sys.executable, "-m", *args], cwd=REPO, capture_output=True, text=True, timeout=120,
                          stdin=subprocess.DEVNULL, env={**os.environ, **(env or {})})
    return done.returncode, done.stdout, done.stderr


def assert_one_line(code, out, err, *, prog, says, status=None):
    lines = err.strip().splitlines()
    assert code != 0 and (status is None or code == status), (code, out, err)
    assert len(lines) == 1 and "Traceback" not in err, err
    line = lines[0]
    assert line.startswith(prog + ": ") and says in line, line
    first_words = line[len(prog) + 2:]
    assert CHINESE.search(first_words) and CHINESE.search(first_words).start() < first_words.find(" / "), \
        f"the Chinese comes first: {line}"


@pytest.fixture
def taken_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        yield s.getsockname()[1]


@pytest.mark.parametrize("args, prog, says", [
    (("hw_sim.demo", "--port", "99999"), "python -m hw_sim.demo", "unrecognized arguments: --port 99999"),
    (("hw_sim.virtual_board", "serve", "--port", "99999"), "python -m hw_sim.virtual_board serve",
     "'99999' is not a port number"),
    (("hw_sim.virtual_board", "pay", "--fs", "x", "--amount", "12.505", "--code", "130000123456789012"),
     "python -m hw_sim.virtual_board pay", "'12.505' is not an amount in yuan"),
    (("hw_sim.virtual_board", "pay", "--fs", "x", "--amount", "1", "--code", "13-00"),
     "python -m hw_sim.virtual_board pay", "'13-00' is not a payment code"),
    (("hw_sim.virtual_board", "--heap", "big"), "python -m hw_sim.virtual_board", "invalid int value: 'big'"),
    (("hw_sim.sandbox", "--port", "99999"), "python -m hw_sim.sandbox", "'99999' is not a port number"),
    (("tools", "build", "--profile", "toaster"), "python -m tools build", "invalid choice: 'toaster'"),
    (("tools", "flash", "--bundle", "b.tar.gz"), "python -m tools flash", "required: --port"),
    (("tools", "frobnicate"), "python -m tools", "invalid choice: 'frobnicate'"),
    (("host_agent", "calibrate", "--monitor", "left"), "host_agent", "invalid int value: 'left'"),
    (("host_agent", "run", "--bogus"), "host_agent", "unrecognized arguments: --bogus"),
])
def test_a_bad_argument_is_one_line(args, prog, says):
    assert_one_line(*run(*args), prog=prog, says=says, status=2)


def test_the_host_agent_takes_its_config_after_the_command_too(tmp_path):
    """docs/host-agent.md: every command takes --config; after the command's name it is the config, not a mistake."""
    code, out, err = run("host_agent", "run", "--config", str(tmp_path / "missing.toml"))
    assert code == 1 and "missing.toml" in err and "bad arguments" not in err, err


def test_a_taken_port_is_one_line_for_the_virtual_boards_server(tmp_path, taken_port):
    code, out, err = run("hw_sim.virtual_board", "serve", "--dir", str(tmp_path), "--port", str(taken_port))
    assert_one_line(code, out, err, prog="python -m hw_sim.virtual_board", says=f"127.0.0.1:{taken_port}", status=1)


def test_a_taken_port_is_one_line_for_a_sandbox(taken_port):
    code, out, err = run("hw_sim.sandbox", "--port", str(taken_port))
    assert_one_line(code, out, err, prog="python -m hw_sim.sandbox", says=f"127.0.0.1:{taken_port}", status=1)


def test_a_taken_port_is_one_line_for_the_payment_server(tmp_path, taken_port):
    config = tmp_path / "scanpay.toml"
    config.write_text(f'[database]\npath = "{tmp_path / "scanpay.db"}"\n', "utf-8")
    code, out, err = run("server", "run", "--config", str(config), "--port", str(taken_port))
    assert_one_line(code, out, err, prog="python -m server", says=f"127.0.0.1:{taken_port}", status=1)
    code, out, err = run("server", "run", "--config", str(config), "--port", "99999")
    assert_one_line(code, out, err, prog="python -m server run", says="'99999' is not a port number", status=2)
    code, out, err = run("server", "frobnicate")
    assert_one_line(code, out, err, prog="python -m server", says="invalid choice: 'frobnicate'", status=2)


@pytest.mark.slow
def test_a_serial_port_missing_or_held_by_another_program_is_one_line_for_the_flash_tool(tmp_path):
    """`tools flash` on a port that is not there, and on one a terminal program has open: refused in one line
    before anything is written."""
    import serial

    from tools import build, signing
    signing.generate(tmp_path / "release.pem", tmp_path / "release.pub")
    bundle = build.build("enhanced_box", tmp_path / "release.pem", tmp_path / "out", version="0.3.0")
    code, out, err = run("tools", "flash", "--port", "/dev/ttyNOPE9", "--bundle", str(bundle))
    assert_one_line(code, out, err, prog="tools", says="/dev/ttyNOPE9 does not exist", status=1)
    main, secondary = pty.openpty()
    try:
        with serial.Serial(os.ttyname(secondary), exclusive=True):
            code, out, err = run("tools", "flash", "--port", os.ttyname(secondary), "--bundle", str(bundle))
        assert_one_line(code, out, err, prog="tools", says="is busy", status=1)
    finally:
        os.close(main)
        os.close(secondary)


def test_a_board_folder_that_cannot_be_made_is_one_line(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    code, out, err = run("hw_sim.virtual_board", "--fs", str(blocker / "board"))
    assert_one_line(code, out, err, prog="python -m hw_sim.virtual_board", says="cannot use", status=1)


def test_paying_on_an_empty_board_is_one_line(tmp_path):
    code, out, err = run("hw_sim.virtual_board", "pay", "--fs", str(tmp_path), "--amount", "12.50",
                         "--code", "130000123456789012")
    assert_one_line(code, out, err, prog="python -m hw_sim.virtual_board", says="run `flash` first", status=1)
