"""Server benchmarks (`make bench`): printed and written to var/bench/server.json. Not timed tests.

Everything runs side by side on this machine, each in its own process: the WeChat sandbox, the
server(s), a bare aiohttp echo server and the load generator (tests/bench/server_loadgen.py).
    1. pay throughput, one process on SQLite, against the echo handler in the same run
    2. long polls: server RSS while N are held, wake latency close -> answer, against 5-second polling
    3. bytes on the wire per transaction (pay + query, headers and signing included), CBOR vs JSON
    4. pay throughput on PostgreSQL: two processes against one
Each pay run also says where the CPU went: milliseconds per payment of the sandbox, each server,
PostgreSQL and the load generator (on 2 shared cores, their sum bounds the rate whatever the processes).
BENCH_LONG_POLLS (default 10000) and BENCH_SECONDS (default 5) scale it.
"""
from __future__ import annotations

import asyncio
import json
import os
import resource
import secrets
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import asyncpg
import cbor2

from hw_sim import test_codes
from hw_sim.device_client import sign_request
from server.devices import register_device
from server.settings import DatabaseSettings
from server.storage import open_storage
from tests.loopback import SERVER_START_S, port_written, server_environment

ROOT = Path(__file__).resolve().parents[2]
LOADGEN = ["-m", "tests.bench.server_loadgen"]     # run in ROOT: tests/ is a package there
PG_URL = os.environ.get("SCANPAY_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
SECONDS = float(os.environ.get("BENCH_SECONDS", "5"))
LONG_POLLS = int(os.environ.get("BENCH_LONG_POLLS", "10000"))
OUT = ROOT / "var" / "bench" / "server.json"

ECHO_SERVER = """
import sys
from aiohttp import web
from server import listening
async def echo(request):
    return web.Response(body=await request.read(), content_type="application/json")
app = web.Application()
app.router.add_post("/echo", echo)
listener = listening.bind("127.0.0.1", int(sys.argv[2]))        # sys.argv: -c --port 0 --port-file F
listening.say_when_started(app, listener, sys.argv[4])
web.run_app(app, sock=listener, print=None, access_log=None)
"""


class Processes:
    def __init__(self, tmp: Path):
        self.tmp = tmp
        self.children: list[subprocess.Popen] = []

    def start(self, name: str, *argv: str) -> tuple[subprocess.Popen, int]:
        """`python *argv --port 0 --port-file F`, its output in name.log: the process, once it serves, and its
        port."""
        port_file = self.tmp / f"{name}.port"
        port_file.unlink(missing_ok=True)
        with open(self.tmp / f"{name}.log", "ab") as log:
            child = subprocess.Popen([sys.executable, *argv, "--port", "0", "--port-file", str(port_file)], cwd=ROOT,
                                     env=server_environment(), stdout=log, stderr=log)
        self.children.append(child)
        deadline = time.monotonic() + SERVER_START_S
        while (port := port_written(port_file)) is None:
            assert child.poll() is None and time.monotonic() < deadline, f"{name} did not start: see {name}.log"
            time.sleep(0.05)
        return child, port

    def stop(self, child: subprocess.Popen) -> None:
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)
            try:
                child.wait(10)
            except subprocess.TimeoutExpired:
                child.kill()

    def stop_all(self) -> None:
        for child in self.children:
            self.stop(child)


def server_config(tmp: Path, name: str, database: dict, sandbox_url: str) -> Path:
    table = "\n".join(f"{k} = {json.dumps(v)}" for k, v in database.items())
    path = tmp / f"{name}.toml"
    path.write_text(f"""[server]
sandbox = true

[database]
{table}

[device_api]
max_wait_s = 300

[logging]
level = "WARNING"

[channels.wechat]
base_url = "{sandbox_url}"
query_interval_s = 600.0
deadline_s = 900.0
cancel_retry_s = 0.0
""")
    return path


def loadgen(*args: str) -> dict:
    out = subprocess.run([sys.executable, *LOADGEN, *args], cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def postgres_cpu_seconds() -> float:
    """CPU time of every PostgreSQL process on this machine (the server and its backends)."""
    total = 0.0
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and (entry / "comm").read_text().strip() == "postgres":
                total += cpu_seconds(int(entry.name))
        except OSError:
            pass   # gone meanwhile
    return total


def pay_run(processes: dict[str, subprocess.Popen], *args: str) -> dict:
    """A pay load run, and where its CPU went: milliseconds per payment of each process (and of the
    load generator and PostgreSQL), so a rate can be read against what the 2 cores had to give."""
    before = {name: cpu_seconds(child.pid) for name, child in processes.items()}
    pg_before = postgres_cpu_seconds()
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    result = loadgen("pay", *args)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    used = {name: cpu_seconds(child.pid) - before[name] for name, child in processes.items()}
    used["postgresql"] = postgres_cpu_seconds() - pg_before
    used["loadgen"] = after.ru_utime + after.ru_stime - children.ru_utime - children.ru_stime
    done = max(result["done"], 1)
    result["cpu_ms_per_payment"] = {name: round(1000 * seconds / done, 3) for name, seconds in used.items()}
    result["cpu_cores_used"] = {name: round(seconds / result["seconds"], 2) for name, seconds in used.items()}
    return result


FLEET = 32   # devices, each of its own merchant, sending payments at once


def add_devices(database: dict, tmp: Path) -> tuple[str, str]:
    """The long-poll device's key, and a file listing the fleet's [device id, key] pairs."""
    async def add() -> tuple[str, list]:
        async with open_storage(DatabaseSettings(**database)) as storage:
            key = await register_device(storage, "BENCH", "MB", "Bench store")
            fleet = [[f"F{i}", await register_device(storage, f"F{i}", f"MF{i}", f"Shop {i}")] for i in range(FLEET)]
            return key, fleet
    key, fleet = asyncio.run(add())
    path = tmp / f"fleet-{secrets.token_hex(3)}.json"
    path.write_text(json.dumps(fleet))
    return key, str(path)


def wire_bytes(port: int, key_hex: str, fmt: str) -> dict:
    """Bytes of one pay and one query, request and answer, exactly as they cross the socket."""
    content_type = f"application/{fmt}"
    encode = cbor2.dumps if fmt == "cbor" else (lambda m: json.dumps(m, separators=(",", ":")).encode())
    order_no = "W" + secrets.token_hex(4)
    totals = {"sent": 0, "received": 0}
    with socket.create_connection(("127.0.0.1", port)) as sock:
        for op, message in (("pay", {"order_no": order_no, "amount_fen": 1250,
                                     "auth_code": test_codes.make_wechat_code(test_codes.SUCCESS)}),
                            ("query", {"order_no": order_no, "wait": 0})):
            body = encode(message)
            headers = sign_request("BENCH", key_hex, f"/d/v1/{op}", body)
            head = (f"POST /d/v1/{op} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: {content_type}\r\n"
                    f"Content-Length: {len(body)}\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items())
                    + "\r\n").encode()
            sock.sendall(head + body)
            totals["sent"] += len(head) + len(body)
            answer = b""
            while b"\r\n\r\n" not in answer:
                answer += sock.recv(65536)
            head_end = answer.index(b"\r\n\r\n") + 4
            length = next(int(line.split(b":")[1]) for line in answer[:head_end].split(b"\r\n")
                          if line.lower().startswith(b"content-length"))
            while len(answer) < head_end + length:
                answer += sock.recv(65536)
            totals["received"] += len(answer)
    totals["total"] = totals["sent"] + totals["received"]
    return totals


def test_server_benchmarks(tmp_path):
    procs = Processes(tmp_path)
    results: dict = {"machine": {"cpus": os.cpu_count()}, "seconds_per_run": SECONDS}
    schema = f"bench_{os.getpid()}"
    try:
        sandbox, sandbox_port = procs.start("sandbox", "-m", "hw_sim.sandbox")
        sandbox_url = f"http://127.0.0.1:{sandbox_port}"

        # 1. pay throughput on SQLite against a bare echo handler
        echo, echo_port = procs.start("echo", "-c", ECHO_SERVER)
        results["echo"] = loadgen("echo", "--urls", f"http://127.0.0.1:{echo_port}", "--seconds", str(SECONDS))
        procs.stop(echo)

        sqlite_db = {"path": str(tmp_path / "bench.db")}
        key, fleet = add_devices(sqlite_db, tmp_path)
        server, port = procs.start("server-sqlite", "-m", "server", "run", "--config",
                                   str(server_config(tmp_path, "sqlite", sqlite_db, sandbox_url)))
        url = f"http://127.0.0.1:{port}"
        results["pay_sqlite_1proc"] = pay_run({"sandbox": sandbox, "server": server},
                                              "--urls", url, "--devices-file", fleet, "--seconds", str(SECONDS))
        results["pay_sqlite_1proc"]["share_of_echo"] = results["pay_sqlite_1proc"]["rate"] / results["echo"]["rate"]

        # 3. bytes on the wire
        results["wire_bytes"] = {fmt: wire_bytes(port, key, fmt) for fmt in ("json", "cbor")}

        # 2. long polls held, wake latency, against fixed 5 s polling
        results["long_polls"] = loadgen("longpoll", "--urls", url, "--key", key, "--orders", str(LONG_POLLS),
                                        "--server-pid", str(server.pid))
        results["poll_every_5s"] = loadgen("poll5", "--urls", url, "--key", key, "--orders", "200")
        procs.stop(server)

        # 4. PostgreSQL: one process, then two
        pg_db = {"path": PG_URL, "schema": schema}
        key, fleet = add_devices(pg_db, tmp_path)
        urls, servers = [], {}
        for i in range(2):
            servers[f"server{i}"], port = procs.start(
                f"server-pg{i}", "-m", "server", "run", "--config",
                str(server_config(tmp_path, f"pg{i}", pg_db, sandbox_url)))
            urls.append(f"http://127.0.0.1:{port}")
        results["pay_pg_1proc"] = pay_run({"sandbox": sandbox, "server0": servers["server0"]},
                                          "--urls", urls[0], "--devices-file", fleet, "--seconds", str(SECONDS))
        results["pay_pg_2proc"] = pay_run({"sandbox": sandbox, **servers}, "--urls", ",".join(urls),
                                          "--devices-file", fleet, "--seconds", str(SECONDS))
        results["pay_pg_2proc"]["ratio_to_1proc"] = results["pay_pg_2proc"]["rate"] / results["pay_pg_1proc"]["rate"]
    finally:
        procs.stop_all()
        asyncio.run(_drop_schema(schema))

    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(results, indent=2))
    print()
    print(f"server benchmarks ({os.cpu_count()} cores shared by sandbox, server(s), load generator; {OUT}):")
    print(f"  echo                      {results['echo']['rate']:8.0f} req/s")
    pay1 = results["pay_sqlite_1proc"]
    print(f"  pay, SQLite, 1 process    {pay1['rate']:8.0f} payments/s ({pay1['share_of_echo']:.1%} of echo), "
          f"{pay1['errors']} errors")
    lp = results["long_polls"]
    print(f"  long polls held           {lp['held']:8.0f} ; server RSS {lp['rss_mb_held']:.0f} MB "
          f"(before {lp['rss_mb_before']:.0f} MB)")
    print(f"  wake latency, long poll   p50 {lp['wake_ms_p50']:.1f} ms, p99 {lp['wake_ms_p99']:.1f} ms "
          f"({lp['answered']} answered)")
    p5 = results["poll_every_5s"]
    print(f"  wake latency, 5 s polling p50 {p5['wake_ms_p50']:.0f} ms, p99 {p5['wake_ms_p99']:.0f} ms")
    for fmt, counts in results["wire_bytes"].items():
        print(f"  bytes pay+query, {fmt:4s}    {counts['total']:5d} (sent {counts['sent']}, received "
              f"{counts['received']})")
    print(f"  pay, PostgreSQL, 1 proc   {results['pay_pg_1proc']['rate']:8.0f} payments/s")
    print(f"  pay, PostgreSQL, 2 procs  {results['pay_pg_2proc']['rate']:8.0f} payments/s "
          f"({results['pay_pg_2proc']['ratio_to_1proc']:.2f}x)")
    for run in ("pay_sqlite_1proc", "pay_pg_1proc", "pay_pg_2proc"):
        where = ", ".join(f"{name} {ms:.2f}" for name, ms in results[run]["cpu_ms_per_payment"].items() if ms > 0.005)
        print(f"  CPU ms per payment, {run:16s} {where}")


async def _drop_schema(schema: str) -> None:
    conn = await asyncpg.connect(PG_URL)
    try:
        await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    finally:
        await conn.close()
