# The device's order journal: the order-number counter and the last `size` orders, in one file of
# fixed-size slots read and written one at a time. The orders are not held in RAM: a JSON journal
# of 100 orders kept about 13 KiB of objects on an ESP32's 56 KiB heap, and saving it cost more.
#
# The file: a 256-byte preamble (_MAGIC and the number of order slots), then two copies, A and B,
# each [a header slot, `size` order slots]. A slot is 256 bytes: seq, n, length, tag, crc32 (16
# bytes) and a JSON payload of at most 240 bytes. The header's payload holds {"salt"} and its n is
# the order-number counter; an order's payload is its dict, its n its place in the ring (the n-th
# order goes to position n % size, over the oldest) and its tag a byte of its number's CRC, kept in
# RAM with which copy of each position is current, so a look-up reads only the slots with that tag.
#
# A power cut leaves the old or the new state, never half:
# - every change (a new order number, a new order, an order's new status) is one write of one slot,
#   into the copy of its position that is NOT the current one. The current copy is the valid one
#   (its CRC matches) with the higher seq. A write cut short fails its CRC, and the other copy, the
#   previous state, stays current; a write that completed has the highest seq and is current. A new
#   order takes over its position (the oldest order goes) only once its write completed.
# - on littlefs (the ESP32's file system) a file's changes become visible only when it is closed, so
#   even the slot is old or new; the CRC is for file systems without that (FAT). The copies A and B
#   are in separate halves of the file and slots are 256-byte aligned: a torn 512-byte sector never
#   holds both copies of one position.
# - the file is created whole (an old JSON journal converted once, see _recover) as `<path>.new`
#   and renamed over the journal: a cut before the rename leaves the old file, after it the new one.
# A write returns only after the file was closed, and nothing is announced or handed out (an order
# number, a result) before its write returned. Order numbers are `<device_id>-<salt>-<counter>`: the
# counter is saved before a number is handed out, the salt (drawn when the journal was created)
# keeps numbers unique after a flash wipe.
import json
import os
import struct
from binascii import crc32, hexlify

from core.compat import const, urandom

_MAGIC = b"scanpay journal2"          # 16 bytes; an old journal is JSON and starts with "{"
_SLOT = const(256)
_HEAD = const(16)                     # "<IIHBBI": seq, n, length, tag, spare, crc32
_ROOM = const(240)                    # _SLOT - _HEAD: the payload's room
_ACTIVE = ("NEW", "PAYING")
_replace = getattr(os, "replace", os.rename)     # CPython on Windows needs replace(); same elsewhere


def _tag(order_no):
    return crc32(order_no.encode()) & 0xFF


def _remove(name):
    try:
        os.remove(name)
    except OSError:
        pass


def _slots_in(name):
    """The number of order slots of the complete journal file `name`, else None."""
    try:
        with open(name, "rb") as f:
            head = f.read(18)
        length = os.stat(name)[6]
    except OSError:
        return None
    if len(head) < 18 or head[:16] != _MAGIC:
        return None
    size = struct.unpack_from("<H", head, 16)[0]
    return size if size and length == _SLOT * (3 + 2 * size) else None


def _old_state(name):
    """The JSON journal of the firmware before this format ({"v": 1, ...}), else None."""
    try:
        with open(name) as f:
            state = json.load(f)
    except (OSError, ValueError):
        return None
    if not isinstance(state, dict) or state.get("v") != 1:
        return None
    return state


class Journal:
    def __init__(self, path, size=100):
        self.path = path
        self._slot = bytearray(_SLOT)       # every read and write goes through this one buffer
        self.size = _slots_in(path) or self._recover(size)
        self._current = bytearray(self.size + 1)    # per position (0: header): 0 none, 1 copy A, 2 B
        self._tags = bytearray(self.size + 1)
        self._seq = 0                       # the highest seq in the file
        self._newest = -1                   # n of the newest order
        self._counter = 0
        self.salt = None
        self._load()

    # ------------------------------------------------------------------------ the file
    def _recover(self, size):
        """Create the journal file, from an old JSON journal if there is one; returns its size."""
        new = self.path + ".new"
        old = _old_state(self.path)
        if old is not None:
            _remove(self.path + ".tmp")     # a save cut before its rename: it never returned
        else:
            # the old firmware's own rename deleted the journal first on FAT: its .tmp is complete
            old = _old_state(self.path + ".tmp")
        if old is not None or _slots_in(new) is None:
            self._create(new, old, size)
        # else: the rename of a complete .new was cut after deleting the journal (FAT): take it
        _replace(new, self.path)
        _remove(self.path + ".tmp")
        return _slots_in(self.path) or size

    def _create(self, name, old, size):
        salt, counter, orders = hexlify(urandom(2)).decode(), 0, []
        if old is not None:
            salt, counter, orders = old["salt"], old["counter"], old["orders"][-size:]
        buf, empty = self._slot, bytes(_SLOT)
        with open(name, "wb") as f:
            buf[:] = empty
            buf[:16] = _MAGIC
            struct.pack_into("<H", buf, 16, size)
            f.write(buf)
            self._pack(1, counter, {"salt": salt}, 0)
            f.write(buf)
            for n in range(size):
                written = False
                if n < len(orders):
                    try:
                        self._pack(2 + n, n, orders[n], _tag(orders[n]["order_no"]))
                        written = True
                    except ValueError:      # an entry no firmware writes: dropped, not a boot loop
                        pass
                f.write(buf if written else empty)
            for _ in range(size + 1):       # copy B: no slot written yet
                f.write(empty)

    def _offset(self, copy, position):
        return _SLOT * (1 + copy * (self.size + 1) + position)

    def _pack(self, seq, n, record, tag):
        data = json.dumps(record, separators=(",", ":")).encode()
        if len(data) > _ROOM and record.get("reason"):
            record = dict(record)
            record["reason"] = record["reason"][:24]      # a server's words; the status is what counts
            data = json.dumps(record, separators=(",", ":")).encode()
        if len(data) > _ROOM:
            raise ValueError("journal entry over %d bytes" % _ROOM)
        buf = self._slot
        struct.pack_into("<IIHBB", buf, 0, seq, n, len(data), tag, 0)
        buf[_HEAD:_HEAD + len(data)] = data
        struct.pack_into("<I", buf, 12, crc32(data, crc32(memoryview(buf)[:12])))

    def _read(self, f, copy, position):
        """Slot (copy, position) into the buffer: (seq, n, tag) when it is valid, else None."""
        buf = self._slot
        f.seek(self._offset(copy, position))
        if f.readinto(buf) != _SLOT:
            return None
        seq, n, length, tag, _spare, crc = struct.unpack_from("<IIHBBI", buf, 0)
        if seq == 0 or length > _ROOM:
            return None
        if crc32(memoryview(buf)[_HEAD:_HEAD + length], crc32(memoryview(buf)[:12])) != crc:
            return None
        return seq, n, tag

    def _payload(self):
        length = struct.unpack_from("<H", self._slot, 8)[0]
        return json.loads(bytes(self._slot[_HEAD:_HEAD + length]))

    def _load(self):
        with open(self.path, "rb") as f:
            for position in range(self.size + 1):
                best = None
                for copy in (0, 1):
                    found = self._read(f, copy, position)
                    if found is None:
                        continue
                    self._seq = max(self._seq, found[0])
                    if best is None or found[0] > best[1]:
                        best = (copy, found[0], found[1], found[2])
                if best is None:
                    continue
                copy, _seq, n, tag = best
                self._current[position] = copy + 1
                self._tags[position] = tag
                if position == 0:
                    self._read(f, copy, 0)
                    self._counter = n
                    self.salt = self._payload()["salt"]
                elif n > self._newest:
                    self._newest = n
        if self.salt is None:       # both header copies unreadable: a new salt keeps numbers unique
            self.salt = hexlify(urandom(2)).decode()

    def _write(self, position, n, record, tag):
        """Write one slot into the copy of `position` that is not current; returns when saved."""
        copy = 1 if self._current[position] == 1 else 0
        self._pack(self._seq + 1, n, record, tag)
        with open(self.path, "r+b") as f:
            f.seek(self._offset(copy, position))
            f.write(self._slot)
        self._seq += 1
        self._current[position] = copy + 1
        self._tags[position] = tag

    def _each(self, f, start=0):
        """(position, order) newest first from the `start`-th, read one at a time."""
        k = self._newest - start
        while k >= 0 and k > self._newest - self.size:
            position = 1 + k % self.size
            current = self._current[position]
            found = self._read(f, current - 1, position) if current else None
            if found is not None and found[1] == k:
                yield position, self._payload()
            k -= 1

    def _find(self, f, order_no):
        """(position, n, order) of `order_no`, else None."""
        tag = _tag(order_no)
        k = self._newest
        while k >= 0 and k > self._newest - self.size:
            position = 1 + k % self.size
            current = self._current[position]
            if current and self._tags[position] == tag:
                self._read(f, current - 1, position)
                order = self._payload()
                if order.get("order_no") == order_no:
                    return position, k, order
            k -= 1
        return None

    # ------------------------------------------------------------------------ what the apps use
    def order_no(self, device_id, counter):
        """The order number with `counter` (the number a cashier types on the gun)."""
        return "%s-%s-%06d" % (device_id, self.salt, counter)

    def next_order_no(self, device_id):
        """A new order number, never handed out before by this device (saved before returning)."""
        order_no = self.order_no(device_id, self._counter + 1)
        if len(order_no) > 32:
            raise ValueError("device id too long for an order number")
        self._write(0, self._counter + 1, {"salt": self.salt}, 0)
        self._counter += 1
        return order_no

    def record(self, order):
        """Add or update an order (a dict with at least order_no), keep the newest `size`, save."""
        with open(self.path, "rb") as f:
            found = self._find(f, order["order_no"])
        if found is None:
            n = self._newest + 1
            self._write(1 + n % self.size, n, order, _tag(order["order_no"]))
            self._newest = n
        else:
            position, n, kept = found
            kept.update(order)
            self._write(position, n, kept, _tag(order["order_no"]))

    def get(self, order_no):
        with open(self.path, "rb") as f:
            found = self._find(f, order_no)
        return found[2] if found else None

    def orders(self, start=0, count=None):
        """Newest first: `count` orders (all by default) from the `start`-th."""
        found = []
        with open(self.path, "rb") as f:
            for _position, order in self._each(f, start):
                if count is not None and len(found) >= count:
                    break
                found.append(order)
        return found

    def __len__(self):
        return sum(1 for current in self._current[1:] if current)

    def unfinished(self):
        """Orders sent (or about to be) whose final state the device has not seen yet, oldest first."""
        found = []
        with open(self.path, "rb") as f:
            for _position, order in self._each(f):
                if order.get("status") in _ACTIVE:
                    found.insert(0, order)
        return found

    @property
    def counter(self):
        return self._counter
