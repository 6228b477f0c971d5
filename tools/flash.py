"""Put a signed bundle on a board: optionally MicroPython itself (esptool), then the application into
slot "a", the root files, the release key, the device's config and the OTA pointer; then check every
file's SHA-256 on the board. The layout is the one firmware/boot_select.py boots (see there)."""
import json
import subprocess
import sys

from tools.board import BoardError, local_sha256


class FlashError(Exception):
    pass


def write_micropython(port, image, offset="0x1000", baud=460800, erase=True, timeout_s=300):
    """esptool: erase, then write the MicroPython image (offset 0x1000 for ESP32/S2, 0 for S3/C3/C6)."""
    base = [sys.executable, "-m", "esptool", "--port", port, "--baud", str(baud)]
    steps = ([("erase-flash", [])] if erase else []) + [("write-flash", [offset, str(image)])]
    for command, rest in steps:
        try:
            result = subprocess.run(base + [command] + rest, timeout=timeout_s)
        except subprocess.TimeoutExpired:
            raise FlashError("esptool %s took over %d s" % (command, timeout_s))
        if result.returncode != 0:
            raise FlashError("esptool %s failed (exit %d); is the board in download mode (hold BOOT, "
                             "press EN)?" % (command, result.returncode))


def plan(manifest, body, sig_hex, pub_hex, files, boot, config=None):
    """(board path, bytes) for every file flash writes, in order; the pointer comes last."""
    writes = [("/slots/a/" + rel, files[rel]) for rel in sorted(files)]
    writes.append(("/slots/a/manifest.sig", (sig_hex + "\n").encode()))
    writes.append(("/slots/a/manifest.json", body))
    writes += [("/" + rel, boot[rel]) for rel in sorted(boot)]
    writes.append(("/release.pub", (pub_hex + "\n").encode()))
    if config is not None:
        if config.get("profile", manifest["profile"]) != manifest["profile"]:
            raise FlashError("config is for profile %r, the bundle is %r"
                             % (config.get("profile"), manifest["profile"]))
        config = dict(config, profile=manifest["profile"])
        writes.append(("/config.json", json.dumps(config, indent=1, sort_keys=True).encode()))
    pointer = {"active": "a", "state": "valid", "version": manifest["version"]}
    writes.append(("/ota.json", json.dumps(pointer).encode()))
    return writes


def flash_bundle(board, writes, progress=None):
    """Write everything, then verify it on the board. progress(path, done_bytes) after each chunk."""
    board.remove_tree("/slots")
    made = set()
    for path, data in writes:
        folder = path.rsplit("/", 1)[0]
        if folder and folder not in made:
            board.makedirs(folder)
            made.add(folder)
        if path == "/ota.json":
            # the pointer: temp file + rename, as on the device (a cut cable never leaves half of it)
            board.write_file(path + ".tmp", data)
            board.rename(path + ".tmp", path)
        else:
            board.write_file(path, data, progress=(lambda done, total, p=path: progress(p, done, total))
                             if progress else None)
        if progress:
            progress(path, len(data), len(data))
    bad = []
    for path, data in writes:
        on_board = board.sha256(path)
        if on_board != local_sha256(data):
            bad.append("%s (%s)" % (path, "missing" if on_board is None else "SHA-256 differs"))
    if bad:
        raise BoardError("verification failed on the board: " + ", ".join(bad))
    return len(writes)
