"""The operations API /ops/v1/... (docs/operations.md, "Operations HTTP API"), for `tools provision` and
`tools release` (docs/tools.md), and the devices' firmware downloads GET /d/v1/firmware/.... A back office's
onboarding calls (merchants, stores, stock, static codes) are in ops_onboarding.py, on the same token check.

Every /ops/v1 call needs `Authorization: Bearer <token>` with one of `[ops] tokens` (compared in
constant time); without configured tokens the API answers 503 ops_disabled.
"""
from __future__ import annotations

import hashlib
import hmac
import io
import json
import os
import pathlib
import re
import shutil
import tarfile
import time
from typing import Any

from aiohttp import web
from Crypto.Signature import eddsa

from .. import params, rollouts, wire
from ..device_auth import DEVICE_ID, check_standing
from ..devices import issue_activation_code, register_device
from ..errors import ApiError
from ..keys import OP, SETTINGS, STORAGE
from ..storage.errors import AlreadyExists

NAME = re.compile(r"^[A-Za-z0-9_.-]{1,32}\Z")      # profiles, versions, groups
NAME_RULE = "1-32 of A-Z a-z 0-9 _ . -"
_MAC = re.compile(r"[0-9a-f]{32}", re.ASCII)          # rollouts.url_mac: 32 lower-case hex digits
_EXPIRES_DIGITS = 12                                   # Unix seconds, as the device API's timestamps
MAX_JSON = 64 * 1024


def _error(status: int, code: str, message: str) -> ApiError:
    return ApiError(status, code, message)


def _check_token(request: web.Request) -> None:
    ops = request.app[SETTINGS].ops
    if not ops.tokens:
        raise _error(503, "ops_disabled", "the operations API is off: no [ops] tokens configured")
    header = request.headers.get("Authorization", "")
    # Header bytes that are not UTF-8 arrive as surrogates, which do not encode: never a token of ours.
    given = header[7:].encode() if header.startswith("Bearer ") and header.isascii() else b""
    ok = False
    for token in ops.tokens:   # every token compared, in constant time
        ok |= hmac.compare_digest(given, token.reveal().encode())
    if not given or not ok:
        raise _error(401, "unauthorized", "bad operator token")


async def _json_body(request: web.Request) -> dict[str, Any]:
    if request.content_type != "application/json":
        raise _error(415, "unsupported_media_type", "send application/json")
    raw = await _read(request, MAX_JSON)
    try:
        # The device API's decoder: an object of plain values, bounded integers and nesting, valid Unicode.
        return wire.decode(wire.JSON, raw)
    except wire.MalformedBody as e:
        raise _error(400, "malformed_body", str(e)) from None


async def _read(request: web.Request, limit: int) -> bytes:
    if request.content_length is not None and request.content_length > limit:
        raise _error(413, "body_too_large", f"body over {limit} bytes")
    chunks, size = [], 0
    async for chunk in request.content.iter_any():
        size += len(chunk)
        if size > limit:
            raise _error(413, "body_too_large", f"body over {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def _name(body: dict[str, Any], key: str) -> str:
    value = body.get(key)
    if not isinstance(value, str) or not NAME.match(value):
        raise _error(400, "invalid_field", f"{key} must be 1-32 of A-Z a-z 0-9 _ . -")
    return value


def _optional_name(body: dict[str, Any], key: str) -> str | None:
    return None if body.get(key) is None else _name(body, key)


def _created(answer: dict[str, Any], status: int = 201) -> web.Response:
    return web.json_response(answer, status=status)


# devices

async def add_device(request: web.Request) -> web.Response:
    _check_token(request)
    body = await _json_body(request)
    device_id = body.get("device_id")
    if not isinstance(device_id, str) or not DEVICE_ID.match(device_id):
        raise _error(400, "invalid_field", "device_id must be 1-32 of A-Z a-z 0-9 _ -")
    profile = _name(body, "profile")
    group = _optional_name(body, "group")
    merchant_id = body.get("merchant_id")
    if not isinstance(merchant_id, str) or not DEVICE_ID.match(merchant_id):
        raise _error(400, "invalid_field", "merchant_id must be 1-32 of A-Z a-z 0-9 _ -")
    store = body.get("store") or ""
    if not params.is_text(store, 64):       # no NUL (PostgreSQL refuses it) nor JSON's lone "\ud800"
        raise _error(400, "invalid_field", "store must be text of at most 64 characters, no control characters")
    issue = body.get("issue", "activation_code")
    if issue not in ("activation_code", "key"):
        raise _error(400, "invalid_field", "issue must be activation_code or key")
    storage = request.app[STORAGE]
    if await storage.get_device(device_id) is not None:
        raise _error(409, "device_exists", f"device {device_id} exists already")
    settings = request.app[SETTINGS]
    try:
        key_hex = await register_device(storage, device_id, merchant_id, store, activation=issue != "key")
    except AlreadyExists:   # lost a race with another registration of the same id (or its merchant's)
        if await storage.get_device(device_id) is not None:
            raise _error(409, "device_exists", f"device {device_id} exists already") from None
        raise _error(409, "conflict", "registered at the same time by another call: try again") from None
    await rollouts.set_device_profile(storage, device_id, profile, group)
    answer: dict[str, Any] = {"device_id": device_id, "server_url": settings.device_api.public_url,
                              "profile": profile, "group": group}
    if issue == "key":
        answer["device_key"] = key_hex
    else:
        answer["activation_code"] = await issue_activation_code(storage, device_id,
                                                                settings.device_api.activation_code_ttl_s)
        answer["expires_in_s"] = settings.device_api.activation_code_ttl_s
    return _created(answer)


async def set_group(request: web.Request) -> web.Response:
    _check_token(request)
    body = await _json_body(request)
    group = _optional_name(body, "group")
    device_id = params.device_id(request.match_info["device_id"])
    if not await rollouts.set_device_group(request.app[STORAGE], device_id, group):
        raise _error(404, "unknown_device", f"no device {device_id}")
    return web.json_response({"device_id": device_id, "group": group})


# firmware

def _bundle_files(data: bytes, limit: int) -> dict[str, bytes]:
    """The regular files of a bundle .tar.gz, by path below its top folder (at most `limit` bytes in all)."""
    members: dict[str, bytes] = {}
    total = 0
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
            for member in tar.getmembers():
                if not member.isfile():
                    continue
                total += member.size
                if total > limit:
                    raise _error(422, "bad_bundle", f"the bundle unpacks to more than {limit} bytes")
                parts = member.name.split("/", 1)
                if len(parts) != 2:
                    continue
                extracted = tar.extractfile(member)
                if extracted is not None:       # always, for a regular file
                    members[parts[1]] = extracted.read()
    except (tarfile.TarError, OSError, EOFError) as e:
        raise _error(422, "bad_bundle", f"not a .tar.gz bundle: {e}") from None
    return members


_MAX_NAME_BYTES = 255       # a file name on every Linux file system
_MAX_REL_BYTES = 1024


def _safe_rel(rel: Any) -> bool:
    if not (isinstance(rel, str) and bool(rel) and not rel.startswith("/") and "\\" not in rel
            and all(part not in ("", ".", "..") for part in rel.split("/"))):
        return False
    encoded = rel.encode("utf-8", "surrogatepass")
    return len(encoded) <= _MAX_REL_BYTES and all(len(part) <= _MAX_NAME_BYTES for part in encoded.split(b"/"))


def verify_bundle(data: bytes, public_hex: str, profile: str, version: str,
                  limit: int = 64 * 1024 * 1024) -> tuple[bytes, str, dict]:
    """(manifest bytes, signature hex, {path under files/: bytes}) or a 422 refusal."""
    members = _bundle_files(data, limit)
    body, sig = members.get("manifest.json"), members.get("manifest.sig")
    if body is None or sig is None:
        raise _error(422, "bad_bundle", "the bundle lacks manifest.json or manifest.sig")
    try:
        signature = bytes.fromhex(sig.decode().strip())
        key = eddsa.import_public_key(bytes.fromhex(public_hex))
        eddsa.new(key, "rfc8032").verify(body, signature)
    except ValueError:
        raise _error(422, "bad_signature", "the manifest signature does not verify with the release key") from None
    try:
        manifest = json.loads(body)
        files = manifest["files"]
        assert isinstance(files, dict)
    except (ValueError, KeyError, AssertionError):
        raise _error(422, "bad_bundle", "manifest.json is not a manifest") from None
    if manifest.get("profile") != profile or manifest.get("version") != version:
        raise _error(422, "bad_bundle", f"the manifest is {manifest.get('profile')} {manifest.get('version')},"
                                        f" not {profile} {version}")
    out = {}
    for rel, entry in files.items():
        data_ = members.get("files/" + rel) if _safe_rel(rel) else None
        if (data_ is None or not isinstance(entry, dict) or entry.get("size") != len(data_)
                or entry.get("sha256") != hashlib.sha256(data_).hexdigest()):
            raise _error(422, "bad_bundle", f"files/{rel} differs from the signed manifest")
        out[rel] = data_
    return body, signature.hex(), out


async def publish(request: web.Request) -> web.Response:
    _check_token(request)
    ops = request.app[SETTINGS].ops
    if not ops.release_public_key:
        raise _error(503, "no_release_key", "no [ops] release_public_key configured: cannot verify builds")
    profile = params.text_part(request.match_info["profile"], "profile", NAME, NAME_RULE)
    version = params.text_part(request.match_info["version"], "version", NAME, NAME_RULE)
    data = await _read(request, ops.max_bundle_bytes)
    manifest, signature_hex, files = verify_bundle(data, ops.release_public_key, profile, version,
                                                   limit=4 * ops.max_bundle_bytes)
    storage = request.app[STORAGE]
    digest = hashlib.sha256(manifest).hexdigest()
    existing = await rollouts.get_release(storage, profile, version)
    if existing is not None:
        if existing["manifest_sha256"] != digest:
            raise _error(409, "release_exists", f"{profile} {version} was published with another manifest")
    else:
        _write_release(pathlib.Path(ops.firmware_dir) / profile / version, manifest, signature_hex, files)
        await rollouts.add_release(storage, profile, version, digest, signature_hex)
    return _created({"profile": profile, "version": version, "sha256": digest, "files": len(files),
                     "manifest_url": f"/ops/v1/firmware/{profile}/{version}/manifest.json"})


def _write_release(folder: pathlib.Path, manifest: bytes, signature_hex: str, files: dict[str, bytes]) -> None:
    temp = folder.with_name(f"{folder.name}.tmp{os.getpid()}")
    shutil.rmtree(temp, ignore_errors=True)
    try:
        for rel, data in files.items():
            (temp / "files" / rel).parent.mkdir(parents=True, exist_ok=True)
            (temp / "files" / rel).write_bytes(data)
        temp.mkdir(parents=True, exist_ok=True)
        (temp / "manifest.sig").write_text(signature_hex)
        (temp / "manifest.json").write_bytes(manifest)
    except OSError as e:
        shutil.rmtree(temp, ignore_errors=True)          # nothing half-written is left behind
        raise _error(422, "bad_bundle", f"the bundle's files cannot be stored: {e.strerror}") from None
    shutil.rmtree(folder, ignore_errors=True)
    os.replace(temp, folder)


def _serve(request: web.Request, profile: str, version: str, rel: str) -> web.FileResponse:
    if not (NAME.match(profile) and NAME.match(version) and _safe_rel(rel)
            and (rel in ("manifest.json", "manifest.sig") or rel.startswith("files/"))):
        raise _error(404, "not_found", "no such firmware file")
    path = pathlib.Path(request.app[SETTINGS].ops.firmware_dir) / profile / version / rel
    if not path.is_file():
        raise _error(404, "not_found", "no such firmware file")
    return web.FileResponse(path, headers={"Content-Type": "application/octet-stream"})


async def operator_file(request: web.Request) -> web.FileResponse:
    _check_token(request)
    m = request.match_info
    return _serve(request, m["profile"], m["version"], m["path"])


async def device_file(request: web.Request) -> web.FileResponse:
    """GET /d/v1/firmware/<device>/<expires>/<mac>/<profile>/<version>/<path>: the URL in the device's
    update offer, signed with the device's own key (firmware/core/ota.py fetches without headers)."""
    request[OP] = "firmware"
    m = request.match_info
    # Parts no offer can have made are refused before any look-up (no key is needed to send them).
    device_id = params.device_id(m["device_id"])
    expires = params.digits(m["expires"], "expires", max_len=_EXPIRES_DIGITS)
    mac = params.text_part(m["mac"], "mac", _MAC, "32 lower-case hex digits")
    profile = params.text_part(m["profile"], "profile", NAME, NAME_RULE)
    version = params.text_part(m["version"], "version", NAME, NAME_RULE)
    device = await request.app[STORAGE].get_device(device_id)
    if device is None:
        raise _error(403, "bad_firmware_url", "the firmware URL is not valid for this device")
    # the device API's refusals, in its order: a device it would not serve gets no firmware either
    # (decommissioned, flagged moved or cloned, not installed, not activated, disabled)
    check_standing(device)
    if not rollouts.url_matches(device.key_hex, device_id, expires, profile, version, mac):
        raise _error(403, "bad_firmware_url", "the firmware URL is not valid for this device")
    if expires < time.time():
        raise _error(403, "firmware_url_expired", "the firmware URL has expired")
    return _serve(request, profile, version, m["path"])


# rollouts

async def _rollout(request: web.Request) -> dict[str, Any]:
    rollout_id = params.text_part(request.match_info["rollout_id"], "rollout id", params.ID)
    rollout = await rollouts.get_rollout(request.app[STORAGE], rollout_id)
    if rollout is None:
        raise _error(404, "unknown_rollout", f"no rollout {rollout_id}")
    return rollout


async def create_rollout(request: web.Request) -> web.Response:
    _check_token(request)
    body = await _json_body(request)
    profile, version = _name(body, "profile"), _name(body, "version")
    threshold = body.get("failure_threshold")
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or not 0 <= threshold <= 1:
        raise _error(400, "invalid_field", "failure_threshold must be a number 0..1")
    min_settled = body.get("min_settled", request.app[SETTINGS].ops.min_settled)
    if isinstance(min_settled, bool) or not isinstance(min_settled, int) or min_settled < 1:
        raise _error(400, "invalid_field", "min_settled must be a positive integer")
    storage = request.app[STORAGE]
    if await rollouts.get_release(storage, profile, version) is None:
        raise _error(404, "unknown_release", f"{profile} {version} has not been published")
    rollout_id = await rollouts.create_rollout(storage, profile, version, float(threshold), min_settled)
    return _created({"id": rollout_id, "state": rollouts.RUNNING})


async def add_stage(request: web.Request) -> web.Response:
    _check_token(request)
    body = await _json_body(request)
    rollout = await _rollout(request)
    share, groups = body.get("share"), body.get("groups")
    if (share is None) == (groups is None):
        raise _error(400, "invalid_field", "a stage has either share or groups")
    if share is not None and (isinstance(share, bool) or not isinstance(share, (int, float)) or not 0 < share <= 1):
        raise _error(400, "invalid_field", "share must be a number in (0, 1]")
    if groups is not None and (not isinstance(groups, list) or not groups or len(groups) > 100
                               or not all(isinstance(g, str) and NAME.match(g) for g in groups)):
        raise _error(400, "invalid_field", "groups must be a non-empty list of group names")
    last = body.get("last", False)
    if not isinstance(last, bool):
        raise _error(400, "invalid_field", "last must be true or false")
    if rollout["state"] == rollouts.STOPPED:
        raise _error(409, "rollout_stopped", f"rollout {rollout['id']} is stopped: {rollout['reason']}")
    if rollout["state"] != rollouts.RUNNING:
        raise _error(409, "rollout_final", f"rollout {rollout['id']} is {rollout['state']}: its last stage is out")
    settings = request.app[SETTINGS]
    try:
        count = await rollouts.add_stage(request.app[STORAGE], rollout, share=share, groups=groups,
                                         public_url=settings.device_api.public_url,
                                         url_ttl_s=settings.ops.firmware_url_ttl_s, last=last)
    except rollouts.RolloutError as e:
        raise _error(409, e.code, str(e)) from None
    return web.json_response({"devices": count, "stage": rollout["stages"] + 1})


async def rollout_status(request: web.Request) -> web.Response:
    _check_token(request)
    rollout = await _rollout(request)
    return web.json_response(await rollouts.status(request.app[STORAGE], rollout))


async def stop_rollout(request: web.Request) -> web.Response:
    _check_token(request)
    body = await _json_body(request)
    rollout = await _rollout(request)
    reason = body.get("reason") or "stopped by an operator"
    if not params.is_text(reason, 500):
        raise _error(400, "invalid_field", "reason must be text of at most 500 characters, no control characters")
    await rollouts.stop(request.app[STORAGE], rollout["id"], reason)
    rollout = await _rollout(request)
    return web.json_response({"id": rollout["id"], "state": rollout["state"], "reason": rollout["reason"]})


def setup(app: web.Application) -> None:
    from . import ops_onboarding     # it builds on this module's token check and body readers
    ops_onboarding.setup(app)
    app.router.add_post("/ops/v1/devices", add_device)
    app.router.add_put("/ops/v1/devices/{device_id}/group", set_group)
    app.router.add_put("/ops/v1/firmware/{profile}/{version}", publish)
    app.router.add_get("/ops/v1/firmware/{profile}/{version}/{path:.+}", operator_file)
    app.router.add_post("/ops/v1/rollouts", create_rollout)
    app.router.add_post("/ops/v1/rollouts/{rollout_id}/stages", add_stage)
    app.router.add_get("/ops/v1/rollouts/{rollout_id}", rollout_status)
    app.router.add_post("/ops/v1/rollouts/{rollout_id}/stop", stop_rollout)
    app.router.add_get("/d/v1/firmware/{device_id}/{expires}/{mac}/{profile}/{version}/{path:.+}", device_file)
