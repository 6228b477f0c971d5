"""The order journal keeps what was confirmed across power cuts, the newest 100 orders and the order
counter, and reads the JSON journal of devices in the field: the same script (mp_journal.py, the power
cut at every write and rename the journal makes) on CPython, on the native MicroPython port with a fixed
heap and on the WebAssembly port."""
import pytest

from tests.firmware import mp_run

RUNTIMES = ("cpython",) + mp_run.PORTS
NATIVE_HEAP = 136 * 1024      # 96 KiB is enough: this script and the journal from source, and converting
#                               an old JSON journal of 100 orders (read whole, once)
MAGIC = "scanpay journal2"


@pytest.fixture(scope="module", params=RUNTIMES)
def journal_run(request, tmp_path_factory):
    runtime = request.param
    if runtime == "cpython":
        return mp_run.run_on_cpython("mp_journal.py")
    if not mp_run.available(runtime):
        pytest.skip(mp_run.skip_reason(runtime))
    return mp_run.run("mp_journal.py", port=runtime, workdir=tmp_path_factory.mktemp(runtime),
                      heap=NATIVE_HEAP if runtime == "native" else None)


def test_order_numbers_are_unique_and_survive_reboots_and_wipes(journal_run):
    numbers = journal_run["numbers"]
    first = numbers["first"]
    assert [n.rsplit("-", 1)[1] for n in first] == ["000001", "000002", "000003"]
    assert numbers["later"] == first[0][:-6] + "000004"              # the counter survived the reboot
    assert numbers["wiped"].endswith("-000001") and numbers["wiped"] not in first   # a new salt
    assert all(n.startswith("D0001-") and len(n) <= 32 for n in first)


def test_the_newest_100_of_105_orders_are_kept_and_found_by_number(journal_run):
    full = journal_run["full"]
    assert full["count"] == 100 and full["counter"] == 105
    assert full["newest_first"] == list(range(105, 5, -1))           # the gun's history, page by page
    assert [o["amount_fen"] for o in full["last_page"]] == [9, 8, 7, 6]
    assert full["found"] == list(range(6, 106))                      # every one of the last 100 by its #
    assert full["order_5"] is None                                   # the oldest five went
    assert full["order_105"] == {"order_no": full["numbers"][1], "amount_fen": 105, "channel": "wechat",
                                 "status": "SUCCESS", "finished_at": 105}
    numbers = [full["numbers"][0][:-6] + "%06d" % n for n in (50, 100)]
    assert full["unfinished"] == numbers                             # oldest first: asked about at boot
    assert full["file_bytes"] == 256 * (3 + 2 * 100)                 # fixed size: 100 orders never grow it


OLD = "amount_fen=1250 order_no=A1 status=PAYING | amount_fen=100 order_no=A0 status=SUCCESS #3"
FAILED_A2 = "amount_fen=990 order_no=A2 reason=insufficient_balance status=FAILED"
MIGRATED = " | ".join("amount_fen=%d channel=wechat finished_at=%d order_no=D0001-5a5a-%06d status=%s"
                      % (100 + n, 1763776800 + n, n, "PAYING" if n == 5 else "SUCCESS")
                      for n in (5, 4, 3)) + " #7"
CUTS = {    # the state before the operation, and after it
    "new order number": (OLD, OLD[:-1] + "4"),
    "new order": (OLD, "amount_fen=990 order_no=A2 status=NEW | " + OLD),
    "new order over the oldest": (
        FAILED_A2 + " | " + OLD,
        "amount_fen=500 order_no=A3 status=NEW | %s | amount_fen=1250 order_no=A1 status=PAYING #3" % FAILED_A2),
    "order paid": (OLD, "amount_fen=1250 finished_at=5 order_no=A1 status=SUCCESS | "
                        "amount_fen=100 order_no=A0 status=SUCCESS #3"),
    "old journal converted": (MIGRATED, MIGRATED),
    "old journal left as .tmp": (MIGRATED, MIGRATED),
    "new journal": (" #0", " #1"),
}


@pytest.mark.parametrize("operation", list(CUTS))
def test_a_power_cut_at_every_step_leaves_the_old_or_the_new_state(journal_run, operation):
    before, after = CUTS[operation]
    cut = journal_run["cuts"][operation]
    runs = cut["runs"]
    for keep, fat, cut_at, finished, index, same_salt in runs:
        found = cut["states"][index]
        where = "cut at step %d (%d bytes of the write kept, %s rename)" % (cut_at, keep, "FAT" if fat else "atomic")
        if finished:
            assert found == after, where            # it returned: what it saved is there after a reboot
        else:
            assert found in (before, after), where  # never half, never an older state
        assert same_salt in (True, None), where     # the salt is drawn once per journal
    # every step was cut, in each way, before the operation could finish
    for keep, fat in ((0, False), (10, False), (40, False), (0, True)):
        tried = [r for r in runs if r[0] == keep and r[1] == fat]
        assert [r[2] for r in tried] == list(range(1, len(tried) + 1)) and tried[-1][3]
        assert len(tried) >= (2 if operation in ("new order number", "new order", "order paid",
                                                 "new order over the oldest") else 10)
    if operation not in ("old journal converted", "old journal left as .tmp"):
        assert any(cut["states"][r[4]] == before for r in runs if not r[3])    # a cut does lose the write


def test_an_old_json_journal_is_converted_once_with_its_counter_and_salt(journal_run):
    migrated = journal_run["migrated"]
    assert migrated["count"] == 100 and migrated["counter"] == 102 and migrated["salt"] == "5a5a"
    assert migrated["newest"]["order_no"] == "D0001-5a5a-000100" and migrated["newest"]["status"] == "PAYING"
    assert migrated["oldest"] == {"order_no": "D0001-5a5a-000001", "amount_fen": 101, "channel": "wechat",
                                  "status": "SUCCESS", "finished_at": 1763776801}
    assert migrated["unfinished"] == ["D0001-5a5a-000100"]     # still asked about after the update
    assert migrated["next"] == "D0001-5a5a-000103"             # no number handed out twice
    assert migrated["again"] == 103                            # and the counter survives the next boot
    assert migrated["file_start"] == MAGIC                     # converted, not JSON any more
    assert migrated["leftovers"] == [False, False]             # no .tmp or .new left behind


def test_a_corrupt_journal_starts_fresh_without_crashing(journal_run):
    assert journal_run["corrupt"]["count"] == 0
    assert journal_run["corrupt"]["next"].endswith("-000001")


def test_the_orders_are_not_held_in_ram(journal_run):
    if "ram" not in journal_run:
        pytest.skip("heap figures are the native port's (fixed heap, gc.collect() at once)")
    ram = journal_run["ram"]
    # the JSON journal held about 26 KiB of objects with 100 orders on this 64-bit port (docs/firmware.md)
    assert ram["full"] <= 2048 and ram["full"] - ram["empty"] <= 512, ram
