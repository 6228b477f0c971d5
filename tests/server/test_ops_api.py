"""The operations API /ops/v1/... and the devices' side of a rollout (signed firmware URLs, ota_report,
heartbeat versions), on SQLite and PostgreSQL: every endpoint and every refusal."""
from __future__ import annotations

import hashlib
import io
import json
import tarfile

import pytest
from tests.server.conftest import Device
from Crypto.PublicKey import ECC
from Crypto.Signature import eddsa
from yarl import URL

from server import devices
from server.app import create_app
from server.keys import STORAGE
from server.settings import SettingsError, load_settings

TOKEN = "ops-token-0123456789"
PROFILE, VERSION = "enhanced_box", "0.3.0"


def make_key():
    key = ECC.generate(curve="Ed25519")
    return key, key.public_key().export_key(format="raw").hex()


def make_bundle(key, profile=PROFILE, version=VERSION, files=None, tamper=None, sign_with=None) -> bytes:
    files = files or {"core/app.mpy": b"app-v3", "boards/enhanced_box.mpy": b"board"}
    manifest = {"profile": profile, "version": version, "mpy_arch": "xtensawin",
                "files": {rel: {"sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}
                          for rel, data in files.items()}}
    body = json.dumps(manifest, sort_keys=True, separators=(",", ":")).encode()
    signature = eddsa.new(sign_with or key, "rfc8032").sign(body).hex()
    if tamper:
        files = {**files, **tamper}
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as tar:
        top = f"{profile}-{version}"
        for name, data in [("manifest.json", body), ("manifest.sig", signature.encode())] + [
                ("files/" + rel, data) for rel, data in files.items()]:
            info = tarfile.TarInfo(f"{top}/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


@pytest.fixture(scope="module")
def release_key():
    return make_key()


@pytest.fixture
def make_server(aiohttp_client, database, tmp_path, release_key):
    async def make(**ops):
        settings = load_settings(database=database, resolver={"enabled": False},
                                 ops={"tokens": [TOKEN], "release_public_key": release_key[1],
                                      "firmware_dir": str(tmp_path / "firmware"), "min_settled": 2, **ops})
        app = create_app(settings)
        client = await aiohttp_client(app)
        client.app_ = app
        return client
    return make


@pytest.fixture
async def ops(make_server):
    return await make_server()


def auth(token=TOKEN):
    return {"Authorization": "Bearer " + token}


async def call(client, method, path, body=None, *, token=TOKEN, raw=None, content_type="application/json"):
    headers = auth(token) if token else {}
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    if data is not None:
        headers["Content-Type"] = content_type
    resp = await client.request(method, path, data=data, headers=headers)
    return resp.status, await resp.json()


async def register(client, device_id, issue="key", group=None, profile=PROFILE):
    status, body = await call(client, "POST", "/ops/v1/devices", {
        "device_id": device_id, "profile": profile, "merchant_id": "M1", "store": "Tea House", "issue": issue,
        **({"group": group} if group else {})})
    assert status == 201, body
    return body


async def publish(client, key):
    status, body = await call(client, "PUT", f"/ops/v1/firmware/{PROFILE}/{VERSION}", raw=make_bundle(key),
                              content_type="application/gzip")
    assert status == 201, body
    return body


def device(client, answer):
    return Device(client, answer["device_id"], answer["device_key"])


# authentication


async def test_every_endpoint_refuses_a_missing_or_wrong_token(ops):
    for method, path in (("POST", "/ops/v1/devices"), ("PUT", "/ops/v1/firmware/p/1"),
                         ("GET", "/ops/v1/firmware/p/1/manifest.json"), ("POST", "/ops/v1/rollouts"),
                         ("POST", "/ops/v1/rollouts/R1/stages"), ("GET", "/ops/v1/rollouts/R1"),
                         ("POST", "/ops/v1/rollouts/R1/stop"), ("PUT", "/ops/v1/devices/D1/group")):
        for token, header in ((None, {}), ("x", auth("wrong-token-0123456789")), ("y", {"Authorization": TOKEN})):
            resp = await ops.request(method, path, data=b"{}", headers={"Content-Type": "application/json", **header})
            assert resp.status == 401, (method, path, token)
            assert (await resp.json())["error"] == {"code": "unauthorized", "message": "bad operator token"}


async def test_without_configured_tokens_the_api_is_off(make_server):
    client = await make_server(tokens=[])
    status, body = await call(client, "POST", "/ops/v1/devices", {})
    assert (status, body["error"]["code"]) == (503, "ops_disabled")


def test_settings_refuse_short_tokens_and_bad_keys():
    with pytest.raises(SettingsError, match="ops.tokens"):
        load_settings(ops={"tokens": ["short"]})
    with pytest.raises(SettingsError, match="release_public_key"):
        load_settings(ops={"release_public_key": "abcd"})
    assert "0123" not in repr(load_settings(ops={"tokens": [TOKEN]}).ops)


# devices


async def test_register_with_key_or_activation_code(ops):
    answer = await register(ops, "D1", issue="key", group="pilot")
    assert len(answer["device_key"]) == 64 and answer["group"] == "pilot"
    status, body = await device(ops, answer).call("heartbeat", {})
    assert (status, body["commands"]) == (200, [])
    answer = await register(ops, "D2", issue="activation_code")
    assert "device_key" not in answer and answer["activation_code"].isdigit()
    resp = await ops.post("/d/v1/activate", json={"activation_code": answer["activation_code"]})
    assert resp.status == 200 and (await resp.json())["device_id"] == "D2"


async def test_register_refusals(ops):
    await register(ops, "D1")
    status, body = await call(ops, "POST", "/ops/v1/devices", {"device_id": "D1", "profile": PROFILE,
                                                               "merchant_id": "M1", "issue": "key"})
    assert (status, body["error"]["code"]) == (409, "device_exists")
    for bad in ({"device_id": "bad id", "profile": PROFILE, "merchant_id": "M1"},
                {"device_id": "D3", "profile": "", "merchant_id": "M1"},
                {"device_id": "D3", "profile": PROFILE},
                {"device_id": "D3", "profile": PROFILE, "merchant_id": "M1", "issue": "password"},
                {"device_id": "D3", "profile": PROFILE, "merchant_id": "M1", "group": "a b"}):
        status, body = await call(ops, "POST", "/ops/v1/devices", bad)
        assert (status, body["error"]["code"]) == (400, "invalid_field"), bad
    status, body = await call(ops, "POST", "/ops/v1/devices", raw=b"nope")
    assert (status, body["error"]["code"]) == (400, "malformed_body")
    status, body = await call(ops, "POST", "/ops/v1/devices", raw=b"{}", content_type="text/plain")
    assert status == 415


async def test_set_group(ops):
    await register(ops, "D1")
    status, body = await call(ops, "PUT", "/ops/v1/devices/D1/group", {"group": "shop9"})
    assert (status, body) == (200, {"device_id": "D1", "group": "shop9"})
    status, body = await call(ops, "PUT", "/ops/v1/devices/NOPE/group", {"group": "shop9"})
    assert (status, body["error"]["code"]) == (404, "unknown_device")


# firmware


async def test_publish_verifies_and_serves_the_bundle(ops, release_key, tmp_path):
    answer = await publish(ops, release_key[0])
    assert answer["manifest_url"] == f"/ops/v1/firmware/{PROFILE}/{VERSION}/manifest.json" and answer["files"] == 2
    assert (tmp_path / "firmware" / PROFILE / VERSION / "files" / "core" / "app.mpy").read_bytes() == b"app-v3"
    resp = await ops.get(answer["manifest_url"], headers=auth())
    assert hashlib.sha256(await resp.read()).hexdigest() == answer["sha256"]
    assert (await publish(ops, release_key[0]))["sha256"] == answer["sha256"]      # the same again: fine
    for rel in ("files/%2E%2E/%2E%2E/x", "files/..%2F..%2Fx", "release.pub", "files/nope"):
        url = URL(str(ops.make_url("/")).rstrip("/") + f"/ops/v1/firmware/{PROFILE}/{VERSION}/{rel}", encoded=True)
        resp = await ops.session.get(url, headers=auth())
        assert resp.status == 404, rel


async def test_publish_refusals(ops, release_key, make_server):
    key = release_key[0]
    other, _ = make_key()
    path = f"/ops/v1/firmware/{PROFILE}/{VERSION}"
    for bundle, code in ((make_bundle(key, sign_with=other), "bad_signature"),
                         (make_bundle(key, tamper={"core/app.mpy": b"evil"}), "bad_bundle"),
                         (make_bundle(key, version="9.9"), "bad_bundle"),
                         (make_bundle(key, files={"../x.mpy": b"x"}), "bad_bundle"),
                         (b"not a tarball", "bad_bundle")):
        status, body = await call(ops, "PUT", path, raw=bundle, content_type="application/gzip")
        assert (status, body["error"]["code"]) == (422, code)
    status, body = await call(ops, "PUT", "/ops/v1/firmware/bad profile!/1", raw=b"x",
                              content_type="application/gzip")
    assert status in (400, 404)
    await publish(ops, key)
    status, body = await call(ops, "PUT", path, raw=make_bundle(key, files={"a.mpy": b"other"}),
                              content_type="application/gzip")
    assert (status, body["error"]["code"]) == (409, "release_exists")
    small = await make_server(max_bundle_bytes=10)
    status, body = await call(small, "PUT", path, raw=make_bundle(key), content_type="application/gzip")
    assert (status, body["error"]["code"]) == (413, "body_too_large")
    bomb = await make_server(max_bundle_bytes=1000)                # unpacks to more than 4 x the upload limit
    status, body = await call(bomb, "PUT", path, raw=make_bundle(key, files={"a.mpy": b"0" * 5000}),
                              content_type="application/gzip")
    assert (status, body["error"]["code"]) == (422, "bad_bundle") and "unpacks" in body["error"]["message"]
    nokey = await make_server(release_public_key="")
    status, body = await call(nokey, "PUT", path, raw=make_bundle(key), content_type="application/gzip")
    assert (status, body["error"]["code"]) == (503, "no_release_key")


# rollouts


async def test_rollout_offers_installs_and_counts(ops, release_key):
    await publish(ops, release_key[0])
    devices = {f"D{i}": device(ops, await register(ops, f"D{i}", group="pilot" if i < 2 else None)) for i in range(6)}
    await register(ops, "Q1", profile="qr_stand")                         # another profile: never offered
    status, body = await call(ops, "POST", "/ops/v1/rollouts", {"profile": PROFILE, "version": VERSION,
                                                                "failure_threshold": 0.5})
    assert status == 201
    rid = body["id"]
    status, body = await call(ops, "POST", f"/ops/v1/rollouts/{rid}/stages", {"groups": ["pilot"]})
    assert (status, body["devices"]) == (200, 2)
    status, body = await call(ops, "POST", f"/ops/v1/rollouts/{rid}/stages", {"share": 0.5})
    assert body["devices"] == 1                                           # 3 of 6, 2 offered already
    # The device fetches its signed URL, reports its steps, then its heartbeat carries the version.
    d0 = devices["D0"]
    status, hb = await d0.call("heartbeat", {})
    (command,) = hb["commands"]
    assert command["kind"] == "update_firmware" and command["args"]["version"] == VERSION
    url = command["args"]["url"].split("://", 1)[1].split("/", 1)[1]
    resp = await ops.get("/" + url)
    manifest = await resp.read()
    assert hashlib.sha256(manifest).hexdigest() == command["args"]["sha256"]
    base = "/" + url.rsplit("/", 1)[0]
    assert (await (await ops.get(base + "/manifest.sig")).text()) == command["args"]["signature"]
    assert await (await ops.get(base + "/files/core/app.mpy")).read() == b"app-v3"
    assert (await ops.get(base.replace("/D0/", "/D1/") + "/manifest.sig")).status == 403   # another device's
    for step in ("offer", "manifest", "download"):
        assert (await d0.call("ota_report", {"version": VERSION, "step": step}))[1]["recorded"] is True
    status, body = await call(ops, "GET", f"/ops/v1/rollouts/{rid}")
    assert (body["offered"], body["installing"], body["state"]) == (3, 1, "running")
    await d0.call("heartbeat", {"firmware": VERSION, "acked": [command["id"]]})
    await devices["D1"].call("ota_report", {"version": VERSION, "step": "failed", "detail": "disk full"})
    status, body = await call(ops, "GET", f"/ops/v1/rollouts/{rid}")
    assert (body["updated"], body["failed"], body["rolled_back"], body["state"]) == (1, 1, 0, "running")
    assert [(s["stage"], s["offered"], s["updated"], s["failed"]) for s in body["stages"]] == [(1, 2, 1, 1), (2, 1, 0, 0)]
    # A report of a version never offered is not recorded; bad reports are refused.
    assert (await devices["D5"].call("ota_report", {"version": VERSION, "step": "failed"}))[1]["recorded"] is False
    for bad in ({"version": VERSION, "step": "dance"}, {"step": "failed"}, {"version": VERSION, "step": "failed",
                                                                             "detail": 5}):
        status, body = await devices["D5"].call("ota_report", bad)
        assert (status, body["error"]["code"]) == (400, "invalid_field")
    # Stop: the offer D2 never took is withdrawn; no more stages.
    status, body = await call(ops, "POST", f"/ops/v1/rollouts/{rid}/stop", {"reason": "enough"})
    assert (status, body["state"], body["reason"]) == (200, "stopped", "enough")
    assert (await devices["D2"].call("heartbeat", {}))[1]["commands"] == []
    status, body = await call(ops, "POST", f"/ops/v1/rollouts/{rid}/stages", {"share": 1})
    assert (status, body["error"]["code"]) == (409, "rollout_stopped")
    status, body = await call(ops, "POST", f"/ops/v1/rollouts/{rid}/stop", {"reason": "again"})
    assert (status, body["state"], body["reason"]) == (200, "stopped", "enough")
    assert (await call(ops, "GET", f"/ops/v1/rollouts/{rid}"))[1]["withdrawn"] == 1


async def test_rollout_stops_itself_past_the_threshold(ops, release_key):
    await publish(ops, release_key[0])
    devices = [device(ops, await register(ops, f"D{i}")) for i in range(4)]
    rid = (await call(ops, "POST", "/ops/v1/rollouts", {"profile": PROFILE, "version": VERSION,
                                                        "failure_threshold": 0.4}))[1]["id"]
    assert (await call(ops, "POST", f"/ops/v1/rollouts/{rid}/stages", {"share": 1.0}))[1]["devices"] == 4
    await devices[0].call("ota_report", {"version": VERSION, "step": "rolled_back"})
    assert (await call(ops, "GET", f"/ops/v1/rollouts/{rid}"))[1]["state"] == "running"   # min_settled is 2
    await devices[1].call("heartbeat", {"firmware": VERSION})
    await devices[2].call("ota_report", {"version": VERSION, "step": "failed"})
    status, body = await call(ops, "GET", f"/ops/v1/rollouts/{rid}")
    assert status == 200
    assert (body["state"], body["rolled_back"], body["failed"], body["updated"]) == ("stopped", 1, 1, 1)
    assert body["reason"].startswith("failure rate 66.7% passed the threshold 40.0%")
    assert (await devices[3].call("heartbeat", {}))[1]["commands"] == []


async def test_rollout_refusals(ops, release_key):
    status, body = await call(ops, "POST", "/ops/v1/rollouts", {"profile": PROFILE, "version": VERSION,
                                                                "failure_threshold": 0.1})
    assert (status, body["error"]["code"]) == (404, "unknown_release")
    await publish(ops, release_key[0])
    for bad in ({"profile": PROFILE, "version": VERSION, "failure_threshold": 2},
                {"profile": PROFILE, "version": VERSION, "failure_threshold": "x"},
                {"profile": PROFILE, "version": VERSION, "failure_threshold": 0.1, "min_settled": 0},
                {"version": VERSION, "failure_threshold": 0.1}):
        status, body = await call(ops, "POST", "/ops/v1/rollouts", bad)
        assert (status, body["error"]["code"]) == (400, "invalid_field"), bad
    rid = (await call(ops, "POST", "/ops/v1/rollouts", {"profile": PROFILE, "version": VERSION,
                                                        "failure_threshold": 0.1}))[1]["id"]
    for bad in ({}, {"share": 0}, {"share": 1.5}, {"groups": []}, {"groups": ["a b"]}, {"share": 0.5, "groups": ["x"]}):
        status, body = await call(ops, "POST", f"/ops/v1/rollouts/{rid}/stages", bad)
        assert (status, body["error"]["code"]) == (400, "invalid_field"), bad
    for method, path in (("GET", "/ops/v1/rollouts/NOPE"), ("POST", "/ops/v1/rollouts/NOPE/stop"),
                         ("POST", "/ops/v1/rollouts/NOPE/stages")):
        status, body = await call(ops, method, path, {"share": 1} if method == "POST" else None)
        assert (status, body["error"]["code"]) == (404, "unknown_rollout")
    status, body = await call(ops, "POST", f"/ops/v1/rollouts/{rid}/stop", {"reason": 5})
    assert (status, body["error"]["code"]) == (400, "invalid_field")


async def test_firmware_url_refusals(ops, release_key):
    await publish(ops, release_key[0])
    d = device(ops, await register(ops, "D1"))
    rid = (await call(ops, "POST", "/ops/v1/rollouts", {"profile": PROFILE, "version": VERSION,
                                                        "failure_threshold": 0.1}))[1]["id"]
    await call(ops, "POST", f"/ops/v1/rollouts/{rid}/stages", {"share": 1})
    url = "/" + (await d.call("heartbeat", {}))[1]["commands"][0]["args"]["url"].split("://", 1)[1].split("/", 1)[1]
    parts = url.split("/")     # '', d, v1, firmware, device, expires, mac, profile, version, manifest.json
    assert (await ops.get(url)).status == 200
    forged = parts[:6] + ["0" * 32] + parts[7:]
    assert (await ops.get("/".join(forged))).status == 403
    stretched = parts[:5] + [str(int(parts[5]) + 1)] + parts[6:]
    assert (await ops.get("/".join(stretched))).status == 403
    assert (await ops.get("/".join(parts[:9] + ["files", "nope.mpy"]))).status == 404
    await ops.app_[STORAGE].set_device_status("D1", "disabled")
    resp = await ops.get(url)
    assert (resp.status, (await resp.json())["error"]["code"]) == (403, "device_disabled")


async def test_a_device_the_device_api_refuses_gets_no_firmware(ops, release_key):
    await publish(ops, release_key[0])
    d = device(ops, await register(ops, "D1"))
    rid = (await call(ops, "POST", "/ops/v1/rollouts", {"profile": PROFILE, "version": VERSION,
                                                        "failure_threshold": 0.1}))[1]["id"]
    await call(ops, "POST", f"/ops/v1/rollouts/{rid}/stages", {"share": 1})
    status, answer = await d.call("heartbeat", {"place": {"bssid": "a4:56:02:11:22:33"}})   # binds its shop
    url = "/" + answer["commands"][0]["args"]["url"].split("://", 1)[1].split("/", 1)[1]

    async def fetch():
        resp = await ops.get(url)
        return resp.status, (await resp.json())["error"]["code"] if resp.status != 200 else await resp.read()

    assert (await fetch())[0] == 200
    # carried to another shop: the heartbeat is refused, and so is the firmware it was offered
    status, body = await d.call("heartbeat", {"place": {"bssid": "3c:46:d8:00:00:01"}})
    assert (status, body["error"]["code"]) == (403, "device_moved")
    assert await fetch() == (403, "device_moved")
    await devices.clear_flag(ops.app_[STORAGE], "D1", actor="test", note="the merchant moved")
    assert (await fetch())[0] == 200
    await devices.decommission(ops.app_[STORAGE], "D1", actor="test")
    assert await fetch() == (403, "device_decommissioned")
