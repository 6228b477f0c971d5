"""`python -m host_agent ports | calibrate | run`, as an installer uses them."""
import io
import os
import subprocess
import sys

from host_agent.__main__ import main
from hw_sim.pos.screen import ScreenStyle, render_screen


def run_cli(*args, env=None):
    return subprocess.run([sys.executable, "-m", "host_agent", *args], capture_output=True, text=True,
                          timeout=60, env={**os.environ, **(env or {})})


def test_ports_lists_serial_ports():
    result = run_cli("ports")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip()        # a port per line, or the hint that none were found


def test_run_without_a_config_says_what_to_do(tmp_path):
    result = run_cli("--config", str(tmp_path / "none.toml"), "run")
    assert result.returncode == 1
    assert "host_agent: " in result.stderr and "no such config file" in result.stderr


def test_calibrate_on_a_screenshot(tmp_path):
    shot = render_screen(ScreenStyle(font="dejavu-sans-bold", size=32, theme="grey", fmt="label_zh_yen"), 123450)
    path = tmp_path / "screen.png"
    shot.image.save(path)
    out = io.StringIO()
    assert main(["calibrate", "--image", str(path), "--region", "%d,%d,%d,%d" % shot.region], out=out) == 0
    text = out.getvalue()
    assert "amount: 1234.50 yuan" in text
    assert "region = [%d, %d, %d, %d]" % shot.region in text


def test_calibrate_on_the_wrong_region(tmp_path, capsys):
    shot = render_screen(ScreenStyle(), 1250)
    path = tmp_path / "screen.png"
    shot.image.save(path)
    out = io.StringIO()
    assert main(["calibrate", "--image", str(path), "--region", "0,300,200,40"], out=out) == 0
    assert "amount: none found" in out.getvalue()
    assert main(["calibrate", "--image", str(path), "--region", "1000,700,200,200"]) == 1
    assert "does not fit" in capsys.readouterr().err
    assert main(["calibrate", "--image", str(path), "--region", "1,2,3"]) == 1
    assert "left,top,width,height" in capsys.readouterr().err


async def test_run_takes_a_typed_amount_and_pays(payment_server, scripted_box, tmp_path):
    """`python -m host_agent run` as installed: manual source on the terminal, the box on a serial
    port, the real server; the log file never holds a whole payment code."""
    import asyncio

    from hw_sim import test_codes

    box = scripted_box()
    log_file = tmp_path / "agent.log"
    config = tmp_path / "host_agent.toml"
    config.write_text(f"""
amount_source = "manual"
[server]
url = "{payment_server.url}"
device_id = "PC0001"
device_key = "{payment_server.key_hex}"
[box]
port = "{box.path}"
[manual]
window = false
[log]
file = "{log_file}"
""", encoding="utf-8")
    agent = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "host_agent", "--config", str(config), "run",
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    code = test_codes.make_wechat_code(test_codes.SUCCESS)
    try:
        agent.stdin.write(b"12.50\n")
        await agent.stdin.drain()
        await asyncio.to_thread(box.wait_said, "请出示付款码", 20)
        await asyncio.to_thread(box.scan, code)
        await asyncio.to_thread(box.wait_said, "微信收款 12.50 元", 20)
    finally:
        agent.terminate()
        stdout, stderr = await agent.communicate()
    log = log_file.read_text(encoding="utf-8")
    assert "amount 12.50 yuan from manual" in log and "paid: 12.50 yuan by wechat" in log
    assert code[-4:] in log and code not in log and code not in stderr.decode()
    assert payment_server.key_hex not in log
    assert b"amount 12.50 yuan" in stdout
