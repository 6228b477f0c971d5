"""The order journal keeps what was confirmed across power cuts (simulated at the worst moments)."""
import json
import os

import pytest

from core import journal as journal_mod
from core.journal import Journal


@pytest.fixture
def path(tmp_path):
    return str(tmp_path / "journal.json")


def test_order_numbers_are_unique_and_survive_reboots(path):
    j = Journal(path)
    first = [j.next_order_no("D0001") for _ in range(3)]
    j2 = Journal(path)                       # reboot
    later = j2.next_order_no("D0001")
    assert len(set(first + [later])) == 4
    assert first[0].startswith("D0001-") and first[0].endswith("-000001") and later.endswith("-000004")
    assert all(len(n) <= 32 for n in first)


def test_a_wiped_device_does_not_reuse_numbers(path):
    a = Journal(path).next_order_no("D0001")
    os.remove(path)
    b = Journal(path).next_order_no("D0001")
    assert a != b or pytest.fail("same number after a wipe")    # new salt


def test_keeps_the_last_n_orders(path):
    j = Journal(path, size=3)
    for n in range(5):
        j.record({"order_no": "A%d" % n, "amount_fen": 100 + n, "status": "NEW"})
    j.record({"order_no": "A3", "status": "SUCCESS"})
    j = Journal(path, size=3)
    assert [o["order_no"] for o in j.orders()] == ["A4", "A3", "A2"]
    assert j.get("A3") == {"order_no": "A3", "amount_fen": 103, "status": "SUCCESS"}
    assert [o["order_no"] for o in j.unfinished()] == ["A2", "A4"]


class PowerCut(Exception):
    pass


def test_crash_between_write_and_rename_loses_nothing_confirmed(path, monkeypatch):
    j = Journal(path)
    j.record({"order_no": "A1", "amount_fen": 1250, "status": "SUCCESS"})
    number = j.next_order_no("D0001")

    def cut(_src, _dst):
        raise PowerCut()
    monkeypatch.setattr(journal_mod, "_replace", cut)
    with pytest.raises(PowerCut):
        j.record({"order_no": "A2", "amount_fen": 990, "status": "NEW"})
    assert os.path.exists(path + ".tmp")     # the new state was written, never renamed
    monkeypatch.undo()

    after = Journal(path)                    # reboot
    assert after.get("A1")["status"] == "SUCCESS"
    assert after.counter == 1 and after.next_order_no("D0001") != number


def test_torn_temporary_file_is_ignored(path):
    j = Journal(path)
    j.record({"order_no": "A1", "amount_fen": 1250, "status": "SUCCESS"})
    with open(path + ".tmp", "w") as f:      # power cut in the middle of writing the temp file
        f.write('{"v": 1, "salt": "ab", "coun')
    after = Journal(path)
    assert after.get("A1")["status"] == "SUCCESS"
    after.record({"order_no": "A2", "status": "NEW"})
    assert [o["order_no"] for o in Journal(path).orders()] == ["A2", "A1"]


def test_journal_deleted_by_a_non_atomic_rename_is_recovered_from_the_temp_file(path):
    # On FAT, MicroPython renames over a file by deleting it first: a cut between the two steps
    # leaves only the complete temporary file.
    j = Journal(path)
    j.record({"order_no": "A1", "amount_fen": 1250, "status": "SUCCESS"})
    os.rename(path, path + ".tmp")
    assert Journal(path).get("A1")["status"] == "SUCCESS"


def test_corrupt_journal_starts_fresh_without_crashing(path):
    with open(path, "w") as f:
        f.write("not json")
    j = Journal(path)
    assert j.orders() == [] and j.next_order_no("D1").endswith("-000001")
    with open(path) as f:
        assert json.load(f)["counter"] == 1


# ------------------------------------------------------------------------ a power cut at every step
class CutFS:
    """The journal's file system calls, with the power cut after `cut_at` steps. Steps: opening the
    temporary file (truncates it), each half of each write, closing it, and the rename; on a FAT-like
    file system (`fat=True`) the rename is two steps, deleting the journal and then renaming."""

    def __init__(self, cut_at, fat=False):
        self.cut_at = cut_at
        self.fat = fat
        self.steps = 0

    def step(self):
        self.steps += 1
        if self.steps == self.cut_at:
            raise PowerCut()

    def open(self, name, mode="r"):
        f = open(name, mode)
        if "w" not in mode:
            return f
        fs = self

        class Cut:
            def __enter__(self):
                try:
                    fs.step()
                except PowerCut:
                    f.close()
                    raise
                return self

            def __exit__(self, *exc):
                f.close()
                if exc[0] is None:
                    fs.step()
                return False

            def write(self, data):
                half = len(data) // 2
                f.write(data[:half])
                f.flush()
                fs.step()
                f.write(data[half:])
                f.flush()
                fs.step()
        return Cut()

    def replace(self, src, dst):
        if self.fat:
            if os.path.exists(dst):
                os.remove(dst)
            self.step()
        os.rename(src, dst)
        self.step()


OPERATIONS = [
    ("new order number", lambda j: j.next_order_no("D0001")),
    ("new order", lambda j: j.record({"order_no": "A2", "amount_fen": 990, "status": "NEW"})),
    ("order paid", lambda j: j.record({"order_no": "A1", "status": "SUCCESS", "finished_at": 5})),
]


@pytest.mark.parametrize("fat", [False, True], ids=["atomic-rename", "fat-rename"])
@pytest.mark.parametrize("name, operation", OPERATIONS, ids=[o[0] for o in OPERATIONS])
def test_power_cut_at_every_write_step_loses_nothing_confirmed(tmp_path, monkeypatch, fat, name, operation):
    cut_at = 1
    while True:
        path = str(tmp_path / ("j%d.json" % cut_at))
        j = Journal(path)
        j.record({"order_no": "A1", "amount_fen": 1250, "status": "PAYING"})
        j.record({"order_no": "A0", "amount_fen": 100, "status": "SUCCESS"})
        number = j.next_order_no("D0001")
        fs = CutFS(cut_at, fat)
        monkeypatch.setattr(journal_mod, "open", fs.open, raising=False)
        monkeypatch.setattr(journal_mod, "_replace", fs.replace)
        try:
            operation(j)
            finished = True
        except PowerCut:
            finished = False
        monkeypatch.undo()
        after = Journal(path)                                       # reboot
        assert after.get("A0")["status"] == "SUCCESS"               # confirmed before: kept
        assert after.get("A1")["status"] in ("PAYING", "SUCCESS")   # old or new, never torn
        assert after.counter >= 1
        assert after.next_order_no("D0001") != number               # never handed out twice
        if finished:
            # the operation returned: its result is confirmed and must be there after the reboot
            if name == "new order":
                assert after.get("A2")["amount_fen"] == 990
            if name == "order paid":
                assert after.get("A1") == {"order_no": "A1", "amount_fen": 1250, "status": "SUCCESS",
                                           "finished_at": 5}
            assert fs.steps >= 5
            break
        cut_at += 1
    assert cut_at >= 6      # every step was cut once before the operation could finish
