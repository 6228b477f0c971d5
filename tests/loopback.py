"""What tests of several areas share to run real parts on this machine: free loopback ports and Debian's
headless Chromium (driven by Playwright; its own browser download does not work here)."""
import socket

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run", "--disable-sync"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


DYNSEC_PLUGIN = "/usr/lib/x86_64-linux-gnu/mosquitto_dynamic_security.so"


class Mosquitto:
    """A Mosquitto broker of a test's own (Debian's mosquitto), on a free loopback port, with the dynamic
    security plugin: no anonymous clients, an admin user `admin_user` made by `mosquitto_ctrl dynsec init`.
    `stop()` and `start()` again keep its clients (the plugin saves them in its file)."""

    def __init__(self, folder, admin_user: str = "scanpay-server", admin_password: str = "broker-admin-pw"):
        import getpass
        import pathlib
        import subprocess
        self.folder = pathlib.Path(folder)
        self.admin_user, self.admin_password = admin_user, admin_password
        self.port = free_port()
        self.process = None
        dynsec = self.folder / "dynamic-security.json"
        subprocess.run(["mosquitto_ctrl", "dynsec", "init", str(dynsec), admin_user, admin_password],
                       check=True, capture_output=True)
        self.config = self.folder / "mosquitto.conf"
        # `user`: run as whoever runs the tests (as root it would switch to `mosquitto`, who cannot read
        # pytest's private temporary folders, and then lets nobody in).
        self.config.write_text(f"listener {self.port} 127.0.0.1\nallow_anonymous false\nuser {getpass.getuser()}\n"
                               f"plugin {DYNSEC_PLUGIN}\nplugin_opt_config_file {dynsec}\n"
                               f"log_dest file {self.folder / 'mosquitto.log'}\nlog_type all\npersistence false\n")

    def start(self) -> None:
        import subprocess
        import time
        self.process = subprocess.Popen(["mosquitto", "-c", str(self.config)], stdout=subprocess.DEVNULL,
                                        stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            if self.process.poll() is not None:
                break
            time.sleep(0.05)
        raise RuntimeError(f"mosquitto did not start: {(self.folder / 'mosquitto.log').read_text(errors='replace')}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)
        self.process = None
