"""`python -m server`: register devices, then run the server and take a payment through it."""
import asyncio
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import aiohttp

from hw_sim import test_codes
from server.device_auth import sign_request

ROOT = Path(__file__).resolve().parents[2]


def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("SCANPAY_")}
    environment.update(env or {})
    return subprocess.run([sys.executable, "-m", "server", *args], cwd=ROOT, env=environment,
                          capture_output=True, text=True, timeout=60)


def test_device_add_prints_a_key_and_list_shows_the_device(tmp_path):
    env = {"SCANPAY_DB": str(tmp_path / "cli.db")}
    added = cli("device", "add", "--id", "D0001", "--merchant", "M1", "--store", "Tea House", env=env)
    assert added.returncode == 0, added.stderr
    key = added.stdout.strip()
    assert len(key) == 64 and int(key, 16) >= 0
    listed = cli("device", "list", env=env)
    assert listed.stdout.split("\n")[0].split("\t")[:4] == ["D0001", "M1", "active", "Tea House"]
    assert key not in listed.stdout

    again = cli("device", "add", "--id", "D0001", "--merchant", "M1", "--store", "x", env=env)
    assert again.returncode == 1 and "exists already" in again.stderr
    bad = cli("device", "add", "--id", "D 1", "--merchant", "M1", "--store", "x", env=env)
    assert bad.returncode == 1 and bad.stderr.startswith("python -m server: ")


def test_bad_config_file_is_reported(tmp_path):
    config = tmp_path / "bad.toml"
    config.write_text("[server]\nprot = 1\n")
    result = cli("run", "--config", str(config))
    assert result.returncode == 1 and "unknown key server.prot" in result.stderr


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def test_run_serves_the_device_api(tmp_path, sandbox):
    config = tmp_path / "scanpay.toml"
    config.write_text(f'[database]\npath = "{tmp_path / "run.db"}"\n\n'
                      f'[channels.wechat]\nbase_url = "{sandbox.base_url}"\n')
    added = cli("device", "add", "--config", str(config), "--id", "D0001", "--merchant", "M1", "--store", "T")
    key = added.stdout.strip()
    port = free_port()
    environment = {k: v for k, v in os.environ.items() if not k.startswith("SCANPAY_")}
    server = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "server", "run", "--config", str(config), "--port", str(port), cwd=ROOT,
        env=environment, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
    try:
        body = json.dumps({"order_no": "CLI1", "amount_fen": 1250,
                           "auth_code": test_codes.make_wechat_code(test_codes.SUCCESS)}).encode()
        async with aiohttp.ClientSession() as session:
            for _ in range(100):
                try:
                    headers = {"Content-Type": "application/json",
                               **sign_request("D0001", key, "/d/v1/pay", body)}
                    async with session.post(f"http://127.0.0.1:{port}/d/v1/pay", data=body, headers=headers) as r:
                        answer = await r.json()
                        break
                except aiohttp.ClientConnectionError:
                    await asyncio.sleep(0.1)
            else:
                raise AssertionError("the server never came up")
        assert answer["order"]["status"] == "SUCCESS"
        assert len(sandbox.ledger.charges) == 1
    finally:
        server.terminate()
        _, stderr = await server.communicate()
    log = stderr.decode()
    assert "CLI1" in log
    # The payment code and the device key never reach the log.
    assert json.loads(body)["auth_code"] not in log and key not in log
