"""provision and release against a stand-in for the server's operations API (the contract in
docs/tools.md; the real server does not have it yet): a bad release is stopped by the threshold."""
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from conftest import tools
from tools import release

TOKEN = "ops-secret"


class OpsStandIn:
    """Devices of one profile; each stage offers the build to some of them, which then end as the
    build's `outcome` decides (every third device fails for a bad build)."""

    def __init__(self, devices=100, bad=False):
        self.devices = devices
        self.bad = bad
        self.calls = []
        self.uploaded = None
        self.offered = 0
        self.stopped = None

    def handle(self, method, path, body):
        self.calls.append((method, path))
        if method == "POST" and path == "/ops/v1/devices":
            answer = {"device_id": body["device_id"], "server_url": "https://pay.example.com"}
            answer["device_key" if body["issue"] == "key" else "activation_code"] = (
                "ab" * 32 if body["issue"] == "key" else "K7Q-42X-9PZ")
            return 201, answer
        if method == "PUT" and path.startswith("/ops/v1/firmware/"):
            self.uploaded = body
            return 201, {"manifest_url": "/fw/" + path.split("/", 4)[4] + "/manifest.json"}
        if method == "POST" and path == "/ops/v1/rollouts":
            return 201, {"id": "R1"}
        if method == "POST" and path == "/ops/v1/rollouts/R1/stages":
            before = self.offered
            self.offered = (len(body["groups"]) * 5 + before if "groups" in body
                            else max(before, round(self.devices * body["share"])))
            return 200, {"devices": self.offered - before}
        if method == "GET" and path == "/ops/v1/rollouts/R1":
            failed = self.offered // 3 if self.bad else 0
            return 200, {"offered": self.offered, "updated": self.offered - failed, "failed": failed,
                         "rolled_back": 0, "state": "stopped" if self.stopped else "running"}
        if method == "POST" and path == "/ops/v1/rollouts/R1/stop":
            self.stopped = body["reason"]
            return 200, {"state": "stopped"}
        return 404, {"error": {"code": "not_found", "message": path}}


@pytest.fixture
def ops():
    state = OpsStandIn()

    class Handler(BaseHTTPRequestHandler):
        def _serve(self):
            if self.headers.get("Authorization") != "Bearer " + TOKEN:
                status, answer = 401, {"error": {"code": "unauthorized", "message": "bad operator token"}}
            else:
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                body = json.loads(raw) if self.headers.get("Content-Type") == "application/json" else raw
                status, answer = state.handle(self.command, self.path, body)
            data = json.dumps(answer).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PUT = _serve

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.url = "http://127.0.0.1:%d" % server.server_address[1]
    yield state
    server.shutdown()
    server.server_close()
    thread.join(5)


def test_provision_writes_the_device_config(ops, tmp_path):
    out = tmp_path / "D0009.json"
    result = tools("provision", "--server", ops.url, "--token", TOKEN, "--device-id", "D0009",
                   "--profile", "enhanced_box", "--issue-key", "--wifi-ssid", "shop", "--out", out)
    assert result.returncode == 0, result.stderr
    config = json.loads(out.read_text())
    assert config == {"profile": "enhanced_box", "device_id": "D0009", "device_key": "ab" * 32,
                      "server_url": "https://pay.example.com", "wifi": {"ssid": "shop", "password": ""}}
    assert oct(out.stat().st_mode & 0o777) == "0o600"
    result = tools("provision", "--server", ops.url, "--token", TOKEN, "--device-id", "D0010",
                   "--profile", "qr_stand", "--out", tmp_path / "D0010.json")
    assert json.loads((tmp_path / "D0010.json").read_text())["activation_code"] == "K7Q-42X-9PZ"


def test_wrong_token_and_missing_api_are_clear_errors(ops, tmp_path):
    result = tools("provision", "--server", ops.url, "--token", "nope", "--device-id", "D1",
                   "--profile", "enhanced_box", "--out", tmp_path / "c.json")
    assert result.returncode == 1
    assert result.stderr.startswith("tools: POST /ops/v1/devices: HTTP 401 unauthorized: bad operator token")
    result = tools("provision", "--server", "http://127.0.0.1:9", "--token", TOKEN, "--device-id", "D1",
                   "--profile", "enhanced_box", "--out", tmp_path / "c.json")
    assert result.returncode == 1 and "cannot reach" in result.stderr
    assert not (tmp_path / "c.json").exists()


def test_good_release_rolls_out_every_stage(ops, bundle):
    result = tools("release", "--server", ops.url, "--token", TOKEN, "--bundle", bundle,
                   "--stages", "group:pilot,10%,100%", "--poll", "0")
    assert result.returncode == 0, result.stderr
    assert "rollout R1 complete: 100 devices updated" in result.stdout
    assert ops.uploaded == (bundle.parent / (bundle.name + ".tar.gz")).read_bytes()
    assert ops.stopped is None


def test_bad_release_stopped_by_the_threshold(ops, bundle):
    ops.bad = True
    result = tools("release", "--server", ops.url, "--token", TOKEN, "--bundle", bundle,
                   "--stages", "10%,50%,100%", "--threshold", "0.2", "--poll", "0")
    assert result.returncode == 1
    assert "stopped: failure rate 30.0% passed the threshold 20.0% at stage 1" in result.stderr
    assert ops.stopped and ops.offered == 10                 # never went past the first stage
    assert ("POST", "/ops/v1/rollouts/R1/stop") in ops.calls


def test_stage_parsing():
    assert release.parse_stages("group:pilot+shop9, 25%,100%") == [
        {"groups": ["pilot", "shop9"]}, {"share": 0.25}, {"share": 1.0}]
    for bad in ("", "0%", "150%", "ten", "group:"):
        with pytest.raises(ValueError):
            release.parse_stages(bad)
