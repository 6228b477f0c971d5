# Runs on CPython and on real MicroPython, either port (mp_run.py): the order journal (core/journal.py)
# on the port's own file system, the power cut at every write it makes (none of the write's bytes on the
# flash, or only its first 10 or 40: a slot's new header over its old payload) and at its rename (atomic as on littlefs, or FAT's delete-then-rename), each followed
# by a reboot (a new Journal on the same file):
#   numbers     order numbers, a reboot, a wiped flash
#   full        105 orders in a journal of 100: the newest 100 by number, newest first, by page
#   cuts        a new order number, a new order, a new order over the oldest, an order paid; and the
#               conversion of an old JSON journal (and of one the old firmware's rename left as .tmp)
#   migrated    an old JSON journal of 100 orders, read once and converted
#   ram         (native MicroPython) heap the Journal holds with 100 orders, and with none
# Prints "RESULT <json>".
import gc
import json
import os
import sys

from core import journal
from core.journal import Journal

if sys.implementation.name == "micropython":
    DIR = "/journal_test"
else:
    import tempfile
    DIR = tempfile.mkdtemp()
try:
    os.mkdir(DIR)
except OSError:
    pass
DEVICE = "D0001"
out = {}


def exists(name):
    try:
        os.stat(name)
        return True
    except OSError:
        return False


def file_start(name):
    with open(name, "rb") as f:
        return f.read(16)


class PowerCut(Exception):
    pass


class Power:
    """Counts the journal's steps (each write, each rename) and fails the power at step `cut_at`:
    the write's first `keep` bytes reach the file, the rest never does."""
    cut_at = 0
    keep = 0
    steps = 0
    fat = False

    @classmethod
    def arm(cls, cut_at, keep=0, fat=False):
        cls.cut_at, cls.keep, cls.steps, cls.fat = cut_at, keep, 0, fat

    @classmethod
    def step(cls):
        cls.steps += 1
        return cls.steps == cls.cut_at


real_open = open
real_replace = journal._replace


class CutFile:
    def __init__(self, f):
        self.f = f

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.f.close()      # what was written before the cut is on the flash

    def seek(self, *where):
        return self.f.seek(*where)

    def readinto(self, buf):
        return self.f.readinto(buf)

    def write(self, data):
        if Power.step():
            self.f.write(bytes(data[:Power.keep]))
            raise PowerCut()
        return self.f.write(data)


def cut_open(name, mode="r"):
    f = real_open(name, mode)
    return CutFile(f) if ("w" in mode or "+" in mode) else f


def cut_replace(src, dst):
    if Power.fat and exists(dst):
        os.remove(dst)          # FAT: MicroPython renames over a file by deleting it first
        if Power.step():
            raise PowerCut()
    elif Power.step():
        raise PowerCut()
    real_replace(src, dst)


journal.open = cut_open
journal._replace = cut_replace


def order_text(order):
    """An order as one short string, its fields in name order: "amount_fen=990 order_no=A2 status=NEW"."""
    return " ".join("%s=%s" % (name, order[name]) for name in sorted(order))


def state(path, size=3):
    """What a reboot finds: the orders newest first, then the counter ("... | ... #3")."""
    j = Journal(path, size)
    return " | ".join(order_text(o) for o in j.orders()) + " #%d" % j.counter


CUT_WAYS = ((0, False), (10, False), (40, False), (0, True))     # (bytes of the cut write kept, FAT rename)


def cut_everywhere(name, prepare, operation, size=3):
    """`operation` (on what `prepare` returned) with the power cut at each of its steps in turn until
    it completes, for each way a cut write can end (nothing of it, 10 or 40 bytes) and each kind of rename.
    {"states": [state, ...], "runs": [[keep, fat, cut_at, finished, index in states, salt kept], ...]}
    (each state once: the heap stays small)"""
    states, runs = [], []
    for keep, fat in CUT_WAYS:
        cut_at = 1
        while True:
            path = "%s/%s-%d-%d-%d.j" % (DIR, name, keep, fat, cut_at)
            made = prepare(path)
            Power.arm(cut_at, keep, fat)
            try:
                operation(made)
                finished = True
            except PowerCut:
                finished = False
            Power.arm(0)
            after = state(path, size)
            if after not in states:
                states.append(after)
            same_salt = Journal(path, size).salt == made.salt if isinstance(made, Journal) else None
            runs.append([keep, fat, cut_at, finished, states.index(after), same_salt])
            os.remove(path)
            if finished or cut_at > 400:
                break
            cut_at += 1
    return {"states": states, "runs": runs}


def paying(path):
    """A journal of 3 with A0 paid, A1 being paid and three order numbers handed out."""
    j = Journal(path, 3)
    j.record({"order_no": "A0", "amount_fen": 100, "status": "SUCCESS"})
    j.record({"order_no": "A1", "amount_fen": 1250, "status": "PAYING"})
    for _ in range(3):
        j.next_order_no(DEVICE)
    return j


def full_ring(path):
    j = paying(path)
    j.record({"order_no": "A2", "amount_fen": 990, "status": "FAILED", "reason": "insufficient_balance"})
    return j


def old_json(path, count, name=None):
    """A journal as the firmware before this format wrote it (JSON, {"v": 1})."""
    gc.collect()
    with real_open(name or path, "w") as f:     # an order at a time: the script's heap is not the test
        f.write('{"v": 1, "salt": "5a5a", "counter": %d, "orders": [' % (count + 2))
        for n in range(1, count + 1):
            f.write(", " if n > 1 else "")
            json.dump({"order_no": "%s-5a5a-%06d" % (DEVICE, n), "amount_fen": 100 + n, "channel": "wechat",
                       "status": "PAYING" if n == count else "SUCCESS", "finished_at": 1763776800 + n}, f)
        f.write("]}")
    gc.collect()
    return path


# ------------------------------------------------------------------------ numbers
path = DIR + "/numbers.j"
j = Journal(path)
first = [j.next_order_no(DEVICE) for _ in range(3)]
later = Journal(path).next_order_no(DEVICE)         # after a reboot
os.remove(path)
wiped = Journal(path).next_order_no(DEVICE)         # the flash was wiped: a new salt
out["numbers"] = {"first": first, "later": later, "wiped": wiped}

# ------------------------------------------------------------------------ 105 orders in a journal of 100
path = DIR + "/full.j"
j = Journal(path)
numbers = []
for n in range(1, 106):
    order_no = j.next_order_no(DEVICE)
    numbers.append(order_no)
    j.record({"order_no": order_no, "amount_fen": n, "channel": "wechat", "status": "NEW"})
    j.record({"order_no": order_no, "status": "PAYING" if n % 50 == 0 else "SUCCESS", "finished_at": n})
j = Journal(path)                                   # reboot
out["full"] = {
    "count": len(j),
    "counter": j.counter,
    "newest_first": [o["amount_fen"] for start in range(0, 100, 10) for o in j.orders(start, 10)],
    "last_page": j.orders(96, 8),
    "found": [n for n in range(1, 106) if j.get(j.order_no(DEVICE, n)) is not None],
    "order_5": j.get(numbers[4]),
    "order_105": j.get(numbers[104]),
    "unfinished": [o["order_no"] for o in j.unfinished()],
    "numbers": [numbers[0], numbers[104]],
    "file_bytes": os.stat(path)[6],
}

# ------------------------------------------------------------------------ a power cut at every step
cuts = {}
cuts["new order number"] = cut_everywhere("number", paying, lambda j: j.next_order_no(DEVICE))
cuts["new order"] = cut_everywhere(
    "new", paying, lambda j: j.record({"order_no": "A2", "amount_fen": 990, "status": "NEW"}))
cuts["new order over the oldest"] = cut_everywhere(
    "over", full_ring, lambda j: j.record({"order_no": "A3", "amount_fen": 500, "status": "NEW"}))
cuts["order paid"] = cut_everywhere(
    "paid", paying, lambda j: j.record({"order_no": "A1", "status": "SUCCESS", "finished_at": 5}))
cuts["old journal converted"] = cut_everywhere("old", lambda p: old_json(p, 5), lambda p: Journal(p, 3))
cuts["old journal left as .tmp"] = cut_everywhere(
    "oldtmp", lambda p: old_json(p, 5, p + ".tmp"), lambda p: Journal(p, 3))
cuts["new journal"] = cut_everywhere("fresh", lambda p: p, lambda p: Journal(p, 3).next_order_no(DEVICE))
out["cuts"] = cuts

# ------------------------------------------------------------------------ an old journal of 100 orders
path = DIR + "/old.json"
old_json(path, 100)
with real_open(path + ".tmp", "w") as f:            # the old firmware's save cut before its rename
    f.write('{"v": 1, "salt": "5a5a", "cou')
j = Journal(path)
out["migrated"] = {
    "count": len(j), "counter": j.counter, "salt": j.salt,
    "newest": j.orders(0, 1)[0], "oldest": j.orders(99, 1)[0],
    "unfinished": [o["order_no"] for o in j.unfinished()],
    "next": j.next_order_no(DEVICE),
    "file_start": file_start(path).decode(), "leftovers": [exists(path + ".tmp"), exists(path + ".new")],
    "again": Journal(path).counter,
}

# corrupt: neither format
path = DIR + "/corrupt.j"
with real_open(path, "w") as f:
    f.write("not a journal")
j = Journal(path)
out["corrupt"] = {"count": len(j), "next": j.next_order_no(DEVICE)}

# ------------------------------------------------------------------------ RAM
if sys.implementation.name == "micropython" and sys.platform != "webassembly":
    # (the WebAssembly port's gc.collect() waits until control returns to JavaScript)
    held = []
    for path in (DIR + "/full.j", DIR + "/numbers.j"):
        j = None
        gc.collect()
        before = gc.mem_alloc()
        j = Journal(path)
        gc.collect()
        held.append(gc.mem_alloc() - before)
    out["ram"] = {"full": held[0], "empty": held[1]}

print("RESULT ", end="")
json.dump(out, sys.stdout)          # streamed: the whole answer as one string would not fit the heap
print()
