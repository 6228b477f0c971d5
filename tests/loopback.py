"""What tests of several areas share to run real parts on this machine: a Mosquitto broker of a test's own and
Debian's headless Chromium (driven by Playwright; its own browser download does not work here).

Our own listeners (the server, the sandboxes: hw_sim's ServerStack) bind port 0 and say which port they got.
`free_port()` is for a process that must be told its port before it starts (Mosquitto, `python -m server run`):
another test may take that port before the process binds it, so whoever uses it retries on a bind failure."""
import pathlib
import socket

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run", "--disable-sync"]


def free_port() -> int:
    """A loopback port free a moment ago (not reserved: see above)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


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
