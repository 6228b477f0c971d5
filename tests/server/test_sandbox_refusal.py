"""A server without its config refuses to start rather than take payments from a channel sandbox.

The built-in channel settings are the local WeChat sandbox's (so tests and the demo need no file); `python -m
server run` refuses them, and any channel address that is not https, unless the config says `[server] sandbox =
true` (docs/operations.md, "A sandbox setup"). The refusal is one line, Chinese first, naming the key.
"""
import re
import subprocess
import sys
from pathlib import Path

import aiohttp

from tests.loopback import server_environment, start_server
from server.settings import SANDBOX_APPID, load_settings, sandbox_refusal

ROOT = Path(__file__).resolve().parents[2]
GUIDE = ROOT / "docs" / "operations.md"
PRODUCTION_WECHAT = {"base_url": "https://api.mch.weixin.qq.com", "appid": "wx8888888888888888",
                     "mch_id": "1900000109", "api_key": "a-real-looking-key-0123456789abcd",
                     "oauth_url": "https://open.weixin.qq.com", "sns_url": "https://api.weixin.qq.com"}


def documented_sandbox_config() -> str:
    """The TOML block of the operations guide that sets up a sandbox server."""
    [block] = [b for b in re.findall(r"```toml\n(.*?)```", GUIDE.read_text("utf-8"), re.S)
               if re.search(r"^sandbox = true", b, re.M)]
    return block


def test_without_a_config_the_server_refuses_to_start_naming_the_key(tmp_path):
    database = tmp_path / "never.db"
    result = subprocess.run([sys.executable, "-m", "server", "run", "--port", "0", "--db", str(database)],
                            cwd=ROOT, env=server_environment(), capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    [line] = result.stderr.splitlines()
    assert line.startswith("python -m server: 拒绝启动：没有配置文件（--config 或 SCANPAY_CONFIG），"
                           "channels.wechat.base_url 是 http://127.0.0.1:8091，不是 https 地址"), line
    assert "server.sandbox = true" in line and " / refusing to start: no config file" in line
    assert not database.exists()                    # refused before anything was opened


async def test_with_the_documented_sandbox_config_it_starts_and_says_so(tmp_path):
    config = tmp_path / "sandbox.toml"
    config.write_text(documented_sandbox_config(), "utf-8")
    server, port = await start_server("--config", str(config), "--db", str(tmp_path / "sandbox.db"),
                                      port_file=tmp_path / "port")
    try:
        async with aiohttp.ClientSession() as session:
            async with session.get(f"http://127.0.0.1:{port}/metrics") as response:
                assert response.status == 200
    finally:
        server.terminate()
        _, stderr = await server.communicate()
    assert "沙箱模式（server.sandbox = true）" in stderr.decode()


def test_an_enabled_channel_with_a_sandbox_address_or_credential_is_named():
    assert sandbox_refusal(load_settings(channels={"wechat": PRODUCTION_WECHAT})) is None
    cases = [
        ({"wechat": {**PRODUCTION_WECHAT, "appid": SANDBOX_APPID}}, "channels.wechat.appid 仍是沙箱的测试值"),
        ({"wechat": {**PRODUCTION_WECHAT, "api_key": "192006250b4c09247ec02edce69f6a2d"}}, "channels.wechat.api_key"),
        ({"wechat": {**PRODUCTION_WECHAT, "sns_url": "http://127.0.0.1:8091"}}, "channels.wechat.sns_url 是 http://"),
        ({"wechat": PRODUCTION_WECHAT,
          "alipay": {"enabled": True, "app_id": "2021", "app_private_key": "k", "alipay_public_key": "p"}},
         "channels.alipay.base_url 是 http://127.0.0.1:8092"),
    ]
    for channels, named in cases:
        refusal = sandbox_refusal(load_settings(channels=channels))
        assert refusal is not None and refusal.startswith("拒绝启动：" + named) and "\n" not in refusal, refusal
        assert "a-real-looking-key" not in refusal and "192006250b4c" not in refusal      # secrets never shown
    # a disabled channel's address is nobody's concern; a sandbox setup may use every sandbox value
    assert sandbox_refusal(load_settings(channels={"wechat": {**PRODUCTION_WECHAT, "enabled": False}})) is None
    assert sandbox_refusal(load_settings(server={"sandbox": True})) is None
    assert sandbox_refusal(load_settings()).startswith("拒绝启动：channels.wechat.base_url")
