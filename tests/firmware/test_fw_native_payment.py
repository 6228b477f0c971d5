"""Whole payments on the native MicroPython port with a fixed heap, against the real server and the
WeChat sandbox, the firmware's HTTP on real sockets (core/http.py; on the WebAssembly port it goes
through the JS bridge):

- mp_payment.py, the box's state machine paying 12.50 (the script test_fw_micropython_payment.py runs
  on the WebAssembly port), the firmware from source;
- mp_whole_device.py, the whole enhanced box booted by main.main() with a full journal of 100 orders
  (and with an old JSON journal of 100, which it converts at boot), from nothing but its frozen
  manifest's modules (tools build: frozen/manifest.py), compiled to .mpy and run in place from a ROMFS
  image: the closest this port comes to frozen modules.

The caps are what each needs on this 64-bit port with a margin (make bench measures the smallest);
a 32-bit ESP32 needs about half for the same objects (docs/firmware.md, "Heap")."""
import itertools
import pathlib

import pytest

from tests.firmware import mp_run
from hw_sim import test_codes
from core.journal import Journal
from hw_sim.boards.stack import ServerStack
from tools import build

pytestmark = pytest.mark.skipif(not mp_run.available("native"), reason=mp_run.skip_reason("native"))

PAYMENT_HEAP = 192 * 1024           # mp_payment.py from source: 144 KiB today
WHOLE_DEVICE_HEAP = 144 * 1024      # frozen, full journal: 118 KiB today (as with an empty journal)
CONVERTING_HEAP = 144 * 1024        # frozen, an old JSON journal of 100 converted at boot: 121 KiB today
_salts = itertools.count(0x5A00)


def full_journal(device_id, size=100):
    """An old JSON journal (the firmware before core/journal.py's slot file) of `size` settled orders,
    with a salt of its own: what a device in the field has when the update reaches it."""
    salt = "%04x" % next(_salts)
    orders = [{"order_no": "%s-%s-%06d" % (device_id, salt, n), "amount_fen": 100 + n, "channel": "wechat",
               "status": "SUCCESS", "finished_at": 1763776800 + n} for n in range(1, size + 1)]
    return {"v": 1, "salt": salt, "counter": size, "orders": orders}


def full_journal_file(device_id, workdir, size=100):
    """The journal file of a device that paid `size` orders, written by core/journal.py itself."""
    workdir = pathlib.Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    journal = Journal(str(workdir / "journal.json"))
    for n in range(1, size + 1):
        order_no = journal.next_order_no(device_id)
        journal.record({"order_no": order_no, "amount_fen": 100 + n, "channel": "wechat", "status": "NEW"})
        journal.record({"order_no": order_no, "status": "SUCCESS", "finished_at": 1763776800 + n})
    return {"journal.json": (workdir / "journal.json").read_bytes()}


def whole_device_input(stack, device_id, journal=None, scenario=test_codes.PASSWORD):
    """mp_whole_device.py's input; `journal`: an old JSON journal (full_journal) or None."""
    return {"config": {"device_id": device_id, "device_key": stack.keys[device_id], "server_url": stack.url,
                       "journal_path": "/journal.json", "heartbeat_first_s": 0},
            "journal": journal, "keys": list("12.50") + ["OK"],
            "code": test_codes.make_wechat_code(scenario, 1)}


async def test_the_box_pays_on_the_native_port_with_a_fixed_heap(tmp_path):
    async with ServerStack(tmp_path / "stack", ("D0001",)) as stack:
        params = {"url": stack.url, "device_id": "D0001", "key_hex": stack.keys["D0001"],
                  "code": test_codes.make_wechat_code(test_codes.PASSWORD, 1), "keys": list("12.50") + ["OK"]}
        result = await mp_run.run_async("mp_payment.py", params, port="native", workdir=tmp_path / "mp",
                                        heap=PAYMENT_HEAP)
        order_no = result["journal"][0]["order_no"]
        order = await stack.order("D0001", order_no)
        charges = [c.total_fee for c in stack.ledger.charges]
    assert result["transport"] == "HttpClient"             # real sockets, not the JS bridge
    assert result["said"] == ["请出示付款码", "用户支付中，请稍候", "微信收款 12.50 元"]
    assert result["states"] == ["IDLE", "AMOUNT", "WAIT_SCAN", "PAYING", "RESULT", "IDLE"]
    assert result["journal"][0]["status"] == "SUCCESS"
    assert order.status == "SUCCESS" and order.amount_fen == 1250 and charges == [1250]


async def whole_box_pays(tmp_path, heap, journal=None, files=None):
    frozen = mp_run.compile_mpy(build.frozen_files("enhanced_box"))
    async with ServerStack(tmp_path / "stack", ("D0001",)) as stack:
        result = await mp_run.run_async("mp_whole_device.py", whole_device_input(stack, "D0001", journal),
                                        port="native", workdir=tmp_path / "mp", heap=heap, frozen=frozen,
                                        files=files)
        order = await stack.order("D0001", result["newest"]["order_no"])
        charges = [c.total_fee for c in stack.ledger.charges]
    assert result["crashed"] == [] and result["errors"] == []
    assert result["up"] and result["paid"] and result["transport"] == "HttpClient"
    assert result["states"] == ["IDLE", "AMOUNT", "WAIT_SCAN", "PAYING", "RESULT", "IDLE"]
    assert result["said"][-1] == "微信收款 12.50 元"
    assert result["journal"] == 100 and result["newest"]["order_no"].endswith("-000101")   # the oldest went
    assert order.status == "SUCCESS" and charges == [1250]
    assert result["heap_total"] <= heap + result["rom_bytes"]     # it never grew


async def test_the_whole_box_pays_from_its_frozen_manifest_with_a_full_journal(tmp_path):
    await whole_box_pays(tmp_path, WHOLE_DEVICE_HEAP, files=full_journal_file("D0001", tmp_path / "journal"))


async def test_the_whole_box_converts_an_old_full_journal_at_its_first_boot_and_pays(tmp_path):
    await whole_box_pays(tmp_path, CONVERTING_HEAP, journal=full_journal("D0001"))
