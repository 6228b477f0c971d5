# Over-the-air update: fetch a signed build offered by the server, check it, install it into the
# inactive slot and switch to it; confirm it once it has reached the server (boot_select.py rolls it
# back otherwise). Nothing is installed unless the manifest carries a valid Ed25519 signature by the
# release key on the device, and nothing is switched to unless every file matches the manifest.
#
# The offer comes from the heartbeat (`update_firmware` command): {version, url, sha256}, where url is
# the manifest's (absolute or server-relative) and sha256 the manifest's digest. Beside the manifest:
#   <dir>/manifest.sig            hex of the 64-byte signature over the manifest's exact bytes
#   <dir>/files/<path>            each file of the manifest
# manifest.json: {"profile", "version", "files": {path: {"sha256": hex, "size": n}}, ...}
#
# Steps, each reported as report(step, detail) before it starts (core/heartbeat.py sends them to the
# server with `ota_report`):
#   offer, manifest, signature, download (once per file), verify, switch, reboot   — and failed.
# A power cut anywhere before "switch" leaves the active slot and the pointer untouched; the switch is
# one rename (boot_select.write_pointer).
from binascii import hexlify, unhexlify
import hashlib
import json
import os

import boot_select
from core.compat import const

_CHUNK = const(1024)


class OtaError(Exception):
    pass


def _path(root, rel):
    return root.rstrip("/") + "/" + rel.lstrip("/")


def _sha256_hex(data):
    return hexlify(hashlib.sha256(data).digest()).decode()


def _file_sha256(path):
    h = hashlib.sha256()
    size = 0
    with open(path, "rb") as f:
        while True:
            chunk = f.read(_CHUNK)
            if not chunk:
                break
            h.update(chunk)
            size += len(chunk)
    return hexlify(h.digest()).decode(), size


def _makedirs(path):
    built = ""
    for part in path.strip("/").split("/"):
        built += "/" + part
        try:
            os.mkdir(built)
        except OSError:     # exists
            pass


def _rmtree(path):
    # os.listdir + os.stat: the same on MicroPython and CPython (ilistdir is MicroPython only)
    try:
        names = os.listdir(path)
    except OSError:
        return
    for name in names:
        child = path + "/" + name
        if os.stat(child)[0] & 0x4000:
            _rmtree(child)
        else:
            os.remove(child)
    os.rmdir(path)


def server_path(url):
    """'https://host/fw/x/manifest.json' or '/fw/x/manifest.json' -> '/fw/x/manifest.json'."""
    if "://" in url:
        rest = url.split("://", 1)[1]
        slash = rest.find("/")
        return rest[slash:] if slash >= 0 else "/"
    return url


def check_manifest(manifest_bytes, signature_hex, release_key, profile=None):
    """Verify the signature and parse the manifest. Raises OtaError; returns the manifest dict."""
    try:
        signature = unhexlify(signature_hex.strip())
    except (ValueError, TypeError):
        raise OtaError("signature is not hex")
    from core import ed25519        # loaded when an update comes, not with every app that can take one
    if not ed25519.verify(release_key, manifest_bytes, signature):
        raise OtaError("manifest signature does not verify with the release key")
    try:
        manifest = json.loads(manifest_bytes)
    except ValueError:
        raise OtaError("manifest is not JSON")
    files = manifest.get("files")
    if not isinstance(files, dict) or not files or not manifest.get("version"):
        raise OtaError("manifest lacks files or version")
    if profile and manifest.get("profile") != profile:
        raise OtaError("manifest is for profile %r, this device is %r" % (manifest.get("profile"), profile))
    for rel in files:
        if rel.startswith("/") or ".." in rel.split("/"):
            raise OtaError("unsafe path in manifest: %r" % rel)
    return manifest


def read_release_key(root="/"):
    try:
        with open(_path(root, "release.pub")) as f:
            return unhexlify(f.read().strip())
    except (OSError, ValueError):
        raise OtaError("no release key on the device (/release.pub)")


def verify_slot(root, slot, manifest):
    """Check every file of slot against manifest; raise OtaError naming the first mismatch."""
    base = _path(root, "slots/" + slot)
    for rel in manifest["files"]:
        entry = manifest["files"][rel]
        try:
            digest, size = _file_sha256(base + "/" + rel)
        except OSError:
            raise OtaError("%s missing after install" % rel)
        if digest != entry["sha256"] or size != entry["size"]:
            raise OtaError("%s differs from the manifest after install" % rel)


class Updater:
    def __init__(self, http, report=None, root="/", profile=None):
        """http: anything with core.http.HttpClient's request() (HttpClient, JsHttpTransport);
        report(step, detail): called before each step (a plain function or a coroutine function),
        may be None; whatever it raises stops the install."""
        self.http = http
        self.report = report
        self.root = root
        self.profile = profile

    async def _report(self, step, detail=None):
        if self.report:
            result = self.report(step, detail)
            if result is not None:
                await result        # a coroutine: the report goes to the server before the step

    async def _get(self, path):
        response = await self.http.request("GET", path)
        if response.status != 200:
            raise OtaError("GET %s: HTTP %d" % (path, response.status))
        return response.body

    def slots(self):
        pointer = boot_select.read_pointer(self.root) or {"active": "a"}
        active = pointer["active"]
        return active, ("b" if active == "a" else "a")

    async def install(self, offer):
        """Download, verify and install the offered version, then switch to it (takes effect at the
        next boot). Returns the new slot. Raises OtaError (reported as "failed") on any refusal."""
        try:
            return await self._install(offer)
        except OtaError as e:
            await self._report("failed", str(e))
            raise

    async def _install(self, offer):
        await self._report("offer", offer.get("version"))
        pointer = boot_select.read_pointer(self.root)
        if pointer and pointer.get("state") == "pending":
            # the inactive slot is the only way back: never overwrite it before this version is kept
            raise OtaError("version %s not yet confirmed; no update before it is" % pointer.get("version"))
        active, target = self.slots()
        manifest_path = server_path(offer["url"])
        base = manifest_path.rsplit("/", 1)[0]
        await self._report("manifest", manifest_path)
        manifest_bytes = await self._get(manifest_path)
        if offer.get("sha256") and _sha256_hex(manifest_bytes) != offer["sha256"]:
            raise OtaError("manifest digest differs from the offer")
        await self._report("signature", None)
        signature_hex = (await self._get(base + "/manifest.sig")).decode()
        manifest = check_manifest(manifest_bytes, signature_hex, read_release_key(self.root), self.profile)
        if offer.get("version") and manifest["version"] != offer["version"]:
            raise OtaError("manifest version %s, offer %s" % (manifest["version"], offer["version"]))

        slot_dir = _path(self.root, "slots/" + target)
        _rmtree(slot_dir)           # the inactive slot: whatever an interrupted update left there
        _makedirs(slot_dir)
        files = manifest["files"]
        for rel in sorted(files):
            entry = files[rel]
            await self._report("download", rel)
            data = await self._get(base + "/files/" + rel)
            if len(data) != entry["size"] or _sha256_hex(data) != entry["sha256"]:
                raise OtaError("%s: SHA-256 differs from the signed manifest" % rel)
            if "/" in rel:
                _makedirs(slot_dir + "/" + rel.rsplit("/", 1)[0])
            with open(slot_dir + "/" + rel, "wb") as f:
                f.write(data)
        await self._report("verify", target)
        verify_slot(self.root, target, manifest)
        # the manifest goes in last: boot_select only treats a slot with a manifest as complete
        with open(slot_dir + "/manifest.sig", "w") as f:
            f.write(signature_hex)
        with open(slot_dir + "/manifest.json", "wb") as f:
            f.write(manifest_bytes)

        await self._report("switch", target)
        boot_select.write_pointer({"active": target, "state": "pending", "previous": active,
                                   "version": manifest["version"], "boots": 0}, self.root)
        await self._report("reboot", manifest["version"])
        return target


def confirm(root="/"):
    """The running version reached the server: keep it. Returns the version confirmed, or None."""
    pointer = boot_select.read_pointer(root)
    if pointer is None or pointer.get("state") != "pending":
        return None
    pointer["state"] = "valid"
    pointer.pop("boots", None)
    boot_select.write_pointer(pointer, root)
    return pointer.get("version")


def rolled_back(root="/", clear=True):
    """The version boot_select rolled back (to report once), or None; clear: forget the record
    (the heartbeat clears it only once the server has the report)."""
    pointer = boot_select.read_pointer(root)
    if pointer is None or not pointer.get("rolled_back"):
        return None
    version = pointer["rolled_back"]
    if clear:
        pointer.pop("rolled_back")
        boot_select.write_pointer(pointer, root)
    return version


def max_boots():
    """How many boots a new version gets to reach the server before it is rolled back."""
    return boot_select.max_boots
