"""The WebAssembly port's core checks (test_fw_micropython.py: CBOR, HMAC, amounts, codes, voice frames,
scans, signing, journal, keypad, API retries, the place; the drivers' tasks; the app's state machine),
the same scripts and the same assertions, on the native MicroPython port with a fixed heap that never
grows (mp_run.py). The caps leave about a fifth above what each script needs today, from source."""
import pytest

from tests.firmware import mp_run
from tests.firmware import test_fw_micropython as webassembly
from tests.firmware.test_fw_micropython import hmac_vectors, micropython  # noqa: F401  (fixtures, fed natively below)

pytestmark = pytest.mark.skipif(not mp_run.available("native"), reason=mp_run.skip_reason("native"))

# mp_checks.py needs 264 KiB from source and mp_app.py 124 KiB (the code prefixes from `info`, core/texts.py
# and the signing helpers the agent shares added their compiled source, and so did the compact form's field
# table; frozen on a device they cost no heap)
HEAP = {"mp_checks.py": 320 * 1024, "mp_drivers.py": 80 * 1024, "mp_app.py": 160 * 1024}


@pytest.fixture(scope="module", autouse=True)
def on_the_native_port(tmp_path_factory):
    """test_fw_micropython's run_micropython, pointed at the native port for this module's tests."""
    def native(script, cases=None, tmp_path=None):
        return mp_run.run(script, cases, port="native", workdir=tmp_path_factory.mktemp("native"),
                          heap=HEAP[script])
    wasm = webassembly.run_micropython
    webassembly.run_micropython = native
    yield
    webassembly.run_micropython = wasm


# every assertion the WebAssembly tests make about these scripts' results
for _name, _test in vars(webassembly).items():
    if _name.startswith("test_") and _name != "test_runner_reports_python_errors":
        globals()[_name] = _test


def test_the_heap_is_fixed(tmp_path):
    probe = tmp_path / "probe.py"
    probe.write_text("import gc, json, sys\ngc.collect()\n"
                     "print('RESULT ' + json.dumps([sys.implementation.name, gc.mem_alloc() + gc.mem_free()]))\n")
    name, total = mp_run.run(probe, port="native", workdir=tmp_path, heap=64 * 1024)
    assert name == "micropython" and 60 * 1024 < total <= 64 * 1024
