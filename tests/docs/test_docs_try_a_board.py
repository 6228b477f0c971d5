"""docs/tools.md, "Take a payment on a flashed virtual board", works as written: its command lines are taken
from the page (the first sh block is the server, left running; the second the steps, run one by one with
bash) and run in a scratch directory that holds the repository's folders, so `var/try` is the test's own.
The one change: the page's port 8080 becomes one the server chooses (`--port 0 --port-file F`: two runs, or a
developer's own server, must not meet, and a port found free beforehand may be taken before it is bound). The last command's output must be the page's text block, but for the order number (and whatever else the
box may say in between on a loaded machine)."""
import re
import shutil
import subprocess

import pytest

from tests.docs.docs_pages import REPO, section

SECTION = "Take a payment on a flashed virtual board"
PORT = 8080

pytestmark = [pytest.mark.slow, pytest.mark.skipif(
    shutil.which("node") is None or not (REPO / "node_modules/@micropython/micropython-webassembly-pyscript").is_dir(),
    reason="needs node and npm install (make setup)")]


def blocks():
    """{info: [block, ...]} of the section, in order."""
    found = {}
    for token in section("docs/tools.md", SECTION):
        if token.type == "fence":
            found.setdefault(token.info.strip(), []).append(token.content)
    return found


def command_lines(block):
    """The block's commands, continuation lines joined."""
    return [line for line in block.replace("\\\n", " ").splitlines() if line.strip()]


@pytest.fixture
def checkout(tmp_path):
    """A directory that looks like the repository's root: its folders linked, nothing else."""
    for name in (".venv", "hw_sim", "tools", "server", "firmware", "host_agent", "node_modules"):
        (tmp_path / name).symlink_to(REPO / name)
    return tmp_path


def test_the_documented_commands_take_a_payment(checkout):
    found = blocks()
    serve_block, steps_block = found["sh"]
    serve, = command_lines(serve_block)
    assert f"--port {PORT}" in serve and str(PORT) in steps_block
    port_file = checkout / "server.port"
    server = subprocess.Popen(serve.replace(f"--port {PORT}", f"--port 0 --port-file {port_file}"), shell=True,
                              cwd=checkout, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              executable="/bin/bash", start_new_session=True)
    try:
        started = []
        for line in server.stdout:                    # ready once it says so; its first line names the server
            started.append(line)
            if line.startswith("ready"):
                break
        assert started and started[-1].startswith("ready"), started
        port = int(port_file.read_text())
        assert f"server http://127.0.0.1:{port} " in started[0]
        for command in command_lines(steps_block):
            done = subprocess.run(command.replace(str(PORT), str(port)), shell=True, cwd=checkout, text=True,
                                  capture_output=True, executable="/bin/bash", timeout=300)
            assert done.returncode == 0, (command, done.stdout, done.stderr)
        number = re.compile(r"order \S+:")
        expected = [number.sub("order N:", line) for line in found["text"][-1].splitlines()]
        printed = [number.sub("order N:", line) for line in done.stdout.splitlines()]
        # the order line as shown; what the box says as shown, in that order (on a loaded machine the box
        # may say more in between, e.g. that it is still waiting for the server)
        assert printed[-1] == expected[-1], printed
        rest = iter(printed[:-1])
        assert all(line in rest for line in expected[:-1]), printed
    finally:
        server.send_signal(2)                          # Ctrl-C, as the page says
        try:
            _out, errors = server.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            _out, errors = server.communicate()
    assert server.returncode == 0 and "Traceback" not in errors, errors
