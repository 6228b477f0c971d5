# Which firmware slot this boot runs, and rolling back a new version that never reached the server.
# Lives at the file system root with main.py and is not replaced over the air (as ESP-IDF's bootloader
# is not): it must be able to boot whatever an interrupted update left behind.
#
# Flash layout (written by `python -m tools flash`, changed by core/ota.py):
#   /slots/a/..., /slots/b/...   two complete application trees (core/, drivers/, boards/ as .mpy)
#   /ota.json                    the pointer: {"active": "a", "state": "valid"|"pending",
#                                "previous": "b", "version": "0.3.0", "boots": 1, "rolled_back": ...}
#   /release.pub                 the release key (hex) every update's manifest must be signed with
# The pointer is only ever replaced by writing /ota.json.tmp and renaming it over /ota.json, which is
# power-loss safe on littlefs: a boot sees the old pointer or the new one, never half of one.
#
# A "pending" slot (just installed by OTA) gets max_boots boots to reach the server; core/ota.py's
# confirm() then marks it "valid". A pending slot still unconfirmed at the next boot after that is
# abandoned: the pointer goes back to the previous slot and records what was rolled back, for the
# next heartbeat to report (ESP-IDF: PENDING_VERIFY -> VALID, or rolled back).
#
# main.py, before anything imports the application:   import boot_select; boot_select.select()
import json
import sys

POINTER = "ota.json"
SLOTS = ("a", "b")
max_boots = 3


def _join(root, name):
    return root.rstrip("/") + "/" + name


def read_pointer(root="/"):
    """The pointer as a dict, or None when it is missing or unreadable."""
    try:
        with open(_join(root, POINTER)) as f:
            pointer = json.loads(f.read())
    except (OSError, ValueError):
        return None
    if not isinstance(pointer, dict) or pointer.get("active") not in SLOTS:
        return None
    return pointer


def write_pointer(pointer, root="/"):
    import os
    path = _join(root, POINTER)
    with open(path + ".tmp", "w") as f:
        f.write(json.dumps(pointer))
    os.rename(path + ".tmp", path)      # atomic on littlefs; never half a pointer


def _slot_exists(root, slot):
    import os
    try:
        os.stat(_join(root, "slots/" + slot + "/manifest.json"))
        return True
    except OSError:
        return False


def choose(root="/"):
    """Decide the slot of this boot, updating the pointer (boot count, rollback). Returns the slot
    name, or None for a board flashed without slots (files at the root)."""
    pointer = read_pointer(root)
    if pointer is None:
        # no pointer (never updated, or lost): any complete slot, "a" first
        for slot in SLOTS:
            if _slot_exists(root, slot):
                write_pointer({"active": slot, "state": "valid"}, root)
                return slot
        return None
    if pointer.get("state") == "pending":
        boots = pointer.get("boots", 0) + 1
        previous = pointer.get("previous")
        if boots > max_boots and previous in SLOTS and _slot_exists(root, previous):
            pointer = {"active": previous, "state": "valid",
                       "rolled_back": pointer.get("version"), "previous": pointer["active"]}
        else:
            pointer["boots"] = boots
        write_pointer(pointer, root)
    return pointer["active"]


def select(root="/"):
    """Choose this boot's slot and put it first on sys.path, before anything imports the application."""
    slot = choose(root)
    if slot is not None:
        path = _join(root, "slots/" + slot)
        if path not in sys.path:
            sys.path.insert(0, path)
    return slot
