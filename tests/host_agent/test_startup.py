"""Starting the agent on a cashier PC: config files as Notepad saves them, the log's folder and its
rotation, start-up errors under pythonw (no console: the log file and a message box), the OCR
libraries missing, a second copy refused (two real processes), and calibrate's desktop coordinates
on any monitor layout."""
import contextlib
import logging
import subprocess
import sys
import time

import pytest

from host_agent import calibrate, startup
from host_agent.__main__ import main
from host_agent.config import ConfigError, load_config
from host_agent.ocr_recogniser import OcrUnavailable, Recogniser

KEY = "ab" * 32
CONFIG = """
amount_source = "manual"

[server]
url = "http://127.0.0.1:9"
device_id = "PC0001"
device_key = "%s"
subject = "老王便利店"

[box]
port = "%s"

[manual]
window = false

[log]
file = "%s"
""" % (KEY, "{box}", "{log}")


def write_config(tmp_path, log_file, box=None, **replace):
    text = CONFIG.replace("{box}", str(box or tmp_path / "no-box")).replace("{log}", str(log_file).replace("\\", "/"))
    for old, new in replace.items():
        text = text.replace(old, new)
    path = tmp_path / "host_agent.toml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def no_logging_left():
    """Takes the agent's log handlers off the root logger after the test (closing the files)."""
    yield
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, "_scanpay", False):
            root.removeHandler(handler)
            handler.close()


@pytest.fixture
def pythonw(monkeypatch):
    """Call it in the test (pytest sets the streams again before the test runs): the process as
    pythonw starts it, with no standard streams. Returns the message box to pass and what it shows."""
    def no_console():
        monkeypatch.setattr(sys, "stdout", None)
        monkeypatch.setattr(sys, "stderr", None)
        shown = []
        return lambda title, text: shown.append((title, text)), shown
    return no_console


# ------------------------------------------------------------------------------------ the config file
def test_a_config_saved_with_notepads_bom_loads(tmp_path):
    path = write_config(tmp_path, tmp_path / "agent.log")
    path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())
    assert load_config(path).server.subject == "老王便利店"


@pytest.mark.parametrize("encoding, said", [
    ("gbk", "line 8 of the config file is not UTF-8"),
    ("utf-16", "UTF-16"),           # Notepad's "Unicode": a BOM, then two bytes a character
    ("utf-16-le", "UTF-16"),        # the same without its BOM
])
def test_a_config_not_in_utf8_says_to_save_it_so(tmp_path, encoding, said):
    path = write_config(tmp_path, tmp_path / "agent.log")
    path.write_bytes(path.read_text(encoding="utf-8").encode(encoding))
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    (zh, en), = caught.value.problems
    assert said in en and "Save As" in en and "UTF-8" in zh and "另存为" in zh


def test_a_gbk_config_stops_run_with_the_message_not_a_traceback(tmp_path):
    path = write_config(tmp_path, tmp_path / "agent.log")
    path.write_bytes(path.read_text(encoding="utf-8").encode("gbk"))
    result = subprocess.run([sys.executable, "-m", "host_agent", "--config", str(path), "run"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert "not UTF-8" in result.stderr and "Traceback" not in result.stderr


# -------------------------------------------------------------------------------------------- the log
def test_the_log_folder_is_made(tmp_path, no_logging_left):
    log_file = tmp_path / "scanpay" / "logs" / "agent.log"
    startup.setup_logging("INFO", str(log_file), console=False)
    logging.getLogger("host_agent").info("started")
    assert "started" in log_file.read_text(encoding="utf-8")


def test_a_log_folder_that_cannot_be_made_is_a_startup_error(tmp_path, no_logging_left):
    (tmp_path / "a-file").write_text("")
    with pytest.raises(startup.StartupError, match="cannot create the log file"):
        startup.setup_logging("INFO", str(tmp_path / "a-file" / "agent.log"), console=False)


def test_the_log_rotates_at_its_size(tmp_path, no_logging_left):
    log_file = tmp_path / "agent.log"
    startup.setup_logging("INFO", str(log_file), max_bytes=10_000, backups=2, console=False)
    log = logging.getLogger("host_agent")
    for n in range(400):
        log.info("line %03d %s", n, "x" * 80)
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["agent.log", "agent.log.1", "agent.log.2"]     # the oldest dropped
    assert all((tmp_path / name).stat().st_size <= 10_000 for name in names)
    assert "line 399" in log_file.read_text(encoding="utf-8")


# ---------------------------------------------------------------------------------- pythonw start-up
def test_under_pythonw_a_config_mistake_goes_to_the_log_and_a_message_box(tmp_path, pythonw, no_logging_left):
    show, shown = pythonw()
    path = write_config(tmp_path, tmp_path / "agent.log", **{"[manual]": "[manual]\nmax_fen = -1"})
    assert main(["--config", str(path), "run"], show=show) == 1
    (title, text), = shown
    assert "收款助手" in title and "[manual] max_fen" in text and "not -1" in text and "现为 -1" in text
    logged = (tmp_path / "host_agent.log").read_text(encoding="utf-8")     # beside the config
    assert "[manual] max_fen must be" in logged


def test_under_pythonw_an_unmakeable_log_folder_is_shown(tmp_path, pythonw, no_logging_left):
    show, shown = pythonw()
    (tmp_path / "a-file").write_text("")
    path = write_config(tmp_path, tmp_path / "a-file" / "agent.log")
    assert main(["--config", str(path), "run"], show=show) == 1
    (title, text), = shown
    assert "cannot create the log file" in text and "无法建立日志文件" in text
    assert "cannot create the log file" in (tmp_path / "host_agent.log").read_text(encoding="utf-8")


def test_with_a_console_nothing_is_shown_in_a_box(tmp_path, capsys, no_logging_left):
    shown = []
    path = write_config(tmp_path, tmp_path / "agent.log", **{"[manual]": "[manual]\nmax_fen = -1"})
    assert main(["--config", str(path), "run"], show=lambda *box: shown.append(box)) == 1
    assert shown == [] and "host_agent: " in capsys.readouterr().err


def test_a_real_pythonw_start_exits_non_zero_with_the_error_logged(tmp_path):
    """No streams at all, as pythonw.exe runs it: the status and the log tell."""
    path = write_config(tmp_path, tmp_path / "logs" / "agent.log", **{"[box]": "[box]\nspeed = 9600"})
    script = ("import sys; sys.stdout = sys.stderr = None\n"
              "from host_agent.__main__ import main\n"
              "sys.exit(main(['--config', %r, 'run']))" % str(path))
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert result.returncode == 1 and result.stdout == "" and result.stderr == ""
    assert "unknown key 'speed' in [box]" in (tmp_path / "host_agent.log").read_text(encoding="utf-8")


# ------------------------------------------------------------------------------------------------ OCR
@pytest.mark.parametrize("module", ["rapidocr", "onnxruntime"])
def test_ocr_that_will_not_import_says_what_to_do(monkeypatch, module):
    monkeypatch.setitem(sys.modules, module, None)      # `import` of it now fails, as when not installed
    with pytest.raises(OcrUnavailable) as caught:
        Recogniser().load()
    message = str(caught.value)
    assert module in message and "pip install rapidocr onnxruntime" in message
    assert "pole_display" in message and "manual" in message and "请安装" in message


def test_run_on_the_screen_without_ocr_stops_at_start_with_the_message(tmp_path, monkeypatch, pythonw,
                                                                       no_logging_left):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    show, shown = pythonw()
    path = write_config(tmp_path, tmp_path / "agent.log", **{
        'amount_source = "manual"': 'amount_source = "screen"',
        "[manual]": "[screen]\nregion = [0, 0, 300, 48]\n[manual]"})
    assert main(["--config", str(path), "run"], show=show) == 1
    (title, text), = shown
    assert "onnxruntime" in text and "pip install" in text and "Traceback" not in text
    assert "pip install rapidocr onnxruntime" in (tmp_path / "agent.log").read_text(encoding="utf-8")


# ----------------------------------------------------------------------------------- a second copy
@contextlib.contextmanager
def running_agent(config, log_file, started=1):
    """`run` in a real process until the log says it started (`started` starts in the log so far);
    stopped after the block."""
    with subprocess.Popen([sys.executable, "-m", "host_agent", "--config", str(config), "run"],
                          stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) as agent:
        try:
            deadline = time.monotonic() + 30
            while not (log_file.exists() and log_file.read_text(encoding="utf-8").count("scanpay host agent:")
                       >= started):
                assert agent.poll() is None and time.monotonic() < deadline, "the agent did not start"
                time.sleep(0.1)
            yield agent
        finally:
            agent.terminate()


def test_a_second_copy_is_refused_while_the_first_runs(tmp_path):
    log_file = tmp_path / "logs" / "agent.log"      # its folder made by the first copy
    config = write_config(tmp_path, log_file)
    with running_agent(config, log_file) as first:
        second = subprocess.run([sys.executable, "-m", "host_agent", "--config", str(config), "run"],
                                capture_output=True, text=True, timeout=60)
        assert first.poll() is None
    assert second.returncode == 1
    assert "已在运行" in second.stderr and "already running" in second.stderr
    assert "process %d" % first.pid in second.stderr
    assert "already running" in log_file.read_text(encoding="utf-8")
    with running_agent(config, log_file, started=2) as third:    # the lock went with the first
        assert third.poll() is None


# ----------------------------------------------------------------------------------------- calibrate
# mss's monitors: [0] all of them together, then each; the primary at (0, 0), one left of it, one above
MONITORS = [
    {"left": -1920, "top": -1080, "width": 3840, "height": 2160},
    {"left": 0, "top": 0, "width": 1920, "height": 1080},
    {"left": -1920, "top": 0, "width": 1920, "height": 1080},
    {"left": 0, "top": -1080, "width": 1920, "height": 1080},
]


@pytest.mark.parametrize("monitor, in_picture, on_desktop", [
    (1, (620, 540, 360, 48), (620, 540, 360, 48)),          # the primary: the same
    (2, (620, 540, 360, 48), (-1300, 540, 360, 48)),        # left of the primary: negative x
    (3, (620, 540, 360, 48), (620, -540, 360, 48)),         # above it: negative y
    (0, (1300, 1620, 360, 48), (-620, 540, 360, 48)),       # all of them: from the top-left corner
])
def test_calibrate_gives_desktop_coordinates_on_any_monitor(monitor, in_picture, on_desktop):
    assert calibrate.desktop_region(in_picture, MONITORS[monitor]) == on_desktop
    assert calibrate.image_region(on_desktop, MONITORS[monitor]) == in_picture


def test_a_typed_region_may_be_left_of_the_main_monitor():
    assert calibrate.parse_region("-1300,540,360,48") == (-1300, 540, 360, 48)
    with pytest.raises(ValueError):
        calibrate.parse_region("-1300,540,0,48")


def test_the_config_line_is_the_desktop_region():
    assert calibrate.config_line(calibrate.desktop_region((620, 540, 360, 48), MONITORS[2])) == \
        "region = [-1300, 540, 360, 48]"
