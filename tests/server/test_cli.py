"""`python -m server`: register devices, run the server and take a payment through it, roll out firmware."""
import asyncio
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import aiohttp

from hw_sim import test_codes
from tests.loopback import start_server
from server import devices, rollouts
from hw_sim.device_client import sign_request
from server.devices import register_device
from server.settings import DatabaseSettings
from server.storage import open_storage

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
    assert listed.stdout.split("\n")[0].split("\t")[:6] == ["D0001", "M1", "active", "Tea House", "installed",
                                                             "flag=-"]
    assert key not in listed.stdout

    again = cli("device", "add", "--id", "D0001", "--merchant", "M1", "--store", "x", env=env)
    assert again.returncode == 1 and "exists already" in again.stderr
    bad = cli("device", "add", "--id", "D 1", "--merchant", "M1", "--store", "x", env=env)
    assert bad.returncode == 1 and bad.stderr.startswith("python -m server: ")


def test_device_list_shows_the_lifecycle_and_the_anti_switching_flag(tmp_path):
    db = tmp_path / "cli.db"
    env = {"SCANPAY_DB": str(db)}
    for device_id in ("D1", "D2", "D3"):
        added = cli("device", "add", "--id", device_id, "--merchant", "M1", "--store", "Tea House", env=env)
        assert added.returncode == 0, added.stderr

    async def happen() -> None:
        async with open_storage(DatabaseSettings(path=str(db))) as storage:
            await devices.raise_flag(storage, "D1", "moved", {"reason": "reported a place away from its store"})
            await devices.decommission(storage, "D2", actor="ops")
    asyncio.run(happen())
    rows = [line.split("\t") for line in cli("device", "list", env=env).stdout.splitlines()]
    assert [row[:6] for row in rows] == [
        ["D1", "M1", "active", "Tea House", "installed", "flag=moved"],
        ["D2", "M1", "disabled", "Tea House", "decommissioned", "flag=-"],
        ["D3", "M1", "active", "Tea House", "installed", "flag=-"],
    ]


async def test_run_on_port_0_serves_on_the_port_it_writes_and_logs(tmp_path):
    """`run --port 0 --port-file F`: the system's choice of port, in F once it serves and in the log line."""
    config = tmp_path / "scanpay.toml"
    config.write_text(f'[server]\nsandbox = true\n\n[database]\npath = "{tmp_path / "any.db"}"\n')
    port_file = tmp_path / "server.port"
    server, port = await start_server("--config", str(config), port_file=port_file)
    try:
        async with aiohttp.ClientSession() as session:
            async with session.get(f"http://127.0.0.1:{port}/healthz") as answer:
                assert answer.status == 200 and (await answer.json())["checks"]["database"] == "ok"
    finally:
        server.terminate()
        _, stderr = await server.communicate()
    log = stderr.decode()
    assert port != 0 and port_file.read_text() == f"{port}\n"
    assert f"正在监听 http://127.0.0.1:{port} / listening on http://127.0.0.1:{port}" in log, log
    assert not list(tmp_path.glob(".server.port*"))          # the temporary file was renamed, not left


def test_bad_config_file_is_reported(tmp_path):
    config = tmp_path / "bad.toml"
    config.write_text("[server]\nprot = 1\n")
    result = cli("run", "--config", str(config))
    assert result.returncode == 1 and "unknown key server.prot" in result.stderr


def test_a_port_that_cannot_be_served_is_said_before_anything_starts(tmp_path):
    database = tmp_path / "never.db"
    result = cli("run", "--port", "99999", "--db", str(database))
    assert result.returncode == 2 and "'99999' is not a port number (1-65535)" in result.stderr
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        result = cli("run", "--host", "127.0.0.1", "--port", str(port), "--db", str(database))
    assert result.returncode == 1 and f"cannot listen on 127.0.0.1:{port}" in result.stderr
    assert "Traceback" not in result.stderr and not database.exists()       # nothing opened, nothing migrated
    result = cli("run", "--port", "0", "--port-file", str(tmp_path / "missing" / "port"), "--db", str(database))
    assert result.returncode == 1 and "no folder for the port file" in result.stderr and not database.exists()


async def test_run_serves_the_device_api(tmp_path, sandbox):
    config = tmp_path / "scanpay.toml"
    config.write_text(f'[server]\nsandbox = true\n\n[database]\npath = "{tmp_path / "run.db"}"\n\n'
                      f'[channels.wechat]\nbase_url = "{sandbox.base_url}"\n')
    added = cli("device", "add", "--config", str(config), "--id", "D0001", "--merchant", "M1", "--store", "T")
    key = added.stdout.strip()
    server, port = await start_server("--config", str(config), port_file=tmp_path / "port")
    try:
        body = json.dumps({"order_no": "CLI1", "amount_fen": 1250,
                           "auth_code": test_codes.make_wechat_code(test_codes.SUCCESS)}).encode()
        async with aiohttp.ClientSession() as session:
            headers = {"Content-Type": "application/json", **sign_request("D0001", key, "/d/v1/pay", body)}
            async with session.post(f"http://127.0.0.1:{port}/d/v1/pay", data=body, headers=headers) as r:
                answer = await r.json()
        assert answer["order"]["status"] == "SUCCESS"
        assert len(sandbox.ledger.charges) == 1
    finally:
        server.terminate()
        _, stderr = await server.communicate()
    log = stderr.decode()
    assert "CLI1" in log
    # The payment code and the device key never reach the log.
    assert json.loads(body)["auth_code"] not in log and key not in log


def _fleet_with_a_release(db: Path) -> None:
    """Three scan boxes of one merchant and a published build 1.4.0 for their profile."""
    async def setup() -> None:
        async with open_storage(DatabaseSettings(path=str(db))) as storage:
            for device_id in ("D1", "D2", "D3"):
                await register_device(storage, device_id, "M1", "Tea House")
                await rollouts.set_device_profile(storage, device_id, "scan_box", None)
            await rollouts.add_release(storage, "scan_box", "1.4.0", "ab" * 32, "cd" * 64)
    asyncio.run(setup())


def _offers(db: Path) -> dict[str, list[str]]:
    """The update_firmware versions each device will be told of at its next heartbeat."""
    async def read() -> dict[str, list[str]]:
        async with open_storage(DatabaseSettings(path=str(db))) as storage:
            return {device_id: [c.args["version"] for c in await storage.pending_commands(device_id)
                                if c.kind == "update_firmware"] for device_id in ("D1", "D2", "D3")}
    return asyncio.run(read())


def test_rollout_by_group_then_share_then_stop(tmp_path):
    db = tmp_path / "ops.db"
    env = {"SCANPAY_DB": str(db)}
    _fleet_with_a_release(db)
    grouped = cli("device", "group", "--id", "D2", "--group", "pilot", env=env)
    assert grouped.returncode == 0, grouped.stderr

    started = cli("rollout", "start", "--profile", "scan_box", "--version", "1.4.0", "--threshold", "0.2",
                  "--groups", "pilot", env=env)
    assert started.returncode == 0, started.stderr
    rollout_id = started.stdout.strip()
    assert "offered it to 1 devices" in started.stderr
    assert _offers(db) == {"D1": [], "D2": ["1.4.0"], "D3": []}   # the pilot group only

    status = json.loads(cli("rollout", "status", rollout_id, "--json", env=env).stdout)
    assert (status["state"], status["offered"], len(status["stages"])) == ("running", 1, 1)

    more = cli("rollout", "stage", rollout_id, "--share", "1", "--last", env=env)
    assert more.returncode == 0 and "stage 2 offered the build to 2 more devices" in more.stderr
    assert _offers(db) == {"D1": ["1.4.0"], "D2": ["1.4.0"], "D3": ["1.4.0"]}
    table = cli("rollout", "status", rollout_id, env=env).stdout
    assert "final_stage" in table and table.splitlines()[-1].split("\t")[:2] == ["total", "3"]
    listed = cli("rollout", "list", env=env).stdout.split("\t")
    assert listed[:4] == [rollout_id, "scan_box", "1.4.0", "final_stage"]

    stopped = cli("rollout", "stop", rollout_id, "--reason", "bad batch", env=env)
    assert stopped.returncode == 0, stopped.stderr
    assert _offers(db) == {"D1": [], "D2": [], "D3": []}   # offers not yet taken are withdrawn
    status = json.loads(cli("rollout", "status", rollout_id, "--json", env=env).stdout)
    assert (status["state"], status["reason"], status["withdrawn"]) == ("stopped", "bad batch", 3)
    again = cli("rollout", "stop", rollout_id, env=env)
    assert again.returncode == 1 and "stopped already: bad batch" in again.stderr
    late = cli("rollout", "stage", rollout_id, "--share", "1", env=env)
    assert late.returncode == 1 and "is stopped" in late.stderr


def test_rollout_and_group_commands_refuse_what_cannot_be_done(tmp_path):
    db = tmp_path / "ops.db"
    env = {"SCANPAY_DB": str(db)}
    _fleet_with_a_release(db)
    unpublished = cli("rollout", "start", "--profile", "scan_box", "--version", "9.9.9", "--threshold", "0.1",
                      "--share", "0.5", env=env)
    assert unpublished.returncode == 1 and "has not been published" in unpublished.stderr
    both = cli("rollout", "start", "--profile", "scan_box", "--version", "1.4.0", "--threshold", "0.1",
               "--share", "0.5", "--groups", "pilot", env=env)
    assert both.returncode == 1 and "either --share or --groups" in both.stderr
    threshold = cli("rollout", "start", "--profile", "scan_box", "--version", "1.4.0", "--threshold", "2",
                    "--share", "0.5", env=env)
    assert threshold.returncode == 1 and "--threshold" in threshold.stderr
    assert cli("rollout", "list", env=env).stdout == ""     # nothing was started
    assert _offers(db) == {"D1": [], "D2": [], "D3": []}

    unknown = cli("rollout", "status", "R404", env=env)
    assert unknown.returncode == 1 and "no rollout R404" in unknown.stderr
    nobody = cli("device", "group", "--id", "D404", "--group", "pilot", env=env)
    assert nobody.returncode == 1 and "no device D404" in nobody.stderr
    bad_name = cli("device", "group", "--id", "D1", "--group", "no spaces", env=env)
    assert bad_name.returncode == 1 and "--group" in bad_name.stderr
    cleared = cli("device", "group", "--id", "D1", "--no-group", env=env)
    assert cleared.returncode == 0 and "no group" in cleared.stderr


def test_merchant_channel_open_close_list(tmp_path):
    env = {"SCANPAY_DB": str(tmp_path / "cli.db")}
    assert cli("merchant", "add", "--id", "M1", "--name", "Tea House", env=env).returncode == 0
    opened = cli("merchant", "channel", "open", "--merchant", "M1", "--channel", "alipay",
                 "--account", "2088000000000001", env=env)
    assert opened.returncode == 0, opened.stderr
    assert opened.stdout.splitlines() == ["alipay\topen\t2088000000000001\t-\tdirect\tfee=-"]
    fee = cli("merchant", "channel", "open", "--merchant", "M1", "--channel", "alipay", "--account",
              "2088000000000001", "--fee-ppm", "3800", env=env)
    assert fee.stdout.splitlines() == ["alipay\topen\t2088000000000001\t-\tdirect\tfee=0.38%"]
    closed = cli("merchant", "channel", "close", "--merchant", "M1", "--channel", "alipay", env=env)
    assert closed.stdout.splitlines() == ["alipay\tclosed\t2088000000000001\t-\tdirect\tfee=0.38%"]
    bad = cli("merchant", "channel", "open", "--merchant", "M1", "--channel", "wechat", "--account", "12", env=env)
    assert bad.returncode == 1 and "not a wechat sub-merchant id" in bad.stderr
    missing = cli("merchant", "channel", "open", "--merchant", "M9", "--channel", "alipay", env=env)
    assert missing.returncode == 1 and "no merchant M9" in missing.stderr


def test_a_merchant_from_phone_number_to_tier_3(tmp_path):
    import io
    from PIL import Image
    config = tmp_path / "scanpay.toml"
    config.write_text(f'[database]\npath = "{tmp_path / "cli.db"}"\n\n'
                      f'[merchants]\nevidence_dir = "{tmp_path / "evidence"}"\n')
    photo = tmp_path / "id.jpg"
    buffer = io.BytesIO()
    Image.new("RGB", (40, 30), (10, 20, 30)).save(buffer, "JPEG")
    photo.write_bytes(buffer.getvalue())
    registered = cli("merchant", "register", "--config", str(config), "--phone", "13800138000", "--name", "老王茶馆")
    assert registered.returncode == 0, registered.stderr
    merchant_id = registered.stdout.strip()
    assert merchant_id.startswith("M") and len(merchant_id) == 11
    early = cli("merchant", "tier", "--config", str(config), "--id", merchant_id, "--tier", "3")
    assert early.returncode == 1 and "needs id_photo, business_licence, shop_photo" in early.stderr
    for kind in ("id_photo", "business_licence", "shop_photo"):
        added = cli("merchant", "evidence", "add", "--config", str(config), "--id", merchant_id, "--kind", kind,
                    "--file", str(photo), "--actor", "ops1")
        assert added.returncode == 0, added.stderr
    assert len(added.stdout.splitlines()) == 3
    verified = cli("merchant", "tier", "--config", str(config), "--id", merchant_id, "--tier", "3", "--actor", "ops1")
    assert verified.returncode == 0, verified.stderr
    again = cli("merchant", "register", "--config", str(config), "--phone", "138 0013 8000", "--name", "x")
    assert again.returncode == 1 and "registered already" in again.stderr


def test_stock_to_store_and_a_printed_code_bound_there(tmp_path):
    from pyzbar.pyzbar import decode
    from tests.sheets import rendered_pages
    env = {"SCANPAY_DB": str(tmp_path / "cli.db")}
    merchant = cli("merchant", "register", "--phone", "13800138000", "--name", "老王茶馆", env=env).stdout.strip()
    store = cli("store", "add", "--merchant", merchant, "--name", "南京路店", "--address", "南京东路 1 号", env=env)
    assert store.returncode == 0, store.stderr
    store_id = store.stdout.strip()
    delivery = tmp_path / "delivery.csv"
    delivery.write_text("serial,model\nSP0001,box-e2\nSP 2,box-e2\nSP0001,x\n", encoding="utf-8")
    refused = cli("stock", "receive", "--csv", str(delivery), env=env)
    assert refused.returncode == 1 and "line 3:" in refused.stderr and "line 4: serial SP0001 is on line 2" \
        in refused.stderr
    assert cli("stock", "list", env=env).stdout == ""                 # nothing of a bad file is received
    delivery.write_text("\ufeffserial,model\nSP0001,box-e2\nSP0002,\n", encoding="utf-8")
    assert cli("stock", "receive", "--csv", str(delivery), "--batch", "2026-12", env=env).returncode == 0
    assert [line.split("\t")[:3] for line in cli("stock", "list", env=env).stdout.splitlines()] == [
        ["SP0001", "box-e2", "2026-12"], ["SP0002", "-", "2026-12"]]
    assigned = cli("device", "assign", "--id", "SP0001", "--merchant", merchant, "--store-id", store_id, env=env)
    assert assigned.returncode == 0, assigned.stderr
    sheet = tmp_path / "codes.pdf"
    printed = cli("code", "print", "--count", "2", "--pdf", str(sheet), env=env)
    assert printed.returncode == 0, printed.stderr
    ids = [line.split("\t")[0] for line in printed.stdout.splitlines()]
    scanned = {symbol.data.decode() for page in rendered_pages(sheet.read_bytes()) for symbol in decode(page)}
    assert {url.rsplit("/", 1)[1] for url in scanned} == set(ids)
    typed = ids[0][:5].lower() + " " + ids[0][5:].lower()             # as read off the sticker
    bound = cli("code", "bind", "--code", typed, "--store", store_id, env=env)
    assert bound.stdout.split("\t")[:5] == [ids[0], "bound", merchant, store_id, "SP0001"], bound.stderr
    closing = cli("store", "close", "--id", store_id, env=env)
    assert closing.returncode == 1 and "still has 1 devices and 1 bound codes" in closing.stderr
    ended = cli("code", "deregister", "--code", ids[0], "--reason", "lost", env=env)
    assert ended.stdout.split("\t")[1] == "deregistered"
    again = cli("code", "bind", "--code", ids[0], "--store", store_id, env=env)
    assert again.returncode == 1 and "only an empty code can be bound" in again.stderr
