"""provision and release against the real server (its operations API, docs/operations.md) on loopback
with SQLite, and a fleet of simulated devices that take the offered update the way firmware/core/ota.py
does: signed heartbeats, the signed firmware URL, `ota_report` steps, the new version in the heartbeat.
A bad release (every third device fails) is stopped by the threshold."""
import asyncio
import hashlib
import json
import socket
import threading
import time
import urllib.error
import urllib.request

import pytest
from aiohttp import web
from tests.tools.conftest import tools

from server.app import create_app
from hw_sim.device_client import sign_request
from server.settings import load_settings
from tools import release

TOKEN = "ops-secret-0123456789"


class LiveServer:
    """The real app in a thread of its own, on a loopback port."""

    def __init__(self, tmp_path, release_pub, min_settled=3):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.settings = load_settings(
            database={"path": str(tmp_path / "scanpay.db")}, resolver={"enabled": False},
            device_api={"public_url": self.url},
            ops={"tokens": [TOKEN], "release_public_key": release_pub, "firmware_dir": str(tmp_path / "fw"),
                 "min_settled": min_settled})
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self.loop).result(30)

    async def _start(self):
        self.runner = web.AppRunner(create_app(self.settings))
        await self.runner.setup()
        await web.SockSite(self.runner, self.sock).start()

    def close(self):
        asyncio.run_coroutine_threadsafe(self.runner.cleanup(), self.loop).result(30)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        self.loop.close()

    def ops(self, method, path, body=None):
        request = urllib.request.Request(self.url + path, method=method, data=json.dumps(body).encode()
                                         if body is not None else None,
                                         headers={"Authorization": "Bearer " + TOKEN,
                                                  "Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.loads(response.read())


class Fleet:
    """Devices that heartbeat in a loop and install what they are offered; with `bad`, every third one
    (by number) reports a failed install instead."""

    def __init__(self, server, count, groups=None):
        self.server = server
        self.devices = {}
        self.bad = False
        self.fetched = 0
        self.stopping = threading.Event()
        for i in range(count):
            device_id = f"F{i:03d}"
            answer = server.ops("POST", "/ops/v1/devices", {
                "device_id": device_id, "profile": "enhanced_box", "merchant_id": "M1", "store": f"Shop {i}",
                "issue": "key", "group": (groups or {}).get(i)})
            self.devices[device_id] = {"key": answer["device_key"], "n": i, "firmware": "0.2.0", "acked": []}
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def call(self, device_id, op, message):
        body = json.dumps(message).encode()
        path = "/d/v1/" + op
        headers = {"Content-Type": "application/json",
                   **sign_request(device_id, self.devices[device_id]["key"], path, body)}
        request = urllib.request.Request(self.server.url + path, data=body, headers=headers, method="POST")
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.loads(response.read())

    def get(self, url):
        with urllib.request.urlopen(self.server.url + "/" + url.split("://", 1)[1].split("/", 1)[1],
                                    timeout=10) as response:
            return response.read()

    def _run(self):
        while not self.stopping.is_set():
            for device_id, device in self.devices.items():
                answer = self.call(device_id, "heartbeat", {"firmware": device["firmware"],
                                                            "acked": device.pop("acked")})
                device["acked"] = []
                for command in answer["commands"]:
                    device["acked"].append(command["id"])
                    if command["kind"] == "update_firmware":
                        self._install(device_id, device, command["args"])
            time.sleep(0.02)

    def _install(self, device_id, device, offer):
        version = offer["version"]
        self.call(device_id, "ota_report", {"version": version, "step": "offer"})
        manifest = self.get(offer["url"])
        assert hashlib.sha256(manifest).hexdigest() == offer["sha256"]
        base = offer["url"].rsplit("/", 1)[0]
        for rel, entry in sorted(json.loads(manifest)["files"].items())[:2]:
            assert hashlib.sha256(self.get(base + "/files/" + rel)).hexdigest() == entry["sha256"]
        self.fetched += 1
        if self.bad and device["n"] % 3 == 0:
            self.call(device_id, "ota_report", {"version": version, "step": "failed", "detail": "sha256 differs"})
        else:
            self.call(device_id, "ota_report", {"version": version, "step": "reboot"})
            device["firmware"] = version        # the next heartbeat reports it: updated

    def close(self):
        self.stopping.set()
        self.thread.join(10)


@pytest.fixture
def server(tmp_path, bundle):
    live = LiveServer(tmp_path, (bundle / "release.pub").read_text().strip())
    yield live
    live.close()


@pytest.fixture
def fleet(server):
    fleet = Fleet(server, 30, groups={i: "pilot" for i in (25, 26, 27, 28, 29)})
    yield fleet
    fleet.close()


def test_provision_writes_the_device_config(server, tmp_path):
    out = tmp_path / "D0009.json"
    result = tools("provision", "--server", server.url, "--token", TOKEN, "--device-id", "D0009",
                   "--profile", "enhanced_box", "--merchant", "M1", "--issue-key", "--wifi-ssid", "shop",
                   "--out", out)
    assert result.returncode == 0, result.stderr
    config = json.loads(out.read_text())
    key = config.pop("device_key")
    assert config == {"profile": "enhanced_box", "device_id": "D0009", "server_url": server.url,
                      "wifi": {"ssid": "shop", "password": ""}}
    assert oct(out.stat().st_mode & 0o777) == "0o600"
    # the key works: a signed heartbeat is accepted
    body = b"{}"
    request = urllib.request.Request(server.url + "/d/v1/heartbeat", data=body, method="POST", headers={
        "Content-Type": "application/json", **sign_request("D0009", key, "/d/v1/heartbeat", body)})
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 200
    result = tools("provision", "--server", server.url, "--token", TOKEN, "--device-id", "D0010",
                   "--profile", "qr_stand", "--merchant", "M1", "--out", tmp_path / "D0010.json")
    assert result.returncode == 0, result.stderr
    code = json.loads((tmp_path / "D0010.json").read_text())["activation_code"]
    request = urllib.request.Request(server.url + "/d/v1/activate", method="POST", headers={
        "Content-Type": "application/json"}, data=json.dumps({"activation_code": code}).encode())
    with urllib.request.urlopen(request, timeout=10) as response:
        assert json.loads(response.read())["device_id"] == "D0010"
    result = tools("provision", "--server", server.url, "--token", TOKEN, "--device-id", "D0010",
                   "--profile", "qr_stand", "--merchant", "M1", "--out", tmp_path / "again.json")
    assert result.returncode == 1 and "HTTP 409 device_exists" in result.stderr


def test_wrong_token_and_unreachable_server_are_clear_errors(server, tmp_path):
    result = tools("provision", "--server", server.url, "--token", "nope", "--device-id", "D1",
                   "--profile", "enhanced_box", "--merchant", "M1", "--out", tmp_path / "c.json")
    assert result.returncode == 1
    assert result.stderr.startswith("tools: POST /ops/v1/devices: HTTP 401 unauthorized: bad operator token")
    result = tools("provision", "--server", "http://127.0.0.1:9", "--token", TOKEN, "--device-id", "D1",
                   "--profile", "enhanced_box", "--merchant", "M1", "--out", tmp_path / "c.json")
    assert result.returncode == 1 and "cannot reach" in result.stderr
    assert not (tmp_path / "c.json").exists()


def test_good_release_rolls_out_every_stage(server, fleet, bundle):
    result = tools("release", "--server", server.url, "--token", TOKEN, "--bundle", bundle,
                   "--stages", "group:pilot,10%,100%", "--poll", "0.1", "--min-settled", "3")
    assert result.returncode == 0, result.stderr
    assert "complete: 30 devices updated, 0 failed, 0 rolled back" in result.stdout
    assert "stage 1/3 (groups pilot): offered to 5 devices" in result.stdout
    rollout_id = result.stdout.split("rollout ", 1)[1].split()[0]
    status = server.ops("GET", "/ops/v1/rollouts/" + rollout_id)
    assert (status["state"], status["offered"], status["updated"], status["failed"]) == ("complete", 30, 30, 0)
    assert [s["offered"] for s in status["stages"]] == [5, 0, 25]        # 10% of 30 were offered already
    assert fleet.fetched == 30


def test_bad_release_stopped_by_the_threshold(server, fleet, bundle):
    fleet.bad = True
    result = tools("release", "--server", server.url, "--token", TOKEN, "--bundle", bundle,
                   "--stages", "10%,50%,100%", "--threshold", "0.2", "--poll", "0.1", "--min-settled", "3")
    assert result.returncode == 1
    assert "stopped: failure rate 33.3% passed the threshold 20.0% at stage 1" in result.stderr
    rollout_id = result.stderr.split("rollout ", 1)[1].split()[0]
    status = server.ops("GET", "/ops/v1/rollouts/" + rollout_id)
    assert (status["state"], status["offered"], status["failed"], status["updated"]) == ("stopped", 3, 1, 2)


def test_stage_parsing():
    assert release.parse_stages("group:pilot+shop9, 25%,100%") == [
        {"groups": ["pilot", "shop9"]}, {"share": 0.25}, {"share": 1.0}]
    for bad in ("", "0%", "150%", "ten", "group:"):
        with pytest.raises(ValueError):
            release.parse_stages(bad)


def _publish_and_roll(server, bundle):
    with open(str(bundle) + ".tar.gz", "rb") as f:
        request = urllib.request.Request(server.url + "/ops/v1/firmware/enhanced_box/0.3.0", data=f.read(),
                                         method="PUT", headers={"Authorization": "Bearer " + TOKEN,
                                                                "Content-Type": "application/gzip"})
    with urllib.request.urlopen(request, timeout=30):
        pass
    return server.ops("POST", "/ops/v1/rollouts", {"profile": "enhanced_box", "version": "0.3.0",
                                                   "failure_threshold": 0.5})["id"]


def _settled(server, rollout_id, offered):
    for _ in range(500):
        status = server.ops("GET", "/ops/v1/rollouts/" + rollout_id)
        if status["updated"] + status["failed"] + status["rolled_back"] >= offered:
            return status
        time.sleep(0.02)
    raise AssertionError("stage did not settle: %r" % status)


def test_rollout_completes_once_its_last_stage_has_settled(server, fleet, bundle):
    rollout_id = _publish_and_roll(server, bundle)
    server.ops("POST", "/ops/v1/rollouts/%s/stages" % rollout_id, {"groups": ["pilot"]})
    status = _settled(server, rollout_id, 5)
    # every device offered so far has settled, but more stages may follow: not complete
    assert (status["state"], status["updated"]) == ("running", 5)
    server.ops("POST", "/ops/v1/rollouts/%s/stages" % rollout_id, {"share": 0.5, "last": True})
    assert server.ops("GET", "/ops/v1/rollouts/" + rollout_id)["state"] in ("final_stage", "complete")
    status = _settled(server, rollout_id, 15)
    for _ in range(100):
        if status["state"] == "complete":
            break
        time.sleep(0.02)
        status = server.ops("GET", "/ops/v1/rollouts/" + rollout_id)
    assert (status["state"], status["offered"], status["updated"]) == ("complete", 15, 15)
    # after the last stage nothing more is offered, and a complete rollout cannot be stopped
    try:
        server.ops("POST", "/ops/v1/rollouts/%s/stages" % rollout_id, {"share": 1.0})
        raise AssertionError("a stage after the last one was accepted")
    except urllib.error.HTTPError as e:
        assert (e.code, json.loads(e.read())["error"]["code"]) == (409, "rollout_final")
    assert server.ops("POST", "/ops/v1/rollouts/%s/stop" % rollout_id, {"reason": "late"})["state"] == "complete"
