"""What tests of several areas share to run real parts on this machine: `python -m server run` as a child
process, a Mosquitto broker of a test's own and Debian's headless Chromium (driven by Playwright; its own browser
download does not work here).

Our own listeners (the server, the sandboxes: hw_sim's ServerStack, and `python -m server run --port 0
--port-file F`) bind port 0 and say which port they got. `free_port()` is only for a process that must be told
its port before it starts and cannot bind 0 itself (Mosquitto: the port is in its config): another test may take
that port before the process binds it, so whoever uses it retries on a bind failure."""
import asyncio
import contextlib
import os
import pathlib
import socket
import sys
import time

REPO = pathlib.Path(__file__).resolve().parents[1]
SERVER_START_S = 60.0       # a cold start imports and migrates, on a loaded machine too

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run", "--disable-sync"]


def free_port() -> int:
    """A loopback port free a moment ago (not reserved: see above)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def server_environment() -> dict[str, str]:
    """This process's environment without its SCANPAY_ settings: a child server has only its own."""
    return {k: v for k, v in os.environ.items() if not k.startswith("SCANPAY_")}


def server_command(*options: str, port_file: str | os.PathLike) -> list[str]:
    """`python -m server run *options` on any free port, which it writes to port_file once it serves."""
    return [sys.executable, "-m", "server", "run", *options, "--port", "0", "--port-file", str(port_file)]


def port_written(port_file: str | os.PathLike) -> int | None:
    """The port in a port file, None while there is none (it is written whole, by a rename)."""
    try:
        return int(pathlib.Path(port_file).read_text())
    except FileNotFoundError:
        return None


async def start_server(*options: str, port_file: str | os.PathLike,
                       log: str | os.PathLike | None = None) -> tuple[asyncio.subprocess.Process, int]:
    """`python -m server run *options` as a child process (in the repository, without this process's SCANPAY_
    settings), once it serves: the process and the port it got. Its stderr goes to the file `log`, else to a
    pipe (read it with `communicate()` after stopping it)."""
    pathlib.Path(port_file).unlink(missing_ok=True)     # an earlier run's names a port nobody serves now
    with open(log, "ab") if log is not None else contextlib.nullcontext(asyncio.subprocess.PIPE) as stderr:
        process = await asyncio.create_subprocess_exec(
            *server_command(*options, port_file=port_file), cwd=REPO, env=server_environment(),
            stdout=asyncio.subprocess.DEVNULL, stderr=stderr)
    return process, await wait_for_port(process, port_file, log)


async def wait_for_port(process: asyncio.subprocess.Process, port_file: str | os.PathLike,
                        log: str | os.PathLike | None = None) -> int:
    """The port a child process writes to port_file once it serves. When it exits first, or takes longer than
    SERVER_START_S, an AssertionError with the end of what it said (in the file `log`, else on its stderr pipe)."""
    deadline = time.monotonic() + SERVER_START_S
    while (port := port_written(port_file)) is None:
        if process.returncode is not None or time.monotonic() > deadline:
            if process.returncode is None:
                process.kill()
            _, said = await process.communicate()
            said = pathlib.Path(log).read_bytes() if log is not None else said or b""
            raise AssertionError(f"{port_file}: no port, the process's exit status {process.returncode}; it said: "
                                 f"{said.decode(errors='replace')[-2000:]}")
        await asyncio.sleep(0.05)
    return port


DYNSEC_PLUGIN = "/usr/lib/x86_64-linux-gnu/mosquitto_dynamic_security.so"


class Mosquitto:
    """A Mosquitto broker of a test's own (Debian's mosquitto), on a free loopback port, with the dynamic
    security plugin: no anonymous clients, an admin user `admin_user` made by `mosquitto_ctrl dynsec init`.
    `stop()` and `start()` again keep its clients (the plugin saves them in its file) and its port."""

    start_attempts = 5          # a first start whose port another process took meanwhile tries another

    def __init__(self, folder, admin_user: str = "scanpay-server", admin_password: str = "broker-admin-pw"):
        import subprocess
        self.folder = pathlib.Path(folder)
        self.admin_user, self.admin_password = admin_user, admin_password
        self.process = None
        self.started = False
        self.dynsec = self.folder / "dynamic-security.json"
        subprocess.run(["mosquitto_ctrl", "dynsec", "init", str(self.dynsec), admin_user, admin_password],
                       check=True, capture_output=True)
        self.config = self.folder / "mosquitto.conf"
        self.log = self.folder / "mosquitto.log"
        self._configure(free_port())

    def _configure(self, port: int) -> None:
        import getpass
        self.port = port
        # `user`: run as whoever runs the tests (as root it would switch to `mosquitto`, who cannot read
        # pytest's private temporary folders, and then lets nobody in).
        self.config.write_text(f"listener {self.port} 127.0.0.1\nallow_anonymous false\nuser {getpass.getuser()}\n"
                               f"plugin {DYNSEC_PLUGIN}\nplugin_opt_config_file {self.dynsec}\n"
                               f"log_dest file {self.log}\nlog_type all\npersistence false\n")

    def start(self) -> None:
        for _ in range(1 if self.started else self.start_attempts):
            said = self._run()
            if said is None:
                self.started = True
                return
            if self.started or "Address already in use" not in said:
                break
            self._configure(free_port())
        raise RuntimeError(f"mosquitto did not start: {said}")

    def _run(self) -> str | None:
        """Start the process and wait until it says it is running (None), or what it said before it stopped."""
        import subprocess
        import time
        seen = self.log.stat().st_size if self.log.exists() else 0
        self.process = subprocess.Popen(["mosquitto", "-c", str(self.config)], stdout=subprocess.DEVNULL,
                                        stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            said = self._said_since(seen)
            # "running" comes after the listener is open: a connect alone could reach another process's
            if " running" in said and self.process.poll() is None:
                return None
            if self.process.poll() is not None:
                return said or "(nothing in its log)"
            time.sleep(0.05)
        self.stop()
        return self._said_since(seen) or "(nothing in its log)"

    def _said_since(self, offset: int) -> str:
        if not self.log.exists():
            return ""
        with open(self.log, "rb") as log:
            log.seek(offset)
            return log.read().decode(errors="replace")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)
        self.process = None
